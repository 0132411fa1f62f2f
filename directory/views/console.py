"""Admin console: login, dashboard, directory lists and detail pages, user life-cycle actions.

Every page asks ``blazon.permissions.can`` for one capability (``view`` to read, ``manage_users``
for life-cycle actions, ``remove_users`` for removal). Refused operations (``DomainError``) are
shown as messages, never as a server error."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import LogoutView
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from blazon.audit.models import AuditEvent
from blazon.console import ObjectListView, capability_required, paginate, render_console, report_domain_error
from blazon.errors import DomainError
from blazon.outbox.services import stuck_after_seconds, stuck_work
from blazon.panels import CONSOLE_DASHBOARD, panels
from blazon.permissions import can
from directory.models import (
    Account,
    AccountRoleGrant,
    AccountStatus,
    AccountType,
    Criticality,
    DirectoryEvent,
    DirectoryEventStatus,
    Entitlement,
    EntitlementMembership,
    Management,
    MembershipRoleGrant,
    Organization,
    ProvisioningEvent,
    ProvisioningMode,
    Resource,
    Role,
    User,
    UserStatus,
)
from directory.selectors import user_attribute_rows
from directory.services.lifecycle import account_actions_allowed, user_actions_allowed, user_remove
from directory.views.forms import ConsoleRoleForm, RemoveUserForm
from provisioning import selectors as provisioning_selectors
from requests_workflow.views.delegations import delegations_context
from sso import slo
from sso import views as sso_views

USER_LABEL = User._meta.label
__all__ = ["render_console"]  # kept here for one release; it lives in blazon.console


# --- authentication -------------------------------------------------------------------------


# Logging in is authn's one flow (authn.views.login_view, also at console:login).


class ConsoleLogoutView(LogoutView):
    """Log out of Blazon; when SAML applications were signed into during this session, run the
    single-logout chain over them first (it ends on the login page)."""

    next_page = "authn:login"

    def post(self, request, *args, **kwargs):
        if not slo.has_participants(request):
            return super().post(request, *args, **kwargs)
        slo.chain_start(request, origin=None)
        return sso_views.slo_continue(request)


# --- dashboard ------------------------------------------------------------------------------


def _counts(queryset: Any, field: str, choices: Any) -> list[dict[str, Any]]:
    found = dict(queryset.values_list(field).annotate(n=Count("pk")).order_by())
    return [{"value": value, "label": label, "count": found.get(value, 0)} for value, label in choices]


@capability_required("view")
def dashboard(request: HttpRequest) -> HttpResponse:
    users_by_status = _counts(User.objects.all(), "status", UserStatus.choices)
    accounts_by_status = _counts(Account.objects.all(), "status", AccountStatus.choices)
    accounts_by_type = _counts(Account.objects.all(), "account_type", AccountType.choices)
    per_resource = list(
        Resource.objects.annotate(
            n=Count("accounts"), orphans=Count("accounts", filter=Q(accounts__owner__isnull=True))
        )
        .order_by("-n", "name")
        .values("pk", "name", "n", "orphans")[:12]
    )
    context = {
        "users_total": sum(c["count"] for c in users_by_status),
        "users_by_status": users_by_status,
        "accounts_total": sum(c["count"] for c in accounts_by_status),
        "accounts_by_status": accounts_by_status,
        "accounts_by_type": accounts_by_type,
        "orphans": Account.objects.filter(owner__isnull=True).count(),
        "locked": User.objects.filter(login_locked=True).count(),
        "roles": Role.objects.count(),
        "resources": Resource.objects.count(),
        "entitlements": Entitlement.objects.count(),
        "open_events": DirectoryEvent.objects.filter(status=DirectoryEventStatus.OPEN).count(),
        "stuck_entries": provisioning_selectors.stuck_count(),
        "stuck_minutes": settings.BLAZON_PROVISIONING_STUCK_MINUTES,
        # background work (requests, role changes, queued items) older than it should be
        "stuck_work": sum(w.count for w in stuck_work()),
        "stuck_work_seconds": stuck_after_seconds(),
        "recent": AuditEvent.objects.order_by("-seq")[:10] if can(request.user, "view_audit") else None,
        "per_resource": per_resource,
        # what needs attention: panels the apps above the directory register (blazon/panels.py)
        "panels": panels(CONSOLE_DASHBOARD, request.user),
        "chart_data": {
            "resources": {
                "labels": [r["name"] for r in per_resource],
                "values": [r["n"] for r in per_resource],
            },
        },
    }
    return render_console(request, "console/dashboard.html", context)


# --- users ----------------------------------------------------------------------------------


class UsersList(ObjectListView):
    queryset, template_name = User.objects.select_related("organization"), "console/users/list.html"
    search = ("username", "first_name", "last_name", "display_name", "email", "department")
    filters = {"status": "status", "organization": "organization_id", "locked": "login_locked"}
    orderings = {
        "username": "username",
        "name": "last_name",
        "organization": "organization__name",
        "status": "status",
        "department": "department",
    }
    default_order, csv_name = "username", "users"
    csv_columns = (
        ("username", "username"),
        ("first_name", "first_name"),
        ("last_name", "last_name"),
        ("email", "email"),
        ("organization", "organization.name"),
        ("department", "department"),
        ("status", "status"),
        ("login_locked", "login_locked"),
    )

    def extra_context(self) -> dict[str, Any]:
        organizations = Organization.objects.only("pk", "name").order_by("name")
        return {"statuses": UserStatus.choices, "organizations": organizations}


users_list = UsersList.as_view()


USER_TABS = [
    ("attributes", _("Attributes")),
    ("accounts", _("Accounts")),
    ("entitlements", _("Entitlements")),
    ("roles", _("Roles")),
    ("history", _("History")),
    ("events", _("Open events")),
    ("delegations", _("Out of office")),
]


def _roles_by(grant_model: Any, field: str, ids: list[int]) -> dict[int, list[Role]]:
    out: dict[int, list[Role]] = {}
    for grant in (
        grant_model.objects.filter(**{f"{field}__in": ids}).select_related("role").order_by("role__name")
    ):
        out.setdefault(getattr(grant, f"{field}_id"), []).append(grant.role)
    return out


@capability_required("view")
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User.objects.select_related("organization", "manager"), pk=pk)
    tab = request.GET.get("tab", "attributes")
    if tab not in dict(USER_TABS):
        tab = "attributes"
    # The history is read from the audit log, so it needs the same capability as the log.
    tabs = [(k, label) for k, label in USER_TABS if k != "history" or can(request.user, "view_audit")]
    if tab not in dict(tabs):
        tab = "attributes"
    counts = {
        "accounts": user.accounts.count(),
        "entitlements": EntitlementMembership.objects.filter(account__owner=user).count(),
        "roles": user.role_memberships.count(),
        "events": DirectoryEvent.objects.filter(user=user, status=DirectoryEventStatus.OPEN).count(),
    }
    context: dict[str, Any] = {
        "subject": user,
        # only what the transition table allows from the console (each creates a request)
        "lifecycle_actions": [(a, LIFECYCLE_LABELS[a]) for a in user_actions_allowed(user, source="console")],
        "tab": tab,
        "tabs": [(k, label, counts.get(k)) for k, label in tabs],
    }
    if can(request.user, "manage_config"):
        # Console roles are for administrators only: the form is not even shown to others.
        context["role_form"] = ConsoleRoleForm(initial={"role": user.console_role})
    if tab == "accounts":
        accounts = list(user.accounts.select_related("resource").order_by("resource__name", "identifier"))
        grants = _roles_by(AccountRoleGrant, "account", [a.pk for a in accounts])
        context["accounts"] = [(a, grants.get(a.pk, [])) for a in accounts]
    elif tab == "entitlements":
        memberships = list(
            EntitlementMembership.objects.filter(account__owner=user)
            .select_related("entitlement", "account__resource")
            .order_by("account__resource__name", "entitlement__name")
        )
        grants = _roles_by(MembershipRoleGrant, "membership", [m.pk for m in memberships])
        context["memberships"] = [(m, grants.get(m.pk, [])) for m in memberships]
    elif tab == "roles":
        context["role_memberships"] = user.role_memberships.select_related("role").order_by("role__name")
    elif tab == "history":
        history = AuditEvent.objects.filter(
            Q(subject_user_id=user.pk) | Q(object_type=USER_LABEL, object_id=str(user.pk))
        ).order_by("-seq")
        context["page_obj"] = paginate(request, history)["page_obj"]
    elif tab == "events":
        context["events"] = DirectoryEvent.objects.filter(user=user, status=DirectoryEventStatus.OPEN)
    elif tab == "delegations":
        # out-of-office delegations belong to the request workflow; its page helper builds the tab
        context.update(delegations_context(user))
    else:
        context["attributes"] = user_attribute_rows(user)
    return render_console(request, "console/users/detail.html", context)


#: The life-cycle buttons other than removal create requests (``console_requests:user_action``,
#: requests_workflow/views/console_actions.py); removal has no request type and is done here.
LIFECYCLE_LABELS = {
    "activate": _("Activate"),
    "inactivate": _("Inactivate"),
    "revoke": _("Revoke"),
    "lock": _("Lock login"),
    "unlock": _("Unlock login"),
}
ACCOUNT_ACTION_LABELS = {"activate": _("Activate"), "inactivate": _("Inactivate"), "revoke": _("Revoke")}
REMOVE = {"label": _("Remove"), "capability": "remove_users"}


@require_http_methods(["GET", "POST"])
@capability_required("remove_users")
def user_remove_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove a user (with or without revocation): an administrator's directory operation."""
    user = get_object_or_404(User, pk=pk)
    form = RemoveUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user_remove(
                actor=request.user,
                source="console",
                user=user,
                without_revoke=form.cleaned_data["mode"] == "without_revoke",
            )
        except DomainError as error:
            report_domain_error(request, error)
        else:
            user.refresh_from_db()
            messages.success(
                request,
                gettext("Remove: done for %(username)s (now %(status)s).")
                % {"username": user.username, "status": user.get_status_display()},
            )
            return redirect("console:user_detail", pk=user.pk)
    context = {"subject": user, "action": "remove", "spec": REMOVE, "form": form}
    return render_console(request, "console/users/action.html", context)


