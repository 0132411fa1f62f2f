"""Assignment (birthright) policies: a policy on user attributes gives its role to every active
user it selects (managed by the policy), set-based with a preview first; joiners and movers are
re-evaluated when the directory creates or updates them; the API with its denied cases."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from blazon.audit.models import AuditEvent
from blazon.errors import Conflict, ValidationFailed
from directory.models import ConsoleRole, Organization, RoleMembership, RoleMembershipManagement
from directory.services import access
from directory.services.users.create import user_create
from directory.services.users.update import user_update
from sod.models import AssignmentPolicy
from sod.services.assignment import (
    assignment_policy_create,
    assignment_policy_delete,
    assignment_policy_update,
    policy_draft,
    policy_preview,
)
from tests.api.factories import RoleFactory, UserFactory
from tests.sod.conftest import give

pytestmark = pytest.mark.django_db
POLICY = RoleMembershipManagement.ASSIGNMENT_POLICY


@pytest.fixture
def world(db):
    admin = UserFactory(username="admin", console_role=ConsoleRole.ADMINISTRATOR)
    finance = Organization.objects.create(code="finance", name="Finance")
    ap = Organization.objects.create(code="ap", name="Accounts payable", parent=finance)
    it = Organization.objects.create(code="it", name="IT")
    staff = RoleFactory(code="fin-staff", name="Finance staff")
    ana = UserFactory(username="ana", organization=finance, department="Finance", employee_type="employee")
    ben = UserFactory(username="ben", organization=ap, department="Finance", employee_type="contractor")
    carl = UserFactory(username="carl", organization=it, department="IT", employee_type="employee")
    return {
        "admin": admin,
        "finance": finance,
        "ap": ap,
        "it": it,
        "staff": staff,
        "ana": ana,
        "ben": ben,
        "carl": carl,
    }


def members(role):
    return dict(RoleMembership.objects.filter(role=role).values_list("user__username", "management"))


def create(w, **kw):
    data = {"code": "fin", "name": "Finance department", "role": w["staff"], **kw}
    return assignment_policy_create(actor=w["admin"], source="console", **data)


def test_preview_counts_then_create_gives_the_role_managed_by_the_policy(world):
    draft = policy_draft(
        {
            "code": "fin",
            "name": "Finance",
            "role": world["staff"],
            "organization": world["finance"],
            "include_sub_organizations": True,
        }
    )
    preview = policy_preview(draft)
    assert (preview.gain, preview.lose, preview.gain_users) == (2, 0, ["ana", "ben"])
    assert not RoleMembership.objects.exists()  # a preview changes nothing
    create(world, organization=world["finance"], include_sub_organizations=True)
    assert members(world["staff"]) == {"ana": POLICY, "ben": POLICY}
    assert AuditEvent.objects.filter(action="assignment_policy.create").exists()
    assert AuditEvent.objects.filter(action="assignment_policy.applied").exists()


def test_conditions_are_anded_and_sub_organizations_optional(world):
    create(world, organization=world["finance"])  # without the sub-organizations: ana only
    assert members(world["staff"]) == {"ana": POLICY}
    other = RoleFactory(code="emp", name="Employees")
    assignment_policy_create(
        actor=world["admin"],
        source="console",
        code="emp",
        name="Employees",
        role=other,
        department="finance",
        employee_type="employee",
    )
    assert members(other) == {"ana": POLICY}


def test_narrowing_a_policy_takes_the_role_from_who_no_longer_matches_but_not_manual_members(world):
    policy = create(world, department="Finance")
    access.role_grant(actor=world["admin"], source="console", user=world["carl"], role=world["staff"])
    preview = policy_preview(policy_draft({"employee_type": "employee"}, policy))
    assert (preview.gain, preview.lose, preview.lose_users) == (0, 1, ["ben"])
    assignment_policy_update(
        actor=world["admin"], source="console", policy=policy, data={"employee_type": "employee"}
    )
    assert members(world["staff"]) == {"ana": POLICY, "carl": "MANUAL"}
    assignment_policy_delete(actor=world["admin"], source="console", policy=policy)
    assert members(world["staff"]) == {"carl": "MANUAL"}


def test_a_policy_managed_membership_cannot_be_revoked_by_hand(world):
    create(world, department="Finance")
    membership = RoleMembership.objects.get(user=world["ana"], role=world["staff"])
    with pytest.raises(Conflict):
        access.role_revoke(actor=world["admin"], source="console", membership=membership)


def test_joiners_and_movers_are_evaluated_by_the_directory(world):
    create(world, department="Finance")
    joiner = user_create(
        actor=world["admin"],
        source="console",
        data={"first_name": "Dora", "last_name": "Lee", "department": "Finance"},
    )
    assert members(world["staff"])[joiner.username] == POLICY
    user_update(actor=world["admin"], source="api", user=world["carl"], data={"department": "Finance"})
    assert "carl" in members(world["staff"])
    user_update(actor=world["admin"], source="api", user=world["ana"], data={"department": "Sales"})
    assert "ana" not in members(world["staff"])


def test_bad_policies_are_refused_and_change_nothing(world):
    with pytest.raises(ValidationFailed):  # no condition: would match everybody
        create(world)
    with pytest.raises(ValidationFailed):
        create(world, department="Finance", attributes={"bad key": "x"})
    create(world, department="Finance")
    with pytest.raises(Conflict):
        create(world, department="IT")
    assert AssignmentPolicy.objects.count() == 1
    warned = policy_preview(
        policy_draft({"code": "x", "name": "x", "role": world["staff"], "department": "Nobody"})
    )
    assert warned.warnings == ["The policy matches nobody."]


def test_admin_defined_attributes(world):
    world["ben"].attributes = {"site": "recife"}
    world["ben"].save()
    create(world, attributes={"site": "recife"})
    assert members(world["staff"]) == {"ben": POLICY}


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_preview_create_list_and_denied(world):
    admin = api(world["admin"])
    body = {"code": "fin", "name": "Finance", "role": "fin-staff", "department": "Finance"}
    preview = admin.post("/api/v1/assignment-policies/preview/", body, format="json")
    assert preview.status_code == 200
    assert (preview.json()["gain"], preview.json()["gain_users"]) == (2, ["ana", "ben"])
    assert not RoleMembership.objects.exists()
    created = admin.post("/api/v1/assignment-policies/", body, format="json")
    assert created.status_code == 201, created.content
    assert members(world["staff"]) == {"ana": POLICY, "ben": POLICY}
    pk = created.json()["id"]
    change = admin.post(
        f"/api/v1/assignment-policies/{pk}/preview/", {"employee_type": "employee"}, format="json"
    )
    assert (change.json()["gain"], change.json()["lose"]) == (0, 1)
    listed = admin.get("/api/v1/assignment-policies/").json()["results"]
    assert [p["code"] for p in listed] == ["fin"] and listed[0]["role"] == "fin-staff"
    assert (
        admin.post(
            "/api/v1/assignment-policies/", {**body, "code": "x", "department": ""}, format="json"
        ).status_code
        == 400
    )
    auditor = api(UserFactory(username="aud", console_role=ConsoleRole.AUDITOR))
    assert auditor.get("/api/v1/assignment-policies/").status_code == 200
    assert (
        auditor.post("/api/v1/assignment-policies/", {**body, "code": "y"}, format="json").status_code == 403
    )
    assert auditor.post("/api/v1/assignment-policies/preview/", body, format="json").status_code == 403
    assert auditor.delete(f"/api/v1/assignment-policies/{pk}/").status_code == 403
    assert api(world["carl"]).get("/api/v1/assignment-policies/").status_code == 403
    assert APIClient().get("/api/v1/assignment-policies/").status_code in (401, 403)
    assert admin.delete(f"/api/v1/assignment-policies/{pk}/").status_code == 204
    assert members(world["staff"]) == {}


def login(user):
    client = Client()
    client.force_login(user)
    return client


def test_console_crud_with_preview_and_denied(world):
    admin = login(world["admin"])
    assert admin.get("/console/sod/policies/new/").status_code == 200
    answer = admin.post(
        "/console/sod/policies/new/",
        {
            "code": "fin",
            "name": "Finance",
            "role": "fin-staff",
            "active": "on",
            "organization": "finance",
            "include_sub_organizations": "on",
            "attributes": "",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    policy = AssignmentPolicy.objects.get(code="fin")
    assert members(world["staff"]) == {"ana": POLICY, "ben": POLICY}
    listing = admin.get("/console/sod/policies/").content.decode()
    assert "Finance" in listing and "organization Finance and below" in listing
    detail = admin.get(f"/console/sod/policies/{policy.pk}/").content.decode()
    assert "<strong>2</strong> of 4 active users match" in detail
    bad = admin.post(
        f"/console/sod/policies/{policy.pk}/edit/",
        {"code": "fin", "name": "Finance", "role": "fin-staff", "attributes": "oops"},
    )
    assert bad.status_code == 200 and "name=value" in bad.content.decode()
    admin.post(
        f"/console/sod/policies/{policy.pk}/edit/",
        {
            "code": "fin",
            "name": "Finance",
            "role": "fin-staff",
            "active": "on",
            "organization": "finance",
            "employee_type": "employee",
        },
    )
    assert members(world["staff"]) == {"ana": POLICY}
    auditor = login(UserFactory(username="aud", console_role=ConsoleRole.AUDITOR))
    assert auditor.get("/console/sod/policies/").status_code == 200
    assert auditor.get(f"/console/sod/policies/{policy.pk}/").status_code == 200
    assert auditor.get("/console/sod/policies/new/").status_code == 403
    assert auditor.post(f"/console/sod/policies/{policy.pk}/delete/").status_code == 403
    assert login(world["carl"]).get("/console/sod/policies/").status_code in (302, 403)
    delete_page = admin.get(f"/console/sod/policies/{policy.pk}/delete/").content.decode()
    assert "1 user(s)" in delete_page
    assert admin.post(f"/console/sod/policies/{policy.pk}/delete/").status_code == 302
    assert not AssignmentPolicy.objects.exists() and members(world["staff"]) == {}


def test_the_preview_counts_who_would_break_an_sod_rule(sap):
    """ana already creates suppliers; a policy giving her department the payments role (which
    approves payments) would put her on both sides of the rule: the preview says so first."""
    sap["alice"].department = "Finance"
    sap["alice"].save()
    sap["bob"].department = "Finance"
    sap["bob"].save()
    give(sap["alice"], sap["create"])
    draft = policy_draft({"code": "ap", "name": "AP", "role": sap["payer"], "department": "Finance"})
    preview = policy_preview(draft)
    assert (preview.gain, preview.sod_conflicts, preview.sod_users) == (2, 1, ["alice"])
    assert "1 user(s) would break an SoD rule by gaining the role." in preview.warnings


def test_an_organization_a_policy_names_cannot_be_deleted(world):
    empty = Organization.objects.create(code="legal", name="Legal")
    create(world, organization=empty)
    answer = api(world["admin"]).delete(f"/api/v1/organizations/{empty.pk}/")
    assert answer.status_code == 409
    assert Organization.objects.filter(pk=empty.pk).exists()
