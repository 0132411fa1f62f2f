"""Auth (denied cases), discovery, lists (paging, sorting, attribute selection), PATCH (§3.5.2),
Groups (role grants and revokes) and Bulk (§3.7)."""

from __future__ import annotations

import pytest

from directory.models import Role, RoleMembership, User
from requests_workflow.models import Request, RequestType
from scim.models import ScimClient
from scim.schemas import BULK_MAX_OPERATIONS
from tests.scim.conftest import BLAZON, ENTERPRISE, PATCH, Scim, new_user, register

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def ops(*operations):
    return {"schemas": [PATCH], "Operations": list(operations)}


# --- auth --------------------------------------------------------------------------------------


def test_register_command_prints_the_token_last_and_keeps_only_its_digest(db):
    token = register("Entra ID")
    client = ScimClient.objects.get(name="Entra ID")
    assert token.startswith("scim_")
    assert token not in (client.digest, client.prefix)
    assert client.user.username == "scim-client.entra-id"
    assert client.user.console_role == "HELPDESK"


@pytest.mark.parametrize(
    "header", [None, "Bearer scim_wrong", "Bearer blz_not-a-scim-token", "Basic dXNlcjpwYXNz", "Bearer a b"]
)
def test_no_or_bad_token_is_401(db, header):
    http = Scim(None)
    kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
    r = http.http.get("/scim/v2/Users", **kwargs)
    assert r.status_code == 401
    assert r.json()["status"] == "401"
    assert r["WWW-Authenticate"].startswith("Bearer")
    assert http.http.get("/scim/v2/ServiceProviderConfig", **kwargs).status_code == 401


def test_revoked_token_is_401(scim):
    from scim.services.clients import scim_client_revoke

    scim_client_revoke(actor=None, client=ScimClient.objects.get(name="Okta"))
    assert scim.get("/Users").status_code == 401


def test_read_only_token_reads_but_never_writes(scim_read, scim):
    uid = scim.post("/Users", new_user()).json()["id"]
    assert scim_read.get("/Users").status_code == 200
    before = Request.objects.count()
    for r in (
        scim_read.post("/Users", new_user("other")),
        scim_read.put(f"/Users/{uid}", new_user()),
        scim_read.patch(f"/Users/{uid}", ops({"op": "replace", "path": "title", "value": "x"})),
        scim_read.delete(f"/Users/{uid}"),
        scim_read.post("/Bulk", {"schemas": [BULK], "Operations": []}),
    ):
        assert r.status_code == 403, r.content
    assert Request.objects.count() == before
    assert User.objects.get(pk=uid).job_title == "Engineer"


def test_service_identities_are_not_scim_users(scim):
    assert scim.get("/Users").json()["totalResults"] == 0


# --- discovery -----------------------------------------------------------------------------------


def test_discovery(scim, db):
    spc = scim.get("/ServiceProviderConfig").json()
    assert spc["bulk"] == {
        "supported": True,
        "maxOperations": BULK_MAX_OPERATIONS,
        "maxPayloadSize": 1_048_576,
    }
    assert spc["patch"]["supported"] and spc["etag"]["supported"] and spc["filter"]["supported"]
    types = scim.get("/ResourceTypes").json()
    assert {t["id"] for t in types["Resources"]} == {"User", "Group"}
    schemas = {s["id"] for s in scim.get("/Schemas").json()["Resources"]}
    assert BLAZON in schemas and ENTERPRISE in schemas
    assert scim.get(f"/Schemas/{BLAZON}").json()["name"] == "BlazonUser"
    assert scim.get("/Schemas/urn:nope").status_code == 404
    assert scim.get("/Nope").status_code == 404
    assert scim.post("/ServiceProviderConfig", {}).status_code == 405


# --- lists -----------------------------------------------------------------------------------------


@pytest.fixture
def five(scim):
    return [scim.post("/Users", new_user(f"user{i}", title=f"T{5 - i}")).json()["id"] for i in range(5)]


