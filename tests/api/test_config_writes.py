"""Create/update/delete of configuration objects through the API: the change lands, is audited
with source "api", and bad input gets a clear per-field error with nothing changed."""

from __future__ import annotations

import pytest

from blazon.audit.models import AuditEvent
from directory.models import (
    AttributeDefinition,
    Entitlement,
    Organization,
    Resource,
    Role,
    RoleResource,
    UsernamePolicy,
)
from provisioning.models import ProvisioningEntry
from tests.api.factories import (
    AccountFactory,
    AttributeDefinitionFactory,
    EntitlementFactory,
    OrganizationFactory,
    ResourceFactory,
    RoleFactory,
    RoleMembershipFactory,
    UserFactory,
)
from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db

MODELS = (Organization, Resource, Entitlement, Role, RoleResource, AttributeDefinition, UsernamePolicy)


def counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in (*MODELS, AuditEvent, ProvisioningEntry)}


def last_event(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).order_by("-seq").first()


# ---------------------------------------------------------------------------------------------
# the happy paths


def test_organization_create_update_delete(admin, admin_user):
    owner = UserFactory(username="olga")
    parent = OrganizationFactory(code="corp")
    response = admin.post(
        "/api/v1/organizations/",
        {"code": "sales", "name": "Sales", "parent": parent.pk, "owner": owner.pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["parent"]["code"] == "corp" and body["owner"]["username"] == "olga"
    assert body["member_count"] == 0
    event = last_event("organization.create")
    assert event.source == "api" and event.actor_id == admin_user.pk
    assert event.new_values["code"] == "sales"

    org_id = body["id"]
    response = admin.patch(f"/api/v1/organizations/{org_id}/", {"name": "Sales EMEA"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Sales EMEA"
    assert Organization.objects.get(pk=org_id).code == "sales"  # untouched
    event = last_event("organization.update")
    assert (event.old_values, event.new_values) == ({"name": "Sales"}, {"name": "Sales EMEA"})

    assert admin.delete(f"/api/v1/organizations/{org_id}/").status_code == 204
    assert not Organization.objects.filter(pk=org_id).exists()
    assert last_event("organization.delete").old_values["code"] == "sales"


def test_resource_create_with_owners_and_partial_provisioning_modes(admin):
    owner = UserFactory(username="rita")
    response = admin.post(
        "/api/v1/resources/",
        {
            "code": "github",
            "name": "GitHub",
            "owners": [owner.pk],
            "criticality": "HIGH",
            "provisioning_modes": {"CREATE_ACCOUNT": "AUTOMATIC", "GRANT_ENTITLEMENT": "MANUAL"},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert [o["username"] for o in body["owners"]] == ["rita"]
    modes = body["provisioning_modes"]
    assert modes["CREATE_ACCOUNT"] == "AUTOMATIC" and modes["GRANT_ENTITLEMENT"] == "MANUAL"
    assert modes["REVOKE_ACCOUNT"] == "DISABLED" and len(modes) == 11

    # a later update names one event; the others keep their mode
    response = admin.patch(
        f"/api/v1/resources/{body['id']}/",
        {"provisioning_modes": {"REVOKE_ACCOUNT": "MANUAL"}},
        format="json",
    )
    modes = response.json()["provisioning_modes"]
    assert modes["CREATE_ACCOUNT"] == "AUTOMATIC" and modes["REVOKE_ACCOUNT"] == "MANUAL"
    response = admin.patch(f"/api/v1/resources/{body['id']}/", {"owners": []}, format="json")
    assert response.json()["owners"] == []
    assert admin.delete(f"/api/v1/resources/{body['id']}/").status_code == 204
    assert not Resource.objects.filter(code="github").exists()


def test_entitlement_create_update_delete_write_provisioning_entries(admin):
    resource = ResourceFactory(code="ad", provisioning_modes={"CREATE_ENTITLEMENT": "AUTOMATIC"})
    response = admin.post(
        "/api/v1/entitlements/",
        {"resource": resource.pk, "identifier": "cn=vpn", "name": "VPN users", "criticality": "LOW"},
        format="json",
    )
    assert response.status_code == 201, response.content
    ent_id = response.json()["id"]
    assert response.json()["resource"]["code"] == "ad"
    assert ProvisioningEntry.objects.filter(resource=resource).count() == 1

    response = admin.patch(f"/api/v1/entitlements/{ent_id}/", {"description": "Remote access"}, format="json")
    assert response.json()["description"] == "Remote access"
    assert admin.delete(f"/api/v1/entitlements/{ent_id}/").status_code == 204
    assert not Entitlement.objects.filter(pk=ent_id).exists()


def test_role_create_update_delete(admin):
    owner = UserFactory()
    response = admin.post(
        "/api/v1/roles/",
        {"code": "devs", "name": "Developers", "owner": owner.pk, "self_service": False},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["resources"] == [] and body["entitlements"] == [] and body["self_service"] is False
    response = admin.put(
        f"/api/v1/roles/{body['id']}/", {"code": "developers", "name": "Developers"}, format="json"
    )
    assert response.json()["code"] == "developers"
    assert response.json()["owner"]["id"] == owner.pk  # left out of the PUT: unchanged
    assert admin.delete(f"/api/v1/roles/{body['id']}/").status_code == 204
    assert not Role.objects.exists()


def test_attribute_definition_create_update_delete(admin):
    resource = ResourceFactory(code="sap")
    response = admin.post(
        "/api/v1/attribute-definitions/",
        {
            "scope": "ACCOUNT",
            "resource": resource.pk,
            "name": "sap_client",
            "label": "SAP client",
            "regex": "[0-9]{3}",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    defn_id = response.json()["id"]
    response = admin.patch(f"/api/v1/attribute-definitions/{defn_id}/", {"required": True}, format="json")
    assert response.json()["required"] is True
    assert admin.delete(f"/api/v1/attribute-definitions/{defn_id}/").status_code == 204


def test_username_policy_update(admin):
    response = admin.put(
        "/api/v1/username-policy/",
        {"patterns": ["{f}{last}", "{first}.{last}"], "max_length": 20},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["patterns"] == ["{f}{last}", "{first}.{last}"]
    policy = UsernamePolicy.objects.get(active=True)
    assert policy.max_length == 20
    response = admin.patch("/api/v1/username-policy/", {"lowercase": False}, format="json")
    assert response.json()["patterns"] == ["{f}{last}", "{first}.{last}"]
    assert UsernamePolicy.objects.get(pk=policy.pk).lowercase is False
    assert admin.get("/api/v1/username-policy/").json()["lowercase"] is False


# ---------------------------------------------------------------------------------------------
# bad input: a clear error, nothing changed


@pytest.fixture
def existing(db):
    org = OrganizationFactory(code="sales")
    resource = ResourceFactory(code="github")
    entitlement = EntitlementFactory(resource=resource, identifier="devs")
    role = RoleFactory(code="developers")
    attribute = AttributeDefinitionFactory(name="badge", label="Badge")
    AttributeDefinition.objects.create(
        scope="ENTITLEMENT",
        resource=resource,
        name="ticket",
        label="Ticket",
        required=True,
        regex="[A-Z]+-[0-9]+",
    )
    return {
        "org": org,
        "resource": resource,
        "entitlement": entitlement,
        "role": role,
        "attribute": attribute,
    }


BAD = [
    # (method, url, body, status, field, words in the message)
    ("post", "/api/v1/organizations/", {"code": "sales", "name": "Dup"}, 409, "code", "already exists"),
    ("post", "/api/v1/organizations/", {"code": "hr"}, 400, "name", "required"),
    ("post", "/api/v1/organizations/", {"code": "h r", "name": "HR"}, 400, "code", "letters, numbers"),
    (
        "post",
        "/api/v1/organizations/",
        {"code": "hr", "name": "HR", "parent": 999999},
        400,
        "parent",
        "999999",
    ),
    ("post", "/api/v1/organizations/", {"code": "hr", "name": "HR", "owner": 999999}, 400, "owner", "999999"),
    (
        "post",
        "/api/v1/organizations/",
        {"code": "hr", "name": "HR", "owner": "abc"},
        400,
        "owner",
        "Incorrect type",
    ),
    ("patch", "/api/v1/organizations/{org}/", {"parent": "{org}"}, 400, "parent", "inside itself"),
    ("post", "/api/v1/resources/", {"code": "github", "name": "Dup"}, 409, "code", "already exists"),
    (
        "post",
        "/api/v1/resources/",
        {"code": "sap", "name": "SAP", "owners": [999999]},
        400,
        "owners",
        "999999",
    ),
    ("post", "/api/v1/resources/", {"code": "sap", "name": "SAP", "owners": 5}, 400, "owners", "list"),
    (
        "post",
        "/api/v1/resources/",
        {"code": "sap", "name": "SAP", "criticality": "HUGE"},
        400,
        "criticality",
        "HUGE",
    ),
    (
        "post",
        "/api/v1/resources/",
        {"code": "sap", "name": "SAP", "self_service": "maybe"},
        400,
        "self_service",
        "boolean",
    ),
    (
        "post",
        "/api/v1/resources/",
        {"code": "sap", "name": "SAP", "provisioning_modes": {"CREATE_ACCOUNT": "ALWAYS"}},
        400,
        "provisioning_modes.CREATE_ACCOUNT",
        "ALWAYS",
    ),
    (
        "patch",
        "/api/v1/resources/{resource}/",
        {"provisioning_modes": {"MAKE_COFFEE": "AUTOMATIC"}},
        400,
        "provisioning_modes.MAKE_COFFEE",
        "Unknown provisioning event",
    ),
    (
        "patch",
        "/api/v1/resources/{resource}/",
        {"provisioning_modes": "AUTOMATIC"},
        400,
        "provisioning_modes",
        "dictionary",
    ),
    (
        "post",
        "/api/v1/entitlements/",
        {"resource": "{resource}", "identifier": "devs", "name": "Dup", "attributes": {"ticket": "ABC-1"}},
        409,
        "identifier",
        "already has",
    ),
    (
        "post",
        "/api/v1/entitlements/",
        {"resource": 999999, "identifier": "x", "name": "X"},
        400,
        "resource",
        "999999",
    ),
    (
        "post",
        "/api/v1/entitlements/",
        {"resource": "{resource}", "identifier": "ops", "name": "Ops"},
        400,
        "attributes.ticket",
        "required",
    ),
    (
        "post",
        "/api/v1/entitlements/",
        {"resource": "{resource}", "identifier": "ops", "name": "Ops", "attributes": {"ticket": "nope"}},
        400,
        "attributes.ticket",
        "[A-Z]+-[0-9]+",
    ),
    (
        "post",
        "/api/v1/entitlements/",
        {
            "resource": "{resource}",
            "identifier": "ops",
            "name": "Ops",
            "attributes": {"ticket": "OPS-1", "colour": "red"},
        },
        400,
        "attributes.colour",
        "Unknown attribute",
    ),
    (
        "post",
        "/api/v1/entitlements/",
        {"resource": "{resource}", "identifier": "ops"},
        400,
        "name",
        "required",
    ),
    (
        "patch",
        "/api/v1/entitlements/{entitlement}/",
        {"resource": "{other}"},
        400,
        "resource",
        "cannot be changed",
    ),
    ("post", "/api/v1/roles/", {"code": "developers", "name": "Dup"}, 409, "code", "already exists"),
    ("post", "/api/v1/roles/", {"code": "ops", "name": "Ops", "owner": 999999}, 400, "owner", "999999"),
    ("post", "/api/v1/roles/", {"code": "ops", "name": ["Ops"]}, 400, "name", "Not a valid string"),
    (
        "post",
        "/api/v1/attribute-definitions/",
        {"scope": "USER", "name": "badge", "label": "Dup"},
        409,
        "name",
        "already exists",
    ),
    (
        "post",
        "/api/v1/attribute-definitions/",
        {"scope": "USER", "name": "x", "label": "X", "regex": "[a-"},
        400,
        "regex",
        "regular expression",
    ),
    (
        "post",
        "/api/v1/attribute-definitions/",
        {"scope": "GROUP", "name": "x", "label": "X"},
        400,
        "scope",
        "GROUP",
    ),
    (
        "post",
        "/api/v1/attribute-definitions/",
        {"scope": "ACCOUNT", "name": "x", "label": "X"},
        400,
        "resource",
        "choose it",
    ),
    (
        "post",
        "/api/v1/attribute-definitions/",
        {"scope": "USER", "name": "x", "label": "X", "type": "BLOB"},
        400,
        "type",
        "BLOB",
    ),
    (
        "post",
        "/api/v1/attribute-definitions/",
        {"scope": "USER", "name": "9lives", "label": "X"},
        400,
        "name",
        "Start with a letter",
    ),
    (
        "patch",
        "/api/v1/attribute-definitions/{attribute}/",
        {"regex": "(unclosed"},
        400,
        "regex",
        "regular expression",
    ),
    (
        "patch",
        "/api/v1/attribute-definitions/{attribute}/",
        {"name": "renamed"},
        400,
        "name",
        "cannot be changed",
    ),
    (
        "patch",
        "/api/v1/attribute-definitions/{attribute}/",
        {"position": -1},
        400,
        "position",
        "greater than or equal",
    ),
    ("put", "/api/v1/username-policy/", {"patterns": ["{first}.{surname}"]}, 400, "patterns[0]", "{surname}"),
    (
        "put",
        "/api/v1/username-policy/",
        {"patterns": ["{first:>10}"]},
        400,
        "patterns[0]",
        "Format specifications",
    ),
    ("put", "/api/v1/username-policy/", {"patterns": ["admin"]}, 400, "patterns[0]", "placeholder"),
    ("put", "/api/v1/username-policy/", {"patterns": ["{first"]}, 400, "patterns[0]", "Malformed"),
    ("put", "/api/v1/username-policy/", {"patterns": []}, 400, "patterns", "empty"),
    ("put", "/api/v1/username-policy/", {"max_length": 10}, 400, "patterns", "required"),
    ("patch", "/api/v1/username-policy/", {"max_length": "ten"}, 400, "max_length", "valid integer"),
]


def fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "field", "words"),
    BAD,
    ids=[f"{b[0]}-{b[4]}-{b[5][:20]}" for b in BAD],
)
def test_bad_input_is_refused_with_a_clear_error_and_changes_nothing(
    admin, existing, method, url, body, status, field, words
):
    other = ResourceFactory(code="other")
    ids = {k: str(v.pk) for k, v in existing.items()} | {"other": str(other.pk)}
    body = fill(body, ids)
    if isinstance(body.get("resource"), str) and body["resource"].isdigit():
        body["resource"] = int(body["resource"])
    if isinstance(body.get("parent"), str) and body["parent"].isdigit():
        body["parent"] = int(body["parent"])
    before = counts()
    snapshot = {
        "org": list(Organization.objects.values()),
        "res": list(Resource.objects.values()),
        "ent": list(Entitlement.objects.values()),
        "attr": list(AttributeDefinition.objects.values()),
    }
    response = getattr(admin, method)(fill(url, ids), body, format="json")
    error = assert_error(response, status)
    assert field in error["fields"], error
    assert words.lower() in " ".join(error["fields"][field]).lower(), error
    assert counts() == before
    assert snapshot == {
        "org": list(Organization.objects.values()),
        "res": list(Resource.objects.values()),
        "ent": list(Entitlement.objects.values()),
        "attr": list(AttributeDefinition.objects.values()),
    }


@pytest.mark.parametrize(
    ("blocker", "words"),
    [("account", "1 account(s)"), ("entitlement", "1 entitlement(s)"), ("role", "1 role(s) grant it")],
)
def test_deleting_a_resource_still_in_use_is_409(admin, blocker, words):
    resource = ResourceFactory(code="ad")
    if blocker == "account":
        AccountFactory(resource=resource)
    elif blocker == "entitlement":
        EntitlementFactory(resource=resource)
    else:
        RoleResource.objects.create(role=RoleFactory(), resource=resource)
    before = counts()
    error = assert_error(admin.delete(f"/api/v1/resources/{resource.pk}/"), 409, "conflict")
    assert words in error["message"]
    assert counts() == before


def test_deleting_an_organization_with_members_or_children_is_409(admin):
    org = OrganizationFactory(code="sales")
    UserFactory(organization=org)
    before = counts()
    error = assert_error(admin.delete(f"/api/v1/organizations/{org.pk}/"), 409, "conflict")
    assert "1 member(s)" in error["message"]
    parent = OrganizationFactory(code="corp")
    OrganizationFactory(parent=parent)
    error = assert_error(admin.delete(f"/api/v1/organizations/{parent.pk}/"), 409, "conflict")
    assert "child" in error["message"]
    assert counts()["Organization"] == before["Organization"] + 2


def test_deleting_a_role_with_members_is_409(admin):
    role = RoleFactory(code="devs")
    RoleMembershipFactory(role=role)
    before = counts()
    error = assert_error(admin.delete(f"/api/v1/roles/{role.pk}/"), 409, "conflict")
    assert "revoke the memberships first" in error["message"]
    assert counts() == before


def test_deleting_an_entitlement_that_accounts_hold_is_409(admin):
    from tests.api.factories import EntitlementMembershipFactory

    membership = EntitlementMembershipFactory()
    before = counts()
    error = assert_error(admin.delete(f"/api/v1/entitlements/{membership.entitlement_id}/"), 409, "conflict")
    assert "1 account(s) hold this entitlement" in error["message"]
    assert counts() == before


def test_making_an_attribute_unique_when_values_repeat_is_409(admin):
    defn = AttributeDefinitionFactory(name="badge")
    UserFactory(attributes={"badge": "42"})
    UserFactory(attributes={"badge": "42"})
    error = assert_error(
        admin.patch(f"/api/v1/attribute-definitions/{defn.pk}/", {"unique": True}, format="json"), 409
    )
    assert "cannot be unique" in error["message"]
    defn.refresh_from_db()
    assert defn.unique is False
