"""The governance code checked against an ITSM: ServiceNow's Table API, Jira Service Management's
REST API, GLPI's REST API and a generic REST template, each against a local HTTP server that speaks
that API with the response shapes of the vendor's public documentation. A ticket in a valid state passes; a closed
or unknown one is refused; an ITSM that is down, slow, answers 500 or garbage refuses the request
(fail closed) — except an emergency, which records that the code was not checked."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from blazon.audit.models import AuditEvent
from blazon.errors import NotAllowed, ValidationFailed
from privileged.models import AccessRequest, AccessStatus
from privileged.services.flow import access_request_create
from privileged.services.groups import access_group_update
from privileged.services.itsm import itsm_instance_create
from tests.api.helpers import client_for
from tests.privileged.conftest import window

# ServiceNow: state 1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed
TICKETS = {"incident": {"INC0010001": "2", "INC0010002": "7"}, "change_request": {"CHG0030001": "-1"}}
REST_TICKETS = {"OPS-1": {"data": {"status": "open"}}, "OPS-2": {"data": {"status": "done"}}}
# Jira: a status and its category (new = To Do, indeterminate = In Progress, done = Done)
JIRA_ISSUES = {
    "OPS-101": ("In Progress", 4, "indeterminate", "yellow"),
    "OPS-102": ("Done", 3, "done", "green"),
    "OPS-103": ("Waiting for support", 2, "new", "blue-gray"),
}
JIRA_AUTH = "Basic " + base64.b64encode(b"blazon@acme.test:jira-token").decode()
# GLPI: ticket id -> status (1 New, 2 Processing (assigned), 3 Processing (planned), 4 Pending,
# 5 Solved, 6 Closed); the API needs the application token and a session from the user token
GLPI_TICKETS = {42: 2, 43: 6}
GLPI_APP_TOKEN, GLPI_USER_TOKEN = "glpi-app-token", "glpi-user-token"


def jira_issue(base: str, key: str) -> dict[str, Any]:
    """``GET /rest/api/2/issue/{key}?fields=status`` as Jira's REST API documents it."""
    name, category_id, category, colour = JIRA_ISSUES[key]
    number = 10000 + int(key.split("-")[1])
    return {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": str(number),
        "self": f"{base}/rest/api/2/issue/{number}",
        "key": key,
        "fields": {
            "status": {
                "self": f"{base}/rest/api/2/status/3",
                "description": "",
                "iconUrl": f"{base}/images/icons/statuses/inprogress.png",
                "name": name,
                "id": "3",
                "statusCategory": {
                    "self": f"{base}/rest/api/2/statuscategory/{category_id}",
                    "id": category_id,
                    "key": category,
                    "colorName": colour,
                    "name": {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}[category],
                },
            }
        },
    }


def glpi_ticket(ticket_id: int) -> dict[str, Any]:
    """``GET /apirest.php/Ticket/{id}`` as GLPI's REST API documents it (an excerpt of the fields)."""
    return {
        "id": ticket_id,
        "entities_id": 0,
        "name": "Database maintenance",
        "date": "2026-12-01 09:00:00",
        "closedate": None,
        "solvedate": None,
        "date_mod": "2026-12-01 09:30:00",
        "users_id_lastupdater": 2,
        "status": GLPI_TICKETS[ticket_id],
        "users_id_recipient": 2,
        "requesttypes_id": 1,
        "content": "&lt;p&gt;Vacuum the production database&lt;/p&gt;",
        "urgency": 3,
        "impact": 3,
        "priority": 3,
        "itilcategories_id": 0,
        "type": 1,
        "global_validation": 1,
        "is_deleted": 0,
        "links": [{"rel": "Entity", "href": "http://glpi/apirest.php/Entity/0"}],
    }


