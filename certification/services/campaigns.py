"""Campaigns: who is eligible, starting one (from a policy or a filter), closing one at its end
or early, cancelling one, and the periodic run of the policies.

Eligibility is the seed's ("Quais objetos podem ser certificados?"): the access is certifiable
(its resource, entitlement or role), ACTIVE (the account; the entitlement member's account; the
role member), managed manually (role- and assignment-policy-managed access is certified through
the role) and not already in a certification in progress (an *active* item: partial unique
indexes hold it). It is computed set-based: one query per kind of access selects the eligible
rows with their beneficiary, criticality and reviewer already resolved, and the items are
written from it in batches (``bulk_create``), whatever the number; the fallback reviewer is then
set with one UPDATE. Tasks: one per reviewer per campaign (not one per item: a 500,000-item
campaign with 2,000 reviewers is 2,000 task rows), opened with ``tasks_open_bulk``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.changes import field_error
from blazon.db import update_rows
from blazon.errors import DomainError, TransitionNotAllowed, ValidationFailed
from certification.models import (
    CampaignStatus,
    CertificationCampaign,
    CertificationItem,
    CertificationPolicy,
    Decision,
    ObjectKind,
    Outcome,
    PolicyTrigger,
    ReviewerKind,
    UndecidedAction,
)
from certification.services.decisions import REVOKE_TYPE, account_revoke_requests, item_revoke_request
from certification.services.peers import peer_shares_count
from certification.subjects import campaign_subject
from directory.models import (
    Account,
    AccountStatus,
    Criticality,
    EntitlementMembership,
    Management,
    Resource,
    RoleEntitlement,
    RoleMembership,
    RoleMembershipManagement,
    RoleResource,
    Source,
    User,
    UserStatus,
)
from requests_workflow.services.create_many import NewRequest, requests_create_many
from worklist.models import Queue, Task, TaskKind, TaskStatus
from worklist.services import task_open, tasks_cancel, tasks_open_bulk

BATCH = 5000
SCOPE_KEYS = (
    "kinds",
    "criticalities",
    "resource",
    "entitlement",
    "role",
    "organization",
    "reviewer_kind",
    "reviewer_user",
    "reviewer_queue",
    "fallback_reviewer",
    "access",  # micro-certification: one access's id (of the one kind in ``kinds``)
    "beneficiary",  # attribute-change policies: one user's accesses
)


def policy_scope(policy: CertificationPolicy) -> dict[str, Any]:
    """What a policy selects and who reviews, as a campaign records it (ids)."""
    kinds = [
        kind
        for kind, on in (
            (ObjectKind.ACCOUNT, policy.include_accounts),
            (ObjectKind.ENTITLEMENT, policy.include_entitlements),
            (ObjectKind.ROLE, policy.include_roles),
        )
        if on
    ]
    return {
        "kinds": [str(k) for k in kinds],
        "criticalities": list(policy.criticalities or []),
        "resource": policy.resource_id,
        "entitlement": policy.entitlement_id,
        "role": policy.role_id,
        "organization": policy.organization_id,
        "reviewer_kind": policy.reviewer_kind,
        "reviewer_user": policy.reviewer_user_id,
        "reviewer_queue": policy.reviewer_queue_id,
        "fallback_reviewer": policy.fallback_reviewer_id,
    }


def scope_clean(scope: dict[str, Any]) -> dict[str, Any]:
    """Check a selection given by hand (console, API); unknown keys and values are refused."""
    unknown = set(scope) - set(SCOPE_KEYS)
    if unknown:
        raise field_error(
            "scope", _("Unknown selection key(s): %(keys)s.") % {"keys": ", ".join(sorted(unknown))}
        )
    out: dict[str, Any] = {k: scope.get(k) for k in SCOPE_KEYS}
    out["kinds"] = list(dict.fromkeys(out["kinds"] or ObjectKind.values))
    if not set(out["kinds"]) <= set(ObjectKind.values):
        raise field_error("kinds", _("Kinds are %(values)s.") % {"values": ", ".join(ObjectKind.values)})
    out["criticalities"] = list(dict.fromkeys(out["criticalities"] or []))
    if not set(out["criticalities"]) <= set(Criticality.values):
        raise field_error(
            "criticalities", _("Criticalities are %(values)s.") % {"values": ", ".join(Criticality.values)}
        )
    out["reviewer_kind"] = out["reviewer_kind"] or ReviewerKind.MANAGER
    if out["reviewer_kind"] not in ReviewerKind.values:
        raise field_error(
            "reviewer_kind", _("One of %(values)s.") % {"values": ", ".join(ReviewerKind.values)}
        )
    if out["reviewer_kind"] == ReviewerKind.USER and not out["reviewer_user"]:
        raise field_error("reviewer_user", _("Name the user who reviews."))
    if out["reviewer_kind"] == ReviewerKind.QUEUE and not out["reviewer_queue"]:
        raise field_error("reviewer_queue", _("Name the queue that reviews."))
    if out["access"] is not None and (not isinstance(out["access"], int) or len(out["kinds"]) != 1):
        raise field_error("access", _("One access: its id, with exactly one kind."))
    for key in (
        "resource",
        "entitlement",
        "role",
        "organization",
        "reviewer_user",
        "reviewer_queue",
        "fallback_reviewer",
        "beneficiary",
    ):
        value = out[key]
        if value is not None and not isinstance(value, int):
            value = getattr(value, "pk", value)
            if not isinstance(value, int):
                raise field_error(key, _("An id."))
            out[key] = value
    return out


# --- eligibility ---------------------------------------------------------------------------------


def _resource_owner(resource_ref: str) -> Subquery:
    """The resource's first owner (lowest id): who reviews an account "by its owner"."""
    through = Resource.owners.through
    return Subquery(
        through.objects.filter(resource_id=OuterRef(resource_ref)).order_by("user_id").values("user_id")[:1],
        output_field=IntegerField(),
    )


