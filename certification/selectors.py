"""Read queries of certification, shared by the console, the workspace and the API.

``item_context`` gives a page of items what a reviewer needs to decide, in a fixed number of
queries whatever the page size: how the access was granted (the request and its approver), the
open SoD violations it takes part in, the share of the beneficiary's peers (same job title and
department) who hold it, and a recommendation with its reason (shown, never applied)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet

from blazon.permissions import can
from certification.models import (
    CertificationCampaign,
    CertificationItem,
    CertificationPolicy,
    Decision,
    ObjectKind,
)
from directory.models import Account, EntitlementMembership, RoleMembership, User, UserStatus
from requests_workflow.models import Request, RequestStatus, RequestType
from sod.models import ViolationStatus
from sod.selectors import violations_for
from worklist.models import Task, TaskKind, TaskStatus

#: Fewer peers than this: no recommendation (a share of two people says little).
MIN_PEERS = 3
KEEP_SHARE = 0.6


def policies_for(user: Any) -> QuerySet[CertificationPolicy]:
    return (
        CertificationPolicy.objects.select_related(
            "resource",
            "entitlement",
            "role",
            "organization",
            "reviewer_user",
            "reviewer_queue",
            "fallback_reviewer",
        )
        .annotate(n_campaigns=Count("campaigns"))
        .order_by("code")
    )


def campaigns_for(user: Any) -> QuerySet[CertificationCampaign]:
    return (
        CertificationCampaign.objects.select_related("policy", "created_by", "closed_by")
        .annotate(n_decided=Count("items", filter=~Q(items__decision=Decision.NONE)))
        .order_by("-id")
    )


#: What an item's row shows (its access, people, campaign and request), read in the same query.
ITEM_RELATED = (
    "campaign",
    "beneficiary",
    "resource",
    "entitlement",
    "entitlement__resource",
    "role",
    "reviewer",
    "queue",
    "decided_by",
    "request",
    "account",
)


def items_for(user: Any) -> QuerySet[CertificationItem]:
    """Every item for console roles (read); otherwise the items ``user`` reviews (directly or
    through a queue they belong to)."""
    qs = CertificationItem.objects.select_related(*ITEM_RELATED)
    if can(user, "view"):
        return qs
    return reviewer_items(user)


def reviewer_items(user: Any) -> QuerySet[CertificationItem]:
    """The items ``user`` reviews: theirs, and their queues'."""
    qs = CertificationItem.objects.select_related(*ITEM_RELATED)
    queues = list(user.task_queues.values_list("pk", flat=True)) if getattr(user, "pk", None) else []
    if not queues:  # most reviewers: one indexed condition, no join, no DISTINCT
        return qs.filter(reviewer_id=user.pk)
    return qs.filter(Q(reviewer_id=user.pk) | Q(reviewer__isnull=True, queue_id__in=queues))


def campaign_progress(campaign: CertificationCampaign) -> list[dict[str, Any]]:
    """Per reviewer: items, decided, kept, revoked (one grouped query)."""
    rows = (
        CertificationItem.objects.filter(campaign=campaign)
        .values("reviewer_id", "reviewer__username", "queue__name")
        .annotate(
            total=Count("id"),
            decided=Count("id", filter=~Q(decision=Decision.NONE)),
            kept=Count("id", filter=Q(decision=Decision.KEEP)),
            revoked=Count("id", filter=Q(decision=Decision.REVOKE)),
        )
        .order_by("reviewer__username")
    )
    out = []
    for row in rows:
        who = row["reviewer__username"] or (
            f"queue {row['queue__name']}" if row["queue__name"] else "nobody (administrators)"
        )
        out.append(
            {**row, "who": who, "percent": round(100 * row["decided"] / row["total"]) if row["total"] else 0}
        )
    return out


def campaign_tasks(campaign: CertificationCampaign) -> QuerySet[Task]:
    return Task.objects.filter(
        kind=TaskKind.CERTIFICATION, subject_kind="certification_campaign", subject_id=campaign.pk
    )


def reviewer_open_task(user: User, campaign_id: int) -> Task | None:
    return Task.objects.filter(
        kind=TaskKind.CERTIFICATION,
        subject_kind="certification_campaign",
        subject_id=campaign_id,
        status=TaskStatus.OPEN,
        assignees=user,
    ).first()


# --- a page of items with its context --------------------------------------------------------------


@dataclass
class ItemContext:
    granted: str = "Unknown: no request on record (imported, reconciled or granted before Blazon)"
    request_id: int | None = None
    sod: list[str] = field(default_factory=list)
    peers: int = 0
    peers_holding: int = 0
    recommendation: str = ""
    reason: str = ""

    @property
    def share(self) -> int | None:
        return round(100 * self.peers_holding / self.peers) if self.peers else None


