"""Assignment (birthright) policies (seed 002, "Políticas de atribuição"): every active user who
matches all the conditions of an active policy holds its role, as a membership managed by the
policy (``ASSIGNMENT_POLICY``: not revocable by hand). A user who stops matching every policy of
a role loses the policy-managed membership; a manual membership of the same role is left alone.

Evaluated set-based for a role when one of its policies is created, changed or deleted (with
``policy_preview`` to count first), and for one user when the directory creates or updates them
(the ``user_changed`` port of ``directory/ports.py``, registered by ``SodConfig.ready``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.changes import config_create, config_delete, config_update, field_error
from directory.models import (
    Organization,
    Role,
    RoleEntitlement,
    RoleMembership,
    RoleMembershipManagement,
    RoleResource,
    Source,
    User,
    UserStatus,
)
from directory.services.access.roles import role_grant, role_revoke
from sod.models import AssignmentPolicy, ItemKind
from sod.services.check import Key, exceptions_valid, holdings, rules_load
from sod.services.role_changes import rule_conflicts

POLICY_FIELDS = (
    "code",
    "name",
    "description",
    "role",
    "active",
    "organization",
    "include_sub_organizations",
    "department",
    "job_title",
    "employee_type",
    "attributes",
)
CONDITIONS = ("organization", "department", "job_title", "employee_type", "attributes")
POLICY = RoleMembershipManagement.ASSIGNMENT_POLICY
SAMPLE = 20


def _org_ids(org: Organization, with_children: bool) -> list[int]:
    """The organization and, if asked, all its descendants (one query per level)."""
    ids, level = [org.pk], [org.pk]
    while with_children and level:
        level = list(Organization.objects.filter(parent_id__in=level).values_list("pk", flat=True))
        level = [i for i in level if i not in ids]
        ids.extend(level)
    return ids


def policy_condition(policy: AssignmentPolicy) -> Q:
    """The users the policy's conditions select (AND of the conditions that are set)."""
    q = Q()
    if policy.organization_id is not None:
        assert policy.organization is not None
        q &= Q(organization_id__in=_org_ids(policy.organization, policy.include_sub_organizations))
    for name in ("department", "job_title", "employee_type"):
        value = getattr(policy, name)
        if value:
            q &= Q(**{f"{name}__iexact": value})
    for key, value in sorted((policy.attributes or {}).items()):
        q &= Q(**{f"attributes__{key}": value})
    return q


def policy_users(policy: AssignmentPolicy) -> QuerySet[User]:
    return User.objects.filter(status=UserStatus.ACTIVE).filter(policy_condition(policy))


def _role_target(role_id: int, replace: AssignmentPolicy | None = None, drop: int | None = None) -> Q | None:
    """The users any active policy of the role selects (``replace``: a policy's proposed state
    instead of its saved one; ``drop``: leave a policy out). None: no policy gives the role."""
    policies = list(
        AssignmentPolicy.objects.filter(role_id=role_id, active=True).select_related("organization")
    )
    if replace is not None:
        policies = [p for p in policies if p.pk != replace.pk]
        if replace.active and replace.role_id == role_id:
            policies.append(replace)
    policies = [p for p in policies if p.pk != drop or drop is None]
    if not policies:
        return None
    q = Q(pk__in=[])
    for p in policies:
        q |= policy_condition(p)
    return q


@dataclass
class Preview:
    role: str
    gain: int = 0
    lose: int = 0
    gain_users: list[str] = field(default_factory=list)
    lose_users: list[str] = field(default_factory=list)
    matching: int = 0
    active_users: int = 0
    warnings: list[str] = field(default_factory=list)
    sod_conflicts: int = 0
    sod_users: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _sets(role_id: int, target: Q | None) -> tuple[QuerySet[User], QuerySet[RoleMembership]]:
    members = RoleMembership.objects.filter(role_id=role_id)
    active = User.objects.filter(status=UserStatus.ACTIVE)
    if target is None:
        gain = active.none()
        lose = members.filter(management=POLICY)
    else:
        gain = active.filter(target).exclude(pk__in=members.values("user_id"))
        lose = members.filter(management=POLICY).exclude(user_id__in=active.filter(target).values("pk"))
    return gain, lose


