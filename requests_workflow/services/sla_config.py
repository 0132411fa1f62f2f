"""Moved to ``worklist.services.sla_config`` (the worklist owns calendars, task definitions and
escalation policies); these names stay importable from here for one release."""

from worklist.services.sla_config import (  # noqa: F401
    CALENDAR_FIELDS,
    DEFINITION_FIELDS,
    POLICY_FIELDS,
    STEP_FIELDS,
    calendar_create,
    calendar_delete,
    calendar_update,
    escalation_policy_create,
    escalation_policy_delete,
    escalation_policy_update,
    escalation_step_create,
    escalation_step_delete,
    escalation_step_update,
    holiday_add,
    holiday_delete,
    task_definition_create,
    task_definition_delete,
    task_definition_update,
    tasks_recheck_escalation,
)
