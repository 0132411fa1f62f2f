"""Master keys: the BLAZON_VAULT_KEYS format, clear errors, the development key, key commands."""

from __future__ import annotations

import base64
import io
import logging

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.vault.conftest import KEY1, KEY1_B64, KEY2, KEY2_B64, keys
from vault import crypto
from vault.crypto import keyring, parse_vault_keys
from vault.models import SecretKind
from vault.services import secret_reveal, secret_store

pytestmark = pytest.mark.django_db


def test_parse_lists_every_version_and_newest_wraps():
    assert parse_vault_keys(keys(1, 2)) == {1: KEY1, 2: KEY2}
    with override_settings(BLAZON_VAULT_KEYS=f" 2:{KEY2_B64} , 1:{KEY1_B64} ,"):
        ring = keyring()
    assert ring.current_version == 2 and ring.versions == [1, 2] and not ring.development


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("garbage", "must look like '<version>:<base64 key>'"),
        ("1:", "must look like"),
        (f"x:{KEY1_B64}", "version must be a positive integer"),
        (f"0:{KEY1_B64}", "version must be a positive integer"),
        (f"-1:{KEY1_B64}", "version must be a positive integer"),
        ("1:not*base64!", "not valid base64"),
        (f"1:{base64.b64encode(b'short').decode()}", "must be 32 bytes, got 5"),
        (f"1:{base64.b64encode(bytes(64)).decode()}", "must be 32 bytes, got 64"),
        (f"1:{KEY1_B64},1:{KEY2_B64}", "lists version 1 more than once"),
        (f"1:{KEY1_B64},2:{KEY1_B64}", "versions 1 and 2 hold the same key"),
        (" , ", "holds no key"),
    ],
)
def test_malformed_keys_are_refused_clearly(raw, message, user):
    with override_settings(BLAZON_VAULT_KEYS=raw):
        with pytest.raises(ImproperlyConfigured, match=message) as excinfo:
            keyring()
        with pytest.raises(ImproperlyConfigured):
            secret_store(
                actor=None, source="console", owner=user, kind=SecretKind.PERSONAL, name="x", value="v"
            )
    # The error names the entry, never the key material.
    assert KEY1_B64 not in str(excinfo.value) and KEY2_B64 not in str(excinfo.value)


def test_system_check_reports_malformed_keys():
    with override_settings(BLAZON_VAULT_KEYS="1:tooshort"):
        errors = checks.run_checks(tags=[checks.Tags.security])
    assert any(e.id == "vault.E001" for e in errors)
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        assert not [e for e in checks.run_checks(tags=[checks.Tags.security]) if e.id == "vault.E001"]


def test_keyring_repr_hides_key_material():
    ring = keyring()
    assert KEY1_B64 not in repr(ring) and repr(KEY1) not in repr(ring)


def test_development_key_is_derived_from_secret_key_and_warns_once(caplog, user):
    caplog.set_level(logging.WARNING, logger="blazon.vault")
    crypto._build_keyring.cache_clear()
    with override_settings(BLAZON_VAULT_KEYS="", SECRET_KEY="dev-secret-a" * 5):
        ring = keyring()
        assert ring.development and ring.current_version == crypto.DEVELOPMENT_KEY_VERSION
        secret = secret_store(actor=None, source="console", owner=user, kind="PERSONAL", name="n", value="v1")
        assert secret_reveal(actor=None, source="console", secret=secret) == "v1"
        assert keyring().key(0) == crypto.derive_development_key("dev-secret-a" * 5)
    with override_settings(BLAZON_VAULT_KEYS="", SECRET_KEY="dev-secret-b" * 5):
        assert keyring().key(0) != crypto.derive_development_key("dev-secret-a" * 5)
    warnings = [r for r in caplog.records if "development key" in r.getMessage()]
    assert len(warnings) == 1


def test_production_refuses_a_missing_key():
    with (
        override_settings(BLAZON_VAULT_KEYS="", PRODUCTION=True),
        pytest.raises(ImproperlyConfigured, match="must be set in production"),
    ):
        keyring()


def test_generate_key_prints_the_next_version():
    out, err = io.StringIO(), io.StringIO()
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        call_command("vault_generate_key", stdout=out, stderr=err)
    entry = out.getvalue().strip()
    assert entry.startswith("3:")
    assert parse_vault_keys(entry)[3] != KEY1
    out2 = io.StringIO()
    call_command("vault_generate_key", "--key-version", "7", stdout=out2, stderr=io.StringIO())
    assert out2.getvalue().startswith("7:") and out2.getvalue().strip() != entry
    with pytest.raises(CommandError):
        call_command("vault_generate_key", "--key-version", "0", stdout=io.StringIO(), stderr=io.StringIO())
