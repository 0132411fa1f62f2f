"""An entry finds its request through a foreign key the pipeline sets (``ProvisioningEntry.request``),
never through its correlation id, which a client can choose (``X-Correlation-ID``): a forged
header cannot make someone else's request fail. Provisioning tells the request app through
``provisioning.signals``; old entries get the link from the migration that backfills it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from blazon.errors import Conflict
from directory.models import (
    Account,
    AccountStatus,
    ConsoleRole,
    EntitlementMembership,
    ProvisioningEvent,
    ProvisioningMode,
)
from passwords.models import ResourcePasswordSync
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.services.adapter import (
    adapter_client_register,
    entries_pull,
    entry_report_failure,
    entry_report_success,
)
from provisioning.services.console import entry_retry
from provisioning.services.manual import entry_resolve_failed
from provisioning.signals import request_entries_settled
from requests_workflow.models import Request, RequestStatus
from tests.api.factories import AccountFactory, ResourceFactory, UserFactory
from tests.passwords.conftest import NEW, OLD, logged_in, user_with_password
from tests.provisioning.conftest import keypair, make_entry
from worklist.models import Task

pytestmark = pytest.mark.django_db
R = RequestStatus


def _succeed_all(client, request_id: int) -> None:
    for entry in entries_pull(client=client).entries:
        if entry.request_id == request_id:
            entry_report_success(client=client, entry_id=entry.pk)


def test_a_forged_correlation_header_cannot_fail_someone_elses_request(world, grant):
    """Mallory changes her own password while sending ``X-Correlation-ID: request-<Carol's
    request>``; her password-sync entry fails for good. Carol's request, membership and account
    are untouched: the header is a log tag, not a link."""
    ldap = ResourceFactory(
        code="ldap",
        name="LDAP",
        provisioning_modes={ProvisioningEvent.CHANGE_PASSWORD: ProvisioningMode.AUTOMATIC},
    )
    ResourcePasswordSync.objects.create(resource=ldap, enabled=True)
    mallory = user_with_password(username="mallory")
    AccountFactory(resource=ldap, owner=mallory, identifier="mallory")
    ldap_client, _, _ = adapter_client_register(
        actor=None, source="console", name="ldap-adapter", resources=[ldap], public_key=keypair(2)[1]
    )
    forged = f"request-{grant.pk}"

    response = logged_in(mallory).post(
        reverse("passwords:change"),
        {"current_password": OLD, "new_password": NEW, "confirm_password": NEW},
        HTTP_X_CORRELATION_ID=forged,
    )
    assert response.status_code == 302 and response["X-Correlation-ID"] == forged  # a log tag, echoed
    sync = ProvisioningEntry.objects.get(resource=ldap, event_type=ProvisioningEvent.CHANGE_PASSWORD)
    (pulled,) = entries_pull(client=ldap_client).entries
    assert pulled.pk == sync.pk
    entry_report_failure(client=ldap_client, entry_id=sync.pk, reason="directory refused", final=True)
    admin = UserFactory(username="root", console_role=ConsoleRole.ADMINISTRATOR)
    entry_resolve_failed(actor=admin, source="console", entry=sync, reason="cannot do it by hand either")

    grant.refresh_from_db()
    assert grant.status == R.WAITING_PROVISIONING and not grant.failure_reason
    assert not grant.events.filter(message__contains=f"#{sync.pk}").exists()
    carol_account = Account.objects.get(owner__username="carol", resource=world["erp"])
    assert carol_account.status == AccountStatus.ACTIVE
    assert EntitlementMembership.objects.filter(account=carol_account, entitlement=world["ent"]).exists()
    sync.refresh_from_db()
    assert sync.status == EntryStatus.FAILED and sync.request_id is None and sync.correlation_id == forged
    assert Task.objects.get(pk=sync.manual_task_id).request_id is None
    # Carol's request still settles on its own entries
    _succeed_all(world["erp_client"], grant.pk)
    _succeed_all(world["erp_client"], grant.pk)
    grant.refresh_from_db()
    assert grant.status == R.FINISHED


def test_the_pipeline_links_its_entries_and_the_settle_reads_only_the_link(world, grant):
    linked = list(ProvisioningEntry.objects.filter(request=grant).order_by("pk"))
    assert [e.event_type for e in linked] == ["CREATE_ACCOUNT", "GRANT_ENTITLEMENT"]
    assert grant.result["provisioning_entries"] == [e.pk for e in linked]
    # an entry that only carries the request's tag (written by anyone) neither holds the
    # request back nor fails it
    make_entry(world["erp"], correlation_id=f"request-{grant.pk}", status=EntryStatus.FAILED, last_error="x")
    _succeed_all(world["erp_client"], grant.pk)
    _succeed_all(world["erp_client"], grant.pk)
    grant.refresh_from_db()
    assert grant.status == R.FINISHED
    assert grant.events.filter(message__contains="2 entries provisioned").exists()


def test_rollback_entries_point_to_the_request_they_undo_and_stay_retryable(world, grant):
    admin = UserFactory(username="root", console_role=ConsoleRole.ADMINISTRATOR)
    create = next(
        e for e in entries_pull(client=world["erp_client"]).entries if e.event_type == "CREATE_ACCOUNT"
    )
    entry_report_success(client=world["erp_client"], entry_id=create.pk)
    grant_entry = ProvisioningEntry.objects.get(request=grant, event_type="GRANT_ENTITLEMENT")
    entries_pull(client=world["erp_client"])
    entry_report_failure(client=world["erp_client"], entry_id=grant_entry.pk, reason="read-only", final=True)
    entry_resolve_failed(actor=admin, source="console", entry=grant_entry, reason="no way")
    grant.refresh_from_db()
    assert grant.status == R.FAILED
    rollback = list(ProvisioningEntry.objects.filter(rollback_of=grant))
    assert rollback and all(e.request_id is None for e in rollback)
    assert {e.correlation_id for e in rollback} == {f"request-{grant.pk}-rollback"}
    # the rolled-back request's own failed entry may not be retried; a rollback entry may
    with pytest.raises(Conflict, match="rolled back"):
        entry_retry(actor=admin, source="console", entry_id=grant_entry.pk)
    undo = rollback[0]
    ProvisioningEntry.objects.filter(pk=undo.pk).update(status=EntryStatus.FAILED)
    assert entry_retry(actor=admin, source="console", entry_id=undo.pk).status == EntryStatus.PENDING


def test_the_request_app_settles_a_request_when_provisioning_announces_it(grant):
    """The signal is the whole contract: provisioning names the request, the request app decides."""
    ProvisioningEntry.objects.filter(request=grant).update(status=EntryStatus.SUCCEEDED)
    request_entries_settled.send(sender=ProvisioningEntry, request_ids=[grant.pk])
    grant.refresh_from_db()
    assert grant.status == R.FINISHED


def test_the_backfill_links_only_exact_request_ids_of_existing_requests(world, grant):
    """``requests_workflow`` migration 0007 fills the link of entries written before it, from
    the pipeline's old ``request-N`` / ``request-N-rollback`` correlation ids."""
    other = Request.objects.create(
        type="GRANT_ENTITLEMENT", requester=world["alice"], beneficiary=world["alice"], source="workspace"
    )
    before = ("requests_workflow", "0006_worklist_moved")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before, ("provisioning", "0006_entry_request_link")]).apps
    Entry = old.get_model("provisioning", "ProvisioningEntry")
    ProvisioningEntry.objects.update(request=None, rollback_of=None)
    erp = world["erp"].pk

    def entry(cid: str) -> int:
        return Entry.objects.create(
            resource_id=erp,
            event_type="CREATE_ACCOUNT",
            mode="AUTOMATIC",
            correlation_id=cid,
            created_at=timezone.now(),
        ).pk

    cases = {
        entry(f"request-{grant.pk}"): (grant.pk, None),
        entry(f"request-{other.pk}"): (other.pk, None),
        entry(f"request-{grant.pk}-rollback"): (None, grant.pk),
        entry("request-987654321"): (None, None),  # no such request
        entry(f"request-{grant.pk}x"): (None, None),
        entry(f"Request-{grant.pk}"): (None, None),
        entry(f" request-{grant.pk}"): (None, None),
        entry(f"request-{grant.pk}-rollback-2"): (None, None),
        entry("request-" + "9" * 40): (None, None),  # no bigint: not a request id, and no error
        entry("5f2b9c0d4e1a4b7f8c3d2e1f0a9b8c7d"): (None, None),
    }
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    got = {
        pk: (request_id, rollback_of_id)
        for pk, request_id, rollback_of_id in ProvisioningEntry.objects.filter(pk__in=cases).values_list(
            "pk", "request_id", "rollback_of_id"
        )
    }
    assert got == cases
