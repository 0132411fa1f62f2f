"""Sends a logged-in user whose password has expired, or who must change a temporary one, to
the workspace's "Change password" page until they do.

The verdict is kept in the session for a few minutes (and never past the expiry time), so a
normal request costs no query: a password change elsewhere ends this session anyway (Django's
session auth hash), and a change made here clears the verdict."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext

from passwords.selectors import password_expires_at, password_state

SESSION_KEY = "blazon.password.check"
RECHECK_SECONDS = 300
#: Paths a user who must change their password may still reach.
EXEMPT_PREFIXES = (
    "/static/",
    "/password/",
    "/healthz",
    "/readyz",
    "/api/",
    "/o/",
    "/console/logout/",
    "/console/login/",
    "/login/",  # the authenticator's flow (authn): its factor steps come before any page
)


def _verdict(request: HttpRequest) -> bool:
    """True when the user must change their password now (cached in the session)."""
    cached = request.session.get(SESSION_KEY)
    if isinstance(cached, dict) and cached.get("until", 0) > time.time():
        return bool(cached.get("must"))
    return remember_verdict(request, request.user)


def remember_verdict(request: HttpRequest, user: Any) -> bool:
    """Work the verdict out and keep it in the session; also run at login (``user_logged_in``),
    so the requests that follow a login cost no query."""
    now = time.time()
    state = password_state(user)
    expires = password_expires_at(user)
    must = bool(state and state.must_change) or (expires is not None and expires.timestamp() <= now)
    until = now + RECHECK_SECONDS
    if expires is not None and not must:
        until = min(until, expires.timestamp())
    request.session[SESSION_KEY] = {"must": must, "until": until}
    return must


class PasswordChangeRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not request.path.startswith(EXEMPT_PREFIXES):
            change_url = reverse("passwords:change")
            if not request.path.startswith(change_url) and _verdict(request):
                if request.headers.get("accept", "").startswith("application/json"):
                    return JsonResponse(
                        {
                            "error": {
                                "code": "password_change_required",
                                "message": gettext("Change your password first."),
                            }
                        },
                        status=403,
                    )
                return redirect(f"{change_url}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


def on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        remember_verdict(request, user)
