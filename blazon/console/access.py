"""Who may see a console or workspace page, and how a page is drawn: the capability gate, the
capabilities templates show buttons with, ``render_console`` and the one way a refused domain
operation becomes a message instead of an error page."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from blazon.errors import DomainError
from blazon.permissions import can

CAPABILITIES = ("view", "view_audit", "manage_users", "manage_config", "remove_users")


def capability_check(request: HttpRequest, capability: str) -> HttpResponse | None:
    """None when the user may go on; the login redirect for anonymous users; 403 (raised) for a
    logged-in user without ``capability``."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not can(request.user, capability):
        raise PermissionDenied(
            _("This page needs the '%(capability)s' capability.") % {"capability": capability}
        )
    return None


def capability_required(capability: str) -> Callable:
    """Anonymous users go to the login page; a logged-in user without ``capability`` gets 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return capability_check(request, capability) or view(request, *args, **kwargs)

        return wrapped

    return decorator


def workspace_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The workspace is for any ACTIVE user whose login is not locked."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if getattr(user, "status", "") != "ACTIVE" or getattr(user, "login_locked", False):
            raise PermissionDenied(_("Your identity is not active or your login is locked."))
        return view(request, *args, **kwargs)

    return wrapped


def caps(user: Any) -> dict[str, bool]:
    """The capabilities templates show or hide buttons with (the views enforce them)."""
    return {name: can(user, name) for name in CAPABILITIES}


def render_console(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """A console page: the template with ``caps`` for the buttons."""
    context.setdefault("caps", caps(request.user))
    return render(request, template, context, status=status)


def report_domain_error(request: HttpRequest, error: DomainError, form: Any = None) -> None:
    """Show a refused operation to the user: on the form's fields when it has them."""
    if form is not None:
        for field, problems in (error.fields or {}).items():
            target = field if field in form.fields else None
            for problem in problems:
                form.add_error(target, problem)
        if not error.fields:
            form.add_error(None, error.message)
    messages.error(request, error.message)
