"""The governance code checked against an ITSM: ServiceNow's Table API and a generic REST template,
each against a local HTTP server that speaks that API. A ticket in a valid state passes; a closed
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

from blazon.errors import ValidationFailed
from privileged.models import AccessRequest, AccessStatus
from privileged.services.flow import access_request_create
from privileged.services.groups import access_group_update
from privileged.services.itsm import itsm_instance_create
from tests.api.helpers import client_for
from tests.privileged.conftest import window

# ServiceNow: state 1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed
TICKETS = {"incident": {"INC0010001": "2", "INC0010002": "7"}, "change_request": {"CHG0030001": "-1"}}
REST_TICKETS = {"OPS-1": {"data": {"status": "open"}}, "OPS-2": {"data": {"status": "done"}}}


class Handler(BaseHTTPRequestHandler):
    mode: dict[str, Any] = {}
    seen: list[str] = []

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
        if url.path.startswith("/tickets/"):
            if self.headers.get("Authorization") != "Bearer rest-token":
                return self._json(403, {"detail": "forbidden"})
            ticket = REST_TICKETS.get(url.path.removeprefix("/tickets/"))
            return self._json(200, ticket) if ticket else self._json(404, {"detail": "not found"})
        return self._json(404, {})


@pytest.fixture
def itsm_server():
    Handler.mode, Handler.seen = {}, []
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


@pytest.mark.parametrize(
    ("behaviour", "words"), [("error", "HTTP 500"), ("garbage", "not JSON"), ("slow", "could not be reached")]
)
def test_an_itsm_in_trouble_refuses_the_request(pam, itsm_server, behaviour, words):
    use(pam, servicenow(pam, itsm_server))
    Handler.mode["behaviour"] = behaviour
    with pytest.raises(ValidationFailed) as caught:
        ask(pam, "INC0010001")
    message = caught.value.fields["governance_code"][0]
    assert words in message and "refused" in message
    assert not AccessRequest.objects.exists()


def test_an_itsm_that_is_down_refuses_but_an_emergency_goes_on(pam, itsm_server):
    use(pam, servicenow(pam, itsm_server))
    itsm_server.shutdown()
    itsm_server.server_close()
    with pytest.raises(ValidationFailed, match="could not check"):
        ask(pam, "INC0010001")
    req = ask(pam, "INC0010001", emergency=True)
    assert req.status == AccessStatus.APPROVED and req.emergency
    assert "not checked" in req.itsm_status


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
