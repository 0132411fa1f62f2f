"""Read endpoints: filtering, search, ordering, pagination, what each row shows, and a fixed
number of queries however many rows a page holds."""

from __future__ import annotations

import pytest

from directory.models import (
    AccountRoleGrant,
    AccountStatus,
    AccountType,
    ConsoleRole,
    Management,
    MembershipRoleGrant,
    RoleEntitlement,
    RoleResource,
    UserStatus,
)
from tests.api.factories import (
    AccountFactory,
    EntitlementFactory,
    EntitlementMembershipFactory,
    OrganizationFactory,
    ResourceFactory,
    RoleFactory,
    RoleMembershipFactory,
    UserFactory,
    role_managed_account,
)
from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def people(db):
    sales = OrganizationFactory(code="sales", name="Sales")
    it = OrganizationFactory(code="it", name="IT")
    boss = UserFactory(username="zoe.boss", first_name="Zoe", last_name="Boss", organization=sales)
    return {
        "sales": sales,
        "it": it,
        "boss": boss,
        "ann": UserFactory(
            username="ann.smith", first_name="Ann", last_name="Smith", organization=sales, manager=boss
        ),
        "bob": UserFactory(
            username="bob.jones",
            first_name="Bob",
            last_name="Jones",
            organization=it,
            status=UserStatus.INACTIVE,
        ),
        "cid": UserFactory(
            username="cid.smith", first_name="Cid", last_name="Smith", organization=it, login_locked=True
        ),
    }


def test_user_list_shows_organization_and_manager_and_never_the_password(auditor, people):
    response = auditor.get("/api/v1/users/?username=ann.smith&search=ann")
    (row,) = response.json()["results"]
    assert row["username"] == "ann.smith"
    assert row["organization"] == {"id": people["sales"].pk, "code": "sales", "name": "Sales"}
    assert row["manager"]["username"] == "zoe.boss"
    assert row["status"] == "ACTIVE"
    assert "password" not in row


def test_users_filter_search_order(auditor, people):
    assert ids(auditor.get("/api/v1/users/?status=INACTIVE")) == [people["bob"].pk]
    assert ids(auditor.get("/api/v1/users/?login_locked=true")) == [people["cid"].pk]
    it_users = ids(auditor.get(f"/api/v1/users/?organization={people['it'].pk}&ordering=username"))
    assert it_users == [people["bob"].pk, people["cid"].pk]
    assert ids(auditor.get(f"/api/v1/users/?manager={people['boss'].pk}")) == [people["ann"].pk]
    smiths = ids(auditor.get("/api/v1/users/?search=smith&ordering=-username"))
    assert smiths == [people["cid"].pk, people["ann"].pk]
    # filters combine with search
    assert ids(auditor.get("/api/v1/users/?search=smith&login_locked=false")) == [people["ann"].pk]
    # the auditor itself has a console role
    (me,) = auditor.get("/api/v1/users/?console_role=AUDITOR").json()["results"]
    assert me["username"] == "api-auditor"


def test_pagination(auditor, people):
    first = auditor.get("/api/v1/users/?ordering=username&page_size=2").json()
    assert first["count"] == 5  # four people + the auditor
    assert [r["username"] for r in first["results"]] == ["ann.smith", "api-auditor"]
    assert first["previous"] is None and "page=2" in first["next"]
    last = auditor.get("/api/v1/users/?ordering=username&page_size=2&page=3").json()
    assert [r["username"] for r in last["results"]] == ["zoe.boss"]
    assert last["next"] is None


def test_unknown_ordering_field_is_ignored_not_an_error(auditor, people):
    response = auditor.get("/api/v1/users/?ordering=password")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 5


def test_organizations(auditor, people):
    response = auditor.get("/api/v1/organizations/?ordering=-member_count")
    rows = response.json()["results"]
    assert [(r["code"], r["member_count"]) for r in rows] == [("sales", 2), ("it", 2)] or [
        (r["code"], r["member_count"]) for r in rows
    ] == [("it", 2), ("sales", 2)]
    assert ids(auditor.get("/api/v1/organizations/?search=sal")) == [people["sales"].pk]


