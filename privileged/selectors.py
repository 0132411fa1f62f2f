"""Read queries of privileged access: which access groups give a user a credential, and the
most restrictive of them (seed 003: "senhasegura checks which access group in which the user is
related to the credential has the most restrictive rule").

**The order** (docs/privileged-access.md), compared dimension by dimension, the first that
differs decides; the whole rule (levels, approvers, window, code, emergency) is that group's:

1. approval required beats no approval;
2. more approval levels beat fewer;
3. governance code required beats none;
4. a shorter maximum window beats a longer one;
5. justification required beats none;
6. emergency access not allowed beats allowed;
7. the older group (lower id), so the answer is stable.

The resolution is one SQL query whatever the number of groups: the user's groups on the
credential, ordered by that key, the first row.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, prefetch_related_objects
from django.db.models.functions import Coalesce

from directory.models import Account, RoleMembership, User
from privileged.models import AccessGroup, AccessGroupLevel, AccessRequest, AccessStatus, LevelApprover
from worklist.models import Task, TaskKind

_USERS = AccessGroup.member_users.through
_ROLES = AccessGroup.member_roles.through
_ORGS = AccessGroup.member_organizations.through
_CREDENTIALS = AccessGroup.credentials.through

#: SQL ordering of the most restrictive rule first (see the module docstring).
RESTRICTIVE_ORDER = (
    "-approval_required",
    "-n_levels",
    "-governance_code_required",
    "max_window_minutes",
    "-justification_required",
    "emergency_allowed",
    "id",
)


def member_q(user: User, prefix: str = "") -> Q:
    """Groups ``user`` belongs to: named, through their organization, or through a role."""
    roles = RoleMembership.objects.filter(user_id=user.pk).values("role_id")
    q = Q(**{f"{prefix}member_users": user.pk}) | Q(**{f"{prefix}member_roles__in": roles})
    if user.organization_id is not None:
        q |= Q(**{f"{prefix}member_organizations": user.organization_id})
    return q


def member_exists(user: User) -> Q:
    """Groups ``user`` belongs to, as EXISTS probes on the membership tables (each an index look-up
    per group, no join that multiplies rows): named, through their organization, through a role."""
    roles = RoleMembership.objects.filter(user_id=user.pk).values("role_id")
    q = Q(Exists(_USERS.objects.filter(accessgroup_id=OuterRef("pk"), user_id=user.pk))) | Q(
        Exists(_ROLES.objects.filter(accessgroup_id=OuterRef("pk"), role_id__in=roles))
    )
    if user.organization_id is not None:
        q |= Q(
            Exists(_ORGS.objects.filter(accessgroup_id=OuterRef("pk"), organization_id=user.organization_id))
        )
    return q


def groups_of(user: User, account: Account | int) -> QuerySet[AccessGroup]:
    """The active groups that give ``user`` the credential ``account``, most restrictive first.

    One statement, planned from the credential: the groups covering it (an index look-up on the
    credentials table), kept when a membership probe finds the user, each with its number of
    levels counted by a correlated subquery (no GROUP BY over joined rows)."""
    account_id = account if isinstance(account, int) else account.pk
    covers = _CREDENTIALS.objects.filter(accessgroup_id=OuterRef("pk"), account_id=account_id)
    n_levels = (
        AccessGroupLevel.objects.filter(group_id=OuterRef("pk"))
        .order_by()
        .values("group_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        AccessGroup.objects.filter(Exists(covers), member_exists(user), active=True)
        .annotate(n_levels=Coalesce(Subquery(n_levels), 0))
        .order_by(*RESTRICTIVE_ORDER)
    )


@dataclass(frozen=True)
class Rule:
    """The rule a user gets on a credential: the most restrictive group's."""

    group: AccessGroup
    justification_required: bool
    approval_required: bool
    max_window_minutes: int
    governance_code_required: bool
    emergency_allowed: bool
    levels: list[AccessGroupLevel] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """What an access request keeps of the rule (its ``rule`` column)."""
        return {
            "group": self.group.code,
            "justification_required": self.justification_required,
            "approval_required": self.approval_required,
            "max_window_minutes": self.max_window_minutes,
            "governance_code_required": self.governance_code_required,
            "emergency_allowed": self.emergency_allowed,
            "itsm": self.group.itsm.name if self.group.itsm is not None else None,
            "levels": [
                {"position": lv.position, "approver_kind": lv.approver_kind, "mode": lv.mode}
                for lv in self.levels
            ],
        }


def _rule(group: AccessGroup) -> Rule:
    levels = (
        list(group.levels.select_related("queue").order_by("position")) if group.approval_required else []
    )
    if any(lv.approver_kind == LevelApprover.USERS for lv in levels):
        prefetch_related_objects(levels, "users")  # only levels that name users need them
    return Rule(
        group=group,
        justification_required=group.justification_required,
        approval_required=group.approval_required,
        max_window_minutes=group.max_window_minutes,
        governance_code_required=group.governance_code_required,
        emergency_allowed=group.emergency_allowed,
        levels=levels,
    )


