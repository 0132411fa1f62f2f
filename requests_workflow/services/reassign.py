"""Reassigning an open task to another user (seed "Tarefas": reassign).

A console administrator may hand any open task to a user; a current assignee may hand over their
own part of it. The rules of approval still hold for the new approver: an active user who can
sign in, neither the requester nor the beneficiary (nobody approves their own request), and not
already holding that approval. Timeline event + audit event, in one transaction.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, NotAllowed, TransitionNotAllowed, ValidationFailed
from blazon.permissions import ADMINISTRATOR, role_of
from directory.models import User, UserStatus
from requests_workflow.models import Request
from requests_workflow.services.common import request_event
from worklist.models import Task, TaskKind, TaskStatus
from worklist.services import task_assignees_replace, task_queue_set


def _lock(task: Task) -> tuple[Task, Request | None]:
    # request first, then task: the lock order of the other request and task services
    request_id = Task.objects.filter(pk=task.pk).values_list("request_id", flat=True).first()
    req = Request.objects.select_for_update().get(pk=request_id) if request_id else None
    locked = Task.objects.select_for_update(of=("self",)).select_related("queue").get(pk=task.pk)
    return locked, req


@transaction.atomic
def task_reassign(*, actor: User, source: str, task: Task, to_user: User, comment: str = "") -> Task:
    """Give ``task`` to ``to_user``. An administrator replaces every assignee (and the queue);
    an assignee replaces only themselves."""
    task, req = _lock(task)
    if task.status != TaskStatus.OPEN:
        raise TransitionNotAllowed(
            gettext("Task #%(pk)s is already %(status)s.") % {"pk": task.pk, "status": task.status},
            code="task_closed",
        )
    assignees = list(task.assignees.all())
    is_admin = role_of(actor) == ADMINISTRATOR
    is_assignee = any(u.pk == actor.pk for u in assignees)
    if not (is_admin or is_assignee):
        raise NotAllowed(
            gettext("%(username)s may not reassign task #%(pk)s: only its assignees or an administrator may.")
            % {"username": actor.username, "pk": task.pk}
        )
    if to_user.status != UserStatus.ACTIVE or to_user.login_locked or not to_user.is_active:
        raise ValidationFailed(
            f"{to_user.username} cannot take the task: they are {to_user.status}"
            + (", login locked" if to_user.login_locked else "")
            + ".",
            fields={"to_user": [gettext("The user cannot sign in.")]},
        )
    if req is not None and to_user.pk in (req.requester_id, req.beneficiary_id):
        raise ValidationFailed(
            gettext(
                "%(username)s is the requester or the beneficiary of request #%(pk)s: nobody approves their own request."
            )
            % {"username": to_user.username, "pk": req.pk},
            fields={"to_user": [gettext("Requester or beneficiary of the request.")]},
        )
    if any(u.pk == to_user.pk for u in assignees):
        raise Conflict(
            gettext("%(username)s is already an assignee of task #%(pk)s.")
            % {"username": to_user.username, "pk": task.pk}
        )
    if (
        req is not None
        and Task.objects.filter(
            request=req, level=task.level, kind=task.kind, status=TaskStatus.OPEN, assignees=to_user
        )
        .exclude(pk=task.pk)
        .exists()
    ):
        raise Conflict(
            gettext("%(username)s already has an open task of this level of request #%(pk)s.")
            % {"username": to_user.username, "pk": req.pk}
        )
    old = {
        "assignees": [u.username for u in assignees],
        "queue": task.queue.name if task.queue is not None else None,
    }
    if is_assignee and not is_admin:
        task_assignees_replace(task=task, users=[to_user], remove=[actor])
    else:
        task_assignees_replace(task=task, users=[to_user])
        task_queue_set(task=task, queue=None)
    new_assignees = sorted(u.username for u in task.assignees.all())
    comment = (comment or "").strip()
    audit_record(
        actor=actor,
        action="task.reassigned",
        obj=task,
        old=old,
        new={
            "assignees": new_assignees,
            "queue": task.queue.name if task.queue is not None else None,
            "to_user": to_user.username,
            "comment": comment,
            "request": req.pk if req else None,
        },
        source=source,
        subject_user_id=req.beneficiary_id if req else None,
    )
    if req is not None:
        request_event(
            req,
            stage=5 if task.kind == TaskKind.PROVISIONING else 3,
            actor=actor,
            message=f"Task #{task.pk} (level {task.level}) reassigned by {actor.username} to {to_user.username}."
            + (f" Comment: {comment}" if comment else ""),
        )
    return task
