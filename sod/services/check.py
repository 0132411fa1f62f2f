"""Preventive SoD (request stage 3, seed 002): what a request would give its beneficiary, checked
against what they already hold, for every active rule.

``sod_check_requests`` is the set-based form the import's batch path uses: the rules are loaded
once, what the beneficiaries hold is read with one query per kind of item (only the items rules
name), and the requests are matched in memory. ``sod_check_request`` is the same for one request.
A request "conflicts" with a rule when it asks for an item of one side while the beneficiary holds
(or asks for, in the same batch or through the role they ask for) an item of another side, and no
valid exception covers the beneficiary for that rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from directory.models import (
    Account,
    AccountStatus,
    Entitlement,
    EntitlementMembership,
    MembershipRoleGrant,
    Resource,
    Role,
    RoleEntitlement,
    RoleMembership,
    RoleResource,
)
from sod.models import ItemKind, SoDException, SoDRule, SoDRuleItem

E, R, S = ItemKind.ENTITLEMENT.value, ItemKind.ROLE.value, ItemKind.RESOURCE.value

#: An item: (kind, id of the entitlement, role or resource).
Key = tuple[str, int]


@dataclass(frozen=True)
class Conflict:
    """One SoD rule the requested access would break for the beneficiary: what is asked for on
    one side, and what they hold (and how) on another."""

    rule_id: int | None
    rule_name: str
    description: str
    conflicting_with: list[str] = field(default_factory=list)
    severity: str = ""
    owner_id: int | None = None
    requested: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RuleIndex:
    """The active rules, loaded once: which (rule, side) each item is on."""

    rules: dict[int, SoDRule]
    sides: dict[Key, list[tuple[int, int]]]

    def ids(self, kind: str) -> set[int]:
        return {i for k, i in self.sides if k == kind}


def rules_load() -> RuleIndex:
    """Every item of every active rule (one query)."""
    rules: dict[int, SoDRule] = {}
    sides: dict[Key, list[tuple[int, int]]] = defaultdict(list)
    for item in SoDRuleItem.objects.filter(rule__active=True).select_related("rule"):
        target = item.target_id
        if target is None:  # the entitlement/role/resource was deleted: matches nobody
            continue
        rules[item.rule_id] = item.rule
        sides[(item.kind, target)].append((item.rule_id, item.side))
    return RuleIndex(rules, dict(sides))


def _requested(reqs: list[Any], index: RuleIndex) -> dict[int, dict[Key, str]]:
    """request pk -> {item: how the request brings it}; a role brings its entitlements and
    accounts (two queries for all the roles asked for)."""
    role_ids = {r.role_id for r in reqs if r.role_id and r.type == "GRANT_ROLE"}
    role_ents: dict[int, list[tuple[int, int]]] = defaultdict(list)
    role_res: dict[int, list[int]] = defaultdict(list)
    if role_ids:
        for role_id, ent_id, res_id in RoleEntitlement.objects.filter(role_id__in=role_ids).values_list(
            "role_id", "entitlement_id", "entitlement__resource_id"
        ):
            role_ents[role_id].append((ent_id, res_id))
        for role_id, res_id in RoleResource.objects.filter(role_id__in=role_ids).values_list(
            "role_id", "resource_id"
        ):
            role_res[role_id].append(res_id)
    ent_ids = {r.entitlement_id for r in reqs if r.entitlement_id and r.type == "GRANT_ENTITLEMENT"}
    ent_resource = (
        dict(Entitlement.objects.filter(pk__in=ent_ids).values_list("pk", "resource_id")) if ent_ids else {}
    )
    out: dict[int, dict[Key, str]] = {}
    for req in reqs:
        items: dict[Key, str] = {}
        here = f"requested (request #{req.pk})"
        if req.type == "GRANT_ENTITLEMENT" and req.entitlement_id:
            items[(E, req.entitlement_id)] = here
            if ent_resource.get(req.entitlement_id):
                items.setdefault((S, ent_resource[req.entitlement_id]), here)
        elif req.type == "CREATE_ACCOUNT" and req.resource_id:
            items[(S, req.resource_id)] = here
        elif req.type == "GRANT_ROLE" and req.role_id:
            items[(R, req.role_id)] = here
            via = f"via the requested role (request #{req.pk})"
            for ent_id, res_id in role_ents.get(req.role_id, []):
                items.setdefault((E, ent_id), via)
                items.setdefault((S, res_id), via)
            for res_id in role_res.get(req.role_id, []):
                items.setdefault((S, res_id), via)
        out[req.pk] = {k: v for k, v in items.items() if k in index.sides}
    return out


def holdings(user_ids: set[int], index: RuleIndex) -> dict[int, dict[Key, list[str]]]:
    """user -> {item a rule names: how they hold it ("directly", "via role Finance staff")}, for
    the items rules name only; one query per kind of item (plus the roles keeping memberships)."""
    held: dict[int, dict[Key, list[str]]] = defaultdict(lambda: defaultdict(list))
    if not user_ids or not index.sides:
        return held
    ents, roles, resources = index.ids(E), index.ids(R), index.ids(S)
    if ents:
        rows = list(
            EntitlementMembership.objects.filter(account__owner_id__in=user_ids, entitlement_id__in=ents)
            .exclude(account__status=AccountStatus.REVOKED)
            .values_list("pk", "account__owner_id", "entitlement_id", "manual")
        )
        via: dict[int, list[str]] = defaultdict(list)
        for membership_id, role_name in MembershipRoleGrant.objects.filter(
            membership_id__in=[r[0] for r in rows]
        ).values_list("membership_id", "role__name"):
            via[membership_id].append(f"via role {role_name}")
        for membership_id, owner_id, ent_id, manual in rows:
            ways = via.get(membership_id, [])
            held[owner_id][(E, ent_id)].extend((["directly"] if manual or not ways else []) + ways)
        # what held roles bring even before their fan-out reached the accounts
        for user_id, ent_id, role_name in RoleMembership.objects.filter(
            user_id__in=user_ids, role__role_entitlements__entitlement_id__in=ents
        ).values_list("user_id", "role__role_entitlements__entitlement_id", "role__name"):
            ways = held[user_id][(E, ent_id)]
            if f"via role {role_name}" not in ways:
                ways.append(f"via role {role_name}")
    if roles:
        for user_id, role_id in RoleMembership.objects.filter(
            user_id__in=user_ids, role_id__in=roles
        ).values_list("user_id", "role_id"):
            held[user_id][(R, role_id)].append("directly (role member)")
    if resources:
        for owner_id, res_id, identifier in (
            Account.objects.filter(owner_id__in=user_ids, resource_id__in=resources)
            .exclude(status=AccountStatus.REVOKED)
            .values_list("owner_id", "resource_id", "identifier")
        ):
            held[owner_id][(S, res_id)].append(f"account {identifier}")
    return held


def exceptions_valid(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], SoDException]:
    """(rule, user) -> the valid exception covering it (latest expiry), for the given pairs."""
    if not pairs:
        return {}
    rule_ids, user_ids = {p[0] for p in pairs}, {p[1] for p in pairs}
    found: dict[tuple[int, int], SoDException] = {}
    for exc in SoDException.objects.filter(
        rule_id__in=rule_ids, user_id__in=user_ids, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).order_by("expires_at"):
        found[(exc.rule_id, exc.user_id)] = exc
    return {k: v for k, v in found.items() if k in pairs}


def labels(keys: Iterable[Key]) -> dict[Key, str]:
    """Display names of items (three queries at most)."""
    keys = set(keys)
    out: dict[Key, str] = {}
    ids = {kind: {i for k, i in keys if k == kind} for kind in (E, R, S)}
    if ids[E]:
        for ent in Entitlement.objects.filter(pk__in=ids[E]).select_related("resource"):
            out[(E, ent.pk)] = str(ent)
    if ids[R]:
        for pk, name in Role.objects.filter(pk__in=ids[R]).values_list("pk", "name"):
            out[(R, pk)] = f"role {name}"
    if ids[S]:
        for pk, name in Resource.objects.filter(pk__in=ids[S]).values_list("pk", "name"):
            out[(S, pk)] = f"account on {name}"
    return out


def sod_check_requests(requests: Iterable[Any]) -> dict[int, list[Conflict]]:
    """The conflicts of each request of a batch (request pk -> conflicts; no conflict: an empty
    list). The rules are loaded once; a constant number of queries whatever the batch size.
    Requests of one beneficiary in the same batch count against each other (in pk order)."""
    reqs = sorted((r for r in requests if getattr(r, "beneficiary_id", None)), key=lambda r: r.pk)
    result: dict[int, list[Conflict]] = {r.pk: [] for r in reqs}
    if not reqs:
        return result
    index = rules_load()
    if not index.sides:
        return result
    asked = _requested(reqs, index)
    if not any(asked.values()):
        return result
    beneficiaries = {r.beneficiary_id for r in reqs}
    held = holdings(beneficiaries, index)
    earlier: dict[int, dict[Key, list[str]]] = defaultdict(lambda: defaultdict(list))
    found: list[tuple[Any, int, dict[Key, str], dict[Key, list[str]]]] = []
    for req in reqs:
        mine = asked[req.pk]
        have: dict[Key, list[str]] = defaultdict(list)
        for source in (held.get(req.beneficiary_id, {}), earlier[req.beneficiary_id]):
            for key, ways in source.items():
                have[key].extend(ways)
        for key in mine:
            earlier[req.beneficiary_id][key].append(f"asked for in request #{req.pk} of the same batch")
        by_rule: dict[int, tuple[dict[int, list[Key]], dict[int, list[Key]]]] = {}
        for key in mine:
            for rule_id, side in index.sides[key]:
                by_rule.setdefault(rule_id, ({}, {}))[0].setdefault(side, []).append(key)
        for key in have:
            for rule_id, side in index.sides.get(key, []):
                if rule_id in by_rule:
                    by_rule[rule_id][1].setdefault(side, []).append(key)
        for rule_id, (new_sides, held_sides) in by_rule.items():
            # the other side: held on another side, or asked for on another side (a role
            # that brings both sides)
            other: dict[Key, list[str]] = {}
            for side, keys in held_sides.items():
                if any(s != side for s in new_sides):
                    for key in keys:
                        other[key] = have[key]
            if len(new_sides) > 1:
                for keys in new_sides.values():
                    for key in keys:
                        other.setdefault(key, [mine[key]])
            if other:
                requested = {k: mine[k] for keys in new_sides.values() for k in keys}
                found.append((req, rule_id, requested, other))
    if not found:
        return result
    covered = exceptions_valid({(rule_id, req.beneficiary_id) for req, rule_id, _, _ in found})
    found = [f for f in found if (f[1], f[0].beneficiary_id) not in covered]
    names = labels(k for _, _, a, b in found for k in (*a, *b))
    side_of = {(rule_id, key): side for key, pairs in index.sides.items() for rule_id, side in pairs}
    for req, rule_id, requested, other in found:
        rule = index.rules[rule_id]

        def row(key: Key, ways: list[str], rule_id: int = rule_id) -> dict[str, Any]:
            return {
                "side": side_of[(rule_id, key)],
                "kind": key[0],
                "id": key[1],
                "label": names.get(key, f"{key[0].lower()} #{key[1]}"),
                "how": list(dict.fromkeys(ways)),
            }

        held_rows = [row(k, w) for k, w in other.items()]
        result[req.pk].append(
            Conflict(
                rule_id=rule_id,
                rule_name=rule.name,
                description=rule.description,
                conflicting_with=[f"{h['label']} ({', '.join(h['how'])})" for h in held_rows],
                severity=rule.severity,
                owner_id=rule.owner_id,
                requested=[row(k, [w]) for k, w in requested.items()],
                held=held_rows,
            )
        )
    return result


def sod_check_request(request: Any) -> list[Conflict]:
    """The conflicts the access asked for in ``request`` would create for its beneficiary."""
    return sod_check_requests([request]).get(request.pk, [])
