"""Enforces the web-session limits on every authenticated request, without a store or database
read: the limits travel in the session; last-seen is written at most once a minute."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

from security.services.sessions import (
    SESSION_META,
    session_problem,
    session_register,
    session_touch,
    sessions_end,
)


class SessionControlMiddleware:
    """After ``AuthenticationMiddleware``: ends a session past its absolute or idle timeout, or
    used from another browser (fingerprint) or network (IP binding), and sends the user to the
    login page; it is audited."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            meta = request.session.get(SESSION_META)
            if not isinstance(meta, dict):
                session_register(request=request, user=user)
            else:
                now = time.time()
                problem = session_problem(request, meta, now)
                if problem:
                    sessions_end(
                        actor=None,
                        user=user,
                        reason=problem,
                        source="automatic",
                        keys=[request.session.session_key or ""],
                    )
                    logout(request)
                    return redirect_to_login(request.get_full_path())
                if not session_touch(request, meta, now):
                    logout(request)  # ended from another session or by an administrator
                    return redirect_to_login(request.get_full_path())
        return self.get_response(request)
