"""What the SLA configuration services share: asking the sweep to re-read open tasks, the
field checks (text, positive whole numbers, objects, times), the snapshot and the save that turns
a unique-constraint race into a Conflict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import time
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils.translation import gettext

from blazon.changes import changes, field_error, snapshot
from blazon.errors import Conflict, ValidationFailed
from worklist.models import (
    Calendar,
    EscalationPolicy,
    Task,
    TaskStatus,
)


def tasks_recheck_escalation(tasks: models.QuerySet[Task]) -> int:
    """Configuration changed (steps, calendar, holidays, definition): ask the sweep to re-read
    these open tasks, whose escalation times may have moved (one UPDATE)."""
    return tasks.filter(status=TaskStatus.OPEN).update(next_escalation_at=F("created_at"))


# --- configuration services -------------------------------------------------------------------


_fail = field_error
_changes = changes


def _snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    return snapshot(obj, fields, m2m_value="username")  # step users are audited by username


def _save(obj: models.Model, *, conflict_field: str, conflict_message: str) -> None:
    """Model checks, then save; a unique-constraint race is a Conflict, never a 500."""
    try:
        with transaction.atomic():
            obj.full_clean(validate_unique=False, validate_constraints=False)
            obj.save()
    except DjangoValidationError as exc:
        fields = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
        raise ValidationFailed(
            "Invalid input: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()), fields=fields
        ) from None
    except IntegrityError:
        raise Conflict(conflict_message, fields={conflict_field: [conflict_message]}) from None


def _named(action: str, fields: tuple[str, ...], taken: str) -> dict[str, Any]:
    """How the configuration helpers write an object with a unique name: model checks first,
    a name taken by a concurrent save becomes ``taken`` on the name field."""
    return {"fields": fields, "action": action, "conflict": taken, "conflict_field": "name", "validate": True}


def _text(data: Mapping[str, Any], name: str, *, required: bool = True, default: str = "") -> str:
    value = data.get(name, default)
    value = "" if value is None else str(value).strip()
    if required and not value:
        raise _fail(name, gettext("Required."))
    return value


def _positive_int(data: Mapping[str, Any], name: str, *, default: int | None = None) -> int:
    value = data.get(name, default)
    try:
        number = int(value)
        if isinstance(value, float | Decimal) and number != value:
            raise ValueError
    except (TypeError, ValueError):
        raise _fail(name, gettext("Expected a whole number.")) from None
    if number < 1:
        raise _fail(name, gettext("Expected a whole number, 1 or more."))
    return number


def _instance(model: type[models.Model], value: Any, field: str, label: str) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, model):
        return value
    try:
        return model._default_manager.get(pk=int(value))
    except (ObjectDoesNotExist, TypeError, ValueError):
        raise _fail(
            field, gettext("Unknown %(label)s: %(value)r.") % {"label": label, "value": value}
        ) from None


def _time(value: Any, field: str) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise _fail(field, gettext("Expected a time as HH:MM.")) from None


def _in_use(obj: Calendar | EscalationPolicy, what: str) -> None:
    users = list(obj.definitions.values_list("name", flat=True)[:5])
    if users:
        raise Conflict(
            gettext("%(what)s %(name)s is used by task definition(s) %(users)s: change them first.")
            % {"what": what, "name": obj.name, "users": ", ".join(users)}
        )
