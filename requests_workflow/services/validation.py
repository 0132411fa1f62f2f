"""Stage 2, administrator-defined part: the active ``ValidationPolicy`` rows that match a request
are checked on top of the built-in rules of ``request_create``. A policy only ever adds
restrictions, so with no policy the built-in behaviour (and the settings-based justification
default) is unchanged. Every refusal names the policy that refused.

Requests the system makes itself (source ``automatic``: the end of a time-bound access) are not
subject to validation policies: they undo access, and nobody is there to add a justification.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext

from blazon.patterns import pattern_fullmatch, pattern_problem
from blazon.permissions import role_of
from directory.models import Source, User
from requests_workflow.models import RequesterScope, RuleOperator, ValidationPolicy
from requests_workflow.types import TypeSpec


def active_validation_policies() -> list[ValidationPolicy]:
    """Every active policy, in priority order (a handful of rows: read once per request or file)."""
    return list(ValidationPolicy.objects.filter(active=True).order_by("priority", "id"))


def _resource_of(refs: dict[str, Any]) -> Any:
    for name in ("resource", "account", "entitlement"):
        obj = refs.get(name)
        if obj is None:
            continue
        return obj if name == "resource" else obj.resource
    return None


def validation_policies_matching(
    policies: list[ValidationPolicy], request_type: str, refs: dict[str, Any]
) -> list[ValidationPolicy]:
    """The policies whose scope (types, resource, entitlement, role) covers this request."""
    resource = _resource_of(refs)
    entitlement, role = refs.get("entitlement"), refs.get("role")
    out = []
    for policy in policies:
        if policy.request_types and request_type not in policy.request_types:
            continue
        if policy.resource_id and getattr(resource, "pk", None) != policy.resource_id:
            continue
        if policy.entitlement_id and getattr(entitlement, "pk", None) != policy.entitlement_id:
            continue
        if policy.role_id and getattr(role, "pk", None) != policy.role_id:
            continue
        out.append(policy)
    return out


def beneficiary_value(user: User | None, payload: dict[str, Any], name: str) -> Any:
    """A beneficiary field or attribute by name: user fields, ``organization`` (its code),
    ``manager`` (their username), or a custom attribute. For a new user, the request's values."""
    if user is None:
        values = payload.get("user")
        if not isinstance(values, dict):
            values = {}
        if name in values:
            return values[name]
        attributes = values.get("attributes")
        return attributes.get(name) if isinstance(attributes, dict) else None
    if name in ("organization", "manager"):
        related = getattr(user, name)
        return getattr(related, "code", None) or getattr(related, "username", None)
    if name != "attributes" and hasattr(user, name) and not name.startswith("_"):
        return getattr(user, name)
    return (user.attributes or {}).get(name)


def rule_holds(operator: str, actual: Any, expected: Any) -> bool:
    text = "" if actual is None else str(actual)
    if operator == RuleOperator.EQUALS:
        return text == str(expected)
    if operator == RuleOperator.NOT_EQUALS:
        return text != str(expected)
    if operator == RuleOperator.IN:
        return text in {str(v) for v in (expected or [])}
    if operator == RuleOperator.REGEX:
        # RE2, linear time; a pattern it refuses (saved before patterns were checked) never holds
        return pattern_problem(str(expected)) is None and pattern_fullmatch(str(expected), text)
    return False


def rule_text(rule: dict[str, Any]) -> str:
    value = rule.get("value")
    shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    label = RuleOperator(rule["operator"]).label if rule.get("operator") in RuleOperator.values else "?"
    return f"{rule.get('attribute')} {label} {shown}"  # the label is translated (lazy)


def _say(policy: ValidationPolicy, message: str) -> str:
    return gettext("Validation policy %(name)r: %(message)s") % {"name": policy.name, "message": message}


