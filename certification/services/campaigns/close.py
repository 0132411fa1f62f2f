"""Ending a campaign: finish (undecided items kept or revoked set-based) and cancel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django.db import transaction
from django.db.models import (
    Exists,
    OuterRef,
    Q,
    QuerySet,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.db import update_rows
from blazon.errors import DomainError, TransitionNotAllowed
from certification.models import (
    CampaignStatus,
    CertificationCampaign,
    CertificationItem,
    Decision,
    ObjectKind,
    Outcome,
    UndecidedAction,
)
from certification.services.decisions import REVOKE_TYPE, account_revoke_requests, item_revoke_request
from certification.subjects import campaign_subject
from directory.models import (
    AccountStatus,
    EntitlementMembership,
    Management,
    RoleMembership,
    RoleMembershipManagement,
    Source,
    User,
    UserStatus,
)
from requests_workflow.services.create_many import NewRequest, requests_create_many
from worklist.models import Task, TaskKind, TaskStatus
from worklist.services import tasks_cancel

BATCH = 5000


def _open_tasks(campaign: CertificationCampaign) -> QuerySet[Task]:
    ref = campaign_subject(campaign)
    return Task.objects.filter(
        kind=TaskKind.CERTIFICATION, subject_kind=ref.kind, subject_id=ref.id, status=TaskStatus.OPEN
    )


def _lock_running(campaign: CertificationCampaign, verb: str) -> CertificationCampaign:
    obj = CertificationCampaign.objects.select_for_update().get(pk=campaign.pk)
    if obj.status != CampaignStatus.RUNNING:
        message = (
            _("%(name)s is %(status)s: it cannot be finished.")
            if verb == "finished"
            else _("%(name)s is %(status)s: it cannot be cancelled.")
        )
        raise TransitionNotAllowed(message % {"name": obj.name, "status": obj.get_status_display().lower()})
    return obj


@dataclass(frozen=True)
class CloseResult:
    kept: int
    revoke_requests: int
    revoke_refused: int


@transaction.atomic
def campaign_finish(*, actor: Any, source: str, campaign: CertificationCampaign) -> CloseResult:
    """Close a running campaign (at its end, or early): the undecided items are kept or revoked
    as the campaign says, every item leaves "in progress", the reviewers' open tasks close."""
    obj = _lock_running(campaign, "finished")
    undecided = CertificationItem.objects.filter(campaign=obj, decision=Decision.NONE)
    kept = revoked = refused = 0
    if obj.undecided_action == UndecidedAction.KEEP:
        kept = undecided.update(outcome=Outcome.KEPT)
    else:
        revoked, refused = _revoke_undecided(obj, undecided)
    CertificationItem.objects.filter(campaign=obj).update(active=False)
    tasks_cancel(_open_tasks(obj), actor=actor, comment=f"Campaign {obj.name} finished.")
    obj.status, obj.closed_at, obj.closed_by = CampaignStatus.FINISHED, timezone.now(), actor
    obj.save(update_fields=["status", "closed_at", "closed_by"])
    result = CloseResult(kept=kept, revoke_requests=revoked, revoke_refused=refused)
    audit_record(
        actor=actor,
        action="certification_campaign.finish",
        obj=obj,
        old={"status": CampaignStatus.RUNNING},
        new={
            "status": obj.status,
            "undecided_kept": kept,
            "undecided_revoke_requests": revoked,
            "undecided_revoke_refused": refused,
        },
        source=source,
    )
    return result


def _revoke_chunks(
    campaign: CertificationCampaign, items: list[CertificationItem], comment: str
) -> tuple[int, int]:
    """The revoke requests of ``items`` (still as they were), ``BATCH`` at a time, set-based."""
    revoked = refused = 0
    for start in range(0, len(items), BATCH):
        chunk = items[start : start + BATCH]
        rows = [
            NewRequest(
                request_type=REVOKE_TYPE[ObjectKind(item.kind)],
                beneficiary=cast(User, item.beneficiary),  # ``still`` asks for a live one
                justification=f"Certification {campaign.name}: revoke decided — {comment}",
                account=item.account if item.kind != ObjectKind.ROLE else None,
                entitlement=item.entitlement if item.kind == ObjectKind.ENTITLEMENT else None,
                role=item.role if item.kind == ObjectKind.ROLE else None,
            )
            for item in chunk
        ]
        now = timezone.now()
        made = requests_create_many(actor=None, source=Source.CERTIFICATION, rows=rows)
        for item, req in zip(chunk, made, strict=True):
            item.decision, item.decided_at = Decision.REVOKE, now
            if isinstance(req, DomainError):
                item.outcome = Outcome.REVOKE_FAILED
                item.comment = f"{comment} The revoke request was refused: {req.message}"
                refused += 1
            else:
                item.outcome, item.comment, item.request = Outcome.REVOKING, comment, req
                revoked += 1
        _items_save(chunk)
    return revoked, refused


