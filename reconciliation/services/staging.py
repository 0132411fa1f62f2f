"""A run's first half: read the source, stage its rows (COPY on PostgreSQL), classify them in
SQL (one UPDATE per association rule, whatever the number of rows) and plan the action of each.
Nothing in the directory changes here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KT
from django.utils import timezone

from blazon.db import copy_rows
from directory.models import Account, AccountStatus, Entitlement, User, UserStatus
from reconciliation.expressions import ExpressionError, evaluate, render
from reconciliation.models import (
    Action,
    AssociationRule,
    MappingMode,
    Operator,
    ProfileKind,
    ReconciliationLink,
    ReconciliationProfile,
    ReconciliationRun,
    RuleTarget,
    RunRowError,
    Situation,
    SourceRowHash,
    StagedRow,
)
from reconciliation.services.profiles import USER_TARGETS, profile_secrets
from reconciliation.sources import RowProblem, SourceRow, read_source

STAGE_COLUMNS = (
    "run_id",
    "row",
    "key",
    "data",
    "values",
    "o1",
    "o2",
    "o3",
    "w1",
    "w2",
    "w3",
    "situation",
    "action",
    "done",
    "row_hash",
)
SAMPLES = 5
PLAN_CHUNK = 2000
REPORTED_ERRORS = 1000
LOOKUPS = {
    Operator.EQUALS: "exact",
    Operator.IEQUALS: "iexact",
    Operator.STARTSWITH: "startswith",
    Operator.ENDSWITH: "endswith",
}


@dataclass
class StageResult:
    rows: int = 0
    errors: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    def problem(self, p: RowProblem) -> None:
        self.errors += 1
        if len(self.problems) < REPORTED_ERRORS:
            self.problems.append(p)


def mapped_values(
    profile: ReconciliationProfile, mappings: list[Any], data: dict[str, str]
) -> dict[str, str]:
    """The directory values a source row maps to (``ExpressionError`` names what failed)."""
    if not mappings and profile.kind == ProfileKind.USERS:
        return {k: v for k, v in data.items() if k in USER_TARGETS}
    out: dict[str, str] = {}
    for m in mappings:
        try:
            if m.mode == MappingMode.EXPRESSION:
                out[m.target] = evaluate(m.value, data)
            else:
                out[m.target] = render(m.value, data, strict=m.mode != MappingMode.STATIC)
        except ExpressionError as exc:
            raise ExpressionError(f"mapping of {m.target}: {exc}") from None
    return out


def _rows(
    run: ReconciliationRun, profile: ReconciliationProfile, result: StageResult, dups: set[str]
) -> Iterator[tuple[Any, ...]]:
    # read before the COPY starts: no other statement may run on the connection during it
    rules = list(profile.rules.all())
    objects = [r for r in rules if r.target == RuleTarget.OBJECT]
    owners = [r for r in rules if r.target == RuleTarget.OWNER]
    mappings = list(profile.mappings.all())
    source = read_source(
        profile.source_type,
        profile.source_settings,
        profile_secrets(profile),
        entitlements=profile.kind == ProfileKind.ENTITLEMENTS,
    )
    return _stage_rows(run, profile, source, objects, owners, mappings, result, dups)


def _stage_rows(
    run: ReconciliationRun,
    profile: ReconciliationProfile,
    source: Iterator[SourceRow | RowProblem],
    objects: list[AssociationRule],
    owners: list[AssociationRule],
    mappings: list[Any],
    result: StageResult,
    dups: set[str],
) -> Iterator[tuple[Any, ...]]:
    seen: set[str] = set()
    for item in source:
        if isinstance(item, RowProblem):
            result.problem(item)
            continue
        assert isinstance(item, SourceRow)
        key = str(item.data.get(profile.key_field) or "").strip()[:255]
        if not key:
            result.problem(RowProblem(item.row, "", f"No value in the key field {profile.key_field!r}."))
            continue
        if key in seen:
            dups.add(key)
            result.problem(RowProblem(item.row, key, f"Duplicate key {key!r}: its rows are not reconciled."))
            continue
        seen.add(key)
        try:
            values = mapped_values(profile, mappings, item.data)
        except ExpressionError as exc:
            result.problem(RowProblem(item.row, key, str(exc)))
            continue
        o = [render(r.value, item.data)[:500] for r in objects] + ["", "", ""]
        w = [render(r.value, item.data)[:500] for r in owners] + ["", "", ""]
        result.rows += 1
        yield (
            run.pk,
            item.row,
            key,
            json.dumps(item.data),
            json.dumps(values),
            *o[:3],
            *w[:3],
            "",
            "",
            False,
            hashlib.sha1(json.dumps(item.data, sort_keys=True).encode(), usedforsecurity=False).hexdigest(),
        )


def stage(run: ReconciliationRun, profile: ReconciliationProfile) -> StageResult:
    """Read the source into the staging table; duplicate keys and malformed rows are reported."""
    StagedRow.objects.filter(run=run).delete()
    result = StageResult()
    dups: set[str] = set()
    copy_rows(StagedRow._meta.db_table, STAGE_COLUMNS, _rows(run, profile, result, dups))
    if dups:
        first = StagedRow.objects.filter(run=run, key__in=dups)
        for row, key in first.values_list("row", "key"):
            result.problem(RowProblem(row, key, f"Duplicate key {key!r}: its rows are not reconciled."))
        result.rows -= first.count()
        first.delete()
    RunRowError.objects.bulk_create(
        RunRowError(run=run, row=p.row, key=p.key[:255], reason=p.reason) for p in result.problems
    )
    if connection.vendor == "postgresql":  # fresh statistics: the rows were just written
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(StagedRow._meta.db_table)}")
    return result


# --- classification, set-based ------------------------------------------------------------------


def rule_filter(base: QuerySet[Any], rule: AssociationRule, value: Any) -> QuerySet[Any]:
    """``base`` narrowed to the objects whose attribute matches ``value`` by the rule's operator
    (an administrator-defined attribute is compared as text)."""
    attribute = rule.attribute
    if attribute.startswith("attributes."):
        base = base.annotate(_rule_value=KT("attributes__" + attribute.split(".", 1)[1]))
        attribute = "_rule_value"
    return base.filter(**{f"{attribute}__{LOOKUPS[Operator(rule.operator)]}": value})


def _match(
    run: ReconciliationRun,
    rules: list[AssociationRule],
    base: QuerySet[Any],
    prefix: str,
    low: str,
    high: str,
) -> None:
    """For each rule in order, one UPDATE gives the rows no earlier rule matched the lowest and
    highest id of the objects it finds (equal: one candidate; different: a conflict)."""
    for number, rule in enumerate(rules, start=1):
        column = f"{prefix}{number}"
        found = rule_filter(base, rule, OuterRef(column))
        StagedRow.objects.filter(run=run, **{f"{low}__isnull": True}).exclude(**{column: ""}).update(
            **{
                low: Subquery(found.order_by("pk").values("pk")[:1]),
                high: Subquery(found.order_by("-pk").values("pk")[:1]),
            }
        )


def classify(run: ReconciliationRun, profile: ReconciliationProfile) -> None:
    rules = list(profile.rules.all())
    objects = [r for r in rules if r.target == RuleTarget.OBJECT]
    owners = [r for r in rules if r.target == RuleTarget.OWNER]
    rows = StagedRow.objects.filter(run=run, situation="")
    people = User.objects.exclude(status=UserStatus.REMOVED)
    if profile.kind in (ProfileKind.USERS, ProfileKind.ENTITLEMENTS):
        base: QuerySet[Any] = people
        if profile.kind == ProfileKind.ENTITLEMENTS:
            base = Entitlement.objects.filter(resource=profile.resource)
        _match(run, objects, base, "o", "object_min", "object_max")
        rows.filter(object_min__isnull=True).update(situation=Situation.NOT_FOUND)
        rows.filter(object_min__lt=F("object_max")).update(situation=Situation.CONFLICT)
        rows.update(situation=Situation.FOUND)
        return
    _match(run, objects, Account.objects.filter(resource=profile.resource), "o", "object_min", "object_max")
    if owners:
        _match(run, owners, people, "w", "owner_min", "owner_max")
    StagedRow.objects.filter(run=run, object_min__isnull=False).update(
        current_owner=Subquery(Account.objects.filter(pk=OuterRef("object_min")).values("owner_id")[:1])
    )
    rows.filter(Q(object_min__lt=F("object_max")) | Q(owner_min__lt=F("owner_max"))).update(
        situation=Situation.CONFLICT
    )
    if not owners:  # no owner rules: the directory's owner is the owner
        rows.filter(object_min__isnull=False).update(situation=Situation.FOUND)
        rows.update(situation=Situation.ACCOUNT_OWNER_NOT_FOUND)
        return
    found = rows.filter(object_min__isnull=False)
    # the owner rules find nobody but the directory names an owner: the directory's decision stands
    found.filter(owner_min__isnull=True, current_owner__isnull=False).update(situation=Situation.FOUND)
    found.filter(owner_min__isnull=True).update(situation=Situation.ACCOUNT_FOUND_OWNER_NOT_FOUND)
    found.filter(current_owner=F("owner_min")).update(situation=Situation.FOUND)
    found.update(situation=Situation.OWNER_MISMATCH)
    rows.filter(owner_min__isnull=False).update(situation=Situation.ACCOUNT_NOT_FOUND_OWNER_FOUND)
    rows.update(situation=Situation.ACCOUNT_OWNER_NOT_FOUND)


def stage_missing(run: ReconciliationRun, profile: ReconciliationProfile, actions: dict[str, str]) -> int:
    """Stage the directory objects the source no longer has (situation MISSING): for a users
    profile the users it linked before and found in no row now, for an accounts profile the
    resource's accounts no row matched. Returns the profile's population (safety limit)."""
    if profile.kind == ProfileKind.ENTITLEMENTS:  # the seed's three situations, no MISSING
        return 0
    matched = StagedRow.objects.filter(run=run, object_min__isnull=False).values("object_min")
    now = timezone.now().isoformat()
    if profile.kind == ProfileKind.USERS:
        links = ReconciliationLink.objects.filter(profile=profile)
        statuses = [UserStatus.ACTIVE]
        if actions.get(Situation.MISSING) == Action.REVOKE:
            statuses.append(UserStatus.INACTIVE)
        gone: QuerySet[Any, tuple[str, int]] = (
            links.exclude(user_id__in=matched).filter(user__status__in=statuses).values_list("key", "user_id")
        )
        population = links.count()
    else:
        accounts = Account.objects.filter(resource=profile.resource).exclude(status=AccountStatus.REVOKED)
        gone = accounts.exclude(pk__in=matched).values_list("identifier", "pk")
        population = accounts.count()
    rows = list(gone)  # read before the COPY: nothing else may run on the connection during it
    copy_rows(
        StagedRow._meta.db_table,
        (
            "run_id",
            "row",
            "key",
            "data",
            "values",
            "o1",
            "o2",
            "o3",
            "w1",
            "w2",
            "w3",
            "object_min",
            "object_max",
            "situation",
            "action",
            "done",
            "row_hash",
        ),
        (
            (
                run.pk,
                0,
                str(key)[:255],
                json.dumps({"missing_since": now}),
                "{}",
                "",
                "",
                "",
                "",
                "",
                "",
                pk,
                pk,
                Situation.MISSING,
                "",
                False,
                "",
            )
            for key, pk in rows
        ),
    )
    return population


# --- planning --------------------------------------------------------------------------------------


def user_changes(user: User, values: dict[str, Any]) -> dict[str, Any]:
    """The mapped values that differ from the user's (what an UPDATE would change)."""
    changes: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for target, value in values.items():
        if target.startswith("attributes."):
            name = target.split(".", 1)[1]
            if str((user.attributes or {}).get(name, "") or "") != value:
                attributes[name] = value
            continue
        if target == "manager":
            current = user.manager.username if user.manager_id and user.manager else ""
        elif target == "organization":
            current = user.organization.code if user.organization_id and user.organization else ""
        elif target in ("start_date", "end_date"):
            got = getattr(user, target)
            current = got.isoformat() if got else ""
        else:
            current = str(getattr(user, target, "") or "")
        if current != value and not (target == "username" and not value):
            changes[target] = (
                value or None if target in ("manager", "organization", "start_date", "end_date") else value
            )
    if attributes:
        changes["attributes"] = attributes
    return changes