def validation_policies_check(
    policies: list[ValidationPolicy],
    *,
    spec: TypeSpec,
    source: str,
    refs: dict[str, Any],
    beneficiary: User | None,
    payload: dict[str, Any],
    justification: str,
    start_at: datetime | None,
    end_at: datetime | None,
    errors: dict[str, list[str]],
) -> None:
    """Add to ``errors`` what the matching policies refuse (field → messages naming the policy)."""
    if source == Source.AUTOMATIC:
        return
    for policy in validation_policies_matching(policies, spec.code, refs):
        needs = policy.justification_required or policy.justification_min_length > 0
        if needs and not justification:
            if "justification" not in errors:  # the built-in rule already said so
                errors["justification"] = [
                    _say(policy, gettext("%(code)s requests need a justification.") % {"code": spec.code})
                ]
        elif justification and len(justification) < policy.justification_min_length:
            errors.setdefault("justification", []).append(
                _say(
                    policy,
                    gettext("the justification needs at least %(justification_min_length)s characters.")
                    % {"justification_min_length": policy.justification_min_length},
                )
            )
        if beneficiary is not None and policy.beneficiary_statuses:
            if beneficiary.status not in policy.beneficiary_statuses:
                allowed = ", ".join(policy.beneficiary_statuses)
                errors.setdefault("beneficiary", []).append(
                    _say(
                        policy,
                        gettext("%(username)s is %(status)s; it allows %(allowed)s.")
                        % {
                            "username": beneficiary.username,
                            "status": beneficiary.status,
                            "allowed": allowed,
                        },
                    )
                )
        for rule in policy.beneficiary_rules or []:
            actual = beneficiary_value(beneficiary, payload, str(rule.get("attribute", "")))
            if not rule_holds(str(rule.get("operator")), actual, rule.get("value")):
                whom = beneficiary.username if beneficiary else gettext("the new user")
                errors.setdefault("beneficiary", []).append(
                    _say(
                        policy,
                        gettext("%(whom)s does not meet '%(value)s' (is %(actual)r).")
                        % {"whom": whom, "value": rule_text(rule), "actual": actual},
                    )
                )
        if policy.max_period_days and spec.time_bound:
            if end_at is None:
                errors.setdefault("end_at", []).append(
                    _say(
                        policy,
                        gettext("give an end date: access is limited to %(max_period_days)s days.")
                        % {"max_period_days": policy.max_period_days},
                    )
                )
            else:
                start = max(start_at or timezone.now(), timezone.now())
                if (end_at - start).total_seconds() > policy.max_period_days * 86400:
                    errors.setdefault("end_at", []).append(
                        _say(
                            policy,
                            gettext("the access period may last at most %(max_period_days)s days.")
                            % {"max_period_days": policy.max_period_days},
                        )
                    )


def validation_policies_requester(
    policies: list[ValidationPolicy],
    *,
    actor: User | None,
    spec: TypeSpec,
    source: str,
    refs: dict[str, Any],
    beneficiary: User | None,
    payload: dict[str, Any],
) -> str | None:
    """The refusal message of the first matching policy that does not let ``actor`` make this
    request (who may request for whom), or None. Applied after the built-in rule passed."""
    if source == Source.AUTOMATIC or actor is None:
        return None
    for policy in validation_policies_matching(policies, spec.code, refs):
        scope = policy.requester_scope
        if not scope:
            continue
        if beneficiary is None:  # a new user: their manager-to-be
            ref = (payload.get("user") or {}).get("manager")
            is_self, is_manager = False, ref in (actor.username, actor.pk)
        else:
            is_self, is_manager = beneficiary.pk == actor.pk, beneficiary.manager_id == actor.pk
        allowed_by: dict[str, bool] = {
            RequesterScope.SELF: is_self,
            RequesterScope.MANAGER: is_manager,
            RequesterScope.CONSOLE: bool(role_of(actor)),
        }
        allowed = allowed_by.get(scope, True)
        if not allowed:
            whom = beneficiary.username if beneficiary else gettext("a new user")
            return _say(
                policy,
                gettext("%(username)s may not request %(code)s for %(whom)s (%(label)s).")
                % {
                    "username": actor.username,
                    "code": spec.code,
                    "whom": whom,
                    "label": RequesterScope(scope).label.lower(),
                },
            )
    return None
