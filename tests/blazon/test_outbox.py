"""The transactional outbox (blazon/outbox): work written in the business transaction, delivered
once after the commit, retried with back-off, dead-lettered after N failures and retried by an
administrator, skipped when its object is gone, handed out again when a delivery does not
complete within its lease, and never handed out twice by two relays at once."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.db.models.functions import Now
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.errors import TransitionNotAllowed
from blazon.outbox import registry, services
from blazon.outbox.models import OutboxMessage, OutboxStatus
from blazon.tasks import enqueue_on_commit
from directory.models import User
from tests.conftest import require

S = OutboxStatus
calls: list[tuple[str, tuple]] = []


def _record(*args):
    """Idempotent test handler: records its call."""
    calls.append(("record", args))


def _flaky(*args):
    """Idempotent test handler that always fails."""
    calls.append(("flaky", args))
    raise RuntimeError("the mail server said no")


def _user_name(user_id):
    """Idempotent test handler that reads a user (gone: skipped)."""
    calls.append(("user", (User.objects.get(pk=user_id).username,)))


@pytest.fixture(autouse=True)
def handlers():
    calls.clear()
    registry.register_handler("tests.record", _record)
    registry.register_handler("tests.flaky", _flaky)
    registry.register_handler("tests.user", _user_name)
    yield
    for kind in ("tests.record", "tests.flaky", "tests.user"):
        registry._handlers.pop(kind, None)


class _Task:
    def __init__(self, name):
        self.name = name


@pytest.mark.django_db(transaction=True)
def test_work_is_written_with_the_transaction_and_done_once_after_commit():
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit(_Task("tests.record"), 1)
        raise RuntimeError("roll back")
    assert not OutboxMessage.objects.exists()
    assert calls == []

    with transaction.atomic():
        enqueue_on_commit(_Task("tests.record"), 2)
        assert calls == [], "ran before the commit"
        assert OutboxMessage.objects.filter(status=S.PENDING).count() == 1
    row = OutboxMessage.objects.get()
    assert row.status == S.DONE and row.attempts == 1 and row.done_at is not None
    assert calls == [("record", (2,))]

    # a second delivery of the same row (a redelivered message, a relay after the lease) does nothing
    assert services.outbox_deliver(message_id=row.pk) == "absent"
    assert calls == [("record", (2,))]


@pytest.mark.django_db
def test_a_handler_that_fails_forever_is_retried_with_back_off_then_dead_lettered_and_retried_by_an_administrator(
    settings, caplog
):
    settings.BLAZON_OUTBOX_MAX_ATTEMPTS = 3
    settings.BLAZON_OUTBOX_RETRY_SECONDS = 10
    row = services.outbox_write("tests.flaky", 7)
    before = timezone.now()
    assert services.outbox_deliver(message_id=row.pk) == "retry"
    row.refresh_from_db()
    assert row.status == S.PENDING and row.attempts == 1
    assert "the mail server said no" in row.last_error
    assert row.available_at >= before + timedelta(seconds=10)
    # not due yet: the relay leaves it alone
    assert services.outbox_relay() == 0

    assert services.outbox_deliver(message_id=row.pk) == "retry"
    row.refresh_from_db()
    assert row.available_at >= before + timedelta(seconds=20)  # the back-off doubles
    with caplog.at_level(logging.ERROR, logger="blazon.outbox"):
        assert services.outbox_deliver(message_id=row.pk) == "dead"
    row.refresh_from_db()
    assert row.status == S.DEAD and row.attempts == 3
    assert "dead-lettered after 3 attempts" in caplog.text
    assert services.counters()["outbox.dead_lettered"] == 1
    assert services.outbox_deliver(message_id=row.pk) == "absent"
    assert len(calls) == 3

    # the cause is fixed; an administrator retries it
    registry.register_handler("tests.flaky", _record)
    admin = User.objects.create(username="ops-admin", first_name="Ops", last_name="Admin")
    services.outbox_retry(actor=admin, message_id=row.pk)
    row.refresh_from_db()
    assert row.status == S.PENDING and row.attempts == 0
    assert AuditEvent.objects.filter(action="outbox.retried", object_id=str(row.pk)).count() == 1
    assert services.outbox_deliver(message_id=row.pk) == "done"
    with pytest.raises(TransitionNotAllowed):
        services.outbox_retry(actor=admin, message_id=row.pk)


@pytest.mark.django_db
def test_a_row_for_an_object_deleted_meanwhile_is_skipped_with_a_log_line(caplog):
    user = User.objects.create(username="leaver", first_name="Lea", last_name="Ver")
    row = services.outbox_write("tests.user", user.pk)
    user.delete()
    with caplog.at_level(logging.WARNING, logger="blazon.outbox"):
        assert services.outbox_deliver(message_id=row.pk) == "skipped"
    row.refresh_from_db()
    assert row.status == S.SKIPPED and "does not exist" in row.last_error
    assert f"outbox #{row.pk}: skipped, its object no longer exists" in caplog.text


@pytest.mark.django_db
def test_a_delivery_that_did_not_complete_is_handed_out_again_after_its_lease(settings):
    settings.BLAZON_OUTBOX_LEASE_SECONDS = 30
    row = services.outbox_write("tests.record", 3)
    # a worker claimed it and died before finishing: the claim committed, the handler's did not
    OutboxMessage.objects.filter(pk=row.pk).update(
        attempts=1, available_at=timezone.now() + timedelta(seconds=30)
    )
    assert services.outbox_relay() == 0  # still within the lease
    OutboxMessage.objects.filter(pk=row.pk).update(available_at=timezone.now() - timedelta(seconds=1))
    assert services.outbox_relay() == 1  # embedded mode: delivered in-process
    row.refresh_from_db()
    assert row.status == S.DONE and row.attempts == 2
    assert calls == [("record", (3,))]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("jump", [timedelta(hours=-2), timedelta(hours=2)])
def test_a_clock_jump_on_the_relay_host_neither_stalls_nor_rushes_work(settings, monkeypatch, jump):
    """Leases and due times are the database's clock: the relay host's clock jumping back does
    not leave due work waiting for two hours, jumping ahead does not hand out leased work."""
    settings.BLAZON_OUTBOX_LEASE_SECONDS = 30
    due = services.outbox_write("tests.record", "due")
    leased = services.outbox_write("tests.record", "leased")
    # (their dispatch after the commit is undone: one is due, one claimed by a worker still at it)
    pending = {"status": S.PENDING, "done_at": None}
    OutboxMessage.objects.filter(pk=due.pk).update(**pending, available_at=Now() - timedelta(seconds=1))
    OutboxMessage.objects.filter(pk=leased.pk).update(
        **pending, attempts=1, available_at=Now() + timedelta(seconds=30)
    )
    calls.clear()
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + jump)

    assert services.outbox_relay() == 1

    due.refresh_from_db()
    leased.refresh_from_db()
    assert due.status == S.DONE and leased.status == S.PENDING
    assert calls == [("record", ("due",))]


@pytest.mark.django_db
def test_a_row_whose_worker_dies_every_time_is_dead_lettered(settings):
    settings.BLAZON_OUTBOX_MAX_ATTEMPTS = 2
    row = services.outbox_write("tests.record", 4)
    OutboxMessage.objects.filter(pk=row.pk).update(attempts=2)  # two claims, two lost workers
    assert services.outbox_deliver(message_id=row.pk) == "dead"
    assert calls == []


@pytest.mark.django_db
def test_an_unknown_kind_fails_like_a_handler_error():
    row = services.outbox_write("tests.nobody-handles-this")
    assert services.outbox_deliver(message_id=row.pk) == "retry"
    row.refresh_from_db()
    assert "no outbox handler is registered" in row.last_error


def _due_rows(n):
    past = timezone.now() - timedelta(seconds=5)
    return OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                kind="tests.record", payload={"args": [i], "kwargs": {}}, created_at=past, available_at=past
            )
            for i in range(n)
        ]
    )


@pytest.mark.django_db(transaction=True)
def test_two_relays_at_once_never_hand_out_the_same_row(monkeypatch):
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")
    rows = _due_rows(60)
    handed: list[list[int]] = [[], []]
    monkeypatch.setattr(services, "outbox_dispatch", len)

    # rows locked by another transaction (a relay in progress) are skipped, not waited for
    locked = threading.Event()
    release = threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(OutboxMessage.objects.select_for_update().filter(pk__in=[r.pk for r in rows[:20]]))
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(30)
    try:
        assert services.outbox_relay(limit=100) == 40
    finally:
        release.set()
        holder.join(30)
    OutboxMessage.objects.update(available_at=timezone.now() - timedelta(seconds=1))

    # two relays racing: every row handed out by exactly one (one dispatch spy per thread)
    local = threading.local()

    def dispatch(ids):
        local.ids.extend(ids)
        return len(ids)

    monkeypatch.setattr(services, "outbox_dispatch", dispatch)
    barrier = threading.Barrier(2)

    def relay(slot: int) -> None:
        local.ids = []
        try:
            barrier.wait(10)
            for _ in range(20):
                services.outbox_relay(limit=7)  # small batches: the two relays interleave
            handed[slot] = local.ids
        finally:
            connections.close_all()

    threads = [threading.Thread(target=relay, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not set(handed[0]) & set(handed[1])
    assert sorted(handed[0] + handed[1]) == sorted(r.pk for r in rows)


def test_every_registered_handler_says_it_is_idempotent():
    found = {kind: h for kind, h in registry.handlers().items() if not kind.startswith("tests.")}
    assert "requests_workflow.tasks.process_request" in found
    for kind, h in found.items():
        assert "Idempotent" in (h.func.__doc__ or ""), f"{kind}'s docstring does not say it is idempotent"
