"""The runtime's own rules without a core or an application: retries (attempts, back-off, time
window), typed errors, leases taken by another replica, sealed secrets, the journal, the CSV
connector, the configuration file, and that the process needs no Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provisioning import crypto
from provisioning.adapter.client import CoreUnavailable, EntryGone
from provisioning.adapter.config import ConfigError, config_from_dict, config_load
from provisioning.adapter.connectors import AccountData, NotFoundError, TransientError
from provisioning.adapter.connectors.csvfile import CsvConnector
from provisioning.adapter.journal import DONE, DROPPED, RECEIVED, REPORTED, Journal
from provisioning.adapter.runtime import Runtime
from provisioning.adapter.secrets import SecretError, secret_open
from tests.provisioning.conftest import keypair

ROOT = Path(__file__).resolve().parents[3]


class FakeCore:
    """The core's adapter API, in memory: hands out ``queue`` and records reports."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.queue, self.reports, self.down, self.gone = list(entries), [], False, set()

    def pull(self, *, limit, lease_seconds):
        if self.down:
            raise CoreUnavailable("down")
        batch, self.queue = self.queue[:limit], self.queue[limit:]
        return {"entries": batch}

    def lease(self, entry_id, *, lease_seconds):
        if entry_id in self.gone:
            raise EntryGone("leased_by_other")
        return {}

    def report(self, entry_id, outcome, body):
        if self.down:
            raise CoreUnavailable("down")
        self.reports.append((entry_id, outcome, body))
        return {}

    def report_many(self, reports):
        """The batch call: per-report results; an entry in ``gone`` is refused on its own."""
        if self.down:
            raise CoreUnavailable("down")
        results = []
        for r in reports:
            if r["entry"] in self.gone:
                error = {"code": "leased_by_other", "message": "leased to another adapter"}
                results.append({"entry": r["entry"], "ok": False, "state": None, "error": error})
                continue
            body = {k: v for k, v in r.items() if k not in ("entry", "outcome")}
            self.reports.append((r["entry"], r["outcome"], body))
            results.append({"entry": r["entry"], "ok": True, "state": {}, "error": None})
        return results

    def close(self):
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def entry(entry_id: int, event: str = "CREATE_ACCOUNT", **extra: Any) -> dict[str, Any]:
    return {
        "id": entry_id,
        "event_type": event,
        "account": {"id": 7, "identifier": "alice", "native_identifier": None, "attributes": {}},
        "entitlement": {"id": 3, "identifier": "payments", "native_identifier": None, "name": "Payments"},
        "user": {"username": "alice", "email": "a@example.test", "first_name": "A", "last_name": "L"},
        "payload": {},
        "secret": None,
        "secret_error": None,
        **extra,
    }


def make(tmp_path, core, connector=None, clock=None, **runtime):
    key = tmp_path / "k.pem"
    key.write_bytes(keypair(0)[0])
    config = config_from_dict(
        {
            "core": {
                "url": "http://core.invalid",
                "client_id": "c",
                "client_secret": "s",
                "private_key": str(key),
            },
            "runtime": {"journal": str(tmp_path / "j.sqlite3"), "poll_seconds": 0, **runtime},
            "connector": {"type": "csv", "directory": str(tmp_path / "app")},
        }
    )
    return Runtime(config, connector=connector, core=core, clock=clock or Clock())


class Flaky(CsvConnector):
    def __init__(self, directory, error: Exception, times: int = 10**6) -> None:
        super().__init__({"directory": directory})
        self.error, self.times, self.calls = error, times, 0

    def create_account(self, account, *, password=None):
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        return super().create_account(account, password=password)


def test_transient_errors_back_off_then_succeed(tmp_path):
    clock, core = Clock(), FakeCore([entry(1)])
    flaky = Flaky(tmp_path / "app", TransientError("busy"), times=2)
    runtime = make(tmp_path, core, flaky, clock, attempts=5, backoff_seconds=10)
    runtime.run_once()
    assert flaky.calls == 1 and runtime.journal.get(1).state == RECEIVED
    runtime.run_once()
    assert flaky.calls == 1  # not before the back-off
    clock.now += 10
    runtime.run_once()
    assert flaky.calls == 2
    clock.now += 19  # the delay doubled: 20 s
    runtime.run_once()
    assert flaky.calls == 2
    clock.now += 1
    runtime.run_once()
    assert flaky.calls == 3 and core.reports == [(1, "success", core.reports[0][2])]
    assert core.reports[0][2]["native_identifier"] == "alice"


