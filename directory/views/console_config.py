"""Console configuration pages: resource, entitlement and role forms, and role changes (add or
remove an item: preview the blast radius, confirm, follow the fan-out's progress).

All of them need ``manage_config``; the services in ``directory.services.config`` and
``directory.services.access`` do the work and enforce the rules."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from blazon.console import (
    ObjectDeleteView,
    ObjectEditView,
    capability_required,
    render_console,
    report_domain_error,
)
from blazon.errors import DomainError
from directory import ports
from directory.models import Entitlement, Organization, Resource, Role, RoleChange, RoleChangeStatus
from directory.services import access, config
from directory.views.forms import EntitlementForm, OrganizationForm, ResourceForm, RoleForm

SOURCE = "console"


class OrganizationEdit(ObjectEditView):
    model, form_class, noun = Organization, OrganizationForm, _("organization")
    new_title, edit_title = _("New organization"), _("Edit organization {name}")
    saved_message = _("Organization {name} saved.")
    create, update = staticmethod(config.organization_create), staticmethod(config.organization_update)
    detail_route, list_route = "console:organization_detail", "console:organizations"

    def get_form(self, obj: Organization | None) -> OrganizationForm:
        form = super().get_form(obj)
        if obj is not None:
            # An organization cannot sit inside itself (the service also refuses deeper loops).
            form.fields["parent"].queryset = Organization.objects.exclude(pk=obj.pk).order_by("name")
        return form


class OrganizationDelete(ObjectDeleteView):
    """Ask first; the service refuses, with its message, while the organization has members or
    sub-organizations."""

    queryset, noun = Organization.objects.select_related("parent"), _("organization")
    delete_service = staticmethod(config.organization_delete)
    detail_route, list_route = "console:organization_detail", "console:organizations"
    list_title, unblock = _("Organizations"), _("move them first.")
    deleted_message = _("Organization {name} deleted.")

    def blockers(self, org: Organization) -> list[str]:
        members, children = org.members.count(), org.children.count()
        return [
            *(
                [
                    ngettext("%(count)d user belongs to it", "%(count)d users belong to it", members)
                    % {"count": members}
                ]
                if members
                else []
            ),
            *(
                [
                    ngettext(
                        "%(count)d organization is inside it",
                        "%(count)d organizations are inside it",
                        children,
                    )
                    % {"count": children}
                ]
                if children
                else []
            ),
        ]

    def subtitle(self, org: Organization) -> str:
        if org.parent:
            return gettext("%(code)s · inside %(parent)s") % {"code": org.code, "parent": org.parent.name}
        return org.code

    def explain(self, org: Organization) -> str:
        return gettext(
            "The organization is removed from the directory. It has no members and no "
            "sub-organizations; the audit log keeps its history."
        )


organization_edit = OrganizationEdit.as_view()
organization_delete = OrganizationDelete.as_view()
resource_edit = ObjectEditView.as_view(
    model=Resource,
    form_class=ResourceForm,
    noun=_("resource"),
    new_title=_("New resource"),
    edit_title=_("Edit resource {name}"),
    saved_message=_("Resource {name} saved."),
    create=config.resource_create,
    update=config.resource_update,
    detail_route="console:resource_detail",
    list_route="console:resources",
)
entitlement_edit = ObjectEditView.as_view(
    model=Entitlement,
    form_class=EntitlementForm,
    noun=_("entitlement"),
    new_title=_("New entitlement"),
    edit_title=_("Edit entitlement {name}"),
    saved_message=_("Entitlement {name} saved."),
    prefill=("resource",),
    create=config.entitlement_create,
    update=config.entitlement_update,
    detail_route="console:entitlement_detail",
    list_route="console:entitlements",
)
role_edit = ObjectEditView.as_view(
    model=Role,
    form_class=RoleForm,
    noun=_("role"),
    new_title=_("New role"),
    edit_title=_("Edit role {name}"),
    saved_message=_("Role {name} saved."),
    create=config.role_create,
    update=config.role_update,
    detail_route="console:role_detail",
    list_route="console:roles",
)


# --- role changes ---------------------------------------------------------------------------

PREVIEW_LABELS = {
    "members": _("Members of the role"),
    "adds_resource": _("The entitlement's resource is added to the role too"),
    "accounts_to_create": _("Accounts to create"),
    "accounts_to_adopt": _("Existing accounts that become role-managed"),
    "memberships_to_create": _("Entitlement memberships to grant"),
    "memberships_to_adopt": _("Existing memberships that become role-managed"),
    "granted_by_role": _("Accesses this role grants today"),
    "kept_by_other_roles": _("Kept: another role also grants them"),
    "kept_manually": _("Kept: a manual decision keeps them"),
    "to_revoke": _("To revoke in the applications"),
    "entitlements_removed_with_resource": _("Role entitlements on this resource removed with it"),
}


def _item_from(data: Any) -> tuple[str, Resource | None, Entitlement | None]:
    action = (data.get("action") or "").upper()
    if action not in RoleChange.Action.values:
        raise Http404("Unknown role change action")
    resource = entitlement = None
    item = data.get("item") or ""
    kind, _, raw = item.partition(":")
    if not raw:
        kind, raw = (
            ("entitlement", data.get("entitlement"))
            if data.get("entitlement")
            else ("resource", data.get("resource"))
        )
    try:
        pk = int(raw or "")
    except ValueError:
        raise Http404("Choose a resource or an entitlement") from None
    if kind == "entitlement":
        entitlement = get_object_or_404(Entitlement.objects.select_related("resource"), pk=pk)
    elif kind == "resource":
        resource = get_object_or_404(Resource, pk=pk)
    else:
        raise Http404("Unknown item")
    return action, resource, entitlement


@require_GET
@capability_required("manage_config")
def role_change_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 1: what the change would do to the members, counted without changing anything."""
    role = get_object_or_404(Role, pk=pk)
    action, resource, entitlement = _item_from(request.GET)
    try:
        preview = access.role_change_preview(
            role=role, action=action, resource=resource, entitlement=entitlement
        )
    except DomainError as error:
        report_domain_error(request, error)
        return redirect(f"/console/roles/{role.pk}/")
    rows = [
        (
            PREVIEW_LABELS.get(k, k.replace("_", " ").capitalize()),
            (gettext("Yes") if v else gettext("No")) if k == "adds_resource" else v,
        )
        for k, v in preview.items()
    ]
    context = {
        "role": role,
        "action": action,
        "resource": resource,
        "entitlement": entitlement,
        "item": entitlement or resource,
        "preview": preview,
        "rows": rows,
    }
    return render_console(request, "console/roles/change_preview.html", context)


