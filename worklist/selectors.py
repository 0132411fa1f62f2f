"""Read queries of the worklist shared by its pages and API."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, OuterRef, Q, QuerySet

from directory.models import User
from worklist.models import Queue, Task, TaskStatus
from worklist.registry import SubjectRef, subjects_resolve, task_access


def tasks_subjects_attach(tasks: list[Task]) -> list[Task]:
    """Load the subjects of ``tasks`` with one query per subject kind, so ``task.subject`` and
    ``task.subject_label`` read nothing more."""
    refs: set[SubjectRef] = {ref for ref in (task.subject_ref for task in tasks) if ref is not None}
    found = subjects_resolve(refs)
    for task in tasks:
        ref = task.subject_ref
        task.__dict__["_subject"] = found.get(ref) if ref is not None else None
    return tasks


# --- who may decide a task ---------------------------------------------------------------------
# The rule is the registered one (``worklist.registry.register_task_access``: requests_workflow
# adds out-of-office delegates and keeps people off their own requests); without one, the
# assignees and the members of the task's queue.


def _held(user: User) -> Q:
    through = Task.assignees.through
    members = Queue.members.through
    return Q(Exists(through.objects.filter(task_id=OuterRef("pk"), user_id=user.pk))) | Q(
        queue_id__in=members.objects.filter(user_id=user.pk).values("queue_id")
    )


def decider_filter(user: User) -> Q:
    """Tasks ``user`` may decide (when open)."""
    access = task_access()
    return access.decider_filter(user) if access is not None else _held(user)


def with_delegation(qs: QuerySet[Task], user: User) -> QuerySet[Task]:
    """``qs`` annotated with whom ``user`` would decide for (``delegated_from_id``)."""
    access = task_access()
    return access.with_delegation(qs, user) if access is not None else qs


def attach_delegators(tasks: Iterable[Task]) -> list[Task]:
    """Set ``task.delegated_from`` (a user or None) on a list annotated by ``with_delegation``."""
    access = task_access()
    if access is not None:
        return access.attach_delegators(tasks)
    tasks = list(tasks)
    for task in tasks:
        task.delegated_from = None  # type: ignore[attr-defined]
    return tasks


def open_tasks_for(user: User) -> QuerySet[Task]:
    """The open tasks ``user`` may decide ("My tasks"), annotated as by ``with_delegation``."""
    return with_delegation(Task.objects.filter(decider_filter(user)), user).filter(status=TaskStatus.OPEN)