def _not_in_progress(kind: str, field: str) -> Any:
    live = CertificationItem.objects.filter(active=True, **{field: OuterRef("pk")})
    if kind == ObjectKind.ACCOUNT:
        live = live.filter(kind=ObjectKind.ACCOUNT)
    return ~Exists(live)


def _reviewer(scope: dict[str, Any], kind: str) -> Any:
    """The reviewer of each row, as an SQL expression (None for a queue)."""
    how = scope["reviewer_kind"]
    if how == ReviewerKind.USER:
        return Cast(Value(scope["reviewer_user"]), output_field=BigIntegerField())
    if how == ReviewerKind.QUEUE:
        return Cast(Value(None), output_field=BigIntegerField())
    if how == ReviewerKind.MANAGER:
        return F(
            {
                ObjectKind.ACCOUNT: "owner__manager_id",
                ObjectKind.ENTITLEMENT: "account__owner__manager_id",
                ObjectKind.ROLE: "user__manager_id",
            }[ObjectKind(kind)]
        )
    if kind == ObjectKind.ACCOUNT:
        return _resource_owner("resource_id")
    if kind == ObjectKind.ENTITLEMENT:
        return Coalesce(F("entitlement__owner_id"), _resource_owner("entitlement__resource_id"))
    return F("role__owner_id")


def eligible_accounts(scope: dict[str, Any]) -> QuerySet[Account]:
    qs = Account.objects.filter(
        status=AccountStatus.ACTIVE,
        management=Management.MANUAL,
        resource__certifiable=True,
        owner__isnull=False,
    ).filter(_not_in_progress(ObjectKind.ACCOUNT, "account"))
    if scope["entitlement"] or scope["role"]:
        return qs.none()  # an entitlement or a role selects memberships only
    if scope.get("access"):
        qs = qs.filter(pk=scope["access"])
    if scope["criticalities"]:
        qs = qs.filter(resource__criticality__in=scope["criticalities"])
    if scope["resource"]:
        qs = qs.filter(resource_id=scope["resource"])
    if scope["organization"]:
        qs = qs.filter(owner__organization_id=scope["organization"])
    if scope.get("beneficiary"):
        qs = qs.filter(owner_id=scope["beneficiary"])
    return qs


def eligible_memberships(scope: dict[str, Any]) -> QuerySet[EntitlementMembership]:
    qs = EntitlementMembership.objects.filter(
        management=Management.MANUAL,
        entitlement__certifiable=True,
        account__status=AccountStatus.ACTIVE,
        account__owner__isnull=False,
    ).filter(_not_in_progress(ObjectKind.ENTITLEMENT, "membership_id"))
    if scope["role"]:
        return qs.none()
    if scope.get("access"):
        qs = qs.filter(pk=scope["access"])
    if scope["criticalities"]:
        qs = qs.filter(entitlement__criticality__in=scope["criticalities"])
    if scope["resource"]:
        qs = qs.filter(entitlement__resource_id=scope["resource"])
    if scope["entitlement"]:
        qs = qs.filter(entitlement_id=scope["entitlement"])
    if scope["organization"]:
        qs = qs.filter(account__owner__organization_id=scope["organization"])
    if scope.get("beneficiary"):
        qs = qs.filter(account__owner_id=scope["beneficiary"])
    return qs


def eligible_role_memberships(scope: dict[str, Any]) -> QuerySet[RoleMembership]:
    qs = RoleMembership.objects.filter(
        management=RoleMembershipManagement.MANUAL,
        role__certifiable=True,
        user__status=UserStatus.ACTIVE,
    ).filter(_not_in_progress(ObjectKind.ROLE, "role_membership_id"))
    if scope["entitlement"]:
        return qs.none()
    if scope.get("access"):
        qs = qs.filter(pk=scope["access"])
    if scope["criticalities"]:
        qs = qs.filter(role__criticality__in=scope["criticalities"])
    if scope["resource"]:  # roles that grant an account on the resource or one of its entitlements
        qs = qs.filter(
            Exists(RoleResource.objects.filter(role_id=OuterRef("role_id"), resource_id=scope["resource"]))
            | Exists(
                RoleEntitlement.objects.filter(
                    role_id=OuterRef("role_id"), entitlement__resource_id=scope["resource"]
                )
            )
        )
    if scope["role"]:
        qs = qs.filter(role_id=scope["role"])
    if scope["organization"]:
        qs = qs.filter(user__organization_id=scope["organization"])
    if scope.get("beneficiary"):
        qs = qs.filter(user_id=scope["beneficiary"])
    return qs


