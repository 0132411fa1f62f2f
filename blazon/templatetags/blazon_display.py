"""Template filters that show stored data (audit values, request results: JSON dicts) to people:
field names as labels, booleans as Yes/No, empty values as a dash, lists and nested objects
spelled out — never a Python repr such as ``{'status': 'ACTIVE'}`` or ``False``."""

from __future__ import annotations

from typing import Any

from django import template
from django.apps import apps
from django.utils.translation import gettext as _

register = template.Library()

EMPTY = "—"


def label(key: Any) -> str:
    """``cost_center`` -> ``Cost center``; ``employee_id`` -> ``Employee ID``."""
    words = str(key).replace("-", "_").split("_")
    text = " ".join(
        w.upper() if w.lower() in {"id", "url", "sso", "saml", "oidc", "api", "ip"} else w for w in words
    )
    return text[:1].upper() + text[1:]


@register.filter
def readable(value: Any) -> str:
    """A stored value as a person reads it."""
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if value is True:
        return _("Yes")
    if value is False:
        return _("No")
    if isinstance(value, dict):
        return "; ".join(f"{label(k)}: {readable(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return ", ".join(readable(v) for v in value)
    return str(value)


@register.filter
def readable_items(values: Any) -> list[tuple[str, str]]:
    """A dict as (label, value) rows, in its own order; anything else as one row."""
    if not values:
        return []
    if not isinstance(values, dict):
        return [(_("Value"), readable(values))]
    return [(label(k), readable(v)) for k, v in values.items()]


@register.filter
def changes(event: Any) -> list[tuple[str, str, str]]:
    """An audit event's (field, before, after) rows: every field either side names, the
    changed ones first in the order the event recorded them."""
    old = (
        event.old_values
        if isinstance(event.old_values, dict)
        else ({"value": event.old_values} if event.old_values else {})
    )
    new = (
        event.new_values
        if isinstance(event.new_values, dict)
        else ({"value": event.new_values} if event.new_values else {})
    )
    keys = list(new) + [k for k in old if k not in new]
    return [
        (label(k), readable(old[k]) if k in old else "", readable(new[k]) if k in new else "") for k in keys
    ]


@register.filter
def object_kind(object_type: Any) -> str:
    """An audit event's object type as a person reads it: ``directory.Account`` -> ``Account``,
    ``requests_workflow.Request`` -> ``Request``, ``sod.SoDRule`` -> ``SoD rule`` (the model's
    verbose name); an unknown type keeps its last part."""
    text = str(object_type or "")
    if not text:
        return ""
    try:
        model = apps.get_model(text)
    except (LookupError, ValueError):
        return text.rsplit(".", 1)[-1]
    name = str(model._meta.verbose_name)
    return name[:1].upper() + name[1:]
