"""Master key rotation: new secrets under the newest key, ``vault_rewrap`` moves the rest,
values never change, the old key can then go, and nothing secret reaches audit, logs or output."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from blazon.audit.models import AuditEvent
from blazon.audit.services import audit_verify
from blazon.errors import ValidationFailed
from tests.vault.conftest import ALL_KEY_TEXT, keys
from tests.vault.factories import AccountFactory, UserFactory
from vault import crypto
from vault.crypto import VaultIntegrityError, VaultKeyMissing
from vault.models import Secret, SecretKind
from vault.services import RewrapIncomplete, secret_reveal, secret_store, secrets_rewrap

pytestmark = pytest.mark.django_db

VALUES = {
    "mail": "Mail-pässwörd ✓ 1",
    "bank": "Bank PIN 0042-rotating",
    "root": "root:hunter2-ACCOUNT",
    "ci token": "ghp_CIxTOKENxVALUE",
}


def _store_all() -> dict[str, Secret]:
    """One secret of every kind, stored under whatever master keys are configured now."""
    user = UserFactory()
    stored = {
        name: secret_store(
            actor=user, source="workspace", owner=user, kind=SecretKind.PERSONAL, name=name, value=v
        )
        for name, v in VALUES.items()
        if name in ("mail", "bank")
    }
    stored["root"] = secret_store(
        actor=user,
        source="console",
        owner=None,
        kind=SecretKind.ACCOUNT_PASSWORD,
        name="root",
        value=VALUES["root"],
        account=AccountFactory(),
    )
    stored["ci token"] = secret_store(
        actor=user,
        source="api",
        owner=None,
        kind=SecretKind.APPLICATION_CREDENTIAL,
        name="ci token",
        value=VALUES["ci token"],
    )
    return stored


def _reveal(secret: Secret) -> str:
    return secret_reveal(actor=None, source="console", secret=secret)


def _reveal_all(stored: dict[str, Secret]) -> dict[str, str]:
    return {name: _reveal(secret) for name, secret in stored.items()}


def _rows() -> dict[str, tuple[int, bytes, bytes, bytes, bytes]]:
    """Every secret's stored crypto columns, to compare before and after a command."""
    return {
        str(s.pk): (
            s.key_version,
            bytes(s.wrapped_key),
            bytes(s.wrap_nonce),
            bytes(s.nonce),
            bytes(s.ciphertext),
        )
        for s in Secret.objects.all()
    }