def test_the_last_attempt_reports_a_final_failure(tmp_path):
    clock, core = Clock(), FakeCore([entry(1)])
    runtime = make(
        tmp_path, core, Flaky(tmp_path / "app", TransientError("busy")), clock, attempts=3, backoff_seconds=1
    )
    for _ in range(3):
        runtime.run_once()
        clock.now += 10
    ((entry_id, outcome, body),) = core.reports
    assert outcome == "failure" and body["final"] is True and "gave up after 3 tries" in body["reason"]


def test_the_time_window_ends_the_tries_before_the_attempts_do(tmp_path):
    clock, core = Clock(), FakeCore([entry(1)])
    flaky = Flaky(tmp_path / "app", TransientError("busy"))
    runtime = make(tmp_path, core, flaky, clock, attempts=100, backoff_seconds=30, window_seconds=60)
    for _ in range(5):
        runtime.run_once()
        clock.now += 120
    assert flaky.calls == 2  # 0 s and 30 s; the next (60 s later) would be past the window
    assert core.reports[0][1] == "failure"


def test_not_found_is_done_for_a_removal_and_a_failure_otherwise(tmp_path):
    core = FakeCore(
        [entry(1, "REVOKE_ACCOUNT"), entry(2, "UPDATE_ACCOUNT", account={**entry(0)["account"], "id": 8})]
    )
    runtime = make(tmp_path, core)
    runtime.run_once()
    outcomes = {i: (o, b) for i, o, b in core.reports}
    assert outcomes[1][0] == "success" and "already gone" in outcomes[1][1]["detail"]
    assert outcomes[2][0] == "failure" and "gone" in outcomes[2][1]["reason"]


def test_an_entry_another_replica_took_is_dropped_not_executed(tmp_path):
    core = FakeCore([entry(1)])
    core.gone.add(1)
    flaky = Flaky(tmp_path / "app", TransientError("x"), times=0)
    runtime = make(tmp_path, core, flaky, lease_seconds=10)
    runtime.journal.receive(entry(1), lease_until=None, now=0)
    runtime.execute_due()
    assert flaky.calls == 0 and runtime.journal.get(1).state == DROPPED


def test_outcomes_are_reported_in_one_call_and_a_refused_one_is_dropped_alone(tmp_path):
    core = FakeCore(
        [entry(n, account={**entry(0)["account"], "id": n, "identifier": f"u{n}"}) for n in (1, 2, 3)]
    )
    calls = []
    report_many = core.report_many
    core.report_many = lambda reports: calls.append(len(reports)) or report_many(reports)
    runtime = make(tmp_path, core)
    runtime.pull()
    runtime.execute_due()
    core.gone.add(2)  # meanwhile another replica holds entry 2
    assert runtime.report_pending() == 2
    assert calls == [3]
    assert sorted(i for i, _, _ in core.reports) == [1, 3]
    assert [runtime.journal.get(n).state for n in (1, 2, 3)] == [REPORTED, DROPPED, REPORTED]
    assert runtime.report_pending() == 0  # nothing left to send


def test_a_sealed_password_is_opened_for_the_connector_only(tmp_path):
    sealed = crypto.seal_for_adapter("N3w-Passw0rd!", public_key_pem=keypair(0)[1], entry_id=5)
    seen = []

    class Recording(CsvConnector):
        def set_password(self, remote_id, password):
            seen.append((remote_id, password))

    core = FakeCore([entry(5, "CHANGE_PASSWORD", secret=sealed)])
    runtime = make(tmp_path, core, Recording({"directory": tmp_path / "app"}))
    runtime.run_once()
    assert seen == [("alice", "N3w-Passw0rd!")] and core.reports[0][1] == "success"
    assert b"N3w-Passw0rd!" not in (tmp_path / "j.sqlite3").read_bytes()
    with pytest.raises(SecretError):
        secret_open(sealed, private_key_pem=keypair(0)[0], entry_id=6)
    with pytest.raises(SecretError):
        secret_open(sealed, private_key_pem=keypair(1)[0], entry_id=5)
    # a secret the core could not deliver fails the entry, clearly
    core.queue = [entry(9, "CHANGE_PASSWORD", secret_error="The secret is no longer in the vault.")]
    runtime.run_once()
    assert core.reports[-1][1] == "failure" and "no longer in the vault" in core.reports[-1][2]["reason"]


