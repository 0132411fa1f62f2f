"""Reading password policies: which policy applies to a user, and whether their password has
expired or must be changed. Used by the services, the middleware and the views."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.utils import timezone
from django.utils.translation import gettext

from directory.models import Organization
from directory.selectors import user_value
from passwords.models import AssignedPolicy, PasswordChangePolicy, PasswordPolicy, PasswordState

P = TypeVar("P", bound=AssignedPolicy)

#: User fields a policy may match on, besides administrator-defined attributes.
STANDARD_ATTRIBUTES = ("department", "employee_type", "job_title", "username")


def _organization_ids(user: Any) -> set[int]:
    """The user's organization and its ancestors (a policy for a company covers its departments)."""

    ids: set[int] = set()
    org_id = getattr(user, "organization_id", None)
    while org_id is not None and org_id not in ids:
        ids.add(org_id)
        org_id = Organization.objects.filter(pk=org_id).values_list("parent_id", flat=True).first()
    return ids


def _attribute(user: Any, name: str) -> str:
    value = user_value(user, name, STANDARD_ATTRIBUTES)
    return "" if value is None else str(value)


def _matches(policy: AssignedPolicy, user: Any, org_ids: set[int] | None) -> bool:
    if policy.organization_id is not None and policy.organization_id not in (org_ids or set()):
        return False
    if policy.attribute_name:
        return _attribute(user, policy.attribute_name).casefold() == policy.attribute_value.casefold()
    return True


def _assigned(model: type[P], user: Any) -> P:
    policies = list(model._default_manager.order_by("priority", "name"))
    specific = [p for p in policies if not p.is_default and (p.organization_id or p.attribute_name)]
    org_ids = _organization_ids(user) if any(p.organization_id for p in specific) else None
    for policy in specific:
        if _matches(policy, user, org_ids):
            return policy
    default = next((p for p in policies if p.is_default), None)
    # no default row configured: the model's own defaults (what docs/passwords.md documents)
    return default if default is not None else model(name=gettext("Built-in default"), is_default=True)


def policy_for(user: Any) -> PasswordPolicy:
    """The password policy that applies to ``user``."""
    return _assigned(PasswordPolicy, user)


def change_policy_for(user: Any) -> PasswordChangePolicy:
    """The password-change policy that applies to ``user``."""
    return _assigned(PasswordChangePolicy, user)


def password_state(user: Any) -> PasswordState | None:
    if getattr(user, "pk", None) is None:
        return None
    return PasswordState.objects.filter(user_id=user.pk).first()


def password_expires_at(user: Any, *, policy: PasswordPolicy | None = None) -> datetime | None:
    """When the user's password expires under their policy (None: never, or no password)."""
    policy = policy or policy_for(user)
    if not policy.max_age_days or not user.has_usable_password():
        return None
    state = password_state(user)
    # the clock starts at the first change Blazon records (see docs/passwords.md)
    if state is None:
        return None
    return state.changed_at + timedelta(days=policy.max_age_days)


def password_expired(user: Any) -> bool:
    """True when the user's password is past its policy's maximum age."""
    expires = password_expires_at(user)
    return expires is not None and expires <= timezone.now()


def password_must_change(user: Any) -> bool:
    """True when the user must change their password now: a temporary one, or an expired one."""
    state = password_state(user)
    if state is not None and state.must_change:
        return True
    return password_expired(user)
