"""How a decision on an SoD task applies (registered with the worklist by ``SodConfig.ready``).

On a request's SoD task, approving grants the beneficiary an exception (a reason and an expiry
date are required) and lets the request go on once every SoD task of it is approved; rejecting
rejects the request (the request pipeline's ``task_approve``/``task_reject`` do both, with its
locks and timeline). On a detected violation's task, approving grants the exception and marks
the violation accepted; rejecting refuses the exception: the violation stays open until one of
the accesses is removed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.errors import NotAllowed, TransitionNotAllowed, ValidationFailed
from blazon.permissions import can
from directory.models import User
from requests_workflow.selectors import task_decider
from requests_workflow.services.approvals import task_approve, task_reject
from sod.models import SoDViolation, ViolationStatus
from sod.services.exceptions import exception_input_check, sod_exception_grant
from worklist.models import Task, TaskStatus
from worklist.registry import APPROVE
from worklist.services import task_close


def sod_task_decide(
    *,
    actor: User,
    source: str,
    task: Task,
    decision: str,
    comment: str = "",
    exception_expires_at: datetime | None = None,
    **details: Any,
) -> Task:
    """Apply ``decision`` to an SoD task (see the module docstring)."""
    if task.request_id is not None:
        if decision == APPROVE:
            return task_approve(
                actor=actor,
                source=source,
                task=task,
                comment=comment,
                start_at=details.get("start_at"),
                end_at=details.get("end_at"),
                exception_expires_at=exception_expires_at,
            )
        return task_reject(actor=actor, source=source, task=task, reason=comment)
    return sod_violation_task_decide(
        actor=actor,
        source=source,
        task=task,
        decision=decision,
        comment=comment,
        exception_expires_at=exception_expires_at,
    )


@transaction.atomic
def sod_violation_task_decide(
    *,
    actor: User,
    source: str,
    task: Task,
    decision: str,
    comment: str = "",
    exception_expires_at: datetime | None = None,
) -> Task:
    """Decide the task of a detected violation: approve = exception, reject = refused."""
    violation = (
        SoDViolation.objects.select_for_update(of=("self",))
        .select_related("rule", "user")
        .filter(task_id=task.pk)
        .first()
    )
    if violation is None:
        raise ValidationFailed(_("This SoD task belongs to no request and no violation."))
    task = Task.objects.select_for_update(of=("self",)).get(pk=task.pk)
    if task.status != TaskStatus.OPEN:
        raise TransitionNotAllowed(
            _("Task #%(id)s is already %(status)s.") % {"id": task.pk, "status": task.status},
            code="task_closed",
        )
    if violation.status == ViolationStatus.RESOLVED:
        raise TransitionNotAllowed(
            _("Violation #%(id)s is resolved: nothing to decide.") % {"id": violation.pk}
        )
    if actor is None or actor.pk == violation.user_id:
        raise NotAllowed(_("Nobody decides an SoD violation of their own."))
    allowed, __ = task_decider(task, actor)
    unassigned = task.queue_id is None and not task.assignees.exists()
    if not allowed and not (unassigned and can(actor, "manage_users")):
        raise NotAllowed(
            _("%(username)s may not decide task #%(id)s.") % {"username": actor.username, "id": task.pk}
        )
    comment = (comment or "").strip()
    if decision == APPROVE:
        exception_input_check(reason=comment, expires_at=exception_expires_at)
        task_close(task=task, status=TaskStatus.APPROVED, actor=actor, comment=comment)
        exc = sod_exception_grant(
            actor=actor,
            source=source,
            rule=violation.rule,
            user=violation.user,
            reason=comment,
            expires_at=exception_expires_at,
        )
        violation.status, violation.exception = ViolationStatus.ACCEPTED, exc
        violation.save(update_fields=["status", "exception"])
        audit_record(
            actor=actor,
            action="sod_violation.accepted",
            obj=violation,
            old={"status": ViolationStatus.OPEN},
            new={"status": ViolationStatus.ACCEPTED, "exception": exc.pk, "task": task.pk},
            source=source,
            subject_user_id=violation.user_id,
        )
        return task
    if not comment:
        raise ValidationFailed(
            _("Refusing an exception needs a reason."), fields={"reason": [_("Required.")]}
        )
    task_close(task=task, status=TaskStatus.REJECTED, actor=actor, comment=comment)
    audit_record(
        actor=actor,
        action="sod_violation.exception_refused",
        obj=violation,
        new={"task": task.pk, "reason": comment},
        source=source,
        subject_user_id=violation.user_id,
    )
    return task