def test_resources_accounts_and_why(auditor, people):
    github = ResourceFactory(code="github", name="GitHub", criticality="HIGH")
    sap = ResourceFactory(code="sap", name="SAP")
    github.owners.add(people["boss"])
    role = RoleFactory(code="devs", name="Developers")
    by_role = role_managed_account(role, resource=github, owner=people["ann"], identifier="ann")
    manual = AccountFactory(
        resource=github, owner=people["bob"], identifier="bob", status=AccountStatus.INACTIVE
    )
    orphan = AccountFactory(
        resource=sap, owner=None, identifier="svc-sap", account_type=AccountType.APPLICATION
    )

    rows = auditor.get("/api/v1/resources/?criticality=HIGH").json()["results"]
    assert [r["code"] for r in rows] == ["github"]
    assert rows[0]["account_count"] == 2
    assert rows[0]["owners"][0]["username"] == "zoe.boss"
    assert rows[0]["provisioning_modes"]["CREATE_ACCOUNT"] == "DISABLED"
    assert ids(auditor.get(f"/api/v1/resources/?owners={people['boss'].pk}")) == [github.pk]

    assert ids(auditor.get(f"/api/v1/accounts/?resource={github.pk}&ordering=identifier")) == [
        by_role.pk,
        manual.pk,
    ]
    assert ids(auditor.get("/api/v1/accounts/?owner=null")) == [orphan.pk]
    assert ids(auditor.get("/api/v1/accounts/?management=ROLE")) == [by_role.pk]
    assert ids(auditor.get("/api/v1/accounts/?status=INACTIVE")) == [manual.pk]
    assert ids(auditor.get("/api/v1/accounts/?search=svc-")) == [orphan.pk]
    row = auditor.get(f"/api/v1/accounts/{by_role.pk}/").json()
    assert row["why"] == {"manual": False, "roles": [{"id": role.pk, "code": "devs", "name": "Developers"}]}
    assert row["owner"]["username"] == "ann.smith"
    assert auditor.get(f"/api/v1/accounts/{orphan.pk}/").json()["is_orphan"] is True


def test_entitlements_and_memberships(auditor, people):
    github = ResourceFactory(code="github")
    admins = EntitlementFactory(resource=github, identifier="admins", name="Admins", criticality="CRITICAL")
    devs = EntitlementFactory(resource=github, identifier="devs", name="Developers")
    ann = AccountFactory(resource=github, owner=people["ann"], identifier="ann")
    bob = AccountFactory(resource=github, owner=people["bob"], identifier="bob")
    m1 = EntitlementMembershipFactory(account=ann, entitlement=devs)
    m2 = EntitlementMembershipFactory(account=bob, entitlement=devs, management=Management.ROLE, manual=False)
    role = RoleFactory(code="devs")
    MembershipRoleGrant.objects.create(membership=m2, role=role)
    m3 = EntitlementMembershipFactory(account=ann, entitlement=admins)

    assert ids(auditor.get("/api/v1/entitlements/?criticality=CRITICAL")) == [admins.pk]
    rows = auditor.get("/api/v1/entitlements/?ordering=-member_count").json()["results"]
    assert [(r["identifier"], r["member_count"]) for r in rows] == [("devs", 2), ("admins", 1)]
    assert ids(auditor.get("/api/v1/entitlements/?search=admi")) == [admins.pk]

    assert ids(auditor.get(f"/api/v1/entitlement-memberships/?entitlement={devs.pk}")) == [m1.pk, m2.pk]
    assert ids(auditor.get(f"/api/v1/entitlement-memberships/?account__owner={people['ann'].pk}")) == [
        m1.pk,
        m3.pk,
    ]
    assert ids(auditor.get("/api/v1/entitlement-memberships/?management=ROLE")) == [m2.pk]
    assert ids(auditor.get("/api/v1/entitlement-memberships/?search=bob.jones")) == [m2.pk]
    assert ids(auditor.get("/api/v1/entitlement-memberships/?ordering=-id")) == [m3.pk, m2.pk, m1.pk]
    row = auditor.get(f"/api/v1/entitlement-memberships/{m2.pk}/").json()
    assert row["why"]["roles"][0]["code"] == "devs"
    assert row["account"]["owner"]["username"] == "bob.jones"
    assert row["entitlement"]["identifier"] == "devs"


