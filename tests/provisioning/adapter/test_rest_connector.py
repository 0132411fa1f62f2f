"""The generic REST connector against a small in-process HTTP application (http.server in a
thread) that keeps users and groups in memory, records every call and can be told to fail."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from provisioning.adapter.connectors import (
    AccountData,
    BadRequestError,
    EntitlementData,
    NotFoundError,
    TransientError,
    connector_from_settings,
)
from provisioning.adapter.connectors.rest import RestConnector

TOKEN = "t0ken-value"
ALICE = AccountData(
    identifier="alice",
    username="alice",
    email="alice@example.test",
    first_name="Alice",
    last_name="Doe",
    display_name="Alice Doe",
    attributes={"age": 41},
)


class App:
    """The application's state, the calls it received and the failures it was told to give."""

    def __init__(self) -> None:
        self.users: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}
        self.calls: list[dict] = []
        self.fail: list[int] = []
        self.delay = 0.0
        self.seq = 0
        # how GET /users pages: None (one answer), "page", "offset", "next_link", "link_header", "cursor"
        self.paging: str | None = None
        self.chunk = 2  # items per next-link / cursor page, the application's choice
        self.cap = 1000  # the most items a numbered page holds, whatever was asked
        self.next_origin = ""  # a next link on another origin, when set
        self.stuck_cursor = False
        self.headers: dict[str, str] = {}

    def users_page(self, query: dict[str, str]) -> dict:
        """GET /users as an application that pages its answers does it."""
        users = list(self.users.values())
        if self.paging == "page":
            page, size = int(query["page"]), min(int(query["per_page"]), self.cap)
            return {"items": users[(page - 1) * size : page * size], "meta": {"total": len(users)}}
        if self.paging == "offset":
            offset, limit = int(query["offset"]), int(query["limit"])
            return {"items": users[offset : offset + limit]}
        start = int(query.get("after") or query.get("cursor") or 0)
        end = start + self.chunk
        more = end < len(users)
        answer: dict = {"items": users[start:end]}
        if self.paging == "next_link":
            answer["links"] = {"next": f"{self.next_origin}/api/users?after={end}" if more else None}
        elif self.paging == "link_header" and more:
            self.headers["Link"] = f'<{self.url}/users?after={end}>; rel="next"'
        elif self.paging == "cursor":
            answer["next_cursor"] = (str(start) if self.stuck_cursor else str(end)) if more else ""
        return answer

    def handle(self, method: str, raw_path: str, body) -> tuple[int, object]:
        if self.fail:
            return self.fail.pop(0), {"error": "told to fail"}
        if self.delay:
            time.sleep(self.delay)
        parts = [unquote(p) for p in raw_path.split("?")[0].strip("/").split("/")]
        query = {k: v[0] for k, v in parse_qs(urlsplit(raw_path).query).items()}
        if parts[0] != "api":
            return 404, {}
        parts = parts[1:]
        if parts == ["users"] and method == "GET":
            return 200, self.users_page(query)
        if parts == ["groups"] and method == "GET":
            return 200, list(self.groups.values())
        if parts == ["users"] and method == "POST":
            if not body.get("userName"):
                return 422, {"error": "userName required"}
            if any(u["userName"] == body["userName"] for u in self.users.values()):
                return 409, {"error": "exists"}
            self.seq += 1
            uid = f"u{self.seq}"
            self.users[uid] = {"id": uid, "active": True, **body}
            return 201, {"data": {"id": uid}}
        if parts == ["groups"] and method == "POST":
            self.groups[body["key"]] = {**body, "members": []}
            return 201, {}
        if len(parts) >= 2 and parts[0] == "users":
            user = self.users.get(parts[1])
            if user is None:
                return 404, {"error": "no such user"}
            if len(parts) == 3 and parts[2] == "password" and method == "POST":
                user["password_set"] = body["password"]
                return 204, None
            if method == "PUT":
                user.update(body)
                return 200, user
            if method == "PATCH":
                user.update(body)
                return 200, user
            if method == "DELETE":
                del self.users[parts[1]]
                return 204, None
        if len(parts) >= 2 and parts[0] == "groups":
            group = self.groups.get(parts[1])
            if group is None:
                return 404, {"error": "no such group"}
            if len(parts) == 4 and parts[2] == "members":
                if parts[3] not in self.users:
                    return 404, {"error": "no such user"}
                if method == "PUT" and parts[3] not in group["members"]:
                    group["members"].append(parts[3])
                if method == "DELETE" and parts[3] in group["members"]:
                    group["members"].remove(parts[3])
                return 204, None
            if method == "PUT":
                group.update(body)
                return 200, group
            if method == "DELETE":
                del self.groups[parts[1]]
                return 204, None
        return 400, {"error": "unknown route"}