def _restrictive_sql(with_organization: bool) -> str:
    """``groups_of(...)[:1]`` as one parameterised statement (account, user, user[, organization]),
    built once: the same plan without compiling the ORM query on every decision (half of a
    decision's CPU). The ordering is ``RESTRICTIVE_ORDER``, rendered."""
    q = connection.ops.quote_name
    order = ", ".join(
        ("n_levels" if f.lstrip("-") == "n_levels" else f"g.{q(f.lstrip('-'))}")
        + (" DESC" if f.startswith("-") else " ASC")
        for f in RESTRICTIVE_ORDER
    )
    org = (
        f" OR EXISTS (SELECT 1 FROM {q(_ORGS._meta.db_table)} o"  # noqa: S608 (names from the models)
        " WHERE o.accessgroup_id = g.id AND o.organization_id = %s)"
        if with_organization
        else ""
    )
    return (
        f"SELECT g.*, COALESCE((SELECT COUNT(*) FROM {q(AccessGroupLevel._meta.db_table)} l"  # noqa: S608 (names from the models)
        " WHERE l.group_id = g.id), 0) AS n_levels"
        f" FROM {q(AccessGroup._meta.db_table)} g"
        f" WHERE g.active AND EXISTS (SELECT 1 FROM {q(_CREDENTIALS._meta.db_table)} c"
        " WHERE c.accessgroup_id = g.id AND c.account_id = %s)"
        f" AND (EXISTS (SELECT 1 FROM {q(_USERS._meta.db_table)} u WHERE u.accessgroup_id = g.id AND u.user_id = %s)"
        f" OR EXISTS (SELECT 1 FROM {q(_ROLES._meta.db_table)} r"
        f" JOIN {q(RoleMembership._meta.db_table)} m ON m.role_id = r.role_id"
        f" WHERE r.accessgroup_id = g.id AND m.user_id = %s){org})"
        f" ORDER BY {order} LIMIT 1"
    )


@functools.cache
def _restrictive_statement(vendor: str, with_organization: bool) -> str:
    return _restrictive_sql(with_organization)


def most_restrictive_group(user: User, account: Account | int) -> AccessGroup | None:
    """``groups_of(user, account).first()`` in one prepared statement (see ``_restrictive_sql``)."""
    account_id = account if isinstance(account, int) else account.pk
    org = user.organization_id
    params: list[Any] = [account_id, user.pk, user.pk] + ([org] if org is not None else [])
    found = list(AccessGroup.objects.raw(_restrictive_statement(connection.vendor, org is not None), params))
    return found[0] if found else None


def rule_for(user: User, account: Account | int) -> Rule | None:
    """The most restrictive rule among the groups giving ``user`` the credential (None: no group
    gives it). One query picks the group; its levels are read after (when it has approval)."""
    group = most_restrictive_group(user, account)
    return None if group is None else _rule(group)


def credentials_of(user: User) -> QuerySet[Account]:
    """Every credential some active group of ``user`` gives them (each once)."""
    ids = AccessGroup.objects.filter(member_q(user), active=True).values("credentials")
    return (
        Account.objects.filter(pk__in=ids)
        .select_related("resource", "responsible")
        .order_by("resource__name", "identifier")
    )


def rules_by_credential(user: User) -> dict[int, AccessGroup]:
    """The most restrictive group per credential of ``user``, for a list page: one query over the
    (group, credential) pairs in restrictive order; the first pair of each credential wins."""
    pairs = list(
        AccessGroup.credentials.through.objects.filter(
            accessgroup__in=AccessGroup.objects.filter(member_q(user), active=True).values("pk")
        ).values_list("account_id", "accessgroup_id")
    )
    groups = {
        g.pk: g
        for g in AccessGroup.objects.filter(pk__in={gid for _, gid in pairs}).annotate(
            n_levels=Count("levels")
        )
    }
    order = {g.pk: i for i, g in enumerate(sorted(groups.values(), key=_restrictive_key))}
    best: dict[int, AccessGroup] = {}
    for account_id, group_id in pairs:
        current = best.get(account_id)
        if current is None or order[group_id] < order[current.pk]:
            best[account_id] = groups[group_id]
    return best


def _restrictive_key(group: Any) -> tuple[Any, ...]:
    """The Python twin of ``RESTRICTIVE_ORDER`` (tested to agree with it)."""
    return (
        not group.approval_required,
        -group.n_levels,
        not group.governance_code_required,
        group.max_window_minutes,
        not group.justification_required,
        group.emergency_allowed,
        group.pk,
    )


# --- requests ------------------------------------------------------------------------------------


def requests_all() -> QuerySet[AccessRequest]:
    return AccessRequest.objects.select_related("requester", "account__resource", "group", "closed_by")


def requests_of(user: User) -> QuerySet[AccessRequest]:
    """A user's own requests."""
    return requests_all().filter(requester=user)


def approver_q(user: User) -> Q:
    """Access tasks ``user`` may decide: assigned to them or to a queue they belong to."""
    return Q(assignees=user) | Q(queue__members=user)


def approvals_of(user: User) -> QuerySet[AccessRequest]:
    """Requests ``user`` approves (or approved): any access task about them is theirs."""
    task_ids = Task.objects.filter(
        approver_q(user), kind__in=[TaskKind.ACCESS, TaskKind.ACCESS_REVIEW]
    ).values("subject_id")
    return requests_all().filter(pk__in=task_ids).exclude(requester=user)


def visible_requests(user: User, *, everything: bool) -> QuerySet[AccessRequest]:
    """What a user sees of requests: console readers everything; others theirs and those they approve."""
    if everything:
        return requests_all()
    mine = AccessRequest.objects.filter(requester=user).values("pk")
    theirs = approvals_of(user).values("pk")
    return requests_all().filter(Q(pk__in=mine) | Q(pk__in=theirs))


def live_statuses() -> tuple[str, str]:
    return (AccessStatus.PENDING, AccessStatus.APPROVED)


def groups_all() -> QuerySet[AccessGroup]:
    """Groups with what their pages show (members, credentials, levels) prefetched."""
    return (
        AccessGroup.objects.prefetch_related(
            "member_users",
            "member_organizations",
            "member_roles",
            "credentials__resource",
            "notify_users",
            "levels__users",
            "levels__queue",
        )
        .select_related("itsm")
        .annotate(n_levels=Count("levels", distinct=True))
        .order_by("code")
    )