class Handler(BaseHTTPRequestHandler):
    mode: dict[str, Any] = {}
    seen: list[str] = []
    sessions: set[str] = set()

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, body: Any) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        self.seen.append(self.path)
        behaviour = self.mode.get("behaviour")
        if behaviour == "slow":
            time.sleep(3)
        if behaviour == "error":
            return self._json(500, {"error": {"message": "Internal"}})
        if behaviour == "garbage":
            return self._json(200, b"<html>maintenance</html>")
        url = urlparse(self.path)
        if url.path.startswith("/api/now/table/"):
            expected = "Basic " + base64.b64encode(b"blazon:sn-pass").decode()
            if self.headers.get("Authorization") != expected:
                return self._json(401, {"error": {"message": "User Not Authenticated"}})
            table = url.path.rsplit("/", 1)[1]
            number = parse_qs(url.query)["sysparm_query"][0].removeprefix("number=")
            state = TICKETS.get(table, {}).get(number)
            rows = [{"number": number, "state": state}] if state is not None else []
            return self._json(200, {"result": rows})
        if url.path.startswith("/rest/api/2/issue/"):
            return self._jira(url.path.removeprefix("/rest/api/2/issue/"), parse_qs(url.query))
        if url.path.startswith("/glpi/apirest.php/"):
            return self._glpi(url.path.removeprefix("/glpi/apirest.php/"))
        if url.path.startswith("/tickets/"):
            if self.headers.get("Authorization") != "Bearer rest-token":
                return self._json(403, {"detail": "forbidden"})
            ticket = REST_TICKETS.get(url.path.removeprefix("/tickets/"))
            return self._json(200, ticket) if ticket else self._json(404, {"detail": "not found"})
        return self._json(404, {})

    def _jira(self, key: str, query: dict[str, list[str]]) -> None:
        if self.headers.get("Authorization") != JIRA_AUTH:
            return self._json(401, {"errorMessages": ["You are not authenticated."], "errors": {}})
        if key not in JIRA_ISSUES:
            message = "Issue does not exist or you do not have permission to see it."
            return self._json(404, {"errorMessages": [message], "errors": {}})
        assert query.get("fields") == ["status"]
        base = f"http://{self.headers.get('Host')}"
        return self._json(200, jira_issue(base, key))

    def _glpi(self, endpoint: str) -> None:
        if self.headers.get("App-Token") != GLPI_APP_TOKEN:
            return self._json(
                400,
                ["ERROR_WRONG_APP_TOKEN_PARAMETER", "parameter app_token seems wrong; view documentation"],
            )
        if endpoint == "initSession":
            if self.headers.get("Authorization") != f"user_token {GLPI_USER_TOKEN}":
                return self._json(401, ["ERROR_GLPI_LOGIN_USER_TOKEN", "parameter user_token seems invalid"])
            token = f"sess{len(self.seen)}"
            self.sessions.add(token)
            return self._json(200, {"session_token": token})
        token = self.headers.get("Session-Token", "")
        if token not in self.sessions:
            return self._json(401, ["ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid"])
        if endpoint == "killSession":
            self.sessions.discard(token)
            return self._json(200, True)
        if endpoint.startswith("Ticket/") and endpoint.removeprefix("Ticket/").isdigit():
            ticket_id = int(endpoint.removeprefix("Ticket/"))
            if ticket_id not in GLPI_TICKETS:
                return self._json(404, ["ERROR_ITEM_NOT_FOUND", "Item not found"])
            if self.mode.get("glpi") == "no-status":
                return self._json(200, {"id": ticket_id, "name": "x"})
            return self._json(200, glpi_ticket(ticket_id))
        return self._json(400, ["ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM", "resource not found"])


@pytest.fixture
def itsm_server():
    Handler.mode, Handler.seen, Handler.sessions = {}, [], set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def servicenow(pam, server, **kw):
    return itsm_instance_create(
        actor=pam["admin"], source="console", name="ServiceNow", kind="SERVICENOW",
        base_url=f"http://127.0.0.1:{server.server_port}", username="blazon", secret_value="sn-pass",
        valid_states=["1", "2", "3", "-1"], timeout_seconds=1, **kw,
    )  # fmt: skip


def rest(pam, server):
    return itsm_instance_create(
        actor=pam["admin"], source="console", name="Ops tracker", kind="REST",
        url_template=f"http://127.0.0.1:{server.server_port}/tickets/{{code}}", status_pointer="/data/status",
        secret_value="rest-token", valid_states=["open", "in_progress"], timeout_seconds=1,
    )  # fmt: skip


def jira(pam, server):
    return itsm_instance_create(
        actor=pam["admin"], source="console", name="Jira", kind="JIRA",
        base_url=f"http://127.0.0.1:{server.server_port}", username="blazon@acme.test",
        secret_value="jira-token", valid_states=["new", "indeterminate"], timeout_seconds=1,
    )  # fmt: skip


def glpi(pam, server, user_token=GLPI_USER_TOKEN, name="GLPI"):
    return itsm_instance_create(
        actor=pam["admin"], source="console", name=name, kind="GLPI",
        base_url=f"http://127.0.0.1:{server.server_port}/glpi/apirest.php", secret_value=user_token,
        app_secret_value=GLPI_APP_TOKEN, valid_states=["1", "2", "3", "4"], timeout_seconds=1,
    )  # fmt: skip