@pytest.fixture
def app():
    state = App()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            state.calls.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "auth": self.headers.get("X-Api-Key"),
                    "body": body,
                }
            )
            state.headers = {}
            status, answer = state.handle(self.command, self.path, body)
            data = json.dumps(answer).encode() if answer is not None else b""
            self.send_response(status)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/api"
    yield state
    server.shutdown()
    server.server_close()


def settings(url: str, **extra):
    return {
        "type": "rest",
        "base_url": url,
        "auth_header": "X-Api-Key",
        "auth_env": "TEST_REST_TOKEN",
        "auth_prefix": "Key ",
        "timeout_seconds": 0.5,
        "operations": {
            "create_account": {
                "method": "POST",
                "path": "/users",
                "body": {
                    "userName": "{username}",
                    "email": "{email}",
                    "name": {"given": "{first_name}", "family": "{last_name}"},
                    "age": "{age}",
                    "label": "{display_name} <{email}>",
                },
                "id_path": "data.id",
            },
            "update_account": {
                "method": "PUT",
                "path": "/users/{native_id}",
                "body": {"email": "{email}", "name": {"given": "{first_name}", "family": "{last_name}"}},
            },
            "enable_account": {"method": "PATCH", "path": "/users/{native_id}", "body": {"active": True}},
            "disable_account": {"method": "PATCH", "path": "/users/{native_id}", "body": {"active": False}},
            "delete_account": {"method": "DELETE", "path": "/users/{native_id}"},
            "set_password": {
                "method": "POST",
                "path": "/users/{native_id}/password",
                "body": {"password": "{password}"},
            },
            "grant": {"method": "PUT", "path": "/groups/{entitlement_id}/members/{account_id}"},
            "revoke": {"method": "DELETE", "path": "/groups/{entitlement_id}/members/{account_id}"},
            "create_entitlement": {
                "method": "POST",
                "path": "/groups",
                "body": {"key": "{identifier}", "title": "{name}"},
            },
            "update_entitlement": {
                "method": "PUT",
                "path": "/groups/{native_id}",
                "body": {"title": "{name}"},
            },
            "delete_entitlement": {"method": "DELETE", "path": "/groups/{native_id}"},
            "list_accounts": {
                "method": "GET",
                "path": "/users",
                "items_path": "items",
                "id_field": "id",
                "identifier_field": "userName",
                "enabled_field": "active",
            },
            "list_entitlements": {
                "method": "GET",
                "path": "/groups",
                "items_path": "",
                "id_field": "key",
                "name_field": "title",
                "members_field": "members",
            },
        },
        **extra,
    }


@pytest.fixture
def rest(app, monkeypatch):
    monkeypatch.setenv("TEST_REST_TOKEN", TOKEN)
    connector = connector_from_settings(settings(app.url))
    assert isinstance(connector, RestConnector)
    yield connector
    connector.close()


def test_create_maps_the_body_and_reads_the_new_id(rest, app):
    uid = rest.create_account(ALICE, password="S3cret!")
    assert uid == "u1"
    create, password = app.calls
    assert create["method"] == "POST" and create["path"] == "/api/users" and create["auth"] == f"Key {TOKEN}"
    assert create["body"] == {
        "userName": "alice",
        "email": "alice@example.test",
        "name": {"given": "Alice", "family": "Doe"},
        "age": 41,  # a whole "{name}" keeps its JSON type
        "label": "Alice Doe <alice@example.test>",
    }
    # the create body carries no password: it is set by the set_password operation
    assert password["path"] == "/api/users/u1/password" and app.users["u1"]["password_set"] == "S3cret!"


def test_account_lifecycle(rest, app):
    uid = rest.create_account(ALICE)
    assert rest.update_account(uid, AccountData(**{**ALICE.__dict__, "email": "new@example.test"})) == uid
    assert app.users[uid]["email"] == "new@example.test"
    assert rest.disable_account(uid) == uid and app.users[uid]["active"] is False
    listed = list(rest.list_accounts())
    assert (
        listed[0]["remote_id"] == uid and listed[0]["identifier"] == "alice" and listed[0]["enabled"] is False
    )
    assert listed[0]["attributes"]["email"] == "new@example.test"
    assert rest.enable_account(uid) == uid and app.users[uid]["active"] is True
    rest.delete_account(uid)
    assert app.users == {}
    with pytest.raises(NotFoundError):
        rest.delete_account(uid)
    with pytest.raises(NotFoundError):
        rest.update_account(uid, ALICE)


