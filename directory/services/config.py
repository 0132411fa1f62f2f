"""Configuration objects of the directory: organizations, resources, entitlements, roles
(metadata), attribute definitions and the username policy.

Every service is keyword-only, takes ``actor`` and ``source``, runs in one transaction, writes
its audit event (old and new values) in that transaction and raises ``ValidationFailed`` or
``Conflict`` with ``fields`` on bad input, having changed nothing. Adding or removing the items
of a role is not here: it fans out to the members and goes through
``directory.services.access.role_change_submit``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, models, transaction
from django.db.models import Count

from blazon.audit.services import audit_record
from blazon.changes import changes, field_error, snapshot
from blazon.errors import Conflict, ValidationFailed
from directory import ports
from directory.models import (
    Account,
    AttributeDefinition,
    AttributeScope,
    AttributeType,
    Criticality,
    Entitlement,
    EntitlementMembership,
    Organization,
    ProvisioningEvent,
    ProvisioningMode,
    Resource,
    Role,
    RoleChange,
    RoleChangeStatus,
    RoleEntitlement,
    RoleMembership,
    RoleResource,
    User,
    UsernamePolicy,
    default_provisioning_modes,
)

USERNAME_PLACEHOLDERS = frozenset({"first", "last", "middle", "f", "l", "middle_initial"})


# ---------------------------------------------------------------------------------------------
# helpers


_fail = field_error
_snapshot = snapshot
_changes = changes


def _resolve(model: type[models.Model], value: Any, field: str, *, label: str) -> Any:
    """An instance of ``model`` from an instance or a primary key; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, model):
        return value
    if isinstance(value, models.Model):
        raise _fail(field, f"Expected a {label}.")
    try:
        return model.objects.get(pk=int(value))
    except (model.DoesNotExist, ValueError, TypeError):
        raise _fail(field, f"Unknown {label}: {value!r}.") from None


def _resolve_users(values: Iterable[Any] | None, field: str) -> list[User]:
    if values is None:
        return []
    if isinstance(values, str | bytes | Mapping):
        raise _fail(field, "Expected a list of users.")
    users: list[User] = []
    ids: list[int] = []
    for value in values:
        if isinstance(value, User):
            users.append(value)
            continue
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise _fail(field, f"Unknown user: {value!r}.") from None
    if ids:
        found = {u.pk: u for u in User.objects.filter(pk__in=ids)}
        missing = sorted(set(ids) - set(found))
        if missing:
            raise _fail(field, f"Unknown user(s): {', '.join(map(str, missing))}.")
        users.extend(found[i] for i in dict.fromkeys(ids))
    return list({u.pk: u for u in users}.values())