def test_paging_sorting_and_attribute_selection(scim, five):
    page = scim.get(
        "/Users", {"startIndex": 2, "count": 2, "sortBy": "title", "sortOrder": "descending"}
    ).json()
    assert page["totalResults"] == 5 and page["startIndex"] == 2 and page["itemsPerPage"] == 2
    assert [u["title"] for u in page["Resources"]] == ["T4", "T3"]
    only = scim.get("/Users", {"attributes": "userName,name.familyName", "count": 1}).json()["Resources"][0]
    assert set(only) == {"id", "schemas", "meta", "userName", "name"}
    assert set(only["name"]) == {"familyName"}
    without = scim.get("/Users", {"excludedAttributes": "emails,title", "count": 1}).json()["Resources"][0]
    assert "emails" not in without and "title" not in without and "userName" in without
    assert scim.get("/Users", {"count": 0}).json()["Resources"] == []
    assert scim.get("/Users", {"sortBy": "nickName"}).json()["scimType"] == "invalidValue"
    bad = scim.get("/Users", {"filter": "userName eq"})
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidFilter"


def test_search_by_post(scim, five):
    r = scim.post(
        "/Users/.search", {"schemas": [SEARCH], "filter": 'userName eq "user3"', "attributes": ["userName"]}
    )
    assert r.status_code == 200
    assert [u["userName"] for u in r.json()["Resources"]] == ["user3"]
    assert scim.post("/.search", {"schemas": [SEARCH], "filter": 'title eq "T1"'}).json()["totalResults"] == 1
    assert scim.post("/Users/.search", {"filter": "x"}).json()["scimType"] == "invalidSyntax"


