"""The self-service workspace: my profile and my accesses, each with the reason I have it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext, ngettext

from blazon.panels import WORKSPACE_HOME, panels
from blazon.permissions import can
from directory.models import AccountRoleGrant, EntitlementMembership, MembershipRoleGrant
from directory.selectors import user_attribute_rows
from directory.views.common import workspace_required


def _why(manual: bool, roles: list[str]) -> str:
    parts = []
    if manual:
        parts.append(gettext("manual"))
    if roles:
        parts.append(
            ngettext("granted by role %(roles)s", "granted by roles %(roles)s", len(roles))
            % {"roles": ", ".join(roles)}
        )
    return "; ".join(parts) or gettext("manual")


def _roles(grant_model: Any, field: str, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    rows = grant_model.objects.filter(**{f"{field}__in": ids}).values_list(f"{field}_id", "role__name")
    for obj_id, name in rows.order_by("role__name"):
        out.setdefault(obj_id, []).append(name)
    return out


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {"can_console": can(request.user, "view"), **extra}


@workspace_required
def home(request: HttpRequest) -> HttpResponse:
    me = request.user
    context = _context(
        request,
        me=me,
        attributes=user_attribute_rows(me),
        n_accounts=me.accounts.count(),
        n_roles=me.role_memberships.count(),
        n_entitlements=EntitlementMembership.objects.filter(account__owner=me).count(),
        # what needs me: panels the apps above the directory register (blazon/panels.py)
        panels=panels(WORKSPACE_HOME, me),
    )
    return render(request, "workspace/home.html", context)


@workspace_required
def accesses(request: HttpRequest) -> HttpResponse:
    me = request.user
    accounts = list(me.accounts.select_related("resource").order_by("resource__name", "identifier"))
    account_roles = _roles(AccountRoleGrant, "account", [a.pk for a in accounts])
    memberships = list(
        EntitlementMembership.objects.filter(account__owner=me)
        .select_related("entitlement", "account__resource")
        .order_by("account__resource__name", "entitlement__name")
    )
    membership_roles = _roles(MembershipRoleGrant, "membership", [m.pk for m in memberships])
    role_memberships = me.role_memberships.select_related("role").order_by("role__name")
    context = _context(
        request,
        accounts=[(a, _why(a.manual, account_roles.get(a.pk, []))) for a in accounts],
        memberships=[(m, _why(m.manual, membership_roles.get(m.pk, []))) for m in memberships],
        role_memberships=[
            (rm, gettext("assignment policy") if rm.management == "ASSIGNMENT_POLICY" else gettext("manual"))
            for rm in role_memberships
        ],
    )
    return render(request, "workspace/accesses.html", context)
