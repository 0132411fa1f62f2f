"""Using an approved access (reveal in the window) and its end: cancel, revoke, leaver, expiry with rotation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon import notify
from blazon.errors import Conflict, NotAllowed
from directory.models import AccountType, User
from privileged.models import AccessRequest, AccessStatus
from privileged.services.flow.common import _audit, _request_tasks, _when, is_approver
from privileged.services.flow.create import _finished_error, _locked
from privileged.services.policies import rotate_after_checkout
from privileged.tasks import mail_access_event
from vault.models import CheckoutStatus, Secret, SecretKind
from vault.services import (
    account_password_rotate,
    checkout_open,
    checkout_release,
    checkout_reveal,
    secret_reveal,
)
from worklist.models import TaskKind
from worklist.services import tasks_cancel


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
