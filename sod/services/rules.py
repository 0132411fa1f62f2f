"""SoD rules: create, change, delete, import and export (CSV), each audited.

A rule's sides are given as lists of item references, the same in the console, the API and
CSV: ``entitlement:<resource code>/<identifier>``, ``role:<code>``, ``resource:<code>`` (an
account on the resource). Refused: fewer than two non-empty sides, an unknown item, one item on
two sides. An item whose entitlement, role or resource was deleted stays on the rule as
"(deleted)"; keeping its reference when the rule is saved again keeps it so.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.changes import config_create, config_delete, config_update, field_error
from blazon.errors import ValidationFailed
from directory.models import Entitlement, Resource, Role, User
from sod.models import ItemKind, Severity, SoDRule, SoDRuleItem, SoDViolation
from worklist.models import Task
from worklist.services import tasks_cancel

RULE_FIELDS = (
    "code",
    "name",
    "description",
    "severity",
    "owner",
    "mitigating_controls",
    "evidence_url",
    "active",
)
MAX_SIDES = 6
SIDE_NAMES = "ABCDEF"
CSV_COLUMNS = (
    "code",
    "name",
    "severity",
    "owner",
    "description",
    "mitigating_controls",
    "evidence_url",
    "active",
    "side_a",
    "side_b",
    "side_c",
    "side_d",
)


@dataclass(frozen=True)
class ItemSpec:
    """A resolved item reference: its side, kind, target (None: deleted), ref and label."""

    side: int
    kind: str
    target: Entitlement | Role | Resource | None
    ref: str
    label: str


def _resolve(ref: str, side: int, gone: dict[str, SoDRuleItem]) -> ItemSpec:
    kind, __, rest = ref.partition(":")
    kind = kind.strip().lower()
    rest = rest.strip()
    canonical = f"{kind}:{rest}"
    where = f"Side {SIDE_NAMES[side - 1]}"
    target: Entitlement | Role | Resource | None
    if canonical in gone:  # an item deleted since it was named: it stays, as deleted
        item = gone[canonical]
        return ItemSpec(side, item.kind, None, item.ref, item.label)
    if kind == "entitlement":
        code, __, identifier = rest.partition("/")
        target = (
            Entitlement.objects.select_related("resource")
            .filter(resource__code=code.strip(), identifier=identifier.strip())
            .first()
        )
        if target is None:
            raise field_error(
                "sides",
                _("%(where)s: no entitlement %(rest)r (resource code/identifier).")
                % {"where": where, "rest": rest},
            )
        return ItemSpec(side, ItemKind.ENTITLEMENT, target, canonical, str(target))
    if kind == "role":
        target = Role.objects.filter(code=rest).first()
        if target is None:
            raise field_error(
                "sides", _("%(where)s: no role with code %(rest)r.") % {"where": where, "rest": rest}
            )
        return ItemSpec(side, ItemKind.ROLE, target, canonical, f"Role {target.name}")
    if kind == "resource":
        target = Resource.objects.filter(code=rest).first()
        if target is None:
            raise field_error(
                "sides", _("%(where)s: no resource with code %(rest)r.") % {"where": where, "rest": rest}
            )
        return ItemSpec(side, ItemKind.RESOURCE, target, canonical, f"Account on {target.name}")
    raise field_error(
        "sides",
        _(
            "%(where)s: %(ref)r is not an item reference (entitlement:<resource>/<identifier>, "
            "role:<code> or resource:<code>)."
        )
        % {"where": where, "ref": ref},
    )


def sides_resolve(sides: Any, rule: SoDRule | None = None) -> list[ItemSpec]:
    """Check and resolve the sides of a rule (see the module docstring)."""
    if not isinstance(sides, list | tuple) or not all(isinstance(s, list | tuple) for s in sides):
        raise field_error("sides", _("Give the sides as lists of item references."))
    if len(sides) > MAX_SIDES:
        raise field_error("sides", _("A rule has at most %(MAX_SIDES)s sides.") % {"MAX_SIDES": MAX_SIDES})
    cleaned = [[str(r).strip() for r in side if str(r).strip()] for side in sides]
    if sum(1 for side in cleaned if side) < 2:
        raise field_error("sides", _("A rule needs items on at least two sides."))
    gone = {i.ref: i for i in rule.items.all() if not i.present} if rule is not None and rule.pk else {}
    specs: list[ItemSpec] = []
    seen: dict[tuple[str, Any], int] = {}
    side_no = 0
    for refs in cleaned:
        if not refs:
            continue
        side_no += 1
        for ref in dict.fromkeys(refs):
            spec = _resolve(ref, side_no, gone)
            key = (spec.kind, spec.target.pk if spec.target is not None else spec.ref)
            if key in seen:
                if seen[key] != side_no:
                    raise field_error(
                        "sides",
                        _(
                            "%(label)s is on sides %(value)s and "
                            "%(value2)s: the sides of a rule must not overlap."
                        )
                        % {
                            "label": spec.label,
                            "value": SIDE_NAMES[seen[key] - 1],
                            "value2": SIDE_NAMES[side_no - 1],
                        },
                    )
                continue
            seen[key] = side_no
            specs.append(spec)
    return specs


def _items_write(rule: SoDRule, specs: Sequence[ItemSpec]) -> None:
    rule.items.all().delete()
    rows = []
    for spec in specs:
        item = SoDRuleItem(rule=rule, side=spec.side, kind=spec.kind, ref=spec.ref, label=spec.label)
        if spec.kind == ItemKind.ENTITLEMENT:
            item.entitlement = spec.target  # type: ignore[assignment]
        elif spec.kind == ItemKind.ROLE:
            item.role = spec.target  # type: ignore[assignment]
        else:
            item.resource = spec.target  # type: ignore[assignment]
        rows.append(item)
    SoDRuleItem.objects.bulk_create(rows)


def rule_sides(rule: SoDRule) -> list[list[str]]:
    """The sides as lists of references (what the audit log, CSV and forms show)."""
    out: dict[int, list[str]] = {}
    for item in rule.items.all():
        out.setdefault(item.side, []).append(item.ref)
    return [out[k] for k in sorted(out)]


def _apply(rule: SoDRule, data: dict[str, Any]) -> None:
    for name in RULE_FIELDS:
        if name in data:
            value = data[name]
            if name in ("code", "name") and not str(value or "").strip():
                raise field_error(name, _("Required."))
            if name == "severity" and value not in Severity.values:
                raise field_error("severity", _("One of %(value)s.") % {"value": ", ".join(Severity.values)})
            if name == "owner" and value is not None and not isinstance(value, User):
                raise field_error("owner", _("A user."))
            setattr(rule, name, value.strip() if isinstance(value, str) else value)


@transaction.atomic
def sod_rule_create(*, actor: Any, source: str, sides: Any, **data: Any) -> SoDRule:
    """Create a rule with its sides; audited as ``sod_rule.create`` with the sides."""
    rule = SoDRule()
    _apply(rule, {"severity": Severity.HIGH, "active": True, **data})
    specs = sides_resolve(sides)
    config_create(
        rule,
        fields=RULE_FIELDS,
        actor=actor,
        source=source,
        action="sod_rule.create",
        conflict="An SoD rule with this code already exists.",
        conflict_field="code",
        validate=True,
        on_saved=lambda saved: _items_write(saved, specs),
    )
    audit_record(
        actor=actor,
        action="sod_rule.sides_set",
        obj=rule,
        new={"sides": rule_sides(rule)},
        source=source,
    )
    return rule


@transaction.atomic
def sod_rule_update(*, actor: Any, source: str, rule: SoDRule, data: dict[str, Any]) -> SoDRule:
    """Change a rule's fields and, when ``sides`` is given, its sides (replaced whole)."""
    data = dict(data)
    sides = data.pop("sides", None)
    with config_update(
        SoDRule,
        rule.pk,
        fields=RULE_FIELDS,
        actor=actor,
        source=source,
        action="sod_rule.update",
        conflict="An SoD rule with this code already exists.",
        conflict_field="code",
        validate=True,
    ) as change:
        _apply(change.obj, data)
    obj: SoDRule = change.obj
    if sides is not None:
        before = rule_sides(obj)
        specs = sides_resolve(sides, obj)
        _items_write(obj, specs)
        after = rule_sides(obj)
        if after != before:
            audit_record(
                actor=actor,
                action="sod_rule.sides_set",
                obj=obj,
                old={"sides": before},
                new={"sides": after},
                source=source,
            )
    return obj


