"""Stages 3 and 4 of a batch, decided in memory (``requests_workflow.services.bulk``): approval
and SoD for the batch at once, then the directory state the grants and revokes depend on (a few
queries, rows locked as the per-request path locks them). A request the set path cannot decide
exactly like ``request_process`` goes back to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from blazon.audit.services import AuditEntry
from directory.models import (
    Account,
    AccountStatus,
    AccountType,
    Entitlement,
    EntitlementMembership,
    Management,
    MembershipRoleGrant,
    User,
    UserStatus,
)
from requests_workflow.models import Request, RequestStatus, RequestType
from requests_workflow.services.approvals import approval_policies_active, approval_policy_match
from requests_workflow.services.common import TERMINAL, TRANSITIONS
from requests_workflow.types import SPECS
from sod.services import sod_check_requests

R = RequestStatus

#: The types whose stage 4 the set path applies itself.
SET_TYPES = frozenset({RequestType.GRANT_ENTITLEMENT, RequestType.REVOKE_ENTITLEMENT})


@dataclass(eq=False)
class Run:
    """What the set path writes for one request, in the order the per-request path would."""

    req: Request
    events: list[tuple[int, str, str, str]] = field(default_factory=list)  # stage, from, to, message
    audit: list[AuditEntry] = field(default_factory=list)
    account: Account | None = None
    account_created: bool = False
    membership: EntitlementMembership | None = None
    kept_manually: bool = False
    revoking: bool = False  # REVOKE_ENTITLEMENT: ``membership`` goes

    # What the batch knows of the requests it takes (entitlement grants and revokes for a user):
    # these are set; the asserts say so to the type checker and fail loudly if one is not.
    @property
    def owner(self) -> User:
        assert self.req.beneficiary is not None
        return self.req.beneficiary

    @property
    def ent(self) -> Entitlement:
        assert self.req.entitlement is not None
        return self.req.entitlement

    @property
    def acct(self) -> Account:
        assert self.account is not None
        return self.account

    @property
    def member(self) -> EntitlementMembership:
        assert self.membership is not None
        return self.membership

    def event(self, stage: int, message: str, frm: str = "", to: str = "") -> None:
        self.events.append((stage, frm, to, message))

    def move(self, to: str, *, stage: int, message: str, now: Any) -> None:
        """``request_move`` in memory (actor: the system)."""
        req = self.req
        frm = req.status
        assert to in TRANSITIONS.get(frm, frozenset()), (frm, to)
        req.status, req.stage = to, max(req.stage, stage)
        if to in TERMINAL:
            req.finished_at = now
        self.event(stage, message, frm, to)
        self.audit.append(
            AuditEntry(
                action=f"request.{to.lower()}",
                object_type=Request._meta.label,
                object_id=req.pk,
                object_repr=str(req),
                old={"status": frm},
                new={"status": to, "stage": stage, "message": message},
                subject_user_id=req.beneficiary_id,
                actor=None,
                source=req.source,
            )
        )


def stage3(reqs: list[Request]) -> tuple[list[Run], list[Request]]:
    """Approval and SoD in memory; a request that needs tasks goes to the per-request path."""
    candidates = [r for r in reqs if r.type in SET_TYPES and _set_capable(r)]
    single = [r for r in reqs if r.type not in SET_TYPES or not _set_capable(r)]
    policies = approval_policies_active() if candidates else []
    first: dict[int, str] = {}
    kept: list[Request] = []
    for req in candidates:
        spec = SPECS[req.type]
        if not spec.approval:
            first[req.pk] = f"{req.type} requests need no approval."
        elif req.source == "automatic":
            first[req.pk] = "Automatic request (end of a time-bound access): no approval."
        elif approval_policy_match(req, policies) is None:
            first[req.pk] = "No approval policy matched: no approval needed."
        else:
            single.append(req)  # approval tasks: the per-request path opens them
            continue
        kept.append(req)
    conflicts = sod_check_requests(r for r in kept if SPECS[r.type].sod)
    runs: list[Run] = []
    now = timezone.now()
    for req in kept:
        if conflicts.get(req.pk):
            single.append(req)  # SoD task: the per-request path opens it
            continue
        run = Run(req)
        run.event(3, first[req.pk])
        if SPECS[req.type].sod:
            run.event(3, "SoD check: no SoD policy matched.")
            run.move(R.APPROVED, stage=3, message="Approved.", now=now)
        else:
            run.move(R.APPROVED, stage=3, message="Approved (no SoD check for this type).", now=now)
        runs.append(run)
    return runs, single


def _set_capable(req: Request) -> bool:
    """A grant or revoke the set path can apply exactly as ``_grant_entitlement`` or
    ``_revoke_entitlement`` would."""
    if req.type == RequestType.REVOKE_ENTITLEMENT:
        return req.account_id is not None and req.entitlement_id is not None
    return (
        req.type == RequestType.GRANT_ENTITLEMENT
        and req.account_id is None
        and req.beneficiary_id is not None
        and req.entitlement_id is not None
    )


def stage4_prepare(runs: list[Run]) -> tuple[list[Run], list[Request]]:
    """Read the directory state the grants depend on (three queries, rows locked as the
    per-request path locks them) and decide, per request, the account and the membership; a
    request the directory would refuse goes to the per-request path, which fails it with the
    directory's reason."""
    now = timezone.now()
    due = [run for run in runs if not (run.req.start_at and run.req.start_at > now)]
    waiting = {id(run) for run in runs} - {id(run) for run in due}
    for run in runs:
        if id(run) in waiting:
            run.event(3, f"Access starts on {run.req.start_at:%Y-%m-%d %H:%M}; waiting.")
    if not due:
        return runs, []
    revokes = [run for run in due if run.req.type == RequestType.REVOKE_ENTITLEMENT]
    due = [run for run in due if run.req.type != RequestType.REVOKE_ENTITLEMENT]
    owner_ids = {run.req.beneficiary_id for run in due}
    resource_ids = {run.ent.resource_id for run in due}
    accounts: dict[tuple[Any, Any], Account] = {
        (a.owner_id, a.resource_id): a
        for a in Account.objects.select_for_update(of=("self",))
        .select_related("resource")
        .filter(owner_id__in=owner_ids, resource_id__in=resource_ids, account_type=AccountType.REGULAR)
        .order_by("pk")  # one lock order for every batch: no deadlock between two batches
    }
    taken = set(
        Account.objects.filter(
            resource_id__in=resource_ids, identifier__in={run.owner.username.strip() for run in due}
        ).values_list("resource_id", "identifier")
    )
    live_ids = [a.pk for a in accounts.values() if a.status != AccountStatus.REVOKED]
    memberships: dict[tuple[Any, Any], EntitlementMembership] = {
        (m.account_id, m.entitlement_id): m
        for m in EntitlementMembership.objects.select_for_update()
        .filter(account_id__in=live_ids, entitlement_id__in={run.req.entitlement_id for run in due})
        .order_by("pk")
    }
    single: list[Request] = []
    new_accounts: dict[tuple[Any, Any], Account] = {}
    seen: set[tuple[Any, Any]] = set()
    kept: list[Run] = []
    revoking = {id(run) for run in revokes}
    for run in runs:
        if id(run) in waiting or id(run) in revoking:
            kept.append(run)
            continue
        req, owner, ent = run.req, run.owner, run.ent
        key = (owner.pk, ent.resource_id)
        account = accounts.get(key)
        if account is not None and account.status == AccountStatus.REVOKED:
            single.append(req)  # account_create refuses: a regular account exists
            continue
        if account is None and key not in new_accounts:
            if owner.status not in (UserStatus.ACTIVE, UserStatus.INACTIVE) or not owner.username.strip():
                single.append(req)
                continue
            if (ent.resource_id, owner.username.strip()) in taken:
                single.append(req)  # identifier already used on the resource
                continue
        membership = memberships.get((account.pk, ent.pk)) if account is not None else None
        if (membership is not None and membership.manual) or (key, ent.pk) in seen:
            single.append(req)  # "already holds": the per-request path fails it
            continue
        seen.add((key, ent.pk))
        if account is None:
            account = new_accounts.get(key)
            if account is None:
                account = Account(
                    resource=ent.resource,
                    owner=owner,
                    identifier=owner.username.strip(),
                    account_type=AccountType.REGULAR,
                    status=AccountStatus.ACTIVE
                    if owner.status == UserStatus.ACTIVE
                    else AccountStatus.INACTIVE,
                    management=Management.MANUAL,
                    manual=True,
                    is_temporary=False,
                    attributes={},
                    status_changed_at=now,
                )
                new_accounts[key] = account
                run.account_created = True
        run.account = account
        if membership is not None:
            run.membership, run.kept_manually = membership, True
        else:
            run.membership = EntitlementMembership(
                account=account, entitlement=ent, management=Management.MANUAL, manual=True
            )
        kept.append(run)
    granted = {(run.account.pk, run.req.entitlement_id) for run in kept if run.account is not None}
    gone = _revokes_prepare(revokes, granted, single)
    return [run for run in kept if id(run) not in gone], single


