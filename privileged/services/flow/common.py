"""The access flow's shared pieces: limits, audit, window checks, and who approves a request at each level."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.errors import ValidationFailed
from blazon.permissions import can
from directory.models import Account, User, UserStatus
from privileged.models import AccessGroupLevel, AccessRequest, LevelApprover
from privileged.subjects import request_subject
from worklist.models import ApprovalMode, Task, TaskKind
from worklist.services import task_open

#: A governance code (an ITSM ticket number: INC0012345, CHG-2024-17, PROJ-123): letters, digits
#: and ``. _ - / :``, starting with a letter or digit. Anything else (quotes, spaces, ``;``, ``<``)
#: is refused before it reaches a report, an e-mail or an ITSM query.
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$")


REASON_MAX = 2000


#: A window may start this long before now (the form was filled a moment ago).
START_GRACE = timedelta(minutes=5)


#: How far ahead a window may start.
START_HORIZON = timedelta(days=90)


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def _when(value: datetime) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}"


def _describe(req: AccessRequest) -> dict[str, Any]:
    return {
        "status": req.status,
        "account_id": req.account_id,
        "group": req.rule.get("group"),
        "window_start": req.window_start.isoformat(),
        "window_end": req.window_end.isoformat(),
        "governance_code": req.governance_code,
        "emergency": req.emergency,
        "itsm_status": req.itsm_status,
        "level": req.level,
    }


def _audit(
    actor: Any, source: str, action: str, req: AccessRequest, old: dict[str, Any] | None = None, **new: Any
) -> None:
    audit_record(
        actor=actor,
        action=f"privileged.request.{action}",
        obj=req,
        old=old,
        new={**_describe(req), **new},
        source=source,
        subject_user_id=req.requester_id,
    )


def window_check(
    start: datetime, end: datetime, *, max_minutes: int, now: datetime, check_start: bool = True
) -> None:
    """Refuse a window that ends before it starts, is already over, starts in the past (beyond a
    few minutes' grace) or too far ahead, or is longer than the rule allows."""
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise _fail("window_start", _("Give the window's start and end with a time zone."))
    if end <= start:
        raise _fail("window_end", _("The window must end after it starts."))
    if end <= now:
        raise _fail(
            "window_end", _("The window ended at %(value)s: it is in the past.") % {"value": _when(end)}
        )
    if check_start and start < now - START_GRACE:
        raise _fail(
            "window_start",
            _("The window would start at %(value)s, in the past: start it now or later.")
            % {"value": _when(start)},
        )
    if start > now + START_HORIZON:
        raise _fail("window_start", _("The window starts more than 90 days ahead."))
    if end - start > timedelta(minutes=max_minutes):
        raise _fail(
            "window_end",
            _("The window is longer than this credential allows (%(value)s at most).")
            % {"value": _duration(max_minutes)},
        )


def _duration(minutes: int) -> str:
    hours, mins = divmod(minutes, 60)
    if not hours:
        return f"{mins} minutes"
    return f"{hours} hour{'s' if hours != 1 else ''}" + (f" {mins} minutes" if mins else "")


def level_approvers(level: AccessGroupLevel, account: Account, requester_id: int) -> list[User]:
    """Who approves at ``level``: its named users, or the credential's owner (the account's
    responsible, else the resource's owners); never the requester, only active users. A queue
    level has no named approvers (its members decide)."""
    if level.approver_kind == LevelApprover.USERS:
        found = list(level.users.all())
    elif level.approver_kind == LevelApprover.OWNER:
        found = (
            [account.responsible] if account.responsible is not None else list(account.resource.owners.all())
        )
    else:
        found = []
    return [u for u in found if u.pk != requester_id and u.status == UserStatus.ACTIVE]


def _group_levels(req: AccessRequest) -> list[AccessGroupLevel]:
    if req.group_id is None:
        return []
    return list(
        AccessGroupLevel.objects.filter(group_id=req.group_id)
        .select_related("queue")
        .prefetch_related("users")
    )


def _open_level(req: AccessRequest, position: int) -> list[Task]:
    """Open the tasks of approval level ``position``: one task (any one approves) or one per
    approver (all must). A level nobody can approve goes to the console's administrators."""
    level = next((lv for lv in _group_levels(req) if lv.position == position), None)
    title = f"Privileged access to {req.account} for {req.requester.username} (level {position})"
    subject = request_subject(req)
    if level is None:  # the group lost this level since the request was made
        return [task_open(kind=TaskKind.ACCESS, title=title, subject=subject, level=position)]
    approvers = level_approvers(level, req.account, req.requester_id)
    queue = level.queue if level.approver_kind == LevelApprover.QUEUE else None
    if level.mode == ApprovalMode.ALL and len(approvers) > 1:
        return [
            task_open(
                kind=TaskKind.ACCESS,
                title=title,
                subject=subject,
                level=position,
                mode=ApprovalMode.ALL,
                assignees=[user],
            )
            for user in approvers
        ]
    return [
        task_open(
            kind=TaskKind.ACCESS,
            title=title,
            subject=subject,
            level=position,
            mode=level.mode,
            queue=queue,
            assignees=approvers,
        )
    ]


def all_approvers(req: AccessRequest) -> list[User]:
    """Everyone who approves the request at some level (named users, owners, queue members)."""
    found: dict[int, User] = {}
    for level in _group_levels(req):
        for user in level_approvers(level, req.account, req.requester_id):
            found[user.pk] = user
        if level.queue is not None:
            for user in level.queue.members.filter(status=UserStatus.ACTIVE).exclude(pk=req.requester_id):
                found[user.pk] = user
    return list(found.values())


def _request_tasks(req: AccessRequest) -> Any:
    return Task.objects.filter(subject_kind=request_subject(req).kind, subject_id=req.pk)


def may_decide(user: User, task: Task) -> bool:
    """An assignee, a member of the task's queue, or — for a task nobody was found for — a
    console operator who manages users."""
    if task.assignees.filter(pk=user.pk).exists():
        return True
    if (
        task.queue_id is not None
        and task.queue is not None
        and task.queue.members.filter(pk=user.pk).exists()
    ):
        return True
    return task.queue_id is None and not task.assignees.exists() and can(user, "manage_users")


def is_approver(user: User, req: AccessRequest) -> bool:
    """Whether ``user`` approves ``req`` (any level, decided or not) or operates the console."""
    if user.pk == req.requester_id:
        return False
    if can(user, "manage_users"):
        return True
    tasks = _request_tasks(req)
    if tasks.filter(Q(assignees=user) | Q(queue__members=user)).exists():
        return True
    return any(u.pk == user.pk for u in all_approvers(req))