VENDORS = {"servicenow": (servicenow, "INC0010001"), "jira": (jira, "OPS-101"), "glpi": (glpi, "42")}


def ask(pam, code, **kw):
    return access_request_create(
        actor=pam["dba1"],
        source="workspace",
        account=pam["postgres"],
        reason="r",
        governance_code=code,
        **{**window(), **kw},
    )


def use(pam, instance):
    access_group_update(actor=pam["admin"], source="console", group=pam["group"], data={"itsm": instance})


def test_servicenow_valid_tickets_pass_and_the_status_is_kept(pam, itsm_server):
    use(pam, servicenow(pam, itsm_server))
    req = ask(pam, "INC0010001")
    assert req.status == AccessStatus.PENDING
    assert req.itsm_status == "INC0010001 in ServiceNow: state 2, valid."
    assert any(p.startswith("/api/now/table/incident?") for p in Handler.seen)
    AccessRequest.objects.all().delete()
    assert ask(pam, "CHG0030001").itsm_status.startswith("CHG0030001 in ServiceNow")
    assert any(p.startswith("/api/now/table/change_request?") for p in Handler.seen)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("INC0010002", "state 7, not in a valid state"),
        ("INC0099999", "does not exist"),
        ("PRB0000001", "not a ServiceNow incident, change or requested item"),
    ],
)
def test_servicenow_invalid_tickets_are_refused(pam, itsm_server, code, words):
    use(pam, servicenow(pam, itsm_server))
    with pytest.raises(ValidationFailed) as caught:
        ask(pam, code)
    assert words in caught.value.fields["governance_code"][0]
    assert not AccessRequest.objects.exists()


@pytest.mark.parametrize("vendor", sorted(VENDORS))
@pytest.mark.parametrize(
    ("behaviour", "words"), [("error", "HTTP 500"), ("garbage", "not JSON"), ("slow", "could not be reached")]
)
def test_an_itsm_in_trouble_refuses_the_request(pam, itsm_server, vendor, behaviour, words):
    make, code = VENDORS[vendor]
    use(pam, make(pam, itsm_server))
    Handler.mode["behaviour"] = behaviour
    with pytest.raises(ValidationFailed) as caught:
        ask(pam, code)
    message = caught.value.fields["governance_code"][0]
    assert words in message and "refused" in message
    assert not AccessRequest.objects.exists()


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_an_itsm_that_is_down_refuses_but_an_emergency_goes_on(pam, itsm_server, vendor):
    make, code = VENDORS[vendor]
    use(pam, make(pam, itsm_server))
    itsm_server.shutdown()
    itsm_server.server_close()
    with pytest.raises(ValidationFailed, match="could not check"):
        ask(pam, code)
    assert not AccessRequest.objects.exists()
    req = ask(pam, code, emergency=True)
    assert req.status == AccessStatus.APPROVED and req.emergency
    assert "not checked" in req.itsm_status
    created = AuditEvent.objects.get(action="privileged.request.created")
    assert created.new_values["ticket"]["checked"] is False


def test_an_emergency_in_a_group_without_emergency_access_is_refused_when_the_itsm_is_down(pam, itsm_server):
    use(pam, jira(pam, itsm_server))
    access_group_update(
        actor=pam["admin"], source="console", group=pam["group"], data={"emergency_allowed": False}
    )
    itsm_server.shutdown()
    itsm_server.server_close()
    with pytest.raises(NotAllowed, match="Emergency access is not allowed"):
        ask(pam, "OPS-101", emergency=True)
    assert not AccessRequest.objects.exists()


def test_wrong_credentials_fail_closed(pam, itsm_server):
    instance = servicenow(pam, itsm_server)
    instance.username = "someone-else"
    instance.save()
    use(pam, instance)
    with pytest.raises(ValidationFailed, match="HTTP 401"):
        ask(pam, "INC0010001")


def test_generic_rest_template(pam, itsm_server):
    use(pam, rest(pam, itsm_server))
    assert ask(pam, "OPS-1").itsm_status == "OPS-1 in Ops tracker: state open, valid."
    AccessRequest.objects.all().delete()
    with pytest.raises(ValidationFailed, match="state done, not in a valid state"):
        ask(pam, "OPS-2")
    with pytest.raises(ValidationFailed, match="does not exist"):
        ask(pam, "OPS-404")


def test_a_code_with_injection_characters_never_reaches_the_itsm(pam, itsm_server):
    use(pam, servicenow(pam, itsm_server))
    with pytest.raises(ValidationFailed, match="letters, digits"):
        ask(pam, "INC1^ORnumber!=x")
    with pytest.raises(ValidationFailed, match="letters, digits"):
        ask(pam, "INC1&sysparm_limit=1000")
    assert Handler.seen == []


