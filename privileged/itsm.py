"""Checking a governance code against an ITSM (seeds 000/001): the ticket must exist and be in a
valid state. Four clients: ServiceNow's Table API (incident, change request, requested item, by
number), Jira Service Management's REST API (issue by key, its status category), GLPI's REST API
(a session opened with the application and user tokens, the ticket by id, the session killed) and a
generic REST template (a URL with ``{code}`` and a JSON pointer to the status).

**Fail closed**: an ITSM that is down, slow, answers an error or something that is not the
expected JSON raises ``ItsmUnavailable`` — the caller refuses the request (except an emergency).
The code has passed the access flow's format check (letters, digits, ``. _ - / :``) before it
gets here, and is URL-quoted besides. The credential is read from the vault for each check
(audited by the vault as a reveal by the system).
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from privileged.models import ItsmInstance, ItsmKind
from vault.services import secret_reveal

#: ServiceNow tables by the number's prefix.
SERVICENOW_TABLES = {"INC": "incident", "CHG": "change_request", "RITM": "sc_req_item"}
#: A Jira issue key: the project's key, a dash, the issue's number (OPS-123).
JIRA_KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,31}-[0-9]{1,12}$")
#: Jira's status categories (the ``statusCategory.key`` of every status).
JIRA_CATEGORIES = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
#: GLPI's ticket statuses (``Ticket.status``).
GLPI_STATUSES = {
    "1": "New",
    "2": "Processing (assigned)",
    "3": "Processing (planned)",
    "4": "Pending",
    "5": "Solved",
    "6": "Closed",
}
MAX_BODY = 1024 * 1024


class ItsmUnavailable(Exception):
    """The ITSM could not answer whether the ticket is valid (down, slow, error, garbage)."""


@dataclass(frozen=True)
class TicketCheck:
    """What the ITSM said: whether the ticket counts, its state, and a line for people."""

    valid: bool
    state: str
    detail: str


def _error_word(exc: urllib.error.HTTPError) -> str:
    """GLPI names its errors (``["ERROR_GLPI_LOGIN_USER_TOKEN", "..."]``): say which, else nothing."""
    try:
        body = json.loads(exc.read(4096))
    except (ValueError, OSError):
        return ""
    if isinstance(body, list) and body and isinstance(body[0], str) and body[0].startswith("ERROR_"):
        return f" {body[0][:60]}"
    return ""


def _get(url: str, headers: dict[str, str], timeout: int) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})  # noqa: S310 (http(s) URL from the configuration)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (same)
            body = response.read(MAX_BODY + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise ItsmUnavailable(f"the ITSM answered HTTP {exc.code}{_error_word(exc)}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ItsmUnavailable(f"the ITSM could not be reached ({type(reason).__name__})") from None
    if len(body) > MAX_BODY:
        raise ItsmUnavailable("the ITSM's answer is too large")
    try:
        return json.loads(body)
    except ValueError:
        raise ItsmUnavailable("the ITSM's answer is not JSON") from None


def _secret(instance: ItsmInstance, *, app: bool = False) -> str:
    secret = instance.app_secret if app else instance.secret
    if secret is None:
        return ""
    return secret_reveal(actor=None, source="automatic", secret=secret)


def _basic(instance: ItsmInstance) -> dict[str, str]:
    token = base64.b64encode(f"{instance.username}:{_secret(instance)}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _pointer(document: Any, pointer: str) -> Any:
    """RFC 6901: ``/a/0/b``."""
    if pointer in ("", "/"):
        return document
    node = document
    for raw in pointer.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise ItsmUnavailable(f"the ITSM's answer has nothing at {pointer}")
    return node


def _servicenow(instance: ItsmInstance, code: str) -> TicketCheck:
    prefix = next(
        (p for p in sorted(SERVICENOW_TABLES, key=len, reverse=True) if code.upper().startswith(p)), None
    )
    if prefix is None:
        return TicketCheck(
            False, "", f"{code} is not a ServiceNow incident, change or requested item number."
        )
    query = urlencode(
        {"sysparm_query": f"number={code}", "sysparm_fields": "number,state", "sysparm_limit": "1"}
    )
    url = f"{instance.base_url.rstrip('/')}/api/now/table/{SERVICENOW_TABLES[prefix]}?{query}"
    answer = _get(url, _basic(instance), instance.timeout_seconds)
    if answer is None:
        return TicketCheck(False, "", f"{code} does not exist in {instance.name}.")
    if not isinstance(answer, dict) or not isinstance(answer.get("result"), list):
        raise ItsmUnavailable("the ITSM's answer is not a Table API result")
    if not answer["result"]:
        return TicketCheck(False, "", f"{code} does not exist in {instance.name}.")
    row = answer["result"][0]
    state = str(row.get("state", "")) if isinstance(row, dict) else ""
    return _verdict(instance, code, state)


def _rest(instance: ItsmInstance, code: str) -> TicketCheck:
    url = instance.url_template.replace("{code}", quote(code, safe=""))
    secret = _secret(instance)
    answer = _get(url, {"Authorization": f"Bearer {secret}"} if secret else {}, instance.timeout_seconds)
    if answer is None:
        return TicketCheck(False, "", f"{code} does not exist in {instance.name}.")
    state = _pointer(answer, instance.status_pointer)
    if isinstance(state, dict | list):
        raise ItsmUnavailable(f"the ITSM's answer at {instance.status_pointer} is not a status")
    return _verdict(instance, code, str(state))


def _jira(instance: ItsmInstance, code: str) -> TicketCheck:
    """``GET /rest/api/2/issue/<key>?fields=status``: valid when the status's category (``new``,
    ``indeterminate``, ``done``) is one of the valid states. The status is not shown (seed 000)."""
    key = code.upper()
    if not JIRA_KEY_RE.match(key):
        return TicketCheck(False, "", f"{code} is not a Jira issue key (e.g. OPS-123).")
    url = f"{instance.base_url.rstrip('/')}/rest/api/2/issue/{quote(key, safe='')}?fields=status"
    answer = _get(url, _basic(instance), instance.timeout_seconds)
    if answer is None:
        return TicketCheck(False, "", f"{key} does not exist in {instance.name}.")
    try:
        category = answer["fields"]["status"]["statusCategory"]["key"]
    except (TypeError, KeyError):
        raise ItsmUnavailable("the ITSM's answer is not a Jira issue with a status") from None
    if not isinstance(category, str):
        raise ItsmUnavailable("the ITSM's answer is not a Jira issue with a status")
    if category in [str(s) for s in instance.valid_states]:
        return TicketCheck(True, category, f"{key} in {instance.name}: valid.")
    return TicketCheck(False, category, f"{key} in {instance.name} is not open for work: not valid.")


def _glpi(instance: ItsmInstance, code: str) -> TicketCheck:
    """``initSession`` (App-Token + ``user_token``), ``GET /Ticket/<id>``, ``killSession``: valid
    when the ticket's status code is one of the valid states."""
    if not code.isdigit() or len(code) > 12:
        return TicketCheck(False, "", f"{code} is not a GLPI ticket number (its id, e.g. 1234).")
    base, timeout = instance.base_url.rstrip("/"), instance.timeout_seconds
    app = {"App-Token": _secret(instance, app=True)} if instance.app_secret_id else {}
    opened = _get(f"{base}/initSession", {**app, "Authorization": f"user_token {_secret(instance)}"}, timeout)
    token = opened.get("session_token") if isinstance(opened, dict) else None
    if not isinstance(token, str) or not token:
        raise ItsmUnavailable("the ITSM did not open a GLPI session")
    session = {**app, "Session-Token": token}
    try:
        ticket = _get(f"{base}/Ticket/{int(code)}", session, timeout)
    finally:
        try:
            _get(f"{base}/killSession", session, timeout)
        except ItsmUnavailable:
            pass  # the answer is known; GLPI ends an idle session by itself
    if ticket is None:
        return TicketCheck(False, "", f"{code} does not exist in {instance.name}.")
    status = ticket.get("status") if isinstance(ticket, dict) else None
    if isinstance(status, bool) or not isinstance(status, int | str) or str(status) not in GLPI_STATUSES:
        raise ItsmUnavailable("the ITSM's answer is not a GLPI ticket with a status")
    state = str(status)
    return _verdict(instance, code, state, f"{state} ({GLPI_STATUSES[state]})")


def _verdict(instance: ItsmInstance, code: str, state: str, label: str = "") -> TicketCheck:
    valid = state in [str(s) for s in instance.valid_states]
    word = "valid" if valid else "not in a valid state"
    shown = label or state or "(none)"
    return TicketCheck(valid, state, f"{code} in {instance.name}: state {shown}, {word}.")


def ticket_check(instance: ItsmInstance, code: str) -> TicketCheck:
    """Ask ``instance`` whether ticket ``code`` is valid; ``ItsmUnavailable`` when it cannot say."""
    if instance.kind == ItsmKind.SERVICENOW:
        return _servicenow(instance, code)
    if instance.kind == ItsmKind.JIRA:
        return _jira(instance, code)
    if instance.kind == ItsmKind.GLPI:
        return _glpi(instance, code)
    return _rest(instance, code)