def _check_keys(data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationFailed(
            f"Unknown field(s): {', '.join(unknown)}.", fields={k: ["Unknown field."] for k in unknown}
        )


def _clean_code(code: Any, field: str = "code") -> str:
    if not isinstance(code, str) or not code.strip():
        raise _fail(field, "This field is required.")
    code = code.strip()
    try:
        validate_slug(code)
    except DjangoValidationError:
        raise _fail(field, "Use only letters, numbers, underscores and hyphens.") from None
    if len(code) > 64:
        raise _fail(field, "At most 64 characters.")
    return code


def _clean_text(value: Any, field: str, *, max_length: int, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _fail(field, "Expected text.")
    value = value.strip()
    if required and not value:
        raise _fail(field, "This field is required.")
    if max_length and len(value) > max_length:
        raise _fail(field, f"At most {max_length} characters.")
    return value


def _clean_choice(value: Any, field: str, choices: type[models.TextChoices]) -> str:
    if value not in choices.values:
        raise _fail(field, f"{value!r} is not one of {', '.join(choices.values)}.")
    return value


def _clean_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(field, "Expected true or false.")
    return value


def _save(obj: models.Model, *, conflict_field: str, conflict_message: str) -> None:
    """Save, turning a unique-constraint race into a Conflict instead of a 500."""
    try:
        with transaction.atomic():
            obj.full_clean(validate_unique=False, validate_constraints=False)
            obj.save()
    except DjangoValidationError as exc:
        fields = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
        raise ValidationFailed("Invalid input.", fields=fields) from None
    except IntegrityError:
        raise Conflict(conflict_message, fields={conflict_field: [conflict_message]}) from None


def _attributes_validate(scope: str, values: Any, resource: Resource | None, instance_pk: Any) -> dict:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise _fail("attributes", "Expected an object of attribute values.")
    from directory.services.users import attribute_values_validate

    return attribute_values_validate(scope=scope, values=values, resource=resource, instance_pk=instance_pk)


def _provisioning_entry(resource: Resource, event: str, entitlement: Entitlement) -> None:
    ports.provisioning().entry_write(
        resource=resource,
        event_type=event,
        entitlement_id=entitlement.pk,
        payload={"entitlement": entitlement.identifier, "name": entitlement.name},
    )


# ---------------------------------------------------------------------------------------------
# organizations

ORGANIZATION_FIELDS = ("code", "name", "parent", "owner")


def _organization_apply(org: Organization, data: Mapping[str, Any]) -> None:
    _check_keys(data, ORGANIZATION_FIELDS)
    if "code" in data:
        org.code = _clean_code(data["code"])
        if Organization.objects.filter(code=org.code).exclude(pk=org.pk).exists():
            raise Conflict(
                f"An organization with code {org.code!r} already exists.",
                fields={"code": ["An organization with this code already exists."]},
            )
    if "name" in data:
        org.name = _clean_text(data["name"], "name", max_length=200)
    if "owner" in data:
        org.owner = _resolve(User, data["owner"], "owner", label="user")
    if "parent" in data:
        parent = _resolve(Organization, data["parent"], "parent", label="organization")
        if parent is not None and org.pk is not None:
            # Walk up from the new parent: meeting ``org`` means the tree would loop.
            seen, node = set(), parent
            while node is not None and node.pk not in seen:
                if node.pk == org.pk:
                    raise _fail("parent", "An organization cannot be inside itself or one of its children.")
                seen.add(node.pk)
                node = node.parent
        org.parent = parent


@transaction.atomic
def organization_create(
    *, actor: User | None, source: str, code: str, name: str, parent: Any = None, owner: Any = None
) -> Organization:
    """Create a business unit users can belong to."""
    org = Organization()
    _organization_apply(org, {"code": code, "name": name, "parent": parent, "owner": owner})
    _save(org, conflict_field="code", conflict_message="An organization with this code already exists.")
    audit_record(
        actor=actor,
        action="organization.create",
        obj=org,
        new=_snapshot(org, ORGANIZATION_FIELDS),
        source=source,
    )
    return org


@transaction.atomic
def organization_update(
    *, actor: User | None, source: str, organization: Organization, data: Mapping[str, Any]
) -> Organization:
    """Change the given fields (code, name, parent, owner) of an organization."""
    org = Organization.objects.select_for_update().get(pk=organization.pk)
    before = _snapshot(org, ORGANIZATION_FIELDS)
    _organization_apply(org, data)
    old, new = _changes(before, _snapshot(org, ORGANIZATION_FIELDS))
    if not new:
        return org
    _save(org, conflict_field="code", conflict_message="An organization with this code already exists.")
    audit_record(actor=actor, action="organization.update", obj=org, old=old, new=new, source=source)
    return org


@transaction.atomic
def organization_delete(*, actor: User | None, source: str, organization: Organization) -> None:
    """Delete an organization that has no members and no child organizations."""
    org = Organization.objects.select_for_update().get(pk=organization.pk)
    members = User.objects.filter(organization=org).count()
    if members:
        raise Conflict(
            f"Organization {org.code!r} still has {members} member(s); move them first.",
            fields={"members": [f"{members} user(s) belong to this organization."]},
        )
    children = Organization.objects.filter(parent=org).count()
    if children:
        raise Conflict(
            f"Organization {org.code!r} still has {children} child organization(s).",
            fields={"children": [f"{children} organization(s) are inside this one."]},
        )
    old = _snapshot(org, ORGANIZATION_FIELDS)
    audit_record(actor=actor, action="organization.delete", obj=org, old=old, source=source)
    org.delete()


# ---------------------------------------------------------------------------------------------
# resources

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
        raise _fail("provisioning_modes", "Expected an object mapping provisioning events to modes.")
    errors: dict[str, list[str]] = {}
    for event, mode in modes.items():
        if event not in ProvisioningEvent.values:
            errors[f"provisioning_modes.{event}"] = [
                f"Unknown provisioning event; expected one of {', '.join(ProvisioningEvent.values)}."
            ]
        elif mode not in ProvisioningMode.values:
            errors[f"provisioning_modes.{event}"] = [
                f"{mode!r} is not one of {', '.join(ProvisioningMode.values)}."
            ]
    if errors:
        raise ValidationFailed("Invalid provisioning modes.", fields=errors)
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
                f"A resource with code {res.code!r} already exists.",
                fields={"code": ["A resource with this code already exists."]},
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
    _save(res, conflict_field="code", conflict_message="A resource with this code already exists.")
    res.owners.set(owner_users or [])
    audit_record(
        actor=actor, action="resource.create", obj=res, new=_snapshot(res, RESOURCE_FIELDS), source=source
    )
    return res


@transaction.atomic
def resource_update(
    *, actor: User | None, source: str, resource: Resource, data: Mapping[str, Any]
) -> Resource:
    """Change the given fields of a resource; ``provisioning_modes`` may name only some events."""
    res = Resource.objects.select_for_update().get(pk=resource.pk)
    before = _snapshot(res, RESOURCE_FIELDS)
    owner_users = _resource_apply(res, data)
    after = _snapshot(res, RESOURCE_FIELDS)
    if owner_users is not None:
        after["owners"] = sorted(u.pk for u in owner_users)
    old, new = _changes(before, after)
    if not new:
        return res
    _save(res, conflict_field="code", conflict_message="A resource with this code already exists.")
    if owner_users is not None:
        res.owners.set(owner_users)
    audit_record(actor=actor, action="resource.update", obj=res, old=old, new=new, source=source)
    return res


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
            f"Resource {res.code!r} cannot be deleted: it still has {', '.join(parts)}.",
            fields={k: [f"{n} {label}"] for k, (n, label) in found.items()},
        )
    old = _snapshot(res, RESOURCE_FIELDS)
    audit_record(actor=actor, action="resource.delete", obj=res, old=old, source=source)
    res.delete()


# ---------------------------------------------------------------------------------------------
# entitlements

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
            raise _fail("resource", "This field is required.")
        if ent.pk and resource.pk != ent.resource_id:
            raise _fail("resource", "The resource of an entitlement cannot be changed.")
        ent.resource = resource
    if "identifier" in data:
        ent.identifier = _clean_text(data["identifier"], "identifier", max_length=255)
    if "identifier" in data or "resource" in data:
        clash = Entitlement.objects.filter(resource_id=ent.resource_id, identifier=ent.identifier).exclude(
            pk=ent.pk
        )
        if clash.exists():
            raise Conflict(
                f"Resource already has an entitlement {ent.identifier!r}.",
                fields={"identifier": ["This resource already has an entitlement with this identifier."]},
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
    _save(ent, conflict_field="identifier", conflict_message="Duplicate entitlement identifier.")
    audit_record(
        actor=actor,
        action="entitlement.create",
        obj=ent,
        new=_snapshot(ent, ENTITLEMENT_FIELDS),
        source=source,
    )
    _provisioning_entry(ent.resource, ProvisioningEvent.CREATE_ENTITLEMENT, ent)
    return ent


@transaction.atomic
def entitlement_update(
    *, actor: User | None, source: str, entitlement: Entitlement, data: Mapping[str, Any]
) -> Entitlement:
    """Change the given fields of an entitlement (its resource is fixed)."""
    ent = Entitlement.objects.select_for_update().select_related("resource").get(pk=entitlement.pk)
    before = _snapshot(ent, ENTITLEMENT_FIELDS)
    _entitlement_apply(ent, data)
    old, new = _changes(before, _snapshot(ent, ENTITLEMENT_FIELDS))
    if not new:
        return ent
    _save(ent, conflict_field="identifier", conflict_message="Duplicate entitlement identifier.")
    audit_record(actor=actor, action="entitlement.update", obj=ent, old=old, new=new, source=source)
    if set(new) & {"identifier", "name", "description", "attributes"}:
        _provisioning_entry(ent.resource, ProvisioningEvent.UPDATE_ENTITLEMENT, ent)
    return ent


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
    old = _snapshot(ent, ENTITLEMENT_FIELDS)
    audit_record(actor=actor, action="entitlement.delete", obj=ent, old=old, source=source)
    _provisioning_entry(ent.resource, ProvisioningEvent.REMOVE_ENTITLEMENT, ent)
    ent.delete()


# ---------------------------------------------------------------------------------------------
# roles (metadata; items go through access.role_change_submit)

ROLE_FIELDS = ("code", "name", "description", "owner", "criticality", "self_service", "certifiable")


def _role_apply(role: Role, data: Mapping[str, Any]) -> None:
    _check_keys(data, ROLE_FIELDS)
    if "code" in data:
        role.code = _clean_code(data["code"])
        if Role.objects.filter(code=role.code).exclude(pk=role.pk).exists():
            raise Conflict(
                f"A role with code {role.code!r} already exists.",
                fields={"code": ["A role with this code already exists."]},
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
    _save(role, conflict_field="code", conflict_message="A role with this code already exists.")
    audit_record(actor=actor, action="role.create", obj=role, new=_snapshot(role, ROLE_FIELDS), source=source)
    return role


@transaction.atomic
def role_update(*, actor: User | None, source: str, role: Role, data: Mapping[str, Any]) -> Role:
    """Change a role's metadata (not its items)."""
    locked = Role.objects.select_for_update().get(pk=role.pk)
    before = _snapshot(locked, ROLE_FIELDS)
    _role_apply(locked, data)
    old, new = _changes(before, _snapshot(locked, ROLE_FIELDS))
    if not new:
        return locked
    _save(locked, conflict_field="code", conflict_message="A role with this code already exists.")
    audit_record(actor=actor, action="role.update", obj=locked, old=old, new=new, source=source)
    return locked


@transaction.atomic
def role_delete(*, actor: User | None, source: str, role: Role) -> None:
    """Delete a role without members and without a role change in progress. (Deleting a role
    with members would silently drop what it grants; revoke the memberships first.)"""
    locked = Role.objects.select_for_update().get(pk=role.pk)
    members = RoleMembership.objects.filter(role=locked).count()
    if members:
        raise Conflict(
            f"Role {locked.code!r} still has {members} member(s); revoke the memberships first.",
            fields={"members": [f"{members} user(s) hold this role."]},
        )
    running = RoleChange.objects.filter(
        role=locked, status__in=[RoleChangeStatus.PENDING, RoleChangeStatus.RUNNING]
    ).count()
    if running:
        raise Conflict(
            f"Role {locked.code!r} has {running} role change(s) in progress.",
            fields={"changes": [f"{running} role change(s) pending or running."]},
        )
    old = _snapshot(locked, ROLE_FIELDS)
    old["resources"] = sorted(locked.role_resources.values_list("resource_id", flat=True))
    old["entitlements"] = sorted(locked.role_entitlements.values_list("entitlement_id", flat=True))
    audit_record(actor=actor, action="role.delete", obj=locked, old=old, source=source)
    locked.delete()


# ---------------------------------------------------------------------------------------------
# attribute definitions

ATTRIBUTE_FIELDS = ("scope", "resource", "name", "label", "type", "required", "unique", "regex", "position")
ATTRIBUTE_FIXED = ("scope", "resource", "name")


def _regex_validate(value: Any) -> str:
    value = _clean_text(value, "regex", max_length=500, required=False)
    if value:
        try:
            re.compile(value)
        except re.error as exc:
            raise _fail("regex", f"Not a valid regular expression: {exc}.") from None
    return value


def _attribute_duplicates(definition: AttributeDefinition) -> int:
    """How many values of this attribute are held by more than one object today."""
    key = f"attributes__{definition.name}"
    if definition.scope == AttributeScope.USER:
        qs = User.objects.all()
    elif definition.scope == AttributeScope.ACCOUNT:
        qs = Account.objects.filter(resource_id=definition.resource_id)
    else:
        qs = Entitlement.objects.filter(resource_id=definition.resource_id)
    return (
        qs.filter(attributes__has_key=definition.name)
        .values(key)
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )


def _attribute_apply(defn: AttributeDefinition, data: Mapping[str, Any]) -> None:
    _check_keys(data, ATTRIBUTE_FIELDS)
    if defn.pk:
        fixed = [k for k in ATTRIBUTE_FIXED if k in data and data[k] != _snapshot(defn, [k])[k]]
        fixed = [
            k for k in fixed if not (k == "resource" and getattr(data[k], "pk", data[k]) == defn.resource_id)
        ]
        if fixed:
            raise ValidationFailed(
                "Scope, resource and name of an attribute cannot be changed; create a new attribute.",
                fields={k: ["Cannot be changed."] for k in fixed},
            )
    else:
        defn.scope = _clean_choice(data.get("scope"), "scope", AttributeScope)
        defn.resource = _resolve(Resource, data.get("resource"), "resource", label="resource")
        if defn.scope == AttributeScope.USER and defn.resource is not None:
            raise _fail("resource", "User attributes apply to all users: leave the resource empty.")
        if defn.scope != AttributeScope.USER and defn.resource is None:
            raise _fail("resource", f"{defn.scope.title()} attributes belong to one resource: choose it.")
        name = data.get("name")
        defn.name = _clean_code(name, "name")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", defn.name):
            raise _fail("name", "Start with a letter; use only letters, digits and underscores.")
        if AttributeDefinition.objects.filter(
            scope=defn.scope, resource=defn.resource, name=defn.name
        ).exists():
            raise Conflict(
                f"Attribute {defn.name!r} already exists for this scope.",
                fields={"name": ["An attribute with this name already exists here."]},
            )
    if "label" in data:
        defn.label = _clean_text(data["label"], "label", max_length=200)
    if "type" in data:
        defn.type = _clean_choice(data["type"], "type", AttributeType)
    for flag in ("required", "unique"):
        if flag in data:
            setattr(defn, flag, _clean_bool(data[flag], flag))
    if "regex" in data:
        defn.regex = _regex_validate(data["regex"])
    if "position" in data:
        position = data["position"]
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise _fail("position", "Expected a whole number, 0 or more.")
        defn.position = position


@transaction.atomic
def attribute_definition_create(
    *,
    actor: User | None,
    source: str,
    scope: str,
    name: str,
    label: str,
    resource: Any = None,
    type: str = AttributeType.STRING,
    required: bool = False,
    unique: bool = False,
    regex: str = "",
    position: int = 0,
) -> AttributeDefinition:
    """Define an attribute of users (scope USER) or of one resource's accounts or entitlements."""
    defn = AttributeDefinition()
    _attribute_apply(
        defn,
        {
            "scope": scope,
            "resource": resource,
            "name": name,
            "label": label,
            "type": type,
            "required": required,
            "unique": unique,
            "regex": regex,
            "position": position,
        },
    )
    if defn.unique:
        _refuse_duplicates(defn)
    _save(defn, conflict_field="name", conflict_message="An attribute with this name already exists here.")
    audit_record(
        actor=actor,
        action="attribute_definition.create",
        obj=defn,
        new=_snapshot(defn, ATTRIBUTE_FIELDS),
        source=source,
    )
    return defn


def _refuse_duplicates(defn: AttributeDefinition) -> None:
    dupes = _attribute_duplicates(defn)
    if dupes:
        raise Conflict(
            f"Attribute {defn.name!r} cannot be unique: {dupes} value(s) are shared by several objects.",
            fields={"unique": [f"{dupes} value(s) are not unique today."]},
        )


@transaction.atomic
def attribute_definition_update(
    *, actor: User | None, source: str, definition: AttributeDefinition, data: Mapping[str, Any]
) -> AttributeDefinition:
    """Change label, type, required, unique, regex or position of an attribute definition."""
    defn = AttributeDefinition.objects.select_for_update().get(pk=definition.pk)
    before = _snapshot(defn, ATTRIBUTE_FIELDS)
    _attribute_apply(defn, data)
    old, new = _changes(before, _snapshot(defn, ATTRIBUTE_FIELDS))
    if not new:
        return defn
    if new.get("unique"):
        _refuse_duplicates(defn)
    _save(defn, conflict_field="name", conflict_message="An attribute with this name already exists here.")
    audit_record(actor=actor, action="attribute_definition.update", obj=defn, old=old, new=new, source=source)
    return defn


@transaction.atomic
def attribute_definition_delete(*, actor: User | None, source: str, definition: AttributeDefinition) -> None:
    """Remove an attribute definition; values already stored on objects are left as they are."""
    defn = AttributeDefinition.objects.select_for_update().get(pk=definition.pk)
    old = _snapshot(defn, ATTRIBUTE_FIELDS)
    audit_record(actor=actor, action="attribute_definition.delete", obj=defn, old=old, source=source)
    defn.delete()


# ---------------------------------------------------------------------------------------------
# username policy

USERNAME_POLICY_FIELDS = ("name", "patterns", "lowercase", "max_length", "numeric_suffix", "max_suffix")


def username_patterns_validate(patterns: Any) -> list[str]:
    """A non-empty list of patterns, each using only the known placeholders."""
    if not isinstance(patterns, list) or not patterns:
        raise _fail("patterns", 'Give at least one pattern, e.g. ["{first}.{last}"].')
    known = ", ".join("{" + p + "}" for p in sorted(USERNAME_PLACEHOLDERS))
    errors: dict[str, list[str]] = {}
    clean: list[str] = []
    for i, pattern in enumerate(patterns):
        key = f"patterns[{i}]"
        if not isinstance(pattern, str) or not pattern.strip():
            errors[key] = ["Expected a non-empty text pattern."]
            continue
        try:
            parts = list(string.Formatter().parse(pattern))
        except ValueError as exc:
            errors[key] = [f"Malformed pattern: {exc}."]
            continue
        names = [name for _, name, _, _ in parts if name is not None]
        bad = [n for n in names if n not in USERNAME_PLACEHOLDERS]
        specs = [
            f"{{{n}!{c}}}" if c else f"{{{n}:{s}}}" for _, n, s, c in parts if n is not None and (s or c)
        ]
        if bad:
            errors[key] = [f"Unknown placeholder(s) {', '.join('{' + b + '}' for b in bad)}; use {known}."]
        elif specs:
            errors[key] = [f"Format specifications are not allowed: {', '.join(specs)}."]
        elif not names:
            errors[key] = [f"A pattern needs at least one placeholder ({known})."]
        else:
            clean.append(pattern.strip())
    if errors:
        raise ValidationFailed("Invalid username pattern(s).", fields=errors)
    return clean


def _positive_int(value: Any, field: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(field, f"Expected a whole number from {low} to {high}.")
    return value


@transaction.atomic
def username_policy_update(*, actor: User | None, source: str, data: Mapping[str, Any]) -> UsernamePolicy:
    """Change the active username policy (created with the defaults the first time)."""
    _check_keys(data, USERNAME_POLICY_FIELDS)
    policy = UsernamePolicy.objects.select_for_update().filter(active=True).order_by("pk").first()
    created = policy is None
    if policy is None:
        from directory.selectors import username_policy_active

        policy = username_policy_active()
    before = {} if created else _snapshot(policy, USERNAME_POLICY_FIELDS)
    if "name" in data:
        policy.name = _clean_text(data["name"], "name", max_length=100)
    if "patterns" in data:
        policy.patterns = username_patterns_validate(data["patterns"])
    for flag in ("lowercase", "numeric_suffix"):
        if flag in data:
            setattr(policy, flag, _clean_bool(data[flag], flag))
    if "max_length" in data:
        policy.max_length = _positive_int(data["max_length"], "max_length", low=1, high=150)
    if "max_suffix" in data:
        policy.max_suffix = _positive_int(data["max_suffix"], "max_suffix", low=1, high=100000)
    old, new = _changes(before, _snapshot(policy, USERNAME_POLICY_FIELDS))
    if not new and not created:
        return policy
    policy.save()
    audit_record(
        actor=actor,
        action="username_policy.update",
        obj=policy,
        old=old or None,
        new=new if not created else _snapshot(policy, USERNAME_POLICY_FIELDS),
        source=source,
    )
    return policy