def test_the_itsm_secret_is_in_the_vault_not_in_the_instance(pam, itsm_server):
    instance = servicenow(pam, itsm_server)
    assert instance.secret is not None and "sn-pass" not in json.dumps(instance.valid_states)
    with pytest.raises(ValidationFailed):
        itsm_instance_create(
            actor=pam["admin"],
            source="console",
            name="x",
            kind="REST",
            url_template="http://x/",
            valid_states=["a"],
        )


def test_the_itsm_api_is_for_administrators_and_never_shows_the_secret(pam, itsm_server):
    body = {
        "name": "SN",
        "kind": "SERVICENOW",
        "base_url": f"http://127.0.0.1:{itsm_server.server_port}",
        "username": "blazon",
        "secret_value": "sn-pass",
        "valid_states": ["2"],
    }
    for who in ("helpdesk", "auditor", "dba1"):
        assert client_for(pam[who]).post("/api/v1/itsm-instances/", body, format="json").status_code == 403
    admin = client_for(pam["admin"])
    created = admin.post("/api/v1/itsm-instances/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["has_secret"] is True and "sn-pass" not in created.content.decode()
    pk = created.json()["id"]
    assert (
        admin.patch(f"/api/v1/itsm-instances/{pk}/", {"timeout_seconds": 0}, format="json").status_code == 400
    )
    group = admin.patch(f"/api/v1/access-groups/{pam['group'].pk}/", {"itsm": "SN"}, format="json")
    assert group.status_code == 200 and group.json()["itsm"] == "SN"
    assert ask(pam, "INC0010001").itsm_status.endswith("valid.")
    assert admin.delete(f"/api/v1/itsm-instances/{pk}/").status_code == 409  # a group uses it
    admin.patch(f"/api/v1/access-groups/{pam['group'].pk}/", {"itsm": None}, format="json")
    assert admin.delete(f"/api/v1/itsm-instances/{pk}/").status_code == 204


# --- Jira Service Management ---------------------------------------------------------------------


def test_jira_an_open_issue_passes_and_its_status_is_not_shown(pam, itsm_server):
    use(pam, jira(pam, itsm_server))
    req = ask(pam, "OPS-101")
    assert req.status == AccessStatus.PENDING
    assert req.itsm_status == "OPS-101 in Jira: valid."  # seed 000: no status for Jira
    assert Handler.seen == ["/rest/api/2/issue/OPS-101?fields=status"]
    created = AuditEvent.objects.get(action="privileged.request.created")
    assert created.new_values["governance_code"] == "OPS-101"
    assert created.new_values["ticket"] == {
        "itsm": "Jira", "kind": "JIRA", "code": "OPS-101", "state": "indeterminate", "valid": True, "checked": True,
    }  # fmt: skip
    AccessRequest.objects.all().delete()
    assert ask(pam, "ops-103").itsm_status == "OPS-103 in Jira: valid."  # a "new" issue; the key upper-cased


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("OPS-102", "OPS-102 in Jira is not open for work"),
        ("OPS-999", "OPS-999 does not exist in Jira"),
        ("INC0010001", "not a Jira issue key"),
        ("OPS-1-2", "not a Jira issue key"),
    ],
)
def test_jira_closed_unknown_and_malformed_keys_are_refused(pam, itsm_server, code, words):
    use(pam, jira(pam, itsm_server))
    with pytest.raises(ValidationFailed) as caught:
        ask(pam, code)
    assert words in caught.value.fields["governance_code"][0]
    assert "Done" not in caught.value.fields["governance_code"][0]
    assert not AccessRequest.objects.exists()


def test_jira_wrong_token_fails_closed(pam, itsm_server):
    instance = jira(pam, itsm_server)
    instance.username = "someone@acme.test"
    instance.save()
    use(pam, instance)
    with pytest.raises(ValidationFailed, match="HTTP 401"):
        ask(pam, "OPS-101")


# --- GLPI ------------------------------------------------------------------------------------------


