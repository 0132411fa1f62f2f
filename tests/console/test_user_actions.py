"""Life-cycle buttons on a user's page: each explains itself, then calls the life-cycle
service; refused transitions show a message and change nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from blazon.audit.models import AuditEvent
from directory.models import Account, AccountStatus, User, UserStatus
from provisioning.models import ProvisioningEntry

pytestmark = pytest.mark.django_db


def act(client, user, action, **data):
    return client.post(reverse("console:user_action", args=[user.pk, action]), data)


def fresh(user):
    return User.objects.get(pk=user.pk)


def test_action_pages_explain_before_acting(admin, world):
    bob = world["bob"]
    body = admin.get(reverse("console:user_action", args=[bob.pk, "inactivate"])).content.decode()
    assert "regular accounts are inactivated" in body
    assert fresh(bob).status == UserStatus.ACTIVE  # GET changes nothing


def test_inactivate_then_activate(admin, world):
    bob = world["bob"]
    response = act(admin, bob, "inactivate")
    assert response.status_code == 302 and response.url == reverse("console:user_detail", args=[bob.pk])
    assert fresh(bob).status == UserStatus.INACTIVE
    assert Account.objects.get(pk=world["bob_acct"].pk).status == AccountStatus.INACTIVE
    page = admin.get(response.url).content.decode()
    assert "Inactivate: done for bob (now Inactive)" in page
    assert AuditEvent.objects.filter(subject_user_id=bob.pk, source="console").exists()
    act(admin, bob, "activate")
    assert fresh(bob).status == UserStatus.ACTIVE


def test_revoke(admin, world):
    act(admin, world["bob"], "revoke")
    assert fresh(world["bob"]).status == UserStatus.REVOKED
    assert Account.objects.get(pk=world["bob_acct"].pk).status == AccountStatus.REVOKED


def test_lock_and_unlock_do_not_touch_the_status(helpdesk, world):
    bob = world["bob"]
    act(helpdesk, bob, "lock")
    assert fresh(bob).login_locked and fresh(bob).status == UserStatus.ACTIVE
    act(helpdesk, bob, "unlock")
    assert not fresh(bob).login_locked


def test_remove_page_warns_that_without_revoke_only_the_directory_changes(admin, world):
    body = admin.get(reverse("console:user_action", args=[world["bob"].pk, "remove"])).content.decode()
    assert "Remove without revoke changes only the directory; the applications keep the accesses." in body


def test_remove_needs_the_confirmation_box(admin, world):
    response = act(admin, world["bob"], "remove", mode="without_revoke")
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert fresh(world["bob"]).status == UserStatus.ACTIVE


def test_remove_without_revoke_tells_the_applications_nothing(admin, world):
    entries = ProvisioningEntry.objects.count()
    act(admin, world["bob"], "remove", mode="without_revoke", confirm="on")
    assert fresh(world["bob"]).status == UserStatus.REMOVED
    # the account leaves Blazon's directory only; no provisioning entry revokes it
    assert not Account.objects.filter(pk=world["bob_acct"].pk).exists()
    assert ProvisioningEntry.objects.count() == entries


def test_remove_with_revoke_revokes_the_accounts(admin, world):
    act(admin, world["bob"], "remove", mode="revoke", confirm="on")
    assert fresh(world["bob"]).status == UserStatus.REMOVED
    assert Account.objects.get(pk=world["bob_acct"].pk).status == AccountStatus.REVOKED


def test_a_refused_transition_is_a_message_not_an_error(admin, world):
    bob = world["bob"]
    act(admin, bob, "remove", mode="revoke", confirm="on")
    before = AuditEvent.objects.count()
    response = act(admin, bob, "inactivate")
    assert response.status_code == 200
    assert 'class="error"' in response.content.decode()
    assert fresh(bob).status == UserStatus.REMOVED
    assert AuditEvent.objects.count() == before


def test_unknown_action_is_404(admin, world):
    assert act(admin, world["bob"], "explode").status_code == 404