def _sod_conflicted(role_id: int, user_ids: set[int]) -> set[str]:
    """Usernames of those of ``user_ids`` whom the role's items would put on two sides of an
    active SoD rule with what they already hold (no valid exception); set-based."""
    index = rules_load()
    if not user_ids or not index.sides:
        return set()
    role_items: list[Key] = [(ItemKind.ROLE.value, role_id)]
    role_items += [
        (ItemKind.ENTITLEMENT.value, i)
        for i in RoleEntitlement.objects.filter(role_id=role_id).values_list("entitlement_id", flat=True)
    ]
    role_items += [
        (ItemKind.RESOURCE.value, i)
        for i in RoleResource.objects.filter(role_id=role_id).values_list("resource_id", flat=True)
    ]
    pairs: set[tuple[int, int]] = set()
    for user_id, held in holdings(user_ids, index).items():
        for rule_id in rule_conflicts(index, role_items, dict(held)):
            pairs.add((rule_id, user_id))
    covered = exceptions_valid(pairs)
    ids = {u for r, u in pairs if (r, u) not in covered}
    return set(User.objects.filter(pk__in=ids).values_list("username", flat=True))


def policy_preview(policy: AssignmentPolicy, *, deleting: bool = False) -> Preview:
    """What saving (or deleting) ``policy`` in its current, possibly unsaved state would do to
    its role: how many users gain it, how many lose it (a few names of each), counted in SQL."""
    role_id = policy.role_id
    target = _role_target(role_id, drop=policy.pk) if deleting else _role_target(role_id, replace=policy)
    gain, lose = _sets(role_id, target)
    out = Preview(role=policy.role.name, gain=gain.count(), lose=lose.count())
    out.gain_users = list(gain.order_by("username").values_list("username", flat=True)[:SAMPLE])
    out.lose_users = list(lose.order_by("user__username").values_list("user__username", flat=True)[:SAMPLE])
    if not deleting:
        conflicted = _sod_conflicted(role_id, set(gain.values_list("pk", flat=True)))
        out.sod_conflicts = len(conflicted)
        out.sod_users = sorted(conflicted)[:SAMPLE]
        if conflicted:
            out.warnings.append(f"{len(conflicted)} user(s) would break an SoD rule by gaining the role.")
        out.matching = policy_users(policy).count()
        out.active_users = User.objects.filter(status=UserStatus.ACTIVE).count()
        if out.matching == 0:
            out.warnings.append("The policy matches nobody.")
        elif out.matching == out.active_users:
            out.warnings.append("The policy matches every active user.")
    return out


def role_policies_apply(*, actor: User | None, source: str, role: Role) -> dict[str, int]:
    """Give the role to every active user its policies select and take the policy-managed
    memberships of the others (the membership fan-out runs per user)."""
    gain, lose = _sets(role.pk, _role_target(role.pk))
    granted = revoked = 0
    for user in gain.order_by("pk"):
        role_grant(actor=actor, source=source, user=user, role=role, management=POLICY)
        granted += 1
    for membership in lose.order_by("pk"):
        role_revoke(actor=actor, source=Source.AUTOMATIC, membership=membership)
        revoked += 1
    if granted or revoked:
        audit_record(
            actor=actor,
            action="assignment_policy.applied",
            obj=role,
            object_repr=role.name,
            new={"granted": granted, "revoked": revoked},
            source=source,
        )
    return {"granted": granted, "revoked": revoked}


