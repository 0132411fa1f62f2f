"""Reconciliation profiles: create, change and delete them with their association rules,
situation actions and attribute mappings, each change audited through the config-write helper.
Settings that are secrets (an LDAP bind password, an SQL DSN, a REST token) go to the vault, the
profile keeps only their names and nothing shows them back."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.changes import config_create, config_delete, config_update, field_error
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from blazon.permissions import can
from directory.models import Resource, User
from reconciliation.cron import cron_parse
from reconciliation.expressions import ExpressionError, expression_check, template_fields
from reconciliation.models import (
    DEFAULT_ACTIONS,
    SITUATION_ACTIONS,
    AssociationRule,
    AttributeMapping,
    MappingMode,
    Operator,
    ProfileKind,
    ReconciliationProfile,
    ReconciliationRun,
    RuleTarget,
    RunStatus,
    SituationAction,
    SourceType,
)
from reconciliation.sources import csv_path
from vault.models import SecretKind
from vault.services import secret_delete, secret_reveal, secret_store, secret_update

PROFILE_FIELDS = (
    "code",
    "name",
    "description",
    "kind",
    "resource",
    "source_type",
    "source_settings",
    "key_field",
    "safety_share",
    "max_row_errors",
    "schedule",
    "active",
    "incremental",
)
#: The settings of each source that are secrets: kept in the vault, never shown back.
SECRET_SETTINGS: dict[str, tuple[str, ...]] = {
    SourceType.CSV: (),
    SourceType.LDAP: ("password",),
    SourceType.SQL: ("dsn",),
    SourceType.REST: ("auth_token",),
    SourceType.SCIM: (),
}
#: The kinds whose engine is built (entitlements and memberships: the models are ready).
BUILT_KINDS = (ProfileKind.USERS, ProfileKind.ACCOUNTS, ProfileKind.ENTITLEMENTS)
MAX_RULES_PER_TARGET = 3
MAX_SETTINGS_BYTES = 64 * 1024
USER_TARGETS = (
    "username", "first_name", "last_name", "display_name", "email", "organization", "manager",
    "job_title", "department", "employee_type", "start_date", "end_date",
)  # fmt: skip
USER_RULE_ATTRIBUTES = ("username", "email", "first_name", "last_name", "display_name", "department", "employee_type", "job_title")  # fmt: skip
ACCOUNT_RULE_ATTRIBUTES = ("identifier",)
ENTITLEMENT_RULE_ATTRIBUTES = ("identifier", "name")
ENTITLEMENT_TARGETS = ("name", "description")


def _admin(actor: Any) -> None:
    if not can(actor, "manage_config"):
        raise NotAllowed(_("Only an administrator may change reconciliation profiles."))


def _check_attribute(name: str, allowed: tuple[str, ...], where: str) -> None:
    if name.startswith("attributes.") and len(name) > len("attributes.") and " " not in name:
        return
    if name not in allowed:
        raise field_error(
            where,
            _("%(name)r is not one of %(value)s or attributes.<name>.")
            % {"name": name, "value": ", ".join(allowed)},
        )


def rules_clean(kind: str, rules: Any) -> list[dict[str, Any]]:
    if not isinstance(rules, list | tuple):
        raise field_error("rules", _("A list of rules."))
    out: list[dict[str, Any]] = []
    per_target: dict[str, int] = {}
    for number, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict):
            raise field_error(
                "rules",
                _("Rule %(number)s: an object with attribute, operator and value.") % {"number": number},
            )
        target = str(rule.get("target") or RuleTarget.OBJECT)
        if target not in RuleTarget.values or (kind == ProfileKind.USERS and target == RuleTarget.OWNER):
            raise field_error(
                "rules",
                _("Rule %(number)s: target %(target)r is not valid for this kind.")
                % {"number": number, "target": target},
            )
        attribute = str(rule.get("attribute") or "").strip()
        if target == RuleTarget.OWNER and kind != ProfileKind.ACCOUNTS:
            raise field_error(
                "rules", _("Rule %(number)s: only accounts have an owner.") % {"number": number}
            )
        allowed: tuple[str, ...]
        if kind == ProfileKind.ENTITLEMENTS:
            allowed = ENTITLEMENT_RULE_ATTRIBUTES
        elif kind == ProfileKind.USERS or target == RuleTarget.OWNER:
            allowed = USER_RULE_ATTRIBUTES
        else:
            allowed = ACCOUNT_RULE_ATTRIBUTES
        _check_attribute(attribute, allowed, "rules")
        operator = str(rule.get("operator") or Operator.EQUALS)
        if operator not in Operator.values:
            raise field_error(
                "rules",
                _("Rule %(number)s: operator is one of %(value)s.")
                % {"number": number, "value": ", ".join(Operator.values)},
            )
        value = str(rule.get("value") or "").strip()
        if not value:
            raise field_error(
                "rules",
                _("Rule %(number)s: the value is empty (fixed, {[field]} or mixed).") % {"number": number},
            )
        per_target[target] = per_target.get(target, 0) + 1
        if per_target[target] > MAX_RULES_PER_TARGET:
            raise field_error(
                "rules",
                _("At most %(MAX_RULES_PER_TARGET)s rules per side.")
                % {"MAX_RULES_PER_TARGET": MAX_RULES_PER_TARGET},
            )
        out.append({"target": target, "attribute": attribute, "operator": operator, "value": value[:500]})
    if not any(r["target"] == RuleTarget.OBJECT for r in out):
        raise field_error("rules", _("At least one rule that finds the object (target OBJECT)."))
    return out


def actions_clean(kind: str, actions: Any) -> dict[str, str]:
    allowed = SITUATION_ACTIONS.get(kind, {})
    if actions is None:
        actions = {}
    if not isinstance(actions, dict):
        raise field_error("actions", _("An object of situation → action."))
    out = dict(DEFAULT_ACTIONS.get(kind, {}))
    for situation, action in actions.items():
        if situation not in allowed:
            raise field_error(
                "actions",
                _("%(situation)r is not a situation of a %(lower)s profile.")
                % {"situation": situation, "lower": kind.lower()},
            )
        if action not in allowed[situation]:
            raise field_error(
                "actions",
                _("%(situation)s: the action is one of %(value)s.")
                % {"situation": situation, "value": ", ".join(str(a) for a in allowed[situation])},
            )
        out[situation] = str(action)
    return out


def mappings_clean(kind: str, mappings: Any) -> list[dict[str, Any]]:
    if not isinstance(mappings, list | tuple):
        raise field_error("mappings", _("A list of mappings."))
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, m in enumerate(mappings, start=1):
        if not isinstance(m, dict):
            raise field_error(
                "mappings",
                _("Mapping %(number)s: an object with target, mode and value.") % {"number": number},
            )
        target = str(m.get("target") or "").strip()
        if kind == ProfileKind.USERS:
            _check_attribute(target, USER_TARGETS, "mappings")
        elif kind == ProfileKind.ENTITLEMENTS:
            _check_attribute(target, ENTITLEMENT_TARGETS, "mappings")
        elif not target or " " in target:
            raise field_error(
                "mappings",
                _("Mapping %(number)s: the target is an account attribute's name.") % {"number": number},
            )
        if target in seen:
            raise field_error("mappings", _("%(target)s is mapped twice.") % {"target": target})
        seen.add(target)
        mode = str(m.get("mode") or MappingMode.FIELD)
        value = str(m.get("value") or "")
        if mode not in MappingMode.values:
            raise field_error(
                "mappings",
                _("Mapping %(number)s: mode is one of %(value)s.")
                % {"number": number, "value": ", ".join(MappingMode.values)},
            )
        fields = template_fields(value)
        if mode == MappingMode.STATIC and fields:
            raise field_error(
                "mappings", _("%(target)s: a static value has no {[field]}.") % {"target": target}
            )
        if mode == MappingMode.FIELD and (len(fields) != 1 or value.strip() != "{[" + fields[0] + "]}"):
            raise field_error(
                "mappings", _("%(target)s: a field mapping is exactly one {[field]}.") % {"target": target}
            )
        if mode == MappingMode.MIXED and not fields:
            raise field_error(
                "mappings", _("%(target)s: a mixed value has at least one {[field]}.") % {"target": target}
            )
        if mode == MappingMode.EXPRESSION:
            try:
                expression_check(value)
            except ExpressionError as exc:
                raise field_error(
                    "mappings", _("%(target)s: %(exc)s") % {"target": target, "exc": exc}
                ) from None
        out.append({"target": target, "mode": mode, "value": value})
    return out


def _clean(data: dict[str, Any], profile: ReconciliationProfile) -> None:
    for name in PROFILE_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if isinstance(value, str):
            value = value.strip()
        if name in ("code", "name", "key_field") and not value:
            raise field_error(name, _("Required."))
        if name == "kind" and value not in ProfileKind.values:
            raise field_error("kind", _("One of %(value)s.") % {"value": ", ".join(ProfileKind.values)})
        if name == "kind" and value not in BUILT_KINDS:
            raise field_error("kind", _("Entitlement memberships profiles cannot run yet."))
        if name == "source_type" and value not in SourceType.values:
            raise field_error("source_type", _("One of %(value)s.") % {"value": ", ".join(SourceType.values)})
        if name == "resource" and value is not None and not isinstance(value, Resource):
            raise field_error("resource", _("A resource."))
        if name == "source_settings":
            if not isinstance(value, dict):
                raise field_error("source_settings", _("A JSON object of setting names and values."))
            if len(json.dumps(value)) > MAX_SETTINGS_BYTES:
                raise field_error("source_settings", _("Too large (64 KiB at most)."))
        if name == "safety_share":
            try:
                value = Decimal(str(value))
            except InvalidOperation:
                raise field_error("safety_share", _("A percentage between 0 and 100.")) from None
            if not Decimal(0) <= value <= Decimal(100):
                raise field_error("safety_share", _("A percentage between 0 and 100."))
        if name == "max_row_errors" and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise field_error("max_row_errors", _("A whole number, 0 or more."))
        if name == "schedule" and value:
            try:
                cron_parse(value)
            except ValueError as exc:
                raise field_error("schedule", str(exc)) from None
        setattr(profile, name, value)
    if profile.kind == ProfileKind.USERS and profile.resource_id is not None:
        raise field_error("resource", _("A users profile reads an identity source, not a resource."))
    if profile.kind != ProfileKind.USERS and profile.resource_id is None:
        raise field_error("resource", _("An accounts or entitlements profile reads one resource: choose it."))
    secret_names = SECRET_SETTINGS.get(profile.source_type, ())
    in_clear = sorted(k for k in profile.source_settings if k in secret_names)
    if in_clear:
        raise field_error(
            "source_settings",
            _("%(value)s: a secret belongs in the secret settings.") % {"value": ", ".join(in_clear)},
        )
    if profile.source_type == SourceType.CSV:
        try:
            csv_path(profile.source_settings.get("file"))
        except ValueError as exc:
            raise field_error("source_settings", str(exc)) from None


def profile_secrets(profile: ReconciliationProfile) -> dict[str, str]:
    """The profile's secret settings, from the vault (an audited reveal)."""
    if profile.secret is None:
        return {}
    values: dict[str, str] = json.loads(
        secret_reveal(actor=None, source="reconciliation", secret=profile.secret)
    )
    return values


