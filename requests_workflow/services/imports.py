"""CSV import of requests (issue #3, section 8; seed 002: "Usuário cria requisições em lote por
meio do Import").

Three steps, each a service:

* ``import_dry_run`` reads the file (UTF-8 with or without BOM, a header line), validates every
  line with the rules of ``request_create`` and writes nothing but the ``ImportJob`` with the
  refused lines and their reasons;
* ``import_run`` chooses the mode (best effort or all or nothing) and enqueues the run;
* ``import_execute`` (the Celery task) creates the requests through ``request_create`` in
  batches, one transaction per batch, recording each line's outcome in ``ImportRow`` with the
  batch. All or nothing validates every line again first and creates everything in one
  transaction, so one refused line leaves nothing behind.

Lookups are set-based: users, resources, entitlements, roles, accounts, the memberships the
state checks need and the pending duplicates are read once per file (or per batch), never once
per line. The dry run reuses ``request_create``'s own checks (``_check_period``,
``_check_objects``, ``_may_request``, …); only the checks that query the database per request
are answered from those prefetched sets, with the same messages.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from blazon.audit.services import AuditEntry, audit_record, audit_record_many
from blazon.errors import DomainError, NotAllowed, TransitionNotAllowed, ValidationFailed
from blazon.permissions import can
from blazon.tasks import enqueue_on_commit
from directory.models import (
    Account,
    AccountType,
    Entitlement,
    EntitlementMembership,
    Management,
    Resource,
    Role,
    RoleMembership,
    Source,
    User,
    UserStatus,
)
from requests_workflow.models import (
    PENDING_STATUSES,
    ImportJob,
    ImportMode,
    ImportRow,
    ImportRowStatus,
    ImportStatus,
    Request,
    RequestEvent,
    RequestStatus,
    RequestType,
    ValidationPolicy,
)
from requests_workflow.services.requests import (
    _check_objects,
    _check_period,
    _check_state,
    _may_request,
    _secret_keys,
    _spec,
    dedup_key,
    justification_required,
    request_create,
)
from requests_workflow.services.validation import (
    active_validation_policies,
    validation_policies_check,
    validation_policies_requester,
)
from requests_workflow.types import SPECS

SOURCE = Source.IMPORT
MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
BATCH = 500
LOOKUP_CHUNK = 5_000

#: The columns every file may have; ``type`` is the only one every file must have.
BASE_COLUMNS = (
    "type",
    "beneficiary",
    "resource",
    "entitlement",
    "role",
    "account",
    "justification",
    "start_at",
    "end_at",
)
#: Payload columns: ``user.<field>`` (CREATE_USER), ``changes.<field>`` (UPDATE_USER),
#: ``attributes.<name>`` (UPDATE_ACCOUNT, CREATE_ACCOUNT) and ``identifier`` (CREATE_ACCOUNT).
PAYLOAD_PREFIXES = {
    "user": (RequestType.CREATE_USER,),
    "changes": (RequestType.UPDATE_USER,),
    "attributes": (RequestType.UPDATE_ACCOUNT, RequestType.CREATE_ACCOUNT),
}
PAYLOAD_COLUMNS = {"identifier": (RequestType.CREATE_ACCOUNT,)}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def importable_types() -> list[str]:
    """The type codes whose requests may come from an import, in the order of ``RequestType``."""
    return [code for code in RequestType.values if SOURCE in SPECS[code].sources]


# --- parsing ----------------------------------------------------------------------------------


@dataclass
class Line:
    """One data line of the file: its number and its values by column."""

    number: int
    values: dict[str, str]
    error: str = ""


@dataclass
class ParsedFile:
    columns: list[str]
    lines: list[Line]

    @property
    def types(self) -> list[str]:
        return sorted({ln.values.get("type", "") for ln in self.lines if ln.values.get("type")})


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationFailed(
            f"The file is not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} is not valid UTF-8. "
            "Save it as 'CSV UTF-8' (Excel, LibreOffice: character set Unicode UTF-8) and upload it again. "
            "Nothing was imported.",
            fields={"file": ["Not UTF-8."]},
            code="bad_encoding",
        ) from None
    if "\x00" in text:
        raise ValidationFailed(
            "The file contains NUL characters: it is not a CSV text file (UTF-16 or a spreadsheet?). "
            "Save it as 'CSV UTF-8' and upload it again. Nothing was imported.",
            fields={"file": ["Not a CSV text file."]},
            code="bad_encoding",
        )
    return text


def _column_error(message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{message} Nothing was imported.", fields={"file": [message]}, code="bad_columns"
    )


def _check_columns(columns: list[str]) -> None:
    if not any(columns):
        raise _column_error("The first line must be the header (the column names); it is empty.")
    unknown = [
        c
        for c in columns
        if c not in BASE_COLUMNS
        and c not in PAYLOAD_COLUMNS
        and not (c.partition(".")[0] in PAYLOAD_PREFIXES and c.partition(".")[2])
    ]
    if unknown:
        raise _column_error(
            f"Unknown column{'s' if len(unknown) > 1 else ''} {', '.join(repr(c) for c in unknown)} in the header. "
            f"Columns: {', '.join(BASE_COLUMNS)}, identifier, and user.<field>, changes.<field>, "
            "attributes.<name> for the payload (see docs/import.md)."
        )
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise _column_error(f"Column{'s' if len(repeated) > 1 else ''} {', '.join(repeated)} appear twice.")
    if "type" not in columns:
        raise _column_error("The header has no 'type' column; every line needs its request type.")


def import_parse(data: bytes) -> ParsedFile:
    """Decode and split the file; a file-level problem (encoding, header) raises
    ``ValidationFailed``, a line-level one (wrong number of values) is kept on the line."""
    if not data.strip(b"\xef\xbb\xbf \r\n\t"):
        raise ValidationFailed(
            "The file is empty: it needs a header line and at least one request.",
            fields={"file": ["Empty file."]},
            code="empty_file",
        )
    if len(data) > MAX_BYTES:
        raise ValidationFailed(
            f"The file is larger than {MAX_BYTES // 2**20} MiB; split it.", fields={"file": ["Too large."]}
        )
    text = _decode(data)
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, [])
        columns = [c.strip().lower() for c in header]
        _check_columns(columns)
        lines: list[Line] = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # blank line
            number = reader.line_num
            if len(lines) >= MAX_ROWS:
                raise ValidationFailed(
                    f"The file has more than {MAX_ROWS:,} requests; split it.",
                    fields={"file": ["Too many lines."]},
                )
            if len(values) != len(columns):
                lines.append(
                    Line(
                        number,
                        {},
                        f"{len(values)} value{'s' if len(values) != 1 else ''} where the header has "
                        f"{len(columns)} columns.",
                    )
                )
                continue
            lines.append(Line(number, {c: v.strip() for c, v in zip(columns, values, strict=True)}))
    except csv.Error as exc:
        raise ValidationFailed(
            f"The file is not valid CSV on line {reader.line_num}: {exc}. Nothing was imported.",
            fields={"file": [str(exc)]},
            code="bad_csv",
        ) from None
    if not lines:
        raise ValidationFailed(
            "The file has a header but no requests.", fields={"file": ["No lines."]}, code="empty_file"
        )
    return ParsedFile(columns, lines)


# --- set-based lookups --------------------------------------------------------------------------


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
    want: dict[str, set] = {k: set() for k in ("users", "resources", "roles", "ents", "accounts")}
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
            f"{column} {value!r} is not a date (YYYY-MM-DD) or a date and time with a time zone "
            "(YYYY-MM-DDTHH:MM:SS+00:00).",
            fields={column: ["Not a date."]},
        ) from None


def _arguments(ln: Line, found: Lookups) -> dict[str, Any]:
    """The keyword arguments of ``request_create`` for a line; ``ValidationFailed`` when the
    line names something that does not exist or is of the wrong shape."""
    v = ln.values
    request_type = v.get("type", "").upper()
    if not request_type:
        raise ValidationFailed("The type is empty.", fields={"type": ["Required."]})
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
    if SOURCE not in spec.sources:
        errors["source"] = [
            f"{spec.code} requests cannot come from {SOURCE}; allowed: {', '.join(sorted(spec.sources))}."
        ]
    secret_keys = _secret_keys(payload)
    if secret_keys:
        errors["payload"] = [f"A request never carries secrets; remove {', '.join(secret_keys)}."]
    for key in spec.payload_requires:
        if not isinstance(payload.get(key), dict) or not payload.get(key):
            errors[f"payload.{key}"] = [f"{spec.code} needs {key!r} (an object with the values)."]
    if spec.code == RequestType.CREATE_USER and isinstance(payload.get("user"), dict):
        for name in ("first_name", "last_name"):
            if not str(payload["user"].get(name) or "").strip():
                errors[f"payload.user.{name}"] = ["Required."]
        if beneficiary is not None:
            errors["beneficiary"] = [
                "A new user request has no beneficiary yet: the user is created at the end."
            ]
    if justification_required(spec.code) and not justification:
        errors["justification"] = [f"{spec.code} requests need a justification."]
    _check_period(spec, args["start_at"], args["end_at"], errors)
    beneficiary = _check_objects(spec, refs, beneficiary, errors)
    if spec.code != RequestType.CREATE_USER and beneficiary is None and "beneficiary" not in errors:
        errors["beneficiary"] = [f"{spec.code} requests need a beneficiary."]
    if beneficiary is not None:
        if beneficiary.status == UserStatus.REMOVED:
            errors["beneficiary"] = [f"{beneficiary.username} is REMOVED: no request can be made for them."]
        elif spec.beneficiary_statuses and beneficiary.status not in spec.beneficiary_statuses:
            allowed = ", ".join(sorted(spec.beneficiary_statuses))
            errors["beneficiary"] = [
                f"{beneficiary.username} is {beneficiary.status}; {spec.code} needs {allowed}."
            ]
        elif not errors:
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
        raise ValidationFailed(f"The request cannot be created: {detail}", fields=errors)
    if not _may_request(actor, source=SOURCE, spec=spec, beneficiary=beneficiary, payload=payload):
        raise NotAllowed(f"{getattr(actor, 'username', 'The system')} may not request {spec.code} by import.")
    refusal = validation_policies_requester(
        policies, actor=actor, spec=spec, source=SOURCE, refs=refs, beneficiary=beneficiary, payload=payload
    )
    if refusal:
        raise NotAllowed(refusal)
    return dedup_key(spec.code, beneficiary, refs, payload), beneficiary


def _state_from_sets(
    code: str, refs: dict[str, Any], beneficiary: User, sets: StateSets, errors: dict
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
            errors["resource"] = [f"{beneficiary.username} already has an account on {resource.name}."]
    elif code == RequestType.GRANT_ENTITLEMENT and entitlement is not None:
        if (beneficiary.pk, entitlement.pk) in sets.manual_grants:
            errors["entitlement"] = [f"{beneficiary.username} already holds {entitlement.name}."]
    elif code == RequestType.REVOKE_ENTITLEMENT and account and entitlement:
        membership = sets.memberships.get((account.pk, entitlement.pk))
        if membership is None:
            errors["entitlement"] = [f"Account {account} does not hold {entitlement.name}."]
        elif membership[0] == Management.ROLE and not membership[1]:
            errors["entitlement"] = [f"{entitlement.name} is kept by a role on {account}: the role decides."]
    elif code == RequestType.GRANT_ROLE and role is not None:
        if (beneficiary.pk, role.pk) in sets.role_members:
            errors["role"] = [f"{beneficiary.username} already has the role {role.name}."]
    elif code == RequestType.REVOKE_ROLE and role is not None:
        if (beneficiary.pk, role.pk) not in sets.role_members:
            errors["role"] = [f"{beneficiary.username} does not have the role {role.name}."]
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
    pending: set[str] = set()
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
        raise NotAllowed("Importing requests needs the manage_users capability (administrators, helpdesk).")


# --- the services -------------------------------------------------------------------------------


def import_dry_run(*, actor: User, file: Any, file_name: str = "") -> ImportJob:
    """Read and validate an uploaded CSV of requests; writes only the job (status VALIDATED)
    with every refused line and its reason. A file that cannot be read at all (encoding, header,
    empty) raises ``ValidationFailed`` and writes nothing."""
    _require_importer(actor)
    if not isinstance(file, bytes) and (getattr(file, "size", 0) or 0) > MAX_BYTES:
        raise ValidationFailed(
            f"The file is larger than {MAX_BYTES // 2**20} MiB; split it.", fields={"file": ["Too large."]}
        )
    data = file if isinstance(file, bytes) else file.read()
    name = (file_name or getattr(file, "name", "") or "import.csv")[:255]
    parsed = import_parse(data)
    refused, accepted = _validate_lines(parsed.lines, actor)
    with transaction.atomic():
        job = ImportJob.objects.create(
            file_name=name,
            content=_decode(data),
            types=parsed.types,
            row_count=len(parsed.lines),
            ok_count=len(accepted),
            error_count=len(refused),
            dry_run_errors=refused,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action="import.validated",
            obj=job,
            new={"file": name, "rows": job.row_count, "valid": job.ok_count, "refused": job.error_count},
            source=SOURCE,
        )
    return job


@transaction.atomic
def import_run(*, actor: User, job: ImportJob, mode: str) -> ImportJob:
    """Start the run of a validated import in ``mode``; the requests are created by a Celery
    task once this commits."""
    _require_importer(actor)
    if mode not in ImportMode.values:
        raise ValidationFailed(
            f"Unknown mode {mode!r}.", fields={"mode": [f"One of {', '.join(ImportMode.values)}."]}
        )
    locked = ImportJob.objects.select_for_update().get(pk=job.pk)
    if locked.status != ImportStatus.VALIDATED:
        raise TransitionNotAllowed(
            f"Import #{locked.pk} is {locked.status}: it has already been run.",
            fields={"status": [f"{locked.status} cannot run."]},
        )
    locked.mode, locked.status, locked.run_by = mode, ImportStatus.RUNNING, actor
    locked.ok_count = locked.error_count = locked.processed = 0
    locked.save(
        update_fields=["mode", "status", "run_by", "ok_count", "error_count", "processed", "updated_at"]
    )
    audit_record(actor=actor, action="import.started", obj=locked, new={"mode": mode}, source=SOURCE)
    from requests_workflow.tasks import run_import

    enqueue_on_commit(run_import, locked.pk)
    job.refresh_from_db()
    return locked


def import_execute(*, job_id: int) -> ImportJob:
    """Create the requests of a RUNNING import (what the task calls). Safe to run twice: lines
    already recorded are skipped, a finished job is left alone."""
    job = ImportJob.objects.select_related("run_by").get(pk=job_id)
    if job.status != ImportStatus.RUNNING:
        return job
    if job.started_at is None:
        ImportJob.objects.filter(pk=job.pk).update(started_at=timezone.now())
    parsed = import_parse(job.content.encode("utf-8"))
    actor = job.run_by
    done = set(ImportRow.objects.filter(job=job).values_list("line", flat=True))
    lines = [ln for ln in parsed.lines if ln.number not in done]
    if job.mode == ImportMode.ALL_OR_NOTHING:
        _run_all_or_nothing(job, lines, actor)
    else:
        for start in range(0, len(lines), BATCH):
            _run_batch(job, lines[start : start + BATCH], actor)
    return _finish(job)


def _create(ln: Line, args: dict[str, Any], actor: User | None) -> ImportRow:
    try:
        req = request_create(actor=actor, source=SOURCE, **args)
    except DomainError as exc:
        return ImportRow(line=ln.number, status=ImportRowStatus.ERROR, error=exc.message)
    return ImportRow(line=ln.number, status=ImportRowStatus.CREATED, request=req)


def _lock_beneficiaries(lines: list[Line]) -> None:
    """Lock the batch's beneficiaries before validating, as ``request_create`` does for one
    request, so a concurrent request for the same user waits instead of racing the checks."""
    names = sorted({ln.values["beneficiary"] for ln in lines if ln.values.get("beneficiary")})
    for chunk in _chunks(names):
        list(User.objects.select_for_update().filter(username__in=chunk).order_by("pk").values_list("pk"))


def _create_many(accepted: list[Accepted], actor: User | None) -> list[ImportRow]:
    """``request_create`` for lines ``_validate_lines`` accepted in this transaction, set-based:
    the requests, their two timeline events and their audit events in a few statements, and the
    batch's processing (stages 3-5, set-based: ``services.bulk``) enqueued on commit as one
    task per ``BATCH`` requests. Falls back to one ``request_create`` per line when a concurrent
    request took one of the objects (the unique pending-request constraint)."""
    from requests_workflow.tasks import process_requests_batch

    if not accepted:
        return []
    built = []
    for item in accepted:
        ln, args = item.line, item.args
        refs = {n: args.get(n) for n in ("resource", "account", "entitlement", "role")}
        req = Request(
            type=args["request_type"],
            requester=actor,
            beneficiary=item.beneficiary,
            source=SOURCE,
            payload=args["payload"],
            justification=(args["justification"] or "").strip(),
            start_at=args["start_at"],
            end_at=args["end_at"],
            dedup_key=item.key,
            stage=2,
            **refs,
        )
        built.append((ln, req, refs))
    try:
        with transaction.atomic():
            Request.objects.bulk_create([req for _, req, _ in built], batch_size=BATCH)
    except IntegrityError:
        return [_create(item.line, item.args, actor) for item in accepted]
    actor_ref = actor if getattr(actor, "pk", None) else None
    events = []
    for _, req, _ in built:
        events.append(
            RequestEvent(
                request=req,
                stage=1,
                to_status=RequestStatus.NEW,
                actor=actor_ref,
                message=f"Created from {SOURCE}.",
            )
        )
        events.append(
            RequestEvent(request=req, stage=2, actor=actor_ref, message="Validation policies passed.")
        )
    RequestEvent.objects.bulk_create(events, batch_size=2 * BATCH)
    audit_record_many(
        (
            AuditEntry(
                action="request.created",
                object_type=Request._meta.label,
                object_id=req.pk,
                object_repr=str(req),
                new={
                    "type": req.type,
                    "beneficiary": req.beneficiary.username if req.beneficiary else None,
                    **{name: str(obj) for name, obj in refs.items() if obj is not None},
                    "payload": req.payload,
                    "justification": req.justification,
                    "start_at": req.start_at,
                    "end_at": req.end_at,
                },
                subject_user_id=req.beneficiary_id,
            )
            for _, req, refs in built
        ),
        actor=actor,
        source=SOURCE,
    )
    ids = [req.pk for _, req, _ in built]
    for start in range(0, len(ids), BATCH):  # all or nothing: one task per BATCH requests
        enqueue_on_commit(process_requests_batch, ids[start : start + BATCH])
    return [ImportRow(line=ln.number, status=ImportRowStatus.CREATED, request=req) for ln, req, _ in built]


def _run_batch(job: ImportJob, lines: list[Line], actor: User | None) -> None:
    """One transaction: the batch's requests, its rows, the progress."""
    with transaction.atomic():
        _lock_beneficiaries(lines)
        refused, accepted = _validate_lines(lines, actor)
        rows = [ImportRow(line=r["line"], status=ImportRowStatus.ERROR, error=r["error"]) for r in refused]
        rows += _create_many(accepted, actor)
        for row in rows:
            row.job = job
        ImportRow.objects.bulk_create(rows)
        created = sum(r.status == ImportRowStatus.CREATED for r in rows)
        _progress(job, len(rows), created, len(rows) - created)


