"""The SAML endpoints browsers and SPs reach: metadata, single sign-on (HTTP-Redirect and
HTTP-POST), the resume URL after login, single logout, and the launch from "My applications".

Every refusal is a plain page with a clear message and status 400/403; nothing a SAML message
carries is ever used as a redirect target (RelayState is only echoed back to the SP's own,
registered ACS)."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from blazon.authcontract import SESSION_AUTH_AT
from blazon.csp import allow_framing_of, frameable_by_self
from blazon.permissions import can
from directory.selectors import user_can_sign_in
from directory.views.common import workspace_required
from sso import flow, idp, slo
from sso.models import BINDING_POST, BINDING_REDIRECT, ServiceProvider
from sso.selectors import service_providers_for_user, user_may_use

logger = logging.getLogger("blazon.sso")

MAX_MESSAGE = 256 * 1024
MAX_RELAY_STATE = 1024


def _error(request: HttpRequest, message: str, *, status: int = 400) -> HttpResponse:
    return render(request, "sso/error.html", {"message": message}, status=status)


def _post_form(request: HttpRequest, *, url: str, fields: dict[str, str]) -> HttpResponse:
    response = render(request, "sso/post_form.html", {"url": url, "fields": fields})
    response["Cache-Control"] = "no-store"
    return response


def _params(request: HttpRequest, binding: str, message: str = "SAMLRequest") -> dict[str, str] | None:
    source = request.GET if binding == BINDING_REDIRECT else request.POST
    out = {
        k: value
        for k in (message, "RelayState", "SigAlg", "Signature")
        if (value := source.get(k)) is not None
    }
    if not out.get(message) or len(out[message]) > MAX_MESSAGE:
        return None
    if len(out.get("RelayState", "")) > MAX_RELAY_STATE:
        return None
    return out


def _sp_by_entity_id(entity_id: str) -> ServiceProvider | None:
    return ServiceProvider.objects.filter(entity_id=entity_id).select_related("resource", "role").first()


def _authenticated_since(request: HttpRequest) -> float:
    at = request.session.get(SESSION_AUTH_AT)
    last_login = getattr(request.user, "last_login", None)
    last = last_login.timestamp() if last_login else 0
    try:
        return max(float(at or 0), last)
    except (TypeError, ValueError):
        return last


def _answer(
    request: HttpRequest,
    sp: ServiceProvider,
    *,
    acs_url: str,
    in_response_to: str | None,
    relay_state: str,
    initiated_by: str,
) -> HttpResponse:
    xml = flow.saml_response_issue(
        user=request.user,
        sp=sp,
        request=request,
        acs_url=acs_url,
        in_response_to=in_response_to,
        initiated_by=initiated_by,
    )
    slo.participant_record(request, sp, xml)
    fields = {"SAMLResponse": idp.encode_response(xml)}
    if relay_state:
        fields["RelayState"] = relay_state
    return _post_form(request, url=acs_url, fields=fields)


def _refusal_for_user(request: HttpRequest, sp: ServiceProvider) -> HttpResponse | None:
    if not user_can_sign_in(request.user):
        return _error(request, gettext("Your identity is not active or your login is locked."), status=403)
    if not user_may_use(request.user, sp):
        return _error(
            request,
            gettext("You are not allowed to use %(name)s. Request access in the workspace.")
            % {"name": sp.name},
            status=403,
        )
    return None


@never_cache
def _sso(request: HttpRequest, binding: str) -> HttpResponse:
    params = _params(request, binding)
    if params is None:
        return _error(
            request, gettext("This is not a SAML sign-in request (SAMLRequest missing or too large).")
        )
    try:
        entity_id = idp.peek_issuer(params["SAMLRequest"], binding)
    except idp.SAMLRequestError as exc:
        return _error(request, exc.message)
    sp = _sp_by_entity_id(entity_id)
    if sp is None or not sp.enabled:
        logger.info("saml: sign-in request from unknown or disabled SP")
        return _error(request, gettext("This application is not registered with Blazon, or it is disabled."))
    try:
        parsed = idp.parse_authn_request(idp.server_for(sp, request), sp, params, binding)
    except idp.SAMLRequestError as exc:
        return _error(request, exc.message)
    pending = flow.pending_create(sp=sp, parsed=parsed)
    return HttpResponseRedirect(reverse("sso:resume", args=[pending.pk]))


@require_GET
def sso_redirect(request: HttpRequest) -> HttpResponse:
    return _sso(request, BINDING_REDIRECT)


@csrf_exempt  # the SP's browser POST carries no Blazon CSRF token; the message is verified instead
@require_POST
def sso_post(request: HttpRequest) -> HttpResponse:
    return _sso(request, BINDING_POST)


@never_cache
@require_GET
def resume(request: HttpRequest, pending_id: str) -> HttpResponse:
    """After the login: answer the pending request once, to its registered ACS."""
    pending = flow.pending_get(pending_id)
    if pending is None:
        return _error(
            request,
            gettext("This sign-in link was already used or has expired. Start again from the application."),
        )
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if pending.force_authn and _authenticated_since(request) < pending.created_at.timestamp():
        logout(request)
        return redirect_to_login(request.get_full_path())
    sp = pending.service_provider
    refusal = _refusal_for_user(request, sp)
    if refusal is not None:
        return refusal
    if not sp.enabled or not flow.pending_consume(pending):
        return _error(
            request,
            gettext("This sign-in link was already used or has expired. Start again from the application."),
        )
    return _answer(
        request,
        sp,
        acs_url=pending.acs_url,
        in_response_to=pending.request_id or None,
        relay_state=pending.relay_state,
        initiated_by="sp",
    )


def _send(request: HttpRequest, answer: dict) -> HttpResponse:
    if answer["binding"] == BINDING_REDIRECT:
        return HttpResponseRedirect(answer["url"])
    fields = {"SAMLResponse": answer["SAMLResponse"]}
    if answer["RelayState"]:
        fields["RelayState"] = answer["RelayState"]
    return _post_form(request, url=answer["url"], fields=fields)


def slo_continue(request: HttpRequest) -> HttpResponse:
    """The next step of this browser's single-logout chain: the next SP, or the end of the chain
    (the LogoutResponse to the SP that started it, Blazon's login page, or the logged-out page)."""
    step = slo.chain_next(request)
    if not step.done:
        if step.framed:
            response = render(
                request,
                "sso/slo_frame.html",
                {
                    "step": step,
                    "continue_url": reverse("sso:slo_continue"),
                    "binding_post": step.fields is not None,
                },
            )
            response["Cache-Control"] = "no-store"
            return allow_framing_of(request, response, step.url)  # this SP's origin, in a frame
        if step.fields is None:
            return HttpResponseRedirect(step.url)
        return _post_form(request, url=step.url, fields=step.fields)
    answer, summary = slo.chain_finish(request)
    if answer is not None:
        return _send(request, answer)
    if summary.get("sp") is None:  # the chain started at Blazon's "Log out" button
        if summary["skipped"] or summary["failed"]:
            messages.warning(request, _still_signed_in(summary))
        return HttpResponseRedirect(reverse("authn:login"))
    return render(request, "sso/logged_out.html", summary)


def _still_signed_in(summary: dict) -> str:
    names = ", ".join(sorted(set(summary["skipped"]) | set(summary["failed"])))
    return gettext(
        "You are logged out of Blazon. These applications may still have you signed in: %(names)s."
    ) % {"names": names}


@never_cache
def _slo(request: HttpRequest, binding: str) -> HttpResponse:
    if (request.GET if binding == BINDING_REDIRECT else request.POST).get("SAMLResponse") is not None:
        return _slo_response(request, binding)
    params = _params(request, binding)
    if params is None:
        return _error(request, gettext("This is not a SAML logout request or logout answer."))
    try:
        entity_id = idp.peek_issuer(params["SAMLRequest"], binding)
    except idp.SAMLRequestError as exc:
        return _error(request, exc.message)
    sp = _sp_by_entity_id(entity_id)
    if sp is None:
        return _error(request, gettext("This application is not registered with Blazon."))
    server = idp.server_for(sp, request)
    try:
        parsed = idp.parse_logout_request(server, sp, params, binding)
    except idp.SAMLRequestError as exc:
        return _error(request, exc.message)
    mismatch = slo.logout_request_mismatch(request, sp, parsed.message)
    if mismatch:
        # another user's or another session's NameID: nobody is logged out, the SP is told why
        logger.info("saml: refused LogoutRequest from %s: %s", sp.entity_id, mismatch)
        if not sp.slo_url:
            return _error(
                request, gettext("This logout request was refused: %(reason)s.") % {"reason": mismatch}
            )
        refusal = idp.build_logout_response(
            server, sp, parsed, params.get("RelayState", ""), status=slo.refusal_status(mismatch)
        )
        return _send(request, refusal)
    origin = {"sp": sp.pk, "request_xml": parsed.xml, "relay_state": params.get("RelayState", "")}
    # ends the Blazon session (every SP that trusts it must re-authenticate), keeping the others
    slo.chain_start(request, origin=origin, exclude_sp=sp.pk)
    return slo_continue(request)


def _slo_response(request: HttpRequest, binding: str) -> HttpResponse:
    """An SP's LogoutResponse to a LogoutRequest of the chain."""
    params = _params(request, binding, "SAMLResponse")
    if params is None:
        return _error(request, gettext("This is not a SAML logout answer (SAMLResponse too large)."))
    try:
        framed = slo.response_accept(request, params, binding)
    except slo.SLOError as exc:
        logger.info("saml: refused LogoutResponse: %s", exc.message)
        return _error(request, exc.message)
    if framed:
        # the answer came into the frame of Blazon's page: that page goes on with the chain
        return render(request, "sso/slo_frame_done.html", {"continue_url": reverse("sso:slo_continue")})
    return slo_continue(request)


@require_GET
@never_cache
def slo_chain_continue(request: HttpRequest) -> HttpResponse:
    """Where the page of a framed logout step goes when its SP answered or its time limit ran
    out: the next step of this browser's chain (or its end)."""
    if slo.chain_get(request) is None:
        return HttpResponseRedirect(reverse("authn:login"))
    return slo_continue(request)


@require_GET
@frameable_by_self  # an SP's answer may come into the frame of a framed logout step
def slo_redirect(request: HttpRequest) -> HttpResponse:
    return _slo(request, BINDING_REDIRECT)


@csrf_exempt  # the SP's browser POST carries no Blazon CSRF token; the message is verified instead
@require_POST
@frameable_by_self
def slo_post(request: HttpRequest) -> HttpResponse:
    return _slo(request, BINDING_POST)


@require_GET
def metadata(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(idp.metadata_xml(request), content_type="application/samlmetadata+xml")
    if request.GET.get("download"):
        response["Content-Disposition"] = 'attachment; filename="blazon-idp-metadata.xml"'
    return response


@workspace_required
@require_GET
def my_applications(request: HttpRequest) -> HttpResponse:
    apps = list(service_providers_for_user(request.user))
    return render(
        request, "sso/my_applications.html", {"apps": apps, "can_console": can(request.user, "view")}
    )


@workspace_required
@require_POST
@never_cache
def launch(request: HttpRequest, pk: int) -> HttpResponse:
    """IdP-initiated sign-in from "My applications" (a POST with the CSRF token)."""
    sp = ServiceProvider.objects.filter(pk=pk, enabled=True).first()
    if sp is None or sp.default_acs is None:
        return _error(request, gettext("This application does not exist or is disabled."), status=404)
    refusal = _refusal_for_user(request, sp)
    if refusal is not None:
        return refusal
    return _answer(
        request,
        sp,
        acs_url=sp.default_acs["url"],
        in_response_to=None,
        relay_state=sp.launch_url,
        initiated_by="idp",
    )
