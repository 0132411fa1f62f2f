"""The SoD tasks of a request (stage 3): one task per rule the request would break, for the
rule's owner, recording what is asked for and how the beneficiary holds the other side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blazon.audit.services import audit_record
from requests_workflow.subjects import request_subject
from sod.models import SoDRequestConflict, SoDRule
from sod.services.check import Conflict
from sod.services.exceptions import sod_exception_grant
from worklist.models import Task, TaskKind
from worklist.services import task_open


def sod_request_tasks_open(*, actor: Any, source: str, req: Any, conflicts: Sequence[Conflict]) -> list[Task]:
    """Open the SoD tasks of ``req`` (locked by the caller, moving to WAITING_SOD_APPROVAL): the
    rule's owner decides, unless they are the requester or the beneficiary (then, like a rule
    without owner, a console administrator decides)."""
    rules = SoDRule.objects.select_related("owner").in_bulk([c.rule_id for c in conflicts if c.rule_id])
    tasks = []
    for conflict in conflicts:
        rule = rules.get(conflict.rule_id or 0)
        if rule is None:
            continue
        owner = rule.owner
        excluded = {req.requester_id, req.beneficiary_id}
        assignees = (
            [owner] if owner is not None and owner.pk not in excluded and owner.status == "ACTIVE" else []
        )
        asked = ", ".join(r["label"] for r in conflict.requested)
        title = f"SoD {rule.name}: {req.beneficiary} asks for {asked} (request #{req.pk})"
        task = task_open(
            kind=TaskKind.SOD, request=req, subject=request_subject(req), title=title, assignees=assignees
        )
        row = SoDRequestConflict.objects.create(
            request=req, rule=rule, task=task, requested=conflict.requested, held=conflict.held
        )
        audit_record(
            actor=actor,
            action="sod_conflict.found",
            obj=row,
            new={
                "request": req.pk,
                "rule": rule.code,
                "requested": [r["label"] for r in conflict.requested],
                "held": conflict.conflicting_with,
                "task": task.pk,
                "decides": owner.username if assignees and owner else "a console administrator",
            },
            source=source,
            subject_user_id=req.beneficiary_id,
        )
        tasks.append(task)
    return tasks


def sod_request_conflict_accept(
    *, actor: Any, source: str, task: Task, req: Any, reason: str, expires_at: Any
) -> None:
    """The owner approved the SoD task ``task`` of ``req``: the beneficiary gets an exception to
    the task's rule (expiry and reason required), linked to the conflict and the request."""
    row = SoDRequestConflict.objects.select_related("rule").filter(task_id=task.pk).first()
    if row is None or req.beneficiary is None:
        return
    row.exception = sod_exception_grant(
        actor=actor,
        source=source,
        rule=row.rule,
        user=req.beneficiary,
        reason=reason,
        expires_at=expires_at,
        request=req,
    )
    row.save(update_fields=["exception"])
