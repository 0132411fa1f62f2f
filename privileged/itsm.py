"""Checking a governance code against an ITSM (seeds 000/001): the ticket must exist and be in a
valid state. Two clients: ServiceNow's Table API (incident, change request, requested item, by
number) and a generic REST template (a URL with ``{code}`` and a JSON pointer to the status).

**Fail closed**: an ITSM that is down, slow, answers an error or something that is not the
expected JSON raises ``ItsmUnavailable`` — the caller refuses the request (except an emergency).
The code has passed the access flow's format check (letters, digits, ``. _ - / :``) before it
gets here, and is URL-quoted besides. The credential is read from the vault for each check
(audited by the vault as a reveal by the system).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from privileged.models import ItsmInstance, ItsmKind
from vault.services import secret_reveal

#: ServiceNow tables by the number's prefix.
SERVICENOW_TABLES = {"INC": "incident", "CHG": "change_request", "RITM": "sc_req_item"}
MAX_BODY = 1024 * 1024


class ItsmUnavailable(Exception):
    """The ITSM could not answer whether the ticket is valid (down, slow, error, garbage)."""


@dataclass(frozen=True)
class TicketCheck:
    """What the ITSM said: whether the ticket counts, its state, and a line for people."""

    valid: bool
    state: str
    detail: str


def _get(url: str, headers: dict[str, str], timeout: int) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})  # noqa: S310 (http(s) URL from the configuration)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (same)
            body = response.read(MAX_BODY + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise ItsmUnavailable(f"the ITSM answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ItsmUnavailable(f"the ITSM could not be reached ({type(reason).__name__})") from None
    if len(body) > MAX_BODY:
        raise ItsmUnavailable("the ITSM's answer is too large")
    try:
        return json.loads(body)
    except ValueError:
        raise ItsmUnavailable("the ITSM's answer is not JSON") from None


def _secret(instance: ItsmInstance) -> str:
    if instance.secret is None:
        return ""
    return secret_reveal(actor=None, source="automatic", secret=instance.secret)


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
    token = base64.b64encode(f"{instance.username}:{_secret(instance)}".encode()).decode()
    answer = _get(url, {"Authorization": f"Basic {token}"}, instance.timeout_seconds)
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


def _verdict(instance: ItsmInstance, code: str, state: str) -> TicketCheck:
    valid = state in [str(s) for s in instance.valid_states]
    word = "valid" if valid else "not in a valid state"
    return TicketCheck(valid, state, f"{code} in {instance.name}: state {state or '(none)'}, {word}.")


def ticket_check(instance: ItsmInstance, code: str) -> TicketCheck:
    """Ask ``instance`` whether ticket ``code`` is valid; ``ItsmUnavailable`` when it cannot say."""
    if instance.kind == ItsmKind.SERVICENOW:
        return _servicenow(instance, code)
    return _rest(instance, code)
