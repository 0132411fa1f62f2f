"""Bulk creation of users, the importer's path: every row validated, usernames generated in memory
against one read of the existing ones, and users, accounts, provisioning entries and audit events
written with bulk inserts, chunk by chunk."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from blazon.audit.services import AuditEntry, audit_record_many
from blazon.db import copy_rows
from blazon.errors import ValidationFailed
from directory import ports
from directory.models import (
    Account,
    AccountStatus,
    AccountType,
    AttributeDefinition,
    AttributeScope,
    Management,
    Organization,
    ProvisioningEvent,
    Resource,
    User,
    UsernamePolicy,
    UserStatus,
)
from directory.services.users.attributes import _attributes_clean, _definitions, _is_empty, _summary
from directory.services.users.fields import _Clean, _clean_fields
from directory.services.users.usernames import (
    _exhausted,
    _pattern_candidates,
    _pick,
    _policy_active,
    username_placeholders,
)

BULK_CHUNK = 5000
USER_COLUMNS = ("password", "last_login", "is_superuser", "username", "first_name", "last_name", "email", "is_staff",
                "is_active", "date_joined", "display_name", "organization_id", "manager_id", "job_title",
                "department", "employee_type", "start_date", "end_date", "status", "login_locked",
                "inactive_since", "revoked_at", "removed_at", "status_changed_at", "console_role", "attributes",
                "created_source")  # fmt: skip
ACCOUNT_COLUMNS = ("resource_id", "owner_id", "identifier", "account_type", "status", "management", "manual",
                   "is_temporary", "expires_at", "responsible_id", "attributes", "created_at", "updated_at",
                   "status_changed_at")  # fmt: skip
MAX_REPORTED_ROWS = 100


@dataclass
class _BulkState:
    """What a bulk creation keeps between chunks: a few sets and maps, never the rows."""

    policy: UsernamePolicy
    definitions: list[AttributeDefinition]
    unique_defs: list[AttributeDefinition]
    orgs_by_code: dict[str, int]
    org_ids: set[int]
    taken: set[str]
    created: dict[str, int | None] = field(default_factory=dict)  # username (lower) → pk, this import
    unique_seen: dict[str, set[Any]] = field(default_factory=dict)
    pending_managers: list[tuple[int, str, str]] = field(default_factory=list)  # (row, username, ref)
    errors: dict[str, list[str]] = field(default_factory=dict)
    error_rows: int = 0

    def fail(self, row: int, problems: Mapping[str, list[str]]) -> None:
        self.error_rows += 1
        if len(self.errors) < MAX_REPORTED_ROWS:
            self.errors[f"row {row}"] = [
                f"{k}: {' '.join(v)}" if k != "__all__" else " ".join(v) for k, v in problems.items()
            ]


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for number, row in enumerate(rows, start=1):
        chunk.append((number, row))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _bulk_prepare(
    chunk: list[tuple[int, Any]], state: _BulkState, resources: Sequence[Resource]
) -> list[tuple[int, _Clean, dict]]:
    """Validate one chunk with a fixed number of queries; returns the good rows."""
    cleaned: list[tuple[int, _Clean, dict]] = []
    manager_names: set[str] = set()
    manager_ids: set[int] = set()
    for number, row in chunk:
        c = _clean_fields(row, partial=False)
        if "__all__" not in c.errors:
            if "password" in row:
                c.errors["password"] = ["Passwords cannot be set in a bulk creation."]
            attrs = row.get("attributes") or {}
            if isinstance(attrs, Mapping):
                values, attr_errors = _attributes_clean(state.definitions, attrs)
                c.errors.update(attr_errors)
            else:
                values = {}
            ref = c.organization_ref
            if not _is_empty(ref):
                org_id = ref.pk if isinstance(ref, Organization) else None
                if org_id is None and isinstance(ref, str):
                    org_id = state.orgs_by_code.get(ref.strip())
                    if org_id is None and ref.strip().isdigit():
                        org_id = int(ref.strip())
                elif org_id is None and isinstance(ref, int) and not isinstance(ref, bool):
                    org_id = ref
                if org_id not in state.org_ids:
                    c.errors["organization"] = [f"Unknown organization {ref!r}."]
                c.values["organization"] = org_id
            ref = c.manager_ref
            if isinstance(ref, User):
                c.manager_ref = ref.pk
            elif isinstance(ref, str) and ref.strip():
                c.manager_ref = ref.strip()
                manager_names.add(ref.strip())
                if ref.strip().isdigit():
                    manager_ids.add(int(ref.strip()))
            elif isinstance(ref, int) and not isinstance(ref, bool):
                manager_ids.add(ref)
            elif not _is_empty(ref):
                c.errors["manager"] = [f"Unknown manager {ref!r}."]
        else:
            values = {}
        cleaned.append((number, c, values))

    existing_managers: dict[Any, int] = {}
    if manager_names or manager_ids:
        for pk, username in (
            User.objects.filter(Q(username__in=manager_names) | Q(pk__in=manager_ids))
            .exclude(status=UserStatus.REMOVED)
            .values_list("pk", "username")
        ):
            existing_managers[username] = pk
            existing_managers[pk] = pk
            existing_managers[str(pk)] = existing_managers.get(str(pk), pk)

    # Uniqueness of attributes: inside the import, then one query per unique attribute.
    clashes: dict[str, set[Any]] = {}
    for defn in state.unique_defs:
        chunk_values = [v[defn.name] for _, c, v in cleaned if defn.name in v]
        if chunk_values:
            clashes[defn.name] = set(
                User.objects.filter(**{f"attributes__{defn.name}__in": chunk_values}).values_list(
                    f"attributes__{defn.name}", flat=True
                )
            )

    good: list[tuple[int, _Clean, dict]] = []
    for number, c, values in cleaned:
        for defn in state.unique_defs:
            if defn.name not in values:
                continue
            value = values[defn.name]
            seen = state.unique_seen.setdefault(defn.name, set())
            if value in clashes.get(defn.name, ()):
                c.errors[f"attributes.{defn.name}"] = [f"{value!r} is already used by another user."]
            elif value in seen:
                c.errors[f"attributes.{defn.name}"] = [f"{value!r} appears on an earlier row of this import."]
            else:
                seen.add(value)
        ref = c.manager_ref
        if not _is_empty(ref) and "manager" not in c.errors:
            if ref in existing_managers:
                c.values["manager"] = existing_managers[ref]
                c.manager_ref = None
            # else: perhaps a user of this import; resolved once every row is in.
        if not c.errors:
            username = c.values.get("username")
            if username:
                if username.lower() in state.taken:
                    c.errors["username"] = [f"The username {username!r} is already taken."]
            else:
                values_ = username_placeholders(
                    first_name=c.values["first_name"],
                    last_name=c.values["last_name"],
                    middle_name=c.values.get("middle_name", ""),
                )
                patterns = _pattern_candidates(state.policy, values_)
                username = _pick(state.policy, patterns, state.taken.__contains__)
                if username is None:
                    c.errors["username"] = _exhausted(
                        c.values["first_name"], c.values["last_name"], state.policy, patterns
                    ).fields["username"]
            if not c.errors:
                state.taken.add(username.lower())
                state.created[username.lower()] = None
                c.values["username"] = username
                if not _is_empty(c.manager_ref):
                    state.pending_managers.append((number, username.lower(), str(c.manager_ref)))
        if c.errors:
            state.fail(number, c.errors)
        else:
            good.append((number, c, values))

    # Regular accounts: their identifier (the username) must be free on each resource.
    if good and resources:
        names = [c.values["username"] for _, c, _ in good]
        for resource in resources:
            used = set(
                Account.objects.filter(resource=resource, identifier__in=names).values_list(
                    "identifier", flat=True
                )
            )
            if used:
                for number, c, _ in good:
                    if c.values["username"] in used:
                        state.fail(
                            number,
                            {
                                "username": [
                                    f"An account {c.values['username']!r} already exists on {resource.name}."
                                ]
                            },
                        )
                good = [g for g in good if g[1].values["username"] not in used]
    return good


def _bulk_write(
    good: list[tuple[int, _Clean, dict]],
    state: _BulkState,
    *,
    actor: User | None,
    source: str,
    resources: Sequence[Resource],
    password: str,
) -> None:
    """Insert one validated chunk: users, their accounts, provisioning entries and audit
    events, streamed with ``copy_rows`` (COPY on PostgreSQL) and ids read back in one query."""
    now = timezone.now()
    user_rows = []
    for _, c, attrs in good:
        v = c.values
        user_rows.append(
            (
                password, None, False, v["username"], v["first_name"], v["last_name"], v.get("email", ""),
                False, True, now, v.get("display_name") or f"{v['first_name']} {v['last_name']}",
                v.get("organization"), v.get("manager"), v.get("job_title", ""), v.get("department", ""),
                v.get("employee_type", ""), v.get("start_date"), v.get("end_date"), UserStatus.ACTIVE, False,
                None, None, None, now, "", json.dumps(attrs), source,
            )
        )  # fmt: skip
    copy_rows(User._meta.db_table, USER_COLUMNS, user_rows)
    names = [row[3] for row in user_rows]
    ids = dict(User.objects.filter(username__in=names).values_list("username", "pk"))
    for name in names:
        state.created[name.lower()] = ids[name]

    accounts: dict[int, list[tuple[int, int]]] = {}  # resource → [(account id, owner id)]
    for resource in resources:
        copy_rows(
            Account._meta.db_table,
            ACCOUNT_COLUMNS,
            (
                (resource.pk, ids[name], name, AccountType.REGULAR, AccountStatus.ACTIVE, Management.MANUAL,
                 True, False, None, None, "{}", now, now, now)
                for name in names
            ),
        )  # fmt: skip
        accounts[resource.pk] = list(
            Account.objects.filter(
                resource=resource, owner_id__in=ids.values(), account_type=AccountType.REGULAR
            )
            .order_by()
            .values_list("pk", "owner_id")
        )
        ports.provisioning().entries_write_many(
            resource=resource,
            event_type=ProvisioningEvent.CREATE_ACCOUNT,
            rows=(
                {"account_id": a, "user_id": o, "payload": {"reason": source}}
                for a, o in accounts[resource.pk]
            ),
        )
    account_of = {(r, o): a for r, pairs in accounts.items() for a, o in pairs}

    def entries() -> Iterator[AuditEntry]:
        for (_, c, attrs), row in zip(good, user_rows, strict=True):
            v, pk = c.values, ids[row[3]]
            yield AuditEntry(
                "user.created",
                "directory.User",
                pk,
                object_repr=row[10],
                subject_user_id=pk,
                new={
                    "username": row[3],
                    "first_name": v["first_name"],
                    "last_name": v["last_name"],
                    "email": row[6],
                    "organization": v.get("organization"),
                    "manager": v.get("manager"),
                    "department": row[14],
                    "job_title": row[13],
                    "attributes": attrs,
                    "status": UserStatus.ACTIVE,
                    "accounts": {r.code: account_of[(r.pk, pk)] for r in resources},
                },
            )

    audit_record_many(entries(), actor=actor, source=source)


def _bulk_link_managers(state: _BulkState) -> None:
    """Managers that are themselves users of this import (any row, earlier or later)."""
    updates: list[User] = []
    for number, username, ref in state.pending_managers:
        if ref.lower() not in state.created:
            message = f"Unknown manager {ref!r} (neither an existing user nor a row of this import)."
            state.fail(number, {"manager": [message]})
        elif ref.lower() == username:
            state.fail(number, {"manager": ["A user cannot be their own manager."]})
        elif not state.errors:
            updates.append(User(pk=state.created[username], manager_id=state.created[ref.lower()]))
    if updates and not state.errors:
        User.objects.bulk_update(updates, ["manager"], batch_size=BULK_CHUNK)


@transaction.atomic
def users_bulk_create(
    *,
    actor: User | None,
    source: str,
    rows: Iterable[dict],
    accounts_per_user: list[Resource] | None = None,
    password_hash: str | None = None,
) -> int:
    """Create many users (an import): every row is validated — with its row number (1 = first
    row) in the error — and any bad row leaves nothing written. Each user gets one REGULAR
    account (identifier = username) on each resource of ``accounts_per_user``, with a
    CREATE_ACCOUNT provisioning entry where the resource provisions it. Rows take the fields of
    ``user_create`` except ``password``: users get no usable password unless ``password_hash``
    (an already hashed value, e.g. from ``make_password``) is given for all of them.
    Works in chunks with a fixed number of queries per chunk; returns the number created."""
    resources = list(accounts_per_user or [])
    definitions = _definitions(AttributeScope.USER, None)
    orgs = list(Organization.objects.values_list("pk", "code"))
    state = _BulkState(
        policy=_policy_active(),
        definitions=definitions,
        unique_defs=[d for d in definitions if d.unique],
        orgs_by_code={code: pk for pk, code in orgs},
        org_ids={pk for pk, _ in orgs},
        taken=set(
            User.objects.annotate(lname=Lower("username"))
            .values_list("lname", flat=True)
            .iterator(chunk_size=20000)
        ),
    )
    password = password_hash or make_password(None)
    count = 0
    for chunk in _chunks(rows, BULK_CHUNK):
        good = _bulk_prepare(chunk, state, resources)
        if state.errors or not good:
            continue  # keep validating to report every bad row; nothing will be kept
        _bulk_write(good, state, actor=actor, source=source, resources=resources, password=password)
        count += len(good)
    _bulk_link_managers(state)
    if state.errors:
        more = state.error_rows - len(state.errors)
        suffix = f" (and {more} more row(s))" if more > 0 else ""
        message = (
            _summary(f"{state.error_rows} row(s) have errors, nothing was created", state.errors) + suffix
        )
        raise ValidationFailed(message, fields=state.errors)
    return count