def test_list_query_count_does_not_grow_with_the_page(scim, five, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i, uid in enumerate(five):
        scim.patch(f"/Users/{uid}", ops({"op": "add", "path": "externalId", "value": f"hr-{i}"}))
    with CaptureQueriesContext(connection) as two:
        assert len(scim.get("/Users", {"count": 2}).json()["Resources"]) == 2
    with CaptureQueriesContext(connection) as all_five:
        page = scim.get("/Users", {"count": 5}).json()["Resources"]
    assert len(all_five.captured_queries) == len(two.captured_queries) <= 12
    assert sorted(u["externalId"] for u in page) == [f"hr-{i}" for i in range(5)]


def test_external_ids_are_per_client_and_filterable(scim, five):
    scim.patch(f"/Users/{five[2]}", ops({"op": "replace", "path": "externalId", "value": "HR-42"}))
    found = scim.get("/Users", {"filter": 'externalId eq "HR-42"'}).json()["Resources"]
    assert [u["id"] for u in found] == [five[2]]
    assert scim.get("/Users", {"filter": 'externalId eq "hr-42"'}).json()["totalResults"] == 0  # caseExact
    other = Scim(register("Entra ID"))
    assert "externalId" not in other.get(f"/Users/{five[2]}").json()
    assert other.get("/Users", {"filter": 'externalId eq "HR-42"'}).json()["totalResults"] == 0


# --- PATCH ---------------------------------------------------------------------------------------------


def test_patch_add_replace_remove_with_paths_and_filters(scim):
    uid = scim.post("/Users", new_user()).json()["id"]
    r = scim.patch(
        f"/Users/{uid}",
        ops(
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "ada@new.example"},
            {"op": "add", "path": "name.givenName", "value": "Augusta"},
            {"op": "replace", "value": {"title": "Countess", ENTERPRISE + ":department": "Maths"}},
            {"op": "remove", "path": "displayName"},
        ),
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["emails"][0]["value"] == "ada@new.example"
    assert body["name"]["givenName"] == "Augusta"
    assert body["title"] == "Countess"
    assert body[ENTERPRISE]["department"] == "Maths"
    user = User.objects.get(pk=uid)
    assert (user.email, user.first_name, user.job_title) == ("ada@new.example", "Augusta", "Countess")
    assert Request.objects.filter(type=RequestType.UPDATE_USER, beneficiary=user, source="scim").count() == 1
    r = scim.patch(f"/Users/{uid}", ops({"op": "remove", "path": 'emails[type eq "work"]'}))
    assert r.status_code == 200 and "emails" not in r.json()


def test_patch_active_false_inactivates(scim):
    uid = scim.post("/Users", new_user()).json()["id"]
    r = scim.patch(f"/Users/{uid}", ops({"op": "replace", "value": {"active": False}}))
    assert r.json()["active"] is False
    assert User.objects.get(pk=uid).status == "INACTIVE"


@pytest.mark.parametrize(
    ("operation", "scim_type"),
    [
        ({"op": "replace", "path": "id", "value": "7"}, "mutability"),
        ({"op": "replace", "path": "meta.created", "value": "x"}, "mutability"),
        ({"op": "add", "path": "groups", "value": [{"value": "1"}]}, "mutability"),
        ({"op": "remove"}, "noTarget"),
        ({"op": "replace", "path": 'emails[type eq "home"].value', "value": "a@b.c"}, "noTarget"),
        ({"op": "replace", "path": "emails[type eq]", "value": "x"}, "invalidPath"),
        ({"op": "replace", "path": "urn:nope:attr", "value": "x"}, "invalidPath"),
        ({"op": "replace", "path": 'title[value eq "x"]', "value": "x"}, "invalidPath"),
        ({"op": "move", "path": "title", "value": "x"}, "invalidSyntax"),
        ({"op": "replace", "path": "title"}, "invalidSyntax"),
        ({"op": "replace", "path": "nickname2", "value": "x"}, "invalidValue"),
        ({"op": "replace", "path": "emails", "value": [{"value": "not an address"}]}, "invalidValue"),
        ({"op": "remove", "path": "userName"}, "invalidValue"),
    ],
)
def test_bad_patch_changes_nothing(scim, operation, scim_type):
    uid = scim.post("/Users", new_user()).json()["id"]
    before = Request.objects.count()
    r = scim.patch(f"/Users/{uid}", ops(operation))
    assert r.status_code == 400, r.content
    assert r.json()["scimType"] == scim_type
    assert Request.objects.count() == before


def test_patch_body_must_be_a_patch_op(scim):
    uid = scim.post("/Users", new_user()).json()["id"]
    assert scim.patch(f"/Users/{uid}", {"Operations": []}).json()["scimType"] == "invalidSyntax"
    assert scim.patch("/Users/999999", ops({"op": "remove", "path": "title"})).status_code == 404


# --- Groups = roles ----------------------------------------------------------------------------------


def test_group_membership_is_role_grants_and_revokes(scim):
    role = Role.objects.create(code="eng", name="Engineering")
    a = scim.post("/Users", new_user("ada")).json()["id"]
    b = scim.post("/Users", new_user("bob")).json()["id"]
    r = scim.patch(
        f"/Groups/{role.pk}", ops({"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]})
    )
    assert r.status_code == 200, r.content
    assert {m["value"] for m in r.json()["members"]} == {a, b}
    assert Request.objects.filter(type=RequestType.GRANT_ROLE, role=role, source="scim").count() == 2
    r = scim.patch(f"/Groups/{role.pk}", ops({"op": "remove", "path": f'members[value eq "{a}"]'}))
    assert [m["value"] for m in r.json()["members"]] == [b]
    assert not RoleMembership.objects.filter(role=role, user_id=a).exists()
    assert Request.objects.filter(type=RequestType.REVOKE_ROLE, role=role, beneficiary_id=a).exists()
    groups = scim.get(f"/Users/{b}").json()["groups"]
    assert groups[0]["value"] == str(role.pk)
    found = scim.get("/Groups", {"filter": f'members[value eq "{b}"]'}).json()
    assert [g["displayName"] for g in found["Resources"]] == ["Engineering"]
    r = scim.put(
        f"/Groups/{role.pk}",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering",
            "members": [],
        },
    )
    assert r.status_code == 200 and "members" not in r.json()


def test_groups_are_not_created_renamed_or_deleted_by_scim(scim):
    role = Role.objects.create(code="eng", name="Engineering")
    assert scim.post("/Groups", {"displayName": "New"}).status_code == 403
    assert scim.delete(f"/Groups/{role.pk}").status_code == 403
    r = scim.patch(f"/Groups/{role.pk}", ops({"op": "replace", "path": "displayName", "value": "Other"}))
    assert r.status_code == 400 and r.json()["scimType"] == "mutability"
    assert Role.objects.get(pk=role.pk).name == "Engineering"


# --- Bulk ----------------------------------------------------------------------------------------------


def test_bulk_with_bulk_id_references_and_atomic_operations(scim):
    role = Role.objects.create(code="eng", name="Engineering")
    body = {
        "schemas": [BULK],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "ada", "data": new_user("ada")},
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": new_user("ADA")},
            {
                "method": "PATCH",
                "path": f"/Groups/{role.pk}",
                "data": ops({"op": "add", "path": "members", "value": [{"value": "bulkId:ada"}]}),
            },
            {
                "method": "PATCH",
                "path": "/Users/bulkId:ada",
                "data": ops({"op": "replace", "path": "title", "value": "Boss"}),
            },
        ],
    }
    r = scim.post("/Bulk", body)
    assert r.status_code == 200, r.content
    results = r.json()["Operations"]
    assert [o["status"] for o in results] == ["201", "409", "200", "200"]
    assert results[1]["response"]["scimType"] == "uniqueness"
    ada = User.objects.get(username="ada")
    assert results[0]["location"].endswith(f"/Users/{ada.pk}")
    assert ada.job_title == "Boss"
    assert RoleMembership.objects.filter(role=role, user=ada).exists()
    assert User.objects.filter(username__iexact="ada").count() == 1