def _rewrap(*args: str) -> str:
    out = io.StringIO()
    call_command("vault_rewrap", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _set_column(secret: Secret, column: str, value: bytes) -> None:
    with connection.cursor() as cur:
        cur.execute(f"UPDATE vault_secret SET {column} = %s WHERE id = %s", [value, secret.pk])  # noqa: S608


def _flip(data) -> bytes:
    data = bytearray(bytes(data))
    data[len(data) // 2] ^= 0x01
    return bytes(data)


def test_adding_key_2_wraps_new_secrets_with_it_and_old_ones_still_open():
    old = _store_all()
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        user = UserFactory()
        new = secret_store(
            actor=user, source="workspace", owner=user, kind="PERSONAL", name="new", value="fresh"
        )
        assert Secret.objects.get(pk=new.pk).key_version == 2
        assert set(Secret.objects.exclude(pk=new.pk).values_list("key_version", flat=True)) == {1}
        assert _reveal_all(old) == VALUES
        assert _reveal(new) == "fresh"


def test_rewrap_moves_every_v1_secret_to_v2_and_changes_no_value():
    stored = _store_all()
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        user = UserFactory()
        newer = secret_store(
            actor=user, source="workspace", owner=user, kind="PERSONAL", name="v2", value="already"
        )
        before = _rows()
        assert _reveal_all(stored) == VALUES

        output = _rewrap("--batch-size", "3")

        assert "Configured master key versions: 1, 2; target 2" in output
        assert "Secrets by master key version: v1: 4, v2: 1" in output
        assert "re-wrapped 3/4" in output and "re-wrapped 4/4" in output  # progress per batch
        assert "Secrets by master key version now: v2: 5" in output
        assert "Re-wrapped 4 secret(s) to master key version 2." in output
        after = _rows()
        assert {row[0] for row in after.values()} == {2}
        for pk, (_version, wrapped, wrap_nonce, nonce, ciphertext) in after.items():
            if pk == str(newer.pk):
                assert after[pk] == before[pk]  # already under v2: untouched
                continue
            # Only the data key is re-wrapped; the value's ciphertext is not touched.
            assert (nonce, ciphertext) == before[pk][3:]
            assert wrapped != before[pk][1] and wrap_nonce != before[pk][2]
        assert _reveal_all(stored) == VALUES
        assert _reveal(newer) == "already"


def test_dry_run_changes_nothing_and_says_what_would_happen():
    _store_all()
    audit_count = AuditEvent.objects.count()
    before = _rows()
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        output = _rewrap("--dry-run")
    assert "Secrets by master key version: v1: 4" in output
    assert "Dry run: 4 secret(s) would be re-wrapped to version 2." in output
    assert "Re-wrapped" not in output
    assert _rows() == before
    assert AuditEvent.objects.count() == audit_count


def test_second_run_finds_nothing_to_do():
    stored = _store_all()
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        _rewrap()
        rows, audit_count = _rows(), AuditEvent.objects.count()
        output = _rewrap()
        assert "Secrets by master key version: v2: 4" in output
        assert "re-wrapped " not in output  # no batch ran
        assert "Re-wrapped 0 secret(s) to master key version 2." in output
        assert _rows() == rows and AuditEvent.objects.count() == audit_count
        assert _rewrap("--dry-run").endswith("Dry run: 0 secret(s) would be re-wrapped to version 2.\n")
        assert secrets_rewrap() == 0
        assert _reveal_all(stored) == VALUES


def test_after_rotation_the_old_key_can_be_removed():
    stored = _store_all()
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        _rewrap()
    with override_settings(BLAZON_VAULT_KEYS=keys(2)):
        assert _reveal_all(stored) == VALUES
        assert "Re-wrapped 0 secret(s)" in _rewrap()


def test_removing_the_old_key_before_rotation_is_a_clear_error_and_recoverable():
    stored = _store_all()
    with override_settings(BLAZON_VAULT_KEYS=keys(2)):
        for secret in stored.values():
            with pytest.raises(
                VaultKeyMissing, match=r"master key version 1 is not configured .*\(configured: 2\)"
            ):
                _reveal(secret)
        # The command says what is wrong instead of re-wrapping garbage.
        out = io.StringIO()
        with pytest.raises(
            CommandError, match=r"re-wrapped 0 secret\(s\) to master key version 2, 4 could not"
        ):
            call_command("vault_rewrap", stdout=out, stderr=io.StringIO())
        assert "4 secret(s) are wrapped by master key versions that are not configured (v1)" in out.getvalue()
        assert set(Secret.objects.values_list("key_version", flat=True)) == {1}
    # Putting key 1 back repairs everything: nothing was lost.
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        assert "Re-wrapped 4 secret(s) to master key version 2." in _rewrap()
    with override_settings(BLAZON_VAULT_KEYS=keys(2)):
        assert _reveal_all(stored) == VALUES


@pytest.mark.parametrize("dry_run", [False, True])
def test_unconfigured_target_version_is_refused_and_nothing_changes(dry_run):
    _store_all()
    before, audit_count = _rows(), AuditEvent.objects.count()
    args = ["--to-version", "9"] + (["--dry-run"] if dry_run else [])
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        with pytest.raises(
            CommandError,
            match=r"Master key version 9 is not configured in BLAZON_VAULT_KEYS \(configured: 1, 2\)",
        ):
            _rewrap(*args)
        with pytest.raises(ValidationFailed) as excinfo:
            secrets_rewrap(to_version=9)
    assert "to_version" in excinfo.value.fields
    assert _rows() == before and AuditEvent.objects.count() == audit_count


def test_bad_batch_size_is_refused():
    _store_all()
    before = _rows()
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        with pytest.raises(CommandError, match="batch size must be at least 1"):
            _rewrap("--batch-size", "0")
    assert _rows() == before


def test_explicit_target_and_mixed_versions():
    """Secrets under v1 and v2 all reach v3; ``--to-version`` can also move them back to v2."""
    stored = _store_all()
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        user = UserFactory()
        stored["v2"] = secret_store(
            actor=user, source="workspace", owner=user, kind="PERSONAL", name="v2", value="x"
        )
    expected = {**VALUES, "v2": "x"}
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2, 3)):
        assert "Re-wrapped 5 secret(s) to master key version 3." in _rewrap()
        assert set(Secret.objects.values_list("key_version", flat=True)) == {3}
        assert "Re-wrapped 5 secret(s) to master key version 2." in _rewrap("--to-version", "2")
        assert set(Secret.objects.values_list("key_version", flat=True)) == {2}
        assert _reveal_all(stored) == expected


