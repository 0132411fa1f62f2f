"""The scheduled life-cycle jobs: revoke long-inactive users, purge removed ones, expire
temporary accounts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.db import models, transaction
from django.db.models import PROTECT, RESTRICT
from django.db.models.functions import Coalesce
from django.utils import timezone

from blazon.audit.services import AuditEntry, audit_record_many
from blazon.errors import DomainError
from directory import ports
from directory.models import Account, AccountStatus, User
from directory.services.lifecycle.cascade import _cascade_accounts
from directory.services.lifecycle.rules import INA, REM, REV, S
from directory.services.lifecycle.users import user_remove, user_revoke


def _users_in_status_since(status: str, since_field: str, days: int) -> list[int]:
    """Ids of the users in ``status`` for more than ``days`` (counted from ``since_field``)."""
    cutoff = timezone.now() - timedelta(days=days)
    since = Coalesce(since_field, "status_changed_at", "date_joined")
    return list(
        User.objects.filter(status=status)
        .annotate(since=since)
        .filter(since__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _each_user(ids: list[int], status: str, move: Callable[[User], Any]) -> int:
    """``move`` each user still in ``status``, each in their own transaction, so one refusal
    does not hold back the others; how many moved."""
    done = 0
    for pk in ids:
        try:
            with transaction.atomic():
                fresh = User.objects.select_for_update().get(pk=pk)
                if fresh.status != status:  # changed since we listed it
                    continue
                move(fresh)
                done += 1
        except DomainError:
            continue
    return done


def users_auto_revoke_inactive(*, days: int | None = None) -> int:
    """Revoke (source "automatic") users INACTIVE for more than ``days``
    (``BLAZON_AUTO_REVOKE_INACTIVE_DAYS``; 0 or less disables). Returns the number revoked."""
    days = settings.BLAZON_AUTO_REVOKE_INACTIVE_DAYS if days is None else days
    if days <= 0:
        return 0
    ids = _users_in_status_since(INA, "inactive_since", days)
    return _each_user(ids, INA, lambda user: user_revoke(actor=None, source=S.AUTOMATIC, user=user))


def users_auto_remove_revoked(*, days: int | None = None) -> int:
    """REVOKED → REMOVED (source "automatic") for users revoked more than ``days`` ago
    (``BLAZON_AUTO_REMOVE_REVOKED_DAYS``; 0 or less disables), once the applications have
    settled every provisioning entry about them: a revocation still on its way (or waiting for
    an operator) keeps the user REVOKED, so nobody leaves the directory while an application
    still holds their access. Returns the number removed."""
    days = settings.BLAZON_AUTO_REMOVE_REVOKED_DAYS if days is None else days
    if days <= 0:
        return 0
    ids = _users_in_status_since(REV, "revoked_at", days)
    if not ids:
        return 0
    waiting = ports.provisioning().users_with_open_entries(user_ids=ids)
    ready = [pk for pk in ids if pk not in waiting]
    return _each_user(ready, REV, lambda user: user_remove(actor=None, source=S.AUTOMATIC, user=user))


def _protected_user_ids() -> list[models.QuerySet[Any, Any]]:
    """Users other rows still need: PROTECT/RESTRICT foreign keys. (Audit events keep a purged
    actor's id and name untouched: that foreign key has no constraint and no cascade.)"""
    union: list[models.QuerySet[Any, Any]] = []
    for rel in User._meta.related_objects:
        if rel.many_to_one or rel.one_to_one:
            if rel.on_delete in (PROTECT, RESTRICT):
                related = cast("type[models.Model]", rel.related_model)  # resolved: never "self" here
                union.append(
                    related._base_manager.filter(**{f"{rel.field.attname}__isnull": False}).values(
                        rel.field.attname
                    )
                )
    return union


def _protected_account_ids() -> list[models.QuerySet[Any, Any]]:
    out: list[models.QuerySet[Any, Any]] = []
    for rel in Account._meta.related_objects:
        if (rel.many_to_one or rel.one_to_one) and rel.on_delete in (PROTECT, RESTRICT):
            related = cast("type[models.Model]", rel.related_model)  # resolved: never "self" here
            out.append(
                related._base_manager.filter(**{f"{rel.field.attname}__isnull": False}).values(
                    rel.field.attname
                )
            )
    return out


@transaction.atomic
def users_purge_removed(*, days: int | None = None) -> int:
    """Delete for good REMOVED users older than ``days`` (``BLAZON_PURGE_REMOVED_AFTER_DAYS``),
    with their accounts. Audit events stay. Users still referenced by protected rows, or who
    acted in the audit log, are kept (and stay REMOVED). Returns the number deleted."""
    days = settings.BLAZON_PURGE_REMOVED_AFTER_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=max(days, 0))
    candidates = User.objects.filter(status=REM, removed_at__lt=cutoff)
    for protected in _protected_user_ids():
        candidates = candidates.exclude(pk__in=protected)
    for protected in _protected_account_ids():
        candidates = candidates.exclude(accounts__pk__in=protected)
    victims = list(candidates.select_for_update(of=("self",)).values_list("pk", "username", "removed_at"))
    if not victims:
        return 0
    ids = [pk for pk, _u, _r in victims]
    audit_record_many(
        (
            AuditEntry(
                action="user.purged",
                object_type="directory.User",
                object_id=pk,
                object_repr=username,
                old={"status": REM, "removed_at": removed_at},
                subject_user_id=pk,
            )
            for pk, username, removed_at in victims
        ),
        actor=None,
        source=S.AUTOMATIC,
    )
    Account.objects.filter(owner_id__in=ids).delete()
    User.objects.filter(pk__in=ids).delete()
    return len(ids)


@transaction.atomic
def accounts_expire_temporary() -> int:
    """Revoke (source "automatic") temporary accounts past their expiry, with provisioning
    entries; returns the number revoked."""
    count, _entries = _cascade_accounts(
        "x.is_temporary AND x.expires_at <= %s AND x.status <> %s",
        [timezone.now(), AccountStatus.REVOKED],
        to=AccountStatus.REVOKED,
        actor=None,
        source=S.AUTOMATIC,
        reason="temporary account expired",
        now=timezone.now(),
    )
    return count
