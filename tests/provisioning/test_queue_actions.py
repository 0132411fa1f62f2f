"""Retry and cancel from the provisioning queue, and a resource's retry policy: state rules,
clear refusals that change nothing, administrators only, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from directory.models import ConsoleRole, ProvisioningMode
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.services.adapter import entries_pull, entry_report_failure
from provisioning.services.console import entry_cancel, entry_retry, resource_retry_policy_set
from requests_workflow.models import RequestStatus
from tests.api.factories import UserFactory
from tests.provisioning.conftest import make_entry
from worklist.models import Task, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db):
    return UserFactory(username="boss", console_role=ConsoleRole.ADMINISTRATOR)


def waiting_entry(world) -> ProvisioningEntry:
    """An entry the adapter failed for good: WAITING_FAILOVER_RESOLVING with its manual task."""
    entry = make_entry(world["erp"], account=world["account"])
    entries_pull(client=world["erp_client"])
    return entry_report_failure(client=world["erp_client"], entry_id=entry.pk, reason="LDAP down", final=True)


def test_retry_puts_a_waiting_entry_back_in_the_pool_and_cancels_its_task(world, admin):
    entry = waiting_entry(world)
    task = entry.manual_task
    assert task is not None and task.status == TaskStatus.OPEN
    retried = entry_retry(actor=admin, source="console", entry_id=entry.pk)
    assert retried.status == EntryStatus.PENDING and retried.manual_task_id is None
    assert retried.lease_until is None and retried.lease_owner_id is None and retried.not_before is None
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELED
    assert [e.pk for e in entries_pull(client=world["erp_client"]).entries] == [entry.pk]
    event = AuditEvent.objects.get(action="provisioning.entry_retried")
    assert event.actor_id == admin.pk and event.old_values["status"] == EntryStatus.WAITING_FAILOVER_RESOLVING


def test_retry_refuses_pending_and_succeeded_entries(world, admin):
    entry = make_entry(world["erp"])
    with pytest.raises(Conflict, match="only a failed entry"):
        entry_retry(actor=admin, source="console", entry_id=entry.pk)
    entry.refresh_from_db()
    assert entry.status == EntryStatus.PENDING


def test_retry_refuses_a_failed_entry_of_a_rolled_back_request(world, admin, grant):
    entry = ProvisioningEntry.objects.filter(correlation_id=f"request-{grant.pk}").first()
    ProvisioningEntry.objects.filter(pk=entry.pk).update(status=EntryStatus.FAILED)
    grant.__class__.objects.filter(pk=grant.pk).update(status=RequestStatus.FAILED)
    with pytest.raises(Conflict, match="rolled back"):
        entry_retry(actor=admin, source="console", entry_id=entry.pk)


def test_retry_of_a_manual_entry_opens_a_new_task(world, admin, django_capture_on_commit_callbacks):
    world["erp"].provisioning_modes = {
        **world["erp"].provisioning_modes,
        "CREATE_ACCOUNT": ProvisioningMode.MANUAL,
    }
    world["erp"].save()
    entry = make_entry(world["erp"], mode=ProvisioningMode.MANUAL, status=EntryStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        entry_retry(actor=admin, source="console", entry_id=entry.pk)
    entry.refresh_from_db()
    assert entry.status == EntryStatus.PENDING and entry.manual_task.kind == TaskKind.PROVISIONING


def test_cancel_pending_and_failed_entries_with_a_reason(world, admin):
    pending = make_entry(world["erp"])
    with pytest.raises(ValidationFailed, match="Say why"):
        entry_cancel(actor=admin, source="console", entry_id=pending.pk, reason=" ")
    done = entry_cancel(actor=admin, source="console", entry_id=pending.pk, reason="made by hand already")
    assert done.status == EntryStatus.CANCELED and "made by hand already" in done.last_error
    failed = make_entry(world["erp"], status=EntryStatus.FAILED)
    assert (
        entry_cancel(actor=admin, source="console", entry_id=failed.pk, reason="x").status
        == EntryStatus.CANCELED
    )
    assert AuditEvent.objects.filter(action="provisioning.entry_canceled").count() == 2


def test_a_leased_entry_cannot_be_canceled_until_its_lease_expires(world, admin):
    entry = make_entry(world["erp"])
    entries_pull(client=world["erp_client"])
    with pytest.raises(Conflict, match="leased to adapter erp-adapter"):
        entry_cancel(actor=admin, source="console", entry_id=entry.pk, reason="stop")
    assert ProvisioningEntry.objects.get(pk=entry.pk).status == EntryStatus.PULLED
    ProvisioningEntry.objects.filter(pk=entry.pk).update(lease_until=timezone.now() - timedelta(seconds=5))
    assert entry_cancel(actor=admin, source="console", entry_id=entry.pk, reason="adapter gone").status == (
        EntryStatus.CANCELED
    )


def test_waiting_and_finished_entries_cannot_be_canceled(world, admin):
    entry = waiting_entry(world)
    with pytest.raises(Conflict, match="Resolve its manual task"):
        entry_cancel(actor=admin, source="console", entry_id=entry.pk, reason="x")
    done = make_entry(world["erp"], status=EntryStatus.SUCCEEDED)
    with pytest.raises(Conflict, match="only a pending or failed"):
        entry_cancel(actor=admin, source="console", entry_id=done.pk, reason="x")


def test_canceling_a_manual_entry_closes_its_task(world, admin):
    task = Task.objects.create(kind=TaskKind.PROVISIONING, title="by hand")
    entry = make_entry(world["erp"], mode=ProvisioningMode.MANUAL, manual_task=task)
    entry_cancel(actor=admin, source="console", entry_id=entry.pk, reason="not needed")
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELED


def test_only_administrators_retry_or_cancel(world):
    helpdesk = UserFactory(console_role=ConsoleRole.HELPDESK)
    entry = make_entry(world["erp"], status=EntryStatus.FAILED)
    with pytest.raises(NotAllowed):
        entry_retry(actor=helpdesk, source="console", entry_id=entry.pk)
    with pytest.raises(NotAllowed):
        entry_cancel(actor=helpdesk, source="console", entry_id=entry.pk, reason="x")
    assert ProvisioningEntry.objects.get(pk=entry.pk).status == EntryStatus.FAILED


def test_the_retry_policy_of_a_resource_governs_transient_failures(world, admin):
    with pytest.raises(ValidationFailed) as bad:
        resource_retry_policy_set(
            actor=admin,
            source="console",
            resource=world["erp"],
            max_transient_failures="0",
            backoff_seconds="x",
        )
    assert set(bad.value.fields) == {"max_transient_failures", "backoff_seconds"}
    resource_retry_policy_set(
        actor=admin, source="console", resource=world["erp"], max_transient_failures="2", backoff_seconds="10"
    )
    entry = make_entry(world["erp"])
    client = world["erp_client"]
    entries_pull(client=client)
    first = entry_report_failure(client=client, entry_id=entry.pk, reason="busy 1")
    assert first.status == EntryStatus.PENDING
    assert 9 <= (first.not_before - first.updated_at).total_seconds() <= 11  # the resource's back-off
    ProvisioningEntry.objects.filter(pk=entry.pk).update(not_before=None)
    entries_pull(client=client)
    second = entry_report_failure(client=client, entry_id=entry.pk, reason="busy 2")
    assert second.status == EntryStatus.WAITING_FAILOVER_RESOLVING  # gave up after 2, not 5
    assert AuditEvent.objects.filter(action="resource.retry_policy_set").count() == 1


def test_pulling_records_the_last_poll(world):
    assert world["erp_client"].last_poll_at is None
    entries_pull(client=world["erp_client"])
    world["erp_client"].refresh_from_db()
    assert world["erp_client"].last_poll_at is not None