def test_roles_and_role_memberships(auditor, people):
    github = ResourceFactory(code="github", name="GitHub")
    devs = EntitlementFactory(resource=github, identifier="devs")
    role = RoleFactory(code="developers", name="Developers", criticality="HIGH")
    other = RoleFactory(code="sales-reps", name="Sales reps")
    RoleResource.objects.create(role=role, resource=github)
    RoleEntitlement.objects.create(role=role, entitlement=devs)
    rm1 = RoleMembershipFactory(role=role, user=people["ann"])
    rm2 = RoleMembershipFactory(role=other, user=people["ann"])
    rm3 = RoleMembershipFactory(role=role, user=people["bob"])

    row = auditor.get(f"/api/v1/roles/{role.pk}/").json()
    assert row["resources"] == [{"id": github.pk, "code": "github", "name": "GitHub"}]
    assert [e["identifier"] for e in row["entitlements"]] == ["devs"]
    assert row["member_count"] == 2
    assert ids(auditor.get("/api/v1/roles/?criticality=HIGH")) == [role.pk]
    assert ids(auditor.get("/api/v1/roles/?search=sales")) == [other.pk]
    assert ids(auditor.get("/api/v1/roles/?ordering=-member_count")) == [role.pk, other.pk]

    assert ids(auditor.get(f"/api/v1/role-memberships/?role={role.pk}")) == [rm1.pk, rm3.pk]
    assert ids(auditor.get(f"/api/v1/role-memberships/?user={people['ann'].pk}")) == [rm1.pk, rm2.pk]
    assert ids(auditor.get("/api/v1/role-memberships/?search=bob.jones")) == [rm3.pk]
    assert_error(auditor.get("/api/v1/role-memberships/?management=SOMETIMES"), 400, "validation_failed")


def test_username_policy_defaults_when_none_is_configured(auditor):
    body = auditor.get("/api/v1/username-policy/").json()
    assert body["patterns"] == ["{first}.{last}", "{first}.{middle_initial}.{last}"]
    assert body["lowercase"] is True


# ---------------------------------------------------------------------------------------------
# N+1: a page of 30 rows costs the same few queries as a page of 3


def _bulk_world(n: int) -> None:
    """``n`` rows of every kind, each with the relations its list shows."""
    boss = UserFactory(organization=OrganizationFactory())
    for _ in range(n):
        resource = ResourceFactory()
        entitlement = EntitlementFactory(resource=resource)
        role = RoleFactory(owner=boss)
        RoleResource.objects.create(role=role, resource=resource)
        RoleEntitlement.objects.create(role=role, entitlement=entitlement)
        user = UserFactory(organization=OrganizationFactory(owner=boss), manager=boss)
        resource.owners.add(user, boss)
        account = AccountFactory(resource=resource, owner=user, responsible=boss)
        membership = EntitlementMembershipFactory(account=account, entitlement=entitlement)
        AccountRoleGrant.objects.create(account=account, role=role)
        MembershipRoleGrant.objects.create(membership=membership, role=role)
        RoleMembershipFactory(role=role, user=user)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/users/",
        "/api/v1/accounts/",
        "/api/v1/entitlement-memberships/",
        "/api/v1/role-memberships/",
        "/api/v1/roles/",
        "/api/v1/resources/",
        "/api/v1/entitlements/",
        "/api/v1/organizations/",
    ],
)
def test_list_queries_do_not_grow_with_the_rows(django_assert_max_num_queries, url):
    viewer = UserFactory(console_role=ConsoleRole.AUDITOR)
    from tests.api.helpers import client_for

    client = client_for(viewer)
    _bulk_world(30)
    # authentication (token + user) + count + page + a few prefetches, whatever the page size
    with django_assert_max_num_queries(6):
        response = client.get(url + "?page_size=100")
    assert response.status_code == 200
    assert len(response.json()["results"]) >= 30
