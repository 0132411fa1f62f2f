"""Out-of-office pages: the workspace page where a user sets and revokes their own delegation and
sees the ones given to them, and the console actions behind the "Out of office" tab of a user's
page (an administrator or help desk sets or revokes a delegation for that user).

The form only turns the dates into moments; ``delegation_create``/``delegation_revoke`` hold the
rules and check again who may do what."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from blazon.errors import DomainError
from directory.models import Source, User
from directory.views.common import capability_required, workspace_required
from requests_workflow.models import DELEGATION_MAX_DAYS, Delegation, DelegationScope
from requests_workflow.selectors import user_delegations
from requests_workflow.services.delegation import delegation_create, delegation_revoke
from requests_workflow.views.workspace import _render as render_workspace

FIELDS = ("delegate", "start", "end", "scope", "reason")


def _day(raw: str, name: str, errors: dict[str, str]) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = gettext("Give a date as YYYY-MM-DD.")
        return None


def parse_form(data: Any) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """(service arguments, errors by field, the values to show again) from the form: the
    delegation starts at the start of the start day (now when empty or today) and ends at the end
    of the end day, in the server's time zone."""
    values = {k: (data.get(k) or "").strip() for k in FIELDS}
    values["scope"] = values["scope"] or DelegationScope.ALL
    errors: dict[str, str] = {}
    delegate = None
    if not values["delegate"]:
        errors["delegate"] = gettext("Who covers for you? Give their username.")
    else:
        delegate = User.objects.filter(username=values["delegate"]).first()
        if delegate is None:
            errors["delegate"] = gettext("No user with username %(username)r.") % {
                "username": values["delegate"]
            }
    start, end = _day(values["start"], "start", errors), _day(values["end"], "end", errors)
    if end is None and "end" not in errors:
        errors["end"] = gettext("An end date is required: a delegation always ends.")
    tz = timezone.get_current_timezone()
    start_at = None
    if start is not None and start > timezone.localdate():
        start_at = timezone.make_aware(datetime.combine(start, time.min), tz)
    end_at = timezone.make_aware(datetime.combine(end, time(23, 59)), tz) if end else None
    args = {
        "delegate": delegate,
        "start_at": start_at,
        "end_at": end_at,
        "scope": values["scope"],
        "reason": values["reason"],
    }
    return args, errors, values


def _rows(qs: Any) -> list[tuple[Delegation, str]]:
    now = timezone.now()
    return [(d, d.state(now)) for d in qs]


def delegations_context(user: User) -> dict[str, Any]:
    """What the workspace page and the console tab show for ``user``."""
    given, received = user_delegations(user)
    return {
        "given": _rows(given[:50]),
        "received": _rows(received[:50]),
        "scopes": DelegationScope.choices,
        "max_days": DELEGATION_MAX_DAYS,
    }


def _field_errors(exc: DomainError) -> dict[str, str]:
    names = {"start_at": "start", "end_at": "end"}
    return {names.get(k, k): " ".join(v) for k, v in exc.fields.items()}


# --- workspace --------------------------------------------------------------------------------


@workspace_required
@require_http_methods(["GET", "POST"])
def out_of_office(request: HttpRequest) -> HttpResponse:
    me = request.user
    errors: dict[str, str] = {}
    values = {k: "" for k in FIELDS} | {"scope": DelegationScope.ALL}
    if request.method == "POST":
        args, errors, values = parse_form(request.POST)
        if not errors:
            try:
                d = delegation_create(actor=me, source=Source.WORKSPACE, delegator=me, **args)
            except DomainError as exc:
                errors = _field_errors(exc) or {"form": exc.message}
                errors.setdefault("form", exc.message)
            else:
                messages.success(
                    request,
                    gettext("%(username)s covers for you from %(start)s to %(end)s.")
                    % {
                        "username": d.delegate.username,
                        "start": f"{timezone.localtime(d.start_at):%Y-%m-%d %H:%M}",
                        "end": f"{timezone.localtime(d.end_at):%Y-%m-%d %H:%M}",
                    },
                )
                return redirect("workspace_requests:out_of_office")
    context = {**delegations_context(me), "errors": errors, "values": values}
    return render_workspace(
        request, "workspace/requests/out_of_office.html", context, status=400 if errors else 200
    )


@workspace_required
@require_POST
def out_of_office_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    delegation = get_object_or_404(Delegation, pk=pk, delegator=request.user)
    try:
        delegation_revoke(actor=request.user, source=Source.WORKSPACE, delegation=delegation)
        messages.success(
            request,
            gettext("Delegation to %(username)s revoked.") % {"username": delegation.delegate.username},
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("workspace_requests:out_of_office")


# --- console ----------------------------------------------------------------------------------


def _user_tab(user_id: int) -> str:
    return reverse("console:user_detail", args=[user_id]) + "?tab=delegations"


@capability_required("manage_users")
@require_POST
def console_delegation_add(request: HttpRequest, user_pk: int) -> HttpResponse:
    delegator = get_object_or_404(User, pk=user_pk)
    args, errors, _values = parse_form(request.POST)
    if errors:
        for message in errors.values():
            messages.error(request, message)
        return redirect(_user_tab(delegator.pk))
    try:
        d = delegation_create(actor=request.user, source=Source.CONSOLE, delegator=delegator, **args)
        messages.success(
            request,
            gettext("%(delegate)s covers for %(username)s until %(end)s.")
            % {
                "delegate": d.delegate.username,
                "username": delegator.username,
                "end": f"{timezone.localtime(d.end_at):%Y-%m-%d %H:%M}",
            },
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(_user_tab(delegator.pk))


@capability_required("manage_users")
@require_POST
def console_delegation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    delegation = get_object_or_404(Delegation, pk=pk)
    try:
        delegation_revoke(
            actor=request.user,
            source=Source.CONSOLE,
            delegation=delegation,
            reason=request.POST.get("reason", ""),
        )
        messages.success(request, gettext("Delegation #%(id)s revoked.") % {"id": delegation.pk})
    except DomainError as exc:
        messages.error(request, exc.message)
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/console/") else _user_tab(delegation.delegator_id))
