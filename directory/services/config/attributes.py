"""Attribute definitions: what administrators add to users, or to one resource's accounts or
entitlements (type, required, unique, pattern)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import Count

from blazon.changes import config_create, config_delete, config_update
from blazon.errors import Conflict, ValidationFailed
from directory.models import (
    Account,
    AttributeDefinition,
    AttributeScope,
    AttributeType,
    Entitlement,
    Resource,
    User,
)
from directory.services.config.common import (
    _check_keys,
    _clean_bool,
    _clean_choice,
    _clean_code,
    _clean_text,
    _fail,
    _resolve,
    _snapshot,
)

ATTRIBUTE_FIELDS = ("scope", "resource", "name", "label", "type", "required", "unique", "regex", "position")
ATTRIBUTE_FIXED = ("scope", "resource", "name")
_ATTRIBUTE_WRITE: dict[str, Any] = {
    "fields": ATTRIBUTE_FIELDS,
    "conflict": "An attribute with this name already exists here.",
    "conflict_field": "name",
    "validate": True,
}


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
    return config_create(
        defn, action="attribute_definition.create", actor=actor, source=source, **_ATTRIBUTE_WRITE
    )


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
    with config_update(
        AttributeDefinition,
        definition.pk,
        action="attribute_definition.update",
        actor=actor,
        source=source,
        **_ATTRIBUTE_WRITE,
    ) as change:
        _attribute_apply(change.obj, data)
        if change.obj.unique and not change.before["unique"]:
            _refuse_duplicates(change.obj)
    return change.obj


@transaction.atomic
def attribute_definition_delete(*, actor: User | None, source: str, definition: AttributeDefinition) -> None:
    """Remove an attribute definition; values already stored on objects are left as they are."""
    defn = AttributeDefinition.objects.select_for_update().get(pk=definition.pk)
    config_delete(
        defn, fields=ATTRIBUTE_FIELDS, actor=actor, source=source, action="attribute_definition.delete"
    )