def test_the_journal_keeps_outcomes_while_the_core_is_down_and_never_executes_twice(tmp_path):
    core = FakeCore([entry(1)])
    flaky = Flaky(tmp_path / "app", TransientError("x"), times=0)
    runtime = make(tmp_path, core, flaky)
    runtime.pull()
    core.down = True
    runtime.run_once()
    assert flaky.calls == 1 and runtime.journal.get(1).state == DONE and core.reports == []
    runtime.close()
    # restarted; the core is back and hands the same entry out again
    core.down, core.queue = False, [entry(1)]
    again = make(tmp_path, core, flaky)
    again.pull()  # the entry again: known and done, so only to be reported
    again.run_once()
    assert flaky.calls == 1 and again.journal.get(1).state == REPORTED and len(core.reports) == 1
    assert again.journal.link("account", 7) == "alice"


def test_csv_connector(tmp_path):
    csv = CsvConnector({"directory": tmp_path})
    from provisioning.adapter.connectors import EntitlementData

    csv.create_entitlement(EntitlementData(identifier="payments", name="Payments"))
    rid = csv.create_account(AccountData(identifier="bob", email="bob@example.test"), password="x")
    csv.grant(rid, "payments")
    csv.disable_account(rid)
    assert list(csv.list_accounts())[0]["enabled"] is False
    assert list(csv.list_entitlements())[0]["members"] == ["bob"]
    assert "x" not in (tmp_path / "accounts.csv").read_text().split(",")  # no password stored
    csv.revoke(rid, "payments")
    csv.delete_account(rid)
    with pytest.raises(NotFoundError):
        csv.update_account(rid, AccountData(identifier="bob"))


def test_the_configuration_file_is_checked(tmp_path, monkeypatch):
    path = tmp_path / "adapter.toml"
    path.write_text(
        '[core]\nurl = "https://core.example/"\nclient_id = "abc"\nclient_secret_env = "SECRET_FOR_TEST"\n'
        '[runtime]\njournal = "/tmp/j.sqlite3"\nattempts = 4\n[connector]\ntype = "csv"\ndirectory = "/tmp"\n'
    )
    with pytest.raises(ConfigError, match="SECRET_FOR_TEST"):
        config_load(path)
    monkeypatch.setenv("SECRET_FOR_TEST", "s3")
    config = config_load(path)
    assert config.core_url == "https://core.example" and config.client_secret == "s3" and config.attempts == 4
    with pytest.raises(ConfigError, match="attempts"):
        config_from_dict({**_minimal(), "runtime": {"journal": "j", "attempts": 0}})
    with pytest.raises(ConfigError, match="type"):
        config_from_dict({**_minimal(), "connector": {}})
    assert config.journal_sync == "normal" and config.concurrency == 1
    with pytest.raises(ConfigError, match="journal_sync"):
        config_from_dict({**_minimal(), "runtime": {"journal": "j", "journal_sync": "sometimes"}})
    with pytest.raises(ConfigError, match="concurrency"):
        config_from_dict({**_minimal(), "runtime": {"journal": "j", "concurrency": 0}})


def _minimal() -> dict[str, Any]:
    return {
        "core": {"url": "u", "client_id": "c", "client_secret": "s"},
        "runtime": {"journal": "j"},
        "connector": {"type": "csv"},
    }


def test_the_runtime_process_does_not_import_django():
    code = (
        "import sys, provisioning.adapter.__main__, provisioning.adapter.connectors.ldap, "
        "provisioning.adapter.connectors.csvfile; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'blazon')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    help_text = subprocess.run(
        [sys.executable, "-m", "provisioning.adapter", "--help"],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    assert "--config" in help_text
    bad = subprocess.run(
        [sys.executable, "-m", "provisioning.adapter", "--config", "/nonexistent.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "cannot read" in bad.stderr


def test_an_entry_dropped_before_it_ran_is_executed_when_handed_out_again(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    journal.receive(entry(1), lease_until=None, now=0)
    journal.dropped(1, now=1, why="leased_by_other")
    assert journal.receive(entry(1), lease_until=None, now=2).state == RECEIVED
    journal.done(1, outcome="success", body={}, now=3)
    journal.dropped(1, now=4, why="leased_by_other")
    assert journal.receive(entry(1), lease_until=None, now=5).state == DONE
    journal.reported(1, now=6)
    assert journal.purge(older_than=7) == 1 and journal.get(1) is None
