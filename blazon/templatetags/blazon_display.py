"""Template filters that show stored data (audit values, request results: JSON dicts) to people:
field names as labels, booleans as Yes/No, empty values as a dash, lists and nested objects
spelled out — never a Python repr such as ``{'status': 'ACTIVE'}`` or ``False``."""

from __future__ import annotations

from typing import Any

from django import template
from django.apps import apps
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

# The names of the objects and fields audit events and request results show (model verbose names
# and field names as ``label`` spells them), extracted for translation; shown through gettext.
LABELS = (
    gettext_noop("Max window minutes"),
    gettext_noop("Closed by"),
    gettext_noop("Close reason"),
    gettext_noop("Accounts activated"),
    gettext_noop("Accounts adopted"),
    gettext_noop("Accounts created"),
    gettext_noop("Accounts deleted"),
    gettext_noop("Accounts inactivated"),
    gettext_noop("Accounts kept manual"),
    gettext_noop("Accounts reactivated"),
    gettext_noop("Accounts revoked"),
    gettext_noop("Members affected"),
    gettext_noop("Memberships adopted"),
    gettext_noop("Memberships created"),
    gettext_noop("Memberships kept manual"),
    gettext_noop("Memberships revoked"),
    gettext_noop("Owner change events"),
    gettext_noop("Owner events canceled"),
    gettext_noop("Role memberships deleted"),
    gettext_noop("Role memberships revoked"),
    gettext_noop("Shared member events"),
    gettext_noop("Shared memberships removed"),
    gettext_noop("Entitlements added"),
    gettext_noop("Entitlements removed"),
    gettext_noop("Access group"),
    gettext_noop("Access group level"),
    gettext_noop("Access request"),
    gettext_noop("Account role grant"),
    gettext_noop("Adapter credential"),
    gettext_noop("Administrative checkout"),
    gettext_noop("Approval level"),
    gettext_noop("Approval policy"),
    gettext_noop("Association rule"),
    gettext_noop("Attribute definition"),
    gettext_noop("Authentication policy"),
    gettext_noop("Authentication rule"),
    gettext_noop("Authorization"),
    gettext_noop("Certification item"),
    gettext_noop("Certification policy"),
    gettext_noop("Delegation"),
    gettext_noop("Directory event"),
    gettext_noop("Escalation step"),
    gettext_noop("Forbidden word"),
    gettext_noop("Holiday"),
    gettext_noop("ITSM instance"),
    gettext_noop("Id p key"),
    gettext_noop("Import job"),
    gettext_noop("Import row"),
    gettext_noop("In process adapter"),
    gettext_noop("Login attempt"),
    gettext_noop("Login failure"),
    gettext_noop("Membership role grant"),
    gettext_noop("Native identifier"),
    gettext_noop("Oidc client"),
    gettext_noop("One time code"),
    gettext_noop("Password change policy"),
    gettext_noop("Password history"),
    gettext_noop("Password reset link"),
    gettext_noop("Password rotation"),
    gettext_noop("Password state"),
    gettext_noop("Pending authn request"),
    gettext_noop("Persistent name id"),
    gettext_noop("Reconciliation link"),
    gettext_noop("Reconciliation profile"),
    gettext_noop("Reconciliation run"),
    gettext_noop("Recovery code"),
    gettext_noop("Request event"),
    gettext_noop("Resource password sync"),
    gettext_noop("Resource retry policy"),
    gettext_noop("Role change step"),
    gettext_noop("Role entitlement"),
    gettext_noop("Role resource"),
    gettext_noop("Rotation policy"),
    gettext_noop("Run row error"),
    gettext_noop("Secret"),
    gettext_noop("Secret question"),
    gettext_noop("Security alert"),
    gettext_noop("Service provider"),
    gettext_noop("Shared account member"),
    gettext_noop("Siem destination"),
    gettext_noop("Signing key"),
    gettext_noop("Situation action"),
    gettext_noop("So d request conflict"),
    gettext_noop("So d rule item"),
    gettext_noop("Source row hash"),
    gettext_noop("Staged row"),
    gettext_noop("Task definition"),
    gettext_noop("Task escalation"),
    gettext_noop("Throttle"),
    gettext_noop("Totp device"),
    gettext_noop("User session"),
    gettext_noop("Validation policy"),
    gettext_noop("Added at"),
    gettext_noop("Closed at"),
    gettext_noop("Console role"),
    gettext_noop("Created at"),
    gettext_noop("Created source"),
    gettext_noop("Date joined"),
    gettext_noop("Email"),
    gettext_noop("Expires at"),
    gettext_noop("Finished at"),
    gettext_noop("ID"),
    gettext_noop("Inactive since"),
    gettext_noop("Is active"),
    gettext_noop("Is staff"),
    gettext_noop("Is superuser"),
    gettext_noop("Is temporary"),
    gettext_noop("Management"),
    gettext_noop("Max length"),
    gettext_noop("Max suffix"),
    gettext_noop("Members affected"),
    gettext_noop("Membership"),
    gettext_noop("Object ID"),
    gettext_noop("Object repr"),
    gettext_noop("Provisioning modes"),
    gettext_noop("Regex"),
    gettext_noop("Removed at"),
    gettext_noop("Resolved by"),
    gettext_noop("Revoked at"),
    gettext_noop("Self service"),
    gettext_noop("Started at"),
    gettext_noop("Status changed at"),
    gettext_noop("Updated at"),
    gettext_noop("User repr"),
)

register = template.Library()

EMPTY = "—"


def label(key: Any) -> str:
    """``cost_center`` -> ``Cost center``; ``employee_id`` -> ``Employee ID``."""
    words = str(key).replace("-", "_").split("_")
    text = " ".join(
        w.upper() if w.lower() in {"id", "url", "sso", "saml", "oidc", "api", "ip"} else w for w in words
    )
    return _(text[:1].upper() + text[1:])


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
    return _(name[:1].upper() + name[1:])