def test_glpi_a_ticket_in_progress_passes_and_the_session_is_killed(pam, itsm_server):
    use(pam, glpi(pam, itsm_server))
    req = ask(pam, "42")
    assert req.itsm_status == "42 in GLPI: state 2 (Processing (assigned)), valid."
    assert [p.rsplit("/", 1)[1] for p in Handler.seen] == ["initSession", "42", "killSession"]
    assert Handler.sessions == set()
    assert AuditEvent.objects.get(action="privileged.request.created").new_values["ticket"]["state"] == "2"


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("43", "state 6 (Closed), not in a valid state"),
        ("44", "44 does not exist in GLPI"),
        ("INC0010001", "not a GLPI ticket number"),
    ],
)
def test_glpi_closed_unknown_and_malformed_tickets_are_refused(pam, itsm_server, code, words):
    use(pam, glpi(pam, itsm_server))
    with pytest.raises(ValidationFailed) as caught:
        ask(pam, code)
    assert words in caught.value.fields["governance_code"][0]
    assert not AccessRequest.objects.exists()
    assert Handler.sessions == set()  # every session opened was killed


def test_glpi_wrong_tokens_and_a_ticket_without_status_fail_closed(pam, itsm_server):
    use(pam, glpi(pam, itsm_server, user_token="wrong", name="GLPI 1"))
    with pytest.raises(ValidationFailed, match="HTTP 401 ERROR_GLPI_LOGIN_USER_TOKEN"):
        ask(pam, "42")
    use(pam, glpi_other := itsm_instance_create(
        actor=pam["admin"], source="console", name="GLPI without app token", kind="GLPI",
        base_url=f"http://127.0.0.1:{itsm_server.server_port}/glpi/apirest.php",
        secret_value=GLPI_USER_TOKEN, valid_states=["2"], timeout_seconds=1,
    ))  # fmt: skip
    assert glpi_other.app_secret is None
    with pytest.raises(ValidationFailed, match="HTTP 400 ERROR_WRONG_APP_TOKEN_PARAMETER"):
        ask(pam, "42")
    use(pam, glpi(pam, itsm_server, name="GLPI 2"))
    Handler.mode["glpi"] = "no-status"
    with pytest.raises(ValidationFailed, match="not a GLPI ticket with a status"):
        ask(pam, "42")
    assert not AccessRequest.objects.exists()
    assert Handler.sessions == set()


# --- the pages ---------------------------------------------------------------------------------------


def _pages(pam, req) -> tuple[str, str]:
    admin, approver = Client(), Client()
    admin.force_login(pam["admin"])
    approver.force_login(pam["approver1"])
    console = admin.get(f"/console/privileged/requests/{req.pk}/")
    approval = approver.get(f"/workspace/privileged/approvals/{req.pk}/")
    assert console.status_code == 200 and approval.status_code == 200
    return console.content.decode(), approval.content.decode()


@pytest.mark.parametrize("vendor", ["servicenow", "glpi"])
def test_the_ticket_status_is_on_the_request_and_approval_pages(pam, itsm_server, vendor):
    make, code = VENDORS[vendor]
    use(pam, make(pam, itsm_server))
    req = ask(pam, code)
    for page in _pages(pam, req):
        assert req.itsm_status in page and "state 2" in page


def test_jira_pages_show_the_ticket_but_not_its_status(pam, itsm_server):
    use(pam, jira(pam, itsm_server))
    req = ask(pam, "OPS-101")
    for page in _pages(pam, req):
        assert "OPS-101 in Jira: valid." in page
        assert "indeterminate" not in page and "In Progress" not in page


def test_the_itsm_api_takes_jira_and_glpi_and_never_shows_their_tokens(pam, itsm_server):
    admin = client_for(pam["admin"])
    body = {
        "name": "GLPI", "kind": "GLPI", "base_url": f"http://127.0.0.1:{itsm_server.server_port}/glpi/apirest.php",
        "secret_value": GLPI_USER_TOKEN, "app_secret_value": GLPI_APP_TOKEN, "valid_states": ["1", "2"],
    }  # fmt: skip
    created = admin.post("/api/v1/itsm-instances/", body, format="json")
    assert created.status_code == 201, created.content
    assert (
        created.json()["has_secret"] and created.json()["has_app_secret"] and created.json()["shows_status"]
    )
    assert GLPI_APP_TOKEN not in created.content.decode() and GLPI_USER_TOKEN not in created.content.decode()
    no_url = admin.post(
        "/api/v1/itsm-instances/", {**body, "name": "J", "kind": "JIRA", "base_url": ""}, format="json"
    )
    assert no_url.status_code == 400 and "atlassian" in no_url.content.decode()
    jira_ = admin.post(
        "/api/v1/itsm-instances/",
        {
            **body,
            "name": "J",
            "kind": "JIRA",
            "base_url": "https://acme.atlassian.net",
            "valid_states": ["new"],
        },
        format="json",
    )
    assert jira_.status_code == 201 and jira_.json()["shows_status"] is False
