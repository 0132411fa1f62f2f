"""The access flow (seed 003): ask for a credential with a justification and a window, approval
level by level through the worklist, use during the window only, and the end — expiry,
revocation, cancellation — which gives the credential back and rotates its password.

Every service locks the request first, then its tasks; refuses bad input with a clear message
and changes nothing; writes its audit event in the same transaction; queues e-mails for after
the commit.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon import notify
from blazon.audit.services import audit_record
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from blazon.permissions import can
from directory.models import Account, AccountStatus, AccountType, User, UserStatus
from privileged.models import AccessGroupLevel, AccessRequest, AccessStatus, LevelApprover
from privileged.selectors import Rule, rule_for
from privileged.services.itsm import code_check, ticket_audit
from privileged.services.policies import rotate_after_checkout
from privileged.subjects import request_subject
from privileged.tasks import mail_access_event
from vault.models import CheckoutStatus, Secret, SecretKind
from vault.services import (
    account_password_rotate,
    checkout_open,
    checkout_release,
    checkout_reveal,
    secret_reveal,
)
from worklist.models import ApprovalMode, Task, TaskKind, TaskStatus
from worklist.registry import APPROVE
from worklist.services import task_close, task_open, tasks_cancel

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


# --- approvers --------------------------------------------------------------------------------


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


# --- create --------------------------------------------------------------------------------------


def _clean_code(code: str, rule: Rule) -> str:
    code = (code or "").strip()
    if code and not CODE_RE.match(code):
        raise _fail(
            "governance_code",
            _(
                "The governance code may hold letters, digits and . _ - / : only (e.g. INC0012345), "
                "at most 64 characters."
            ),
        )
    if rule.governance_code_required and not code:
        raise _fail(
            "governance_code", _("This credential needs a governance code (the ITSM ticket of the work).")
        )
    return code


@transaction.atomic
def access_request_create(
    *,
    actor: User,
    source: str,
    account: Account,
    reason: str = "",
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    governance_code: str = "",
    emergency: bool = False,
) -> AccessRequest:
    """Ask to use ``account``'s credential under the most restrictive rule of the actor's groups.
    Without approval the request is approved at once for its window; with approval its first
    level's approvers are told; with ``emergency`` (when the rule allows it) approval is skipped,
    every approver is told at once and a review task is opened."""
    now = timezone.now()
    if actor is None or getattr(actor, "status", None) != UserStatus.ACTIVE:
        raise NotAllowed(_("Only an active user may ask for privileged access."))
    acc = Account.objects.select_related("resource", "responsible").get(pk=account.pk)
    if acc.status != AccountStatus.ACTIVE:
        raise _fail(
            "account",
            _("%(acc)s is %(status)s: it cannot be used.")
            % {"acc": acc, "status": acc.get_status_display().lower()},
        )
    rule = rule_for(actor, acc)
    if rule is None:
        raise NotAllowed(_("No access group gives you %(acc)s.") % {"acc": acc})
    reason = (reason or "").strip()
    if rule.justification_required and not reason:
        raise _fail("reason", _("Say why you need this credential: a justification is required."))
    if len(reason) > REASON_MAX:
        raise _fail(
            "reason",
            _("The justification is too long (%(REASON_MAX)s characters at most).")
            % {"REASON_MAX": REASON_MAX},
        )
    code = _clean_code(governance_code, rule)
    if rule.approval_required and not emergency and (window_start is None or window_end is None):
        raise _fail("window_start", _("Give the window (start and end) you need the credential for."))
    start = window_start or now
    end = window_end or start + timedelta(minutes=rule.max_window_minutes)
    window_check(start, end, max_minutes=rule.max_window_minutes, now=now)
    if emergency and not rule.emergency_allowed:
        raise NotAllowed("Emergency access is not allowed for this credential: wait for the approval.")
    itsm = rule.group.itsm
    check = code_check(itsm, code, emergency=emergency) if itsm is not None and code else None
    itsm_status = check.detail if check is not None else ""
    req = AccessRequest(
        requester=actor,
        account=acc,
        group=rule.group,
        rule=rule.as_dict(),
        reason=reason,
        governance_code=code,
        itsm_status=itsm_status[:300],
        window_start=max(start, now) if start < now else start,
        window_end=end,
    )
    try:
        with transaction.atomic():
            req.save()
    except IntegrityError:
        raise Conflict(
            _("You already have a pending or approved request for %(acc)s: use it or cancel it first.")
            % {"acc": acc},
            code="live_request",
        ) from None
    ticket = ticket_audit(itsm, code, check) if itsm is not None and check is not None else None
    _audit(actor, source, "created", req, reason=reason, **({"ticket": ticket} if ticket else {}))
    if emergency:
        _grant_emergency(req, actor=actor, source=source, now=now)
    elif rule.approval_required:
        req.level = 1
        req.save(update_fields=["level"])
        _open_level(req, 1)
        notify.on_commit(mail_access_event, req.pk, "created")
    else:
        req.status, req.approved_at = AccessStatus.APPROVED, now
        req.save(update_fields=["status", "approved_at"])
        _audit(actor, source, "approved", req, automatic=True)
    return req


# --- emergency -----------------------------------------------------------------------------------


def _grant_emergency(req: AccessRequest, *, actor: User, source: str, now: datetime) -> None:
    """Approve now as an emergency: the window starts now (same length), approval tasks are
    canceled, every approver is told at once, and a review task is opened for them."""
    length = req.window_end - req.window_start
    req.window_start, req.window_end = now, now + length
    req.status, req.emergency, req.approved_at, req.level = AccessStatus.APPROVED, True, now, 0
    tasks_cancel(_request_tasks(req), actor=actor, comment="Emergency access: approval skipped.")
    approvers = all_approvers(req)
    req.review_task = task_open(
        kind=TaskKind.ACCESS_REVIEW,
        title=f"Review the emergency access of {req.requester.username} to {req.account}",
        subject=request_subject(req),
        assignees=approvers,
    )
    req.save(
        update_fields=[
            "window_start",
            "window_end",
            "status",
            "emergency",
            "approved_at",
            "level",
            "review_task",
        ]
    )
    _audit(actor, source, "emergency", req, approvers_told=[u.username for u in approvers])
    notify.on_commit(mail_access_event, req.pk, "emergency")


def _locked(req: AccessRequest) -> AccessRequest:
    return (
        AccessRequest.objects.select_for_update(of=("self",))
        .select_related("requester", "account__resource", "account__responsible")
        .get(pk=req.pk)
    )


def _finished_error(req: AccessRequest) -> Conflict:
    return Conflict(
        f"Access request #{req.pk} is {req.get_status_display().lower()}: it can no longer change.",
        code="request_finished",
    )


@transaction.atomic
def access_request_emergency(*, actor: User, source: str, request: AccessRequest) -> AccessRequest:
    """The requester confirms an emergency on their pending request (the group must allow it)."""
    req = _locked(request)
    if req.requester_id != actor.pk:
        raise NotAllowed(_("Only the requester may declare an emergency."))
    if req.status != AccessStatus.PENDING:
        raise _finished_error(req)
    if not req.rule.get("emergency_allowed"):
        raise NotAllowed(_("Emergency access is not allowed for this credential: wait for the approval."))
    _grant_emergency(req, actor=actor, source=source, now=timezone.now())
    return req


# --- decisions -----------------------------------------------------------------------------------


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


# --- use -----------------------------------------------------------------------------------------


def _in_window(req: AccessRequest, now: datetime) -> None:
    if req.requester_id is None:
        raise NotAllowed(_("No such request."))
    if req.status != AccessStatus.APPROVED:
        raise Conflict(
            _(
                "Access request #%(id)s is %(status)s: the credential is not yours to use. "
                "Ask again with a new justification."
            )
            % {"id": req.pk, "status": req.get_status_display().lower()},
            code="not_approved",
        )
    if now < req.window_start:
        raise Conflict(
            _("Your window starts at %(value)s.") % {"value": _when(req.window_start)},
            code="window_not_started",
        )
    if now >= req.window_end:
        raise Conflict(
            _("Your window ended at %(value)s.") % {"value": _when(req.window_end)}, code="window_ended"
        )


@transaction.atomic
def access_reveal(*, actor: User, source: str, request: AccessRequest) -> str:
    """The credential's value for the requester, during the approved window only (audited as a
    reveal by the vault). Administrative and application accounts are checked in to the
    requester's vault first (one holder at a time for an administrative account)."""
    req = _locked(request)
    if actor is None or req.requester_id != actor.pk:
        raise NotAllowed(_("Only the requester may use an approved access."))
    now = timezone.now()
    _in_window(req, now)
    acc = req.account
    if acc.account_type in (AccountType.ADMINISTRATIVE, AccountType.APPLICATION):
        checkout = req.checkout
        if checkout is None or checkout.status != CheckoutStatus.ACTIVE:
            checkout = checkout_open(actor=actor, source=source, account=acc, user=actor)
            req.checkout = checkout
        value = checkout_reveal(actor=actor, source=source, checkout=checkout)
    else:
        secret = Secret.objects.filter(account=acc, kind=SecretKind.ACCOUNT_PASSWORD).first()
        if secret is None:
            raise Conflict(_("%(acc)s has no password in the vault.") % {"acc": acc}, code="no_secret")
        value = secret_reveal(actor=actor, source=source, secret=secret)
    first = req.used_at is None
    req.used_at = req.used_at or now
    req.save(update_fields=["checkout", "used_at"])
    if first:
        _audit(actor, source, "used", req)
    return value


