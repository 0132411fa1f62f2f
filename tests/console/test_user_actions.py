"""Life-cycle buttons on a user's and an account's page (issue 12 item 3). Every manual
intervention is a request (seed 002): the button explains itself, then creates the request of the
matching type with source ``console``, so validation and approval policies apply and the change
has a request with its stages. Only the transitions the table allows are offered. Removal has no
request type and stays a directory operation (``console:user_remove``)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from blazon.audit.models import AuditEvent
from directory.models import Account, AccountStatus, User, UserStatus
from provisioning.models import ProvisioningEntry
from requests_workflow.models import Request, RequestStatus, ValidationPolicy
from tests.requests_workflow.factories import ApprovalLevelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def act(django_capture_on_commit_callbacks):
    """POST a life-cycle button and run what the commit starts (the in-process pipeline)."""

    def call(client, user, action, **data):
        if action == "remove":
            return client.post(reverse("console:user_remove", args=[user.pk]), data)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("console_requests:user_action", args=[user.pk, action]), data)

    return call


def fresh(user):
    return User.objects.get(pk=user.pk)


def test_action_pages_explain_before_acting(admin, world):
    bob = world["bob"]
    body = admin.get(reverse("console_requests:user_action", args=[bob.pk, "inactivate"])).content.decode()
    assert "regular accounts are inactivated" in body
    assert "INACTIVATE_USER" in body and "approval policies" in body
    assert fresh(bob).status == UserStatus.ACTIVE  # GET changes nothing
    assert not Request.objects.exists()


def test_inactivate_then_activate_go_through_requests(admin, world, act):
    bob = world["bob"]
    response = act(admin, bob, "inactivate", justification="leave of absence")
    req = Request.objects.get(type="INACTIVATE_USER", beneficiary=bob)
    assert response.status_code == 302 and response.url == reverse("console_requests:detail", args=[req.pk])
    assert req.source == "console" and req.status == RequestStatus.FINISHED
    assert req.justification == "leave of absence" and req.requester.username == "console-admin"
    assert fresh(bob).status == UserStatus.INACTIVE
    assert Account.objects.get(pk=world["bob_acct"].pk).status == AccountStatus.INACTIVE
    page = admin.get(response.url).content.decode()
    # (the message says what became of it; here the pipeline ran after the view, on commit)
    assert f"Inactivate: request #{req.pk} for bob" in page and "Finished" in page
    assert AuditEvent.objects.filter(
        subject_user_id=bob.pk, source="console", action="user.inactivated"
    ).exists()
    act(admin, bob, "activate")
    assert fresh(bob).status == UserStatus.ACTIVE
    assert Request.objects.filter(
        type="ACTIVATE_USER", beneficiary=bob, status=RequestStatus.FINISHED
    ).exists()


def test_an_approval_policy_on_the_type_now_applies_to_the_console_button(admin, world, act):
    bob, approver = world["bob"], world["alice"]
    level = ApprovalLevelFactory(approver_kind="USERS", policy__request_types=["REVOKE_USER"])
    level.users.add(approver)
    response = act(admin, bob, "revoke")
    req = Request.objects.get(type="REVOKE_USER", beneficiary=bob)
    assert req.status == RequestStatus.WAITING_APPROVAL
    assert fresh(bob).status == UserStatus.ACTIVE  # nothing happens before the approval
    assert "Waiting approval" in admin.get(response.url).content.decode()


def test_a_validation_policy_refusal_is_shown_on_the_form_and_nothing_is_created(admin, world, act):
    ValidationPolicy.objects.create(name="Say why", request_types=["LOCK_USER"], justification_required=True)
    response = act(admin, world["bob"], "lock")
    assert response.status_code == 200
    assert "Say why" in response.content.decode()
    assert not Request.objects.exists()
    assert not fresh(world["bob"]).login_locked


def test_revoke(admin, world, act):
    act(admin, world["bob"], "revoke")
    assert fresh(world["bob"]).status == UserStatus.REVOKED
    assert Account.objects.get(pk=world["bob_acct"].pk).status == AccountStatus.REVOKED


def test_lock_and_unlock_do_not_touch_the_status(helpdesk, world, act):
    bob = world["bob"]
    act(helpdesk, bob, "lock")
    assert fresh(bob).login_locked and fresh(bob).status == UserStatus.ACTIVE
    act(helpdesk, bob, "unlock")
    assert not fresh(bob).login_locked
    assert list(Request.objects.filter(beneficiary=bob).values_list("type", flat=True).order_by("pk")) == [
        "LOCK_USER",
        "UNLOCK_USER",
    ]


def test_only_allowed_transitions_are_offered_and_accepted(admin, world, act):
    bob = world["bob"]
    body = admin.get(reverse("console:user_detail", args=[bob.pk])).content.decode()
    assert ">Inactivate<" in body and ">Revoke<" in body and ">Activate<" not in body
    act(admin, bob, "revoke")
    body = admin.get(reverse("console:user_detail", args=[bob.pk])).content.decode()
    # REVOKED → ACTIVE is not a transition: no button, and posting anyway is refused
    assert ">Activate<" not in body and ">Inactivate<" not in body and ">Revoke<" not in body
    before = Request.objects.count()
    response = act(admin, bob, "activate")
    assert response.status_code == 409
    assert "Activate is not possible for bob (Revoked)" in response.content.decode()
    assert Request.objects.count() == before and fresh(bob).status == UserStatus.REVOKED


def test_account_buttons_create_account_requests(admin, world, django_capture_on_commit_callbacks):
    acct = world["bob_acct"]
    body = admin.get(reverse("console:account_detail", args=[acct.pk])).content.decode()
    assert "Inactivate" in body and ">Activate<" not in body
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            reverse("console_requests:account_action", args=[acct.pk, "inactivate"]), {"justification": "j"}
        )
    req = Request.objects.get(type="INACTIVATE_ACCOUNT", account=acct)
    assert response.status_code == 302 and req.source == "console" and req.beneficiary == world["bob"]
    acct.refresh_from_db()
    assert acct.status == AccountStatus.INACTIVE
    # an orphan account offers no status button (nobody to request it for)
    orphan = Account.objects.create(resource=world["github"], identifier="orphan-1")
    assert (
        admin.post(reverse("console_requests:account_action", args=[orphan.pk, "revoke"])).status_code == 409
    )
    assert not Request.objects.filter(account=orphan).exists()


def test_the_auditor_cannot_use_the_account_buttons(auditor, world):
    acct = world["bob_acct"]
    assert (
        auditor.post(reverse("console_requests:account_action", args=[acct.pk, "revoke"])).status_code == 403
    )
    assert "Revoke" not in auditor.get(reverse("console:account_detail", args=[acct.pk])).content.decode()
    acct.refresh_from_db()
    assert acct.status == AccountStatus.ACTIVE


def test_remove_page_warns_that_without_revoke_only_the_directory_changes(admin, world):
    body = admin.get(reverse("console:user_remove", args=[world["bob"].pk])).content.decode()
    assert "Remove without revoke changes only the directory; the applications keep the accesses." in body


def test_remove_needs_the_confirmation_box(admin, world, act):
    response = act(admin, world["bob"], "remove", mode="without_revoke")
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert fresh(world["bob"]).status == UserStatus.ACTIVE


def test_remove_without_revoke_tells_the_applications_nothing(admin, world, act):
    entries = ProvisioningEntry.objects.count()
    act(admin, world["bob"], "remove", mode="without_revoke", confirm="on")
    assert fresh(world["bob"]).status == UserStatus.REMOVED
    # the account leaves Blazon's directory only; no provisioning entry revokes it
    assert not Account.objects.filter(pk=world["bob_acct"].pk).exists()
    assert ProvisioningEntry.objects.count() == entries


def test_remove_with_revoke_revokes_the_accounts(admin, world, act):
    act(admin, world["bob"], "remove", mode="revoke", confirm="on")
    assert fresh(world["bob"]).status == UserStatus.REMOVED
    assert Account.objects.get(pk=world["bob_acct"].pk).status == AccountStatus.REVOKED


def test_a_refused_transition_is_a_message_not_an_error(admin, world, act):
    bob = world["bob"]
    act(admin, bob, "remove", mode="revoke", confirm="on")
    before = AuditEvent.objects.count()
    response = act(admin, bob, "inactivate")
    assert response.status_code == 409
    assert 'class="error"' in response.content.decode()
    assert fresh(bob).status == UserStatus.REMOVED
    assert AuditEvent.objects.count() == before


def test_unknown_action_is_404(admin, world, act):
    assert act(admin, world["bob"], "explode").status_code == 404