def _secrets_write(
    *, actor: Any, source: str, profile: ReconciliationProfile, given: Any, clear: Any
) -> None:
    if given is None and not clear:
        return
    if given is not None and (
        not isinstance(given, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in given.items())
    ):
        raise field_error("secret_settings", _("A JSON object of setting names and text values."))
    names = SECRET_SETTINGS.get(profile.source_type, ())
    unknown = sorted(k for k in (given or {}) if k not in names)
    if unknown:
        raise field_error(
            "secret_settings",
            _("%(value)s: not a secret setting of this source (%(value2)s).")
            % {"value": ", ".join(unknown), "value2": ", ".join(names) or "none"},
        )
    stored = profile_secrets(profile)
    now = {k: v for k, v in stored.items() if k not in set(clear or []) and k in names}
    now.update({k: v for k, v in (given or {}).items() if v != ""})
    if now == stored:
        return
    if profile.secret is None:
        profile.secret = secret_store(
            actor=actor,
            source=source,
            owner=None,
            kind=SecretKind.APPLICATION_CREDENTIAL,
            name=f"reconciliation profile {profile.code}"[:200],
            value=json.dumps(now),
        )
    else:
        secret_update(actor=actor, source=source, secret=profile.secret, value=json.dumps(now))
    profile.secret_keys = sorted(now)
    profile.save(update_fields=["secret", "secret_keys"])
    audit_record(
        actor=actor,
        action="reconciliation_profile.secrets_set",
        obj=profile,
        new={"vault_held_settings": profile.secret_keys},
        source=source,
    )


