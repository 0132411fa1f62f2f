from __future__ import annotations

from directory.models import Source, User, UserStatus
from requests_workflow.models import Request, RequestType
from tests.scim.conftest import CORE, ENTERPRISE, PATCH, new_user


def test_create_user_goes_through_the_request_pipeline(scim):
    r = scim.post("/Users", new_user(externalId="hr-1"))
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["userName"] == "ada.lovelace"
    assert body["externalId"] == "hr-1"
    assert body["emails"] == [{"value": "ada.lovelace@example.com", "type": "work"}]
    assert body[ENTERPRISE]["department"] == "R&D"
    assert r["ETag"] == body["meta"]["version"]
    assert r["Location"].endswith(f"/scim/v2/Users/{body['id']}")
    user = User.objects.get(pk=int(body["id"]))
    assert user.created_source == Source.SCIM
    req = Request.objects.get(type=RequestType.CREATE_USER, beneficiary=user)
    assert req.source == Source.SCIM
    assert req.requester.scim_client.name == "Okta"
    assert scim.get(f"/Users/{body['id']}").json()["userName"] == "ada.lovelace"


def test_username_clash_is_409_uniqueness_and_nothing_is_written(scim):
    assert scim.post("/Users", new_user()).status_code == 201
    before = Request.objects.count()
    r = scim.post("/Users", new_user("ADA.lovelace"))
    assert r.status_code == 409
    assert r.json()["scimType"] == "uniqueness"
    assert Request.objects.count() == before


def test_malformed_json_is_invalid_syntax(scim):
    r = scim.call("POST", "/Users", raw=b'{"userName": ')
    assert r.status_code == 400
    assert r.json()["scimType"] == "invalidSyntax"
    assert r.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert not User.objects.filter(username__startswith="ada").exists()


def test_unknown_attribute_and_schema_are_invalid_value(scim):
    r = scim.post("/Users", new_user(favouriteColour="blue"))
    assert r.status_code == 400 and r.json()["scimType"] == "invalidValue"
    r = scim.post("/Users", {**new_user(), "schemas": [CORE, "urn:example:unknown"]})
    assert r.status_code == 400 and r.json()["scimType"] == "invalidValue"
    assert not User.objects.filter(username="ada.lovelace").exists()


def test_missing_name_is_refused(scim):
    body = new_user()
    del body["name"]
    r = scim.post("/Users", body)
    assert r.status_code == 400
    assert not User.objects.filter(username="ada.lovelace").exists()


def test_put_replaces_and_active_false_runs_the_life_cycle(scim):
    uid = scim.post("/Users", new_user()).json()["id"]
    body = new_user(active=False, title="Manager")
    r = scim.put(f"/Users/{uid}", body)
    assert r.status_code == 200, r.content
    assert r.json()["title"] == "Manager"
    assert r.json()["active"] is False
    user = User.objects.get(pk=uid)
    assert user.status == UserStatus.INACTIVE
    assert Request.objects.filter(type=RequestType.INACTIVATE_USER, beneficiary=user, source="scim").exists()
    assert scim.put(f"/Users/{uid}", new_user(active=True)).json()["active"] is True
    assert User.objects.get(pk=uid).status == UserStatus.ACTIVE


def test_delete_revokes_and_then_404(scim):
    uid = scim.post("/Users", new_user()).json()["id"]
    assert scim.delete(f"/Users/{uid}").status_code == 204
    assert User.objects.get(pk=uid).status == UserStatus.REVOKED
    r = scim.get(f"/Users/{uid}")
    assert r.status_code == 404
    assert r.json()["status"] == "404"


def test_etag_if_match(scim):
    r = scim.post("/Users", new_user())
    uid, version = r.json()["id"], r["ETag"]
    op = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "CTO"}]}
    stale = scim.patch(f"/Users/{uid}", op, **{"If-Match": 'W/"nope"'})
    assert stale.status_code == 412
    assert User.objects.get(pk=uid).job_title == "Engineer"
    ok = scim.patch(f"/Users/{uid}", op, **{"If-Match": version})
    assert ok.status_code == 200
    assert ok["ETag"] != version
    assert scim.get(f"/Users/{uid}", **{"If-None-Match": ok["ETag"]}).status_code == 304


def test_blazon_extension_and_manager(scim):
    boss = scim.post("/Users", new_user("grace.hopper")).json()["id"]
    body = new_user(**{ENTERPRISE: {"department": "Ops", "manager": {"value": boss}}})
    r = scim.post("/Users", body)
    assert r.status_code == 201, r.content
    assert r.json()[ENTERPRISE]["manager"]["value"] == boss
    assert r.json()["active"] is True
    bad = scim.post("/Users", new_user("x.y", **{ENTERPRISE: {"manager": {"value": "999999"}}}))
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidValue"