@require_POST
@capability_required("manage_config")
def role_change_submit(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 2: write the role change; the fan-out runs in a worker (at once in embedded mode)."""
    role = get_object_or_404(Role, pk=pk)
    action, resource, entitlement = _item_from(request.POST)
    try:
        change = access.role_change_submit(
            actor=request.user,
            source=SOURCE,
            role=role,
            action=action,
            resource=resource,
            entitlement=entitlement,
            keep_as_manual=request.POST.get("keep_as_manual") in {"on", "1", "true"},
        )
    except DomainError as error:
        report_domain_error(request, error)
        return redirect(f"/console/roles/{role.pk}/")
    return redirect("console:role_change_detail", pk=role.pk, change_id=change.pk)


def _change_context(change: RoleChange) -> dict[str, Any]:
    result = change.result or {}
    # a change waiting for (or denied by) its approval steps is not being applied: no polling
    finished = change.status in (
        RoleChangeStatus.DONE,
        RoleChangeStatus.FAILED,
        RoleChangeStatus.WAITING,
        RoleChangeStatus.REJECTED,
    )
    approvals = ports.role_change_approvals()
    steps = result.get("steps") if isinstance(result, dict) else None
    summary = (
        [(k.replace("_", " ").capitalize(), v) for k, v in result.items() if k != "steps"]
        if isinstance(result, dict)
        else []
    )
    percent = 100 if finished else (50 if change.status == RoleChangeStatus.RUNNING else 10)
    return {
        "change": change,
        "finished": finished,
        "steps": steps or [],
        "summary": summary,
        "percent": percent,
        "approval_steps": approvals.steps([change.pk]).get(change.pk, []) if approvals else [],
    }


@require_GET
@capability_required("view")
def role_change_detail(request: HttpRequest, pk: int, change_id: int) -> HttpResponse:
    change = get_object_or_404(
        RoleChange.objects.select_related("role", "resource", "entitlement__resource", "requested_by"),
        pk=change_id,
        role_id=pk,
    )
    return render_console(
        request, "console/roles/change_detail.html", {"role": change.role, **_change_context(change)}
    )


@require_GET
@capability_required("view")
def role_change_progress(request: HttpRequest, pk: int, change_id: int) -> HttpResponse:
    """The htmx fragment the progress page polls until the change is DONE or FAILED."""
    change = get_object_or_404(RoleChange.objects.select_related("role"), pk=change_id, role_id=pk)
    context = _change_context(change)
    response = render_console(request, "console/roles/_change_progress.html", context)
    if context["finished"]:
        # htmx stops polling on 286 for the hx-trigger "every" poll.
        response.status_code = 286
    return response