@transaction.atomic
def sod_rule_delete(*, actor: Any, source: str, rule: SoDRule) -> None:
    """Delete a rule, its exceptions, violations and the record of the conflicts it caused
    (the audit log keeps them); its open violation tasks are canceled."""
    obj = SoDRule.objects.select_for_update().get(pk=rule.pk)
    task_ids = SoDViolation.objects.filter(rule=obj, task__isnull=False).values_list("task_id", flat=True)
    tasks_cancel(Task.objects.filter(pk__in=list(task_ids)), comment=f"SoD rule {obj.name} was deleted.")
    config_delete(
        obj,
        fields=RULE_FIELDS,
        actor=actor,
        source=source,
        action="sod_rule.delete",
        extra={"sides": rule_sides(obj)},
    )


# --- CSV -----------------------------------------------------------------------------------------


def rules_csv_rows(rules: Iterable[SoDRule]) -> list[list[str]]:
    """One row per rule in ``CSV_COLUMNS`` order (sides: references joined by ';')."""
    rows = []
    for rule in rules:
        sides = rule_sides(rule) + [[] for _ in range(4)]
        rows.append(
            [
                rule.code,
                rule.name,
                rule.severity,
                rule.owner.username if rule.owner_id and rule.owner else "",
                rule.description,
                rule.mitigating_controls,
                rule.evidence_url,
                "yes" if rule.active else "no",
                *("; ".join(s) for s in sides[:4]),
            ]
        )
    return rows


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0


