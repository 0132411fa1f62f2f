"""Validating the lines of an import without writing anything.

Lookups are set-based: users, resources, entitlements, roles, accounts, the memberships the
state checks need and the pending duplicates are read once per file (or per batch), never once
per line. The dry run reuses ``request_create``'s own checks (``_check_period``,
``_check_objects``, ``_may_request``, …); only the checks that query the database per request
are answered from those prefetched sets, with the same messages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext

from blazon.errors import DomainError, NotAllowed, ValidationFailed
from blazon.permissions import can
from directory.models import (
    Account,
    AccountType,
    Entitlement,
    EntitlementMembership,
    Management,
    Resource,
    Role,
    RoleMembership,
    User,
)
from requests_workflow.models import PENDING_STATUSES, Request, RequestType, ValidationPolicy
from requests_workflow.services.imports.parse import (
    LOOKUP_CHUNK,
    PAYLOAD_COLUMNS,
    PAYLOAD_PREFIXES,
    SOURCE,
    Line,
)
from requests_workflow.services.requests import (
    _check_state,
    _may_request,
    _spec,
    beneficiary_status_check,
    dedup_key,
    request_shape_check,
)
from requests_workflow.services.validation import (
    active_validation_policies,
    validation_policies_check,
    validation_policies_requester,
)
from requests_workflow.types import SPECS


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    items = list(values)
    for start in range(0, len(items), LOOKUP_CHUNK):
        yield items[start : start + LOOKUP_CHUNK]


@dataclass
class Lookups:
    """Everything the lines refer to, read in a few queries for the whole set of lines."""

    users: dict[str, User] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)
    entitlements: dict[tuple[str, str], Entitlement] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    accounts: dict[tuple[str, str], Account] = field(default_factory=dict)


def _lookups(lines: list[Line]) -> Lookups:
    want: dict[str, set[str]] = {k: set() for k in ("users", "resources", "roles", "ents", "accounts")}
    for ln in lines:
        v = ln.values
        if v.get("beneficiary"):
            want["users"].add(v["beneficiary"])
        if v.get("resource"):
            want["resources"].add(v["resource"])
        if v.get("role"):
            want["roles"].add(v["role"])
        if v.get("entitlement"):
            want["ents"].add(v["entitlement"])
        if v.get("account"):
            want["accounts"].add(v["account"])
    found = Lookups()
    for chunk in _chunks(want["users"]):
        found.users.update(
            (u.username, u)
            for u in User.objects.select_related("organization", "manager").filter(username__in=chunk)
        )
    for chunk in _chunks(want["resources"]):
        found.resources.update((r.code, r) for r in Resource.objects.filter(code__in=chunk))
    for chunk in _chunks(want["roles"]):
        found.roles.update((r.code, r) for r in Role.objects.filter(code__in=chunk))
    codes = list(want["resources"])
    for chunk in _chunks(want["ents"]):
        for ent in Entitlement.objects.select_related("resource").filter(
            identifier__in=chunk, resource__code__in=codes
        ):
            found.entitlements[(ent.resource.code, ent.identifier)] = ent
    for chunk in _chunks(want["accounts"]):
        for acc in Account.objects.select_related("resource", "owner", "responsible").filter(
            identifier__in=chunk, resource__code__in=codes
        ):
            found.accounts[(acc.resource.code, acc.identifier)] = acc
    return found


def _payload(values: dict[str, str], request_type: str) -> tuple[dict[str, Any], list[str]]:
    """The payload from the payload columns; values in columns of another type are refused."""
    payload: dict[str, Any] = {}
    misplaced = []
    for column, value in values.items():
        if not value:
            continue
        prefix, _, name = column.partition(".")
        if name and prefix in PAYLOAD_PREFIXES:
            if request_type not in PAYLOAD_PREFIXES[prefix]:
                misplaced.append(column)
            else:
                payload.setdefault(prefix, {})[name] = value
        elif column in PAYLOAD_COLUMNS:
            if request_type not in PAYLOAD_COLUMNS[column]:
                misplaced.append(column)
            else:
                payload[column] = value
    return payload, misplaced


def _when(value: str, column: str) -> datetime | None:
    if not value:
        return None
    try:
        if len(value) == 10:  # a date: the start of that day in the server's time zone
            return timezone.make_aware(datetime.combine(date.fromisoformat(value), time.min))
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            gettext(
                "%(column)s %(value)r is not a date (YYYY-MM-DD) or a date and time with a time zone (YYYY-MM-DDTHH:MM:SS+00:00)."
            )
            % {"column": column, "value": value},
            fields={column: [gettext("Not a date.")]},
        ) from None


def _arguments(ln: Line, found: Lookups) -> dict[str, Any]:
    """The keyword arguments of ``request_create`` for a line; ``ValidationFailed`` when the
    line names something that does not exist or is of the wrong shape."""
    v = ln.values
    request_type = v.get("type", "").upper()
    if not request_type:
        raise ValidationFailed(gettext("The type is empty."), fields={"type": [gettext("Required.")]})
    spec = _spec(request_type)
    errors: list[str] = []
    payload, misplaced = _payload(v, spec.code)
    if misplaced:
        errors.append(
            f"Column{'s' if len(misplaced) > 1 else ''} {', '.join(misplaced)} are not used by {spec.code}."
        )
    refs: dict[str, Any] = {}
    if v.get("beneficiary"):
        refs["beneficiary"] = found.users.get(v["beneficiary"])
        if refs["beneficiary"] is None:
            errors.append(f"No user with the username {v['beneficiary']!r}.")
    resource_code = v.get("resource", "")
    if resource_code and resource_code not in found.resources:
        errors.append(f"No resource with the code {resource_code!r}.")
    for name, table, label in (
        ("entitlement", found.entitlements, "entitlement"),
        ("account", found.accounts, "account"),
    ):
        if not v.get(name):
            continue
        if not resource_code:
            errors.append(f"Give the resource (its code) of {label} {v[name]!r}.")
        elif resource_code in found.resources:
            refs[name] = table.get((resource_code, v[name]))
            if refs[name] is None:
                errors.append(f"No {label} {v[name]!r} on resource {resource_code!r}.")
    if v.get("role"):
        refs["role"] = found.roles.get(v["role"])
        if refs["role"] is None:
            errors.append(f"No role with the code {v['role']!r}.")
    if resource_code in found.resources and "resource" in spec.requires:
        refs["resource"] = found.resources[resource_code]
    try:
        start_at, end_at = _when(v.get("start_at", ""), "start_at"), _when(v.get("end_at", ""), "end_at")
    except ValidationFailed as exc:
        errors.append(exc.message)
        start_at = end_at = None
    if errors:
        raise ValidationFailed(" ".join(errors))
    return {
        "request_type": spec.code,
        "payload": payload,
        "justification": v.get("justification", ""),
        "start_at": start_at,
        "end_at": end_at,
        **refs,
    }


# --- validation without writing -------------------------------------------------------------------


@dataclass
class StateSets:
    """The directory facts ``_check_state`` and the duplicate rule read per request, prefetched
    for a set of lines."""

    regular_accounts: set[tuple[int, int]] = field(default_factory=set)  # (owner, resource)
    manual_grants: set[tuple[int, int]] = field(default_factory=set)  # (owner, entitlement)
    memberships: dict[tuple[int, int], tuple[str, bool]] = field(default_factory=dict)
    role_members: set[tuple[int, int]] = field(default_factory=set)  # (user, role)
    pending_keys: set[str] = field(default_factory=set)


def _state_sets(prepared: list[tuple[Line, dict[str, Any]]], actor: User | None) -> StateSets:
    users = {a["beneficiary"].pk for _, a in prepared if a.get("beneficiary")}
    users |= {
        acc.owner_id or acc.responsible_id
        for _, a in prepared
        if (acc := a.get("account")) is not None and (acc.owner_id or acc.responsible_id)
    }
    accounts = {a["account"].pk for _, a in prepared if a.get("account")}
    sets = StateSets()
    for chunk in _chunks(users):
        sets.regular_accounts.update(
            Account.objects.filter(owner_id__in=chunk, account_type=AccountType.REGULAR).values_list(
                "owner_id", "resource_id"
            )
        )
        sets.manual_grants.update(
            EntitlementMembership.objects.filter(account__owner_id__in=chunk, manual=True).values_list(
                "account__owner_id", "entitlement_id"
            )
        )
        sets.role_members.update(
            RoleMembership.objects.filter(user_id__in=chunk).values_list("user_id", "role_id")
        )
    for chunk in _chunks(accounts):
        for account_id, ent_id, management, manual in EntitlementMembership.objects.filter(
            account_id__in=chunk
        ).values_list("account_id", "entitlement_id", "management", "manual"):
            sets.memberships[(account_id, ent_id)] = (management, manual)
    return sets


def _validate(
    args: dict[str, Any], actor: User | None, sets: StateSets, policies: list[ValidationPolicy]
) -> tuple[str | None, User | None]:
    """``request_create``'s stage-1/2 checks for one line, without writing and without a query:
    raises the error ``request_create`` would raise; returns the duplicate key and beneficiary."""
    spec = _spec(args["request_type"])
    payload, justification = args["payload"], (args["justification"] or "").strip()
    refs = {n: args.get(n) for n in ("resource", "account", "entitlement", "role")}
    beneficiary: User | None = args.get("beneficiary")
    errors: dict[str, list[str]] = {}
    beneficiary = request_shape_check(
        spec,
        source=SOURCE,
        payload=payload,
        justification=justification,
        refs=refs,
        beneficiary=beneficiary,
        start_at=args["start_at"],
        end_at=args["end_at"],
        errors=errors,
    )
    if beneficiary is not None and beneficiary_status_check(spec, beneficiary, errors) and not errors:
        _state_from_sets(spec.code, refs, beneficiary, sets, errors)
    validation_policies_check(
        policies,
        spec=spec,
        source=SOURCE,
        refs=refs,
        beneficiary=beneficiary,
        payload=payload,
        justification=justification,
        start_at=args["start_at"],
        end_at=args["end_at"],
        errors=errors,
    )
    if errors:
        detail = " ".join(msg for msgs in errors.values() for msg in msgs)
        raise ValidationFailed(
            gettext("The request cannot be created: %(detail)s") % {"detail": detail}, fields=errors
        )
    if not _may_request(actor, source=SOURCE, spec=spec, beneficiary=beneficiary, payload=payload):
        raise NotAllowed(
            gettext("%(value)s may not request %(code)s by import.")
            % {"value": getattr(actor, "username", "The system"), "code": spec.code}
        )
    refusal = validation_policies_requester(
        policies, actor=actor, spec=spec, source=SOURCE, refs=refs, beneficiary=beneficiary, payload=payload
    )
    if refusal:
        raise NotAllowed(refusal)
    return dedup_key(spec.code, beneficiary, refs, payload), beneficiary


def _state_from_sets(
    code: str, refs: dict[str, Any], beneficiary: User, sets: StateSets, errors: dict[str, list[str]]
) -> None:
    """``_check_state`` with its per-request queries answered from the prefetched sets."""
    account, entitlement, role, resource = (
        refs["account"],
        refs["entitlement"],
        refs["role"],
        refs["resource"],
    )
    if code == RequestType.CREATE_ACCOUNT and resource is not None:
        if (beneficiary.pk, resource.pk) in sets.regular_accounts:
            errors["resource"] = [
                gettext("%(username)s already has an account on %(name)s.")
                % {"username": beneficiary.username, "name": resource.name}
            ]
    elif code == RequestType.GRANT_ENTITLEMENT and entitlement is not None:
        if (beneficiary.pk, entitlement.pk) in sets.manual_grants:
            errors["entitlement"] = [
                gettext("%(username)s already holds %(name)s.")
                % {"username": beneficiary.username, "name": entitlement.name}
            ]
    elif code == RequestType.REVOKE_ENTITLEMENT and account and entitlement:
        membership = sets.memberships.get((account.pk, entitlement.pk))
        if membership is None:
            errors["entitlement"] = [
                gettext("Account %(account)s does not hold %(name)s.")
                % {"account": account, "name": entitlement.name}
            ]
        elif membership[0] == Management.ROLE and not membership[1]:
            errors["entitlement"] = [
                gettext("%(name)s is kept by a role on %(account)s: the role decides.")
                % {"name": entitlement.name, "account": account}
            ]
    elif code == RequestType.GRANT_ROLE and role is not None:
        if (beneficiary.pk, role.pk) in sets.role_members:
            errors["role"] = [
                gettext("%(username)s already has the role %(name)s.")
                % {"username": beneficiary.username, "name": role.name}
            ]
    elif code == RequestType.REVOKE_ROLE and role is not None:
        if (beneficiary.pk, role.pk) not in sets.role_members:
            errors["role"] = [
                gettext("%(username)s does not have the role %(name)s.")
                % {"username": beneficiary.username, "name": role.name}
            ]
    else:  # the other types' state checks read only the beneficiary and account rows
        _check_state(SPECS[code], refs, beneficiary, SOURCE, errors)


@dataclass
class Accepted:
    """A line that passed: its ``request_create`` arguments, duplicate key and beneficiary."""

    line: Line
    args: dict[str, Any]
    key: str | None
    beneficiary: User | None


def _validate_lines(lines: list[Line], actor: User | None) -> tuple[list[dict[str, Any]], list[Accepted]]:
    """Validate every line: (refused lines with the reason, accepted lines with their
    ``request_create`` arguments). A constant number of queries, whatever the line count."""
    refused: list[dict[str, Any]] = []
    prepared: list[tuple[Line, dict[str, Any]]] = []
    found = _lookups([ln for ln in lines if not ln.error])
    for ln in lines:
        if ln.error:
            refused.append({"line": ln.number, "error": ln.error})
            continue
        try:
            prepared.append((ln, _arguments(ln, found)))
        except DomainError as exc:
            refused.append({"line": ln.number, "error": exc.message})
    sets = _state_sets(prepared, actor)
    policies = active_validation_policies()
    keys: dict[str, int] = {}
    checked: list[Accepted] = []
    for ln, args in prepared:
        try:
            key, beneficiary = _validate(args, actor, sets, policies)
        except DomainError as exc:
            refused.append({"line": ln.number, "error": exc.message})
            continue
        if key and key in keys:
            refused.append(
                {
                    "line": ln.number,
                    "error": f"Same request as line {keys[key]} (same type, beneficiary and object).",
                }
            )
            continue
        if key:
            keys[key] = ln.number
        checked.append(Accepted(ln, args, key, beneficiary))
    pending: set[str | None] = set()
    for chunk in _chunks(keys):
        pending.update(
            Request.objects.filter(dedup_key__in=chunk, status__in=PENDING_STATUSES).values_list(
                "dedup_key", flat=True
            )
        )
    accepted = []
    for item in checked:
        if item.key in pending:
            kind = item.args["request_type"]
            refused.append(
                {
                    "line": item.line.number,
                    "error": f"A {kind} request for the same beneficiary and object is already pending.",
                }
            )
        else:
            accepted.append(item)
    refused.sort(key=lambda r: r["line"])
    return refused, accepted


def _require_importer(actor: User | None) -> None:
    if actor is None or not can(actor, "manage_users"):
        raise NotAllowed(
            gettext("Importing requests needs the manage_users capability (administrators, helpdesk).")
        )
