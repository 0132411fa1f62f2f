"""What a campaign selects: the policy's or the administrator's scope, the eligible accesses (set-based, one query per kind) and who reviews each."""

from __future__ import annotations

from typing import Any

from django.db.models import (
    BigIntegerField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce
from django.utils.translation import gettext as _

from blazon.changes import field_error
from certification.models import (
    CertificationItem,
    CertificationPolicy,
    ObjectKind,
    ReviewerKind,
)
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
    UserStatus,
)

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