def profile_parts(profile: ReconciliationProfile) -> dict[str, Any]:
    """Rules, actions and mappings as plain data (what the audit log and the API show)."""
    return {
        "rules": [
            {"target": r.target, "attribute": r.attribute, "operator": r.operator, "value": r.value}
            for r in profile.rules.all()
        ],
        "actions": {a.situation: a.action for a in profile.actions.all()},
        "mappings": [{"target": m.target, "mode": m.mode, "value": m.value} for m in profile.mappings.all()],
    }


def _parts_write(
    *,
    actor: Any,
    source: str,
    profile: ReconciliationProfile,
    rules: Any,
    actions: Any,
    mappings: Any,
    new: bool,
) -> None:
    before = profile_parts(profile) if not new else {"rules": [], "actions": {}, "mappings": []}
    if rules is not None:
        cleaned = rules_clean(profile.kind, rules)
        profile.rules.all().delete()
        AssociationRule.objects.bulk_create(
            AssociationRule(profile=profile, position=i, **r) for i, r in enumerate(cleaned, start=1)
        )
    if actions is not None or new:
        chosen = actions_clean(profile.kind, actions)
        profile.actions.all().delete()
        SituationAction.objects.bulk_create(
            SituationAction(profile=profile, situation=s, action=a) for s, a in chosen.items()
        )
    if mappings is not None:
        maps = mappings_clean(profile.kind, mappings)
        profile.mappings.all().delete()
        AttributeMapping.objects.bulk_create(
            AttributeMapping(profile=profile, position=i, **m) for i, m in enumerate(maps, start=1)
        )
    after = profile_parts(profile)
    changed = {k: after[k] for k in after if after[k] != before[k]}
    if changed:
        audit_record(
            actor=actor,
            action="reconciliation_profile.parts_set",
            obj=profile,
            old={k: before[k] for k in changed},
            new=changed,
            source=source,
        )


