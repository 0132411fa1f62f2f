"""Stage 3: approval policies (levels of approvers, any one or all) and the SoD approval.

The first matching active policy (lowest priority) decides who approves; its levels run in order
and each level's tasks are created only when the previous level is approved. With ``ANY`` one
task is shared by all the level's approvers; with ``ALL`` each approver gets a task and every
one must approve. Nobody approves their own request: the requester and the beneficiary are never
approvers. A level whose approvers cannot be found (no manager, no owner) gets an unassigned task
that a console administrator resolves. The out-of-office delegate of an assignee may decide too
(``requests_workflow.selectors.decider_filter``); the decision is theirs, recorded "on behalf of"
the assignee on the task, the timeline and the audit event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import NotAllowed, TransitionNotAllowed, ValidationFailed
from blazon.permissions import can
from blazon.tasks import enqueue_on_commit
from directory.models import User
from requests_workflow.models import (
    ApprovalLevel,
    ApprovalPolicy,
    ApproverKind,
    Delegation,
    Request,
    RequestStatus,
)
from requests_workflow.selectors import task_decider
from requests_workflow.services.approvers import approvers_of_level as _approvers
from requests_workflow.services.approvers import request_criticality as _criticality
from requests_workflow.services.approvers import request_target as _target
from requests_workflow.services.common import request_event, request_move, request_save
from requests_workflow.services.sla import sla_tasks_opened
from requests_workflow.subjects import request_subject
from requests_workflow.tasks import process_request
from requests_workflow.types import SPECS
from sod.services import sod_check_request
from sod.services.conflicts import sod_request_conflict_accept, sod_request_tasks_open
from sod.services.exceptions import exception_input_check
from worklist.models import ApprovalMode, Task, TaskKind, TaskStatus
from worklist.registry import APPROVE
from worklist.services import task_close, task_open, tasks_cancel

R = RequestStatus


# --- matching ---------------------------------------------------------------------------------


def _beneficiary_value(user: User | None, name: str) -> Any:
    if user is None:
        return None
    if name in ("organization", "manager"):
        related = getattr(user, name)
        return getattr(related, "code", None) or getattr(related, "username", None)
    if hasattr(user, name) and name != "attributes":
        return getattr(user, name)
    return (user.attributes or {}).get(name)


def approval_policy_applies(policy: ApprovalPolicy, req: Request) -> bool:
    """Whether all of ``policy``'s conditions hold for ``req`` (its activity aside): the one
    matching rule, used for one request and, in memory, for a batch."""
    resource, entitlement, role = _target(req)
    for ref_id, obj in (
        (policy.resource_id, resource),
        (policy.entitlement_id, entitlement),
        (policy.role_id, role),
    ):
        if ref_id is not None and (obj is None or obj.pk != ref_id):
            return False
    if policy.request_types and req.type not in policy.request_types:
        return False
    if policy.criticality and policy.criticality != _criticality(req):
        return False
    conditions = policy.beneficiary_conditions or {}
    return not any(_beneficiary_value(req.beneficiary, k) != v for k, v in conditions.items())


def approval_policies_active() -> list[ApprovalPolicy]:
    """Every active policy in matching order (lowest priority first): what a batch matches
    its requests against in memory."""
    return list(ApprovalPolicy.objects.filter(active=True).order_by("priority", "id"))


def approval_policy_match(
    req: Request, policies: list[ApprovalPolicy] | None = None
) -> ApprovalPolicy | None:
    """The active policy with the lowest priority whose conditions all hold for ``req``;
    ``policies`` (from ``approval_policies_active``) spares the query in a batch."""
    if policies is None:
        resource, entitlement, role = _target(req)
        policies = list(
            ApprovalPolicy.objects.filter(active=True)
            .filter(Q(resource__isnull=True) | Q(resource=resource))
            .filter(Q(entitlement__isnull=True) | Q(entitlement=entitlement))
            .filter(Q(role__isnull=True) | Q(role=role))
            .order_by("priority", "id")
        )
    return next((p for p in policies if approval_policy_applies(p, req)), None)


def _open_level(req: Request, level: ApprovalLevel, *, actor: Any) -> list[Task]:
    """Create the tasks of one level and record who they went to."""
    title = (
        f"Approve {req.get_type_display().lower()} for {req.beneficiary or 'a new user'} (request #{req.pk})"
    )
    common: dict[str, Any] = {
        "kind": TaskKind.APPROVAL,
        "request": req,
        "subject": request_subject(req),
        "level": level.position,
        "mode": level.mode,
        "title": title,
    }
    if level.approver_kind == ApproverKind.QUEUE and level.queue is not None:
        tasks = [task_open(queue=level.queue, **common)]
        who = f"queue {level.queue.name}"
    else:
        approvers = _approvers(req, level)
        if not approvers:
            tasks = [task_open(**common)]
            who = f"no {level.get_approver_kind_display().lower()} found: a console administrator decides"
        elif level.mode == ApprovalMode.ALL:
            tasks = [task_open(assignees=[user], **common) for user in approvers]
            who = "all of " + ", ".join(u.username for u in approvers)
        else:
            tasks = [task_open(assignees=approvers, **common)]
            who = "any of " + ", ".join(u.username for u in approvers)
    sla_tasks_opened(tasks, req=req)
    req.approval_level = level.position
    request_save(req, ["approval_level", "updated_at"])
    request_event(
        req, stage=3, actor=actor, message=f"Approval level {level.position} ({level.mode}) sent to {who}."
    )
    return tasks


def approval_stage_start(req: Request, *, actor: Any) -> None:
    """Stage 3 for a NEW request: tasks for the first level of the matching policy, or straight
    to the SoD check when the type needs no approval or no policy matches."""
    spec = SPECS[req.type]
    if not spec.approval:
        request_event(req, stage=3, actor=actor, message=f"{req.type} requests need no approval.")
        sod_stage(req, actor=actor)
        return
    if req.source == "automatic":
        request_event(
            req, stage=3, actor=actor, message="Automatic request (end of a time-bound access): no approval."
        )
        sod_stage(req, actor=actor)
        return
    policy = approval_policy_match(req)
    if policy is None:
        request_event(req, stage=3, actor=actor, message="No approval policy matched: no approval needed.")
        sod_stage(req, actor=actor)
        return
    req.approval_policy = policy
    request_save(req, ["approval_policy", "updated_at"])
    levels = list(policy.levels.order_by("position"))
    if not levels:
        request_event(
            req, stage=3, actor=actor, message=f"Approval policy {policy.name} has no levels: approved."
        )
        sod_stage(req, actor=actor)
        return
    request_move(
        req, R.WAITING_APPROVAL, stage=3, actor=actor, message=f"Approval policy {policy.name} matched."
    )
    _open_level(req, levels[0], actor=actor)


def sod_stage(req: Request, *, actor: Any) -> None:
    """The SoD part of stage 3: ask ``sod`` for conflicts; none → APPROVED."""
    if not SPECS[req.type].sod:
        request_move(req, R.APPROVED, stage=3, actor=actor, message="Approved (no SoD check for this type).")
        return
    conflicts = sod_check_request(req)
    if not conflicts:
        request_event(req, stage=3, actor=actor, message="SoD check: no SoD policy matched.")
        request_move(req, R.APPROVED, stage=3, actor=actor, message="Approved.")
        return
    names = "; ".join(f"{c.rule_name} (already holds {', '.join(c.conflicting_with)})" for c in conflicts)
    request_move(req, R.WAITING_SOD_APPROVAL, stage=3, actor=actor, message=f"SoD conflicts: {names}")
    tasks = sod_request_tasks_open(actor=actor, source=req.source, req=req, conflicts=conflicts)
    sla_tasks_opened(tasks, req=req)
    request_event(
        req,
        stage=3,
        actor=actor,
        message=f"{len(tasks)} SoD task(s) sent to the rules' owners: approving grants an exception.",
    )


# --- deciding tasks ---------------------------------------------------------------------------


def _decider(task: Task, user: User) -> Delegation | None:
    """Check that ``user`` may decide ``task``; return the delegation they act through (locked,
    so it cannot be revoked under the decision), or None when they act in their own name."""
    allowed, delegation_id = task_decider(task, user)
    if allowed and delegation_id is not None:
        delegation = (
            Delegation.objects.select_for_update(of=("self",))
            .select_related("delegator")
            .filter(pk=delegation_id, revoked_at__isnull=True)
            .first()
        )
        if delegation is None or delegation.state() != "ACTIVE":
            raise NotAllowed(
                gettext("%(username)s's delegation for task #%(pk)s has ended.")
                % {"username": user.username, "pk": task.pk}
            )
        return delegation
    if allowed:
        return None
    unassigned = task.queue_id is None and not task.assignees.exists()
    if unassigned and can(user, "manage_users"):
        return None
    raise NotAllowed(
        gettext("%(username)s is not an approver of task #%(pk)s.")
        % {"username": user.username, "pk": task.pk}
    )


def _lock(task: Task) -> tuple[Task, Request]:
    request_id = Task.objects.filter(pk=task.pk).values_list("request_id", flat=True).first()
    if request_id is None:
        raise ValidationFailed(gettext("This task belongs to no request."))
    # request first, then task: the order request_cancel and request_process use (no deadlock)
    req = Request.objects.select_for_update().get(pk=request_id)
    task = Task.objects.select_for_update(of=("self",)).select_related("queue").get(pk=task.pk)
    return task, req


def _check_decider(task: Task, req: Request, actor: User) -> Delegation | None:
    """Refuse a decision ``actor`` may not make; return the delegation they decide through."""
    if task.status != TaskStatus.OPEN:
        raise TransitionNotAllowed(
            gettext("Task #%(pk)s is already %(status)s.") % {"pk": task.pk, "status": task.status},
            code="task_closed",
        )
    expected = R.WAITING_SOD_APPROVAL if task.kind == TaskKind.SOD else R.WAITING_APPROVAL
    if req.status != expected:
        raise TransitionNotAllowed(
            gettext("Request #%(pk)s is %(status)s: its tasks cannot be decided.")
            % {"pk": req.pk, "status": req.status}
        )
    if actor is None or actor.pk in (req.requester_id, req.beneficiary_id):
        raise NotAllowed(
            gettext("Nobody approves their own request: the requester and the beneficiary cannot decide it.")
        )
    return _decider(task, actor)


def _new_period(req: Request, start_at: datetime | None, end_at: datetime | None) -> tuple[Any, Any] | None:
    """The approver may shorten or move the access period, within the requested one."""
    if start_at is None and end_at is None:
        return None
    if not SPECS[req.type].time_bound:
        raise ValidationFailed(
            gettext("%(type)s requests have no access period to change.") % {"type": req.type},
            fields={"end_at": [gettext("No period.")]},
        )
    start = start_at or req.start_at
    end = end_at or req.end_at
    errors: dict[str, list[str]] = {}
    if req.start_at and start and start < req.start_at:
        errors["start_at"] = [
            gettext("The access cannot start before the requested %(start_at)s.")
            % {"start_at": f"{req.start_at:%Y-%m-%d %H:%M}"}
        ]
    if req.end_at and end and end > req.end_at:
        errors["end_at"] = [
            gettext("The access cannot end after the requested %(end_at)s.")
            % {"end_at": f"{req.end_at:%Y-%m-%d %H:%M}"}
        ]
    if start and end and end <= start:
        errors["end_at"] = [gettext("The end must be after the start.")]
    if end and end <= timezone.now():
        errors["end_at"] = [gettext("The end must be in the future.")]
    if errors:
        detail = " ".join(m for ms in errors.values() for m in ms)
        raise ValidationFailed(
            gettext("The access period cannot be changed: %(detail)s") % {"detail": detail}, fields=errors
        )
    return start, end


@transaction.atomic
def task_approve(
    *,
    actor: User,
    source: str,
    task: Task,
    comment: str = "",
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    exception_expires_at: datetime | None = None,
) -> Task:
    """Approve an approval (or SoD) task; may shorten or move the access period. When the level
    is complete the next level opens, or the request goes on to SoD and is approved. Approving
    an SoD task grants the beneficiary an exception to its rule: ``comment`` is its reason and
    ``exception_expires_at`` its end (both required); the request goes on when no SoD task of
    it is left open."""
    task, req = _lock(task)
    delegation = _check_decider(task, req, actor)
    if task.kind == TaskKind.SOD:
        exception_input_check(reason=comment, expires_at=exception_expires_at)
    period = _new_period(req, start_at, end_at)
    task_close(
        task=task,
        status=TaskStatus.APPROVED,
        actor=actor,
        comment=comment.strip(),
        on_behalf_of=delegation.delegator if delegation else None,
    )
    audit_record(
        actor=actor,
        action="task.approved",
        obj=task,
        new={"request": req.pk, "level": task.level, "comment": task.comment, **_on_behalf(delegation)},
        source=source,
        subject_user_id=req.beneficiary_id,
    )
    request_event(
        req,
        stage=3,
        actor=actor,
        message=f"Level {task.level} approved by {actor.username}{_on_behalf_text(delegation)}."
        + (f" Comment: {task.comment}" if task.comment else ""),
    )
    if period is not None:
        old = (req.start_at, req.end_at)
        req.start_at, req.end_at = period
        req.save(update_fields=["start_at", "end_at", "updated_at"])
        request_event(
            req,
            stage=3,
            actor=actor,
            message=f"Access period changed by {actor.username}: "
            f"{_fmt(old[0])} – {_fmt(old[1])} → {_fmt(req.start_at)} – {_fmt(req.end_at)}.",
        )
        audit_record(
            actor=actor,
            action="request.period_changed",
            obj=req,
            old={"start_at": old[0], "end_at": old[1]},
            new={"start_at": req.start_at, "end_at": req.end_at},
            source=source,
            subject_user_id=req.beneficiary_id,
        )
    if task.kind == TaskKind.SOD:
        sod_request_conflict_accept(
            actor=actor, source=source, task=task, req=req, reason=comment, expires_at=exception_expires_at
        )
        if Task.objects.filter(request=req, kind=TaskKind.SOD, status=TaskStatus.OPEN).exists():
            request_event(
                req, stage=3, actor=actor, message="SoD conflict accepted; other SoD tasks are open."
            )
        else:
            request_move(
                req,
                R.APPROVED,
                stage=3,
                actor=actor,
                message=f"SoD conflict accepted: exception until {_fmt(exception_expires_at)}.",
                source=source,
            )
    elif not Task.objects.filter(
        request=req, level=task.level, kind=TaskKind.APPROVAL, status=TaskStatus.OPEN
    ).exists():
        following = (
            ApprovalLevel.objects.filter(policy_id=req.approval_policy_id, position__gt=task.level)
            .order_by("position")
            .first()
        )
        if following is not None:
            _open_level(req, following, actor=actor)
        else:
            sod_stage(req, actor=actor)
    if req.status == R.APPROVED:
        enqueue_on_commit(process_request, req.pk)
    return task


def _on_behalf(delegation: Delegation | None) -> dict[str, Any]:
    """The audit keys of a decision made by a delegate."""
    if delegation is None:
        return {}
    return {"on_behalf_of": delegation.delegator.username, "delegation": delegation.pk}


def _on_behalf_text(delegation: Delegation | None) -> str:
    if delegation is None:
        return ""
    return f" on behalf of {delegation.delegator.username} (out-of-office delegation #{delegation.pk})"


def _fmt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "open"


@transaction.atomic
def task_reject(*, actor: User, source: str, task: Task, reason: str) -> Task:
    """Reject an approval or SoD task (a reason is required): the request is REJECTED and its
    other open tasks are canceled."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            gettext("A rejection needs a reason."), fields={"reason": [gettext("Required.")]}
        )
    task, req = _lock(task)
    delegation = _check_decider(task, req, actor)
    task_close(
        task=task,
        status=TaskStatus.REJECTED,
        actor=actor,
        comment=reason,
        on_behalf_of=delegation.delegator if delegation else None,
    )
    tasks_cancel(Task.objects.filter(request=req))
    audit_record(
        actor=actor,
        action="task.rejected",
        obj=task,
        new={"request": req.pk, "level": task.level, "reason": reason, **_on_behalf(delegation)},
        source=source,
        subject_user_id=req.beneficiary_id,
    )
    request_move(
        req,
        R.REJECTED,
        stage=3,
        actor=actor,
        message=f"Rejected by {actor.username}{_on_behalf_text(delegation)}: {reason}",
        source=source,
    )
    return task


