"""The workspace's "Change password" page, its live rule check, and the pages that set a new
password without a session: the forgotten-password final step (``blazon.authcontract``) and
the help-desk reset link."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from blazon import authcontract
from blazon.errors import DomainError
from blazon.permissions import can
from directory.models import Source
from directory.views.common import report_domain_error, workspace_required
from passwords.forms import ChangePasswordForm, NewPasswordForm
from passwords.rules import password_check
from passwords.selectors import change_policy_for, password_expires_at, password_state, policy_for
from passwords.services import (
    PasswordChangeReason,
    password_change,
    reset_link_use,
    reset_link_user,
    reset_session_complete,
    reset_session_user,
)

MAX_CHECK_BODY = 4096


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url("workspace:home")


@never_cache
@require_http_methods(["GET", "POST"])
@workspace_required
def change(request: HttpRequest) -> HttpResponse:
    user = request.user
    policy = policy_for(user)
    change_policy = change_policy_for(user)
    state = password_state(user)
    expires_at = password_expires_at(user, policy=policy)
    form = ChangePasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            password_change(
                user=user,
                new_password=form.cleaned_data["new_password"],
                current_password=form.cleaned_data.get("current_password"),
                authenticated_at=request.session.get(authcontract.SESSION_AUTH_AT),
                actor=user,
                source=Source.WORKSPACE,
                reason=PasswordChangeReason.CHANGE,
            )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            user.refresh_from_db(fields=["password"])
            update_session_auth_hash(request, user)  # keep this session; the others end
            request.session.pop("blazon.password.check", None)
            messages.success(request, gettext("Your password was changed."))
            return redirect(_safe_next(request))
    context = {
        "form": form,
        "policy": policy,
        "change_policy": change_policy,
        "must_change": bool(state and state.must_change),
        "expires_at": expires_at,
        "expired": expires_at is not None and expires_at <= timezone.now(),
        "rules": password_check(user, "", policy=policy, history=False),
        "next": request.GET.get("next", ""),
        "can_console": can(user, "view"),
    }
    return render(request, "passwords/workspace/change.html", context)


def _candidate(request: HttpRequest) -> str | None:
    if len(request.body) > MAX_CHECK_BODY:
        return None
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return None
    value = data.get("password") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


@require_POST
@workspace_required
def check(request: HttpRequest) -> JsonResponse:
    """The rules of the user's policy against a candidate (JSON ``{"password": ...}``), without
    the history rule (checked on submission). POST with the CSRF token: never in a URL."""
    candidate = _candidate(request)
    if candidate is None:
        return JsonResponse(
            {"error": {"code": "invalid", "message": 'Send JSON {"password": "..."} (4 KB at most).'}},
            status=400,
        )
    rules = password_check(request.user, candidate, history=False)
    return JsonResponse({"ok": all(r.ok for r in rules), "rules": [r.as_dict() for r in rules]})


@require_POST
def check_reset(request: HttpRequest) -> JsonResponse:
    """The live check of the forgotten-password page, for the user the session verified."""
    user = reset_session_user(request.session)
    candidate = _candidate(request)
    if user is None or candidate is None:
        return JsonResponse(
            {"error": {"code": "invalid", "message": gettext("No password reset in progress.")}}, status=400
        )
    rules = password_check(user, candidate, history=False)
    return JsonResponse({"ok": all(r.ok for r in rules), "rules": [r.as_dict() for r in rules]})


def _to_login(request: HttpRequest, message: str) -> HttpResponse:
    messages.error(request, message)
    return redirect(resolve_url(settings.LOGIN_URL))


def _new_password_page(
    request: HttpRequest, user: Any, *, apply: Any, gone: set[str], check_url: str
) -> HttpResponse:
    """The last page of both resets: ``apply(new_password)`` sets it; a ``DomainError`` whose
    code is in ``gone`` means the reset can no longer be finished (back to the login)."""
    form = NewPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            apply(form.cleaned_data["new_password"])
        except DomainError as error:
            if error.code in gone:
                return _to_login(request, error.message)
            report_domain_error(request, error, form)
        else:
            messages.success(request, gettext("Your password was changed. Log in with your new password."))
            return redirect(resolve_url(settings.LOGIN_URL))
    context = {
        "form": form,
        "subject": user,
        "rules": password_check(user, "", history=False),
        "check_url": check_url,
        "title": gettext("Choose a new password"),
    }
    return render(request, "passwords/reset.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def reset_new(request: HttpRequest) -> HttpResponse:
    """Forgotten password, last step: a new password for the user the authenticator verified."""
    user = reset_session_user(request.session)
    if user is None:
        return _to_login(
            request, gettext("Your identity check is missing or has expired. Start the password reset again.")
        )
    return _new_password_page(
        request,
        user,
        apply=lambda password: reset_session_complete(
            session=request.session, new_password=password, source=Source.WORKSPACE
        ),
        gone={"reset_expired", "reset_used"},
        check_url=resolve_url("passwords:check_reset"),
    )


@never_cache
@require_http_methods(["GET", "POST"])
def reset_link(request: HttpRequest, token: str) -> HttpResponse:
    """The help-desk reset link: a new password, once, before the link expires."""
    try:
        user = reset_link_user(token)
    except DomainError as error:
        return _to_login(request, error.message)
    response = _new_password_page(
        request,
        user,
        apply=lambda password: reset_link_use(token=token, new_password=password, source=Source.WORKSPACE),
        gone={"invalid_link"},
        check_url="",
    )
    response["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response