# --- organizations --------------------------------------------------------------------------


organizations_list = ObjectListView.as_view(
    queryset=Organization.objects.select_related("parent", "owner").annotate(n_members=Count("members")),
    template_name="console/organizations/list.html",
    search=("code", "name"),
    filters={"parent": "parent_id"},
    orderings={"code": "code", "name": "name", "members": "n_members"},
    default_order="name",
)


@capability_required("view")
def organization_detail(request: HttpRequest, pk: int) -> HttpResponse:
    org = get_object_or_404(Organization.objects.select_related("parent", "owner"), pk=pk)
    members = paginate(request, org.members.order_by("username"))["page_obj"]
    return render_console(
        request,
        "console/organizations/detail.html",
        {"org": org, "page_obj": members, "children": org.children.all()},
    )


# --- resources ------------------------------------------------------------------------------


class ResourcesList(ObjectListView):
    template_name = "console/resources/list.html"
    queryset = Resource.objects.annotate(
        n_accounts=Count("accounts", distinct=True), n_entitlements=Count("entitlements", distinct=True)
    )
    search, filters = ("code", "name", "description"), {"criticality": "criticality"}
    orderings = {
        "code": "code",
        "name": "name",
        "criticality": "criticality",
        "accounts": "n_accounts",
        "entitlements": "n_entitlements",
    }
    default_order = "name"

    def extra_context(self) -> dict[str, Any]:
        return {"criticalities": Criticality.choices}