def test_entitlements_and_memberships(rest, app):
    uid = rest.create_account(ALICE)
    assert rest.create_entitlement(EntitlementData(identifier="payments", name="Payments")) == "payments"
    rest.grant(uid, "payments")
    rest.grant(uid, "payments")
    assert list(rest.list_entitlements()) == [
        {"remote_id": "payments", "identifier": "payments", "name": "Payments", "members": [uid]}
    ]
    assert app.calls[-2]["method"] == "PUT" and app.calls[-2]["path"] == f"/api/groups/payments/members/{uid}"
    rest.update_entitlement("payments", EntitlementData(identifier="payments", name="Pay"))
    assert app.groups["payments"]["title"] == "Pay"
    rest.revoke(uid, "payments")
    assert app.groups["payments"]["members"] == []
    with pytest.raises(NotFoundError):
        rest.grant(uid, "missing")
    rest.delete_entitlement("payments")
    assert app.groups == {}


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
        (429, TransientError),
        (400, BadRequestError),
        (409, BadRequestError),
        (422, BadRequestError),
        (403, BadRequestError),
        (404, NotFoundError),
    ],
)
def test_status_codes_are_mapped(rest, app, status, error):
    app.fail = [status]
    with pytest.raises(error, match=str(status)):
        rest.create_account(ALICE)
    assert rest.create_account(ALICE) == "u1"  # the next call goes through


def test_real_refusals_timeouts_and_no_server(rest, app, monkeypatch):
    rest.create_account(ALICE)
    with pytest.raises(BadRequestError, match="409"):
        rest.create_account(ALICE)  # the application says it exists
    with pytest.raises(BadRequestError, match="422"):
        rest.create_account(AccountData(identifier=""))
    app.delay = 1.0
    with pytest.raises(TransientError, match="Timeout"):
        rest.update_account("u1", ALICE)
    app.delay = 0
    down = RestConnector(settings("http://127.0.0.1:1/api"))
    with pytest.raises(TransientError, match="ConnectionError"):
        down.delete_account("u1")
    down.close()


def test_status_map_overrides_and_unconfigured_operations(app, monkeypatch):
    monkeypatch.setenv("TEST_REST_TOKEN", TOKEN)
    config = settings(app.url, status_map={"409": "ok"})
    del config["operations"]["set_password"]
    connector = RestConnector(config)
    connector.create_account(ALICE)
    # an existing account is fine now; no id in the answer: the id template is used
    assert connector.create_account(ALICE) == "alice"
    with pytest.raises(BadRequestError, match="not configured"):
        connector.set_password("u1", "x")
    connector.close()
    with pytest.raises(ValueError, match="status_map"):
        RestConnector(settings(app.url, status_map={"409": "maybe"}))
    monkeypatch.delenv("TEST_REST_TOKEN")
    with pytest.raises(ValueError, match="TEST_REST_TOKEN"):
        RestConnector(settings(app.url))


def test_hostile_ids_stay_one_path_segment(rest, app):
    app.users["../groups/x?admin=1#"] = {"id": "../groups/x?admin=1#", "userName": "evil", "active": True}
    rest.disable_account("../groups/x?admin=1#")
    assert app.calls[-1]["path"] == "/api/users/..%2Fgroups%2Fx%3Fadmin%3D1%23"
    assert app.users["../groups/x?admin=1#"]["active"] is False
    # a body value is JSON data, never a template: braces in a value stay as they are
    uid = rest.create_account(
        AccountData(identifier="bob", username="bob", email="{password}", first_name='"}')
    )
    assert app.users[uid]["email"] == "{password}" and app.users[uid]["name"]["given"] == '"}'


def test_a_toml_config_selects_the_sql_and_rest_connectors(tmp_path, monkeypatch):
    from provisioning.adapter.config import config_load
    from provisioning.adapter.connectors.sql import SqlConnector

    monkeypatch.setenv("TEST_REST_TOKEN", TOKEN)
    head = '[core]\nurl = "http://core"\nclient_id = "c"\nclient_secret = "s"\n[runtime]\njournal = "j"\n'
    kinds = {
        "sql": ('dsn = "postgresql://nobody@127.0.0.1:1/x"\n', SqlConnector),
        "rest": (
            'base_url = "http://app/api"\nauth_env = "TEST_REST_TOKEN"\n'
            '[connector.operations.delete_account]\nmethod = "DELETE"\npath = "/users/{native_id}"\n',
            RestConnector,
        ),
    }
    for kind, (extra, cls) in kinds.items():
        path = tmp_path / f"{kind}.toml"
        path.write_text(f'{head}[connector]\ntype = "{kind}"\n{extra}', encoding="utf-8")
        connector = connector_from_settings(config_load(path).connector)
        assert isinstance(connector, cls)
        connector.close()


