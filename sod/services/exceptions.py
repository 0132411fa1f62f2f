"""SoD exceptions: a rule owner accepts, until a date and for a reason, that one user holds two
sides of a rule. Granted when an SoD task is approved (a request's conflict or a detected
violation); revoked by an administrator. An expired or revoked exception covers nothing: the
next scan finds the violation again and opens a task."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.errors import TransitionNotAllowed, ValidationFailed
from directory.models import User
from sod.models import SoDException, SoDRule


def exception_input_check(*, reason: str, expires_at: datetime | None) -> tuple[str, datetime]:
    """The reason and expiry an exception needs, checked (a clear error names what is wrong)."""
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = ["An SoD exception needs a reason."]
    max_days = int(getattr(settings, "BLAZON_SOD_EXCEPTION_MAX_DAYS", 365))
    if expires_at is None:
        errors["expires_at"] = ["An SoD exception needs an expiry date."]
    elif expires_at <= timezone.now():
        errors["expires_at"] = ["The expiry must be in the future."]
    elif expires_at > timezone.now() + timedelta(days=max_days):
        errors["expires_at"] = [f"An SoD exception lasts at most {max_days} days."]
    if errors:
        raise ValidationFailed(" ".join(m for ms in errors.values() for m in ms), fields=errors)
    assert expires_at is not None
    return reason, expires_at


def sod_exception_grant(
    *,
    actor: Any,
    source: str,
    rule: SoDRule,
    user: User,
    reason: str,
    expires_at: datetime | None,
    request: Any = None,
) -> SoDException:
    """Accept that ``user`` holds two sides of ``rule`` until ``expires_at``; audited."""
    reason, expires = exception_input_check(reason=reason, expires_at=expires_at)
    exc = SoDException.objects.create(
        rule=rule, user=user, reason=reason, expires_at=expires, granted_by=actor, request=request
    )
    audit_record(
        actor=actor,
        action="sod_exception.grant",
        obj=exc,
        new={
            "rule": rule.code,
            "user": user.username,
            "reason": reason,
            "expires_at": expires,
            "request": getattr(request, "pk", None),
        },
        source=source,
        subject_user_id=user.pk,
    )
    return exc


@transaction.atomic
def sod_exception_revoke(
    *, actor: Any, source: str, exception: SoDException, reason: str = ""
) -> SoDException:
    """End an exception now: the next scan reports the violation again."""
    exc = SoDException.objects.select_for_update().get(pk=exception.pk)
    if exc.revoked_at is not None:
        raise TransitionNotAllowed(_("Exception #%(id)s is already revoked.") % {"id": exc.pk})
    exc.revoked_at, exc.revoked_by = timezone.now(), actor
    exc.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(
        actor=actor,
        action="sod_exception.revoke",
        obj=exc,
        old={"revoked_at": None},
        new={"revoked_at": exc.revoked_at, "reason": (reason or "").strip()},
        source=source,
        subject_user_id=exc.user_id,
    )
    return exc
