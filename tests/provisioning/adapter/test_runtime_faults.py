"""Adapter processes that die or run side by side, end to end: real ``python -m
provisioning.adapter --config FILE`` subprocesses pull from the core (pytest-django's live
server) over HTTP with OAuth2 client credentials and write to a real slapd.

* An adapter killed with SIGKILL in the middle of a batch: once its lease has run out another
  adapter run takes the entries, and LDAP ends with every account once and every membership
  once, and no entry failed because the object "already exists".
* Two replicas of one adapter on one resource at the same time: every entry is pulled and
  executed by exactly one of them (the core's pull records and attempts, both journals, LDAP).

Leases are short here (``BLAZON_ADAPTER_MIN_LEASE_SECONDS`` lowered to 1 s, the adapters ask
for 2 s) so a dead adapter's entries come back in seconds.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import ldap3
import pytest
from django.db.models import Q

from blazon.audit.models import AuditEvent
from provisioning.models import EntryStatus, ProvisioningEntry
from tests.provisioning.adapter.proxy import Proxy
from tests.provisioning.adapter.slapd import PEOPLE, ldap_settings
from tests.provisioning.adapter.workload import drain_entries
from tests.provisioning.conftest import keypair

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[3]
LEASE = 2


@pytest.fixture
def short_leases(settings):
    settings.BLAZON_ADAPTER_MIN_LEASE_SECONDS = 1


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    path: Path,
    *,
    core_url: str,
    client_id: str,
    key: Path,
    journal: Path,
    connector: dict[str, Any],
    **runtime,
) -> Path:
    runtime = {"poll_seconds": 0.05, "batch_size": 20, "lease_seconds": LEASE, "attempts": 3, **runtime}
    lines = [
        "[core]",
        f"url = {_toml(core_url)}",
        f"client_id = {_toml(client_id)}",
        'client_secret_env = "BLAZON_ADAPTER_SECRET"',
        f"private_key = {_toml(key)}",
        "timeout_seconds = 10",
        "[runtime]",
        f"journal = {_toml(journal)}",
        *(f"{k} = {_toml(v)}" for k, v in runtime.items()),
        "[connector]",
        *(f"{k} = {_toml(v)}" for k, v in connector.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


class AdapterProcess:
    """``python -m provisioning.adapter --config FILE`` as a real child process."""

    def __init__(self, config: Path, secret: str, log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "provisioning.adapter", "--config", str(config)],
            cwd=ROOT,
            env={**os.environ, "BLAZON_ADAPTER_SECRET": secret},
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self._out.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def adapters(world, live_server, tmp_path):
    """Start adapter processes against the live server; all stopped at the end."""
    key = tmp_path / "adapter.key.pem"
    key.write_bytes(keypair(0)[0])
    client_id, secret = world["erp_creds"]
    started: list[AdapterProcess] = []

    def start(
        name: str, connector: dict[str, Any], *, journal: str | None = None, **runtime
    ) -> AdapterProcess:
        config = write_config(
            tmp_path / f"{name}.toml",
            core_url=live_server.url,
            client_id=client_id,
            key=key,
            journal=tmp_path / f"{journal or name}.sqlite3",
            connector=connector,
            **runtime,
        )
        process = AdapterProcess(config, secret, tmp_path / f"{name}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def wait_for(condition, *, seconds: float, what: str, adapters: list[AdapterProcess] = ()) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        for a in adapters:
            assert a.process.poll() is None, f"the adapter exited: {a.output()}"
        time.sleep(0.02)
    logs = "\n".join(a.output() for a in adapters)
    raise AssertionError(f"{what}: not within {seconds} s\n{logs}")


def ldap_accounts(slapd) -> list[str]:
    conn = slapd.connection()
    conn.search(PEOPLE, "(objectClass=inetOrgPerson)", ldap3.LEVEL, attributes=["uid"])
    dns = [e.entry_dn for e in conn.entries]
    conn.unbind()
    return dns


def group_members(slapd, group: str = "payments") -> list[str]:
    """Every ``member`` value as the server holds it (duplicates would show)."""
    return slapd.members(group)


def all_succeeded(ids: list[int]) -> bool:
    return ProvisioningEntry.objects.filter(pk__in=ids, status=EntryStatus.SUCCEEDED).count() == len(ids)


def journal_tries(path: Path) -> dict[int, int]:
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT id, tries FROM entries WHERE tries > 0").fetchall())
    finally:
        db.close()


def expected_dns(prefix: str, users: int) -> set[str]:
    return {f"uid={prefix}{i:06d},{PEOPLE}".lower() for i in range(users)}


def assert_ldap_has_each_once(slapd, prefix: str, users: int) -> None:
    accounts = ldap_accounts(slapd)
    assert sorted(a.lower() for a in accounts) == sorted(expected_dns(prefix, users))
    members = group_members(slapd)
    assert len(members) == len({m.lower() for m in members}) == users
    assert {m.lower() for m in members} == expected_dns(prefix, users)


@pytest.mark.parametrize("journal", ["restarted", "replacement"])
def test_an_adapter_killed_mid_batch_leaves_no_duplicate_effect(
    world, slapd, adapters, short_leases, tmp_path, journal
):
    """``restarted``: the same adapter comes back with its journal (systemd restarts it);
    ``replacement``: another host takes over with an empty journal, so every entry the dead
    adapter executed but did not report is executed again in LDAP."""
    users = 40
    ids = drain_entries(resource=world["erp"], entitlement=world["ent"], users=users, prefix="k")
    slow = Proxy(slapd.port, delay=0.01)  # ≈ 10 ms per LDAP answer: a batch lasts long enough
    slow.start()
    connector = ldap_settings(slapd, url=f"ldap://127.0.0.1:{slow.port}")
    try:
        first = adapters("first", connector)
        wait_for(lambda: len(ldap_accounts(slapd)) >= 3, seconds=60, what="first accounts", adapters=[first])
        first.kill()

        # mid-batch: some accounts exist in LDAP whose entries the core still sees leased
        done_in_ldap = {dn.lower() for dn in ldap_accounts(slapd)}
        leased = list(
            ProvisioningEntry.objects.filter(pk__in=ids, status=EntryStatus.PULLED).select_related("account")
        )
        unreported = [
            e
            for e in leased
            if e.event_type == "CREATE_ACCOUNT"
            and f"uid={e.account.identifier},{PEOPLE}".lower() in done_in_ldap
        ]
        assert unreported, "the adapter should have died with executed, unreported entries"
        assert len(done_in_ldap) < users, "the adapter should have died before the end"

        # nobody else gets the entries while the dead adapter's lease runs
        time.sleep(LEASE + 0.5)
        second = adapters(
            "second", connector, journal="first" if journal == "restarted" else None, concurrency=4
        )
        wait_for(lambda: all_succeeded(ids), seconds=120, what="every entry succeeded", adapters=[second])
        second.stop()
    finally:
        slow.stop()

    entries = ProvisioningEntry.objects.filter(pk__in=ids)
    assert not entries.exclude(status=EntryStatus.SUCCEEDED).exists()
    assert not entries.filter(
        Q(last_error__icontains="already exists") | Q(manual_task__isnull=False)
    ).exists()
    if journal == "replacement":  # pulled again and executed again: "already exists" made to match
        for entry in unreported:
            entry.refresh_from_db()
            assert entry.attempts == 2
    assert_ldap_has_each_once(slapd, "k", users)


def test_two_replicas_on_one_resource_never_execute_an_entry_twice(
    world, slapd, adapters, short_leases, tmp_path
):
    slow = Proxy(slapd.port, delay=0.005)
    slow.start()
    connector = ldap_settings(slapd, url=f"ldap://127.0.0.1:{slow.port}")
    # long enough leases: a replica is never slower than its lease here
    # r1 executes 4 entries at once (a connection each), r2 one at a time
    replicas = [
        adapters(name, connector, batch_size=10, lease_seconds=60, concurrency=n)
        for name, n in (("r1", 4), ("r2", 1))
    ]
    try:
        # both replicas are up and polling before there is any work
        wait_for(
            lambda: all((tmp_path / f"{n}.sqlite3").exists() for n in ("r1", "r2")),
            seconds=60,
            what="both replicas polling",
            adapters=replicas,
        )
        time.sleep(0.5)
        users = 50
        ids = drain_entries(resource=world["erp"], entitlement=world["ent"], users=users, prefix="r")
        wait_for(lambda: all_succeeded(ids), seconds=120, what="every entry succeeded", adapters=replicas)
    finally:
        for replica in replicas:
            replica.stop()
        slow.stop()

    # the core: each entry pulled once (attempts, and the pull records of the audit log)
    entries = ProvisioningEntry.objects.filter(pk__in=ids)
    assert set(entries.values_list("attempts", flat=True)) == {1}
    pulled: list[int] = []
    for event in AuditEvent.objects.filter(action="provisioning.entries_pulled"):
        pulled.extend(i for i in event.new_values["entries"] if i in set(ids))
    assert sorted(pulled) == sorted(ids)
    succeeded = AuditEvent.objects.filter(
        action="provisioning.entry_succeeded", object_id__in=[str(i) for i in ids]
    )
    assert succeeded.count() == len(ids)
    # the replicas: each entry tried once, by one of them; both did part of the work
    tries = [journal_tries(tmp_path / f"{n}.sqlite3") for n in ("r1", "r2")]
    assert set(tries[0]).isdisjoint(tries[1])
    assert sorted([*tries[0], *tries[1]]) == sorted(ids)
    assert set(tries[0].values()) == set(tries[1].values()) == {1}
    assert tries[0] and tries[1], "both replicas should have taken entries"
    # the directory server
    assert_ldap_has_each_once(slapd, "r", users)
