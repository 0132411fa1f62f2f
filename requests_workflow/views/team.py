"""The workspace's "My team" (issue 13 item 2; seed 002: a user is activated, inactivated or
revoked "manualmente, via Workspace, pelo usuário responsável").

A manager sees the people who report to them, what each holds and why, and the requests in
flight for them; from a person's page they inactivate, activate or revoke that person, revoke a
role or an entitlement given by hand, or request access for them (the cart's "For"). Every
action is a request with source ``workspace``, so validation and approval policies apply;
only the manager's own direct reports are reachable (404 for anyone else: who reports to whom
is not disclosed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from blazon.errors import DomainError
from directory.models import (
    EntitlementMembership,
    Management,
    RoleMembership,
    Source,
    User,
    UserStatus,
)
from directory.services.lifecycle import user_actions_allowed
from directory.views.common import workspace_required
from requests_workflow.models import PENDING_STATUSES, Request, RequestType
from requests_workflow.services.requests import request_create
from requests_workflow.views.common import REQUEST_RELATED, request_outcome
from requests_workflow.views.console_actions import ActionForm
from requests_workflow.views.workspace import _render

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

IN_FLIGHT = PENDING_STATUSES

#: What a manager may do to a report's identity, and what each means (the console's wording).
TEAM_ACTIONS: dict[str, tuple[str, StrOrPromise, StrOrPromise]] = {
    "inactivate": (
        RequestType.INACTIVATE_USER,
        _("Inactivate"),
        _(
            "Their accounts are disabled in the applications until they are activated again (leave, "
            "long absence). Nothing is deleted."
        ),
    ),
    "activate": (
        RequestType.ACTIVATE_USER,
        _("Activate"),
        _("They become active again and their regular accounts are re-enabled."),
    ),
    "revoke": (
        RequestType.REVOKE_USER,
        _("Revoke"),
        _(
            "They leave: their accounts are revoked in the applications and their roles removed. A "
            "revoked person cannot be activated again."
        ),
    ),
}


def _team(me: User) -> Any:
    return User.objects.filter(manager=me).exclude(status=UserStatus.REMOVED)


def _member(me: User, pk: int) -> User:
    return get_object_or_404(_team(me), pk=pk)


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]  # workspace_required: logged in


@workspace_required
def team(request: HttpRequest) -> HttpResponse:
    """The people who report to me, with what they hold and their requests in flight."""
    me = _me(request)
    q = request.GET.get("q", "").strip()[:100]
    people = _team(me).annotate(
        n_roles=Count("role_memberships", distinct=True),
        n_accounts=Count("accounts", distinct=True),
        n_pending=Count(
            "requests_received", filter=Q(requests_received__status__in=IN_FLIGHT), distinct=True
        ),
    )
    if q:
        people = people.filter(
            Q(username__icontains=q) | Q(first_name__icontains=q) | Q(last_name__icontains=q)
        )
    page = Paginator(people.order_by("last_name", "first_name", "username"), 25).get_page(
        request.GET.get("page")
    )
    return _render(request, "workspace/team/list.html", {"page_obj": page, "q": q})


@workspace_required
def team_member(request: HttpRequest, pk: int) -> HttpResponse:
    me = _me(request)
    person = _member(me, pk)
    context = {
        "person": person,
        "actions": [
            (a, TEAM_ACTIONS[a][1])
            for a in user_actions_allowed(person, source=Source.WORKSPACE)
            if a in TEAM_ACTIONS
        ],  # fmt: skip
        "roles": RoleMembership.objects.filter(user=person).select_related("role").order_by("role__name"),
        "accounts": person.accounts.select_related("resource").order_by("resource__name", "identifier"),
        "memberships": EntitlementMembership.objects.filter(account__owner=person)
        .select_related("entitlement", "account__resource")
        .order_by("account__resource__name", "entitlement__name"),
        "requests": Request.objects.filter(beneficiary=person, status__in=IN_FLIGHT)
        .select_related(*REQUEST_RELATED)
        .order_by("-created_at")[:20],
    }
    return _render(request, "workspace/team/member.html", context)


def _create(request: HttpRequest, person: User, request_type: str, form: ActionForm, what: str,
            **refs: Any) -> HttpResponse | None:  # fmt: skip
    try:
        req = request_create(
            actor=_me(request),
            source=Source.WORKSPACE,
            request_type=request_type,
            beneficiary=person,
            justification=form.cleaned_data["justification"],
            **refs,
        )
    except DomainError as error:
        form.add_error(None, error.message)
        return None
    req.refresh_from_db()
    messages.success(
        request,
        gettext("%(what)s: request #%(id)s, %(outcome)s.")
        % {"what": what, "id": req.pk, "outcome": request_outcome(req)},
    )
    return redirect("workspace_requests:team_member", pk=person.pk)


@workspace_required
@require_http_methods(["GET", "POST"])
def team_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Inactivate, activate or revoke a report: a request of that type from the workspace."""
    if action not in TEAM_ACTIONS:
        raise Http404("Unknown action")
    person = _member(_me(request), pk)
    request_type, label, explain = TEAM_ACTIONS[action]
    allowed = action in user_actions_allowed(person, source=Source.WORKSPACE)
    form = ActionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and allowed and form.is_valid():
        what = gettext("%(action)s %(username)s") % {"action": label, "username": person.username}
        done = _create(request, person, request_type, form, what)
        if done is not None:
            return done
    if not allowed:
        form.add_error(
            None,
            gettext("%(action)s is not possible: %(username)s is %(status)s.")
            % {"action": label, "username": person.username, "status": person.get_status_display()},
        )
    title = gettext("%(action)s %(name)s") % {
        "action": label,
        "name": person.get_full_name() or person.username,
    }
    context = {"person": person, "form": form, "title": title,
               "explain": explain, "danger": action == "revoke", "button": label}  # fmt: skip
    status = 409 if not allowed else (400 if form.is_bound and form.errors else 200)
    return _render(request, "workspace/team/confirm.html", context, status=status)


