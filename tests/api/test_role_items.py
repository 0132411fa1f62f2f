"""Role items through the API (seed 004): adding or removing a resource or entitlement shows
the preview (how many members it reaches, what it creates, adopts or revokes) and fans out to
every member through ``access.role_change_submit``; with keep_as_manual the access stays."""

from __future__ import annotations

import pytest

from blazon.audit.models import AuditEvent
from directory.models import (
    Account,
    AccountStatus,
    EntitlementMembership,
    Management,
    RoleChange,
    RoleEntitlement,
    RoleResource,
)
from tests.api.factories import (
    AccountFactory,
    EntitlementFactory,
    ResourceFactory,
    RoleFactory,
    RoleMembershipFactory,
    UserFactory,
)
from tests.api.helpers import assert_error, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(db):
    """Role 'developers' with three members; ann already has a (manual) GitHub account."""
    github = ResourceFactory(code="github")
    devs = EntitlementFactory(resource=github, identifier="devs")
    role = RoleFactory(code="developers")
    users = [UserFactory(username=n) for n in ("ann", "bob", "cid")]
    for user in users:
        RoleMembershipFactory(role=role, user=user)
    AccountFactory(resource=github, owner=users[0], identifier="ann-gh")
    return {"github": github, "devs": devs, "role": role, "users": users}


