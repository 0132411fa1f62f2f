"""The reviewers' decisions: keep (recorded with the reviewer and the comment) or revoke (a
``REVOKE_*`` request of the pipeline, source ``certification``, so approval, provisioning and
rollback apply; the item follows that request's outcome).

Two reviewers deciding the same item at once: the items are locked (``SELECT … FOR UPDATE``)
before they are read, so the second waits for the first, then finds the item decided and is
told who decided it. A decision on a campaign that is no longer running is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.errors import Conflict, DomainError, NotAllowed, ValidationFailed
from blazon.permissions import can
from certification.models import CampaignStatus, CertificationItem, Decision, ObjectKind, Outcome
from directory.models import Source, User
from requests_workflow.models import Request, RequestStatus, RequestType
from requests_workflow.services.requests import request_create
from worklist.models import Task, TaskKind, TaskStatus
from worklist.services import task_close

MAX_ITEMS = 500
REVOKE_TYPE = {
    ObjectKind.ACCOUNT: RequestType.REVOKE_ACCOUNT,
    ObjectKind.ENTITLEMENT: RequestType.REVOKE_ENTITLEMENT,
    ObjectKind.ROLE: RequestType.REVOKE_ROLE,
}


def may_decide(user: Any, item: CertificationItem) -> bool:
    """The item's reviewer, a member of its queue, or — for an item nobody reviews (no reviewer
    and no fallback) — an operator who manages users."""
    if getattr(user, "status", None) != "ACTIVE" or getattr(user, "login_locked", False):
        return False
    if item.reviewer_id is not None:
        return bool(item.reviewer_id == user.pk)
    if item.queue_id is not None:
        return bool(item.queue is not None and item.queue.members.filter(pk=user.pk).exists())
    return can(user, "manage_users")


def account_revoke_requests(campaign_id: int, account_ids: list[int | None]) -> dict[int, int]:
    """{account id: its revoke request} for the accounts of ``account_ids`` the campaign revokes."""
    return dict(
        CertificationItem.objects.filter(
            campaign_id=campaign_id,
            kind=ObjectKind.ACCOUNT,
            account_id__in=[a for a in account_ids if a],
            decision=Decision.REVOKE,
            request__isnull=False,
        ).values_list("account_id", "request_id")
    )


def item_revoke_request(*, item: CertificationItem, actor: User | None, comment: str) -> Request | None:
    """Request the revocation of ``item``'s access (source certification) and link it. None when
    the pipeline refused to create it (the item then says why); the caller's transaction is
    kept (a savepoint)."""
    justification = f"Certification {item.campaign.name}: revoke decided" + (
        f" — {comment}" if comment else "."
    )
    refs: dict[str, Any] = {}
    if item.kind == ObjectKind.ACCOUNT:
        refs = {"account": item.account}
    elif item.kind == ObjectKind.ENTITLEMENT:
        refs = {"account": item.account, "entitlement": item.entitlement}
    else:
        refs = {"role": item.role}
    now = timezone.now()
    with_account = (
        account_revoke_requests(item.campaign_id, [item.account_id])
        if item.kind == ObjectKind.ENTITLEMENT
        else {}
    )
    if item.account_id in with_account:  # revoking the account takes its entitlements with it
        item.decision, item.decided_by, item.decided_at, item.outcome = (
            Decision.REVOKE,
            actor,
            now,
            Outcome.REVOKING,
        )
        item.request_id = with_account[item.account_id]
        item.comment = f"{comment} (revoked with its account: request #{item.request_id})".strip()
        item.save(update_fields=["decision", "decided_by", "decided_at", "comment", "request", "outcome"])
        return item.request
    try:
        with transaction.atomic():
            if any(v is None for v in refs.values()):
                raise ValidationFailed(_("The access no longer exists."))
            req = request_create(
                actor=actor,
                source=Source.CERTIFICATION,
                request_type=REVOKE_TYPE[ObjectKind(item.kind)],
                beneficiary=item.beneficiary,
                justification=justification[:2000],
                **refs,
            )
    except DomainError as error:
        if actor is not None:
            raise
        item.decision, item.decided_at, item.outcome = Decision.REVOKE, now, Outcome.REVOKE_FAILED
        item.comment = f"{comment} The revoke request was refused: {error.message}".strip()[:4000]
        item.save(update_fields=["decision", "decided_at", "outcome", "comment"])
        return None
    item.decision, item.decided_by, item.decided_at = Decision.REVOKE, actor, now
    item.comment, item.request, item.outcome = comment, req, Outcome.REVOKING
    item.save(update_fields=["decision", "decided_by", "decided_at", "comment", "request", "outcome"])
    return req


@dataclass
class DecideResult:
    kept: list[int] = field(default_factory=list)
    revoked: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)


def _lock(ids: Sequence[int]) -> list[CertificationItem]:
    return list(
        CertificationItem.objects.select_for_update(of=("self",))
        .select_related("campaign", "beneficiary", "account", "entitlement", "role", "queue", "decided_by")
        .filter(pk__in=list(ids))
        .order_by("pk")
    )


@transaction.atomic
def items_decide(
    *, actor: User, source: str, items: Sequence[int], decision: str, comment: str = ""
) -> DecideResult:
    """Keep or revoke the items ``items`` (ids) as ``actor``. All or nothing: an item that is not
    the actor's, already decided, or in a campaign no longer running refuses the whole batch
    with a message naming it."""
    if decision not in (Decision.KEEP, Decision.REVOKE):
        raise ValidationFailed(_("Decide KEEP or REVOKE."), fields={"decision": [_("KEEP or REVOKE.")]})
    ids = list(dict.fromkeys(int(i) for i in items))
    if not ids:
        raise ValidationFailed(_("Choose at least one item."), fields={"items": [_("Empty.")]})
    if len(ids) > MAX_ITEMS:
        raise ValidationFailed(
            _("At most %(count)s items at once.") % {"count": MAX_ITEMS}, fields={"items": [_("Too many.")]}
        )
    comment = (comment or "").strip()[:4000]
    locked = _lock(ids)
    found = {i.pk for i in locked}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationFailed(
            _("No certification item #%(id)s.") % {"id": missing[0]}, fields={"items": [_("Unknown item.")]}
        )
    for item in locked:
        if not may_decide(actor, item):
            raise NotAllowed(_("You do not review %(item)s (item #%(id)s).") % {"item": item, "id": item.pk})
        if item.campaign.status != CampaignStatus.RUNNING:
            raise Conflict(
                _("Campaign %(name)s is %(status)s: item #%(id)s can no longer be decided.")
                % {
                    "name": item.campaign.name,
                    "status": item.campaign.get_status_display().lower(),
                    "id": item.pk,
                },
                code="campaign_closed",
            )
        if item.decision != Decision.NONE:
            who = item.decided_by.username if item.decided_by else _("the system")
            raise Conflict(
                _("%(item)s was already decided (%(decision)s) by %(who)s at %(at)s; nothing was changed.")
                % {
                    "item": item,
                    "decision": item.get_decision_display().lower(),
                    "who": who,
                    "at": f"{timezone.localtime(item.decided_at):%Y-%m-%d %H:%M}",
                },
                code="already_decided",
            )
    result = DecideResult()
    now = timezone.now()
    for item in sorted(locked, key=lambda i: i.kind != ObjectKind.ACCOUNT):  # accounts first: see above
        old = {"decision": Decision.NONE}
        if decision == Decision.KEEP:
            item.decision, item.decided_by, item.decided_at = Decision.KEEP, actor, now
            item.comment, item.outcome = comment, Outcome.KEPT
            item.save(update_fields=["decision", "decided_by", "decided_at", "comment", "outcome"])
            result.kept.append(item.pk)
        else:
            req = item_revoke_request(item=item, actor=actor, comment=comment)
            assert req is not None  # with an actor, a refusal raises
            result.revoked.append(item.pk)
            if req.pk not in result.requests:
                result.requests.append(req.pk)
        audit_record(
            actor=actor,
            action="certification_item.decide",
            obj=item,
            old=old,
            new={
                "decision": item.decision,
                "comment": comment,
                "request": item.request_id,
                "campaign": item.campaign.name,
            },
            source=source,
            subject_user_id=item.beneficiary_id,
        )
    _tasks_done(
        actor, {(i.campaign_id, i.reviewer_id, i.queue_id if not i.reviewer_id else None) for i in locked}
    )
    return result


def _tasks_done(actor: User, groups: set[tuple[int, int | None, int | None]]) -> None:
    """Close the task of a reviewer (or of a queue, or the one of the items nobody reviews) that
    has nothing left to decide in a campaign."""
    for campaign_id, reviewer_id, queue_id in groups:
        same = Q(reviewer_id=reviewer_id) if reviewer_id is not None else Q(reviewer__isnull=True)
        same &= Q(queue_id=queue_id) if queue_id is not None else Q(queue__isnull=True)
        left = CertificationItem.objects.filter(
            same, campaign_id=campaign_id, decision=Decision.NONE
        ).exists()
        if left:
            continue
        tasks = Task.objects.select_for_update().filter(
            kind=TaskKind.CERTIFICATION,
            subject_kind="certification_campaign",
            subject_id=campaign_id,
            status=TaskStatus.OPEN,
        )
        if reviewer_id is not None:
            tasks = tasks.filter(assignees__pk=reviewer_id)
        elif queue_id is not None:
            tasks = tasks.filter(queue_id=queue_id)
        else:
            tasks = tasks.filter(queue__isnull=True, assignees__isnull=True)
        for task in tasks:
            task_close(task=task, status=TaskStatus.APPROVED, actor=actor, comment="Every item decided.")


def outcomes_refresh(items: QuerySet[CertificationItem]) -> int:
    """Bring the outcome of revoked items up to date with their requests (two UPDATEs, whatever
    the number): a finished request revoked the access; a rejected, cancelled or failed (rolled
    back) one did not."""
    done = items.filter(outcome=Outcome.REVOKING, request__status=RequestStatus.FINISHED).update(
        outcome=Outcome.REVOKED
    )
    failed = items.filter(
        outcome=Outcome.REVOKING,
        request__status__in=[RequestStatus.REJECTED, RequestStatus.CANCELED, RequestStatus.FAILED],
    ).update(outcome=Outcome.REVOKE_FAILED)
    return done + failed
