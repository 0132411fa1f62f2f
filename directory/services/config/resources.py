"""Resources: the applications Blazon governs, with their owners and how each provisioning
event reaches them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext, gettext_noop

from blazon.changes import config_create, config_delete, config_update
from blazon.errors import Conflict, ValidationFailed
from directory import ports
from directory.models import (
    Account,
    Criticality,
    Entitlement,
    ProvisioningEvent,
    ProvisioningMode,
    Resource,
    RoleResource,
    User,
    default_provisioning_modes,
)
from directory.services.config.common import (
    _check_keys,
    _clean_bool,
    _clean_choice,
    _clean_code,
    _clean_text,
    _fail,
    _resolve_users,
)

CODE_TAKEN = gettext_noop("A resource with this code already exists.")
RESOURCE_FIELDS = (
    "code",
    "name",
    "description",
    "owners",
    "criticality",
    "self_service",
    "certifiable",
    "provisioning_modes",
)


def provisioning_modes_validate(modes: Any, *, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Merge ``modes`` (event -> mode, possibly partial) over ``base``; the result names all
    eleven provisioning events, each AUTOMATIC, MANUAL or DISABLED."""
    if modes is None:
        modes = {}
    if not isinstance(modes, Mapping):
        raise _fail("provisioning_modes", gettext("Expected an object mapping provisioning events to modes."))
    errors: dict[str, list[str]] = {}
    for event, mode in modes.items():
        if event not in ProvisioningEvent.values:
            errors[f"provisioning_modes.{event}"] = [
                gettext("Unknown provisioning event; expected one of %(values)s.")
                % {"values": ", ".join(ProvisioningEvent.values)}
            ]
        elif mode not in ProvisioningMode.values:
            errors[f"provisioning_modes.{event}"] = [
                gettext("%(mode)r is not one of %(values)s.")
                % {"mode": mode, "values": ", ".join(ProvisioningMode.values)}
            ]
    if errors:
        raise ValidationFailed(gettext("Invalid provisioning modes."), fields=errors)
    merged = default_provisioning_modes()
    merged.update({k: v for k, v in (base or {}).items() if k in merged and v in ProvisioningMode.values})
    merged.update(modes)
    return {event: str(merged[event]) for event in ProvisioningEvent.values}


def _resource_apply(res: Resource, data: Mapping[str, Any]) -> list[User] | None:
    _check_keys(data, RESOURCE_FIELDS)
    if "code" in data:
        res.code = _clean_code(data["code"])
        if Resource.objects.filter(code=res.code).exclude(pk=res.pk).exists():
            raise Conflict(
                gettext("A resource with code %(code)r already exists.") % {"code": res.code},
                fields={"code": [gettext(CODE_TAKEN)]},
            )
    if "name" in data:
        res.name = _clean_text(data["name"], "name", max_length=200)
    if "description" in data:
        res.description = _clean_text(data["description"], "description", max_length=0, required=False)
    if "criticality" in data:
        res.criticality = _clean_choice(data["criticality"], "criticality", Criticality)
    for flag in ("self_service", "certifiable"):
        if flag in data:
            setattr(res, flag, _clean_bool(data[flag], flag))
    if "provisioning_modes" in data:
        res.provisioning_modes = provisioning_modes_validate(
            data["provisioning_modes"], base=res.provisioning_modes if res.pk else None
        )
    return _resolve_users(data["owners"], "owners") if "owners" in data else None


@transaction.atomic
def resource_create(
    *,
    actor: User | None,
    source: str,
    code: str,
    name: str,
    description: str = "",
    owners: Iterable[Any] = (),
    criticality: str = Criticality.MEDIUM,
    self_service: bool = True,
    certifiable: bool = True,
    provisioning_modes: Mapping[str, str] | None = None,
) -> Resource:
    """Register an application; events missing from ``provisioning_modes`` are DISABLED."""
    res = Resource()
    owner_users = _resource_apply(
        res,
        {
            "code": code,
            "name": name,
            "description": description,
            "owners": list(owners or ()),
            "criticality": criticality,
            "self_service": self_service,
            "certifiable": certifiable,
            "provisioning_modes": provisioning_modes,
        },
    )
    return config_create(
        res,
        fields=RESOURCE_FIELDS,
        actor=actor,
        source=source,
        action="resource.create",
        conflict=CODE_TAKEN,
        conflict_field="code",
        validate=True,
        on_saved=lambda saved: saved.owners.set(owner_users or []),
    )


@transaction.atomic
def resource_update(
    *, actor: User | None, source: str, resource: Resource, data: Mapping[str, Any]
) -> Resource:
    """Change the given fields of a resource; ``provisioning_modes`` may name only some events."""
    with config_update(
        Resource,
        resource.pk,
        fields=RESOURCE_FIELDS,
        actor=actor,
        source=source,
        action="resource.update",
        conflict=CODE_TAKEN,
        conflict_field="code",
        validate=True,
    ) as change:
        owner_users = _resource_apply(change.obj, data)
        if owner_users is not None:
            # many-to-many are set once the resource is saved: record what they will be
            change.after["owners"] = sorted(u.pk for u in owner_users)
            change.on_saved = lambda saved: saved.owners.set(owner_users)
    return change.obj


@transaction.atomic
def resource_delete(*, actor: User | None, source: str, resource: Resource) -> None:
    """Delete a resource nothing refers to any more (accounts, entitlements, roles, history)."""
    res = Resource.objects.select_for_update().get(pk=resource.pk)
    blockers = {
        "accounts": (Account.objects.filter(resource=res).count(), "account(s)"),
        "entitlements": (Entitlement.objects.filter(resource=res).count(), "entitlement(s)"),
        "roles": (RoleResource.objects.filter(resource=res).count(), "role(s) grant it"),
        "provisioning_entries": (
            ports.provisioning().entries_count_for_resource(resource_id=res.pk),
            "provisioning entr(y/ies) in its history",
        ),
    }
    found = {k: v for k, v in blockers.items() if v[0]}
    if found:
        parts = [f"{n} {label}" for n, label in found.values()]
        raise Conflict(
            gettext("Resource %(code)r cannot be deleted: it still has %(parts)s.")
            % {"code": res.code, "parts": ", ".join(parts)},
            fields={k: [f"{n} {label}"] for k, (n, label) in found.items()},
        )
    config_delete(res, fields=RESOURCE_FIELDS, actor=actor, source=source, action="resource.delete")