resources_list = ResourcesList.as_view()


RESOURCE_TABS = [
    ("overview", _("Overview")),
    ("provisioning", _("Provisioning")),
    ("entitlements", _("Entitlements")),
    ("accounts", _("Accounts")),
]


@capability_required("view")
def resource_detail(request: HttpRequest, pk: int) -> HttpResponse:
    resource = get_object_or_404(Resource, pk=pk)
    tab = request.GET.get("tab", "overview")
    if tab not in dict(RESOURCE_TABS):
        tab = "overview"
    context: dict[str, Any] = {
        "resource": resource,
        "tab": tab,
        "tabs": [(k, v, None) for k, v in RESOURCE_TABS],
    }
    if tab == "overview":
        context["owners"] = resource.owners.order_by("username")
        context["roles"] = Role.objects.filter(role_resources__resource=resource).order_by("name")
    elif tab == "provisioning":
        mode_labels = dict(ProvisioningMode.choices)
        context["modes"] = [
            (e.label, mode, mode_labels.get(mode, mode))
            for e in ProvisioningEvent
            for mode in [resource.mode_for(e.value)]
        ]
        context["prov"] = provisioning_selectors.resource_provisioning(resource)
    elif tab == "entitlements":
        context["page_obj"] = paginate(
            request, resource.entitlements.annotate(n_members=Count("memberships")).order_by("name")
        )["page_obj"]
    else:
        context["page_obj"] = paginate(
            request, resource.accounts.select_related("owner").order_by("identifier")
        )["page_obj"]
    return render_console(request, "console/resources/detail.html", context)


