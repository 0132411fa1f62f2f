"""Front-channel single logout across every SP of a Blazon session.

Each assertion Blazon issues is remembered in the user's session (SP, NameID and its format, the
SessionIndex of the AuthnStatement). When the session ends through SAML (an SP's LogoutRequest) or
the "Log out" button, that list is kept in a *chain*: the browser is sent in turn to every other
participating SP that has an SLO URL with a signed LogoutRequest, each SP's LogoutResponse comes
back to Blazon's SLO endpoint and is checked (signature, issuer, InResponseTo), and the chain ends
with the LogoutResponse to the SP that started it (Success, or PartialLogout when an SP answered
with an error) or at Blazon's login page.

The chain lives in the NEW, anonymous session Django opens after ``logout()`` (a random,
server-side session id, expiring with the session cookie), so one browser's chain can never be
advanced or read by another."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.db import transaction
from django.utils.translation import gettext
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, samlp
from saml2.entity import Entity
from saml2.s_utils import success_status_factory
from saml2.saml import NameID
from saml2.sigver import verify_redirect_signature
from saml2.time_util import in_a_while

from blazon.audit.services import audit_record
from sso import idp, signing
from sso.models import ServiceProvider

logger = logging.getLogger("blazon.sso")

PARTICIPANTS = "sso.saml.participants"
CHAIN = "sso.saml.slo_chain"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_PARTIAL = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_UNKNOWN_PRINCIPAL = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal"
_NS = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def _chain_seconds() -> int:
    return int(getattr(settings, "BLAZON_SAML_SLO_SECONDS", 600))


# --- participants -------------------------------------------------------------------------------


def participant_record(request: Any, sp: ServiceProvider, response_xml: str) -> None:
    """Remember in the session that ``sp`` got an assertion: its NameID, format and SessionIndex
    (read back from the signed response, so the logout names exactly what was asserted)."""
    root = etree.fromstring(response_xml.encode("utf-8"), _PARSER)
    name_id = root.find(".//saml:Assertion/saml:Subject/saml:NameID", _NS)
    statement = root.find(".//saml:Assertion/saml:AuthnStatement", _NS)
    entry = {
        "sp": sp.pk,
        "name_id": (name_id.text or "") if name_id is not None else "",
        "format": name_id.get("Format", "") if name_id is not None else "",
        "session_index": statement.get("SessionIndex", "") if statement is not None else "",
    }
    participants = [p for p in request.session.get(PARTICIPANTS, []) if p.get("sp") != sp.pk]
    participants.append(entry)
    request.session[PARTICIPANTS] = participants


def has_participants(request: Any) -> bool:
    return bool(request.session.get(PARTICIPANTS))


def logout_request_mismatch(request: Any, sp: ServiceProvider, message: Any) -> str:
    """Why an SP's LogoutRequest does not name this browser's session at that SP ("" when it
    does): its NameID (and format) must be the one Blazon asserted to the SP in this session, and
    its SessionIndex, when it gives any, the one of that assertion (SAML core §3.7.3.2). A
    browser without a Blazon session has nothing to log out and is not compared."""
    if not request.user.is_authenticated:
        return ""
    entry = next((p for p in request.session.get(PARTICIPANTS, []) if p.get("sp") == sp.pk), None)
    if entry is None:
        return "this session never signed in to the application"
    name_id = message.name_id
    text = (name_id.text or "").strip() if name_id is not None else ""
    if text != entry.get("name_id"):
        return "the NameID is not the one of this session"
    asked_format = (name_id.format or "") if name_id is not None else ""
    if asked_format and entry.get("format") and asked_format != entry["format"]:
        return "the NameID format is not the one of this session"
    indexes = [(i.text or "").strip() for i in (message.session_index or [])]
    if indexes and entry.get("session_index") and entry["session_index"] not in indexes:
        return "the SessionIndex is not the one of this session"
    return ""


def refusal_status(reason: str) -> Any:
    """The status of a LogoutResponse refusing a request for another principal or session:
    ``Requester`` / ``UnknownPrincipal``, with the reason as the message."""
    return samlp.Status(
        status_code=samlp.StatusCode(
            value=STATUS_REQUESTER, status_code=samlp.StatusCode(value=STATUS_UNKNOWN_PRINCIPAL)
        ),
        status_message=samlp.StatusMessage(text=f"Not logged out: {reason}."),
    )


# --- the chain ----------------------------------------------------------------------------------


def chain_start(request: Any, *, origin: dict | None, exclude_sp: int | None = None) -> None:
    """End the Blazon session and open the chain over the other participating SPs."""
    participants = [p for p in request.session.get(PARTICIPANTS, []) if p.get("sp") != exclude_sp]
    user = request.user if request.user.is_authenticated else None
    if user is not None:
        # its own transaction: nothing else here writes, and requests are not atomic (without it
        # every single logout of a signed-in user failed outside the tests' transaction)
        with transaction.atomic():
            audit_record(
                actor=user,
                action="sso.saml.single_logout",
                obj=None,
                new={"participants": len(participants), "initiated_by": "sp" if origin else "idp"},
                source="sso",
                subject_user_id=user.pk,
            )
    logout(request)  # flushes the session: a new, empty one (new random id) holds the chain
    sps = ServiceProvider.objects.in_bulk([p["sp"] for p in participants])
    queue, skipped = [], []
    for p in participants:
        sp = sps.get(p["sp"])
        if sp is None:
            continue
        if sp.slo_url and sp.enabled:
            queue.append(p)
        else:
            skipped.append(sp.name)
    request.session[CHAIN] = {
        "origin": origin,
        "queue": queue,
        "current": None,
        "failed": [],
        "skipped": skipped,
        "expires": time.time() + _chain_seconds(),
    }


def chain_get(request: Any) -> dict | None:
    chain = request.session.get(CHAIN)
    if not isinstance(chain, dict) or float(chain.get("expires", 0)) < time.time():
        return None
    return chain


@dataclass
class Step:
    """What the view does next: redirect to ``url``, POST ``fields`` to ``url``, or finish."""

    url: str = ""
    fields: dict | None = None
    done: bool = False
    # an SP with a time limit is logged out in a frame of Blazon's page, which goes on by itself
    # after ``wait`` seconds (the rest of the SP's limit) if the SP has not answered
    framed: bool = False
    wait: int = 0


def chain_next(request: Any) -> Step:
    """Send the browser to the next SP of the chain, or say the chain is done. While a framed SP
    has not answered and its time limit has not passed, the same step again (for the time left);
    once it has passed, the SP is counted as not logged out and the chain goes on."""
    chain = chain_get(request)
    if chain is None:
        return Step(done=True)
    current = chain.get("current")
    if current and current.get("deadline"):
        left = float(current["deadline"]) - time.time()
        if left > 0:
            return Step(**{**current["step"], "wait": max(1, round(left))})
        chain["failed"].append(current["name"])
        logger.info("saml: %s did not answer the logout within its time limit", current["name"])
        chain["current"] = None
    while chain["queue"]:
        p = chain["queue"].pop(0)
        sp = ServiceProvider.objects.filter(pk=p["sp"], enabled=True).exclude(slo_url="").first()
        if sp is None:
            continue
        request_id, step = _logout_request_for(request, sp, p)
        chain["current"] = {"sp": sp.pk, "name": sp.name, "request_id": request_id}
        if sp.slo_timeout_seconds:
            step.framed, step.wait = True, sp.slo_timeout_seconds
            chain["current"]["deadline"] = time.time() + sp.slo_timeout_seconds
            chain["current"]["step"] = {"url": step.url, "fields": step.fields, "framed": True}
        request.session[CHAIN] = chain
        return step
    chain["current"] = None
    request.session[CHAIN] = chain
    return Step(done=True)


def _logout_request_for(request: Any, sp: ServiceProvider, p: dict) -> tuple[str, Step]:
    server = idp.server_for(sp, request)
    name_id = NameID(
        format=p["format"] or sp.nameid_format, text=p["name_id"], sp_name_qualifier=sp.entity_id
    )
    minutes = int(getattr(settings, "BLAZON_SAML_ASSERTION_MINUTES", 5))
    in_process = idp.signs_in_process()
    post = sp.slo_binding == BINDING_HTTP_POST
    with server.lock:
        request_id, message = server.create_logout_request(
            sp.slo_url,
            sp.entity_id,
            name_id=name_id,
            expire=in_a_while(minutes=minutes),
            session_indexes=[p["session_index"]] if p["session_index"] else None,
            sign=post and not in_process,
            sign_alg=idp.SIGN_ALG,
            digest_alg=idp.DIGEST_ALG,
        )
    if not post:
        info = server.apply_binding(
            BINDING_HTTP_REDIRECT, str(message), sp.slo_url, "", sign=True, sigalg=idp.SIGN_ALG
        )
        return request_id, Step(url=dict(info["headers"])["Location"])
    xml = str(message)
    if in_process:
        xml = signing.sign_root(xml, server.blazon_signing)
    return request_id, Step(url=sp.slo_url, fields={"SAMLRequest": idp.encode_response(xml)})


# --- LogoutResponses coming back ----------------------------------------------------------------


class SLOError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def response_accept(request: Any, params: dict[str, str], binding: str) -> bool:
    """Check an SP's LogoutResponse against the chain of this browser and record its outcome;
    returns whether the SP was logged out in a frame. Raises ``SLOError`` (chain untouched)
    when it is not the answer Blazon is waiting for (an answer after the SP's time limit is
    one: the SP was already counted as not logged out)."""
    chain = chain_get(request)
    current = chain.get("current") if chain else None
    if chain is None or not current:
        raise SLOError(
            gettext("No logout is in progress in this browser, so this logout answer is not expected.")
        )
    try:
        xml = Entity.unravel(params["SAMLResponse"], binding)
        message = samlp.logout_response_from_string(xml)
    except Exception:  # noqa: BLE001 - any decoding failure is the same user error
        raise SLOError(gettext("The logout answer could not be decoded.")) from None
    if message is None or message.issuer is None or not (message.issuer.text or "").strip():
        raise SLOError(gettext("The logout answer could not be decoded or does not name its issuer."))
    sp = ServiceProvider.objects.filter(entity_id=message.issuer.text.strip()).first()
    if sp is None or sp.pk != current["sp"]:
        raise SLOError(gettext("This logout answer comes from an application Blazon did not ask to log out."))
    if message.in_response_to != current["request_id"]:
        raise SLOError(gettext("This logout answer does not answer Blazon's logout request (InResponseTo)."))
    if current.get("deadline") and float(current["deadline"]) < time.time():
        raise SLOError(gettext("This logout answer came after the application's time limit."))
    ours = {idp.base_url(request) + idp.SLO_REDIRECT_PATH, idp.base_url(request) + idp.SLO_POST_PATH}
    if message.destination and message.destination not in ours:
        raise SLOError(gettext("This logout answer is addressed to another server (Destination)."))
    _verify_signature(request, sp, params, binding, xml, message)
    status = message.status.status_code.value if message.status and message.status.status_code else ""
    if status != STATUS_SUCCESS:
        chain["failed"].append(sp.name)
        logger.info("saml: %s answered the logout with %s", sp.entity_id, status)
    chain["current"] = None
    request.session[CHAIN] = chain
    return bool(current.get("deadline"))


def _verify_signature(request, sp, params, binding, xml, message) -> None:
    if binding == BINDING_HTTP_REDIRECT:
        if "Signature" not in params or "SigAlg" not in params:
            if sp.require_signed_requests:
                raise SLOError(gettext("The logout answer is not signed, and this application must sign it."))
            return
        server = idp.server_for(sp, request)
        try:
            ok = verify_redirect_signature(
                {k: params[k] for k in ("SAMLResponse", "RelayState", "SigAlg", "Signature") if k in params},
                server.sec.sec_backend,
                cert=idp._cert_body(sp.certificate),
            )
        except Exception:  # noqa: BLE001 - unsupported algorithm, bad base64: a refused answer
            ok = False
        if not ok:
            raise SLOError(gettext("The logout answer's signature is not valid."))
        return
    if message.signature is None:
        if sp.require_signed_requests:
            raise SLOError(gettext("The logout answer is not signed, and this application must sign it."))
        return
    server = idp.server_for(sp, request)
    try:
        server.sec.correctly_signed_logout_response(xml, must=True)
    except Exception:  # noqa: BLE001 - every verification failure is a refused answer
        raise SLOError(gettext("The logout answer's signature is not valid.")) from None


# --- the end of the chain -----------------------------------------------------------------------


def chain_finish(request: Any) -> tuple[dict | None, dict]:
    """Close the chain: (the LogoutResponse to the SP that started it — as in
    ``idp.build_logout_response`` — or None, the chain's summary)."""
    chain = chain_get(request) or {"origin": None, "failed": [], "skipped": [], "current": None}
    if chain.get("current"):  # an SP that never came back
        chain["failed"].append(chain["current"]["name"])
    request.session.pop(CHAIN, None)
    summary = {"failed": chain["failed"], "skipped": chain["skipped"]}
    origin = chain.get("origin")
    if not origin:
        return None, summary
    sp = ServiceProvider.objects.filter(pk=origin["sp"]).first()
    if sp is None or not sp.slo_url:
        return None, {**summary, "sp": sp}
    server = idp.server_for(sp, request)
    original = samlp.logout_request_from_string(origin["request_xml"])
    status = success_status_factory()
    if chain["failed"]:
        status.status_code.status_code = samlp.StatusCode(value=STATUS_PARTIAL)
    parsed = idp.ParsedLogoutRequest(message=original, name_id="")
    answer = idp.build_logout_response(server, sp, parsed, origin.get("relay_state", ""), status=status)
    return answer, {**summary, "sp": sp}
