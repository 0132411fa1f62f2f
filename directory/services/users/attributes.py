"""Administrator-defined attributes of users, accounts and entitlements: type, required, regex
and uniqueness checks of their values."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils.translation import gettext

from blazon.errors import ValidationFailed
from blazon.patterns import pattern_fullmatch, pattern_problem
from directory.models import (
    Account,
    AttributeDefinition,
    AttributeScope,
    AttributeType,
    Entitlement,
    Resource,
    User,
)

_TRUE = {"true", "yes", "y", "1", "sim", "s"}
_FALSE = {"false", "no", "n", "0", "nao", "não"}


def _coerce(defn: AttributeDefinition, value: Any) -> Any:
    """The stored (JSON) form of ``value`` for ``defn``'s type; raises ValueError with a message."""
    kind = defn.type
    if kind == AttributeType.INTEGER:
        if isinstance(value, bool):
            raise ValueError("Expected a whole number.")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value.strip())
        raise ValueError("Expected a whole number.")
    if kind == AttributeType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("Expected yes or no (true/false).")
    if kind == AttributeType.DATE:
        if isinstance(value, date):
            return value.isoformat()[:10]
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
        raise ValueError("Expected a date (YYYY-MM-DD).")
    if not isinstance(value, str):
        raise ValueError("Expected text.")
    value = value.strip()
    if kind == AttributeType.EMAIL:
        try:
            validate_email(value)
        except DjangoValidationError:
            raise ValueError("Enter a valid e-mail address.") from None
    if len(value) > 1000:
        raise ValueError("At most 1000 characters.")
    return value


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _definitions(scope: str, resource: Resource | None) -> list[AttributeDefinition]:
    qs = AttributeDefinition.objects.filter(scope=scope)
    qs = qs.filter(resource__isnull=True) if scope == AttributeScope.USER else qs.filter(resource=resource)
    return list(qs.order_by("position", "name"))


def _attributes_clean(
    definitions: Sequence[AttributeDefinition], values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Type, required and regex checks (no query). Returns (clean values, errors by field)."""
    by_name = {d.name: d for d in definitions}
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name in values:
        if name not in by_name:
            known = ", ".join(sorted(by_name)) or "none are defined"
            errors[f"attributes.{name}"] = [
                gettext("Unknown attribute %(name)r (known: %(known)s).") % {"name": name, "known": known}
            ]
    for defn in definitions:
        value = values.get(defn.name)
        key = f"attributes.{defn.name}"
        if _is_empty(value):
            if defn.required:
                errors[key] = [gettext("%(value)s is required.") % {"value": defn.label or defn.name}]
            continue
        try:
            value = _coerce(defn, value)
        except ValueError as exc:
            errors[key] = [str(exc)]
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if defn.regex and pattern_problem(defn.regex):
            errors[key] = [
                gettext(
                    "The format of %(value)s (%(regex)s) cannot be checked: an administrator must correct the attribute's pattern."
                )
                % {"value": defn.label or defn.name, "regex": defn.regex}
            ]
            continue
        if defn.regex and not pattern_fullmatch(defn.regex, text):
            errors[key] = [
                gettext("%(value)s does not match the required format (%(regex)s).")
                % {"value": defn.label or defn.name, "regex": defn.regex}
            ]
            continue
        clean[defn.name] = value
    return clean, errors


def _scope_queryset(scope: str, resource: Resource | None) -> models.QuerySet[Any]:
    if scope == AttributeScope.USER:
        return User.objects.all()
    if scope == AttributeScope.ACCOUNT:
        return Account.objects.filter(resource=resource)
    return Entitlement.objects.filter(resource=resource)


def attribute_values_validate(
    *, scope: str, values: dict[str, Any], resource: Resource | None = None, instance_pk: Any = None
) -> dict[str, Any]:
    """Check ``values`` against the attribute definitions of ``scope`` (and ``resource`` for
    account and entitlement attributes): known names, type, required, regex (full match) and
    uniqueness among the other objects of the scope. Returns the cleaned values (typed, empty
    optional values dropped); raises ValidationFailed with every problem per field."""
    if scope not in AttributeScope.values:
        raise ValidationFailed(
            gettext("Unknown attribute scope %(scope)r.") % {"scope": scope},
            fields={"scope": [gettext("Unknown scope.")]},
        )
    if not isinstance(values, Mapping):
        raise ValidationFailed(
            gettext("Expected an object of attribute values."),
            fields={"attributes": [gettext("Expected an object.")]},
        )
    definitions = _definitions(scope, resource)
    clean, errors = _attributes_clean(definitions, values)
    for defn in definitions:
        if not defn.unique or defn.name not in clean:
            continue
        others = _scope_queryset(scope, resource).filter(**{f"attributes__{defn.name}": clean[defn.name]})
        if instance_pk is not None:
            others = others.exclude(pk=instance_pk)
        if others.exists():
            errors[f"attributes.{defn.name}"] = [
                gettext("%(value)s %(clean)r is already used by another object.")
                % {"value": defn.label or defn.name, "clean": clean[defn.name]}
            ]
    if errors:
        raise ValidationFailed(_summary("Invalid attribute value(s)", errors), fields=errors)
    return clean


def _summary(prefix: str, errors: Mapping[str, list[str]], limit: int = 5) -> str:
    items = [f"{k}: {' '.join(v)}" for k, v in list(errors.items())[:limit]]
    more = (
        " " + gettext("(and %(count)s more)") % {"count": len(errors) - limit} if len(errors) > limit else ""
    )
    return f"{prefix}: " + "; ".join(items) + more