# --- accounts -------------------------------------------------------------------------------


class AccountsList(ObjectListView):
    queryset, template_name = (
        Account.objects.select_related("resource", "owner"),
        "console/accounts/list.html",
    )
    search = ("identifier", "owner__username", "owner__first_name", "owner__last_name")
    filters = {
        "status": "status",
        "type": "account_type",
        "resource": "resource_id",
        "management": "management",
        "orphan": "owner__isnull",
    }
    orderings = {
        "identifier": "identifier",
        "resource": "resource__name",
        "owner": "owner__username",
        "type": "account_type",
        "status": "status",
        "created": "created_at",
    }
    default_order, csv_name = "identifier", "accounts"
    csv_columns = (
        ("identifier", "identifier"),
        ("resource", "resource.name"),
        ("owner", "owner.username"),
        ("type", "account_type"),
        ("status", "status"),
        ("management", "management"),
        ("created_at", lambda a: a.created_at.isoformat()),
    )

    def extra_context(self) -> dict[str, Any]:
        return {
            "statuses": AccountStatus.choices,
            "types": AccountType.choices,
            "managements": Management.choices,
            "resources": Resource.objects.only("pk", "name").order_by("name"),
        }


accounts_list = AccountsList.as_view()


@capability_required("view")
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(Account.objects.select_related("resource", "owner", "responsible"), pk=pk)
    memberships = list(account.memberships.select_related("entitlement").order_by("entitlement__name"))
    grants = _roles_by(MembershipRoleGrant, "membership", [m.pk for m in memberships])
    context = {
        "account": account,
        "account_actions": [(a, ACCOUNT_ACTION_LABELS[a]) for a in account_actions_allowed(account)],
        "granting_roles": [g.role for g in account.role_grants.select_related("role").order_by("role__name")],
        "memberships": [(m, grants.get(m.pk, [])) for m in memberships],
        "shared_members": account.shared_members.select_related("user").order_by("user__username"),
        "history": AuditEvent.objects.filter(
            object_type=Account._meta.label, object_id=str(account.pk)
        ).order_by("-seq")[:50]
        if can(request.user, "view_audit")
        else None,
    }
    return render_console(request, "console/accounts/detail.html", context)


