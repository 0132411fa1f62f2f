"""Which authentication policy applies to a user, and what its rules decide in a context."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

from authn.context import LoginContext, ip_in_networks, recent_failures
from authn.models import AuthenticationPolicy, AuthenticationRule, DeviceCondition, Factor, Outcome
from directory.selectors import user_value

USER_FIELDS = ("department", "employee_type", "job_title", "username", "status")


@dataclass
class Decision:
    """What the authenticator asks of a login: the policy and rule that decided, and either
    the factors in order or a denial."""

    allowed: bool
    factors: list[str] = field(default_factory=list)
    policy: AuthenticationPolicy | None = None
    rule: AuthenticationRule | None = None

    @property
    def policy_name(self) -> str:
        return self.policy.name if self.policy else "Built-in: password only"


def _attribute(user: Any, name: str) -> str:
    value = user_value(user, name, USER_FIELDS)
    return "" if value is None else str(value)


def policy_matches(policy: AuthenticationPolicy, user: Any) -> bool:
    if policy.is_default:
        return True
    if user is None:
        return False
    if policy.organization_id and user.organization_id != policy.organization_id:
        return False
    return not policy.attribute_name or _attribute(user, policy.attribute_name) == policy.attribute_value


def policy_for(user: Any) -> AuthenticationPolicy | None:
    """The first matching policy by priority, else the default one (None when none exists).
    An unknown user (``None``) always gets the default policy."""
    policies = list(AuthenticationPolicy.objects.prefetch_related("rules").order_by("priority", "name"))
    default = next((p for p in policies if p.is_default), None)
    for policy in policies:
        if not policy.is_default and policy_matches(policy, user):
            return policy
    return default


def _in_window(rule: AuthenticationRule, context: LoginContext) -> bool:
    local: time = context.at.astimezone(ZoneInfo(rule.timezone or "UTC")).time()
    start, end = rule.time_start, rule.time_end
    assert start is not None and end is not None  # rule_matches asks only rules with a window
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # a window across midnight (22:00–06:00)


def rule_matches(rule: AuthenticationRule, user: Any, context: LoginContext) -> bool:
    if rule.networks and not ip_in_networks(context.ip, rule.networks):
        return False
    if rule.time_start is not None and not _in_window(rule, context):
        return False
    if rule.device == DeviceCondition.KNOWN and not context.device_known:
        return False
    if rule.device == DeviceCondition.UNKNOWN and context.device_known:
        return False
    if rule.failures_at_least:
        count = recent_failures(user, rule.failures_minutes or 15, context.at)
        if count < rule.failures_at_least:
            return False
    return True


def decide(user: Any, context: LoginContext) -> Decision:
    """The policy's first matching rule decides; no matching rule denies; no policy at all
    means the built-in "password only"."""
    policy = policy_for(user)
    if policy is None:
        return Decision(allowed=True, factors=[Factor.PASSWORD.value])
    for rule in sorted(policy.rules.all(), key=lambda r: (r.position, r.pk)):
        if rule_matches(rule, user, context):
            if rule.outcome == Outcome.DENY:
                return Decision(allowed=False, policy=policy, rule=rule)
            return Decision(allowed=True, factors=list(rule.factors), policy=policy, rule=rule)
    return Decision(allowed=False, policy=policy)
