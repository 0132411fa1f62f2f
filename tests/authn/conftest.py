"""Authenticator test set-up: users with a password, policies built like an administrator would
(through the service), and helpers to walk the login flow with a test client."""

from __future__ import annotations

import re
from datetime import time

import pyotp
import pytest
from django.test import Client
from django.urls import reverse

from authn import factors
from authn.models import TotpDevice
from authn.services import policy_create
from tests.console.conftest import (  # noqa: F401 - fixtures shared with the console tests
    PASSWORD,
    admin,
    admin_user,
    auditor,
    helpdesk,
    plain,
    plain_user,
    with_password,
)

OFFICE = "10.20.0.0/16"


def example_policy(**extra):
    """The issue's example: password only from the office network; password + TOTP elsewhere;
    deny outside 06:00–22:00 (São Paulo time)."""
    window = {"time_start": time(6, 0), "time_end": time(22, 0), "timezone": "America/Sao_Paulo"}
    return policy_create(
        actor=None,
        source="console",
        data={"name": "Office", "priority": 10, "is_default": True, **extra},
        rules=[
            {**window, "networks": [OFFICE], "outcome": "ALLOW", "factors": ["password"]},
            {**window, "outcome": "ALLOW", "factors": ["password", "totp"]},
            {"outcome": "DENY", "factors": []},
        ],
    )


def simple_policy(factor_list, **data):
    data = {"name": "Policy " + "+".join(factor_list), "is_default": True, **data}
    return policy_create(
        actor=None, source="console", data=data, rules=[{"outcome": "ALLOW", "factors": factor_list}]
    )


def enrol_totp(user) -> pyotp.TOTP:
    device = factors.totp_enrol_start(user=user)
    totp = pyotp.TOTP(factors.totp_seed(device))
    factors.totp_enrol_confirm(user=user, code=totp.now())
    return totp


def next_code(totp: pyotp.TOTP, user) -> str:
    """A code for the step after the last one accepted (the previous one was used)."""
    device = TotpDevice.objects.get(user=user)
    return totp.at((device.last_step + 1) * totp.interval)


def start_login(client: Client, username: str, password: str = PASSWORD, **extra):
    return client.post(reverse("authn:login"), {"username": username, "password": password, **extra})


def step(client: Client, **data):
    return client.post(reverse("authn:step"), data)


def email_code(mailbox) -> str:
    return re.search(r"code is (\d{6})", mailbox[-1].body).group(1)


@pytest.fixture
def alice(db):
    return with_password(username="alice", email="alice@example.org")


__all__ = ["PASSWORD", "with_password"]