def _grants(items: list[CertificationItem]) -> dict[int, tuple[Request, str]]:
    """The finished request that granted each item's access, with who approved it."""
    accounts = [i.account_id for i in items if i.kind == ObjectKind.ACCOUNT and i.account_id]
    ents = [
        (i.account_id, i.entitlement_id)
        for i in items
        if i.kind == ObjectKind.ENTITLEMENT and i.entitlement_id
    ]
    roles = [(i.beneficiary_id, i.role_id) for i in items if i.kind == ObjectKind.ROLE and i.role_id]
    where = Q(pk__in=[])
    if accounts:
        where |= Q(type=RequestType.CREATE_ACCOUNT, account_id__in=accounts)
    if ents:
        where |= Q(
            type=RequestType.GRANT_ENTITLEMENT,
            entitlement_id__in={e for _, e in ents},
            account_id__in={a for a, _ in ents},
        )
    if roles:
        where |= Q(
            type=RequestType.GRANT_ROLE,
            role_id__in={r for _, r in roles},
            beneficiary_id__in={b for b, _ in roles},
        )
    if not (accounts or ents or roles):
        return {}
    found: dict[tuple[str, Any, Any], Request] = {}
    for req in (
        Request.objects.filter(where, status=RequestStatus.FINISHED)
        .select_related("requester")
        .order_by("id")
    ):
        key: tuple[str, Any, Any]
        if req.type == RequestType.CREATE_ACCOUNT:
            key = (ObjectKind.ACCOUNT, req.account_id, None)
        elif req.type == RequestType.GRANT_ENTITLEMENT:
            key = (ObjectKind.ENTITLEMENT, req.account_id, req.entitlement_id)
        else:
            key = (ObjectKind.ROLE, req.beneficiary_id, req.role_id)
        found[key] = req  # the latest wins
    approvers: dict[int, list[str]] = defaultdict(list)
    for task in (
        Task.objects.filter(
            request_id__in=[r.pk for r in found.values()], kind=TaskKind.APPROVAL, status=TaskStatus.APPROVED
        )
        .select_related("decided_by")
        .order_by("level", "id")
    ):
        if task.decided_by is not None and task.request_id is not None:
            approvers[task.request_id].append(task.decided_by.username)
    out: dict[int, tuple[Request, str]] = {}
    for item in items:
        if item.kind == ObjectKind.ACCOUNT:
            grant = found.get((ObjectKind.ACCOUNT, item.account_id, None))
        elif item.kind == ObjectKind.ENTITLEMENT:
            grant = found.get((ObjectKind.ENTITLEMENT, item.account_id, item.entitlement_id))
        else:
            grant = found.get((ObjectKind.ROLE, item.beneficiary_id, item.role_id))
        if grant is not None:
            names = approvers.get(grant.pk)
            out[item.pk] = (grant, ", ".join(names) if names else "no approval needed")
    return out


def _sod(items: list[CertificationItem]) -> dict[int, list[str]]:
    users = {i.beneficiary_id for i in items if i.beneficiary_id}
    if not users:
        return {}
    live = violations_for(None).filter(user_id__in=users).exclude(status=ViolationStatus.RESOLVED)
    held: dict[tuple[int, str, int], list[str]] = defaultdict(list)
    for violation in live:
        for part in violation.items:
            held[(violation.user_id, str(part.get("kind")), int(part.get("id") or 0))].append(
                f"{violation.rule.name} ({violation.get_status_display().split(' (')[0].lower()})"
            )
    out: dict[int, list[str]] = {}
    for item in items:
        if item.beneficiary_id is None:
            continue
        key: tuple[str, int | None] = (
            ("ENTITLEMENT", item.entitlement_id)
            if item.kind == ObjectKind.ENTITLEMENT
            else ("ROLE", item.role_id)
            if item.kind == ObjectKind.ROLE
            else ("RESOURCE", item.resource_id)
        )
        names = held.get((item.beneficiary_id, key[0], key[1] or 0))
        if names:
            out[item.pk] = sorted(set(names))
    return out