_COLUMNS = (
    "account_id",
    "membership_id",
    "role_membership_id",
    "beneficiary_id",
    "resource_id",
    "entitlement_id",
    "role_id",
    "criticality",
    "reviewer_id",
)


_ALIASES = tuple(f"c_{c.removesuffix('_id')}" for c in _COLUMNS)


def _selections(scope: dict[str, Any]) -> list[tuple[str, Any]]:
    """The eligible accesses, one query per kind, with the ``_ALIASES`` columns (``_COLUMNS``)."""
    none = Cast(Value(None), output_field=BigIntegerField())  # a typed NULL (INSERT … SELECT)
    selections: list[tuple[str, Any]] = []
    if ObjectKind.ACCOUNT in scope["kinds"]:
        selections.append(
            (
                ObjectKind.ACCOUNT,
                eligible_accounts(scope).annotate(
                    c_account=F("pk"),
                    c_membership=none,
                    c_role_membership=none,
                    c_beneficiary=F("owner_id"),
                    c_resource=F("resource_id"),
                    c_entitlement=none,
                    c_role=none,
                    c_criticality=F("resource__criticality"),
                    c_reviewer=_reviewer(scope, ObjectKind.ACCOUNT),
                ),
            )
        )
    if ObjectKind.ENTITLEMENT in scope["kinds"]:
        selections.append(
            (
                ObjectKind.ENTITLEMENT,
                eligible_memberships(scope).annotate(
                    c_account=F("account_id"),
                    c_membership=F("pk"),
                    c_role_membership=none,
                    c_beneficiary=F("account__owner_id"),
                    c_resource=F("entitlement__resource_id"),
                    c_entitlement=F("entitlement_id"),
                    c_role=none,
                    c_criticality=F("entitlement__criticality"),
                    c_reviewer=_reviewer(scope, ObjectKind.ENTITLEMENT),
                ),
            )
        )
    if ObjectKind.ROLE in scope["kinds"]:
        selections.append(
            (
                ObjectKind.ROLE,
                eligible_role_memberships(scope).annotate(
                    c_account=none,
                    c_membership=none,
                    c_role_membership=F("pk"),
                    c_beneficiary=F("user_id"),
                    c_resource=none,
                    c_entitlement=none,
                    c_role=F("role_id"),
                    c_criticality=F("role__criticality"),
                    c_reviewer=_reviewer(scope, ObjectKind.ROLE),
                ),
            )
        )
    return selections


def eligible_count(scope: dict[str, Any]) -> dict[str, int]:
    """How many accesses a selection would put to review now, per kind (the preview)."""
    scope = scope_clean(scope)
    counts = {k: 0 for k in ObjectKind.values}
    if ObjectKind.ACCOUNT in scope["kinds"]:
        counts[ObjectKind.ACCOUNT] = eligible_accounts(scope).count()
    if ObjectKind.ENTITLEMENT in scope["kinds"]:
        counts[ObjectKind.ENTITLEMENT] = eligible_memberships(scope).count()
    if ObjectKind.ROLE in scope["kinds"]:
        counts[ObjectKind.ROLE] = eligible_role_memberships(scope).count()
    return counts


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


# --- the periodic run -----------------------------------------------------------------------------


@dataclass
class RunResult:
    started: int = 0
    finished: int = 0
    empty: int = 0


def certification_run(*, now: datetime | None = None) -> RunResult:
    """What the beat does: finish the campaigns whose end has come, start the campaigns of the
    active policies whose time has come (a policy with nothing eligible waits for its next
    period). Each in its own transaction; idempotent (status and ``next_run_at`` guard)."""
    now = now or timezone.now()
    result = RunResult()
    for campaign in CertificationCampaign.objects.filter(status=CampaignStatus.RUNNING, ends_at__lte=now):
        try:
            campaign_finish(actor=None, source="automatic", campaign=campaign)
            result.finished += 1
        except TransitionNotAllowed:  # closed meanwhile
            continue
    due = CertificationPolicy.objects.filter(active=True, trigger=PolicyTrigger.PERIODIC).filter(
        Q(next_run_at__isnull=True) | Q(next_run_at__lte=now)
    )
    for policy in due:
        try:
            campaign_start(actor=None, source="automatic", policy=policy, starts_at=now)
            result.started += 1
        except ValidationFailed:
            with transaction.atomic():
                CertificationPolicy.objects.filter(pk=policy.pk).update(
                    last_run_at=now, next_run_at=now + timedelta(days=policy.period_days)
                )
            result.empty += 1
    return result
