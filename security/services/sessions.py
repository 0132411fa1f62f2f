"""Web sessions: the index of each user's open sessions (whatever the store, database or
Redis), their limits (absolute and idle timeouts, the fingerprint they are bound to) and ending
them — one, a user's others, all of a user's, or when the user loses the right to log in."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from blazon.audit.services import audit_record
from security.models import UserSession
from security.services.bruteforce import security_settings

#: what the session itself carries about its limits (no store or database read per request)
SESSION_META = "blazon.session"
#: last-seen is written (session + index row) at most this often
TOUCH_SECONDS = 60


@dataclass(frozen=True)
class Limits:
    idle_seconds: int
    absolute_seconds: int
    bind_ip_prefix: int  # 0: not bound to the client IP


def session_limits() -> Limits:
    """The console's values, or the environment's where the console leaves them empty."""
    cfg = security_settings()
    idle = cfg.session_idle_minutes or settings.BLAZON_SESSION_IDLE_MINUTES
    absolute = cfg.session_absolute_hours or settings.BLAZON_SESSION_ABSOLUTE_HOURS
    prefix = cfg.session_bind_ip_prefix
    if prefix is None:
        prefix = settings.BLAZON_SESSION_BIND_IP_PREFIX
    return Limits(idle_seconds=idle * 60, absolute_seconds=absolute * 3600, bind_ip_prefix=prefix)


def client_ip(request: HttpRequest) -> str | None:
    ip = request.META.get("REMOTE_ADDR") or None
    try:
        return str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        return None


def user_agent(request: HttpRequest) -> str:
    agent: str = request.META.get("HTTP_USER_AGENT", "")
    return agent[:400]


def fingerprint(request: HttpRequest) -> str:
    return hashlib.sha256(user_agent(request).encode()).hexdigest()


def ip_network(ip: str | None, prefix: int) -> str | None:
    """The network a session is bound to: IPv4 by ``prefix``, IPv6 by /64; None when unbound."""
    if not ip or not prefix:
        return None
    addr = ipaddress.ip_address(ip)
    bits = min(prefix, 32) if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


def _meta(limits: Limits, now: float, **fields: Any) -> dict[str, Any]:
    return {**fields, "seen": now, "idle": limits.idle_seconds, "absolute": limits.absolute_seconds}


def session_register(*, request: HttpRequest, user: Any) -> UserSession:
    """Index the session a login just opened and bind it to the client's fingerprint."""
    session = request.session
    if not session.session_key:
        session.save()
    limits = session_limits()
    now = timezone.now()
    ip = client_ip(request)
    row, _ = UserSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={
            "user": user,
            "started_at": now,
            "last_seen": now,
            "ip": ip,
            "user_agent": user_agent(request),
        },
    )
    session[SESSION_META] = _meta(
        limits,
        now.timestamp(),
        id=row.pk,
        started=now.timestamp(),
        fp=fingerprint(request),
        net=ip_network(ip, limits.bind_ip_prefix),
    )
    return row


def session_problem(request: HttpRequest, meta: dict[str, Any], now: float) -> str | None:
    """Why this request may not go on in its session (None: it may)."""
    if not hmac.compare_digest(str(meta.get("fp", "")), fingerprint(request)):
        return "fingerprint_mismatch"
    net = meta.get("net")
    if net:
        ip = client_ip(request)
        try:
            inside = ip is not None and ipaddress.ip_address(ip) in ipaddress.ip_network(net)
        except ValueError:
            inside = False
        if not inside:
            return "ip_changed"
    if now > float(meta.get("started", 0)) + int(meta.get("absolute", 0)):
        return "absolute_timeout"
    if now > float(meta.get("seen", 0)) + int(meta.get("idle", 0)):
        return "idle_timeout"
    return None


def session_touch(request: HttpRequest, meta: dict[str, Any], now: float) -> bool:
    """Write last-seen (session and index) if the last write is older than a minute, picking up
    changed limits. False when the index row is gone: the session was ended elsewhere."""
    if now - float(meta.get("seen", 0)) < TOUCH_SECONDS:
        return True
    updated = UserSession.objects.filter(  # type: ignore[misc]  # a None id matches no row, as Django does
        pk=meta.get("id"), user_id=request.user.pk
    ).update(
        last_seen=datetime.fromtimestamp(now, tz=UTC),
        session_key=request.session.session_key,
    )
    if not updated:
        return False
    limits = session_limits()
    request.session[SESSION_META] = _meta(limits, now, **{k: v for k, v in meta.items() if k != "seen"})
    return True


def _store_delete(keys: list[str]) -> None:
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in keys:
        store(session_key=key).delete(key)


@transaction.atomic
def sessions_end(
    *, actor: Any, user: Any, reason: str, source: str, keys: list[str] | None = None, except_key: str = ""
) -> int:
    """End ``user``'s sessions (those with ``keys``, or all but ``except_key``): removed from the
    store at once, so their next request goes to the login page; one audit event."""
    rows = UserSession.objects.select_for_update().filter(user_id=user.pk)
    if keys is not None:
        rows = rows.filter(session_key__in=keys)
    if except_key:
        rows = rows.exclude(session_key=except_key)
    found = list(rows.values_list("pk", "session_key"))
    if not found:
        return 0
    UserSession.objects.filter(pk__in=[pk for pk, _ in found]).delete()
    _store_delete([key for _, key in found])
    audit_record(
        actor=actor,
        action="session.ended",
        object_type="security.UserSession",
        object_id=",".join(str(pk) for pk, _ in found)[:200],
        object_repr=f"{len(found)} session(s) of {user.username}",
        new={"reason": reason, "sessions": len(found)},
        source=source,
        subject_user_id=user.pk,
    )
    return len(found)


def session_forget(session_key: str | None) -> None:
    """A session closed by its user (log out): drop it from the index."""
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


def user_sessions(user: Any) -> QuerySet[UserSession]:
    """The user's sessions still within their limits (a session the store let expire is not
    listed; the index row goes at the next purge)."""
    limits = session_limits()
    now = timezone.now()
    return UserSession.objects.filter(
        user_id=user.pk,
        last_seen__gt=now - timedelta(seconds=limits.idle_seconds + TOUCH_SECONDS),
        started_at__gt=now - timedelta(seconds=limits.absolute_seconds),
    ).order_by("-last_seen")


def sessions_purge() -> int:
    """Drop index rows of sessions past their limits (one DELETE)."""
    limits = session_limits()
    now = timezone.now()
    deleted, _ = UserSession.objects.filter(
        Q(last_seen__lt=now - timedelta(seconds=limits.idle_seconds + TOUCH_SECONDS))
        | Q(started_at__lt=now - timedelta(seconds=limits.absolute_seconds))
    ).delete()
    return deleted
