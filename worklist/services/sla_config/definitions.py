"""Task definitions (which tasks get which SLA, calendar and escalation policy): create, change,
delete."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext, gettext_noop

from blazon.changes import config_create, config_delete, config_update
from directory.models import Criticality, User
from worklist.models import (
    Calendar,
    EscalationPolicy,
    Task,
    TaskDefinition,
    TaskKind,
    TaskStatus,
)
from worklist.registry import subject_type_choices
from worklist.services.sla_config.common import (
    _fail,
    _instance,
    _named,
    _positive_int,
    _text,
    tasks_recheck_escalation,
)

DEFINITION_FIELDS = (
    "name",
    "active",
    "priority",
    "task_kind",
    "request_types",
    "criticality",
    "sla_hours",
    "calendar",
    "escalation_policy",
)


def _definition_apply(definition: TaskDefinition, data: Mapping[str, Any]) -> None:
    definition.name = _text(data, "name", default=definition.name)
    definition.active = bool(data.get("active", definition.active))
    priority = data.get("priority", definition.priority)
    try:
        definition.priority = int(priority)
    except (TypeError, ValueError):
        raise _fail("priority", gettext("Expected a whole number.")) from None
    if definition.priority < 0:
        raise _fail("priority", gettext("Expected a whole number, 0 or more."))
    kind = _text(data, "task_kind", default=definition.task_kind)
    if kind not in TaskKind.values:
        raise _fail("task_kind", gettext("Unknown task kind %(kind)r.") % {"kind": kind})
    definition.task_kind = kind
    types = data.get("request_types", definition.request_types) or []
    if isinstance(types, str | bytes) or not isinstance(types, Iterable):
        raise _fail("request_types", gettext("Expected a list of request type codes."))
    types = sorted({str(t) for t in types})
    known = {code for code, _ in subject_type_choices()}
    unknown = [t for t in types if t not in known]
    if unknown:
        raise _fail(
            "request_types",
            gettext("Unknown request type(s): %(unknown)s.") % {"unknown": ", ".join(unknown)},
        )
    definition.request_types = types
    criticality = _text(data, "criticality", required=False, default=definition.criticality)
    if criticality and criticality not in Criticality.values:
        raise _fail(
            "criticality", gettext("Unknown criticality %(criticality)r.") % {"criticality": criticality}
        )
    definition.criticality = criticality
    definition.sla_hours = _positive_int(data, "sla_hours", default=definition.sla_hours)
    definition.calendar = _instance(
        Calendar, data.get("calendar", definition.calendar_id), "calendar", "calendar"
    )
    definition.escalation_policy = _instance(
        EscalationPolicy,
        data.get("escalation_policy", definition.escalation_policy_id),
        "escalation_policy",
        "escalation policy",
    )


_DEFINITION_TAKEN = gettext_noop("A task definition with this name already exists.")


@transaction.atomic
def task_definition_create(*, actor: User | None, source: str, data: Mapping[str, Any]) -> TaskDefinition:
    """A new task definition (SLA). It applies to tasks opened from now on."""
    definition = TaskDefinition()
    _definition_apply(definition, data)
    return config_create(
        definition,
        actor=actor,
        source=source,
        **_named("task_definition.create", DEFINITION_FIELDS, _DEFINITION_TAKEN),
    )


@transaction.atomic
def task_definition_update(
    *, actor: User | None, source: str, definition: TaskDefinition, data: Mapping[str, Any]
) -> TaskDefinition:
    """Change a definition. Open tasks keep their due date; their escalation follows the new
    calendar and policy from the next sweep."""
    with config_update(
        TaskDefinition,
        definition.pk,
        actor=actor,
        source=source,
        **_named("task_definition.update", DEFINITION_FIELDS, _DEFINITION_TAKEN),
    ) as change:
        _definition_apply(change.obj, data)
    if {"calendar", "escalation_policy"} & change.new.keys():
        tasks_recheck_escalation(Task.objects.filter(definition=change.obj))
    return change.obj


@transaction.atomic
def task_definition_delete(*, actor: User | None, source: str, definition: TaskDefinition) -> None:
    """Delete a definition: its open tasks keep their due date and stop escalating."""
    definition = TaskDefinition.objects.select_for_update().get(pk=definition.pk)
    config_delete(
        definition,
        fields=DEFINITION_FIELDS,
        actor=actor,
        source=source,
        action="task_definition.delete",
        before_delete=lambda d: Task.objects.filter(definition=d, status=TaskStatus.OPEN).update(
            next_escalation_at=None
        ),
    )
