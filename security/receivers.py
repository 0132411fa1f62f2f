"""Plumbing from the login flow and the directory's life cycle to the security services
(authcontract's ``login_attempt``, Django's login signals, directory's ``user_access_ended``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from blazon.authcontract import login_attempt
from directory.signals import user_access_ended
from security.services import bruteforce, sessions


@receiver(login_attempt, dispatch_uid="security.login_attempt")
def on_login_attempt(sender: Any, request: Any = None, username: str = "", **kwargs: Any) -> None:
    bruteforce.login_check(ip=sessions.client_ip(request) if request else None, username=username)


@receiver(user_login_failed, dispatch_uid="security.login_failed")
def on_login_failed(sender: Any, credentials: dict | None = None, request: Any = None, **kwargs: Any) -> None:
    username = (credentials or {}).get("username", "")
    bruteforce.login_failure_record(
        ip=sessions.client_ip(request) if request is not None else None,
        username=username,
        reason=str(kwargs.get("reason") or "password"),
    )


@receiver(user_logged_in, dispatch_uid="security.logged_in")
def on_logged_in(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    if request is None or user is None or not hasattr(request, "session"):
        return
    bruteforce.login_success_record(ip=sessions.client_ip(request), username=user.get_username())
    sessions.session_register(request=request, user=user)


@receiver(user_logged_out, dispatch_uid="security.logged_out")
def on_logged_out(sender: Any, request: Any = None, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        sessions.session_forget(request.session.session_key)


@receiver(user_access_ended, dispatch_uid="security.user_access_ended")
def on_user_access_ended(
    sender: Any, user: Any, reason: str, actor: Any = None, source: str = "automatic", **kwargs: Any
) -> None:
    sessions.sessions_end(actor=actor, user=user, reason=reason, source=source)
