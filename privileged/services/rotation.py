"""Rotation policies: when privileged passwords change besides the end of an access — by age
(every N days), after each check-out, and when a member of a shared account leaves. A rotation is
the vault's (``account_password_rotate``: a new random value, a CHANGE_PASSWORD provisioning entry
for the resource, audited)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon.changes import config_create, config_delete, config_update
from blazon.errors import ValidationFailed
from directory.models import (
    Account,
    AccountStatus,
    AccountType,
    DirectoryEvent,
    DirectoryEventKind,
    DirectoryEventStatus,
    User,
)
from directory.services.lifecycle.events import directory_event_resolve
from privileged.models import CREDENTIAL_TYPES, AccessRequest, AccessStatus, RotationPolicy
from privileged.services.flow import end_for_leaver
from privileged.services.policies import policies_for
from vault.models import CheckoutStatus, Secret, SecretKind
from vault.services import account_password_rotate

POLICY_FIELDS = (
    "name",
    "active",
    "resource",
    "account_type",
    "every_days",
    "after_checkout",
    "on_member_leave",
)
MAX_DAYS = 3650


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def _validate(data: dict[str, Any]) -> None:
    if not str(data.get("name") or "").strip():
        raise _fail("name", _("A name is required."))
    kind = data.get("account_type")
    if kind not in CREDENTIAL_TYPES:
        raise _fail(
            "account_type",
            _("The account type is one of %(value)s.") % {"value": ", ".join(CREDENTIAL_TYPES)},
        )
    days = data.get("every_days")
    if days is not None and (
        not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS
    ):
        raise _fail(
            "every_days",
            _("Rotate every 1 to %(MAX_DAYS)s days, or leave it empty.") % {"MAX_DAYS": MAX_DAYS},
        )
    if data.get("on_member_leave") and kind != AccountType.SHARED:
        raise _fail("on_member_leave", _("Only shared accounts have members who leave."))
    if data.get("after_checkout") and kind == AccountType.SHARED:
        raise _fail("after_checkout", _("Shared accounts are not checked out."))
    if days is None and not data.get("after_checkout") and not data.get("on_member_leave"):
        raise _fail(
            "every_days", _("Say when to rotate: every N days, after each check-out or when a member leaves.")
        )


_CONFLICT = "A rotation policy with this name already exists."


@transaction.atomic
def rotation_policy_create(*, actor: Any, source: str, **data: Any) -> RotationPolicy:
    """A new rotation policy (audited)."""
    _validate(data)
    policy = RotationPolicy(**{k: data[k] for k in POLICY_FIELDS if k in data})
    return config_create(
        policy,
        fields=POLICY_FIELDS,
        actor=actor,
        source=source,
        action="privileged.rotation_policy.created",
        conflict=_CONFLICT,
        conflict_field="name",
        validate=True,
    )


@transaction.atomic
def rotation_policy_update(
    *, actor: Any, source: str, policy: RotationPolicy, data: dict[str, Any]
) -> RotationPolicy:
    """Change a rotation policy (fields left out stay)."""
    merged = {
        **{k: getattr(policy, k) for k in POLICY_FIELDS},
        **{k: v for k, v in data.items() if k in POLICY_FIELDS},
    }
    _validate(merged)
    with config_update(
        RotationPolicy,
        policy.pk,
        fields=POLICY_FIELDS,
        actor=actor,
        source=source,
        action="privileged.rotation_policy.updated",
        conflict=_CONFLICT,
        conflict_field="name",
        validate=True,
    ) as change:
        for key in POLICY_FIELDS:
            setattr(change.obj, key, merged[key])
    return change.obj


@transaction.atomic
def rotation_policy_delete(*, actor: Any, source: str, policy: RotationPolicy) -> None:
    locked = RotationPolicy.objects.select_for_update().get(pk=policy.pk)
    config_delete(
        locked, fields=POLICY_FIELDS, actor=actor, source=source, action="privileged.rotation_policy.deleted"
    )


def _policy_q(policy: RotationPolicy, prefix: str = "") -> Q:
    q = Q(**{f"{prefix}account_type": policy.account_type})
    if policy.resource_id is not None:
        q &= Q(**{f"{prefix}resource_id": policy.resource_id})
    return q


def secrets_due(now: datetime) -> QuerySet[Secret]:
    """Account passwords older than an active policy's age, one query: their last change (or
    creation) before ``now`` minus the policy's days; active accounts only, none held by anyone
    at the moment (rotating under a holder's feet would lock them out)."""
    due = Q()
    for policy in RotationPolicy.objects.filter(active=True, every_days__isnull=False):
        assert policy.every_days is not None
        due |= _policy_q(policy, "account__") & Q(last__lt=now - timedelta(days=policy.every_days))
    if not due:
        return Secret.objects.none()
    return (
        Secret.objects.filter(kind=SecretKind.ACCOUNT_PASSWORD, account__status=AccountStatus.ACTIVE)
        .annotate(last=Coalesce(F("rotated_at"), F("created_at")))
        .filter(due)
        .exclude(account__checkouts__status=CheckoutStatus.ACTIVE)
        .order_by("last")
    )


def rotations_run(*, now: datetime | None = None, limit: int = 500) -> int:
    """Rotate every password its policy says is too old (the periodic task). One transaction per
    account; idempotent: a rotated password is young again. Returns how many were rotated."""
    now = now or timezone.now()
    done = 0
    for account_id in list(secrets_due(now).values_list("account_id", flat=True)[:limit]):
        with transaction.atomic():
            account = Account.objects.select_for_update().select_related("resource").get(pk=account_id)
            result = account_password_rotate(
                actor=None,
                source="automatic",
                account=account,
                reason="rotation policy: the password reached its age",
            )
            done += int(bool(result.get("rotated")))
    return done


def user_left(*, actor: User | None, source: str, user: User, reason: str) -> int:
    """A user leaves (inactivated, revoked, removed; the directory's ``user_leaving`` port): their
    live access requests end (revoked; the vault already took its check-outs back), and each shared
    account they were just removed from is rotated when a policy says so, its rotation alert
    resolved. Returns how many things it did."""
    done = 0
    for req in AccessRequest.objects.filter(
        requester=user, status__in=[AccessStatus.PENDING, AccessStatus.APPROVED]
    ):
        end_for_leaver(actor=actor, source=source, request=req, why=reason)
        done += 1
    alerts = DirectoryEvent.objects.filter(
        user=user,
        status=DirectoryEventStatus.OPEN,
        kind=DirectoryEventKind.SHARED_MEMBER_REMOVED,
        object_type="directory.Account",
    )
    for event in alerts:
        account = Account.objects.select_related("resource").filter(pk=int(event.object_id)).first()
        if account is None or not policies_for(account, on_member_leave=True):
            continue
        result = account_password_rotate(
            actor=actor,
            source=source,
            account=account,
            reason=f"rotation policy: a member left ({user.username})",
        )
        if result.get("rotated"):
            directory_event_resolve(
                actor=None,
                source="automatic",
                event=event,
                decision="DONE",
                note="Rotated by a rotation policy.",
            )
            done += 1
    return done
