"""Console configuration pages: resource, entitlement and role forms, and role changes (add or
remove an item: preview the blast radius, confirm, follow the fan-out's progress).

All of them need ``manage_config``; the services in ``directory.services.config`` and
``directory.services.access`` do the work and enforce the rules."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from blazon.errors import DomainError
from directory.models import Entitlement, Organization, Resource, Role, RoleChange, RoleChangeStatus
from directory.views.common import capability_required, report_domain_error
from directory.views.console import render_console
from directory.views.forms import EntitlementForm, OrganizationForm, ResourceForm, RoleForm

SOURCE = "console"


def _form_page(request: HttpRequest, form: Any, *, title: str, cancel: str, kind: str) -> HttpResponse:
    return render_console(
        request, "console/form.html", {"form": form, "title": title, "cancel_url": cancel, "kind": kind}
    )


# --- organizations --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def organization_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    from directory.services import config

    org = get_object_or_404(Organization, pk=pk) if pk else None
    form = OrganizationForm(request.POST or None, initial=OrganizationForm.initial_from(org) if org else None)
    if org is not None:
        # An organization cannot sit inside itself (the service also refuses deeper loops).
        form.fields["parent"].queryset = Organization.objects.exclude(pk=org.pk).order_by("name")
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            if org is None:
                org = config.organization_create(actor=request.user, source=SOURCE, **data)
            else:
                org = config.organization_update(
                    actor=request.user, source=SOURCE, organization=org, data=data
                )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"Organization {org.name} saved.")
            return redirect("console:organization_detail", pk=org.pk)
    cancel = f"/console/organizations/{org.pk}/" if org else "/console/organizations/"
    title = f"Edit organization {org.name}" if org else "New organization"
    return _form_page(request, form, title=title, cancel=cancel, kind="organization")


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def organization_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask first; the service refuses, with its message, while the organization has members or
    sub-organizations."""
    from directory.services import config

    org = get_object_or_404(Organization.objects.select_related("parent"), pk=pk)
    if request.method == "POST":
        try:
            config.organization_delete(actor=request.user, source=SOURCE, organization=org)
        except DomainError as error:
            report_domain_error(request, error)
        else:
            messages.success(request, f"Organization {org.name} deleted.")
            return redirect("console:organizations")
    context = {
        "org": org,
        "n_members": org.members.count(),
        "n_children": org.children.count(),
    }
    return render_console(request, "console/organizations/delete.html", context)


# --- resources ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def resource_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    from directory.services import config

    resource = get_object_or_404(Resource, pk=pk) if pk else None
    initial = ResourceForm.initial_from(resource) if resource else None
    form = ResourceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.service_data()
        try:
            if resource is None:
                resource = config.resource_create(actor=request.user, source=SOURCE, **data)
            else:
                resource = config.resource_update(
                    actor=request.user, source=SOURCE, resource=resource, data=data
                )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"Resource {resource.name} saved.")
            return redirect("console:resource_detail", pk=resource.pk)
    cancel = f"/console/resources/{resource.pk}/" if resource else "/console/resources/"
    title = f"Edit resource {resource.name}" if resource else "New resource"
    return _form_page(request, form, title=title, cancel=cancel, kind="resource")


# --- entitlements ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def entitlement_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    from directory.services import config

    ent = get_object_or_404(Entitlement, pk=pk) if pk else None
    initial = EntitlementForm.initial_from(ent) if ent else {"resource": request.GET.get("resource")}
    form = EntitlementForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            if ent is None:
                ent = config.entitlement_create(actor=request.user, source=SOURCE, **data)
            else:
                ent = config.entitlement_update(actor=request.user, source=SOURCE, entitlement=ent, data=data)
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"Entitlement {ent.name} saved.")
            return redirect("console:entitlement_detail", pk=ent.pk)
    cancel = f"/console/entitlements/{ent.pk}/" if ent else "/console/entitlements/"
    title = f"Edit entitlement {ent.name}" if ent else "New entitlement"
    return _form_page(request, form, title=title, cancel=cancel, kind="entitlement")


# --- roles ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def role_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    from directory.services import config

    role = get_object_or_404(Role, pk=pk) if pk else None
    form = RoleForm(request.POST or None, initial=RoleForm.initial_from(role) if role else None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            if role is None:
                role = config.role_create(actor=request.user, source=SOURCE, **data)
            else:
                role = config.role_update(actor=request.user, source=SOURCE, role=role, data=data)
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"Role {role.name} saved.")
            return redirect("console:role_detail", pk=role.pk)
    cancel = f"/console/roles/{role.pk}/" if role else "/console/roles/"
    title = f"Edit role {role.name}" if role else "New role"
    return _form_page(request, form, title=title, cancel=cancel, kind="role")


# --- role changes ---------------------------------------------------------------------------

PREVIEW_LABELS = {
    "members": "Members of the role",
    "adds_resource": "The entitlement's resource is added to the role too",
    "accounts_to_create": "Accounts to create",
    "accounts_to_adopt": "Existing accounts that become role-managed",
    "memberships_to_create": "Entitlement memberships to grant",
    "memberships_to_adopt": "Existing memberships that become role-managed",
    "granted_by_role": "Accesses this role grants today",
    "kept_by_other_roles": "Kept: another role also grants them",
    "kept_manually": "Kept: a manual decision keeps them",
    "to_revoke": "To revoke in the applications",
    "entitlements_removed_with_resource": "Role entitlements on this resource removed with it",
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
    from directory.services import access

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
            ("Yes" if v else "No") if k == "adds_resource" else v,
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
    from directory.services import access

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
    finished = change.status in (RoleChangeStatus.DONE, RoleChangeStatus.FAILED)
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
