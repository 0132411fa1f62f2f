"""A secret an entry refers to reaches the adapter sealed to its own key: never in the
entry's payload, the audit log or the logs, and only the adapter's private key opens it."""

from __future__ import annotations

import json
import logging

import pytest

from blazon.audit.models import AuditEvent
from blazon.errors import ValidationFailed
from provisioning import crypto
from provisioning.models import ProvisioningEntry
from provisioning.services.adapter import adapter_client_register
from tests.provisioning.conftest import keypair, make_entry
from vault.models import SecretKind
from vault.services import secret_store

pytestmark = pytest.mark.django_db
PASSWORD = "Initial-Pa55word-for-alice!"


def test_the_password_is_sealed_for_the_adapter_only(world, erp_api, caplog):
    caplog.set_level(logging.DEBUG)
    secret = secret_store(
        actor=None,
        source="console",
        owner=None,
        kind=SecretKind.ACCOUNT_PASSWORD,
        name="alice@erp",
        value=PASSWORD,
        account=world["account"],
    )
    entry = make_entry(
        world["erp"], "CHANGE_PASSWORD", account=world["account"], payload={"secret_id": str(secret.pk)}
    )
    response = erp_api.post("/api/v1/adapter/pull/", {}, format="json")
    assert response.status_code == 200
    (delivered,) = response.json()["entries"]
    assert PASSWORD not in response.content.decode()
    assert "secret_id" not in delivered["payload"] and delivered["secret_error"] is None
    sealed = delivered["secret"]
    assert sealed["alg"] == "RSA-OAEP-256+A256GCM" and sealed["kid"] == crypto.key_id(keypair(0)[1])
    private = keypair(0)[0]
    assert crypto.open_for_adapter(sealed, private_key_pem=private, entry_id=entry.pk) == PASSWORD
    # bound to its entry, and useless with another key
    with pytest.raises(ValueError):
        crypto.open_for_adapter(sealed, private_key_pem=private, entry_id=entry.pk + 1)
    with pytest.raises(ValueError):
        crypto.open_for_adapter(sealed, private_key_pem=keypair(1)[0], entry_id=entry.pk)
    # the plaintext is nowhere in the database rows we wrote, nor in the logs
    stored = ProvisioningEntry.objects.get(pk=entry.pk)
    assert PASSWORD not in json.dumps(stored.payload) and PASSWORD not in json.dumps(stored.result)
    for values in AuditEvent.objects.values_list("old_values", "new_values"):
        assert PASSWORD not in json.dumps(values)
    assert PASSWORD not in caplog.text
    assert AuditEvent.objects.filter(action="vault.secret.revealed", source="adapter").count() == 1


def test_a_missing_secret_is_said_not_guessed(world, erp_api):
    make_entry(
        world["erp"],
        "CHANGE_PASSWORD",
        account=world["account"],
        payload={"secret_id": "00000000-0000-0000-0000-000000000000"},
    )
    (delivered,) = erp_api.post("/api/v1/adapter/pull/", {}, format="json").json()["entries"]
    assert delivered["secret"] is None and "no longer in the vault" in delivered["secret_error"]


@pytest.mark.parametrize(
    "key", ["", "not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"]
)
def test_registering_a_client_needs_a_usable_public_key(world, key):
    with pytest.raises(ValidationFailed) as exc:
        adapter_client_register(
            actor=None, source="console", name="bad", resources=[world["erp"]], public_key=key
        )
    assert "public_key" in exc.value.fields


def test_the_register_command_prints_credentials_that_work(world, tmp_path, capsys):
    from django.core.management import call_command

    from tests.provisioning.conftest import api_for, token_for

    pem = tmp_path / "adapter.pub.pem"
    pem.write_text(keypair(0)[1])
    call_command("adapter_register", "ldap-adapter", "--resource", "erp", "--public-key-file", str(pem))
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    api = api_for(token_for(lines["client_id"], lines["client_secret"]))
    assert api.get("/api/v1/adapter/me/").json()["name"] == "ldap-adapter"
