"""What every console and workspace view shares: the capability gate, list helpers, and the
one way a refused domain operation becomes a message instead of an error page."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse

from blazon.errors import DomainError
from blazon.permissions import can

PAGE_SIZE = 25


def capability_required(capability: str) -> Callable:
    """Anonymous users go to the login page; a logged-in user without ``capability`` gets 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not can(request.user, capability):
                raise PermissionDenied(f"This page needs the '{capability}' capability.")
            return view(request, *args, **kwargs)

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
            raise PermissionDenied("Your identity is not active or your login is locked.")
        return view(request, *args, **kwargs)

    return wrapped


def caps(user: Any) -> dict[str, bool]:
    """The capabilities templates show or hide buttons with (the views enforce them)."""
    return {
        name: can(user, name)
        for name in ("view", "view_audit", "manage_users", "manage_config", "remove_users")
    }


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


def list_page(
    request: HttpRequest,
    queryset: QuerySet,
    *,
    search: Iterable[str] = (),
    filters: Mapping[str, str] | None = None,
    orderings: Mapping[str, str] | None = None,
    default_order: str = "",
) -> dict[str, Any]:
    """Search (``q``), exact filters, ordering (``o``, ``-`` for descending) and paging of a list.

    ``filters`` maps a query parameter to a lookup; ``orderings`` maps a public sort key to a
    model field, so only whitelisted columns can be sorted on."""
    q = request.GET.get("q", "").strip()
    if q and search:
        cond = Q()
        for field in search:
            cond |= Q(**{f"{field}__icontains": q})
        queryset = queryset.filter(cond)
    active: dict[str, str] = {}
    for param, lookup in (filters or {}).items():
        value = request.GET.get(param, "").strip()
        if value:
            if lookup.endswith("__isnull"):
                queryset = queryset.filter(**{lookup: value in {"1", "true", "yes"}})
            else:
                queryset = queryset.filter(**{lookup: value})
            active[param] = value
    order = request.GET.get("o", default_order)
    key = order.lstrip("-")
    if orderings and key in orderings:
        field = orderings[key]
        queryset = queryset.order_by(f"-{field}" if order.startswith("-") else field, "pk")
    else:
        order = ""
    paginator = Paginator(queryset, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return {
        "page_obj": page,
        "object_list": page.object_list,
        "q": q,
        "active_filters": active,
        "order": order,
    }