def account_changes(account: Account, values: dict[str, Any]) -> dict[str, Any]:
    current = account.attributes or {}
    out = {}
    for target, value in values.items():
        name = target.split(".", 1)[1] if target.startswith("attributes.") else target
        if str(current.get(name, "") if current.get(name) is not None else "") != value:
            out[name] = value
    return out


def entitlement_changes(entitlement: Entitlement, values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for target, value in values.items():
        if target.startswith("attributes."):
            name = target.split(".", 1)[1]
            if str((entitlement.attributes or {}).get(name, "") or "") != value:
                attributes[name] = value
        elif str(getattr(entitlement, target, "") or "") != value:
            out[target] = value
    if attributes:
        out["attributes"] = attributes
    return out


def _batches(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _accounts_unchanged_in_sql(run: ReconciliationRun, profile: ReconciliationProfile) -> None:
    """An account's mapped values are all attributes: compare them in one UPDATE (PostgreSQL's
    JSON operators) instead of reading every account; the rows left are compared in Python."""
    targets = [
        m.target.split(".", 1)[1] if m.target.startswith("attributes.") else m.target
        for m in profile.mappings.all()
    ]
    mapped = [m.target for m in profile.mappings.all()]
    qn = connection.ops.quote_name
    same = (
        " AND ".join(
            f"COALESCE(a.attributes ->> %s, '') = COALESCE(s.{qn('values')} ->> %s, '')" for _ in targets
        )
        or "TRUE"
    )
    params: list[Any] = [Action.NONE, run.pk, Action.UPDATE]
    for name, target in zip(targets, mapped, strict=True):
        params += [name, target]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(StagedRow._meta.db_table)} s SET action = %s FROM {qn(Account._meta.db_table)} a "  # noqa: S608 - fixed names, values are parameters
            f"WHERE s.run_id = %s AND s.action = %s AND a.id = s.object_min AND {same}",
            params,
        )