def user_policies_apply(*, actor: User | None, source: str, user: User) -> dict[str, int]:
    """Re-evaluate one user against every active policy (one query per policy): grant the roles
    they now match, take the policy-managed ones they no longer match."""
    if user.status != UserStatus.ACTIVE:  # the life cycle decides what leavers keep
        return {"granted": 0, "revoked": 0}
    policies = list(AssignmentPolicy.objects.filter(active=True).select_related("organization", "role"))
    matched: dict[int, Role] = {}
    if policies:
        for p in policies:
            if p.role_id not in matched and policy_users(p).filter(pk=user.pk).exists():
                matched[p.role_id] = p.role
    held = {m.role_id: m for m in RoleMembership.objects.filter(user=user)}
    granted = revoked = 0
    for role_id, role in matched.items():
        if role_id not in held:
            role_grant(actor=actor, source=source, user=user, role=role, management=POLICY)
            granted += 1
    for role_id, membership in held.items():
        if membership.management == POLICY and role_id not in matched:
            role_revoke(actor=actor, source=Source.AUTOMATIC, membership=membership)
            revoked += 1
    return {"granted": granted, "revoked": revoked}


def _apply(policy: AssignmentPolicy, data: dict[str, Any]) -> None:
    for name in POLICY_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name in ("code", "name") and not str(value or "").strip():
            raise field_error(name, _("Required."))
        if name == "role" and not isinstance(value, Role):
            raise field_error("role", _("A role."))
        if name == "organization" and value is not None and not isinstance(value, Organization):
            raise field_error("organization", _("An organization."))
        if name == "attributes":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and k.isidentifier() and isinstance(v, str) for k, v in value.items()
            ):
                raise field_error("attributes", _("An object of attribute names to text values."))
        setattr(policy, name, value.strip() if isinstance(value, str) else value)
    if not any(getattr(policy, c) for c in CONDITIONS):
        raise field_error(
            "department", _("Give at least one condition (a policy without any matches everybody).")
        )


@transaction.atomic
def assignment_policy_create(*, actor: Any, source: str, **data: Any) -> AssignmentPolicy:
    """Create a policy and give its role to everyone it selects."""
    policy = AssignmentPolicy()
    _apply(policy, {"active": True, **data})
    config_create(
        policy,
        fields=POLICY_FIELDS,
        actor=actor,
        source=source,
        action="assignment_policy.create",
        conflict="An assignment policy with this code already exists.",
        conflict_field="code",
        validate=True,
    )
    role_policies_apply(actor=actor, source=source, role=policy.role)
    return policy


@transaction.atomic
def assignment_policy_update(
    *, actor: Any, source: str, policy: AssignmentPolicy, data: dict[str, Any]
) -> AssignmentPolicy:
    """Change a policy and re-evaluate its role (and its former role, if it changed)."""
    old_role = Role.objects.get(pk=policy.role_id)
    with config_update(
        AssignmentPolicy,
        policy.pk,
        fields=POLICY_FIELDS,
        actor=actor,
        source=source,
        action="assignment_policy.update",
        conflict="An assignment policy with this code already exists.",
        conflict_field="code",
        validate=True,
    ) as change:
        _apply(change.obj, data)
    policy = change.obj
    if old_role.pk != policy.role_id:
        role_policies_apply(actor=actor, source=source, role=old_role)
    role_policies_apply(actor=actor, source=source, role=policy.role)
    return policy


@transaction.atomic
def assignment_policy_delete(*, actor: Any, source: str, policy: AssignmentPolicy) -> None:
    """Delete a policy; the users no other policy selects lose its role."""
    policy = AssignmentPolicy.objects.select_for_update().select_related("role").get(pk=policy.pk)
    role = policy.role
    config_delete(policy, fields=POLICY_FIELDS, actor=actor, source=source, action="assignment_policy.delete")
    role_policies_apply(actor=actor, source=source, role=role)


def user_changed(
    *, actor: User | None, source: str, user: User, changed: frozenset[str] | None = None
) -> None:
    """The directory's ``user_changed`` port (every change re-evaluates the policies)."""
    user_policies_apply(actor=actor, source=source, user=user)


def policy_draft(data: dict[str, Any], policy: AssignmentPolicy | None = None) -> AssignmentPolicy:
    """An unsaved policy with ``data`` applied (on a copy of ``policy`` to preview a change):
    checked like a save, to preview before saving."""
    draft = AssignmentPolicy() if policy is None else AssignmentPolicy.objects.get(pk=policy.pk)
    _apply(draft, {"active": True, **data} if policy is None else data)
    return draft
