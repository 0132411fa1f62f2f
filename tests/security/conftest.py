"""Security test set-up: small brute-force thresholds and helpers that send the authcontract's
signals the way the authenticator does."""

from __future__ import annotations

import pytest
from django.contrib.auth.signals import user_login_failed
from django.test import RequestFactory

from blazon.authcontract import login_attempt
from security.models import SecuritySettings


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