def test_an_unwrappable_secret_is_reported_and_the_others_are_rewrapped(caplog):
    caplog.set_level(logging.DEBUG)
    stored = _store_all()
    broken = stored["bank"]
    _set_column(broken, "wrapped_key", _flip(Secret.objects.get(pk=broken.pk).wrapped_key))
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        out = io.StringIO()
        with pytest.raises(CommandError) as excinfo:
            call_command("vault_rewrap", "--batch-size", "2", stdout=out, stderr=io.StringIO())
        message = str(excinfo.value)
        assert message.startswith(
            "Incomplete: re-wrapped 3 secret(s) to master key version 2, 1 could not be unwrapped"
        )
        assert str(broken.pk) in message and "failed authentication" in message
        assert "Run the command again" in message
        assert "Secrets by master key version now: v1: 1, v2: 3" in out.getvalue()
        assert Secret.objects.get(pk=broken.pk).key_version == 1
        assert set(Secret.objects.exclude(pk=broken.pk).values_list("key_version", flat=True)) == {2}
        assert {n: _reveal(s) for n, s in stored.items() if n != "bank"} == {
            n: v for n, v in VALUES.items() if n != "bank"
        }
        with pytest.raises(VaultIntegrityError):
            _reveal(broken)
        # The failure is logged with the secret's id (for the operator), and a re-run reports it again.
        assert any(str(broken.pk) in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
        with pytest.raises(RewrapIncomplete) as again:
            secrets_rewrap()
        assert again.value.rewrapped == 0 and list(again.value.failed) == [str(broken.pk)]
        assert again.value.remaining == 0


def test_rewrap_does_not_launder_a_tampered_value():
    """Re-wrapping touches only the data key: a secret whose ciphertext was altered is re-wrapped
    but still refuses to open."""
    stored = _store_all()
    mail = stored["mail"]
    _set_column(mail, "ciphertext", _flip(Secret.objects.get(pk=mail.pk).ciphertext))
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        assert "Re-wrapped 4 secret(s)" in _rewrap()
        with pytest.raises(VaultIntegrityError, match="failed authentication"):
            _reveal(mail)


def test_rewrap_audits_each_secret_without_values_or_keys(caplog, capsys):
    caplog.set_level(logging.DEBUG)
    stored = _store_all()
    start = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        output = _rewrap("--batch-size", "3")
        _reveal_all(stored)
    events = AuditEvent.objects.filter(action="vault.secret.rewrapped")
    assert {e.object_id for e in events} == {str(s.pk) for s in stored.values()}
    for event in events:
        assert event.object_type == "vault.Secret"
        assert event.old_values == {"key_version": 1} and event.new_values == {"key_version": 2}
        assert event.actor_id is None and event.source == "automatic"
    assert events.get(object_id=str(stored["mail"].pk)).subject_user_id == stored["mail"].owner_id
    assert "mail" in events.get(object_id=str(stored["mail"].pk)).object_repr

    everything = "\n".join(
        [
            json.dumps(list(AuditEvent.objects.filter(seq__gt=start).values()), default=str),
            caplog.text,
            output,
            *capsys.readouterr(),
        ]
    )
    for value in VALUES.values():
        assert value not in everything
    for material in ALL_KEY_TEXT:
        assert material not in everything
    for secret in Secret.objects.all():  # nor any stored crypto material, in any common spelling
        for blob in (secret.wrapped_key, secret.ciphertext):
            assert bytes(blob).hex() not in everything and repr(bytes(blob)) not in everything
    assert audit_verify().ok


def test_secrets_from_the_development_key_cannot_be_carried_over():
    """Secrets stored while BLAZON_VAULT_KEYS was unset are wrapped by the development key
    (version 0); once real keys are configured they are reported, never silently lost."""
    user = UserFactory()
    with override_settings(BLAZON_VAULT_KEYS=""):
        dev = secret_store(
            actor=user, source="workspace", owner=user, kind="PERSONAL", name="dev", value="demo"
        )
    assert Secret.objects.get(pk=dev.pk).key_version == crypto.DEVELOPMENT_KEY_VERSION
    with override_settings(BLAZON_VAULT_KEYS=keys(1)):
        with pytest.raises(VaultKeyMissing, match="version 0"):
            _reveal(dev)
        with pytest.raises(CommandError, match="1 could not be unwrapped"):
            _rewrap()
