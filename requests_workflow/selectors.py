"""Read queries of requests and tasks shared by the workspace, the console, the API, the e-mail
links and the decision services.

"Who may decide a task" lives here once (:func:`decider_filter`), so "My tasks", the API task
list, the approval e-mails and ``task_approve``/``task_reject`` always agree. A user may decide an
open task when they are one of its assignees, a member of its queue, or the active out-of-office
delegate of one of its assignees (``Delegation``: computed at the moment of asking, never copied
onto the task) — and never when they made the request or it is for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import (
    Case,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from directory.models import User, UserStatus
from requests_workflow.models import Delegation, DelegationScope
from worklist.models import ApprovalMode, Queue, Task, TaskStatus


def active_delegations(at: datetime | None = None) -> QuerySet[Delegation]:
    """Delegations in force at ``at`` (now by default): started, not ended, not revoked."""
    at = at or timezone.now()
    return Delegation.objects.filter(revoked_at__isnull=True, start_at__lte=at, end_at__gt=at)


def user_delegations(user: User) -> tuple[QuerySet[Delegation], QuerySet[Delegation]]:
    """(the delegations ``user`` gave, the ones given to them), newest first."""
    related = ("delegator", "delegate", "created_by", "revoked_by")
    given = Delegation.objects.filter(delegator=user).select_related(*related)
    received = Delegation.objects.filter(delegate=user).select_related(*related)
    return given.order_by("-start_at", "-id"), received.order_by("-start_at", "-id")


# --- who may decide a task --------------------------------------------------------------------


def _direct(user_id: int) -> Q:
    """``user`` holds the task themselves: an assignee, or a member of its queue."""
    through = Task.assignees.through
    members = Queue.members.through
    return Q(Exists(through.objects.filter(task_id=OuterRef("pk"), user_id=user_id))) | Q(
        queue_id__in=members.objects.filter(user_id=user_id).values("queue_id")
    )


def _covering(user_id: int, at: datetime) -> QuerySet[Delegation]:
    """Active delegations to ``user`` from an assignee of the outer task, whose scope covers the
    task's kind (to be used as a subquery of a Task query set). A delegate who was inactivated or
    locked since loses the tasks at once (an e-mail link needs no sign-in)."""
    through = Task.assignees.through
    return (
        active_delegations(at)
        .filter(delegate_id=user_id, delegate__status=UserStatus.ACTIVE, delegate__login_locked=False)
        .filter(Q(scope=DelegationScope.ALL) | Q(scope=OuterRef("kind")))
        .filter(
            Exists(through.objects.filter(task_id=OuterRef(OuterRef("pk")), user_id=OuterRef("delegator_id")))
        )
        .order_by("start_at", "pk")
    )


def _on_behalf(user_id: int, at: datetime) -> Q:
    """An open task ``user`` may decide as the delegate of one of its assignees. In ALL mode
    ("every approver decides") a delegate who holds a task of the same level in their own name
    does not decide a second one: that would be one person giving two of the approvals."""
    sibling = (
        Task.objects.filter(
            request_id=OuterRef("request_id"),
            level=OuterRef("level"),
            kind=OuterRef("kind"),
            assignees=user_id,
        )
        .exclude(pk=OuterRef("pk"))
        .values("pk")
    )
    return (
        Q(status=TaskStatus.OPEN)
        & Q(Exists(_covering(user_id, at)))
        & ~(Q(mode=ApprovalMode.ALL) & Q(Exists(sibling)))
    )


def decider_filter(user: User, at: datetime | None = None) -> Q:
    """Tasks ``user`` may decide (when open) or has decided on someone's behalf: held directly
    or through an active delegation; never a task of a request they made or that is for them."""
    at = at or timezone.now()
    own = Q(request__requester_id=user.pk) | Q(request__beneficiary_id=user.pk)
    decided_for_others = Q(decided_by_id=user.pk, on_behalf_of__isnull=False)
    return (_direct(user.pk) | _on_behalf(user.pk, at) | decided_for_others) & ~own


def with_delegation(qs: QuerySet[Task], user: User, at: datetime | None = None) -> QuerySet[Task]:
    """Annotate ``delegated_from_id`` / ``delegation_id``: the assignee ``user`` would act for
    and the delegation that allows it (both None when ``user`` holds the task directly)."""
    at = at or timezone.now()
    direct = _direct(user.pk)
    covering = _covering(user.pk, at)
    return qs.annotate(
        delegated_from_id=Case(
            When(direct, then=Value(None)),
            default=Subquery(covering.values("delegator_id")[:1]),
            output_field=IntegerField(),
        ),
        delegation_id=Case(
            When(direct, then=Value(None)),
            default=Subquery(covering.values("pk")[:1]),
            output_field=IntegerField(),
        ),
    )


def decider_tasks(user: User, at: datetime | None = None) -> QuerySet[Task]:
    """Every task ``user`` may decide or decided on someone's behalf, annotated as in
    :func:`with_delegation`. One query; add ``status=OPEN`` for a to-do list."""
    return with_delegation(Task.objects.filter(decider_filter(user, at)), user, at)


def open_tasks_for(user: User) -> QuerySet[Task]:
    """The open tasks ``user`` may decide ("My tasks")."""
    return decider_tasks(user).filter(status=TaskStatus.OPEN)


def task_decider(task: Task, user: User) -> tuple[bool, int | None]:
    """(may ``user`` decide ``task`` as an approver, the id of the delegation it goes through —
    None when they hold the task themselves). The administrator's right to decide tasks nobody
    was found for is the caller's business."""
    row = (
        decider_tasks(user)
        .filter(pk=task.pk, status=TaskStatus.OPEN)
        .values_list("pk", "delegation_id")  # type: ignore[misc]  # annotated by with_delegation
        .first()
    )
    return (False, None) if row is None else (True, row[1])


def attach_delegators(tasks: Iterable[Task]) -> list[Task]:
    """Set ``task.delegated_from`` (a User or None) on tasks annotated by
    :func:`with_delegation`, with one query for the whole list."""
    tasks = list(tasks)
    ids = {getattr(t, "delegated_from_id", None) for t in tasks} - {None}
    users: dict[int, Any] = {u.pk: u for u in User.objects.filter(pk__in=ids)} if ids else {}
    for t in tasks:
        # set here, read by the templates (the model has no such field)
        t.delegated_from = users.get(getattr(t, "delegated_from_id", None) or 0)  # type: ignore[attr-defined]
    return tasks
