"""Several adapter replicas pulling at the same time, each on its own PostgreSQL connection:
nobody gets an entry twice and every entry is handed out (FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from directory.models import ProvisioningMode
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.services.adapter import entries_pull

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_concurrent_pullers_never_get_the_same_entry(world, postgres):
    erp = world["erp"]
    now = timezone.now()
    ProvisioningEntry.objects.bulk_create(
        ProvisioningEntry(
            resource=erp,
            event_type="CREATE_ENTITLEMENT",
            mode=ProvisioningMode.AUTOMATIC,
            status=EntryStatus.PENDING,
            payload={"n": n},
            created_at=now,
        )
        for n in range(120)
    )
    client = world["erp_client"]
    barrier = threading.Barrier(2)
    got: dict[int, list[int]] = {0: [], 1: []}
    errors: list[BaseException] = []

    def puller(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            while True:
                batch = entries_pull(client=client, limit=7)
                if not batch.entries:
                    return
                got[n].extend(e.pk for e in batch.entries)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=puller, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert connection.vendor == "postgresql"
    assert set(got[0]).isdisjoint(got[1])
    assert len(got[0]) + len(got[1]) == 120
    assert got[0] and got[1], "both pullers should have got work"
    assert ProvisioningEntry.objects.filter(status=EntryStatus.PULLED, attempts=1).count() == 120


def test_a_locked_entry_is_skipped_not_waited_for(world, postgres):
    """While one transaction holds an entry (a puller mid-way), another puller skips it at once."""
    erp = world["erp"]
    first = ProvisioningEntry.objects.create(
        resource=erp, event_type="CREATE_ENTITLEMENT", mode="AUTOMATIC", created_at=timezone.now()
    )
    second = ProvisioningEntry.objects.create(
        resource=erp, event_type="CREATE_ENTITLEMENT", mode="AUTOMATIC", created_at=timezone.now()
    )
    locked = threading.Event()
    release = threading.Event()

    def holder() -> None:
        from django.db import transaction

        try:
            with transaction.atomic():
                list(ProvisioningEntry.objects.select_for_update().filter(pk=first.pk))
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert locked.wait(timeout=30)
        batch = entries_pull(client=world["erp_client"], limit=10)
        assert [e.pk for e in batch.entries] == [second.pk]
    finally:
        release.set()
        t.join(timeout=30)
