"""Read queries of the directory, permission-aware and shaped for lists.

``restrict(queryset, viewer, capability)`` is the one place (NetBox's ``restrict`` idea) that
says which rows a viewer may see; the API, the console and the workspace all list through the
``*_for(viewer)`` helpers below so a list shows the same rows everywhere. Today every console
role with ``view`` sees every directory row and anybody else sees none; object-level rules
(e.g. a resource owner seeing their resource) will narrow ``restrict`` without touching callers.

Each helper joins or prefetches what its list shows, so listing N rows costs a fixed number of
queries (N+1 is a bug).
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Count, IntegerField, Model, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext

from blazon.permissions import can
from directory.models import (
    Account,
    AccountRoleGrant,
    AccountStatus,
    AccountType,
    AttributeDefinition,
    AttributeScope,
    DirectoryEvent,
    Entitlement,
    EntitlementMembership,
    MembershipRoleGrant,
    Organization,
    Resource,
    Role,
    RoleChange,
    RoleEntitlement,
    RoleMembership,
    RoleResource,
    User,
    UsernamePolicy,
    UserStatus,
)

M = TypeVar("M", bound=Model)


def restrict(queryset: QuerySet[M], viewer: Any, capability: str = "view") -> QuerySet[M]:
    """``queryset`` narrowed to the rows ``viewer`` may see with ``capability``."""
    if can(viewer, capability):
        return queryset
    return queryset.none()


def _count(model: type[Model], fk: str, **filters: Any) -> Coalesce:
    """A correlated COUNT subquery: cheaper than joining and grouping two large tables."""
    sub = (
        model._default_manager.filter(**{fk: OuterRef("pk")}, **filters)
        .order_by()
        .values(fk)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(sub, output_field=IntegerField()), Value(0))


def _grants(model: type[Model]) -> Prefetch[Any]:
    return Prefetch(
        "role_grants", queryset=model._default_manager.select_related("role").order_by("role__name")
    )


def users_for(viewer: Any) -> QuerySet[User]:
    return restrict(User.objects.select_related("organization", "manager"), viewer)


def organizations_for(viewer: Any) -> QuerySet[Organization]:
    qs = Organization.objects.select_related("parent", "owner").annotate(
        member_count=_count(User, "organization")
    )
    return restrict(qs, viewer)


def resources_for(viewer: Any) -> QuerySet[Resource]:
    qs = Resource.objects.prefetch_related(
        Prefetch("owners", queryset=User.objects.order_by("username"))
    ).annotate(
        account_count=_count(Account, "resource"),
        entitlement_count=_count(Entitlement, "resource"),
    )
    return restrict(qs, viewer)


def accounts_for(viewer: Any) -> QuerySet[Account]:
    qs = Account.objects.select_related("resource", "owner", "responsible").prefetch_related(
        _grants(AccountRoleGrant)
    )
    return restrict(qs, viewer)


def entitlements_for(viewer: Any) -> QuerySet[Entitlement]:
    qs = Entitlement.objects.select_related("resource", "owner").annotate(
        member_count=_count(EntitlementMembership, "entitlement")
    )
    return restrict(qs, viewer)


def entitlement_memberships_for(viewer: Any) -> QuerySet[EntitlementMembership]:
    qs = EntitlementMembership.objects.select_related(
        "account", "account__owner", "account__resource", "entitlement"
    ).prefetch_related(_grants(MembershipRoleGrant))
    return restrict(qs, viewer)


def roles_for(viewer: Any) -> QuerySet[Role]:
    qs = (
        Role.objects.select_related("owner")
        .prefetch_related(
            Prefetch(
                "role_resources", queryset=RoleResource.objects.select_related("resource").order_by("id")
            ),
            Prefetch(
                "role_entitlements",
                queryset=RoleEntitlement.objects.select_related(
                    "entitlement", "entitlement__resource"
                ).order_by("id"),
            ),
        )
        .annotate(member_count=_count(RoleMembership, "role"))
    )
    return restrict(qs, viewer)


def role_memberships_for(viewer: Any) -> QuerySet[RoleMembership]:
    return restrict(RoleMembership.objects.select_related("user", "role"), viewer)


def role_changes_for(viewer: Any) -> QuerySet[RoleChange]:
    return restrict(
        RoleChange.objects.select_related("role", "resource", "entitlement", "requested_by"), viewer
    )


def directory_events_for(viewer: Any) -> QuerySet[DirectoryEvent]:
    return restrict(DirectoryEvent.objects.select_related("user", "resolved_by", "new_user"), viewer)


def attribute_definitions_for(viewer: Any) -> QuerySet[AttributeDefinition]:
    return restrict(AttributeDefinition.objects.select_related("resource"), viewer)


def attribute_holders(definition: AttributeDefinition) -> QuerySet[Any]:
    """The users (or the resource's accounts or entitlements) holding a value of the attribute."""
    if definition.scope == AttributeScope.USER:
        qs: QuerySet[Any] = User.objects.all()
    elif definition.scope == AttributeScope.ACCOUNT:
        qs = Account.objects.filter(resource=definition.resource)
    else:
        qs = Entitlement.objects.filter(resource=definition.resource)
    return qs.filter(attributes__has_key=definition.name)


def username_policy_active() -> UsernamePolicy:
    """The policy usernames are produced with: the active row, or the defaults (unsaved) when
    nobody has configured one yet."""
    policy = UsernamePolicy.objects.filter(active=True).order_by("pk").first()
    return policy or UsernamePolicy(
        active=True, patterns=["{first}.{last}", "{first}.{middle_initial}.{last}"]
    )


def user_can_sign_in(user: Any) -> bool:
    """Whether ``user`` may sign in by any path (login, SAML, OIDC): an authenticated, ACTIVE
    identity whose login is not locked. Everyone else is refused with the same answer."""
    return (
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and getattr(user, "status", "") == UserStatus.ACTIVE
        and not getattr(user, "login_locked", False)
    )


def user_value(user: Any, name: str, fields: tuple[str, ...]) -> Any:
    """The value of ``name`` for ``user``: the standard field when ``name`` is one of ``fields``
    (the ones the caller lets policies and claims read), else the administrator-defined
    attribute of that key (None when absent)."""
    if name in fields:
        return getattr(user, name, None)
    return (getattr(user, "attributes", None) or {}).get(name)


def membership_in_effect(now: Any = None) -> Q:
    """Role memberships in effect at ``now``: started (or undated) and not yet ended. The
    sweep removes ended ones; until it runs, this keeps them from counting."""

    now = now or timezone.now()
    return (Q(start_date__isnull=True) | Q(start_date__lte=now)) & (
        Q(end_date__isnull=True) | Q(end_date__gt=now)
    )


def catalog_holdings(user: Any) -> dict[str, dict[int, str]]:
    """What ``user`` already holds of what the catalog offers, and how, for the workspace:
    ``{"entitlement": {id: how}, "role": {id: how}, "resource": {id: how}}`` where ``how`` reads
    "directly", "through role Developers" or "an account". Three queries whatever the size."""
    held: dict[str, dict[int, str]] = {"entitlement": {}, "role": {}, "resource": {}}
    for role_id in RoleMembership.objects.filter(user=user).values_list("role_id", flat=True):
        held["role"][role_id] = gettext("directly")
    memberships = EntitlementMembership.objects.filter(account__owner=user).exclude(
        account__status=AccountStatus.REVOKED
    )
    via_role = dict(
        MembershipRoleGrant.objects.filter(membership__in=memberships).values_list(
            "membership__entitlement_id", "role__name"
        )
    )
    for entitlement_id, manual in memberships.values_list("entitlement_id", "manual"):
        if manual or entitlement_id not in via_role:
            held["entitlement"][entitlement_id] = gettext("directly")
        else:
            held["entitlement"][entitlement_id] = gettext("through role %(role)s") % {
                "role": via_role[entitlement_id]
            }
    accounts = Account.objects.filter(owner=user, account_type=AccountType.REGULAR).exclude(
        status=AccountStatus.REVOKED
    )
    for resource_id in accounts.values_list("resource_id", flat=True):
        held["resource"][resource_id] = gettext("an account")
    return held


def user_attribute_rows(user: User) -> list[tuple[str, Any]]:
    """A user's administrator-defined attributes as (label, value), in the definitions' order
    (the label the administrator gave, not the stored name); values without a definition last,
    by name."""
    values = dict(user.attributes or {})
    rows: list[tuple[str, Any]] = []
    for name, label in AttributeDefinition.objects.filter(
        scope=AttributeScope.USER, resource__isnull=True
    ).values_list("name", "label"):
        if name in values:
            rows.append((label or name, values.pop(name)))
    rows.extend(sorted(values.items()))
    return rows


def role_contents(role_ids: list[int]) -> dict[int, list[str]]:
    """What each role gives its members, as the catalog shows it before anyone asks: "an
    account on <resource>" and "<entitlement> (<resource>)", in two queries for all the roles."""
    out: dict[int, list[str]] = {pk: [] for pk in role_ids}
    for role_id, name in (
        RoleResource.objects.filter(role_id__in=role_ids)
        .order_by("resource__name")
        .values_list("role_id", "resource__name")
    ):
        out[role_id].append(gettext("an account on %(resource)s") % {"resource": name})
    for role_id, name, resource in (
        RoleEntitlement.objects.filter(role_id__in=role_ids)
        .order_by("entitlement__resource__name", "entitlement__name")
        .values_list("role_id", "entitlement__name", "entitlement__resource__name")
    ):
        out[role_id].append(f"{name} ({resource})")
    return out
