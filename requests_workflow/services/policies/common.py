"""What approval and validation policies share: the capability check, the common fields
(name, priority, types, object scope) checked, and the audited create and update."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.changes import config_create, config_update, snapshot
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from blazon.permissions import can
from directory.models import Entitlement, Resource, Role, User
from requests_workflow.models import (
    PENDING_STATUSES,
    ApprovalPolicy,
    RequestType,
    ValidationPolicy,
)

MAX_PRIORITY = 1_000_000


def _require_config(actor: User | None) -> None:
    if actor is not None and not can(actor, "manage_config"):
        raise NotAllowed(gettext("Changing request policies needs the 'manage_config' capability."))


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        detail = " ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items())
        raise ValidationFailed(
            gettext("The policy was not saved. %(detail)s") % {"detail": detail}, fields=errors
        )


def _common(data: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    """Name, priority, types and object scope shared by both kinds of policy, checked."""
    out: dict[str, Any] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = [gettext("Required.")]
    elif len(name) > 200:
        errors["name"] = [gettext("At most 200 characters.")]
    out["name"] = name
    priority = data.get("priority", 100)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
        errors["priority"] = [
            gettext("A whole number from 0 to %(MAX_PRIORITY)s.") % {"MAX_PRIORITY": MAX_PRIORITY}
        ]
    out["priority"] = priority
    out["active"] = bool(data.get("active", True))
    types = data.get("request_types") or []
    if not isinstance(types, list | tuple):
        errors["request_types"] = [gettext("A list of request type codes.")]
        types = []
    unknown = [t for t in types if t not in RequestType.values]
    if unknown:
        errors["request_types"] = [
            gettext("Unknown request type(s): %(value)s.") % {"value": ", ".join(map(str, unknown))}
        ]
    out["request_types"] = sorted(set(types), key=RequestType.values.index) if not unknown else list(types)
    for name_, model in (("resource", Resource), ("entitlement", Entitlement), ("role", Role)):
        value = data.get(name_)
        if value is not None and not isinstance(value, model):
            errors[name_] = [gettext("Expected a %(name_)s.") % {"name_": name_}]
        out[name_] = value
    ent, res = out.get("entitlement"), out.get("resource")
    if isinstance(ent, Entitlement) and isinstance(res, Resource) and ent.resource_id != res.pk:
        errors["entitlement"] = [
            gettext("%(name)s is not an entitlement of %(name2)s.") % {"name": ent.name, "name2": res.name}
        ]
    if out.get("role") is not None and (ent is not None or res is not None):
        errors["role"] = [gettext("A policy is about a role or about a resource/entitlement, not both.")]
    return out


def _name_taken(obj: Any) -> Conflict:
    return Conflict(
        gettext("A policy named %(name)r already exists.") % {"name": obj.name},
        fields={"name": [gettext("This name is taken.")]},
    )


_snapshot = snapshot


def _policy_create(
    model: Any, build: Any, fields: Any, kind: str, actor: Any, source: str, data: dict[str, Any]
) -> Any:
    """Create a policy of ``model`` from form ``data`` (``build`` validates and converts), audited
    as ``<kind>.create``. Shared by approval and validation policies."""
    _require_config(actor)
    return config_create(
        model(**build(data)),
        fields=fields,
        actor=actor,
        source=source,
        action=f"{kind}.create",
        conflict=_name_taken,
    )


def _policy_update(
    model: Any, build: Any, fields: Any, kind: str, actor: Any, source: str, policy: Any, data: dict[str, Any]
) -> Any:
    """Change a policy (locked) with ``data``; audited as ``<kind>.update`` with only the fields
    that changed; nothing written when nothing changed."""
    _require_config(actor)
    with config_update(
        model,
        policy.pk,
        fields=fields,
        actor=actor,
        source=source,
        action=f"{kind}.update",
        conflict=_name_taken,
    ) as change:
        for name, value in build({**change.before, **data, **_objects(change.obj, data)}).items():
            setattr(change.obj, name, value)
    return change.obj


def _objects(obj: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The related objects of ``obj`` (the snapshot holds ids) unless ``data`` replaces them."""
    return {n: data[n] if n in data else getattr(obj, n) for n in ("resource", "entitlement", "role")}


def _in_flight(policy: ApprovalPolicy, statuses: Iterable[str] = PENDING_STATUSES) -> int:
    return policy.requests.filter(status__in=list(statuses)).count()


P = TypeVar("P", ApprovalPolicy, ValidationPolicy)


def _set_active(model: type[P], kind: str, *, actor: User | None, source: str, pk: int, active: bool,
                fields: list[str]) -> P:  # fmt: skip
    """Switch a policy of ``model`` on or off (locked; ``fields`` saved), audited as
    ``<kind>.activate`` / ``<kind>.deactivate``; nothing when it already is. Shared by approval
    and validation policies; the caller's transaction holds the lock."""
    _require_config(actor)
    locked = model.objects.select_for_update().get(pk=pk)
    if locked.active == active:
        return locked
    locked.active = active
    locked.save(update_fields=fields)
    audit_record(
        actor=actor,
        action=f"{kind}.activate" if active else f"{kind}.deactivate",
        obj=locked,
        old={"active": not active},
        new={"active": active},
        source=source,
    )
    return locked
