"""The adapter runtime end to end: the core runs as pytest-django's live server, the adapter
pulls over HTTP with its OAuth2 client credentials, executes against a real slapd and reports.

A GRANT_ENTITLEMENT request for a user without an account writes CREATE_ACCOUNT then
GRANT_ENTITLEMENT; the adapter creates the LDAP entry, adds it to the group, and the request
finishes. Then the unhappy paths: LDAP down (transient tries, then success), a change LDAP
refuses (final failure → manual resolution), the core down between execution and report
(reported later, executed once)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlparse

import pytest
from django.utils import timezone

from provisioning.adapter.config import config_from_dict
from provisioning.adapter.connectors.ldap import LdapConnector
from provisioning.adapter.journal import DONE, RECEIVED, REPORTED
from provisioning.adapter.runtime import Runtime
from provisioning.models import EntryStatus, NativeIdentifier, ProvisioningEntry
from requests_workflow.models import RequestStatus
from tests.provisioning.adapter.proxy import Proxy
from tests.provisioning.adapter.slapd import PEOPLE, ldap_settings
from tests.provisioning.conftest import keypair

CAROL_DN = f"uid=carol,{PEOPLE}"


@pytest.fixture
def adapter_config(world, live_server, tmp_path, monkeypatch):
    """A function building the adapter's configuration (as the TOML file would give it)."""
    key = tmp_path / "adapter.key.pem"
    key.write_bytes(keypair(0)[0])
    client_id, secret = world["erp_creds"]
    monkeypatch.setenv("TEST_ADAPTER_SECRET", secret)

    def build(connector: dict[str, Any], *, url: str | None = None, **runtime: Any):
        return config_from_dict(
            {
                "core": {
                    "url": url or live_server.url,
                    "client_id": client_id,
                    "client_secret_env": "TEST_ADAPTER_SECRET",
                    "private_key": str(key),
                    "timeout_seconds": 5,
                },
                "runtime": {
                    "journal": str(tmp_path / "journal.sqlite3"),
                    "poll_seconds": 0,
                    "batch_size": 10,
                    "lease_seconds": 60,
                    "attempts": 3,
                    "backoff_seconds": 0.05,
                    "window_seconds": 60,
                    **runtime,
                },
                "connector": connector,
            }
        )

    return build


