"""The worklist services: the only way any app opens, assigns, reassigns, decides and closes
tasks.

They write the task rows and queue the notifications the app owning the kind registered
(``worklist.registry``): the users who become resolvers of a task get their message when the
transaction commits (``blazon.notify``), sent by these services — not by model signals. They do
not lock the task's subject, write its timeline or audit the domain meaning of a decision: the
owning app does that around the call, in the same transaction (it knows its lock order).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from blazon import notify
from blazon.errors import ValidationFailed
from directory.models import User
from worklist.models import ApprovalMode, Queue, Task, TaskStatus
from worklist.registry import DECISIONS, SubjectRef, subject_kind, task_kind_handler, task_reassigner

TITLE_MAX = 300


def _notify(task: Task, user_ids: list[int] | None) -> None:
    """Queue, for after commit, the kind's notification to ``user_ids`` (None: every resolver)."""
    notification = task_kind_handler(task.kind).notify
    if notification is not None and (user_ids is None or user_ids):
        notify.on_commit(notification, task.pk, user_ids)


def _add(task: Task, user_ids: list[int], *, fresh: bool = False) -> list[int]:
    """Add the users not yet assignees of ``task``; returns those added (in the given order)."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return []
    through = Task.assignees.through
    present = (
        set()
        if fresh
        else set(
            through.objects.filter(task_id=task.pk, user_id__in=wanted).values_list("user_id", flat=True)
        )
    )
    added = [pk for pk in wanted if pk not in present]
    through.objects.bulk_create([through(task_id=task.pk, user_id=pk) for pk in added])
    return added


def _subject_fields(subject: SubjectRef | None) -> dict[str, Any]:
    """The typed-link columns of ``subject``, whose kind must be registered."""
    if subject is None:
        return {"subject_kind": "", "subject_id": None}
    if subject_kind(subject.kind) is None:
        raise ValueError(f"Unknown task subject kind {subject.kind!r}: register it (register_subject_kind)")
    return {"subject_kind": subject.kind, "subject_id": subject.id}


def task_open(
    *,
    kind: str,
    title: str,
    subject: SubjectRef | None = None,
    request: Any = None,
    level: int = 1,
    mode: str = ApprovalMode.ANY,
    queue: Queue | None = None,
    assignees: Iterable[User] = (),
) -> Task:
    """Open a task of ``kind`` about ``subject`` (the typed link to the owning app's object) for
    its assignees and/or queue (neither: a console administrator resolves it). ``request``: the
    request it belongs to, if any. Its resolvers are notified after commit. The caller gives it
    its SLA (``tasks_sla_apply``) and records it on its subject's timeline."""
    task = Task.objects.create(
        kind=kind,
        request=request,
        level=level,
        mode=mode,
        queue=queue,
        title=title[:TITLE_MAX],
        **_subject_fields(subject),
    )
    if queue is not None:
        _notify(task, None)
    added = _add(task, [u.pk for u in assignees], fresh=True)
    _notify(task, added)
    return task


def tasks_open_bulk(
    *,
    kind: str,
    rows: Sequence[tuple[Any, str, Sequence[int]]],
    subjects: Sequence[SubjectRef | None] | None = None,
) -> list[Task]:
    """Open many tasks of ``kind`` at once: one ``(request, title, assignee ids)`` per task (and,
    in ``subjects``, the subject of each), in three statements whatever their number. Their
    resolvers are notified after commit."""
    about = list(subjects) if subjects is not None else [None] * len(rows)
    if len(about) != len(rows):
        raise ValueError("tasks_open_bulk: one subject per row")
    tasks = Task.objects.bulk_create(
        [
            Task(kind=kind, request=request, title=title[:TITLE_MAX], **_subject_fields(subject))
            for (request, title, _), subject in zip(rows, about, strict=True)
        ]
    )
    through = Task.assignees.through
    through.objects.bulk_create(
        [
            through(task_id=task.pk, user_id=user_id)
            for task, (_, _, user_ids) in zip(tasks, rows, strict=True)
            for user_id in dict.fromkeys(user_ids)
        ]
    )
    for task, (_, _, user_ids) in zip(tasks, rows, strict=True):
        _notify(task, list(dict.fromkeys(user_ids)))
    return tasks


def task_assignees_add(*, task: Task, users: Iterable[User]) -> list[int]:
    """Make ``users`` resolvers of ``task`` too; those not already assignees are notified after
    commit. Returns the ids added."""
    added = _add(task, [u.pk for u in users])
    _notify(task, added)
    return added


def task_assignees_replace(
    *, task: Task, users: Iterable[User], remove: Iterable[User] | None = None
) -> list[int]:
    """Replace resolvers of ``task``: every current assignee (or only ``remove``) gives way to
    ``users``. The newcomers are notified after commit. Returns the ids added."""
    through = Task.assignees.through
    gone = through.objects.filter(task_id=task.pk)
    if remove is not None:
        gone = gone.filter(user_id__in=[u.pk for u in remove])
    keep = [u.pk for u in users]
    gone.exclude(user_id__in=keep).delete()
    return task_assignees_add(task=task, users=users)


def task_queue_set(*, task: Task, queue: Queue | None, notify_members: bool = True) -> None:
    """Give ``task`` to ``queue`` (None: to no queue); the queue's members are notified after
    commit unless ``notify_members`` is False."""
    if task.queue_id == (queue.pk if queue else None):
        return
    task.queue = queue
    task.save(update_fields=["queue"])
    if queue is not None and notify_members:
        _notify(task, list(queue.members.order_by("pk").values_list("pk", flat=True)))


def task_close(
    *,
    task: Task,
    status: str,
    actor: User | None = None,
    comment: str = "",
    on_behalf_of: User | None = None,
) -> Task:
    """Close an open task (``task`` locked by the caller) as APPROVED, REJECTED or CANCELED, by
    ``actor`` (None: the system), optionally on behalf of the assignee they stand in for."""
    if status == TaskStatus.OPEN:
        raise ValueError("task_close closes a task: give APPROVED, REJECTED or CANCELED")
    task.status, task.decided_by, task.decided_at, task.comment = status, actor, timezone.now(), comment
    task.on_behalf_of = on_behalf_of
    task.save(update_fields=["status", "decided_by", "decided_at", "comment", "on_behalf_of"])
    return task


def tasks_cancel(tasks: QuerySet[Task], *, actor: User | None = None, comment: str | None = None) -> int:
    """Cancel the open ones of ``tasks`` (one UPDATE): nobody has to do them any more.
    ``comment`` None leaves their comment as it is. Returns how many were canceled."""
    changes: dict[str, Any] = {"status": TaskStatus.CANCELED, "decided_at": timezone.now()}
    if actor is not None:
        changes["decided_by"] = actor
    if comment is not None:
        changes["comment"] = comment[:2000]
    return tasks.filter(status=TaskStatus.OPEN).update(**changes)


def task_decide(
    *, actor: User, source: str, task: Task, decision: str, comment: str = "", **details: Any
) -> Any:
    """Apply ``decision`` (approve or reject) to ``task`` the way the app owning its kind
    registered (it checks who may decide, locks, closes the task and applies the outcome)."""
    if decision not in DECISIONS:
        raise ValidationFailed(
            gettext("Unknown decision %(decision)r: approve or reject.") % {"decision": decision},
            fields={"decision": [gettext("approve or reject")]},
        )
    decide = task_kind_handler(task.kind).decide
    if decide is None:
        raise ValidationFailed(
            gettext("%(kind)s tasks cannot be decided here.") % {"kind": task.get_kind_display()},
            fields={"task": [gettext("Not decidable.")]},
        )
    return decide(actor=actor, source=source, task=task, decision=decision, comment=comment, **details)


def task_reassign(*, actor: User, source: str, task: Task, to_user: User, comment: str = "") -> Any:
    """Hand ``task`` to ``to_user`` the way the registered reassigner does it (who may, to whom,
    what is recorded: ``worklist.registry.register_task_reassigner``)."""
    reassign = task_reassigner()
    if reassign is None:
        raise ValidationFailed(
            gettext("Tasks cannot be reassigned here."), fields={"task": [gettext("Not reassignable.")]}
        )
    return reassign(actor=actor, source=source, task=task, to_user=to_user, comment=comment)
