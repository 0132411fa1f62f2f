"""The SCIM 2.0 connector against a real SCIM service (scim2-server on localhost, see
scimserver.py): users, groups as entitlements, memberships by PATCH, paged listings, adoption
on a uniqueness conflict, the RFC 7644 §3.12 error mapping — and once end to end through the
adapter runtime and the core."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from provisioning.adapter.config import config_from_dict
from provisioning.adapter.connectors import (
    AccountData,
    BadRequestError,
    EntitlementData,
    NotFoundError,
    TransientError,
    connector_from_settings,
)
from provisioning.adapter.connectors.scim import ScimConnector
from provisioning.adapter.runtime import Runtime
from provisioning.models import EntryStatus, NativeIdentifier, ProvisioningEntry
from requests_workflow.models import RequestStatus
from tests.provisioning.adapter.scimserver import ERROR_SCHEMA, ScimServer
from tests.provisioning.conftest import keypair

TOKEN = "scim-t0ken-value"
ALICE = AccountData(
    identifier="alice",
    username="alice",
    email="alice@example.test",
    first_name="Alice",
    last_name="Doe",
    display_name="Alice Doe",
)


@pytest.fixture
def server():
    scim = ScimServer(bearer_tokens=(TOKEN,)).start()
    yield scim
    scim.stop()


def settings(url: str, **extra):
    return {"type": "scim", "base_url": url, "auth": "bearer", "token_env": "TEST_SCIM_TOKEN", **extra}


@pytest.fixture
def scim(server, monkeypatch):
    monkeypatch.setenv("TEST_SCIM_TOKEN", TOKEN)
    # generous: a loaded CI machine must not turn an ordinary call into a timeout (the timeout
    # itself is tested with a connector of its own below)
    connector = connector_from_settings(settings(server.url, timeout_seconds=10))
    assert isinstance(connector, ScimConnector)
    yield connector
    connector.close()


def direct(server, method: str, path: str, body=None) -> dict:
    """A call to the SCIM service by hand (as someone working in the application would)."""
    response = requests.request(
        method,
        server.url + path,
        data=json.dumps(body) if body is not None else None,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"},
        timeout=5,
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else {}


def test_account_lifecycle(scim, server):
    uid = scim.create_account(ALICE, password="S3cret!pw")
    stored = server.users()["alice"]
    assert stored.id == uid and stored.password == "S3cret!pw"
    assert stored.name.given_name == "Alice" and stored.emails[0].value == "alice@example.test"
    create = server.calls[-1]
    assert (
        create["method"] == "POST" and create["path"] == "/v2/Users" and create["auth"] == f"Bearer {TOKEN}"
    )

    changed = AccountData(**{**ALICE.__dict__, "email": "new@example.test", "last_name": "Roe"})
    assert scim.update_account(uid, changed) == uid
    stored = server.users()["alice"]
    assert stored.emails[0].value == "new@example.test" and stored.name.family_name == "Roe"

    assert scim.disable_account(uid) == uid and server.users()["alice"].active is False
    (listed,) = scim.list_accounts()
    assert listed["remote_id"] == uid and listed["identifier"] == "alice" and listed["enabled"] is False
    assert listed["attributes"]["emails"][0]["value"] == "new@example.test"
    assert "password" not in listed["attributes"]
    assert scim.enable_account(uid) == uid and server.users()["alice"].active is True

    scim.set_password(uid, "N3w-secret")
    assert server.users()["alice"].password == "N3w-secret"
    assert server.calls[-1]["method"] == "PATCH" and server.calls[-1]["body"]["Operations"] == [
        {"op": "replace", "path": "password", "value": "N3w-secret"}
    ]

    scim.delete_account(uid)
    assert server.users() == {}
    with pytest.raises(NotFoundError, match="404"):
        scim.delete_account(uid)
    with pytest.raises(NotFoundError):
        scim.update_account(uid, ALICE)


def test_an_account_the_link_table_does_not_know_is_found_by_user_name(scim, server):
    uid = scim.create_account(ALICE)
    ref = scim.account_remote_id("alice")
    assert ref != uid  # no call made yet: the reference is looked up when used
    assert scim.disable_account(ref) == uid  # the real id comes back for the link table
    assert server.users()["alice"].active is False
    lookup = server.calls[-2]
    assert lookup["method"] == "GET" and lookup["query"]["filter"] == 'userName eq "alice"'
    with pytest.raises(NotFoundError, match="no resource has userName = 'bob'"):
        scim.update_account(scim.account_remote_id("bob"), ALICE)
    # a value that tries to break out of the filter's string stays one string
    with pytest.raises(NotFoundError):
        scim.enable_account(scim.account_remote_id('alice" or userName pr or userName eq "x'))
    assert server.users()["alice"].active is False


def test_a_uniqueness_conflict_adopts_the_existing_account(scim, server):
    made_by_hand = direct(
        server,
        "POST",
        "/Users",
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alice", "active": False},
    )
    uid = scim.create_account(ALICE, password="S3cret!pw")
    assert uid == made_by_hand["id"] and len(server.users()) == 1
    stored = server.users()["alice"]
    assert stored.display_name == "Alice Doe" and stored.password == "S3cret!pw"
    assert [c["method"] for c in server.calls[-4:]] == ["POST", "GET", "PATCH", "PATCH"]
    # creating twice is harmless too
    assert scim.create_account(ALICE) == uid and len(server.users()) == 1


def test_groups_and_memberships(scim, server):
    alice = scim.create_account(ALICE)
    bob = scim.create_account(AccountData(identifier="bob", username="bob"))
    gid = scim.create_entitlement(EntitlementData(identifier="payments", name="Payments"))
    assert server.groups()["payments"].id == gid
    # creating it again does not make a second group with the same name
    assert (
        scim.create_entitlement(EntitlementData(identifier="payments")) == gid and len(server.groups()) == 1
    )

    scim.grant(alice, gid)
    scim.grant(alice, gid)  # held already: still one membership
    scim.grant(scim.account_remote_id("bob"), scim.entitlement_remote_id("payments"))
    assert server.members("payments") == sorted([alice, bob])
    grant = server.calls[-1]
    assert grant["method"] == "PATCH" and grant["path"] == f"/v2/Groups/{gid}"
    assert grant["body"]["Operations"] == [{"op": "add", "path": "members", "value": [{"value": bob}]}]
    (listed,) = scim.list_entitlements()
    assert listed["remote_id"] == gid and listed["identifier"] == "payments"
    assert sorted(listed["members"]) == sorted([alice, bob])

    scim.revoke(alice, gid)
    assert server.calls[-1]["body"]["Operations"] == [
        {"op": "remove", "path": f'members[value eq "{alice}"]'}
    ]
    scim.revoke(alice, gid)  # not a member any more: done already
    scim.revoke(scim.account_remote_id("nobody"), gid)  # no such user: holds nothing
    assert server.members("payments") == [bob]

    assert scim.update_entitlement(gid, EntitlementData(identifier="payments-eu")) == gid
    assert set(server.groups()) == {"payments-eu"}
    scim.delete_entitlement(gid)
    assert server.groups() == {}
    with pytest.raises(NotFoundError):
        scim.grant(alice, gid)
    with pytest.raises(NotFoundError):
        scim.grant(alice, scim.entitlement_remote_id("payments"))
    with pytest.raises(NotFoundError):
        scim.delete_entitlement(gid)


def test_listings_follow_scim_pagination(server, monkeypatch):
    monkeypatch.setenv("TEST_SCIM_TOKEN", TOKEN)
    scim = ScimConnector(settings(server.url, page_size=3))
    made = {f"user{i}": scim.create_account(AccountData(identifier=f"user{i}")) for i in range(7)}
    for name in ("g1", "g2", "g3"):
        scim.create_entitlement(EntitlementData(identifier=name))
    server.calls.clear()
    listed = list(scim.list_accounts())
    assert {a["identifier"]: a["remote_id"] for a in listed} == made
    pages = [(c["query"]["startIndex"], c["query"]["count"]) for c in server.calls]
    assert pages == [("1", "3"), ("4", "3"), ("7", "3")]  # stops at totalResults, no empty page
    server.calls.clear()
    assert sorted(e["identifier"] for e in scim.list_entitlements()) == ["g1", "g2", "g3"]
    assert len(server.calls) == 1  # exactly one full page: totalResults says it was the last
    scim.close()


@pytest.mark.parametrize(
    ("status", "scim_type", "error"),
    [
        (500, "", TransientError),
        (502, "", TransientError),
        (503, "", TransientError),
        (429, "", TransientError),
        (412, "", TransientError),
        (400, "invalidValue", BadRequestError),
        (400, "mutability", BadRequestError),
        (403, "", BadRequestError),
        (409, "uniqueness", BadRequestError),
        (404, "", NotFoundError),
    ],
)
def test_scim_errors_are_mapped(scim, server, status, scim_type, error):
    uid = scim.create_account(ALICE)
    answer = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": "told to fail"}
    if scim_type:
        answer["scimType"] = scim_type
    server.fail = [(status, answer)]
    with pytest.raises(error, match=f"HTTP {status}") as caught:
        scim.update_account(uid, ALICE)
    if scim_type:
        assert scim_type in str(caught.value)
    assert scim.update_account(uid, ALICE) == uid  # the next call goes through


def test_real_refusals_timeouts_no_server_and_a_wrong_token(scim, server, monkeypatch):
    with pytest.raises(BadRequestError, match="invalidValue.*userName"):
        scim.create_account(AccountData(identifier=""))
    assert server.users() == {}
    server.delay = 2.0
    impatient = ScimConnector(settings(server.url, timeout_seconds=0.5))
    with pytest.raises(TransientError, match="Timeout"):
        impatient.create_account(ALICE)
    impatient.close()
    server.delay = 0
    monkeypatch.setenv("TEST_SCIM_TOKEN", "wrong")
    wrong = ScimConnector(settings(server.url))
    with pytest.raises(BadRequestError, match="401") as caught:
        wrong.create_account(AccountData(identifier="mallory", username="mallory"))
    assert "wrong" not in str(caught.value) and "mallory" not in server.users()
    wrong.close()
    down = ScimConnector(settings("http://127.0.0.1:1/v2"))
    with pytest.raises(TransientError, match="ConnectionError"):
        down.delete_account("x")
    down.close()


def test_a_success_without_what_the_client_needs_is_a_bad_request(scim, server):
    server.fail = [(201, {"schemas": [], "detail": "created, somewhere"})]
    with pytest.raises(BadRequestError, match="carries no id"):
        scim.create_account(ALICE)
    server.fail = [(200, ["not", "a", "list", "response"])]
    with pytest.raises(BadRequestError, match="not a list response"):
        scim.update_account(scim.account_remote_id("alice"), ALICE)


def test_a_password_the_service_echoes_in_an_error_is_not_repeated(scim, server):
    uid = scim.create_account(ALICE)
    server.fail = [(400, {"schemas": [ERROR_SCHEMA], "status": "400", "scimType": "invalidValue",
                          "detail": "password 'Tr0ub4dor&3' is too weak"})]  # fmt: skip
    with pytest.raises(BadRequestError) as caught:
        scim.set_password(uid, "Tr0ub4dor&3")
    assert "Tr0ub4dor&3" not in str(caught.value) and "too weak" in str(caught.value)


def test_basic_auth_and_configuration_errors(server, monkeypatch):
    open_server = ScimServer().start()  # a service without bearer tokens: we read the header it got
    try:
        monkeypatch.setenv("TEST_SCIM_PASSWORD", "b4sic-pw")
        basic = connector_from_settings(
            {
                "type": "scim",
                "base_url": open_server.url,
                "auth": "basic",
                "username": "blazon",
                "password_env": "TEST_SCIM_PASSWORD",
            }
        )
        basic.create_account(ALICE)
        expected = "Basic " + base64.b64encode(b"blazon:b4sic-pw").decode()
        assert open_server.calls[-1]["auth"] == expected and "alice" in open_server.users()
        basic.close()
    finally:
        open_server.stop()
    with pytest.raises(ValueError, match="TEST_SCIM_TOKEN"):
        ScimConnector(settings(server.url))  # the token's variable is not set
    with pytest.raises(ValueError, match="token_env"):
        ScimConnector({"base_url": server.url})
    with pytest.raises(ValueError, match="username"):
        ScimConnector({"base_url": server.url, "auth": "basic", "password_env": "TEST_SCIM_PASSWORD"})
    with pytest.raises(ValueError, match="bearer, basic or none"):
        ScimConnector({"base_url": server.url, "auth": "oauth"})
    with pytest.raises(ValueError, match="page_size"):
        ScimConnector({"base_url": server.url, "auth": "none", "page_size": 0})


def test_custom_templates_and_match_attributes(server, monkeypatch):
    monkeypatch.setenv("TEST_SCIM_TOKEN", TOKEN)
    scim = ScimConnector(
        settings(
            server.url,
            user_template={"userName": "{email}", "externalId": "{identifier}", "title": "{job}"},
            user_match_attribute="userName",
            group_template={"displayName": "{name}", "externalId": "{identifier}"},
            group_match_attribute="externalId",
        )
    )
    uid = scim.create_account(
        AccountData(identifier="e-7", email="eve@example.test", attributes={"job": "CFO"})
    )
    eve = server.users()["eve@example.test"]
    assert eve.id == uid and eve.external_id == "e-7" and eve.title == "CFO"
    gid = scim.create_entitlement(EntitlementData(identifier="fin-01", name="Finance"))
    assert server.groups()["Finance"].external_id == "fin-01"
    scim.grant(uid, scim.entitlement_remote_id("fin-01"))
    assert server.members("Finance") == [uid]
    assert [e["identifier"] for e in scim.list_entitlements()] == ["fin-01"]
    assert scim.create_entitlement(EntitlementData(identifier="fin-01", name="Finance EU")) == gid
    assert set(server.groups()) == {"Finance EU"}
    scim.close()


def test_a_toml_config_selects_the_scim_connector(tmp_path, monkeypatch, server):
    from provisioning.adapter.config import config_load

    monkeypatch.setenv("TEST_SCIM_TOKEN", TOKEN)
    path = tmp_path / "scim.toml"
    path.write_text(
        '[core]\nurl = "http://core"\nclient_id = "c"\nclient_secret = "s"\n[runtime]\njournal = "j"\n'
        f'[connector]\ntype = "scim"\nbase_url = "{server.url}"\nauth = "bearer"\n'
        'token_env = "TEST_SCIM_TOKEN"\npage_size = 50\n'
        '[connector.group_template]\ndisplayName = "{name}"\n',
        encoding="utf-8",
    )
    connector = connector_from_settings(config_load(path).connector)
    assert isinstance(connector, ScimConnector) and connector.page_size == 50
    assert connector.create_entitlement(EntitlementData(identifier="x", name="Payments"))
    assert set(server.groups()) == {"Payments"}
    connector.close()


# --- end to end: core (live server) → adapter runtime → SCIM service ---------------------------
# A GRANT_ENTITLEMENT request for a user without an account: CREATE_ACCOUNT (the first try gets a
# 503 and is retried) then GRANT_ENTITLEMENT on a Group made in the application by hand.


def test_a_grant_reaches_the_scim_service_through_the_runtime(
    grant, world, live_server, tmp_path, server, monkeypatch
):
    key = tmp_path / "adapter.key.pem"
    key.write_bytes(keypair(0)[0])
    client_id, secret = world["erp_creds"]
    monkeypatch.setenv("TEST_ADAPTER_SECRET", secret)
    monkeypatch.setenv("TEST_SCIM_TOKEN", TOKEN)
    group = direct(
        server,
        "POST",
        "/Groups",
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "payments"},
    )
    config = config_from_dict(
        {
            "core": {
                "url": live_server.url,
                "client_id": client_id,
                "client_secret_env": "TEST_ADAPTER_SECRET",
                "private_key": str(key),
                "timeout_seconds": 5,
            },
            "runtime": {
                "journal": str(tmp_path / "journal.sqlite3"),
                "poll_seconds": 0,
                "batch_size": 10,
                "lease_seconds": 60,
                "attempts": 3,
                "backoff_seconds": 0.05,
                "window_seconds": 60,
            },
            "connector": settings(server.url),
        }
    )
    server.fail = [(503, None)]  # the service is busy at first: the runtime tries again
    runtime = Runtime(config)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            runtime.run_once()
            grant.refresh_from_db()
            if grant.status == RequestStatus.FINISHED:
                break
            time.sleep(0.02)
    finally:
        runtime.close()
    assert grant.status == RequestStatus.FINISHED, grant.failure_reason
    create, grant_entry = ProvisioningEntry.objects.filter(correlation_id=f"request-{grant.pk}").order_by(
        "pk"
    )
    assert [create.event_type, grant_entry.event_type] == ["CREATE_ACCOUNT", "GRANT_ENTITLEMENT"]
    assert create.status == grant_entry.status == EntryStatus.SUCCEEDED
    assert [
        c["body"]["userName"] for c in server.calls if c["method"] == "POST" and c["path"] == "/v2/Users"
    ] == [
        "carol",
        "carol",
    ]
    carol = server.users()["carol"]
    assert server.members("payments") == [carol.id] and server.groups()["payments"].id == group["id"]
    # the SCIM id came back to the core as the account's native identifier
    assert NativeIdentifier.objects.get(account=create.account).value == carol.id
