"""Secrets: round trip, tamper detection, validation, and no plaintext in audit, logs or repr."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import connection
from django.test import override_settings

from blazon.audit.models import AuditEvent
from blazon.audit.services import audit_verify
from blazon.errors import Conflict, ValidationFailed
from tests.vault.conftest import ALL_KEY_TEXT, keys
from tests.vault.factories import AccountFactory, UserFactory
from vault.crypto import VaultIntegrityError, VaultKeyMissing
from vault.models import Secret, SecretKind
from vault.services import secret_delete, secret_reveal, secret_store, secret_update

pytestmark = pytest.mark.django_db

PLAINTEXT = "S3cr3t-ä✓-correct horse battery staple"


def _store(owner, value: str = PLAINTEXT, name: str = "mail", **kw) -> Secret:
    kw.setdefault("kind", SecretKind.PERSONAL)
    return secret_store(actor=owner, source="workspace", owner=owner, name=name, value=value, **kw)


def _reveal(secret: Secret, actor=None) -> str:
    return secret_reveal(actor=actor, source="workspace", secret=secret)


def _set_column(secret: Secret, column: str, value) -> None:
    """Tamper with the stored row behind the ORM's back, as an attacker with database access would."""
    with connection.cursor() as cur:
        cur.execute(f"UPDATE vault_secret SET {column} = %s WHERE id = %s", [value, secret.pk])  # noqa: S608


