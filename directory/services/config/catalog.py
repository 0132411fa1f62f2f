"""The catalog: entitlements (of a resource) and roles (their metadata; adding or removing a
role's items fans out to its members and goes through ``access.role_change_submit``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext, gettext_noop

from blazon.changes import config_create, config_delete, config_update
from blazon.errors import Conflict
from directory.models import (
    AttributeScope,
    Criticality,
    Entitlement,
    EntitlementMembership,
    ProvisioningEvent,
    Resource,
    Role,
    RoleChange,
    RoleChangeStatus,
    RoleEntitlement,
    RoleMembership,
    User,
)
from directory.services.config.common import (
    _attributes_validate,
    _check_keys,
    _clean_bool,
    _clean_choice,
    _clean_code,
    _clean_text,
    _fail,
    _provisioning_entry,
    _resolve,
)

ENTITLEMENT_FIELDS = (
    "resource",
    "identifier",
    "name",
    "description",
    "owner",
    "criticality",
    "self_service",
    "certifiable",
    "attributes",
)
_ENTITLEMENT_WRITE: dict[str, Any] = {
    "fields": ENTITLEMENT_FIELDS,
    "conflict": "Duplicate entitlement identifier.",
    "conflict_field": "identifier",
    "validate": True,
}


def _catalog_fields_apply(obj: Entitlement | Role, data: Mapping[str, Any]) -> None:
    """The catalog fields entitlements and roles share: name, description, owner, criticality
    and the self-service and certifiable flags."""
    if "name" in data:
        obj.name = _clean_text(data["name"], "name", max_length=200)
    if "description" in data:
        obj.description = _clean_text(data["description"], "description", max_length=0, required=False)
    if "owner" in data:
        obj.owner = _resolve(User, data["owner"], "owner", label="user")
    if "criticality" in data:
        obj.criticality = _clean_choice(data["criticality"], "criticality", Criticality)
    for flag in ("self_service", "certifiable"):
        if flag in data:
            setattr(obj, flag, _clean_bool(data[flag], flag))


def _entitlement_apply(ent: Entitlement, data: Mapping[str, Any]) -> None:
    _check_keys(data, ENTITLEMENT_FIELDS)
    if "resource" in data:
        resource = _resolve(Resource, data["resource"], "resource", label="resource")
        if resource is None:
            raise _fail("resource", gettext("This field is required."))
        if ent.pk and resource.pk != ent.resource_id:
            raise _fail("resource", gettext("The resource of an entitlement cannot be changed."))
        ent.resource = resource
    if "identifier" in data:
        ent.identifier = _clean_text(data["identifier"], "identifier", max_length=255)
    if "identifier" in data or "resource" in data:
        clash = Entitlement.objects.filter(resource_id=ent.resource_id, identifier=ent.identifier).exclude(
            pk=ent.pk
        )
        if clash.exists():
            raise Conflict(
                gettext("Resource already has an entitlement %(identifier)r.")
                % {"identifier": ent.identifier},
                fields={
                    "identifier": [gettext("This resource already has an entitlement with this identifier.")]
                },
            )
    _catalog_fields_apply(ent, data)
    if "attributes" in data:
        ent.attributes = _attributes_validate(
            AttributeScope.ENTITLEMENT, data["attributes"], ent.resource, ent.pk
        )


@transaction.atomic
def entitlement_create(
    *,
    actor: User | None,
    source: str,
    resource: Any,
    identifier: str,
    name: str,
    description: str = "",
    owner: Any = None,
    criticality: str = Criticality.MEDIUM,
    self_service: bool = True,
    certifiable: bool = True,
    attributes: dict[str, Any] | None = None,
) -> Entitlement:
    """Create an entitlement of a resource; tells the application when it provisions
    CREATE_ENTITLEMENT."""
    ent = Entitlement()
    _entitlement_apply(
        ent,
        {
            "resource": resource,
            "identifier": identifier,
            "name": name,
            "description": description,
            "owner": owner,
            "criticality": criticality,
            "self_service": self_service,
            "certifiable": certifiable,
            "attributes": attributes or {},
        },
    )
    config_create(ent, action="entitlement.create", actor=actor, source=source, **_ENTITLEMENT_WRITE)
    _provisioning_entry(ent.resource, ProvisioningEvent.CREATE_ENTITLEMENT, ent)
    return ent


@transaction.atomic
def entitlement_update(
    *, actor: User | None, source: str, entitlement: Entitlement, data: Mapping[str, Any]
) -> Entitlement:
    """Change the given fields of an entitlement (its resource is fixed)."""
    with config_update(
        Entitlement.objects.select_related("resource"),
        entitlement.pk,
        action="entitlement.update",
        actor=actor,
        source=source,
        **_ENTITLEMENT_WRITE,
    ) as change:
        _entitlement_apply(change.obj, data)
    if set(change.new) & {"identifier", "name", "description", "attributes"}:
        _provisioning_entry(change.obj.resource, ProvisioningEvent.UPDATE_ENTITLEMENT, change.obj)
    return change.obj


@transaction.atomic
def entitlement_delete(*, actor: User | None, source: str, entitlement: Entitlement) -> None:
    """Delete an entitlement no account holds and no role grants."""
    ent = Entitlement.objects.select_for_update().select_related("resource").get(pk=entitlement.pk)
    holders = EntitlementMembership.objects.filter(entitlement=ent).count()
    roles = RoleEntitlement.objects.filter(entitlement=ent).count()
    fields: dict[str, list[str]] = {}
    if holders:
        fields["memberships"] = [f"{holders} account(s) hold this entitlement."]
    if roles:
        fields["roles"] = [f"{roles} role(s) grant this entitlement."]
    if fields:
        raise Conflict(
            f"Entitlement {ent.identifier!r} cannot be deleted: " + " ".join(m[0] for m in fields.values()),
            fields=fields,
        )
    config_delete(
        ent,
        fields=ENTITLEMENT_FIELDS,
        actor=actor,
        source=source,
        action="entitlement.delete",
        before_delete=lambda gone: _provisioning_entry(
            gone.resource, ProvisioningEvent.REMOVE_ENTITLEMENT, gone
        ),
    )


# --- roles (metadata; items go through access.role_change_submit) ---------------------------

ROLE_FIELDS = ("code", "name", "description", "owner", "criticality", "self_service", "certifiable")
ROLE_CODE_TAKEN = gettext_noop("A role with this code already exists.")
_ROLE_WRITE: dict[str, Any] = {
    "fields": ROLE_FIELDS,
    "conflict": ROLE_CODE_TAKEN,
    "conflict_field": "code",
    "validate": True,
}


def _role_apply(role: Role, data: Mapping[str, Any]) -> None:
    _check_keys(data, ROLE_FIELDS)
    if "code" in data:
        role.code = _clean_code(data["code"])
        if Role.objects.filter(code=role.code).exclude(pk=role.pk).exists():
            raise Conflict(
                gettext("A role with code %(code)r already exists.") % {"code": role.code},
                fields={"code": [gettext(ROLE_CODE_TAKEN)]},
            )
    _catalog_fields_apply(role, data)


@transaction.atomic
def role_create(
    *,
    actor: User | None,
    source: str,
    code: str,
    name: str,
    description: str = "",
    owner: Any = None,
    criticality: str = Criticality.MEDIUM,
    self_service: bool = True,
    certifiable: bool = True,
) -> Role:
    """Create an empty role; add resources and entitlements with ``access.role_change_submit``."""
    role = Role()
    _role_apply(
        role,
        {
            "code": code,
            "name": name,
            "description": description,
            "owner": owner,
            "criticality": criticality,
            "self_service": self_service,
            "certifiable": certifiable,
        },
    )
    return config_create(role, action="role.create", actor=actor, source=source, **_ROLE_WRITE)


@transaction.atomic
def role_update(*, actor: User | None, source: str, role: Role, data: Mapping[str, Any]) -> Role:
    """Change a role's metadata (not its items)."""
    with config_update(
        Role, role.pk, action="role.update", actor=actor, source=source, **_ROLE_WRITE
    ) as change:
        _role_apply(change.obj, data)
    return change.obj