@transaction.atomic
def profile_create(
    *,
    actor: Any,
    source: str,
    rules: Any = None,
    actions: Any = None,
    mappings: Any = None,
    secret_settings: Any = None,
    **data: Any,
) -> ReconciliationProfile:
    """Create a profile with its rules, actions (defaults for the situations not given) and
    mappings; audited as ``reconciliation_profile.create``."""
    _admin(actor)
    profile = ReconciliationProfile(source_settings={})
    _clean({"key_field": "identifier", "active": True, **data}, profile)
    if rules is None:
        raise field_error("rules", _("At least one association rule."))
    rules_clean(profile.kind, rules)
    config_create(
        profile,
        fields=PROFILE_FIELDS,
        actor=actor,
        source=source,
        action="reconciliation_profile.create",
        conflict="A reconciliation profile with this code already exists.",
        conflict_field="code",
        validate=True,
    )
    _parts_write(
        actor=actor,
        source=source,
        profile=profile,
        rules=rules,
        actions=actions,
        mappings=mappings or [],
        new=True,
    )
    _secrets_write(actor=actor, source=source, profile=profile, given=secret_settings, clear=None)
    return profile


@transaction.atomic
def profile_update(
    *, actor: Any, source: str, profile: ReconciliationProfile, data: dict[str, Any]
) -> ReconciliationProfile:
    """Change a profile's fields and, when given, replace its rules, actions or mappings whole;
    ``secret_settings`` given empty keep what the vault holds, ``clear_secrets`` forgets some."""
    _admin(actor)
    data = dict(data)
    parts = {k: data.pop(k, None) for k in ("rules", "actions", "mappings")}
    secrets, clear = data.pop("secret_settings", None), data.pop("clear_secrets", None)
    if "kind" in data and data["kind"] != profile.kind:
        raise field_error("kind", _("A profile's kind cannot change: create another profile."))
    with config_update(
        ReconciliationProfile,
        profile.pk,
        fields=PROFILE_FIELDS,
        actor=actor,
        source=source,
        action="reconciliation_profile.update",
        conflict="A reconciliation profile with this code already exists.",
        conflict_field="code",
        validate=True,
    ) as change:
        _clean(data, change.obj)
    obj: ReconciliationProfile = change.obj
    _parts_write(actor=actor, source=source, profile=obj, new=False, **parts)
    _secrets_write(actor=actor, source=source, profile=obj, given=secrets, clear=clear)
    return obj


@transaction.atomic
def profile_delete(*, actor: Any, source: str, profile: ReconciliationProfile) -> None:
    """Delete a profile, its runs and cases (the audit log keeps them); refused while a run is
    under way. Its vault secret goes with it."""
    _admin(actor)
    obj = ReconciliationProfile.objects.select_for_update().get(pk=profile.pk)
    busy = ReconciliationRun.objects.filter(
        profile=obj, status__in=(RunStatus.RUNNING, RunStatus.APPLYING)
    ).first()
    if busy is not None:
        raise Conflict(
            _("Run #%(id)s of this profile is under way: wait for it to finish.") % {"id": busy.pk}
        )
    secret = obj.secret
    extra = profile_parts(obj)
    config_delete(
        obj,
        fields=PROFILE_FIELDS,
        actor=actor,
        source=source,
        action="reconciliation_profile.delete",
        extra=extra,
    )
    if secret is not None:
        secret_delete(actor=actor, source=source, secret=secret)


def actor_or_none(user: Any) -> User | None:
    return user if isinstance(user, User) else None


__all__ = ["ValidationFailed", "profile_create", "profile_delete", "profile_update"]