# --- paged listings -------------------------------------------------------------------------


def paged(app, pagination: dict, **list_spec):
    config = settings(app.url)
    config["operations"]["list_accounts"] = {
        "method": "GET",
        "path": "/users",
        "items_path": "items",
        "id_field": "id",
        "identifier_field": "userName",
        "enabled_field": "active",
        "pagination": pagination,
        **list_spec,
    }
    return RestConnector(config)


def seven_users(rest) -> list[str]:
    return [rest.create_account(AccountData(identifier=f"user{i}", username=f"user{i}")) for i in range(7)]


def listed_ids(connector) -> list[str]:
    return [a["remote_id"] for a in connector.list_accounts()]


def user_gets(app) -> list[dict]:
    return [
        {k: v[0] for k, v in parse_qs(urlsplit(c["path"]).query).items()}
        for c in app.calls
        if c["method"] == "GET" and c["path"].startswith("/api/users")
    ]


@pytest.mark.parametrize(
    ("pagination", "expected_queries"),
    [
        (
            {"type": "page", "page_size": 3},
            [{"page": "1", "per_page": "3"}, {"page": "2", "per_page": "3"}, {"page": "3", "per_page": "3"}],
        ),
        (
            {"type": "offset", "page_size": 3},
            [{"offset": "0", "limit": "3"}, {"offset": "3", "limit": "3"}, {"offset": "6", "limit": "3"}],
        ),
        (
            {"type": "next_link", "next_path": "links.next"},
            [{}, {"after": "2"}, {"after": "4"}, {"after": "6"}],
        ),
        ({"type": "next_link", "next_path": ""}, [{}, {"after": "2"}, {"after": "4"}, {"after": "6"}]),
        ({"type": "cursor"}, [{}, {"cursor": "2"}, {"cursor": "4"}, {"cursor": "6"}]),
    ],
)
def test_listings_follow_the_configured_pagination(rest, app, pagination, expected_queries):
    made = seven_users(rest)
    app.paging = (
        "link_header"
        if pagination["type"] == "next_link" and not pagination["next_path"]
        else pagination["type"]
    )
    app.calls.clear()
    connector = paged(app, pagination)
    assert listed_ids(connector) == made
    assert user_gets(app) == expected_queries
    assert all(c["auth"] == f"Key {TOKEN}" for c in app.calls)  # every page authenticated
    connector.close()


def test_a_page_shorter_than_asked_is_the_last_unless_the_total_says_otherwise(rest, app):
    made = seven_users(rest)
    app.paging, app.cap = "page", 3  # the application never gives more than 3 a page
    without_total = paged(app, {"type": "page", "page_size": 5})
    assert listed_ids(without_total) == made[:3]
    app.calls.clear()
    with_total = paged(app, {"type": "page", "page_size": 5, "total_path": "meta.total"})
    assert listed_ids(with_total) == made
    assert [q["page"] for q in user_gets(app)] == ["1", "2", "3"]
    without_total.close()
    with_total.close()


def test_an_empty_listing_is_one_call(rest, app):
    app.paging = "offset"
    connector = paged(app, {"type": "offset", "page_size": 3})
    assert listed_ids(connector) == []
    assert user_gets(app) == [{"offset": "0", "limit": "3"}]
    connector.close()


def test_paging_never_leaves_the_application_nor_loops(rest, app):
    seven_users(rest)
    app.paging, app.next_origin = "next_link", "http://127.0.0.2:9"
    foreign = paged(app, {"type": "next_link"})
    with pytest.raises(BadRequestError, match="leads to http://127.0.0.2:9"):
        listed_ids(foreign)
    assert len(user_gets(app)) == 1  # the foreign link was not called with our credentials
    app.paging, app.stuck_cursor = "cursor", True
    cursor = paged(app, {"type": "cursor"})
    with pytest.raises(BadRequestError, match="same next page twice"):
        listed_ids(cursor)
    app.stuck_cursor = False
    capped = paged(app, {"type": "cursor", "max_pages": 2})
    with pytest.raises(BadRequestError, match="more than 2 pages"):
        listed_ids(capped)
    for connector in (foreign, cursor, capped):
        connector.close()
    for wrong in ({"type": "scroll"}, {"type": "page", "page_size": 0}, "page"):
        with pytest.raises(ValueError, match="pagination"):
            paged(app, wrong)
