"""Out of office: delegating one's tasks for a period (issue #3, section 6).

A ``Delegation`` lets the delegate resolve the tasks assigned to the delegator from ``start_at``
to ``end_at``, on the delegator's behalf (see ``requests_workflow.selectors`` for who may decide
what). The rules an administrator expects:

* a user delegates their own tasks; an administrator or help desk (``manage_users``) may set a
  delegation for anyone (someone fell ill);
* the delegate is someone else, ACTIVE, able to sign in;
* a period that ends after it starts, in the future, at most ``DELEGATION_MAX_DAYS`` long (a
  start in the past means now);
* one delegation at a time per delegator: overlapping periods are refused;
* no loops or chains: the delegate may not be out of office themselves during the period (A→B
  while B→A, or A→B while B→C), and someone covering for a colleague may not hand that over in
  turn (X→A while A→B) — the colleague's tasks would end up with nobody present.

Create and revoke lock both users' rows (in id order) before checking, so two concurrent
delegations cannot build a loop or an overlap between them. Each writes an audit event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, NotAllowed, TransitionNotAllowed, ValidationFailed
from blazon.permissions import can
from directory.models import User, UserStatus
from requests_workflow.models import DELEGATION_MAX_DAYS, Delegation, DelegationScope


def _fmt(value: datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def _overlapping(qs: QuerySet[Delegation], start: datetime, end: datetime) -> QuerySet[Delegation]:
    return qs.filter(revoked_at__isnull=True, start_at__lt=end, end_at__gt=start)


def _audit_values(d: Delegation) -> dict[str, Any]:
    return {
        "delegator": d.delegator.username,
        "delegate": d.delegate.username,
        "start_at": d.start_at,
        "end_at": d.end_at,
        "scope": d.scope,
        "reason": d.reason,
    }


@transaction.atomic
def delegation_create(
    *,
    actor: User,
    source: str,
    delegator: User,
    delegate: User,
    end_at: datetime | None,
    start_at: datetime | None = None,
    scope: str = DelegationScope.ALL,
    reason: str = "",
) -> Delegation:
    """Delegate ``delegator``'s tasks to ``delegate`` from ``start_at`` (now when empty or past)
    to ``end_at``. Refused with nothing written when a rule above does not hold."""
    if actor is None or (actor.pk != delegator.pk and not can(actor, "manage_users")):
        who = getattr(actor, "username", "Someone")
        raise NotAllowed(
            gettext("%(who)s may not set a delegation for %(username)s: only they or an administrator may.")
            % {"who": who, "username": delegator.username}
        )
    # one lock order (user id) for every delegation write: concurrent ones serialise here
    locked = {
        u.pk: u
        for u in User.objects.select_for_update().filter(pk__in={delegator.pk, delegate.pk}).order_by("pk")
    }
    delegator, delegate = locked.get(delegator.pk, delegator), locked.get(delegate.pk, delegate)

    now = timezone.now()
    start = max(start_at, now) if start_at else now
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if scope not in DelegationScope.values:
        errors["scope"] = [
            gettext("Choose one of %(values)s.") % {"values": ", ".join(DelegationScope.values)}
        ]
    if delegate.pk == delegator.pk:
        errors["delegate"] = [
            gettext("%(username)s cannot delegate to themselves.") % {"username": delegator.username}
        ]
    elif delegate.status != UserStatus.ACTIVE or delegate.login_locked or not delegate.is_active:
        state = delegate.get_status_display().lower() + (", login locked" if delegate.login_locked else "")
        errors["delegate"] = [
            gettext("%(username)s cannot take the tasks: they are %(state)s.")
            % {"username": delegate.username, "state": state}
        ]
    if delegator.status not in (UserStatus.ACTIVE, UserStatus.INACTIVE):
        errors["delegator"] = [
            gettext("%(username)s is %(status)s: they hold no tasks to delegate.")
            % {"username": delegator.username, "status": delegator.status}
        ]
    if end_at is None:
        errors["end_at"] = [gettext("An end date is required: a delegation always ends.")]
    elif end_at <= start:
        errors["end_at"] = [
            gettext("The end must be after the start.")
            if start_at and start_at > now
            else gettext("The end must be in the future.")
        ]
    elif end_at - start > timedelta(days=DELEGATION_MAX_DAYS):
        errors["end_at"] = [
            gettext("A delegation lasts at most %(DELEGATION_MAX_DAYS)s days.")
            % {"DELEGATION_MAX_DAYS": DELEGATION_MAX_DAYS}
        ]
    if errors:
        detail = " ".join(m for ms in errors.values() for m in ms)
        raise ValidationFailed(
            gettext("The delegation cannot be made: %(detail)s") % {"detail": detail}, fields=errors
        )
    assert end_at is not None  # a missing end is one of the errors above

    mine = _overlapping(Delegation.objects.filter(delegator=delegator), start, end_at).first()
    if mine is not None:
        raise Conflict(
            gettext(
                "%(username)s already delegates to %(username2)s from %(value)s to %(value2)s (delegation #%(pk)s): revoke it first, or choose another period."
            )
            % {
                "username": delegator.username,
                "username2": mine.delegate.username,
                "value": _fmt(mine.start_at),
                "value2": _fmt(mine.end_at),
                "pk": mine.pk,
            },
            fields={"start_at": [gettext("Overlaps another delegation.")]},
        )
    away = _overlapping(Delegation.objects.filter(delegator=delegate), start, end_at).first()
    if away is not None:
        if away.delegate_id == delegator.pk:
            message = (
                f"{delegate.username} delegates to {delegator.username} during this period "
                f"(delegation #{away.pk}): a delegation back would make a loop."
            )
        else:
            message = (
                f"{delegate.username} is out of office too (delegates to {away.delegate.username} from "
                f"{_fmt(away.start_at)} to {_fmt(away.end_at)}): choose someone who is present."
            )
        raise Conflict(message, fields={"delegate": [message]})
    covering = _overlapping(Delegation.objects.filter(delegate=delegator), start, end_at).first()
    if covering is not None:
        message = (
            f"{delegator.username} covers for {covering.delegator.username} until {_fmt(covering.end_at)} "
            f"(delegation #{covering.pk}): that delegation must be changed first, so "
            f"{covering.delegator.username}'s tasks are not left with someone away."
        )
        raise Conflict(message, fields={"delegator": [message]})

    delegation = Delegation.objects.create(
        delegator=delegator,
        delegate=delegate,
        start_at=start,
        end_at=end_at,
        scope=scope,
        reason=reason,
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="delegation.created",
        obj=delegation,
        new=_audit_values(delegation),
        source=source,
        subject_user_id=delegator.pk,
    )
    return delegation


@transaction.atomic
def delegation_revoke(*, actor: User, source: str, delegation: Delegation, reason: str = "") -> Delegation:
    """End a delegation now (or cancel one that has not started). From then on the delegate no
    longer sees or decides the delegator's undecided tasks; their past decisions stand."""
    # same lock order as delegation_create: the users, then the delegation
    pair = Delegation.objects.filter(pk=delegation.pk).values_list("delegator_id", "delegate_id").first()
    if pair is None:
        raise ValidationFailed(gettext("This delegation no longer exists."))
    list(User.objects.select_for_update().filter(pk__in=set(pair)).order_by("pk"))
    d = (
        Delegation.objects.select_for_update(of=("self",))
        .select_related("delegator", "delegate")
        .get(pk=delegation.pk)
    )
    if actor is None or (actor.pk != d.delegator_id and not can(actor, "manage_users")):
        who = getattr(actor, "username", "Someone")
        raise NotAllowed(
            gettext("%(who)s may not revoke delegation #%(pk)s: only %(username)s or an administrator may.")
            % {"who": who, "pk": d.pk, "username": d.delegator.username}
        )
    now = timezone.now()
    if d.revoked_at is not None:
        raise TransitionNotAllowed(
            gettext("Delegation #%(pk)s was already revoked on %(value)s.")
            % {"pk": d.pk, "value": _fmt(d.revoked_at)}
        )
    if d.end_at <= now:
        raise TransitionNotAllowed(
            gettext("Delegation #%(pk)s already ended on %(value)s.") % {"pk": d.pk, "value": _fmt(d.end_at)}
        )
    old = {"revoked_at": None, "end_at": d.end_at}
    d.revoked_at, d.revoked_by = now, actor
    d.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(
        actor=actor,
        action="delegation.revoked",
        obj=d,
        old=old,
        new={**_audit_values(d), "revoked_at": now, "revoke_reason": (reason or "").strip()},
        source=source,
        subject_user_id=d.delegator_id,
    )
    return d