@workspace_required
@require_http_methods(["GET", "POST"])
def team_revoke_access(request: HttpRequest, pk: int, kind: str, obj_pk: int) -> HttpResponse:
    """Revoke a role (``obj_pk`` the role) or an entitlement membership (``obj_pk`` the
    membership) a report holds by hand."""
    person = _member(_me(request), pk)
    if kind == "role":
        rm = get_object_or_404(RoleMembership.objects.select_related("role"), user=person, role_id=obj_pk)
        refs: dict[str, Any] = {"role": rm.role}
        name, request_type, by_role = (
            gettext("role %(name)s") % {"name": rm.role.name},
            RequestType.REVOKE_ROLE,
            rm.management == Management.ROLE,
        )
    elif kind == "entitlement":
        m = get_object_or_404(
            EntitlementMembership.objects.select_related("entitlement", "account__resource"),
            account__owner=person,
            pk=obj_pk,
        )
        refs = {"entitlement": m.entitlement, "account": m.account}
        name, request_type, by_role = (
            gettext("%(name)s on %(resource)s")
            % {"name": m.entitlement.name, "resource": m.account.resource.name},
            RequestType.REVOKE_ENTITLEMENT,
            not m.manual,
        )
    else:
        raise Http404("Unknown kind")
    form = ActionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        what = gettext("Revoke %(name)s from %(username)s") % {"name": name, "username": person.username}
        done = _create(request, person, request_type, form, what, **refs)
        if done is not None:
            return done
    explain = gettext(
        "The application is told once the request is approved (if a policy asks for an approval)."
    )
    if by_role:
        explain = (
            gettext("A role gives this access: the request will be refused while the role keeps it.")
            + " "
            + explain
        )
    title = gettext("Revoke %(name)s from %(username)s") % {
        "name": name,
        "username": person.get_full_name() or person.username,
    }
    context = {"person": person, "form": form, "title": title,
               "explain": explain, "danger": True, "button": gettext("Revoke")}  # fmt: skip
    status = 400 if form.is_bound and form.errors else 200
    return _render(request, "workspace/team/confirm.html", context, status=status)
