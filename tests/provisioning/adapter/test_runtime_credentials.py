"""Credentials the adapter creates reach Blazon's vault end to end: the runtime (a real HTTP
client of pytest-django's live server) generates an initial password, keeps it sealed in its
journal, sets it through the CSV connector, and stores it through the adapter API before it
reports — also when the core was down in between. A secret the application issues for an
application account goes the same way, readable only by who checks the account in."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from directory.models import AccountType
from provisioning.adapter.connectors.csvfile import CsvConnector
from provisioning.adapter.journal import DONE, PENDING, REPORTED, STORED
from provisioning.adapter.runtime import Runtime
from provisioning.models import EntryStatus
from tests.api.factories import AccountFactory, UserFactory
from tests.provisioning.adapter import test_runtime_e2e as e2e
from tests.provisioning.adapter.proxy import Proxy
from tests.provisioning.conftest import make_entry
from vault.models import Secret, SecretKind
from vault.services import checkout_open, checkout_reveal, secret_reveal

API_KEY = "issued-api-key-7f3a9c"
adapter_config = e2e.adapter_config  # the same fixture as the runtime's end-to-end tests
run_until = e2e.run_until


class StopAfterCreate(CsvConnector):
    """Takes the core down right after the account is created in the application."""

    hook = staticmethod(lambda: None)

    def create_account(self, account, *, password=None):
        remote = super().create_account(account, password=password)
        self.hook()
        return remote


class IssuingCsv(CsvConnector):
    """An application that hands out an API key when an application account is created."""

    def __init__(self, settings):
        super().__init__(settings)
        self._issued: list[tuple[str, str]] = []

    def create_account(self, account, *, password=None):
        remote = super().create_account(account, password=password)
        self._issued.append(("billing API key", API_KEY))
        return remote

    def take_issued_credentials(self):
        issued, self._issued = self._issued, []
        return issued


def succeeded(entry) -> bool:
    entry.refresh_from_db()
    return entry.status == EntryStatus.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_a_generated_initial_password_reaches_the_vault_after_the_core_was_down(
    world, adapter_config, live_server, tmp_path
):
    entry = make_entry(world["erp"], "CREATE_ACCOUNT", account=world["account"])
    proxy = Proxy(urlparse(live_server.url).port)
    proxy.start()
    config = adapter_config(
        {"type": "csv", "directory": str(tmp_path / "app")}, url=proxy.url, initial_passwords=True
    )
    connector = StopAfterCreate(config.connector)
    connector.hook = staticmethod(proxy.stop)
    runtime = Runtime(config, connector=connector)
    try:
        runtime.run_once()  # pulls, creates alice with a generated password; the core goes down
        runtime.run_once()  # still down: the password and the outcome wait in the journal
        (kept,) = runtime.journal.credentials_pending()
        assert kept.kind == "ACCOUNT_PASSWORD" and kept.state == PENDING
        assert runtime.journal.get(entry.pk).state == DONE
        assert not Secret.objects.exists()
        entry.refresh_from_db()
        assert entry.status == EntryStatus.PULLED
        proxy.start()
        connector.hook = staticmethod(lambda: None)
        run_until(runtime, lambda: succeeded(entry))
        assert runtime.journal.get(entry.pk).state == REPORTED
        stored = runtime.journal.credential(entry.pk, world["account"].pk, "ACCOUNT_PASSWORD")
        assert stored.state == STORED and stored.sealed == {}  # nothing left to open locally
    finally:
        runtime.close()
        proxy.stop()
    secret = Secret.objects.get(account=world["account"], kind=SecretKind.ACCOUNT_PASSWORD)
    password = secret_reveal(actor=None, source="test", secret=secret)
    assert len(password) == 24
    assert password.encode() not in (tmp_path / "journal.sqlite3").read_bytes()
    assert "password_changed_at" in (tmp_path / "app" / "accounts.csv").read_text()


@pytest.mark.django_db(transaction=True)
def test_a_secret_the_application_issues_is_stored_for_the_check_in_holder_only(
    world, adapter_config, tmp_path
):
    app_account = AccountFactory(
        resource=world["erp"], owner=None, identifier="svc-billing", account_type=AccountType.APPLICATION
    )
    entry = make_entry(world["erp"], "CREATE_ACCOUNT", account=app_account)
    config = adapter_config({"type": "csv", "directory": str(tmp_path / "app")})
    runtime = Runtime(config, connector=IssuingCsv(config.connector))
    try:
        run_until(runtime, lambda: succeeded(entry))
    finally:
        runtime.close()
    secret = Secret.objects.get(account=app_account, kind=SecretKind.APPLICATION_CREDENTIAL)
    assert secret.name == "billing API key"
    holder, other = UserFactory(username="ops1"), UserFactory(username="ops2")
    checkout = checkout_open(actor=holder, source="test", account=app_account, user=holder)
    assert checkout_reveal(actor=holder, source="test", checkout=checkout) == API_KEY
    from blazon.errors import NotAllowed

    with pytest.raises(NotAllowed):
        checkout_reveal(actor=other, source="test", checkout=checkout)


@pytest.mark.django_db(transaction=True)
def test_issued_secrets_reach_the_vault_when_entries_run_on_several_threads(
    world, adapter_config, tmp_path, monkeypatch
):
    """With ``concurrency`` > 1 each worker thread has its own connector: the secret an entry's
    creation issued is taken from that thread's connector, so none is lost or mixed up."""
    from provisioning.adapter import runtime as runtime_module

    accounts = [
        AccountFactory(
            resource=world["erp"], owner=None, identifier=f"svc-{n}", account_type=AccountType.APPLICATION
        )
        for n in range(4)
    ]
    entries = [make_entry(world["erp"], "CREATE_ACCOUNT", account=a) for a in accounts]
    monkeypatch.setattr(runtime_module, "connector_from_settings", IssuingCsv)
    config = adapter_config({"type": "csv", "directory": str(tmp_path / "app")}, concurrency=4)
    runtime = Runtime(config)
    try:
        run_until(runtime, lambda: all(succeeded(e) for e in entries))
    finally:
        runtime.close()
    stored = Secret.objects.filter(kind=SecretKind.APPLICATION_CREDENTIAL)
    assert sorted(stored.values_list("account__identifier", flat=True)) == [f"svc-{n}" for n in range(4)]