def _progress(job: ImportJob, processed: int, ok: int, errors: int) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        processed=F("processed") + processed,
        ok_count=F("ok_count") + ok,
        error_count=F("error_count") + errors,
        updated_at=timezone.now(),
    )


class _RollBack(Exception):
    pass


def _run_all_or_nothing(job: ImportJob, lines: list[Line], actor: User | None) -> None:
    """Validate every line again (the directory may have changed since the dry run); create
    everything in one transaction only when every line passes."""
    refused: list[dict[str, Any]] = []
    try:
        with transaction.atomic():
            _lock_beneficiaries(lines)
            refused, accepted = _validate_lines(lines, actor)
            if refused:
                raise _RollBack
            rows = _create_many(accepted, actor)
            refused = [{"line": r.line, "error": r.error} for r in rows if r.status == ImportRowStatus.ERROR]
            if refused:
                raise _RollBack  # a concurrent request took an object: undo every request
            for row in rows:
                row.job = job
            ImportRow.objects.bulk_create(rows)
            _progress(job, len(rows), len(rows), 0)
            return
    except _RollBack:
        pass
    bad = {r["line"]: r["error"] for r in refused}
    rows = [
        ImportRow(job=job, line=ln.number, status=ImportRowStatus.ERROR, error=bad[ln.number])
        if ln.number in bad
        else ImportRow(job=job, line=ln.number, status=ImportRowStatus.NOT_CREATED)
        for ln in lines
    ]
    with transaction.atomic():
        ImportRow.objects.bulk_create(rows)
        ImportJob.objects.filter(pk=job.pk).update(
            processed=len(rows),
            ok_count=0,
            error_count=len(bad),
            failure_reason=(
                f"{len(bad)} line{'s' if len(bad) != 1 else ''} refused; all or nothing: no request was created."
            ),
        )


@transaction.atomic
def _finish(job: ImportJob) -> ImportJob:
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status != ImportStatus.RUNNING:
        return job
    job.status = ImportStatus.FAILED if job.failure_reason else ImportStatus.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at", "updated_at"])
    audit_record(
        actor=job.run_by,
        action=f"import.{job.status.lower()}",
        obj=job,
        new={
            "mode": job.mode,
            "created": job.ok_count,
            "refused": job.error_count,
            "reason": job.failure_reason,
        },
        source=SOURCE,
    )
    return job


# --- the result file ----------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection): prefix with a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


RESULT_HEADER = ("line", "status", "request_id", "request_status", "error")


def import_result_rows(job: ImportJob) -> Iterator[list[str]]:
    """The result file, line by line: the header, then one line per file line with what the run
    did (the request's current status read live). Streams from the database."""
    yield list(RESULT_HEADER)
    rows = (
        ImportRow.objects.filter(job=job)
        .order_by("line")
        .values_list("line", "status", "request_id", "request__status", "error")
        .iterator(chunk_size=2000)
    )
    for line, status, request_id, request_status, error in rows:
        yield [_cell(line), _cell(status), _cell(request_id or ""), _cell(request_status or ""), _cell(error)]
