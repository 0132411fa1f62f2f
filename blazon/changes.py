"""What configuration services record of a change: a snapshot of a model's fields, the fields
that differ between two snapshots, and a one-field validation error. Shared by the directory's
and the requests' configuration services so every audit event of a change has the same shape."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django.db import models

from blazon.errors import ValidationFailed


def field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def snapshot(obj: models.Model, fields: Iterable[str], *, m2m_value: str = "pk") -> dict[str, Any]:
    """The values of ``fields``: foreign keys as ids, many-to-many as the sorted ``m2m_value``
    of the related rows (empty before the object is saved)."""
    out: dict[str, Any] = {}
    for name in fields:
        field = obj._meta.get_field(name)
        if field.many_to_many:
            out[name] = sorted(getattr(obj, name).values_list(m2m_value, flat=True)) if obj.pk else []
        elif field.is_relation:  # a forward foreign key: callers name concrete fields
            out[name] = getattr(obj, cast("models.Field[Any, Any]", field).attname)
        else:
            out[name] = getattr(obj, name)
    return out


def changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(old values, new values) of the keys whose value changed."""
    changed = [k for k in new if old.get(k) != new[k]]
    return {k: old.get(k) for k in changed}, {k: new[k] for k in changed}