def _items_save(items: list[CertificationItem]) -> None:
    """Write the revoke decision of ``items`` in one set-based UPDATE (not ``bulk_update``)."""
    update_rows(
        CertificationItem._meta.db_table,
        "id",
        ["decision", "decided_at", "outcome", "comment", "request_id"],
        ((i.pk, i.decision, i.decided_at, i.outcome, i.comment, i.request_id) for i in items),
    )


def _revoke_undecided(
    campaign: CertificationCampaign, undecided: QuerySet[CertificationItem]
) -> tuple[int, int]:
    """The revoke requests of the items nobody decided, set-based: the items whose access is
    still as it was (held, managed manually, its beneficiary live) get their requests in one
    batch (``requests_create_many``: a few statements, processed set-based after commit); the
    others one by one, so each refusal is recorded on its item with its reason."""
    comment = f"Not reviewed by the end of {campaign.name}."
    live = [UserStatus.ACTIVE, UserStatus.INACTIVE]
    still = Q(beneficiary__status__in=live) & (
        Q(
            kind=ObjectKind.ACCOUNT,
            account__status__in=[AccountStatus.ACTIVE, AccountStatus.INACTIVE],
            account__management=Management.MANUAL,
        )
        | Q(kind=ObjectKind.ENTITLEMENT, entitlement__isnull=False, account__isnull=False)
        & Exists(
            EntitlementMembership.objects.filter(pk=OuterRef("membership_id"), management=Management.MANUAL)
        )
        | Q(kind=ObjectKind.ROLE, role__isnull=False)
        & Exists(
            RoleMembership.objects.filter(
                pk=OuterRef("role_membership_id"), management=RoleMembershipManagement.MANUAL
            )
        )
    )
    related = ("campaign", "beneficiary", "account__resource", "entitlement__resource", "role")
    revoked = refused = 0
    clean = list(undecided.filter(still).select_related(*related))
    stale = list(undecided.exclude(still).select_related(*related))  # few: changed meanwhile
    # accounts first: revoking an account takes its entitlements, whose items then follow the
    # account's request instead of asking for their own (it would find them gone)
    accounts = [i for i in clean if i.kind == ObjectKind.ACCOUNT]
    others = [i for i in clean if i.kind != ObjectKind.ACCOUNT]
    n, m = _revoke_chunks(campaign, accounts, comment)
    revoked, refused = revoked + n, refused + m
    with_account = account_revoke_requests(
        campaign.pk, [i.account_id for i in others if i.kind == ObjectKind.ENTITLEMENT]
    )
    follow = [i for i in others if i.kind == ObjectKind.ENTITLEMENT and i.account_id in with_account]
    now = timezone.now()
    for item in follow:
        item.decision, item.decided_at, item.outcome = Decision.REVOKE, now, Outcome.REVOKING
        item.request_id = with_account[item.account_id or 0]
        item.comment = f"{comment} (revoked with its account: request #{item.request_id})"
    _items_save(follow)
    revoked += len(follow)
    followed = {i.pk for i in follow}
    n, m = _revoke_chunks(campaign, [i for i in others if i.pk not in followed], comment)
    revoked, refused = revoked + n, refused + m
    for item in stale:
        if item_revoke_request(item=item, actor=None, comment=comment):
            revoked += 1
        else:
            refused += 1
    return revoked, refused


@transaction.atomic
def campaign_cancel(
    *, actor: Any, source: str, campaign: CertificationCampaign, reason: str = ""
) -> CertificationCampaign:
    """Cancel a running campaign: undecided items are dropped (the accesses stay as they are and
    become eligible again); decisions made stand (their requests go on)."""
    obj = _lock_running(campaign, "cancelled")
    CertificationItem.objects.filter(campaign=obj, decision=Decision.NONE).update(outcome=Outcome.CANCELLED)
    CertificationItem.objects.filter(campaign=obj).update(active=False)
    tasks_cancel(_open_tasks(obj), actor=actor, comment=f"Campaign {obj.name} was cancelled.")
    obj.status, obj.closed_at, obj.closed_by = CampaignStatus.CANCELLED, timezone.now(), actor
    obj.save(update_fields=["status", "closed_at", "closed_by"])
    audit_record(
        actor=actor,
        action="certification_campaign.cancel",
        obj=obj,
        old={"status": CampaignStatus.RUNNING},
        new={"status": obj.status, "reason": reason},
        source=source,
    )
    return obj