def test_bulk_fail_on_errors_stops(scim):
    body = {
        "schemas": [BULK],
        "failOnErrors": 1,
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "x"}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": new_user("bob")},
        ],
    }
    results = scim.post("/Bulk", body).json()["Operations"]
    assert [o["status"] for o in results] == ["400"]
    assert not User.objects.filter(username="bob").exists()


def test_bulk_limits_and_syntax(scim, settings):
    too_many = {
        "schemas": [BULK],
        "Operations": [{"method": "DELETE", "path": "/Users/1"}] * (BULK_MAX_OPERATIONS + 1),
    }
    assert scim.post("/Bulk", too_many).status_code == 413
    big = {"schemas": [BULK], "Operations": [], "pad": "x" * 1_100_000}
    assert scim.post("/Bulk", big).status_code == 413
    assert scim.call("POST", "/Bulk", raw=b"{nope").json()["scimType"] == "invalidSyntax"
    unknown_ref = {"schemas": [BULK], "Operations": [{"method": "DELETE", "path": "/Users/bulkId:nope"}]}
    assert scim.post("/Bulk", unknown_ref).json()["Operations"][0]["status"] == "409"
    assert User.objects.filter(scim_client__isnull=True).count() == 0


def test_entra_style_patch(scim):
    """Entra ID's PATCH habits: capitalised ops, "False" as a string, a manager id as a plain
    value, attribute paths with their URN as keys, add through a filter that matches nothing."""
    boss = scim.post("/Users", new_user("grace")).json()["id"]
    body = new_user("ada")
    del body["emails"]
    uid = scim.post("/Users", body).json()["id"]
    r = scim.patch(
        f"/Users/{uid}",
        ops(
            {"op": "Add", "path": 'emails[type eq "work"].value', "value": "ada@corp.example"},
            {"op": "Replace", "path": ENTERPRISE + ":manager", "value": boss},
            {"op": "Add", "value": {ENTERPRISE + ":department": "Maths", "name.givenName": "Augusta"}},
            {"op": "Replace", "path": "active", "value": "False"},
        ),
    )
    assert r.status_code == 200, r.content
    user = User.objects.get(pk=uid)
    assert (user.email, user.manager_id, user.department, user.status) == (
        "ada@corp.example",
        int(boss),
        "Maths",
        "INACTIVE",
    )


def test_a_client_with_groups_creates_renames_and_deletes_its_own_roles(db):
    hr = Scim(register("Entra ID", "--groups"))
    admin_role = Role.objects.create(code="admins", name="Admins")
    ada = hr.post("/Users", new_user("ada")).json()["id"]
    r = hr.post("/Groups", {"schemas": [GROUP], "displayName": "Sales", "members": [{"value": ada}]})
    assert r.status_code == 201, r.content
    gid = r.json()["id"]
    role = Role.objects.get(pk=gid)
    assert (role.name, role.self_service, role.scim_group.client.name) == ("Sales", False, "Entra ID")
    assert RoleMembership.objects.filter(role=role, user_id=ada).exists()
    assert hr.post("/Groups", {"schemas": [GROUP], "displayName": "sales"}).json()["scimType"] == "uniqueness"
    renamed = hr.patch(f"/Groups/{gid}", ops({"op": "replace", "path": "displayName", "value": "Sales EMEA"}))
    assert renamed.json()["displayName"] == "Sales EMEA"
    # roles it did not create: members only
    other = hr.patch(f"/Groups/{admin_role.pk}", ops({"op": "replace", "value": {"displayName": "Root"}}))
    assert other.json()["scimType"] == "mutability"
    assert hr.delete(f"/Groups/{admin_role.pk}").status_code == 403
    assert hr.delete(f"/Groups/{gid}").status_code == 204
    assert not Role.objects.filter(pk=gid).exists()
    assert Request.objects.filter(type=RequestType.REVOKE_ROLE, beneficiary_id=ada, source="scim").exists()
