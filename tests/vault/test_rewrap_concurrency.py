"""Rotation without downtime: ``vault_rewrap`` runs while other transactions hold secrets and
readers keep revealing them (real PostgreSQL, separate connections, committed data)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import override_settings

from tests.vault.conftest import keys
from tests.vault.factories import UserFactory
from vault.models import Secret, SecretKind
from vault.services import secret_reveal, secret_store, secrets_rewrap

WAIT = 30  # seconds: a safety net so a broken test fails instead of hanging, not a timing assertion


@pytest.fixture
def secrets(transactional_db) -> dict[str, str]:
    """Five committed personal secrets under master key 1: {id: value}."""
    user = UserFactory()
    values = {}
    for i in range(5):
        value = f"concurrent value #{i} ✓"
        secret = secret_store(
            actor=user, source="workspace", owner=user, kind=SecretKind.PERSONAL, name=f"s{i}", value=value
        )
        values[str(secret.pk)] = value
    return values


class RowLock:
    def __init__(self, thread: threading.Thread, release: threading.Event) -> None:
        self.thread, self.event = thread, release

    @property
    def released(self) -> bool:
        return self.event.is_set()

    def release(self) -> None:
        """Let the other transaction commit, and wait until it has."""
        self.event.set()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()


@contextmanager
def row_locked(pk: str) -> Iterator[RowLock]:
    """Hold ``SELECT … FOR UPDATE`` on one secret in another connection (as a concurrent
    ``secret_update`` would) until ``release()`` or the end of the block."""
    locked, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                Secret.objects.select_for_update().get(pk=pk)
                locked.set()
                release.wait(WAIT)
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=hold, name="vault-row-lock")
    thread.start()
    try:
        assert locked.wait(WAIT), f"the lock holder never got the row lock: {errors}"
        yield RowLock(thread, release)
    finally:
        release.set()
        thread.join(WAIT)
    assert not errors


class Reader(threading.Thread):
    """Reveals every secret over and over through the normal service until stopped."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(name="vault-reader")
        self.values = values
        self.rounds = 0
        self.problems: list[str] = []
        self.stop = threading.Event()
        self.progressed = threading.Condition()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                for pk, expected in self.values.items():
                    try:
                        got = secret_reveal(actor=None, source="console", secret=Secret(pk=pk))
                    except Exception as exc:  # noqa: BLE001 - every failure is a finding
                        self.problems.append(f"{pk}: {exc!r}")
                        continue
                    if got != expected:
                        self.problems.append(f"{pk}: wrong value")
                with self.progressed:
                    self.rounds += 1
                    self.progressed.notify_all()
        finally:
            connection.close()

    def wait_for_a_full_round(self) -> None:
        """Block until the reader finished a complete round that started after this call."""
        with self.progressed:
            target = self.rounds + 2
            assert self.progressed.wait_for(lambda: self.rounds >= target, WAIT), "the reader got stuck"


@contextmanager
def reading(values: dict[str, str]) -> Iterator[Reader]:
    reader = Reader(values)
    reader.start()
    try:
        yield reader
    finally:
        reader.stop.set()
        reader.join(WAIT)


def _versions() -> dict[str, int]:
    return {str(pk): v for pk, v in Secret.objects.values_list("pk", "key_version")}


def test_a_locked_secret_does_not_hold_up_the_others_and_is_rewrapped_once_released(secrets):
    busy = sorted(secrets)[2]  # in the middle of the pk order the batches walk
    seen: list[tuple[int, int]] = []
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)), reading(secrets) as reader:
        with row_locked(busy) as lock:

            def progress(done: int, total: int) -> None:
                seen.append((done, total))
                # Each batch is committed before progress is reported: readers see it at once,
                # and keep reading (old and new versions alike) while the rotation runs.
                reader.wait_for_a_full_round()
                if done == len(secrets) - 1 and not lock.released:
                    # First pass over: every free secret is on v2, the busy one was skipped, not waited for.
                    versions = _versions()
                    assert versions.pop(busy) == 1
                    assert set(versions.values()) == {2}
                    lock.release()  # the other transaction commits; the next pass picks the row up

            count = secrets_rewrap(batch_size=1, progress=progress)
        reader.wait_for_a_full_round()

    assert count == len(secrets)
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert set(_versions().values()) == {2}
    assert reader.rounds >= len(secrets) and reader.problems == []
    with override_settings(BLAZON_VAULT_KEYS=keys(2)):
        for pk, value in secrets.items():
            assert secret_reveal(actor=None, source="console", secret=Secret(pk=pk)) == value


def test_a_secret_locked_for_the_whole_run_is_reported_and_the_next_run_finishes(secrets):
    busy = sorted(secrets)[0]
    with override_settings(BLAZON_VAULT_KEYS=keys(1, 2)):
        with row_locked(busy), reading(secrets) as reader:
            out = io.StringIO()
            with pytest.raises(CommandError) as excinfo:
                call_command("vault_rewrap", stdout=out, stderr=io.StringIO())
            versions = _versions()
            reader.wait_for_a_full_round()
        assert str(excinfo.value) == (
            "Incomplete: re-wrapped 4 secret(s) to master key version 2, 1 were locked by other "
            "transactions and are left for the next run. Run the command again once the cause is fixed."
        )
        assert "Secrets by master key version now: v1: 1, v2: 4" in out.getvalue()
        assert versions.pop(busy) == 1 and set(versions.values()) == {2}
        assert reader.problems == []

        # The lock is gone: the next run re-wraps the rest, and only the rest.
        out = io.StringIO()
        call_command("vault_rewrap", stdout=out, stderr=io.StringIO())
        assert "Re-wrapped 1 secret(s) to master key version 2." in out.getvalue()
        assert set(_versions().values()) == {2}
