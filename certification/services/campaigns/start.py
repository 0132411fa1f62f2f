"""Starting a campaign: its items written with one INSERT … SELECT per kind, the fallback reviewer, the peer shares and the reviewers' tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Q,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.changes import field_error
from blazon.errors import ValidationFailed
from certification.models import (
    CertificationCampaign,
    CertificationItem,
    CertificationPolicy,
    Decision,
    Outcome,
    ReviewerKind,
    UndecidedAction,
)
from certification.services.campaigns.selection import (
    _ALIASES,
    _COLUMNS,
    _selections,
    policy_scope,
    scope_clean,
)
from certification.services.peers import peer_shares_count
from certification.subjects import campaign_subject
from directory.models import (
    User,
    UserStatus,
)
from worklist.models import Queue, TaskKind
from worklist.services import task_open, tasks_open_bulk


def _items_write(campaign: CertificationCampaign, scope: dict[str, Any]) -> int:
    """One ``INSERT … SELECT`` per kind of access: the eligible rows go from the directory to
    the items inside the database, whatever their number."""
    queue_id = scope["reviewer_queue"] if scope["reviewer_kind"] == ReviewerKind.QUEUE else None
    quote = connection.ops.quote_name
    fixed = {"campaign_id": campaign.pk, "queue_id": queue_id, "active": True, "decision": Decision.NONE.value,
             "outcome": Outcome.PENDING.value, "reviewer_is_fallback": False, "comment": ""}  # fmt: skip
    total = 0
    for kind, qs in _selections(scope):
        inner, params = qs.order_by().values_list(*_ALIASES).query.sql_with_params()
        columns = ", ".join(quote(c) for c in (*fixed, "kind", *_COLUMNS))
        picked = ", ".join(f"sub.{quote(a)}" for a in _ALIASES)
        values = ", ".join(["%s"] * (len(fixed) + 1))
        # identifiers from the model's meta and the query's own aliases, quoted; values are parameters
        sql = f"INSERT INTO {quote(CertificationItem._meta.db_table)} ({columns}) SELECT {values}, {picked} FROM ({inner}) AS sub"  # noqa: S608, E501
        with connection.cursor() as cursor:
            cursor.execute(sql, [*fixed.values(), kind, *params])
            total += cursor.rowcount
    if queue_id is None:
        _fallback(campaign, scope["fallback_reviewer"])
    return total


def _fallback(campaign: CertificationCampaign, fallback_id: int | None) -> None:
    """Items whose reviewer is missing, has left (not ACTIVE) or is the beneficiary go to the
    fallback reviewer (one UPDATE); when the fallback is the beneficiary too, to nobody (a
    console administrator decides them)."""
    items = CertificationItem.objects.filter(campaign=campaign)
    able = User.objects.filter(pk=OuterRef("reviewer_id"), status=UserStatus.ACTIVE)
    items.filter(Q(reviewer__isnull=True) | Q(reviewer_id=F("beneficiary_id")) | ~Exists(able)).update(
        reviewer_id=fallback_id, reviewer_is_fallback=True
    )
    items.filter(reviewer_id=F("beneficiary_id")).update(reviewer_id=None)


def _tasks_open(campaign: CertificationCampaign, queue_id: int | None) -> int:
    """One task per reviewer (and one for the queue, one for the items nobody reviews)."""
    subject = campaign_subject(campaign)
    title = f"Certification: {campaign.name}"
    if queue_id is not None:
        task_open(
            kind=TaskKind.CERTIFICATION, title=title, subject=subject, queue=Queue.objects.get(pk=queue_id)
        )
        return 1
    per_reviewer = (
        CertificationItem.objects.filter(campaign=campaign)
        .values("reviewer_id")
        .annotate(n=Count("id"))
        .order_by("reviewer_id")
    )
    rows = [(None, title, [r["reviewer_id"]] if r["reviewer_id"] else []) for r in per_reviewer]
    tasks_open_bulk(kind=TaskKind.CERTIFICATION, rows=rows, subjects=[subject] * len(rows))
    return len(rows)


@dataclass(frozen=True)
class StartResult:
    campaign: CertificationCampaign
    items: int
    tasks: int


@transaction.atomic
def campaign_start(
    *,
    actor: Any,
    source: str,
    name: str = "",
    policy: CertificationPolicy | None = None,
    scope: dict[str, Any] | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    undecided_action: str | None = None,
) -> CertificationCampaign:
    """Start a campaign from ``policy`` (its selection, reviewers, duration and undecided rule)
    or from a selection given by hand (``scope``, ``ends_at`` and ``undecided_action``
    required): write its items and open the reviewers' tasks. An empty campaign is refused."""
    now = timezone.now()
    starts_at = starts_at or now
    if policy is not None:
        policy = CertificationPolicy.objects.select_for_update().get(pk=policy.pk)
        scope = scope_clean(policy_scope(policy))
        ends_at = ends_at or starts_at + timedelta(days=policy.duration_days)
        undecided_action = undecided_action or policy.undecided_action
        name = name or f"{policy.name} — {starts_at:%Y-%m-%d}"
    else:
        if scope is None:
            raise field_error("policy", _("Start a campaign from a policy or from a selection."))
        scope = scope_clean(scope)
        if ends_at is None:
            raise field_error("ends_at", _("Say when the campaign ends."))
        if not name.strip():
            raise field_error("name", _("Required."))
    if undecided_action not in UndecidedAction.values:
        raise field_error(
            "undecided_action", _("One of %(values)s.") % {"values": ", ".join(UndecidedAction.values)}
        )
    if ends_at <= max(starts_at, now):
        raise field_error("ends_at", _("The campaign must end in the future, after it starts."))
    campaign = CertificationCampaign.objects.create(
        name=name.strip()[:200],
        policy=policy,
        scope=scope,
        undecided_action=undecided_action,
        started_at=starts_at,
        ends_at=ends_at,
        created_by=actor,
    )
    count = _items_write(campaign, scope)
    peer_shares_count(campaign)
    if not count:
        raise ValidationFailed(
            _(
                "No eligible access matches this selection (certifiable, active, managed manually and "
                "not already under review): nothing was started."
            ),
            fields={"scope": [_("Nothing eligible.")]},
            code="empty_campaign",
        )
    campaign.item_count = count
    campaign.save(update_fields=["item_count"])
    tasks = _tasks_open(
        campaign, scope["reviewer_queue"] if scope["reviewer_kind"] == ReviewerKind.QUEUE else None
    )
    if policy is not None:
        policy.last_run_at = now
        policy.next_run_at = now + timedelta(days=policy.period_days)
        policy.save(update_fields=["last_run_at", "next_run_at"])
    audit_record(
        actor=actor,
        action="certification_campaign.start",
        obj=campaign,
        new={
            "policy": policy.code if policy else None,
            "scope": scope,
            "items": count,
            "tasks": tasks,
            "ends_at": ends_at,
            "undecided_action": undecided_action,
        },
        source=source,
    )
    return campaign
