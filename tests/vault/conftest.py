"""Fixed master keys for the vault tests (never use these anywhere else)."""

from __future__ import annotations

import base64

import pytest
from django.test import override_settings

from vault import crypto

KEY1 = bytes(range(32))
KEY2 = bytes(range(100, 132))
KEY3 = bytes(range(200, 232))
KEY1_B64 = base64.b64encode(KEY1).decode()
KEY2_B64 = base64.b64encode(KEY2).decode()
KEY3_B64 = base64.b64encode(KEY3).decode()
ALL_KEY_TEXT = (KEY1_B64, KEY2_B64, KEY3_B64)


def keys(*versions: int) -> str:
    material = {1: KEY1_B64, 2: KEY2_B64, 3: KEY3_B64}
    return ",".join(f"{v}:{material[v]}" for v in versions)


@pytest.fixture(autouse=True)
def vault_key1():
    """Every vault test starts with master key 1 configured, and a fresh dev-key warning flag."""
    crypto._dev_warning_logged = False
    with override_settings(BLAZON_VAULT_KEYS=keys(1)):
        yield


@pytest.fixture
def user(db):
    from tests.vault.factories import UserFactory

    return UserFactory()
