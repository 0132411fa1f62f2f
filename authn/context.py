"""The context a login happens in: client address (proxy-aware), time, a remembered device and
the user's recent failures."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from authn.models import LoginFailure

DEVICE_COOKIE = "blazon_device"
_DEVICE_SALT = "blazon.authn.device"


def _networks(cidrs: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def _in(address: str, networks: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == n.version and ip in n for n in networks)


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or — only when REMOTE_ADDR is a trusted proxy (``BLAZON_TRUSTED_PROXIES``)
    — the right-most X-Forwarded-For address that is not itself a trusted proxy (the left part
    of the header is whatever the client chose to send)."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    trusted = _networks(settings.BLAZON_TRUSTED_PROXIES)
    if not trusted or not _in(remote, trusted):
        return remote
    chain = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    for hop in reversed(chain):
        if not _in(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote
    return remote


def ip_in_networks(address: str, cidrs: list[str]) -> bool:
    return _in(address, _networks(cidrs))


def _password_tag(user: Any) -> str:
    # bound to the password hash: a password change (or reset) forgets every remembered device
    return salted_hmac(_DEVICE_SALT, user.password or "").hexdigest()[:16]


def device_cookie_value(user: Any) -> str:
    return signing.dumps({"u": user.pk, "p": _password_tag(user)}, salt=_DEVICE_SALT, compress=True)


def set_device_cookie(response: HttpResponse, user: Any) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        device_cookie_value(user),
        max_age=settings.BLAZON_DEVICE_COOKIE_DAYS * 86400,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def device_known(request: HttpRequest, user: Any) -> bool:
    """The request carries an unexpired device cookie signed for this user."""
    raw = request.COOKIES.get(DEVICE_COOKIE)
    if not raw or user is None:
        return False
    try:
        data = signing.loads(raw, salt=_DEVICE_SALT, max_age=settings.BLAZON_DEVICE_COOKIE_DAYS * 86400)
    except signing.BadSignature:
        return False
    return (
        isinstance(data, dict)
        and data.get("u") == user.pk
        and constant_time_compare(str(data.get("p", "")), _password_tag(user))
    )


def recent_failures(user: Any, minutes: int, now: datetime | None = None) -> int:
    if user is None:
        return 0
    since = (now or timezone.now()) - timedelta(minutes=minutes)
    return LoginFailure.objects.filter(user=user, at__gte=since).count()


@dataclass
class LoginContext:
    """Where and when a login happens, and for whom (``user`` is None for an unknown name)."""

    ip: str
    at: datetime
    device_known: bool = False

    @classmethod
    def from_request(cls, request: HttpRequest, user: Any) -> LoginContext:
        return cls(ip=client_ip(request), at=timezone.now(), device_known=device_known(request, user))
