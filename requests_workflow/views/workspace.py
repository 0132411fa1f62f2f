"""Workspace request pages: the self-service catalog, the cart, my requests, and the page of an
approval task ("My tasks" itself is the worklist's, ``worklist.views.workspace``).

Every page is for the logged-in ACTIVE user (``workspace_required``); a request or task that is
not theirs is a 404, so its existence is not disclosed. Writes go through the request services,
which check again who may do what."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from blazon.errors import DomainError, ValidationFailed
from blazon.ids import parse_id
from blazon.permissions import can
from directory.models import Entitlement, Resource, Role, Source, User, UserStatus
from directory.selectors import catalog_holdings, role_contents
from directory.views.common import workspace_required
from requests_workflow.models import Request, RequestStatus, RequestType
from requests_workflow.selectors import open_tasks_for
from requests_workflow.services.requests import request_cancel, request_create
from requests_workflow.types import SPECS
from requests_workflow.views.common import (
    REQUEST_RELATED,
    access_day,
    cancelable,
    request_object,
    timeline,
)
from requests_workflow.views.console_grants import resolve_pick
from worklist.models import Task

CART_KEY = "blazon_request_cart"
CART_LIMIT = 25
KINDS = {
    "entitlement": (Entitlement, RequestType.GRANT_ENTITLEMENT, _("Entitlement")),
    "role": (Role, RequestType.GRANT_ROLE, _("Role")),
    "resource": (Resource, RequestType.CREATE_ACCOUNT, _("Account")),
}
SRC = Source.WORKSPACE


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context.setdefault("can_console", can(request.user, "view"))
    context.setdefault("cart_count", len(_cart(request)))
    context.setdefault("task_count", open_tasks_for(request.user).count())
    return render(request, template, context, status=status)


# --- cart (in the session) -------------------------------------------------------------------


def _cart(request: HttpRequest) -> list[dict[str, Any]]:
    raw = request.session.get(CART_KEY) or []
    return [i for i in raw if isinstance(i, dict) and i.get("kind") in KINDS and isinstance(i.get("id"), int)]


def _save_cart(request: HttpRequest, items: list[dict[str, Any]]) -> None:
    request.session[CART_KEY] = items
    request.session.modified = True


def _catalog_object(kind: str, pk: int) -> Any:
    """A self-service object of the catalog, or 404."""
    if kind not in KINDS:
        raise Http404("Unknown catalog item.")
    model = KINDS[kind][0]
    qs = model.objects.filter(self_service=True)
    if model is Entitlement:
        qs = qs.select_related("resource")
    return get_object_or_404(qs, pk=pk)


def _cart_items(request: HttpRequest) -> list[dict[str, Any]]:
    items = []
    for entry in _cart(request):
        model, request_type, label = KINDS[entry["kind"]]
        qs = model.objects.filter(self_service=True)
        if model is Entitlement:
            qs = qs.select_related("resource")
        obj = qs.filter(pk=entry["id"]).first()
        if obj is not None:
            items.append(
                {"kind": entry["kind"], "id": obj.pk, "obj": obj, "type": request_type, "label": label}
            )
    return items


# --- catalog ---------------------------------------------------------------------------------


@workspace_required
def catalog(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    kind = request.GET.get("kind", "")
    in_cart = {(i["kind"], i["id"]) for i in _cart(request)}
    held = catalog_holdings(request.user)
    for_others = _has_reports(request.user)
    sections = []
    for key, (model, _type, label) in KINDS.items():
        if kind and kind != key:
            continue
        qs = model.objects.filter(self_service=True)
        fields = ["name", "description"]
        if model is Entitlement:
            qs = qs.select_related("resource")
            fields += ["identifier", "resource__name"]
        else:
            fields.append("code")
        if q:
            cond = Q()
            for field in fields:
                cond |= Q(**{f"{field}__icontains": q})
            qs = qs.filter(cond)
        order = ("resource__name", "name") if model is Entitlement else ("name",)
        rows = list(qs.order_by(*order)[:100])
        # a role says what it would give before anyone asks for it
        gives = role_contents([r.pk for r in rows]) if key == "role" else {}
        sections.append(
            {
                "kind": key,
                "label": {
                    "entitlement": _("Entitlements"),
                    "role": _("Roles"),
                    "resource": _("Applications"),
                }[key],
                "what": label,
                "rows": [
                    (obj, (key, obj.pk) in in_cart, held[key].get(obj.pk), gives.get(obj.pk)) for obj in rows
                ],
            }
        )
    context = {"q": q, "kind": kind, "sections": sections, "for_others": for_others}
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "catalog-results":
        return _render(request, "workspace/requests/_catalog_results.html", context)
    return _render(request, "workspace/requests/catalog.html", context)


@workspace_required
@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind", "")
    pk = parse_id(request.POST.get("id", ""))
    if pk is None:
        raise Http404("Unknown catalog item.")
    obj = _catalog_object(kind, pk)
    items = _cart(request)
    how = catalog_holdings(request.user)[kind].get(pk)
    if any(i["kind"] == kind and i["id"] == pk for i in items):
        messages.info(request, gettext("%(name)s is already in your cart.") % {"name": obj.name})
    elif how and not _has_reports(request.user):
        messages.info(
            request,
            gettext("You already have %(name)s (%(how)s): nothing to request.")
            % {"name": obj.name, "how": how},
        )
    elif len(items) >= CART_LIMIT:
        messages.error(
            request,
            gettext("Your cart holds at most %(limit)s items: submit it first.") % {"limit": CART_LIMIT},
        )
    else:
        items.append({"kind": kind, "id": pk})
        _save_cart(request, items)
        messages.success(request, gettext("%(name)s added to your cart.") % {"name": obj.name})
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/workspace/") else "workspace_requests:catalog")


@workspace_required
@require_POST
def cart_remove(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind", "")
    pk = request.POST.get("id", "")
    _save_cart(request, [i for i in _cart(request) if not (i["kind"] == kind and str(i["id"]) == pk)])
    messages.success(request, gettext("Removed from your cart."))
    return redirect("workspace_requests:cart")


def _parse_day(value: str, field: str, errors: dict[str, str]) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[field] = gettext("Give a date as YYYY-MM-DD.")
        return None


def _has_reports(me: User) -> bool:
    """May ``me`` request for someone else from the cart (a manager with ACTIVE reports)?"""
    return User.objects.filter(manager=me, status=UserStatus.ACTIVE).exists()


def _beneficiaries(me: User) -> list[User]:
    """Me, and for a manager the ACTIVE people who report to them."""
    reports = User.objects.filter(manager=me, status=UserStatus.ACTIVE).order_by("username")
    return [me, *reports]


@workspace_required
@require_http_methods(["GET", "POST"])
def cart(request: HttpRequest) -> HttpResponse:
    me = request.user
    items = _cart_items(request)
    people = _beneficiaries(me)
    errors: dict[str, str] = {}
    # the help desk (and administrators) may request for anyone: a search-as-you-type field
    anyone = can(me, "manage_users")
    values = {"justification": "", "start": "", "end": "", "beneficiary": str(me.pk), "someone": ""}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip()[:300] for k in values}
        values["beneficiary"] = values["beneficiary"] or str(me.pk)
        beneficiary = next((p for p in people if str(p.pk) == values["beneficiary"]), None)
        if values["someone"]:
            beneficiary = None
            if not anyone:
                errors["beneficiary"] = gettext(
                    "Only the help desk may request for someone who does not report to you."
                )
            else:
                try:
                    beneficiary = resolve_pick("user", values["someone"])
                except forms.ValidationError as exc:
                    errors["beneficiary"] = " ".join(exc.messages)
        elif beneficiary is None:
            errors["beneficiary"] = gettext("Choose yourself or one of the people who report to you.")
        if not items:
            errors["cart"] = gettext("Your cart is empty.")
        if not values["justification"]:
            errors["justification"] = gettext("Say why you need this access.")
        start = _parse_day(values["start"], "start", errors)
        end = _parse_day(values["end"], "end", errors)
        start_at, end_at = access_day(start), access_day(end, end=True)  # today: from its approval
        if start and end and end < start:
            errors["end"] = gettext("The end date must be on or after the start date.")
        if not errors and beneficiary is not None:
            done, kept = [], []
            held = catalog_holdings(beneficiary)
            yourself = beneficiary.pk == me.pk
            for item in items:
                how = held[item["kind"]].get(item["id"])
                if how:  # refused before any request is made, and out of the cart
                    held_text = (
                        gettext("%(name)s: You already have it (%(how)s); removed from your cart.")
                        if yourself
                        else gettext("%(name)s: %(whom)s already has it (%(how)s); removed from your cart.")
                    )
                    messages.error(
                        request, held_text % {"name": item["obj"].name, "whom": str(beneficiary), "how": how}
                    )
                    continue
                try:
                    req = request_create(
                        actor=me,
                        source=SRC,
                        request_type=item["type"],
                        beneficiary=beneficiary,
                        **{item["kind"]: item["obj"]},
                        justification=values["justification"],
                        start_at=start_at,
                        end_at=end_at,
                    )
                    done.append(req)
                except DomainError as exc:
                    kept.append({"kind": item["kind"], "id": item["id"]})
                    messages.error(request, f"{item['obj'].name}: {exc.message}")
            _save_cart(request, kept)
            if done:
                numbers = ", ".join(f"#{r.pk}" for r in done)
                messages.success(
                    request,
                    gettext("Submitted %(count)s request(s): %(numbers)s.")
                    % {"count": len(done), "numbers": numbers},
                )
                return redirect("workspace_requests:mine")
            items = _cart_items(request)
            if not items:
                errors["cart"] = gettext("Nothing is left in your cart to request.")
    context = {"items": items, "people": people, "errors": errors, "values": values, "anyone": anyone}
    return _render(request, "workspace/requests/cart.html", context, status=400 if errors else 200)


# --- my requests -----------------------------------------------------------------------------


def _my_requests(user: User):
    return Request.objects.filter(Q(requester=user) | Q(beneficiary=user)).select_related(*REQUEST_RELATED)


@workspace_required
def my_requests(request: HttpRequest) -> HttpResponse:
    qs = _my_requests(request.user)
    status = request.GET.get("status", "")
    if status in RequestStatus.values:
        qs = qs.filter(status=status)
    page = Paginator(qs.order_by("-id"), 25).get_page(request.GET.get("page"))
    rows = [(r, request_object(r)) for r in page.object_list]
    context = {"page_obj": page, "rows": rows, "statuses": RequestStatus.choices, "status": status}
    return _render(request, "workspace/requests/mine.html", context)


@workspace_required
def my_request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    req = get_object_or_404(_my_requests(request.user), pk=pk)
    context = {
        "req": req,
        "what": request_object(req),
        "stages": timeline(req),
        "can_cancel": cancelable(req) and req.requester_id == request.user.pk,
        "tasks": req.tasks.select_related("queue", "decided_by", "on_behalf_of")
        .prefetch_related("assignees")
        .order_by("id"),
    }
    return _render(request, "workspace/requests/detail.html", context)


@workspace_required
@require_POST
def my_request_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    req = get_object_or_404(Request, pk=pk, requester=request.user)
    try:
        request_cancel(actor=request.user, source=SRC, request=req, reason=request.POST.get("reason", ""))
        messages.success(request, gettext("Request #%(id)s canceled.") % {"id": req.pk})
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("workspace_requests:detail", pk=req.pk)


# --- the pages of approval and SoD tasks (hooks of the worklist's task pages) ----------------
# "My tasks" and the decisions are the worklist's (``worklist.views.workspace``); this app
# registers, for its task kinds, the task page with the request's details, the access period an
# approver may change, and comments on the request's history.


def approval_task_page(request: HttpRequest, task: Task) -> HttpResponse:
    """The page of an approval or SoD task: the request, its stages, the decision forms."""
    req = get_object_or_404(Request.objects.select_related(*REQUEST_RELATED), pk=task.request_id)
    context = {
        "task": task,
        "req": req,
        "what": request_object(req),
        "stages": timeline(req),
        "time_bound": SPECS[req.type].time_bound,
    }
    return _render(request, "workspace/requests/task.html", context)


def approval_decision_details(request: HttpRequest, task: Task) -> dict[str, Any]:
    """The access period the approver set on the approve form (``start_at``, ``end_at``)."""
    req = Request.objects.filter(pk=task.request_id).first()
    if req is None:
        return {}  # the decision service says why a task of no request cannot be decided
    start_at, end_at = _new_period(request, req)
    return {"start_at": start_at, "end_at": end_at}


def page_context(request: HttpRequest) -> dict[str, Any]:
    """What the request tabs of the worklist's workspace pages show: the cart's size."""
    return {"cart_count": len(_cart(request))}


def _new_period(request: HttpRequest, req: Request) -> tuple[datetime | None, datetime | None]:
    """The access period an approver set on the approve form, where it differs (by day) from the
    requested one; the service checks it stays within the requested period."""
    errors: dict[str, str] = {}
    start = _parse_day(request.POST.get("start", ""), "start", errors)
    end = _parse_day(request.POST.get("end", ""), "end", errors)
    if errors:
        raise ValidationFailed(gettext("Give the dates as YYYY-MM-DD."))
    tz = timezone.get_current_timezone()
    current_start = timezone.localtime(req.start_at, tz).date() if req.start_at else None
    current_end = timezone.localtime(req.end_at, tz).date() if req.end_at else None
    start_at = end_at = None
    if start and start != current_start:
        start_at = timezone.make_aware(datetime.combine(start, time.min), tz)
    if end and end != current_end:
        end_at = timezone.make_aware(datetime.combine(end, time(23, 59)), tz)
    return start_at, end_at