def plan(run: ReconciliationRun, profile: ReconciliationProfile, actions: dict[str, str]) -> None:
    """Give every staged row its action (one UPDATE per situation); an UPDATE that would change
    nothing becomes NONE (read in chunks: one query per chunk of rows, not per row)."""
    for situation, action in actions.items():
        StagedRow.objects.filter(run=run, situation=situation).update(action=action)
    if profile.kind == ProfileKind.ACCOUNTS:  # revoked here: the application is being told already
        revoked = Account.objects.filter(resource=profile.resource, status=AccountStatus.REVOKED).values("pk")
        StagedRow.objects.filter(run=run, object_min__in=revoked).update(action=Action.NONE)
    if not run.full:  # incremental: a row whose hash has not changed since the last applied run
        same = SourceRowHash.objects.filter(profile=profile, key=OuterRef("key"), hash=OuterRef("row_hash"))
        StagedRow.objects.filter(run=run, action=Action.UPDATE).filter(Exists(same)).update(
            action=Action.NONE
        )
    if profile.kind == ProfileKind.ACCOUNTS and connection.vendor == "postgresql":
        _accounts_unchanged_in_sql(run, profile)
    updates = StagedRow.objects.filter(run=run, action=Action.UPDATE)
    unchanged: list[int] = []
    models: dict[str, Any] = {ProfileKind.USERS: User, ProfileKind.ENTITLEMENTS: Entitlement}
    model: Any = models.get(profile.kind, Account)
    differ: Any = {User: user_changes, Entitlement: entitlement_changes, Account: account_changes}[model]
    # one pass over the rows (a server-side cursor on PostgreSQL), the objects read per chunk
    rows = updates.order_by("pk").values_list("pk", "object_min", "values").iterator(chunk_size=PLAN_CHUNK)
    for chunk in _batches(rows, PLAN_CHUNK):
        related = ("manager", "organization") if model is User else ()
        objects = model.objects.select_related(*related).in_bulk([c[1] for c in chunk])
        for pk, object_id, values in chunk:
            obj = objects.get(object_id)
            diff = differ(obj, values) if obj else {}
            if not diff:
                unchanged.append(pk)
    for i in range(0, len(unchanged), 5000):
        StagedRow.objects.filter(pk__in=unchanged[i : i + 5000]).update(action=Action.NONE)