def _flip(data) -> bytes:
    data = bytearray(bytes(data))
    data[len(data) // 2] ^= 0x01
    return bytes(data)


def test_round_trip(user):
    secret = _store(user)
    assert _reveal(secret, actor=user) == PLAINTEXT
    stored = Secret.objects.get(pk=secret.pk)
    assert stored.key_version == 1
    assert PLAINTEXT.encode() not in bytes(stored.ciphertext)
    assert len(bytes(stored.nonce)) == 12 and len(bytes(stored.wrap_nonce)) == 12
    assert len(bytes(stored.wrapped_key)) == 32 + 16  # data key + GCM tag


def test_each_secret_has_its_own_data_key_and_nonces(user):
    a, b = _store(user, name="a"), _store(user, name="b")
    a, b = Secret.objects.get(pk=a.pk), Secret.objects.get(pk=b.pk)
    assert bytes(a.ciphertext) != bytes(b.ciphertext)
    assert bytes(a.wrapped_key) != bytes(b.wrapped_key)
    assert bytes(a.nonce) != bytes(b.nonce)


def test_account_password_and_application_credential(user):
    account = AccountFactory()
    pwd = secret_store(
        actor=user,
        source="console",
        owner=None,
        kind=SecretKind.ACCOUNT_PASSWORD,
        name="pw",
        value="p@ss",
        account=account,
    )
    cred = secret_store(
        actor=user,
        source="api",
        owner=None,
        kind=SecretKind.APPLICATION_CREDENTIAL,
        name="api key",
        value="tok",
    )
    assert _reveal(pwd) == "p@ss" and _reveal(cred) == "tok"


@pytest.mark.parametrize("column", ["ciphertext", "nonce", "wrapped_key", "wrap_nonce"])
def test_tampered_column_is_a_clear_error(user, column):
    secret = _store(user)
    _set_column(secret, column, _flip(getattr(Secret.objects.get(pk=secret.pk), column)))
    with pytest.raises(VaultIntegrityError, match=f"{secret.pk}.*failed authentication"):
        _reveal(secret)


def test_truncated_nonce_is_a_clear_error(user):
    secret = _store(user)
    _set_column(secret, "nonce", b"")
    with pytest.raises(VaultIntegrityError):
        _reveal(secret)


def test_ciphertext_swapped_between_rows_is_refused(user):
    """Associated data binds the value to its row: copying another row's crypto columns fails."""
    mine = _store(user, value="mine", name="mine")
    other = _store(UserFactory(), value="someone else's", name="theirs")
    src = Secret.objects.get(pk=other.pk)
    for column in ("ciphertext", "nonce"):
        _set_column(mine, column, bytes(getattr(src, column)))
    with pytest.raises(VaultIntegrityError):
        _reveal(mine)
    # Even all four columns together (a full transplant) do not decrypt under another id.
    for column in ("wrapped_key", "wrap_nonce"):
        _set_column(mine, column, bytes(getattr(src, column)))
    with pytest.raises(VaultIntegrityError):
        _reveal(mine)


@pytest.mark.parametrize("column", ["owner_id", "kind"])
def test_rebinding_the_row_behind_the_vault_is_refused(user, column):
    """Pointing a secret at another owner (or kind) directly in the database breaks decryption."""
    secret = _store(user, kind=SecretKind.APPLICATION_CREDENTIAL)
    value = UserFactory().pk if column == "owner_id" else SecretKind.PERSONAL
    _set_column(secret, column, value)
    with pytest.raises(VaultIntegrityError):
        _reveal(secret)


def test_unknown_key_version_is_a_clear_error(user):
    secret = _store(user)
    with override_settings(BLAZON_VAULT_KEYS=keys(2)), pytest.raises(VaultKeyMissing, match="version 1"):
        _reveal(secret)


def test_wrong_master_key_under_same_version_is_a_clear_error(user):
    secret = _store(user)
    with override_settings(BLAZON_VAULT_KEYS=keys(2).replace("2:", "1:")), pytest.raises(VaultIntegrityError):
        _reveal(secret)


def test_update_value_rotates_and_name_changes(user):
    secret = _store(user)
    before = Secret.objects.get(pk=secret.pk)
    updated = secret_update(actor=user, source="workspace", secret=secret, value="new value", name="renamed")
    assert _reveal(updated) == "new value"
    assert updated.name == "renamed" and updated.rotated_at is not None
    assert bytes(updated.wrapped_key) != bytes(before.wrapped_key)  # a fresh data key


def test_update_without_change_does_nothing(user):
    secret = _store(user)
    count = AuditEvent.objects.count()
    secret_update(actor=user, source="workspace", secret=secret, name=secret.name)
    assert AuditEvent.objects.count() == count


def test_moving_a_secret_reseals_it(user):
    new_owner = UserFactory()
    secret = _store(user, kind=SecretKind.APPLICATION_CREDENTIAL)
    moved = secret_update(actor=user, source="console", secret=secret, owner=new_owner)
    assert moved.owner_id == new_owner.pk and moved.rotated_at is None
    assert _reveal(moved) == PLAINTEXT


def test_delete(user):
    secret = _store(user)
    secret_delete(actor=user, source="workspace", secret=secret)
    assert not Secret.objects.filter(pk=secret.pk).exists()
    assert AuditEvent.objects.filter(action="vault.secret.deleted", object_id=str(secret.pk)).exists()
    secret_delete(actor=user, source="workspace", secret=secret)  # already gone: nothing to do


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"value": ""}, "value"),
        ({"value": 123}, "value"),
        ({"value": "x" * (64 * 1024 + 1)}, "value"),
        ({"kind": "NOPE"}, "kind"),
        ({"owner": None}, "owner"),
        ({"kind": SecretKind.ACCOUNT_PASSWORD, "owner": None}, "account"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(user, kwargs, field):
    args = {"owner": user, "kind": SecretKind.PERSONAL, "name": "n", "value": "v", **kwargs}
    with pytest.raises(ValidationFailed) as excinfo:
        secret_store(actor=user, source="workspace", **args)
    assert field in excinfo.value.fields
    assert not Secret.objects.exists() and not AuditEvent.objects.filter(action__startswith="vault.").exists()


def test_duplicates_are_conflicts(user):
    _store(user, name="dup")
    with pytest.raises(Conflict):
        _store(user, name="dup")
    account = AccountFactory()
    args = {
        "owner": None,
        "kind": SecretKind.ACCOUNT_PASSWORD,
        "name": "pw",
        "value": "v",
        "account": account,
    }
    secret_store(actor=user, source="console", **args)
    with pytest.raises(Conflict):
        secret_store(actor=user, source="console", **args)


def test_plaintext_never_reaches_the_audit_log(user):
    secret = _store(user)
    _reveal(secret, actor=user)
    secret_update(actor=user, source="workspace", secret=secret, value=PLAINTEXT + "-2")
    _reveal(secret, actor=user)
    secret_delete(actor=user, source="workspace", secret=secret)
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions == [
        "vault.secret.stored",
        "vault.secret.revealed",
        "vault.secret.updated",
        "vault.secret.revealed",
        "vault.secret.deleted",
    ]
    dump = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert PLAINTEXT not in dump and "S3cr3t" not in dump
    assert not any(k in dump for k in ALL_KEY_TEXT)
    revealed = AuditEvent.objects.filter(action="vault.secret.revealed").first()
    assert revealed.actor_id == user.pk and revealed.object_id == str(secret.pk)
    assert revealed.subject_user_id == user.pk
    assert audit_verify().ok


def test_plaintext_never_reaches_the_logs(user, caplog):
    caplog.set_level(logging.DEBUG)
    secret = _store(user)
    _reveal(secret)
    secret_update(actor=user, source="workspace", secret=secret, value=PLAINTEXT + "-2")
    _set_column(secret, "ciphertext", b"broken")
    with pytest.raises(VaultIntegrityError) as excinfo:
        _reveal(secret)
    assert caplog.records, "the failed reveal is logged"
    text = caplog.text + str(excinfo.value)
    assert "S3cr3t" not in text and not any(k in text for k in ALL_KEY_TEXT)


def test_repr_and_str_never_show_the_value(user):
    secret = Secret.objects.get(pk=_store(user).pk)
    for text in (repr(secret), str(secret)):
        assert "S3cr3t" not in text and "ciphertext" not in text and "b'" not in text
    assert str(secret.pk) in repr(secret)