def state():
    return {
        "accounts": list(
            Account.objects.values_list("pk", "owner_id", "status", "management", "manual").order_by("pk")
        ),
        "memberships": list(
            EntitlementMembership.objects.values_list("pk", "account_id", "management").order_by("pk")
        ),
        "role_resources": list(RoleResource.objects.values_list("role_id", "resource_id").order_by("pk")),
        "role_entitlements": list(
            RoleEntitlement.objects.values_list("role_id", "entitlement_id").order_by("pk")
        ),
        "changes": RoleChange.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def add(admin, role, capture, **item):
    with capture(execute=True):
        response = admin.post(f"/api/v1/roles/{role.pk}/items/", item, format="json")
    return response


def test_preview_counts_without_changing_anything(admin, team):
    before = state()
    response = admin.get(
        f"/api/v1/roles/{team['role'].pk}/items/preview/?action=ADD&resource={team['github'].pk}"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["members"] == 3
    assert body["counts"]["accounts_to_create"] == 2  # bob and cid
    assert body["counts"]["accounts_to_adopt"] == 1  # ann's existing account
    assert state() == before


def test_adding_a_resource_gives_every_member_an_account(admin, team, django_capture_on_commit_callbacks):
    role = team["role"]
    response = add(admin, role, django_capture_on_commit_callbacks, resource=team["github"].pk)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["preview"]["members"] == 3
    assert body["preview"]["counts"]["accounts_to_create"] == 2
    assert body["change"]["action"] == "ADD"
    assert body["change"]["resource"]["code"] == "github"
    assert body["change"]["requested_by"]["username"] == "api-admin"
    assert body["change"]["source"] == "api"

    change = admin.get(f"/api/v1/role-changes/{body['change']['id']}/").json()
    assert change["status"] == "DONE"
    accounts = Account.objects.filter(resource=team["github"]).order_by("owner__username")
    assert [a.owner.username for a in accounts] == ["ann", "bob", "cid"]
    assert {a.management for a in accounts} == {Management.ROLE}
    # ann's account was adopted, not duplicated, and still has her manual decision
    ann = accounts[0]
    assert ann.identifier == "ann-gh" and ann.manual is True
    # and the API shows why
    why = admin.get(f"/api/v1/accounts/{ann.pk}/").json()["why"]
    assert why == {"manual": True, "roles": [{"id": role.pk, "code": "developers", "name": role.name}]}
    assert admin.get(f"/api/v1/roles/{role.pk}/").json()["resources"][0]["code"] == "github"


def test_adding_then_removing_an_entitlement(admin, team, django_capture_on_commit_callbacks):
    role, devs = team["role"], team["devs"]
    response = add(admin, role, django_capture_on_commit_callbacks, entitlement=devs.pk)
    assert response.status_code == 202, response.content
    assert response.json()["preview"]["counts"]["memberships_to_create"] == 3
    held = EntitlementMembership.objects.filter(entitlement=devs)
    assert sorted(held.values_list("account__owner__username", flat=True)) == ["ann", "bob", "cid"]
    assert set(held.values_list("management", flat=True)) == {Management.ROLE}
    listed = admin.get(f"/api/v1/entitlement-memberships/?entitlement={devs.pk}").json()
    assert listed["count"] == 3

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.delete(f"/api/v1/roles/{role.pk}/items/entitlement/{devs.pk}/")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["change"]["action"] == "REMOVE"
    assert body["preview"]["counts"]["to_revoke"] == 3
    assert not EntitlementMembership.objects.filter(entitlement=devs).exists()
    assert not RoleEntitlement.objects.filter(role=role).exists()
    # the resource stays in the role: the accounts remain
    assert Account.objects.filter(resource=team["github"], status=AccountStatus.ACTIVE).count() == 3


def test_removing_a_resource_revokes_what_nothing_else_keeps(admin, team, django_capture_on_commit_callbacks):
    role, github = team["role"], team["github"]
    add(admin, role, django_capture_on_commit_callbacks, resource=github.pk)
    preview = admin.get(f"/api/v1/roles/{role.pk}/items/preview/?action=REMOVE&resource={github.pk}").json()
    assert preview["counts"]["kept_manually"] == 1 and preview["counts"]["to_revoke"] == 2

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.delete(f"/api/v1/roles/{role.pk}/items/resource/{github.pk}/")
    assert response.status_code == 202, response.content
    assert response.json()["preview"]["counts"]["to_revoke"] == 2
    status = dict(Account.objects.filter(resource=github).values_list("owner__username", "status"))
    assert status == {"ann": AccountStatus.ACTIVE, "bob": AccountStatus.REVOKED, "cid": AccountStatus.REVOKED}
    assert admin.get(f"/api/v1/roles/{role.pk}/").json()["resources"] == []


def test_removing_with_keep_as_manual_keeps_the_access(admin, team, django_capture_on_commit_callbacks):
    role, github = team["role"], team["github"]
    add(admin, role, django_capture_on_commit_callbacks, resource=github.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.delete(f"/api/v1/roles/{role.pk}/items/resource/{github.pk}/?keep_as_manual=true")
    assert response.status_code == 202, response.content
    assert response.json()["change"]["keep_as_manual"] is True
    assert response.json()["preview"]["counts"]["to_revoke"] == 0
    assert response.json()["preview"]["counts"]["kept_as_manual"] == 2
    accounts = Account.objects.filter(resource=github)
    assert accounts.count() == 3
    assert {(a.status, a.management, a.manual) for a in accounts} == {
        (AccountStatus.ACTIVE, Management.MANUAL, True)
    }
    assert not RoleResource.objects.filter(role=role).exists()


def test_post_with_action_remove_is_the_same_as_delete(admin, team, django_capture_on_commit_callbacks):
    role, devs = team["role"], team["devs"]
    add(admin, role, django_capture_on_commit_callbacks, entitlement=devs.pk)
    response = add(
        admin,
        role,
        django_capture_on_commit_callbacks,
        action="REMOVE",
        entitlement=devs.pk,
        keep_as_manual=True,
    )
    assert response.status_code == 202
    held = EntitlementMembership.objects.filter(entitlement=devs)
    assert held.count() == 3 and set(held.values_list("management", flat=True)) == {Management.MANUAL}


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "words"),
    [
        ("post", "items/", {"resource": "{github}", "entitlement": "{devs}"}, 400, "exactly one"),
        ("post", "items/", {}, 400, "exactly one"),
        ("post", "items/", {"resource": 999999}, 400, "999999"),
        ("post", "items/", {"resource": "github"}, 400, "Incorrect type"),
        ("post", "items/", {"resource": "{github}", "action": "REPLACE"}, 400, "REPLACE"),
        ("post", "items/", {"resource": "{other}"}, 409, "already in role"),
        ("delete", "items/resource/999999/", None, 404, "No resource with id 999999"),
        ("delete", "items/entitlement/{devs}/", None, 409, "not in role"),
        ("delete", "items/resource/{other}/?keep_as_manual=maybe", None, 400, "valid boolean"),
        ("get", "items/preview/?resource={github}", None, 400, "required"),
    ],
)
def test_bad_role_item_requests_change_nothing(admin, team, method, url, body, status, words):
    role = team["role"]
    other = ResourceFactory(code="jira")
    RoleResource.objects.create(role=role, resource=other)
    ids = {"github": team["github"].pk, "devs": team["devs"].pk, "other": other.pk}
    url = f"/api/v1/roles/{role.pk}/" + url.format(**ids)
    if body is not None:
        body = {
            k: (int(v.format(**ids)) if isinstance(v, str) and v.startswith("{") else v)
            for k, v in body.items()
        }
    before = state()
    response = (
        getattr(admin, method)(url, body, format="json") if body is not None else getattr(admin, method)(url)
    )
    error = assert_error(response, status)
    text = (error["message"] + " " + str(error["fields"])).lower()
    assert words.lower() in text, error
    assert state() == before


def test_items_of_an_unknown_role_is_404(admin, team):
    assert_error(
        admin.post("/api/v1/roles/999999/items/", {"resource": team["github"].pk}, format="json"),
        404,
        "not_found",
    )


@pytest.mark.django_db(transaction=True)
def test_outside_a_test_transaction_the_change_is_done_when_the_response_arrives(db):
    """With no broker configured the fan-out runs as the request's transaction commits, so the
    answer already shows the finished change."""
    from directory.models import ConsoleRole

    admin = client_for(UserFactory(username="root", console_role=ConsoleRole.ADMINISTRATOR))
    role = RoleFactory(code="ops")
    resource = ResourceFactory(code="pagerduty")
    RoleMembershipFactory(role=role, user=UserFactory(username="dora"))
    response = admin.post(f"/api/v1/roles/{role.pk}/items/", {"resource": resource.pk}, format="json")
    assert response.status_code == 202
    assert response.json()["change"]["status"] == "DONE"
    assert Account.objects.filter(resource=resource, owner__username="dora").exists()