def _end(req: AccessRequest, *, actor: Any, source: str, status: str, why: str) -> dict[str, Any]:
    """End an approved (or pending) request: give the credential back to the vault and rotate
    its password when it was used; cancel its open approval tasks."""
    rotation: dict[str, Any] = {"rotated": False}
    checkout = req.checkout
    if checkout is not None and checkout.status == CheckoutStatus.ACTIVE:
        released = checkout_release(
            actor=actor, source=source, account=req.account, user=req.requester, rotate=True, reason=why[:200]
        )
        rotation = dict(getattr(released, "rotation", rotation))
        rotation = rotate_after_checkout(actor=actor, source=source, account=req.account) or rotation
    elif req.used_at is not None and req.account.account_type == AccountType.SHARED:
        rotation = account_password_rotate(actor=actor, source=source, account=req.account, reason=why[:200])
    tasks_cancel(_request_tasks(req).filter(kind=TaskKind.ACCESS), actor=actor, comment=why[:2000])
    old = {"status": req.status}
    req.status, req.closed_at, req.closed_by, req.close_reason, req.level = (
        status,
        timezone.now(),
        actor,
        why[:500],
        0,
    )
    req.save(update_fields=["status", "closed_at", "closed_by", "close_reason", "level"])
    _audit(actor, source, status.lower(), req, old, reason=why, **rotation)
    return rotation