def task_decision_apply(
    *,
    actor: User,
    source: str,
    task: Task,
    decision: str,
    comment: str = "",
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    **details: Any,
) -> Task:
    """How a decision on an APPROVAL or SoD task applies (registered with the worklist by this
    app's ``ready()``): approve (optionally changing the access period) or reject (the comment is
    the reason)."""
    if decision == APPROVE:
        return task_approve(
            actor=actor, source=source, task=task, comment=comment, start_at=start_at, end_at=end_at
        )
    return task_reject(actor=actor, source=source, task=task, reason=comment)


@transaction.atomic
def task_comment_add(
    *, actor: User, source: str, task: Task, text: str, on_behalf_of: User | None = None
) -> None:
    """A comment by an approver (or, ``on_behalf_of`` an assignee, their out-of-office delegate)
    on a task of a request: a line in the request's timeline and an audit event; the task stays
    open. Registered with the worklist as the comment hook of approval and SoD tasks."""
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(gettext("Write a comment first."), fields={"comment": [gettext("Required.")]})
    if task.request_id is None:
        raise ValidationFailed(gettext("This task belongs to no request."))
    behalf = f" on behalf of {on_behalf_of.username}" if on_behalf_of else ""
    req = Request.objects.select_for_update().get(pk=task.request_id)
    request_event(req, stage=3, actor=actor, message=f"Comment by {actor.username}{behalf}: {text}")
    audit_record(
        actor=actor,
        action="task.commented",
        obj=task,
        new={
            "request": req.pk,
            "comment": text,
            **({"on_behalf_of": on_behalf_of.username} if on_behalf_of else {}),
        },
        source=source,
        subject_user_id=req.beneficiary_id,
    )
