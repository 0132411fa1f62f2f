"""Brute-force defence: count login failures and impose temporary throttles and locks.

The seed's three patterns — many failures from one IP, many usernames from one IP, one account
from many IPs — plus plain guessing against one account. An IP is throttled; a username (known
or unknown alike, so the refusal never tells whether it exists) is locked for a while. Locks are
temporary and grow with each repetition up to a maximum, so a distributed attack cannot lock a
victim out for good; an administrator can release any of them from the console."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from blazon.audit.services import audit_record
from blazon.authcontract import LoginRefused
from blazon.changes import config_update
from blazon.errors import DomainError
from blazon.tasks import enqueue_on_commit
from security.models import LoginAttempt, Pattern, SecurityAlert, SecuritySettings, Throttle, ThrottleKind

REFUSAL = gettext_lazy("Too many attempts. Try again later.")
#: a lock imposed again within this time of the previous one's end is one level longer
LEVEL_RESET = timedelta(hours=24)
#: after an alert e-mail, further alerts of the same pattern are only listed for this long
ALERT_MAIL_QUIET = timedelta(minutes=10)
#: an IP throttle grows up to this many times its base length
IP_MAX_FACTOR = 8

SETTINGS_FIELDS = [
    f.name for f in SecuritySettings._meta.get_fields() if f.concrete and f.name not in {"id", "updated_at"}
]


def security_settings() -> SecuritySettings:
    """The settings row (created with the defaults on first use)."""
    row = SecuritySettings.objects.filter(pk=1).first()
    if row is None:
        row, _ = SecuritySettings.objects.get_or_create(pk=1)
    return row


def normalize_username(username: Any) -> str:
    return str(username or "").strip().casefold()[:150]


def _active(now: datetime, *, ip: str | None, username: str) -> list[Throttle]:
    cond = Q(kind=ThrottleKind.ACCOUNT, key=username)
    if ip:
        cond |= Q(kind=ThrottleKind.IP, key=ip)
    return list(Throttle.objects.filter(cond, until__gt=now))


def login_check(*, ip: str | None, username: str) -> None:
    """Refuse (``LoginRefused``) a login attempt from a throttled IP or for a locked username,
    before any factor is checked. Same message whatever the reason and whether the user exists."""
    now = timezone.now()
    active = _active(now, ip=ip, username=normalize_username(username))
    if active:
        until = max(t.until for t in active)
        raise LoginRefused(str(REFUSAL), retry_after=max(1, math.ceil((until - now).total_seconds())))


@dataclass
class _Hit:
    kind: str
    key: str
    pattern: str
    detail: dict[str, Any]


def _floor(kind: str, key: str, window_start: datetime) -> datetime:
    """Failures already punished by a previous throttle of ``key`` do not count again."""
    prev = Throttle.objects.filter(kind=kind, key=key).values_list("since", flat=True).first()
    return max(window_start, prev) if prev else window_start


def _ip_hit(cfg: SecuritySettings, now: datetime, ip: str) -> _Hit | None:
    w_fail = now - timedelta(minutes=cfg.ip_failure_window_minutes)
    w_users = now - timedelta(minutes=cfg.ip_username_window_minutes)
    floor = _floor(ThrottleKind.IP, ip, min(w_fail, w_users))
    agg = LoginAttempt.objects.filter(ip=ip, success=False, at__gt=floor).aggregate(
        failures=Count("pk", filter=Q(at__gt=w_fail)),
        usernames=Count("username", distinct=True, filter=Q(at__gt=w_users)),
    )
    if agg["failures"] >= cfg.ip_failure_threshold:
        return _Hit(ThrottleKind.IP, ip, Pattern.IP_FAILURES, {"failures": agg["failures"]})
    if agg["usernames"] >= cfg.ip_username_threshold:
        return _Hit(ThrottleKind.IP, ip, Pattern.IP_USERNAMES, {"usernames": agg["usernames"]})
    return None


def _account_hit(cfg: SecuritySettings, now: datetime, username: str) -> _Hit | None:
    w_ips = now - timedelta(minutes=cfg.account_ip_window_minutes)
    w_fail = now - timedelta(minutes=cfg.account_failure_window_minutes)
    floor = _floor(ThrottleKind.ACCOUNT, username, min(w_ips, w_fail))
    agg = LoginAttempt.objects.filter(username=username, success=False, at__gt=floor).aggregate(
        ips=Count("ip", distinct=True, filter=Q(at__gt=w_ips)),
        failures=Count("pk", filter=Q(at__gt=w_fail)),
    )
    if agg["ips"] >= cfg.account_ip_threshold:
        return _Hit(ThrottleKind.ACCOUNT, username, Pattern.ACCOUNT_IPS, {"ips": agg["ips"]})
    if agg["failures"] >= cfg.account_failure_threshold:
        return _Hit(ThrottleKind.ACCOUNT, username, Pattern.ACCOUNT_FAILURES, {"failures": agg["failures"]})
    return None


def _duration(cfg: SecuritySettings, kind: str, level: int) -> int:
    seconds: int
    if kind == ThrottleKind.IP:
        seconds = min(cfg.ip_throttle_seconds * 2 ** (level - 1), cfg.ip_throttle_seconds * IP_MAX_FACTOR)
    else:
        seconds = min(cfg.account_lock_seconds * 2 ** (level - 1), cfg.account_lock_max_seconds)
    return seconds


def _impose(cfg: SecuritySettings, now: datetime, hit: _Hit) -> Throttle | None:
    # the row exists before it is locked, so two concurrent failures cannot both insert it
    Throttle.objects.bulk_create(
        [Throttle(kind=hit.kind, key=hit.key, pattern=hit.pattern, level=0, since=now, until=now)],
        ignore_conflicts=True,
    )
    row = Throttle.objects.select_for_update().get(kind=hit.kind, key=hit.key)
    if row.until > now:
        return None  # imposed meanwhile by a concurrent failure
    level = row.level + 1 if row.level and row.until >= now - LEVEL_RESET else 1
    seconds = _duration(cfg, hit.kind, level)
    row.pattern, row.level, row.since = hit.pattern, level, now
    row.until = now + timedelta(seconds=seconds)
    row.released_at, row.released_by = None, None
    row.save()
    detail = {**hit.detail, "level": level, "seconds": seconds}
    audit_record(
        actor=None,
        action="security.throttle_imposed",
        obj=row,
        new={"kind": row.kind, "key": row.key, "pattern": row.pattern, **detail, "until": row.until},
        source="automatic",
    )
    # an attack spraying many usernames must not become a mail bomb: one e-mail per pattern per
    # quiet period; the console lists every alert
    recently_mailed = SecurityAlert.objects.filter(
        pattern=hit.pattern, created_at__gt=now - ALERT_MAIL_QUIET
    ).exists()
    alert = SecurityAlert.objects.create(
        created_at=now, pattern=hit.pattern, kind=hit.kind, key=hit.key, detail=detail
    )
    if cfg.alert_emails and not recently_mailed:
        # deferred: security.tasks imports this module for its periodic purge (a cycle at load)
        from security.tasks import send_security_alert

        enqueue_on_commit(send_security_alert, alert.pk)
    return row


@transaction.atomic
def login_failure_record(*, ip: str | None, username: str, reason: str = "") -> list[Throttle]:
    """Record a failed login and impose whatever throttle or lock the patterns now call for."""
    now = timezone.now()
    username = normalize_username(username)
    LoginAttempt.objects.create(at=now, ip=ip, username=username, success=False, reason=reason[:30])
    cfg = security_settings()
    hits = [_ip_hit(cfg, now, ip) if ip else None, _account_hit(cfg, now, username) if username else None]
    return [row for hit in hits if hit for row in [_impose(cfg, now, hit)] if row]


def login_success_record(*, ip: str | None, username: str) -> None:
    """Record a completed login (kept for the account-from-many-IPs picture and the audit of
    access; one INSERT)."""
    LoginAttempt.objects.create(at=timezone.now(), ip=ip, username=normalize_username(username), success=True)


@transaction.atomic
def throttle_release(*, actor: Any, throttle: Throttle, source: str = "console") -> Throttle:
    """End a throttle or lock now (an administrator's unlock). The next lock of the same key
    starts again at the first level."""
    row = Throttle.objects.select_for_update().get(pk=throttle.pk)
    now = timezone.now()
    if row.until <= now:
        raise DomainError(f"{row} is no longer active.", code="not_active")
    old_until = row.until
    row.until, row.released_at, row.released_by, row.level = now, now, actor, 0
    row.save(update_fields=["until", "released_at", "released_by", "level"])
    audit_record(
        actor=actor,
        action="security.throttle_released",
        obj=row,
        old={"until": old_until},
        new={"kind": row.kind, "key": row.key, "until": now},
        source=source,
    )
    return row


def active_throttles() -> Any:
    return Throttle.objects.filter(until__gt=timezone.now()).select_related("released_by").order_by("-until")


@transaction.atomic
def settings_update(*, actor: Any, data: dict[str, Any], source: str = "console") -> SecuritySettings:
    """Change the brute-force thresholds and session limits (``data`` already validated)."""
    security_settings()
    with config_update(
        SecuritySettings,
        1,
        fields=SETTINGS_FIELDS,
        actor=actor,
        source=source,
        action="security.settings_updated",
    ) as change:
        row = change.obj
        for name in SETTINGS_FIELDS:
            if name in data:
                setattr(row, name, data[name])
        if row.account_lock_max_seconds < row.account_lock_seconds:
            raise DomainError(
                gettext("The maximum lock must be at least the first lock's length."),
                fields={"account_lock_max_seconds": [gettext("Must be at least the first lock's length.")]},
            )
    return change.obj


def attempts_purge(*, older_than_days: int | None = None) -> int:
    """Delete login attempts older than the retention period (one DELETE)."""
    days = security_settings().attempt_retention_days if older_than_days is None else older_than_days
    deleted, _ = LoginAttempt.objects.filter(at__lt=timezone.now() - timedelta(days=days)).delete()
    return deleted
