"""Console pages (lockouts and alerts, security settings, a user's web sessions) and the
workspace's "My sessions". Each console page asks ``can`` for one capability: ``view`` to read,
``manage_users`` to release a lock or end someone's sessions, ``manage_config`` for settings."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from blazon.console import (
    ObjectActionView,
    SettingsEditView,
    capability_required,
    render_console,
    workspace_required,
)
from blazon.ids import parse_id
from blazon.permissions import can
from directory.models import User
from security.forms import SecuritySettingsForm
from security.models import SecurityAlert, Throttle
from security.services import bruteforce, sessions
from security.services.sessions import SESSION_META

# --- console: lockouts ---------------------------------------------------------------------


@capability_required("view")
def lockouts(request: HttpRequest) -> HttpResponse:
    context = {
        "throttles": list(bruteforce.active_throttles()),
        "alerts": list(SecurityAlert.objects.all()[:50]),
        "can_release": can(request.user, "manage_users"),
    }
    return render_console(request, "security/console/lockouts.html", context)


lockout_release = ObjectActionView.as_view(
    model=Throttle,
    capability="manage_users",
    action=bruteforce.throttle_release,
    list_route="console_security:lockouts",
    done_message=gettext_lazy("Released: {name}."),
)

settings_edit = SettingsEditView.as_view(
    current=bruteforce.security_settings,
    update=bruteforce.settings_update,
    form_class=SecuritySettingsForm,
    template_name="security/console/settings.html",
    list_route="console_security:settings",
    saved_message=gettext_lazy("Security settings saved."),
    invalid_message=gettext_lazy("The settings were not saved: see the problems below."),
    invalid_status=400,
)


# --- console: a user's web sessions --------------------------------------------------------


@capability_required("view")
def user_sessions(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    context = {
        "subject": user,
        "sessions": list(sessions.user_sessions(user)),
        "can_end": can(request.user, "manage_users"),
    }
    return render_console(request, "security/console/user_sessions.html", context)


@require_POST
@capability_required("manage_users")
def user_sessions_end(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    key = request.POST.get("session", "")
    keys = None
    if key:
        keys = list(
            sessions.user_sessions(user).filter(pk=parse_id(key) or 0).values_list("session_key", flat=True)
        )
        if not keys:
            messages.error(request, gettext("That session is no longer open."))
            return redirect("console_security:user_sessions", pk=user.pk)
    ended = sessions.sessions_end(
        actor=request.user, user=user, reason="ended by an administrator", source="console", keys=keys
    )
    messages.success(
        request,
        ngettext("%(n)s session of %(username)s ended.", "%(n)s sessions of %(username)s ended.", ended)
        % {"n": ended, "username": user.username},
    )
    return redirect("console_security:user_sessions", pk=user.pk)


# --- workspace: my sessions ----------------------------------------------------------------


def _current_id(request: HttpRequest) -> int | None:
    meta = request.session.get(SESSION_META)
    return meta.get("id") if isinstance(meta, dict) else None


@workspace_required
def my_sessions(request: HttpRequest) -> HttpResponse:
    context = {
        "can_console": can(request.user, "view"),
        "sessions": list(sessions.user_sessions(request.user)),
        "current_id": _current_id(request),
    }
    return render(request, "security/workspace/sessions.html", context)


@require_POST
@workspace_required
def my_sessions_end(request: HttpRequest) -> HttpResponse:
    """End one of my sessions (``session``), all the others (``scope=others``) or all of them
    including this one (``scope=all``)."""
    me, current = request.user, request.session.session_key or ""
    scope = request.POST.get("scope", "")
    if scope == "all":
        sessions.sessions_end(actor=me, user=me, reason="log out everywhere", source="workspace")
        logout(request)
        return redirect("authn:login")
    if scope == "others":
        ended = sessions.sessions_end(
            actor=me, user=me, reason="log out other sessions", source="workspace", except_key=current
        )
        messages.success(
            request,
            ngettext("%(n)s other session ended.", "%(n)s other sessions ended.", ended) % {"n": ended},
        )
        return redirect("workspace_security:sessions")
    key = request.POST.get("session", "")
    row = sessions.user_sessions(me).filter(pk=parse_id(key) or 0).first()
    if row is None:
        messages.error(request, gettext("That session is no longer open."))
        return redirect("workspace_security:sessions")
    sessions.sessions_end(
        actor=me, user=me, reason="ended by the user", source="workspace", keys=[row.session_key]
    )
    if row.session_key == current:
        logout(request)
        return redirect("authn:login")
    messages.success(request, gettext("The session was ended."))
    return redirect("workspace_security:sessions")
