"""Directory changes for a chosen user from the console (issue 13 item 1): create a user, grant a
role, an entitlement or an account, revoke, add people to a role; and the help desk requesting
for anyone from the workspace cart. Each is a request with source ``console`` (or
``workspace``) so policies apply; a refusal is shown on the form and writes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directory.models import (
    Account,
    AttributeDefinition,
    AttributeScope,
    EntitlementMembership,
    RoleMembership,
    User,
    UserStatus,
)
from requests_workflow.models import Request, RequestStatus
from tests.api.factories import RoleFactory, UserFactory
from tests.console.conftest import logged_in
from tests.requests_workflow.factories import ApprovalLevelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    """POST a form and run what the commit starts (the in-process pipeline)."""

    def call(client, url, data):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data)

    return call


def test_administrator_creates_a_user_through_a_request(admin, world, post):
    AttributeDefinition.objects.create(scope=AttributeScope.USER, name="cost_center", label="Cost center")
    page = admin.get(reverse("console:users")).content.decode()
    assert reverse("console_requests:user_new") in page  # the list offers "New user…"
    form = admin.get(reverse("console_requests:user_new")).content.decode()
    assert "Cost center" in form and 'data-lookup="user"' in form
    response = post(
        admin,
        reverse("console_requests:user_new"),
        {
            "username": "carol",
            "first_name": "Carol",
            "last_name": "Danvers",
            "email": "carol@example.com",
            "organization": world["org"].pk,
            "manager": f"bob (Bob Builder) #{world['bob'].pk}",
            "job_title": "Pilot",
            "attr_cost_center": "CC-7",
            "justification": "new hire",
        },
    )
    req = Request.objects.get(type="CREATE_USER")
    assert response.status_code == 302 and response.url == reverse("console_requests:detail", args=[req.pk])
    assert req.source == "console" and req.status == RequestStatus.FINISHED
    carol = User.objects.get(username="carol")
    assert carol.manager == world["bob"] and carol.organization == world["org"]
    assert carol.job_title == "Pilot" and carol.attributes["cost_center"] == "CC-7"
    assert carol.status == UserStatus.ACTIVE


def test_new_user_bad_input_is_shown_on_the_form_and_nothing_is_written(admin, world, post):
    response = post(
        admin,
        reverse("console_requests:user_new"),
        {"first_name": "", "last_name": "X", "email": "not-an-email", "manager": "nobody-like-this"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "This field is required." in body
    assert "Enter a valid email address." in body
    assert "No person is called" in body
    assert not Request.objects.exists()
    # a username the directory's rules refuse: the request service's message on the field
    response = post(
        admin,
        reverse("console_requests:user_new"),
        {"username": "has space", "first_name": "A", "last_name": "B"},
    )
    assert response.status_code == 400
    assert "Use only letters, digits" in response.content.decode()
    assert not Request.objects.exists() and not User.objects.filter(first_name="A").exists()


def test_grant_a_role_to_a_chosen_user_and_revoke_it(admin, world, post):
    bob, role = world["bob"], RoleFactory(code="auditors", name="Auditors")
    tab = admin.get(reverse("console:user_detail", args=[bob.pk]) + "?tab=roles").content.decode()
    assert reverse("console_requests:user_grant", args=[bob.pk, "role"]) in tab
    response = post(
        admin,
        reverse("console_requests:user_grant", args=[bob.pk, "role"]),
        {"target": "Auditors", "justification": "audit season"},
    )
    req = Request.objects.get(type="GRANT_ROLE", beneficiary=bob)
    assert response.status_code == 302 and req.status == RequestStatus.FINISHED and req.source == "console"
    assert RoleMembership.objects.filter(user=bob, role=role).exists()
    tab = admin.get(reverse("console:user_detail", args=[bob.pk]) + "?tab=roles").content.decode()
    revoke_url = reverse("console_requests:user_revoke", args=[bob.pk, "role", role.pk])
    assert revoke_url in tab
    post(admin, revoke_url, {"justification": "season over"})
    assert Request.objects.get(type="REVOKE_ROLE", beneficiary=bob).status == RequestStatus.FINISHED
    assert not RoleMembership.objects.filter(user=bob, role=role).exists()


def test_grant_an_entitlement_and_revoke_a_manual_membership(admin, world, post):
    bob, readers = world["bob"], world["readers"]
    post(
        admin,
        reverse("console_requests:user_grant", args=[bob.pk, "entitlement"]),
        {"target": f"GitHub readers (GitHub) #{readers.pk}", "justification": "needs to read"},
    )
    assert Request.objects.get(type="GRANT_ENTITLEMENT", beneficiary=bob).status == RequestStatus.FINISHED
    membership = EntitlementMembership.objects.get(account__owner=bob, entitlement=readers)
    post(admin, reverse("console_requests:user_revoke", args=[bob.pk, "entitlement", membership.pk]), {})
    assert not EntitlementMembership.objects.filter(pk=membership.pk).exists()


def test_what_a_role_keeps_cannot_be_revoked_by_hand(admin, world, post):
    alice = world["alice"]
    membership = EntitlementMembership.objects.get(account__owner=alice, entitlement=world["readers"])
    url = reverse("console_requests:user_revoke", args=[alice.pk, "entitlement", membership.pk])
    assert "A role gives alice this access" in admin.get(url).content.decode()
    tab = admin.get(reverse("console:user_detail", args=[alice.pk]) + "?tab=entitlements").content.decode()
    assert url not in tab  # no Revoke button on what a role keeps
    response = post(admin, url, {})
    assert response.status_code == 400
    assert EntitlementMembership.objects.filter(pk=membership.pk).exists()
    assert not Request.objects.filter(type="REVOKE_ENTITLEMENT").exists()


def test_new_account_for_a_chosen_user(admin, world, post):
    carol = UserFactory(username="carol")
    post(
        admin,
        reverse("console_requests:user_grant", args=[carol.pk, "resource"]),
        {"target": "GitHub", "justification": "joins the team"},
    )
    assert Request.objects.get(type="CREATE_ACCOUNT", beneficiary=carol).status == RequestStatus.FINISHED
    assert Account.objects.filter(owner=carol, resource=world["github"]).exists()
    # a second one is refused by the request service, with its reason on the form
    response = post(
        admin,
        reverse("console_requests:user_grant", args=[carol.pk, "resource"]),
        {"target": "GitHub", "justification": "again"},
    )
    assert response.status_code == 400 and "already has an account on GitHub" in response.content.decode()
    assert Request.objects.filter(type="CREATE_ACCOUNT").count() == 1


def test_grant_with_an_approval_policy_waits_and_changes_nothing(admin, world, post):
    bob, role = world["bob"], RoleFactory(code="ops", name="Ops")
    level = ApprovalLevelFactory(approver_kind="USERS", policy__request_types=["GRANT_ROLE"])
    level.users.add(world["alice"])
    post(
        admin,
        reverse("console_requests:user_grant", args=[bob.pk, "role"]),
        {"target": "ops", "justification": "on call"},
    )
    assert Request.objects.get(type="GRANT_ROLE").status == RequestStatus.WAITING_APPROVAL
    assert not RoleMembership.objects.filter(user=bob, role=role).exists()


def test_ambiguous_or_unknown_targets_are_refused(admin, world, post):
    bob = world["bob"]
    RoleFactory(code="dup-1", name="Twins")
    RoleFactory(code="dup-2", name="Twins")
    url = reverse("console_requests:user_grant", args=[bob.pk, "role"])
    assert "Several match" in post(admin, url, {"target": "Twins"}).content.decode()
    assert "No role #999999" in post(admin, url, {"target": "Whatever #999999"}).content.decode()
    body = post(
        admin, url, {"target": "Twins #1", "start": "2030-02-01", "end": "2030-01-01"}
    ).content.decode()
    assert "The end date must be on or after the start date." in body
    assert not Request.objects.exists()


def test_add_several_members_to_a_role_all_or_none(admin, world, post):
    role = RoleFactory(code="sales", name="Sales")
    UserFactory(username="carol")
    dave = UserFactory(username="dave")
    page = admin.get(reverse("console:role_detail", args=[role.pk]) + "?tab=members").content.decode()
    url = reverse("console_requests:role_members_add", args=[role.pk])
    assert url in page
    # an unknown username: nothing at all
    response = post(admin, url, {"people": "carol, ghost", "justification": "x"})
    assert response.status_code == 400 and "Unknown username(s): ghost." in response.content.decode()
    assert not Request.objects.exists()
    # one refused by the request service (revoked): nobody added
    dave.status = UserStatus.REVOKED
    dave.save(update_fields=["status"])
    response = post(admin, url, {"people": "carol\ndave", "justification": "x"})
    assert response.status_code == 400 and "dave:" in response.content.decode()
    assert not Request.objects.exists() and not RoleMembership.objects.filter(role=role).exists()
    dave.status = UserStatus.ACTIVE
    dave.save(update_fields=["status"])
    response = post(admin, url, {"people": "CAROL dave", "justification": "x"})
    assert response.status_code == 302
    assert set(RoleMembership.objects.filter(role=role).values_list("user__username", flat=True)) == {
        "carol",
        "dave",
    }
    assert Request.objects.filter(type="GRANT_ROLE", source="console").count() == 2


def test_lookup_finds_people_and_objects_by_part_of_a_name(helpdesk, world):
    found = helpdesk.get(reverse("console_requests:lookup", args=["user"]), {"q": "build"}).json()["results"]
    assert [r["value"] for r in found] == [f"bob (Bob Builder) #{world['bob'].pk}"]
    found = helpdesk.get(reverse("console_requests:lookup", args=["entitlement"]), {"q": "admins"}).json()
    assert found["results"][0]["value"].startswith("GitHub admins (GitHub) #")
    assert helpdesk.get(reverse("console_requests:lookup", args=["nothing"])).status_code == 404


@pytest.mark.parametrize(
    "name,args",
    [
        ("console_requests:user_new", []),
        ("console_requests:user_grant", ["BOB", "role"]),
        ("console_requests:user_revoke", ["BOB", "role", 1]),
        ("console_requests:role_members_add", [1]),
        ("console_requests:lookup", ["user"]),
    ],
)
def test_auditors_and_employees_cannot_use_them(auditor, plain, world, name, args):
    args = [world["bob"].pk if a == "BOB" else a for a in args]
    url = reverse(name, args=args)
    assert auditor.get(url).status_code == 403
    assert auditor.post(url, {"target": "Developers", "people": "bob", "first_name": "x"}).status_code == 403
    response = plain.get(url)
    assert response.status_code in (302, 403)
    assert not Request.objects.exists()
    # and the buttons are not shown to the auditor
    page = auditor.get(reverse("console:user_detail", args=[world["bob"].pk]) + "?tab=roles").content.decode()
    assert "Grant role" not in page


def test_help_desk_requests_for_anyone_from_the_workspace_cart(helpdesk, world, post):
    bob = world["bob"]
    role = RoleFactory(code="travel", name="Travel")
    helpdesk.post(reverse("workspace_requests:cart_add"), {"kind": "role", "id": role.pk})
    cart = helpdesk.get(reverse("workspace_requests:cart")).content.decode()
    assert 'name="someone"' in cart
    response = post(
        helpdesk,
        reverse("workspace_requests:cart"),
        {"someone": f"bob (Bob Builder) #{bob.pk}", "justification": "asked by phone"},
    )
    assert response.status_code == 302
    req = Request.objects.get(type="GRANT_ROLE", beneficiary=bob)
    assert req.requester.username == "console-helpdesk" and req.status == RequestStatus.FINISHED


def test_an_employee_cannot_request_for_someone_else(world, post):
    eve = logged_in(UserFactory(username="eve"))
    role = RoleFactory(code="travel", name="Travel")
    eve.post(reverse("workspace_requests:cart_add"), {"kind": "role", "id": role.pk})
    assert 'name="someone"' not in eve.get(reverse("workspace_requests:cart")).content.decode()
    response = post(eve, reverse("workspace_requests:cart"), {"someone": "bob", "justification": "x"})
    assert response.status_code == 400
    assert "Only the help desk" in response.content.decode()
    assert not Request.objects.exists()
