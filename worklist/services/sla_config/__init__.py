"""Configuration of task SLAs (seed "Tarefas"): calendars and holidays, task definitions,
escalation policies and their steps. Each service validates (``ValidationFailed`` with the field
at fault), saves, writes its audit event, and — when it moves escalation times — asks the sweep to
re-read the open tasks concerned (``tasks_recheck_escalation``). The business-hour arithmetic is
in ``worklist.services.calendar``; matching definitions to tasks and the escalation sweep are in
``requests_workflow.services.sla`` for now.

One module per thing configured: ``calendars`` (with holidays), ``escalation`` (policies and
steps), ``definitions``; ``common`` is what they share. The public names are re-exported here."""

from worklist.services.sla_config.calendars import (
    CALENDAR_FIELDS,
    calendar_create,
    calendar_delete,
    calendar_update,
    holiday_add,
    holiday_delete,
)
from worklist.services.sla_config.common import tasks_recheck_escalation
from worklist.services.sla_config.definitions import (
    DEFINITION_FIELDS,
    task_definition_create,
    task_definition_delete,
    task_definition_update,
)
from worklist.services.sla_config.escalation import (
    POLICY_FIELDS,
    STEP_FIELDS,
    escalation_policy_create,
    escalation_policy_delete,
    escalation_policy_update,
    escalation_step_create,
    escalation_step_delete,
    escalation_step_update,
)

__all__ = [
    "CALENDAR_FIELDS",
    "DEFINITION_FIELDS",
    "POLICY_FIELDS",
    "STEP_FIELDS",
    "calendar_create",
    "calendar_delete",
    "calendar_update",
    "escalation_policy_create",
    "escalation_policy_delete",
    "escalation_policy_update",
    "escalation_step_create",
    "escalation_step_delete",
    "escalation_step_update",
    "holiday_add",
    "holiday_delete",
    "task_definition_create",
    "task_definition_delete",
    "task_definition_update",
    "tasks_recheck_escalation",
]