@transaction.atomic
def role_delete(*, actor: User | None, source: str, role: Role) -> None:
    """Delete a role without members and without a role change in progress. (Deleting a role
    with members would silently drop what it grants; revoke the memberships first.)"""
    locked = Role.objects.select_for_update().get(pk=role.pk)
    members = RoleMembership.objects.filter(role=locked).count()
    if members:
        raise Conflict(
            gettext("Role %(code)r still has %(members)s member(s); revoke the memberships first.")
            % {"code": locked.code, "members": members},
            fields={"members": [gettext("%(members)s user(s) hold this role.") % {"members": members}]},
        )
    running = RoleChange.objects.filter(
        role=locked, status__in=[RoleChangeStatus.PENDING, RoleChangeStatus.RUNNING]
    ).count()
    if running:
        raise Conflict(
            gettext("Role %(code)r has %(running)s role change(s) in progress.")
            % {"code": locked.code, "running": running},
            fields={
                "changes": [gettext("%(running)s role change(s) pending or running.") % {"running": running}]
            },
        )
    items = {
        "resources": sorted(locked.role_resources.values_list("resource_id", flat=True)),
        "entitlements": sorted(locked.role_entitlements.values_list("entitlement_id", flat=True)),
    }
    config_delete(locked, fields=ROLE_FIELDS, actor=actor, source=source, action="role.delete", extra=items)
