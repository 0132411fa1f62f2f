"""The audit log is a hash chain: any modified or deleted row is detected and named."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from blazon.audit.models import AuditEvent
from blazon.audit.services import AuditEntry, audit_record, audit_record_many, audit_verify

pytestmark = pytest.mark.django_db


def _write(n: int) -> None:
    with transaction.atomic():
        for i in range(n):
            audit_record(
                actor=None,
                action="test.change",
                object_type="thing",
                object_id=i,
                new={"value": i},
                source="api",
            )


def test_chain_verifies_and_links_each_event():
    _write(3)
    with transaction.atomic():
        audit_record_many(
            (AuditEntry(action="bulk", object_type="thing", object_id=i) for i in range(10)),
            actor=None,
            source="api",
        )
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, 14))
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    assert audit_verify().ok
    call_command("verify_audit")


def test_modified_row_is_named():
    _write(5)
    with connection.cursor() as cur:
        cur.execute("UPDATE blazon_auditevent SET new_values = %s WHERE seq = 3", ['{"value": 999}'])
    result = audit_verify()
    assert not result.ok and result.first_bad_seq == 3
    with pytest.raises(CommandError, match="event #3"):
        call_command("verify_audit")


def test_deleted_row_is_named():
    _write(5)
    AuditEvent.objects.filter(seq=2).delete()
    result = audit_verify()
    assert not result.ok and result.first_bad_seq == 2


def test_truncated_tail_is_detected():
    _write(5)
    AuditEvent.objects.filter(seq__gte=4).delete()
    result = audit_verify()
    assert not result.ok and result.first_bad_seq == 4


def test_secrets_are_redacted():
    with transaction.atomic():
        event = audit_record(
            actor=None, action="x", object_type="t", object_id=1, new={"password": "hunter2", "name": "a"}
        )
    event.refresh_from_db()
    assert event.new_values == {"password": "***", "name": "a"}


def test_must_run_inside_a_transaction():
    with pytest.raises(RuntimeError):
        # pytest-django wraps tests in a transaction; leave it to prove the guard.
        from django.db import connections

        conn = connections["default"]
        saved = conn.in_atomic_block
        conn.in_atomic_block = False
        try:
            audit_record(actor=None, action="x", object_type="t", object_id=1)
        finally:
            conn.in_atomic_block = saved


def test_a_batch_chains_its_events_in_order_with_one_head_update(django_assert_num_queries):
    from blazon.audit.services import audit_batch

    _write(1)
    with transaction.atomic():
        # head read, then one statement inserting the three events and moving the head
        with django_assert_num_queries(2), audit_batch():
            for i in range(2):
                audit_record(
                    actor=None, action=f"batched.{i}", object_type="thing", object_id=i, source="api"
                )
            audit_record_many(
                [AuditEntry(action="batched.many", object_type="thing", object_id=9)],
                actor=None,
                source="api",
            )
    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)) == [
        "test.change",
        "batched.0",
        "batched.1",
        "batched.many",
    ]
    assert audit_verify().ok


def test_a_batch_drops_the_events_of_a_rolled_back_savepoint():
    from blazon.audit.services import audit_batch

    with transaction.atomic(), audit_batch():
        audit_record(actor=None, action="kept.before", object_type="t", object_id=1)
        try:
            with transaction.atomic():
                audit_record(actor=None, action="rolled.back", object_type="t", object_id=2)
                with transaction.atomic():
                    audit_record(actor=None, action="rolled.back.inner", object_type="t", object_id=3)
                raise ValueError
        except ValueError:
            pass
        with transaction.atomic():
            audit_record(actor=None, action="kept.released", object_type="t", object_id=4)
        audit_record(actor=None, action="kept.after", object_type="t", object_id=5)
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions == ["kept.before", "kept.released", "kept.after"]
    assert audit_verify().ok


def test_a_batch_left_by_an_exception_writes_nothing():
    from blazon.audit.services import audit_batch

    with pytest.raises(ValueError), transaction.atomic(), audit_batch():
        audit_record(actor=None, action="lost", object_type="t", object_id=1)
        raise ValueError
    assert not AuditEvent.objects.exists()
    _write(1)
    assert audit_verify().ok
