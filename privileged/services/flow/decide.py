"""Approvers' decisions on access tasks, level by level, and changes to the window."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon import notify
from blazon.errors import Conflict, NotAllowed
from directory.models import User
from privileged.models import AccessRequest, AccessStatus
from privileged.services.flow.common import (
    _audit,
    _group_levels,
    _open_level,
    _request_tasks,
    may_decide,
    window_check,
)
from privileged.services.flow.create import _finished_error, _locked
from privileged.services.flow.end import _end
from privileged.tasks import mail_access_event
from worklist.models import Task, TaskKind, TaskStatus
from worklist.registry import APPROVE
from worklist.services import task_close, tasks_cancel


def _request_of_task(task: Task) -> AccessRequest:
    if task.subject_id is None:
        raise Conflict(_("This task is about no access request."))
    return _locked(AccessRequest(pk=task.subject_id))


@transaction.atomic
def access_task_decide(
    *,
    actor: User,
    source: str,
    task: Task,
    decision: str,
    comment: str = "",
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    **_ignored: Any,
) -> AccessRequest:
    """Approve or disapprove an access request's level task (the worklist's ``decide`` hook for
    ACCESS and ACCESS_REVIEW tasks). An approver may set another window (shorter, moved or longer,
    up to the rule's maximum). The last approval of the last level approves the request; one
    disapproval disapproves it."""
    req = _request_of_task(task)
    locked_task = Task.objects.select_for_update().get(pk=task.pk)
    if actor.pk == req.requester_id:
        raise NotAllowed(_("You cannot approve or disapprove your own access request."))
    if locked_task.status != TaskStatus.OPEN:
        raise Conflict(
            _("This task was already %(status)s.") % {"status": locked_task.get_status_display().lower()},
            code="task_closed",
        )
    if not may_decide(actor, locked_task):
        raise NotAllowed(_("You are not an approver of this task."))
    comment = (comment or "").strip()[:2000]
    if locked_task.kind == TaskKind.ACCESS_REVIEW:
        return _review(req, locked_task, actor=actor, source=source, decision=decision, comment=comment)
    if req.status != AccessStatus.PENDING:
        raise _finished_error(req)
    if decision != APPROVE:
        task_close(task=locked_task, status=TaskStatus.REJECTED, actor=actor, comment=comment)
        tasks_cancel(_request_tasks(req), actor=actor, comment="Disapproved at another task.")
        req.status, req.closed_at, req.closed_by, req.close_reason = (
            AccessStatus.DISAPPROVED,
            timezone.now(),
            actor,
            comment[:500],
        )
        req.level = 0
        req.save(update_fields=["status", "closed_at", "closed_by", "close_reason", "level"])
        _audit(actor, source, "disapproved", req, {"status": AccessStatus.PENDING}, comment=comment)
        notify.on_commit(mail_access_event, req.pk, "disapproved")
        return req
    if window_start is not None or window_end is not None:
        _change_window(
            req,
            actor=actor,
            source=source,
            start=window_start or req.window_start,
            end=window_end or req.window_end,
        )
    task_close(task=locked_task, status=TaskStatus.APPROVED, actor=actor, comment=comment)
    _audit(actor, source, "level_approved", req, approved_level=locked_task.level, comment=comment)
    if _request_tasks(req).filter(level=req.level, kind=TaskKind.ACCESS, status=TaskStatus.OPEN).exists():
        return req  # "all" mode: others of this level still have to approve
    next_level = req.level + 1
    if any(lv.position == next_level for lv in _group_levels(req)):
        req.level = next_level
        req.save(update_fields=["level"])
        _open_level(req, next_level)
        return req
    req.status, req.approved_at, req.level = AccessStatus.APPROVED, timezone.now(), 0
    req.save(update_fields=["status", "approved_at", "level"])
    _audit(actor, source, "approved", req, {"status": AccessStatus.PENDING})
    notify.on_commit(mail_access_event, req.pk, "approved")
    return req


def _change_window(req: AccessRequest, *, actor: User, source: str, start: datetime, end: datetime) -> None:
    if (start, end) == (req.window_start, req.window_end):
        return
    window_check(
        start,
        end,
        max_minutes=int(req.rule.get("max_window_minutes") or 1),
        now=timezone.now(),
        check_start=start != req.window_start,
    )
    old = {"window_start": req.window_start.isoformat(), "window_end": req.window_end.isoformat()}
    req.window_start, req.window_end = start, end
    req.save(update_fields=["window_start", "window_end"])
    _audit(actor, source, "window_changed", req, old)


def _review(
    req: AccessRequest, task: Task, *, actor: User, source: str, decision: str, comment: str
) -> AccessRequest:
    """The after-the-fact review of an emergency access: approving confirms it was justified;
    disapproving records that it was not and, if it is still running, revokes it now."""
    task_close(
        task=task,
        status=TaskStatus.APPROVED if decision == APPROVE else TaskStatus.REJECTED,
        actor=actor,
        comment=comment,
    )
    _audit(actor, source, "reviewed", req, justified=decision == APPROVE, comment=comment)
    if decision != APPROVE and req.status == AccessStatus.APPROVED:
        _end(
            req,
            actor=actor,
            source=source,
            status=AccessStatus.REVOKED,
            why=comment or "emergency access not justified",
        )
    return req
