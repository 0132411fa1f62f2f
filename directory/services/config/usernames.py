"""The username policy: the patterns new users' usernames are made from (first the active
policy's first pattern, then the next when taken, then a numeric suffix)."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.changes import config_save
from blazon.errors import ValidationFailed
from directory.models import User, UsernamePolicy
from directory.selectors import username_policy_active
from directory.services.config.common import _changes, _check_keys, _clean_bool, _clean_text, _fail, _snapshot

USERNAME_PLACEHOLDERS = frozenset({"first", "last", "middle", "f", "l", "middle_initial"})
USERNAME_POLICY_FIELDS = ("name", "patterns", "lowercase", "max_length", "numeric_suffix", "max_suffix")


def username_patterns_validate(patterns: Any) -> list[str]:
    """A non-empty list of patterns, each using only the known placeholders."""
    if not isinstance(patterns, list) or not patterns:
        raise _fail("patterns", gettext('Give at least one pattern, e.g. ["{first}.{last}"].'))
    known = ", ".join("{" + p + "}" for p in sorted(USERNAME_PLACEHOLDERS))
    errors: dict[str, list[str]] = {}
    clean: list[str] = []
    for i, pattern in enumerate(patterns):
        key = f"patterns[{i}]"
        if not isinstance(pattern, str) or not pattern.strip():
            errors[key] = [gettext("Expected a non-empty text pattern.")]
            continue
        try:
            parts = list(string.Formatter().parse(pattern))
        except ValueError as exc:
            errors[key] = [gettext("Malformed pattern: %(exc)s.") % {"exc": exc}]
            continue
        names = [name for _, name, _, _ in parts if name is not None]
        bad = [n for n in names if n not in USERNAME_PLACEHOLDERS]
        specs = [
            f"{{{n}!{c}}}" if c else f"{{{n}:{s}}}" for _, n, s, c in parts if n is not None and (s or c)
        ]
        if bad:
            errors[key] = [
                gettext("Unknown placeholder(s) %(values)s; use %(known)s.")
                % {"values": ", ".join("{" + b + "}" for b in bad), "known": known}
            ]
        elif specs:
            errors[key] = [
                gettext("Format specifications are not allowed: %(specs)s.") % {"specs": ", ".join(specs)}
            ]
        elif not names:
            errors[key] = [
                gettext("A pattern needs at least one placeholder (%(known)s).") % {"known": known}
            ]
        else:
            clean.append(pattern.strip())
    if errors:
        raise ValidationFailed(gettext("Invalid username pattern(s)."), fields=errors)
    return clean


def _positive_int(value: Any, field: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(
            field, gettext("Expected a whole number from %(low)s to %(high)s.") % {"low": low, "high": high}
        )
    return int(value)


@transaction.atomic
def username_policy_update(*, actor: User | None, source: str, data: Mapping[str, Any]) -> UsernamePolicy:
    """Change the active username policy (created with the defaults the first time)."""
    _check_keys(data, USERNAME_POLICY_FIELDS)
    policy = UsernamePolicy.objects.select_for_update().filter(active=True).order_by("pk").first()
    created = policy is None
    if policy is None:
        policy = username_policy_active()
    before = {} if created else _snapshot(policy, USERNAME_POLICY_FIELDS)
    if "name" in data:
        policy.name = _clean_text(data["name"], "name", max_length=100)
    if "patterns" in data:
        policy.patterns = username_patterns_validate(data["patterns"])
    for flag in ("lowercase", "numeric_suffix"):
        if flag in data:
            setattr(policy, flag, _clean_bool(data[flag], flag))
    if "max_length" in data:
        policy.max_length = _positive_int(data["max_length"], "max_length", low=1, high=150)
    if "max_suffix" in data:
        policy.max_suffix = _positive_int(data["max_suffix"], "max_suffix", low=1, high=100000)
    old, new = _changes(before, _snapshot(policy, USERNAME_POLICY_FIELDS))
    if not new and not created:
        return policy
    config_save(policy)
    audit_record(
        actor=actor,
        action="username_policy.update",
        obj=policy,
        old=old or None,
        new=new if not created else _snapshot(policy, USERNAME_POLICY_FIELDS),
        source=source,
    )
    return policy