def _revokes_prepare(revokes: list[Run], granted: set[tuple[Any, Any]], single: list[Request]) -> set[int]:
    """The memberships the revokes remove (two queries); a revoke the directory would refuse
    (role-managed, not held) or that meets a grant of the batch goes to the per-request path.
    Returns the runs (``id``) sent there."""
    gone: set[int] = set()
    if not revokes:
        return gone
    found: dict[tuple[Any, Any], EntitlementMembership] = {
        (m.account_id, m.entitlement_id): m
        for m in EntitlementMembership.objects.select_for_update()
        .filter(
            account_id__in={run.req.account_id for run in revokes},
            entitlement_id__in={run.req.entitlement_id for run in revokes},
        )
        .order_by("pk")
    }
    by_role = set(
        MembershipRoleGrant.objects.filter(membership_id__in=[m.pk for m in found.values()]).values_list(
            "membership_id", flat=True
        )
    )
    seen: set[tuple[Any, Any]] = set()
    for run in revokes:
        key = (run.req.account_id, run.req.entitlement_id)
        membership = found.get(key)
        if membership is None or membership.pk in by_role or key in seen or key in granted:
            single.append(run.req)  # the per-request path refuses or fails it
            gone.add(id(run))
            continue
        seen.add(key)
        run.account, run.membership, run.revoking = run.req.account, membership, True
    return gone
