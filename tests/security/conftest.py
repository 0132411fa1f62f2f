"""Security test set-up: small brute-force thresholds and helpers that send the authcontract's
signals the way the authenticator does."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.signals import user_login_failed
from django.test import RequestFactory

from blazon.authcontract import login_attempt
from security.models import SecuritySettings


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    """These tests log in many times; the hasher's cost is not what they are about."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def limits(db):
    """Thresholds small enough to reach in a test."""
    row, _ = SecuritySettings.objects.update_or_create(
        pk=1,
        defaults={
            "ip_failure_threshold": 5,
            "ip_username_threshold": 3,
            "account_ip_threshold": 3,
            "account_failure_threshold": 4,
            "ip_throttle_seconds": 60,
            "account_lock_seconds": 30,
            "account_lock_max_seconds": 120,
        },
    )
    return row


def request_from(ip: str, user_agent: str = "pytest"):
    return RequestFactory().post("/login/", REMOTE_ADDR=ip, HTTP_USER_AGENT=user_agent)


def attempt(username: str, ip: str) -> None:
    """What the authenticator does before checking any factor (raises LoginRefused)."""
    login_attempt.send(sender="test", request=request_from(ip), username=username)


def fail(username: str, ip: str, reason: str = "password") -> None:
    """What the authenticator does when a factor fails."""
    user_login_failed.send(
        sender="test", credentials={"username": username}, request=request_from(ip), reason=reason
    )


from tests.console.conftest import (  # noqa: E402, F401  (the console's clients per role)
    PASSWORD,
    admin,
    admin_user,
    auditor,
    helpdesk,
    logged_in,
    plain,
    plain_user,
    with_password,
)

REDIS_URL = os.environ.get("BLAZON_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["database", "redis"])
def store(request, settings, db):
    """Each session test runs on both stores: the database and Redis (Django's cache sessions on
    ``RedisCache``, what ``BLAZON_SESSION_STORE=redis`` configures)."""
    if request.param == "redis":
        from django.core.cache import caches

        from tests.conftest import require

        require(redis_available(), f"Redis ({REDIS_URL}, BLAZON_TEST_REDIS_URL)")
        settings.CACHES = {
            **settings.CACHES,
            "sessions": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
        }
        settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
        settings.SESSION_CACHE_ALIAS = "sessions"
        caches["sessions"].clear()
        yield "redis"
        caches["sessions"].clear()
    else:
        yield "database"
