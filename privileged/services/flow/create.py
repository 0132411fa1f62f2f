"""Asking for access: the justification form's request (rule, window, governance code) and emergency access."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon import notify
from blazon.errors import Conflict, NotAllowed
from directory.models import Account, AccountStatus, User, UserStatus
from privileged.models import AccessRequest, AccessStatus
from privileged.selectors import Rule, rule_for
from privileged.services.flow.common import (
    CODE_RE,
    REASON_MAX,
    _audit,
    _fail,
    _open_level,
    _request_tasks,
    all_approvers,
    window_check,
)
from privileged.services.itsm import code_check, ticket_audit
from privileged.subjects import request_subject
from privileged.tasks import mail_access_event
from worklist.models import TaskKind
from worklist.services import task_open, tasks_cancel


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