@transaction.atomic
def sod_rules_import(*, actor: Any, source: str, text: str) -> ImportResult:
    """Create or update rules (matched on ``code``) from CSV text with the ``CSV_COLUMNS``
    header. All or nothing: the first bad row refuses the whole file, naming the row."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"code", "name", "side_a", "side_b"} - set(reader.fieldnames or [])
    if missing:
        raise field_error(
            "file", _("The CSV header lacks: %(value)s.") % {"value": ", ".join(sorted(missing))}
        )
    result = ImportResult()
    for number, row in enumerate(reader, start=2):
        try:
            data = _csv_data(row)
            existing = SoDRule.objects.filter(code=data["code"]).first()
            if existing is None:
                sod_rule_create(actor=actor, source=source, **data)
                result.created += 1
            else:
                sod_rule_update(actor=actor, source=source, rule=existing, data=data)
                result.updated += 1
        except ValidationFailed as error:
            detail = "; ".join(m for ms in (error.fields or {}).values() for m in ms) or error.message
            raise field_error(
                "file",
                _("Row %(number)s (%(value)s): %(detail)s")
                % {"number": number, "value": row.get("code") or "no code", "detail": detail},
            ) from None
    if not result.created and not result.updated:
        raise field_error("file", _("The file holds no rules."))
    return result


def _csv_data(row: dict[str, Any]) -> dict[str, Any]:
    def cell(name: str) -> str:
        return str(row.get(name) or "").strip()

    owner = None
    if cell("owner"):
        owner = User.objects.filter(username=cell("owner")).first()
        if owner is None:
            raise field_error("owner", _("No user %(value)r.") % {"value": cell("owner")})
    active = cell("active").lower()
    if active not in ("", "yes", "no", "true", "false", "1", "0"):
        raise field_error("active", _("yes or no."))
    return {
        "code": cell("code"),
        "name": cell("name"),
        "severity": (cell("severity") or Severity.HIGH).upper(),
        "owner": owner,
        "description": cell("description"),
        "mitigating_controls": cell("mitigating_controls"),
        "evidence_url": cell("evidence_url"),
        "active": active in ("", "yes", "true", "1"),
        "sides": [[r for r in cell(f"side_{x}").split(";")] for x in "abcd"],
    }
