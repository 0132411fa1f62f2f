"""Certification policies: create, change, delete, each through the config-write helper
(``blazon.changes``: lock, snapshot, save, diff, audit)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from blazon.changes import config_create, config_delete, config_update, field_error
from blazon.errors import Conflict
from certification.models import (
    MONITORABLE_FIELDS,
    CampaignStatus,
    CertificationPolicy,
    PolicyTrigger,
    ReviewerKind,
    UndecidedAction,
)
from directory.models import (
    AttributeDefinition,
    AttributeScope,
    Criticality,
    Entitlement,
    Organization,
    Resource,
    Role,
    User,
)
from worklist.models import Queue

POLICY_FIELDS = (
    "code",
    "name",
    "description",
    "active",
    "include_accounts",
    "include_entitlements",
    "include_roles",
    "criticalities",
    "resource",
    "entitlement",
    "role",
    "organization",
    "reviewer_kind",
    "reviewer_user",
    "reviewer_queue",
    "fallback_reviewer",
    "trigger",
    "monitored_attributes",
    "period_days",
    "duration_days",
    "undecided_action",
    "next_run_at",
)

_TYPES: dict[str, type[Any]] = {
    "resource": Resource,
    "entitlement": Entitlement,
    "role": Role,
    "organization": Organization,
    "reviewer_user": User,
    "reviewer_queue": Queue,
    "fallback_reviewer": User,
}


def _apply(policy: CertificationPolicy, data: dict[str, Any]) -> None:
    for name in POLICY_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name in ("code", "name") and not str(value or "").strip():
            raise field_error(name, _("Required."))
        if name in _TYPES and value is not None and not isinstance(value, _TYPES[name]):
            raise field_error(name, _("A %(value)s.") % {"value": _TYPES[name].__name__.lower()})
        if name == "criticalities":
            value = list(dict.fromkeys(value or []))
            bad = [v for v in value if v not in Criticality.values]
            if bad:
                raise field_error(
                    name,
                    _("Unknown criticality %(value)r; one of %(value2)s.")
                    % {"value": bad[0], "value2": ", ".join(Criticality.values)},
                )
        if name == "reviewer_kind" and value not in ReviewerKind.values:
            raise field_error(name, _("One of %(value)s.") % {"value": ", ".join(ReviewerKind.values)})
        if name == "trigger" and value not in PolicyTrigger.values:
            raise field_error(name, _("One of %(value)s.") % {"value": ", ".join(PolicyTrigger.values)})
        if name == "monitored_attributes":
            value = _monitored(value)
        if name == "undecided_action" and value not in UndecidedAction.values:
            raise field_error(name, _("One of %(value)s.") % {"value": ", ".join(UndecidedAction.values)})
        if name in ("period_days", "duration_days") and (not isinstance(value, int) or value < 1):
            raise field_error(name, _("A whole number of days, at least 1."))
        setattr(policy, name, value.strip() if isinstance(value, str) else value)
    _check(policy)


def monitorable() -> dict[str, str]:
    """What an attribute-change policy can watch: name -> label (standard fields, then the
    administrator-defined user attributes as ``attributes.<name>``)."""
    out = {name: str(label) for name, label in MONITORABLE_FIELDS.items()}
    for name, label in AttributeDefinition.objects.filter(scope=AttributeScope.USER).values_list(
        "name", "label"
    ):
        out[f"attributes.{name}"] = label or name
    return out


def _monitored(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise field_error("monitored_attributes", _("A list of attribute names."))
    known = monitorable()
    bad = [v for v in value if v not in known]
    if bad:
        raise field_error(
            "monitored_attributes",
            _("Unknown attribute %(name)r; one of %(known)s.")
            % {"name": bad[0], "known": ", ".join(sorted(known))},
        )
    return list(dict.fromkeys(value))


def _check(policy: CertificationPolicy) -> None:
    """The rules a policy as a whole obeys (clear messages, on the field to fix)."""
    if not (policy.include_accounts or policy.include_entitlements or policy.include_roles):
        raise field_error("include_accounts", _("Certify at least one kind of access."))
    if policy.reviewer_kind == ReviewerKind.USER and policy.reviewer_user_id is None:
        raise field_error("reviewer_user", _("Name the user who reviews."))
    if policy.reviewer_kind == ReviewerKind.QUEUE and policy.reviewer_queue_id is None:
        raise field_error("reviewer_queue", _("Name the queue that reviews."))
    if policy.trigger == PolicyTrigger.ATTRIBUTE_CHANGE and not policy.monitored_attributes:
        raise field_error(
            "monitored_attributes", _("Name the user attribute(s) whose change starts a review.")
        )
    if policy.trigger == PolicyTrigger.PERIODIC and policy.duration_days > policy.period_days:
        raise field_error(
            "duration_days", _("A campaign cannot last longer than the period between two campaigns.")
        )
    if policy.entitlement_id is not None and policy.resource_id is not None:
        if policy.entitlement is not None and policy.entitlement.resource_id != policy.resource_id:
            raise field_error("entitlement", _("The entitlement is not one of the resource's."))


@transaction.atomic
def certification_policy_create(*, actor: Any, source: str, **data: Any) -> CertificationPolicy:
    """Create a certification policy; audited as ``certification_policy.create``."""
    policy = CertificationPolicy()
    _apply(policy, data)
    return config_create(
        policy,
        fields=POLICY_FIELDS,
        actor=actor,
        source=source,
        action="certification_policy.create",
        conflict="A certification policy with this code already exists.",
        conflict_field="code",
        validate=True,
    )


@transaction.atomic
def certification_policy_update(
    *, actor: Any, source: str, policy: CertificationPolicy, data: dict[str, Any]
) -> CertificationPolicy:
    """Change a policy's fields (those left out stay); audited with what changed. Campaigns
    already started keep the selection and reviewers they started with."""
    with config_update(
        CertificationPolicy,
        policy.pk,
        fields=POLICY_FIELDS,
        actor=actor,
        source=source,
        action="certification_policy.update",
        conflict="A certification policy with this code already exists.",
        conflict_field="code",
        validate=True,
    ) as change:
        _apply(change.obj, data)
    return change.obj


@transaction.atomic
def certification_policy_delete(*, actor: Any, source: str, policy: CertificationPolicy) -> None:
    """Delete a policy that has no running campaign (its finished campaigns stay, without it)."""
    obj = CertificationPolicy.objects.select_for_update().get(pk=policy.pk)
    if obj.campaigns.filter(status=CampaignStatus.RUNNING).exists():
        raise Conflict(_("%(name)s has a running campaign: finish or cancel it first.") % {"name": obj.name})
    config_delete(obj, fields=POLICY_FIELDS, actor=actor, source=source, action="certification_policy.delete")