def run_until(runtime: Runtime, done, *, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runtime.run_once()
        if done():
            return
        time.sleep(0.02)
    raise AssertionError("the adapter did not get there in time")


def status_of(req) -> str:
    req.refresh_from_db()
    return req.status


def entries_of(req) -> list[ProvisioningEntry]:
    return list(ProvisioningEntry.objects.filter(correlation_id=f"request-{req.pk}").order_by("pk"))


def test_a_grant_for_a_user_without_account_reaches_ldap_and_finishes(grant, adapter_config, slapd):
    runtime = Runtime(adapter_config(ldap_settings(slapd)))
    try:
        run_until(runtime, lambda: status_of(grant) == RequestStatus.FINISHED)
    finally:
        runtime.close()
    create, grant_entry = entries_of(grant)
    assert [create.event_type, grant_entry.event_type] == ["CREATE_ACCOUNT", "GRANT_ENTITLEMENT"]
    assert create.status == grant_entry.status == EntryStatus.SUCCEEDED
    # in the directory server, checked with ldap3 directly
    carol = slapd.entry(CAROL_DN)
    assert carol is not None and carol["uid"] == ["carol"] and "inetOrgPerson" in carol["objectClass"]
    assert slapd.members("payments") == [CAROL_DN]
    # the DN came back to the core as the account's native identifier
    assert NativeIdentifier.objects.get(account=create.account).value == CAROL_DN


def test_ldap_down_is_retried_then_succeeds_when_it_is_back(grant, adapter_config, slapd):
    slapd.stop()
    runtime = Runtime(adapter_config(ldap_settings(slapd), attempts=50, backoff_seconds=0.05))
    try:
        (create,) = [e for e in entries_of(grant) if e.event_type == "CREATE_ACCOUNT"]
        run_until(runtime, lambda: (runtime.journal.get(create.pk) or _never).tries >= 3)
        local = runtime.journal.get(create.pk)
        assert local.state == RECEIVED and "unreachable" in local.last_error
        create.refresh_from_db()
        assert create.status == EntryStatus.PULLED  # nothing reported: still trying
        slapd.start()
        run_until(runtime, lambda: status_of(grant) == RequestStatus.FINISHED)
    finally:
        runtime.close()
    assert slapd.members("payments") == [CAROL_DN]


class _Never:
    tries = 0


_never = _Never()


def test_a_change_ldap_refuses_is_reported_as_a_final_failure(grant, adapter_config, slapd):
    mapping = {"cn": "{display_name}", "sn": "{last_name}", "favouriteColour": "{email}"}
    runtime = Runtime(adapter_config(ldap_settings(slapd, account_attributes=mapping)))
    (create,) = [e for e in entries_of(grant) if e.event_type == "CREATE_ACCOUNT"]

    def failed() -> bool:
        create.refresh_from_db()
        return create.status == EntryStatus.WAITING_FAILOVER_RESOLVING

    try:
        run_until(runtime, failed)
        assert runtime.journal.get(create.pk).tries == 1  # a bad request is not retried
    finally:
        runtime.close()
    assert "favouriteColour" in create.last_error or "undefined" in create.last_error.lower()
    assert create.manual_task is not None
    assert status_of(grant) == RequestStatus.WAITING_PROVISIONING
    assert slapd.entry(CAROL_DN) is None


class CountingLdap(LdapConnector):
    """Counts account creations; runs a hook right after one (to take the core down)."""

    created = 0
    after_create = staticmethod(lambda: None)

    def create_account(self, account, *, password=None):
        dn = super().create_account(account, password=password)
        type(self).created += 1
        self.after_create()
        return dn


def test_core_down_between_execution_and_report_reports_later_and_executes_once(
    grant, adapter_config, slapd, live_server
):
    proxy = Proxy(urlparse(live_server.url).port)
    proxy.start()
    CountingLdap.created = 0
    CountingLdap.after_create = staticmethod(proxy.stop)
    config = adapter_config(ldap_settings(slapd), url=proxy.url)
    (create,) = [e for e in entries_of(grant) if e.event_type == "CREATE_ACCOUNT"]

    runtime = Runtime(config, connector=CountingLdap(config.connector))
    runtime.run_once()  # pulls, creates carol in LDAP, the core goes down before the report
    runtime.run_once()  # the core is still down: the outcome waits in the journal
    assert CountingLdap.created == 1 and slapd.entry(CAROL_DN) is not None
    assert runtime.journal.get(create.pk).state == DONE
    create.refresh_from_db()
    assert create.status == EntryStatus.PULLED
    runtime.close()  # the adapter process stops too

    # meanwhile the lease ran out, so the core hands the entry out again
    ProvisioningEntry.objects.filter(pk=create.pk).update(lease_until=timezone.now())
    proxy.start()
    restarted = Runtime(config, connector=CountingLdap(config.connector))
    try:
        assert restarted.pull() >= 1  # the same entry again: known, done, not executed again
        assert restarted.journal.get(create.pk).state == DONE
        run_until(restarted, lambda: status_of(grant) == RequestStatus.FINISHED)
        assert restarted.journal.get(create.pk).state == REPORTED
    finally:
        restarted.close()
        proxy.stop()
    assert CountingLdap.created == 1
    create.refresh_from_db()
    assert create.status == EntryStatus.SUCCEEDED and create.attempts == 2
    assert slapd.members("payments") == [CAROL_DN]


def test_the_adapter_process_runs_from_its_config_file(grant, world, live_server, tmp_path):
    """``python -m provisioning.adapter --config FILE``, a real process, CSV connector."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    app = tmp_path / "app"
    app.mkdir()
    (app / "entitlements.csv").write_text("identifier,name\npayments,Payments\n")
    key = tmp_path / "adapter.key.pem"
    key.write_bytes(keypair(0)[0])
    client_id, secret = world["erp_creds"]
    config = tmp_path / "adapter.toml"
    config.write_text(
        f'[core]\nurl = "{live_server.url}"\nclient_id = "{client_id}"\n'
        f'client_secret_env = "BLAZON_ADAPTER_SECRET"\nprivate_key = "{key}"\n'
        f'[runtime]\njournal = "{tmp_path / "journal.sqlite3"}"\npoll_seconds = 0.1\n'
        f'[connector]\ntype = "csv"\ndirectory = "{app}"\n'
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-m", "provisioning.adapter", "--config", str(config), "--iterations", "4"],
        cwd=root,
        env={**os.environ, "BLAZON_ADAPTER_SECRET": secret},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert status_of(grant) == RequestStatus.FINISHED, done.stderr
    assert "carol" in (app / "accounts.csv").read_text() and "payments" in (app / "accounts.csv").read_text()
