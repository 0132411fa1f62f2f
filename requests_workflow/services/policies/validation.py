"""Validation policies: the rules a request must meet when it is created (justification, who may
request, beneficiary rules and statuses, longest access period); create, change, switch, delete."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.patterns import pattern_problem
from directory.models import User, UserStatus
from requests_workflow.models import (
    RequesterScope,
    RuleOperator,
    ValidationPolicy,
)
from requests_workflow.services.policies.common import (
    _common,
    _policy_create,
    _policy_update,
    _raise,
    _require_config,
    _set_active,
    _snapshot,
)

VALIDATION_FIELDS = (
    "name",
    "active",
    "priority",
    "request_types",
    "resource",
    "entitlement",
    "role",
    "justification_required",
    "justification_min_length",
    "requester_scope",
    "beneficiary_rules",
    "beneficiary_statuses",
    "max_period_days",
)


def _rules(rules: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    if not isinstance(rules, list | tuple):
        errors["beneficiary_rules"] = [gettext("A list of rules (attribute, operator, value).")]
        return []
    out, problems = [], []
    for number, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict):
            problems.append(f"rule {number} is not attribute/operator/value")
            continue
        attribute = str(rule.get("attribute") or "").strip()
        operator = str(rule.get("operator") or "")
        value = rule.get("value")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", attribute):
            problems.append(f"rule {number}: name the attribute (letters, digits, _)")
        if operator not in RuleOperator.values:
            problems.append(f"rule {number}: the operator is one of {', '.join(RuleOperator.values)}")
        elif operator == RuleOperator.IN:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list | tuple) or not value:
                problems.append(f"rule {number}: 'in' needs a list of values")
            else:
                value = [str(v) for v in value]
        else:
            if value is None or isinstance(value, dict | list):
                problems.append(f"rule {number}: give one value")
            value = "" if value is None else str(value)
            if operator == RuleOperator.REGEX:
                problem = pattern_problem(value)
                if problem:
                    problems.append(f"rule {number}: invalid pattern ({problem})")
        out.append({"attribute": attribute, "operator": operator, "value": value})
    if problems:
        errors["beneficiary_rules"] = [p[0].upper() + p[1:] + "." for p in problems]
    return out


def _validation_data(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out = _common(data, errors)
    out["justification_required"] = bool(data.get("justification_required", False))
    length = data.get("justification_min_length") or 0
    if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= 5000:
        errors["justification_min_length"] = [gettext("A whole number from 0 to 5000.")]
    out["justification_min_length"] = length
    scope = data.get("requester_scope") or ""
    if scope not in RequesterScope.values:
        errors["requester_scope"] = [
            gettext("One of %(values)s, or empty.")
            % {"values": ", ".join(v for v in RequesterScope.values if v)}
        ]
    out["requester_scope"] = scope
    out["beneficiary_rules"] = _rules(data.get("beneficiary_rules") or [], errors)
    statuses = data.get("beneficiary_statuses") or []
    if not isinstance(statuses, list | tuple) or any(s not in UserStatus.values for s in statuses):
        errors["beneficiary_statuses"] = [
            gettext("Statuses among %(values)s.") % {"values": ", ".join(UserStatus.values)}
        ]
    out["beneficiary_statuses"] = [s for s in UserStatus.values if s in statuses]
    days = data.get("max_period_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 36500):
        errors["max_period_days"] = [gettext("A number of days from 1 to 36500, or empty for no limit.")]
    out["max_period_days"] = days
    if not errors and not (
        out["justification_required"]
        or out["justification_min_length"]
        or out["requester_scope"]
        or out["beneficiary_rules"]
        or out["beneficiary_statuses"]
        or out["max_period_days"]
    ):
        errors["__all__"] = [gettext("The policy checks nothing: set at least one rule.")]
    _raise(errors)
    return out


@transaction.atomic
def validation_policy_create(*, actor: User | None, source: str, **data: Any) -> ValidationPolicy:
    """A new validation policy: new requests it matches must pass its rules."""
    saved: ValidationPolicy = _policy_create(
        ValidationPolicy, _validation_data, VALIDATION_FIELDS, "validation_policy", actor, source, data
    )
    return saved


@transaction.atomic
def validation_policy_update(
    *, actor: User | None, source: str, policy: ValidationPolicy, data: dict[str, Any]
) -> ValidationPolicy:
    """Change a validation policy; requests already created are not checked again."""
    saved: ValidationPolicy = _policy_update(
        ValidationPolicy,
        _validation_data,
        VALIDATION_FIELDS,
        "validation_policy",
        actor,
        source,
        policy,
        data,
    )
    return saved


@transaction.atomic
def validation_policy_set_active(
    *, actor: User | None, source: str, policy: ValidationPolicy, active: bool
) -> ValidationPolicy:
    """Switch a validation policy on or off for new requests."""
    return _set_active(
        ValidationPolicy,
        "validation_policy",
        actor=actor,
        source=source,
        pk=policy.pk,
        active=active,
        fields=["active", "updated_at"],
    )


@transaction.atomic
def validation_policy_delete(*, actor: User | None, source: str, policy: ValidationPolicy) -> None:
    """Delete a validation policy; it only ever applied at creation, so requests are unaffected."""
    _require_config(actor)
    locked = ValidationPolicy.objects.select_for_update().get(pk=policy.pk)
    snapshot, pk, repr_ = _snapshot(locked, VALIDATION_FIELDS), locked.pk, str(locked)
    locked.delete()
    audit_record(
        actor=actor,
        action="validation_policy.delete",
        object_type=ValidationPolicy._meta.label,
        object_id=pk,
        object_repr=repr_,
        old=snapshot,
        source=source,
    )
