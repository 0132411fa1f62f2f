"""Attribute definitions: what administrators add to users, or to one resource's accounts or
entitlements (type, required, unique, pattern)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db import models, transaction
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext, gettext_lazy

from blazon.audit.services import AuditEntry, audit_record_many
from blazon.changes import config_create, config_delete, config_update
from blazon.errors import Conflict, ValidationFailed
from blazon.patterns import pattern_problem
from directory.models import (
    Account,
    AttributeDefinition,
    AttributeScope,
    AttributeType,
    Entitlement,
    Resource,
    User,
)
from directory.selectors import attribute_holders
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
    problem = pattern_problem(value) if value else None
    if problem:
        raise _fail("regex", problem)
    return str(value)


def _attribute_duplicates(definition: AttributeDefinition) -> int:
    """How many values of this attribute are held by more than one object today."""
    key = f"attributes__{definition.name}"
    qs: QuerySet[Any]
    if definition.scope == AttributeScope.USER:
        qs = User.objects.all()
    elif definition.scope == AttributeScope.ACCOUNT:
        qs = Account.objects.filter(Q(resource_id=definition.resource_id))
    else:
        qs = Entitlement.objects.filter(Q(resource_id=definition.resource_id))
    return int(
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
                gettext(
                    "Scope, resource and name of an attribute cannot be changed; create a new attribute."
                ),
                fields={k: ["Cannot be changed."] for k in fixed},
            )
    else:
        defn.scope = _clean_choice(data.get("scope"), "scope", AttributeScope)
        defn.resource = _resolve(Resource, data.get("resource"), "resource", label="resource")
        if defn.scope == AttributeScope.USER and defn.resource is not None:
            raise _fail("resource", gettext("User attributes apply to all users: leave the resource empty."))
        if defn.scope != AttributeScope.USER and defn.resource is None:
            raise _fail(
                "resource",
                gettext("%(scope)s attributes belong to one resource: choose it.")
                % {"scope": defn.scope.title()},
            )
        name = data.get("name")
        defn.name = _clean_code(name, "name")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", defn.name):
            raise _fail("name", gettext("Start with a letter; use only letters, digits and underscores."))
        if AttributeDefinition.objects.filter(
            scope=defn.scope, resource=defn.resource, name=defn.name
        ).exists():
            raise Conflict(
                gettext("Attribute %(name)r already exists for this scope.") % {"name": defn.name},
                fields={"name": [gettext("An attribute with this name already exists here.")]},
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
            raise _fail("position", gettext("Expected a whole number, 0 or more."))
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
            gettext("Attribute %(name)r cannot be unique: %(dupes)s value(s) are shared by several objects.")
            % {"name": defn.name, "dupes": dupes},
            fields={"unique": [gettext("%(dupes)s value(s) are not unique today.") % {"dupes": dupes}]},
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


HOLDER_NOUNS = {
    AttributeScope.USER: gettext_lazy("user"),
    AttributeScope.ACCOUNT: gettext_lazy("account"),
    AttributeScope.ENTITLEMENT: gettext_lazy("entitlement"),
}


@transaction.atomic
def attribute_definition_delete(
    *, actor: User | None, source: str, definition: AttributeDefinition, purge: bool = False
) -> int:
    """Remove an attribute definition. While users (or the resource's accounts or entitlements)
    still hold a value of it, refused (409, with the count): a value without its definition makes
    every later update of its holder fail. With ``purge`` the values are removed too, each removal
    audited on its holder. Returns how many values were removed."""
    defn = AttributeDefinition.objects.select_for_update().get(pk=definition.pk)
    noun = HOLDER_NOUNS[AttributeScope(defn.scope)]
    holders = attribute_holders(defn)
    purged = 0
    if not purge:
        held = holders.count()
        if held:
            raise Conflict(
                gettext(
                    "Attribute %(name)r is still held by %(held)s %(noun)s(s): delete it with purge to remove their values too, or clear the values first."
                )
                % {"name": defn.name, "held": held, "noun": noun},
                fields={
                    "holders": [
                        gettext("%(held)s %(noun)s(s) hold a value of %(name)r.")
                        % {"held": held, "noun": noun, "name": defn.name}
                    ]
                },
            )
    else:
        purged = _attribute_values_purge(defn, holders, actor=actor, source=source)
    config_delete(
        defn,
        fields=ATTRIBUTE_FIELDS,
        actor=actor,
        source=source,
        action="attribute_definition.delete",
        new={"purged_values": purged} if purge else None,
    )
    return purged


def _attribute_values_purge(
    defn: AttributeDefinition, holders: models.QuerySet[Any], *, actor: User | None, source: str
) -> int:
    """Remove the attribute's value from every holder (locked), one audit event per holder."""
    model = holders.model
    rows = list(holders.select_for_update().order_by("pk"))
    removed: list[tuple[Any, Any]] = [(row, row.attributes.pop(defn.name)) for row in rows]
    model.objects.bulk_update(rows, ["attributes"], batch_size=1000)
    # whose trail the removal shows in: the user, or an account's owner
    subject = {AttributeScope.USER: "pk", AttributeScope.ACCOUNT: "owner_id"}.get(AttributeScope(defn.scope))
    audit_record_many(
        (
            AuditEntry(
                action=f"{model._meta.model_name}.attribute_purge",
                object_type=model._meta.label,
                object_id=row.pk,
                object_repr=str(getattr(row, "username", None) or getattr(row, "identifier", "")),
                old={f"attributes.{defn.name}": value},
                new={f"attributes.{defn.name}": None},
                subject_user_id=getattr(row, subject) if subject else None,
            )
            for row, value in removed
        ),
        actor=actor,
        source=source,
    )
    return len(removed)