@transaction.atomic
def access_request_cancel(
    *, actor: User, source: str, request: AccessRequest, reason: str = ""
) -> AccessRequest:
    """The requester cancels their request (pending or approved); a credential already used is
    given back and rotated."""
    req = _locked(request)
    if req.requester_id != actor.pk:
        raise NotAllowed(_("Only the requester may cancel a request."))
    if req.status not in (AccessStatus.PENDING, AccessStatus.APPROVED):
        raise _finished_error(req)
    _end(
        req,
        actor=actor,
        source=source,
        status=AccessStatus.CANCELED,
        why=(reason or "canceled by the requester").strip(),
    )
    notify.on_commit(mail_access_event, req.pk, "canceled")
    return req


@transaction.atomic
def access_request_revoke(
    *, actor: User, source: str, request: AccessRequest, reason: str = ""
) -> AccessRequest:
    """Any one approver ends an approved access at once: the credential is given back and its
    password rotated; the requester needs a new justification to come back."""
    req = _locked(request)
    if not is_approver(actor, req):
        raise NotAllowed(_("Only an approver of this request may revoke it."))
    if req.status != AccessStatus.APPROVED:
        raise Conflict(
            _("Access request #%(id)s is %(status)s: only an approved access is revoked.")
            % {"id": req.pk, "status": req.get_status_display().lower()},
            code="not_approved",
        )
    _end(
        req,
        actor=actor,
        source=source,
        status=AccessStatus.REVOKED,
        why=(reason or "revoked by an approver").strip(),
    )
    notify.on_commit(mail_access_event, req.pk, "revoked")
    return req


@transaction.atomic
def end_for_leaver(*, actor: Any, source: str, request: AccessRequest, why: str) -> None:
    """A requester who leaves the company loses their live request at once (the directory's
    life cycle): an approved access is revoked (given back, rotated), a pending one canceled."""
    req = _locked(request)
    if req.status not in (AccessStatus.PENDING, AccessStatus.APPROVED):
        return
    status = AccessStatus.REVOKED if req.status == AccessStatus.APPROVED else AccessStatus.CANCELED
    _end(req, actor=actor, source=source, status=status, why=why)


# --- the end of windows --------------------------------------------------------------------------


def due_requests(now: datetime) -> Any:
    """Pending or approved requests whose window is over."""
    return AccessRequest.objects.filter(
        status__in=[AccessStatus.PENDING, AccessStatus.APPROVED], window_end__lte=now
    ).order_by("window_end", "pk")


def access_requests_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """End every request whose window is over (the periodic task; in embedded mode the stuck-work
    sweep): an approved one gives the credential back and rotates its password, a pending one is
    closed with its tasks. One short transaction per request, rows another worker holds skipped.
    Idempotent: a second run finds nothing. Returns how many ended."""
    now = now or timezone.now()
    done = 0
    for pk in list(due_requests(now).values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            req = (
                AccessRequest.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("requester", "account__resource", "checkout")
                .filter(pk=pk, status__in=[AccessStatus.PENDING, AccessStatus.APPROVED], window_end__lte=now)
                .first()
            )
            if req is None:
                continue
            why = (
                "the window ended"
                if req.status == AccessStatus.APPROVED
                else "the window ended before approval"
            )
            _end(req, actor=None, source="automatic", status=AccessStatus.EXPIRED, why=why)
            notify.on_commit(mail_access_event, req.pk, "expired")
            done += 1
    return done