def row_hashes_keep(run: ReconciliationRun, profile: ReconciliationProfile) -> None:
    """Remember the hash of every source row of an applied run (two statements, set-based)."""
    SourceRowHash.objects.filter(profile=profile).delete()
    table, staged = (connection.ops.quote_name(m._meta.db_table) for m in (SourceRowHash, StagedRow))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (profile_id, {connection.ops.quote_name('key')}, hash) "  # noqa: S608 - fixed names
            f"SELECT %s, {connection.ops.quote_name('key')}, row_hash FROM {staged} WHERE run_id = %s AND row > 0",
            [profile.pk, run.pk],
        )


def summarize(run: ReconciliationRun) -> None:
    """Counts per situation and per action, the first rows of each situation."""
    rows = StagedRow.objects.filter(run=run)
    run.situations = {
        r["situation"]: r["n"] for r in rows.values("situation").annotate(n=Count("id")).order_by()
    }
    run.actions = {r["action"]: r["n"] for r in rows.values("action").annotate(n=Count("id")).order_by()}
    samples: dict[str, list[dict[str, Any]]] = {}
    for situation in run.situations:
        samples[situation] = [
            {"row": r.row, "key": r.key, "action": r.action, "data": dict(list(r.data.items())[:8])}
            for r in rows.filter(situation=situation).order_by("pk")[:SAMPLES]
        ]
    run.samples = samples