def _peers(items: list[CertificationItem]) -> dict[int, tuple[int, int]]:
    """(peers, peers holding the same access) per item; peers are the other ACTIVE users with
    the beneficiary's job title and department."""
    people = {i.beneficiary_id: i.beneficiary for i in items if i.beneficiary is not None}
    titles = {p.job_title for p in people.values() if p.job_title}
    depts = {p.department for p in people.values() if p.department}
    if not titles or not depts:
        return {}
    group_size = {
        (r["job_title"], r["department"]): r["n"]
        for r in User.objects.filter(status=UserStatus.ACTIVE, job_title__in=titles, department__in=depts)
        .values("job_title", "department")
        .annotate(n=Count("id"))
    }
    holders: dict[tuple[str, int, str, str], int] = {}
    ents = {i.entitlement_id for i in items if i.kind == ObjectKind.ENTITLEMENT and i.entitlement_id}
    for r in (
        EntitlementMembership.objects.filter(
            entitlement_id__in=ents,
            account__owner__status=UserStatus.ACTIVE,
            account__owner__job_title__in=titles,
            account__owner__department__in=depts,
        )
        .values("entitlement_id", "account__owner__job_title", "account__owner__department")
        .annotate(n=Count("account__owner_id", distinct=True))
    ):
        holders[
            (
                ObjectKind.ENTITLEMENT,
                r["entitlement_id"],
                r["account__owner__job_title"],
                r["account__owner__department"],
            )
        ] = r["n"]
    res = {i.resource_id for i in items if i.kind == ObjectKind.ACCOUNT and i.resource_id}
    for r in (
        Account.objects.filter(
            resource_id__in=res,
            status="ACTIVE",
            owner__status=UserStatus.ACTIVE,
            owner__job_title__in=titles,
            owner__department__in=depts,
        )
        .values("resource_id", "owner__job_title", "owner__department")
        .annotate(n=Count("owner_id", distinct=True))
    ):
        holders[(ObjectKind.ACCOUNT, r["resource_id"], r["owner__job_title"], r["owner__department"])] = r[
            "n"
        ]
    roles = {i.role_id for i in items if i.kind == ObjectKind.ROLE and i.role_id}
    for r in (
        RoleMembership.objects.filter(
            role_id__in=roles,
            user__status=UserStatus.ACTIVE,
            user__job_title__in=titles,
            user__department__in=depts,
        )
        .values("role_id", "user__job_title", "user__department")
        .annotate(n=Count("user_id", distinct=True))
    ):
        holders[(ObjectKind.ROLE, r["role_id"], r["user__job_title"], r["user__department"])] = r["n"]
    out: dict[int, tuple[int, int]] = {}
    for item in items:
        who = item.beneficiary
        if who is None or not who.job_title or not who.department:
            continue
        target = {
            ObjectKind.ENTITLEMENT: item.entitlement_id,
            ObjectKind.ACCOUNT: item.resource_id,
            ObjectKind.ROLE: item.role_id,
        }[ObjectKind(item.kind)]
        peers = group_size.get((who.job_title, who.department), 1) - 1
        holding = holders.get((item.kind, target or 0, who.job_title, who.department), 0)
        # the beneficiary holds it (it is under review), unless it went meanwhile
        out[item.pk] = (peers, max(holding - 1, 0))
    return out


def recommend(ctx: ItemContext) -> tuple[str, str]:
    """(KEEP / REVOKE / "", reason). Peer-based: keep when most peers hold it; revoke when none
    does; nothing when there are too few peers. An open SoD violation always asks for a look."""
    if ctx.sod:
        return "REVOKE", f"Takes part in SoD violation(s): {'; '.join(ctx.sod)}."
    if ctx.peers < MIN_PEERS:
        return "", f"Too few peers with the same job title and department ({ctx.peers}) to compare."
    share = ctx.peers_holding / ctx.peers
    if share >= KEEP_SHARE:
        return "KEEP", f"{ctx.peers_holding} of {ctx.peers} peers (same job title and department) hold it."
    if ctx.peers_holding == 0:
        return "REVOKE", f"None of {ctx.peers} peers (same job title and department) holds it."
    return "", f"Only {ctx.peers_holding} of {ctx.peers} peers hold it: no clear pattern."


def item_context(items: list[CertificationItem]) -> dict[int, ItemContext]:
    """The context of a page of items (see the module docstring): about six queries."""
    # counted when the campaign was generated (certification.services.peers); live otherwise
    peers = {i.pk: (i.peers, i.peers_holding or 0) for i in items if i.peers is not None}
    peers.update(_peers([i for i in items if i.peers is None]))
    grants, sod = _grants(items), _sod(items)
    out: dict[int, ItemContext] = {}
    for item in items:
        ctx = ItemContext()
        if item.pk in grants:
            req, approver = grants[item.pk]
            who = req.requester.username if req.requester else "the system"
            ctx.granted = f"Request #{req.pk} by {who} ({req.get_source_display()}), approved by {approver}"
            ctx.request_id = req.pk
        ctx.sod = sod.get(item.pk, [])
        ctx.peers, ctx.peers_holding = peers.get(item.pk, (0, 0))
        ctx.recommendation, ctx.reason = recommend(ctx)
        out[item.pk] = ctx
    return out
