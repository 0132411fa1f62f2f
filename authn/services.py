"""Authentication policy configuration: create, update (rules replaced as a whole) and delete,
each validated, atomic and audited."""

from __future__ import annotations

import ipaddress
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from authn.models import (
    AuthenticationPolicy,
    AuthenticationRule,
    DeviceCondition,
    Factor,
    LoginFailure,
    OneTimeCode,
    Outcome,
)
from blazon.audit.services import audit_record
from blazon.errors import ValidationFailed

POLICY_FIELDS = (
    "name",
    "description",
    "priority",
    "is_default",
    "organization_id",
    "attribute_name",
    "attribute_value",
)
RULE_FIELDS = (
    "networks",
    "time_start",
    "time_end",
    "timezone",
    "device",
    "failures_at_least",
    "failures_minutes",
    "outcome",
    "factors",
)


def _rule_problems(i: int, rule: dict[str, Any]) -> list[str]:
    where = gettext("Rule %(n)s") % {"n": i + 1}
    problems = []
    for cidr in rule.get("networks") or []:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append(
                where
                + ": "
                + gettext("%(network)s is not a network in CIDR form (e.g. 10.0.0.0/8).")
                % {"network": repr(cidr)}
            )
    if (rule.get("time_start") is None) != (rule.get("time_end") is None):
        problems.append(where + ": " + gettext("a time window needs both a start and an end."))
    if rule.get("time_start") is not None and rule["time_start"] == rule.get("time_end"):
        problems.append(where + ": " + gettext("the time window is empty (start equals end)."))
    try:
        ZoneInfo(rule.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            where
            + ": "
            + gettext("unknown time zone %(timezone)s.") % {"timezone": repr(rule.get("timezone"))}
        )
    if rule.get("device", "") not in DeviceCondition.values:
        problems.append(where + ": " + gettext("unknown device condition."))
    if rule.get("outcome") not in Outcome.values:
        problems.append(where + ": " + gettext("the outcome must be allow or deny."))
    factors = rule.get("factors") or []
    if any(x not in Factor.values for x in factors) or len(set(factors)) != len(factors):
        problems.append(where + ": " + gettext("unknown or repeated factor."))
    if rule.get("outcome") == Outcome.ALLOW and not factors:
        problems.append(where + ": " + gettext("an allowing rule needs at least one factor."))
    if rule.get("outcome") == Outcome.DENY and factors:
        rule["factors"] = []
    if bool(rule.get("failures_at_least")) != bool(rule.get("failures_minutes")):
        problems.append(where + ": " + gettext("recent failures need both a count and a number of minutes."))
    return problems


def _snapshot(policy: AuthenticationPolicy) -> dict[str, Any]:
    return {
        **{name: getattr(policy, name) for name in POLICY_FIELDS},
        "rules": [
            {name: _jsonable(getattr(r, name)) for name in RULE_FIELDS}
            for r in policy.rules.order_by("position", "pk")
        ],
    }


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, time) else value


def _validate(data: dict[str, Any], rules: list[dict[str, Any]], exclude_pk: Any = None) -> None:
    fields: dict[str, list[str]] = {}
    if not (data.get("name") or "").strip():
        fields["name"] = [gettext("A policy needs a name.")]
    elif AuthenticationPolicy.objects.filter(name=data["name"].strip()).exclude(pk=exclude_pk).exists():
        fields["name"] = [
            gettext("A policy named %(name)s already exists.") % {"name": repr(data["name"].strip())}
        ]
    if bool(data.get("attribute_name")) != bool(data.get("attribute_value")) and not data.get("is_default"):
        fields["attribute_value"] = [gettext("Give both the attribute name and the value it must have.")]
    if data.get("is_default") and (data.get("organization_id") or data.get("attribute_name")):
        fields["is_default"] = [
            gettext("The default policy applies to everyone: leave organization and attribute empty.")
        ]
    if not rules:
        fields["__all__"] = [gettext("A policy needs at least one rule.")]
    rule_problems = [p for i, r in enumerate(rules) for p in _rule_problems(i, r)]
    if rule_problems:
        fields["__all__"] = fields.get("__all__", []) + rule_problems
    if fields:
        first = next(iter(fields.values()))[0]
        raise ValidationFailed(first, fields=fields)


def _write_rules(policy: AuthenticationPolicy, rules: list[dict[str, Any]]) -> None:
    policy.rules.all().delete()
    AuthenticationRule.objects.bulk_create(
        [
            AuthenticationRule(policy=policy, position=i, **{k: r.get(k) for k in RULE_FIELDS if k in r})
            for i, r in enumerate(rules)
        ]
    )


def _take_default(policy: AuthenticationPolicy, actor: Any, source: str) -> None:
    for other in (
        AuthenticationPolicy.objects.select_for_update().filter(is_default=True).exclude(pk=policy.pk)
    ):
        other.is_default = False
        other.save(update_fields=["is_default", "updated_at"])
        audit_record(
            actor=actor,
            action="authn.policy_updated",
            obj=other,
            old={"is_default": True},
            new={"is_default": False},
            source=source,
        )


@transaction.atomic
def policy_create(
    *, actor: Any, source: str, data: dict[str, Any], rules: list[dict[str, Any]]
) -> AuthenticationPolicy:
    """A new authentication policy with its ordered rules."""
    _validate(data, rules)
    policy = AuthenticationPolicy(**{k: data.get(k) for k in POLICY_FIELDS if k in data})
    policy.name = policy.name.strip()
    if policy.is_default:
        _take_default(policy, actor, source)
    policy.save()
    _write_rules(policy, rules)
    audit_record(actor=actor, action="authn.policy_created", obj=policy, new=_snapshot(policy), source=source)
    return policy


@transaction.atomic
def policy_update(
    *,
    actor: Any,
    source: str,
    policy: AuthenticationPolicy,
    data: dict[str, Any],
    rules: list[dict[str, Any]],
) -> AuthenticationPolicy:
    """Change a policy; its rules are replaced by ``rules`` in the given order."""
    policy = AuthenticationPolicy.objects.select_for_update().get(pk=policy.pk)
    _validate(data, rules, exclude_pk=policy.pk)
    old = _snapshot(policy)
    for k in POLICY_FIELDS:
        if k in data:
            setattr(policy, k, data[k])
    policy.name = policy.name.strip()
    if policy.is_default:
        _take_default(policy, actor, source)
    policy.save()
    _write_rules(policy, rules)
    new = _snapshot(policy)
    if new != old:
        audit_record(actor=actor, action="authn.policy_updated", obj=policy, old=old, new=new, source=source)
    return policy


@transaction.atomic
def policy_delete(*, actor: Any, source: str, policy: AuthenticationPolicy) -> None:
    policy = AuthenticationPolicy.objects.select_for_update().get(pk=policy.pk)
    old = _snapshot(policy)
    audit_record(actor=actor, action="authn.policy_deleted", obj=policy, old=old, source=source)
    policy.delete()


@transaction.atomic
def authn_records_purge(*, older_than_hours: int = 24) -> int:
    """Delete failed-attempt rows and one-time codes older than any context or code needs
    (recent-failure windows are minutes, codes expire in minutes); returns rows deleted."""

    cutoff = timezone.now() - timedelta(hours=older_than_hours)
    failures, _ = LoginFailure.objects.filter(at__lt=cutoff).delete()
    codes, _ = OneTimeCode.objects.filter(expires_at__lt=cutoff).delete()
    return failures + codes