# --- entitlements ---------------------------------------------------------------------------


class EntitlementsList(ObjectListView):
    template_name = "console/entitlements/list.html"
    queryset = Entitlement.objects.select_related("resource").annotate(n_members=Count("memberships"))
    search = ("identifier", "name", "description")
    filters = {"resource": "resource_id", "criticality": "criticality"}
    orderings = {
        "name": "name",
        "identifier": "identifier",
        "resource": "resource__name",
        "criticality": "criticality",
        "members": "n_members",
    }
    default_order = "name"

    def extra_context(self) -> dict[str, Any]:
        resources = Resource.objects.only("pk", "name").order_by("name")
        return {"resources": resources, "criticalities": Criticality.choices}


entitlements_list = EntitlementsList.as_view()


@capability_required("view")
def entitlement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    ent = get_object_or_404(Entitlement.objects.select_related("resource", "owner"), pk=pk)
    members_qs = ent.memberships.select_related("account__owner", "account").order_by("account__identifier")
    page = paginate(request, members_qs)["page_obj"]
    grants = _roles_by(MembershipRoleGrant, "membership", [m.pk for m in page.object_list])
    context = {
        "ent": ent,
        "page_obj": page,
        "members": [(m, grants.get(m.pk, [])) for m in page.object_list],
        "roles": Role.objects.filter(role_entitlements__entitlement=ent).order_by("name"),
    }
    return render_console(request, "console/entitlements/detail.html", context)


# --- roles (read) ---------------------------------------------------------------------------


class RolesList(ObjectListView):
    template_name = "console/roles/list.html"
    queryset = Role.objects.select_related("owner").annotate(
        n_members=Count("memberships", distinct=True),
        n_resources=Count("role_resources", distinct=True),
        n_entitlements=Count("role_entitlements", distinct=True),
    )
    search, filters = ("code", "name", "description"), {"criticality": "criticality"}
    orderings = {"code": "code", "name": "name", "members": "n_members", "criticality": "criticality"}
    default_order = "name"

    def extra_context(self) -> dict[str, Any]:
        return {"criticalities": Criticality.choices}


roles_list = RolesList.as_view()


ROLE_TABS = [("items", _("Resources & entitlements")), ("members", _("Members")), ("changes", _("Changes"))]


@capability_required("view")
def role_detail(request: HttpRequest, pk: int) -> HttpResponse:
    role = get_object_or_404(Role.objects.select_related("owner"), pk=pk)
    tab = request.GET.get("tab", "items")
    if tab not in dict(ROLE_TABS):
        tab = "items"
    n_members = role.memberships.count()
    context: dict[str, Any] = {
        "role": role,
        "tab": tab,
        "tabs": [(k, v, n_members if k == "members" else None) for k, v in ROLE_TABS],
        "n_members": n_members,
    }
    if tab == "items":
        context["role_resources"] = role.role_resources.select_related("resource").order_by("resource__name")
        context["role_entitlements"] = role.role_entitlements.select_related(
            "entitlement__resource"
        ).order_by("entitlement__resource__name", "entitlement__name")
        if can(request.user, "manage_config"):
            context["all_resources"] = Resource.objects.exclude(role_resources__role=role).order_by("name")
            context["all_entitlements"] = (
                Entitlement.objects.exclude(role_entitlements__role=role)
                .select_related("resource")
                .order_by("resource__name", "name")
            )
    elif tab == "members":
        context["page_obj"] = paginate(
            request, role.memberships.select_related("user").order_by("user__username")
        )["page_obj"]
    else:
        context["page_obj"] = paginate(
            request, role.changes.select_related("resource", "entitlement", "requested_by")
        )["page_obj"]
    return render_console(request, "console/roles/detail.html", context)
