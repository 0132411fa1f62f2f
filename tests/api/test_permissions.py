"""Internal administrative roles on every endpoint: administrator does everything, help desk
and auditor read but never change configuration, a user without a console role gets 403
everywhere, an anonymous caller 401. A denied write changes nothing."""

from __future__ import annotations

import pytest

from blazon.audit.models import AuditEvent
from directory.models import (
    AttributeDefinition,
    Entitlement,
    Organization,
    Resource,
    Role,
    RoleChange,
    RoleResource,
    UsernamePolicy,
)
from tests.api.factories import (
    AccountFactory,
    AttributeDefinitionFactory,
    EntitlementFactory,
    EntitlementMembershipFactory,
    OrganizationFactory,
    ResourceFactory,
    RoleFactory,
    RoleMembershipFactory,
)
from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    org = OrganizationFactory(code="sales")
    resource = ResourceFactory(code="github")
    spare = ResourceFactory(code="spare")
    entitlement = EntitlementFactory(resource=resource, identifier="devs")
    account = AccountFactory(resource=resource)
    membership = EntitlementMembershipFactory(account=account, entitlement=entitlement)
    role = RoleFactory(code="developers")
    RoleResource.objects.create(role=role, resource=resource)
    role_membership = RoleMembershipFactory(role=role, user=account.owner)
    attribute = AttributeDefinitionFactory(name="cost_center")
    return {
        "org": org.pk,
        "resource": resource.pk,
        "spare": spare.pk,
        "entitlement": entitlement.pk,
        "account": account.pk,
        "membership": membership.pk,
        "role": role.pk,
        "role_membership": role_membership.pk,
        "attribute": attribute.pk,
        "user": account.owner_id,
    }


READS = [
    "/api/v1/users/",
    "/api/v1/users/{user}/",
    "/api/v1/organizations/",
    "/api/v1/organizations/{org}/",
    "/api/v1/resources/",
    "/api/v1/resources/{resource}/",
    "/api/v1/accounts/",
    "/api/v1/accounts/{account}/",
    "/api/v1/entitlements/",
    "/api/v1/entitlements/{entitlement}/",
    "/api/v1/entitlement-memberships/",
    "/api/v1/entitlement-memberships/{membership}/",
    "/api/v1/roles/",
    "/api/v1/roles/{role}/",
    "/api/v1/roles/{role}/items/preview/?action=ADD&resource={spare}",
    "/api/v1/role-memberships/",
    "/api/v1/role-memberships/{role_membership}/",
    "/api/v1/role-changes/",
    "/api/v1/attribute-definitions/",
    "/api/v1/attribute-definitions/{attribute}/",
    "/api/v1/username-policy/",
]

# (method, url, body): every write endpoint, with a body an administrator could send.
WRITES = [
    ("post", "/api/v1/organizations/", {"code": "hr", "name": "HR"}),
    ("put", "/api/v1/organizations/{org}/", {"code": "sales", "name": "Sales EMEA"}),
    ("patch", "/api/v1/organizations/{org}/", {"name": "Sales EMEA"}),
    ("delete", "/api/v1/organizations/{org}/", None),
    ("post", "/api/v1/resources/", {"code": "sap", "name": "SAP"}),
    ("put", "/api/v1/resources/{resource}/", {"code": "github", "name": "GitHub Enterprise"}),
    ("patch", "/api/v1/resources/{resource}/", {"criticality": "HIGH"}),
    ("delete", "/api/v1/resources/{spare}/", None),
    ("post", "/api/v1/entitlements/", {"resource": "{resource}", "identifier": "ops", "name": "Ops"}),
    (
        "put",
        "/api/v1/entitlements/{entitlement}/",
        {"resource": "{resource}", "identifier": "devs", "name": "D"},
    ),
    ("patch", "/api/v1/entitlements/{entitlement}/", {"name": "Developers"}),
    ("delete", "/api/v1/entitlements/{entitlement}/", None),
    ("post", "/api/v1/roles/", {"code": "ops", "name": "Ops"}),
    ("put", "/api/v1/roles/{role}/", {"code": "developers", "name": "Devs"}),
    ("patch", "/api/v1/roles/{role}/", {"name": "Devs"}),
    ("delete", "/api/v1/roles/{role}/", None),
    ("post", "/api/v1/roles/{role}/items/", {"resource": "{spare}"}),
    ("delete", "/api/v1/roles/{role}/items/resource/{resource}/", None),
    ("post", "/api/v1/attribute-definitions/", {"scope": "USER", "name": "badge", "label": "Badge"}),
    (
        "put",
        "/api/v1/attribute-definitions/{attribute}/",
        {"scope": "USER", "name": "cost_center", "label": "CC"},
    ),
    ("patch", "/api/v1/attribute-definitions/{attribute}/", {"label": "CC"}),
    ("delete", "/api/v1/attribute-definitions/{attribute}/", None),
    ("put", "/api/v1/username-policy/", {"patterns": ["{f}{last}"]}),
    ("patch", "/api/v1/username-policy/", {"max_length": 12}),
]


def fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


def state():
    """Everything a configuration write could change."""
    return {
        "orgs": list(Organization.objects.values_list("pk", "code", "name").order_by("pk")),
        "resources": list(Resource.objects.values_list("pk", "code", "name", "criticality").order_by("pk")),
        "entitlements": list(Entitlement.objects.values_list("pk", "identifier", "name").order_by("pk")),
        "roles": list(Role.objects.values_list("pk", "code", "name").order_by("pk")),
        "role_items": list(RoleResource.objects.values_list("role_id", "resource_id").order_by("pk")),
        "role_changes": RoleChange.objects.count(),
        "attributes": list(AttributeDefinition.objects.values_list("pk", "name", "label").order_by("pk")),
        "policies": list(UsernamePolicy.objects.values_list("pk", "patterns", "max_length").order_by("pk")),
        "audit": AuditEvent.objects.count(),
    }


def send(client, method, url, body):
    return (
        getattr(client, method)(url, body, format="json")
        if body is not None
        else getattr(client, method)(url)
    )


@pytest.mark.parametrize("url", READS)
@pytest.mark.parametrize("who", ["admin", "helpdesk", "auditor"])
def test_administrative_roles_read_everything(request, world, who, url):
    client = request.getfixturevalue(who)
    response = client.get(url.format(**world))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("url", READS)
def test_user_without_console_role_is_forbidden_to_read(plain, world, url):
    error = assert_error(plain.get(url.format(**world)), 403, "permission_denied")
    assert "administrative role" in error["message"]


@pytest.mark.parametrize("url", READS)
def test_anonymous_is_401_on_reads(anon, world, url):
    assert_error(anon.get(url.format(**world)), 401, "not_authenticated")


@pytest.mark.parametrize(("method", "url", "body"), WRITES)
@pytest.mark.parametrize("who", ["helpdesk", "auditor", "plain"])
def test_only_administrators_change_configuration(request, world, who, method, url, body):
    client = request.getfixturevalue(who)
    before = state()
    response = send(client, method, fill(url, world), fill(body, world))
    error = assert_error(response, 403, "permission_denied")
    assert "administrative role" in error["message"]
    assert state() == before


@pytest.mark.parametrize(("method", "url", "body"), WRITES)
def test_anonymous_writes_are_401(anon, world, method, url, body):
    before = state()
    assert_error(send(anon, method, fill(url, world), fill(body, world)), 401, "not_authenticated")
    assert state() == before


@pytest.mark.parametrize(("method", "url", "body"), WRITES)
def test_administrator_may_call_every_write_endpoint(
    admin, world, method, url, body, django_capture_on_commit_callbacks
):
    """The same requests succeed for an administrator (so the 403s above are about the role)."""
    with django_capture_on_commit_callbacks(execute=True):
        response = send(admin, method, fill(url, world), fill(body, world))
    if (
        "{entitlement}/" in url
        and method == "delete"
        or url == "/api/v1/roles/{role}/"
        and method == "delete"
    ):
        # still in use (held by an account / role has members): refused with 409, not 403
        assert_error(response, 409, "conflict")
    else:
        assert response.status_code in (200, 201, 202, 204), response.content