def test_initial_passwords_need_a_private_key_to_keep_them(tmp_path):
    from provisioning.adapter.config import config_from_dict

    config = config_from_dict(
        {
            "core": {"url": "http://127.0.0.1:1", "client_id": "x", "client_secret": "y"},
            "runtime": {"journal": str(tmp_path / "j.sqlite3"), "initial_passwords": True},
            "connector": {"type": "csv", "directory": str(tmp_path)},
        }
    )
    with pytest.raises(ValueError, match="private_key"):
        Runtime(config)


class RefusingCsv(CsvConnector):
    def create_account(self, account, *, password=None):
        from provisioning.adapter.connectors import BadRequestError

        raise BadRequestError("the application refuses this account")


@pytest.mark.django_db(transaction=True)
def test_a_password_kept_for_a_creation_that_failed_is_not_stored(world, adapter_config, tmp_path):
    entry = make_entry(world["erp"], "CREATE_ACCOUNT", account=world["account"])
    config = adapter_config({"type": "csv", "directory": str(tmp_path / "app")}, initial_passwords=True)
    runtime = Runtime(config, connector=RefusingCsv(config.connector))

    def failed() -> bool:
        entry.refresh_from_db()
        return entry.status == EntryStatus.WAITING_FAILOVER_RESOLVING

    try:
        run_until(runtime, failed)
        assert runtime.journal.credentials_pending() == []
    finally:
        runtime.close()
    assert not Secret.objects.exists()
