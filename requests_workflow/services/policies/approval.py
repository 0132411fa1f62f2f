"""Approval policies: create, change, switch on or off, delete (not while requests run under them)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict
from directory.models import Criticality, User
from requests_workflow.models import ApprovalPolicy
from requests_workflow.services.policies.common import (
    _common,
    _in_flight,
    _policy_create,
    _policy_update,
    _raise,
    _require_config,
    _set_active,
    _snapshot,
)

APPROVAL_FIELDS = (
    "name",
    "active",
    "priority",
    "request_types",
    "resource",
    "entitlement",
    "role",
    "criticality",
    "beneficiary_conditions",
)


def _approval_data(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out = _common(data, errors)
    criticality = data.get("criticality") or ""
    if criticality and criticality not in Criticality.values:
        errors["criticality"] = [
            gettext("One of %(values)s, or empty for any.") % {"values": ", ".join(Criticality.values)}
        ]
    out["criticality"] = criticality
    conditions = data.get("beneficiary_conditions") or {}
    if not isinstance(conditions, dict):
        errors["beneficiary_conditions"] = [
            gettext('An object of attribute → value, e.g. {"department": "Finance"}.')
        ]
    else:
        bad = [k for k, v in conditions.items() if not str(k).strip() or isinstance(v, dict | list)]
        if bad:
            errors["beneficiary_conditions"] = [
                gettext("Each condition is an attribute name and one value; check %(value)s.")
                % {"value": ", ".join(map(str, bad)) or "the empty name"}
            ]
    out["beneficiary_conditions"] = conditions
    _raise(errors)
    return out


@transaction.atomic
def approval_policy_create(*, actor: User | None, source: str, **data: Any) -> ApprovalPolicy:
    """A new approval policy (no levels yet: matching requests are approved at once until one is
    added, so it is usually created inactive or its levels added straight after)."""
    saved: ApprovalPolicy = _policy_create(
        ApprovalPolicy, _approval_data, APPROVAL_FIELDS, "approval_policy", actor, source, data
    )
    return saved


@transaction.atomic
def approval_policy_update(
    *, actor: User | None, source: str, policy: ApprovalPolicy, data: dict[str, Any]
) -> ApprovalPolicy:
    """Change what an approval policy matches. Requests already past the match keep their policy."""
    saved: ApprovalPolicy = _policy_update(
        ApprovalPolicy, _approval_data, APPROVAL_FIELDS, "approval_policy", actor, source, policy, data
    )
    return saved


@transaction.atomic
def approval_policy_set_active(
    *, actor: User | None, source: str, policy: ApprovalPolicy, active: bool
) -> ApprovalPolicy:
    """Switch a policy on or off. Off: new requests no longer match it; requests already under it
    finish their approval with it."""
    return _set_active(
        ApprovalPolicy,
        "approval_policy",
        actor=actor,
        source=source,
        pk=policy.pk,
        active=active,
        fields=["active"],
    )


@transaction.atomic
def approval_policy_delete(*, actor: User | None, source: str, policy: ApprovalPolicy) -> None:
    """Delete a policy no request is in flight under; finished requests keep their history (the
    audit log names the policy) and lose the link."""
    _require_config(actor)
    locked = ApprovalPolicy.objects.select_for_update().get(pk=policy.pk)
    pending = _in_flight(locked)
    if pending:
        raise Conflict(
            gettext(
                "%(pending)s request(s) in flight were matched by %(name)r: it cannot be deleted while they run. Deactivate it instead; new requests will no longer use it."
            )
            % {"pending": pending, "name": locked.name},
            code="policy_in_use",
        )
    snapshot = _snapshot(locked, APPROVAL_FIELDS)
    snapshot["levels"] = [
        {"position": lv.position, "mode": lv.mode, "approver_kind": lv.approver_kind}
        for lv in locked.levels.order_by("position")
    ]
    pk, repr_ = locked.pk, str(locked)
    locked.delete()
    audit_record(
        actor=actor,
        action="approval_policy.delete",
        object_type=ApprovalPolicy._meta.label,
        object_id=pk,
        object_repr=repr_,
        old=snapshot,
        source=source,
    )
