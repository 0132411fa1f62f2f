"""End to end with the request pipeline: a request on a resource provisioned AUTOMATICally
waits for its entries; the adapter's success finishes it; a final failure goes to a manual
provisioning task for the resource owners, and when the resolver cannot do it either the
request is rolled back."""

from __future__ import annotations

import pytest

from blazon.errors import Conflict, NotAllowed, ValidationFailed
from directory.models import Account, AccountStatus, ConsoleRole, EntitlementMembership
from provisioning.models import EntryStatus, NativeIdentifier, ProvisioningEntry
from provisioning.services.manual import entry_resolve_done, entry_resolve_failed
from requests_workflow.models import RequestStatus
from tests.api.factories import UserFactory
from worklist.models import Task, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db
R = RequestStatus


def pull_one(api):
    response = api.post("/api/v1/adapter/pull/", {}, format="json")
    assert response.status_code == 200
    (entry,) = response.json()["entries"]
    return entry


def post(api, entry_id, outcome, **body):
    response = api.post(f"/api/v1/adapter/entries/{entry_id}/{outcome}/", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_success_of_every_entry_finishes_the_request(grant, erp_api):
    create = pull_one(erp_api)
    assert create["event_type"] == "CREATE_ACCOUNT" and create["user"]["username"] == "carol"
    post(erp_api, create["id"], "success", native_identifier="uid=carol")
    grant.refresh_from_db()
    assert grant.status == R.WAITING_PROVISIONING  # the grant is still to do
    entry = pull_one(erp_api)
    assert entry["event_type"] == "GRANT_ENTITLEMENT"
    post(erp_api, entry["id"], "success")
    grant.refresh_from_db()
    assert grant.status == R.FINISHED
    assert grant.events.filter(to_status=R.FINISHED, message__contains="2 entries provisioned").exists()


def test_final_failure_then_manual_failure_rolls_the_request_back(world, grant, erp_api):
    create = pull_one(erp_api)
    post(erp_api, create["id"], "success", native_identifier="uid=carol")
    entry = pull_one(erp_api)
    body = post(erp_api, entry["id"], "failure", reason="group payments is read-only", final=True)
    assert body["status"] == "WAITING_FAILOVER_RESOLVING"
    task = Task.objects.get(pk=body["manual_task"])
    assert (
        task.kind == TaskKind.PROVISIONING and task.status == TaskStatus.OPEN and task.request_id == grant.pk
    )
    assert list(task.assignees.all()) == [world["owner"]]
    grant.refresh_from_db()
    assert grant.status == R.WAITING_PROVISIONING  # a person may still do it by hand
    assert grant.events.filter(message__contains=f"Task #{task.pk}").exists()

    # someone else may not resolve it; a failure needs a reason
    with pytest.raises(NotAllowed):
        entry_resolve_failed(
            actor=world["alice"], source="workspace", entry=ProvisioningEntry(pk=entry["id"]), reason="no"
        )
    with pytest.raises(ValidationFailed):
        entry_resolve_failed(
            actor=world["owner"], source="workspace", entry=ProvisioningEntry(pk=entry["id"]), reason=" "
        )

    entry_resolve_failed(
        actor=world["owner"],
        source="workspace",
        entry=ProvisioningEntry(pk=entry["id"]),
        reason="group locked by audit",
    )
    task.refresh_from_db()
    grant.refresh_from_db()
    assert task.status == TaskStatus.REJECTED and task.decided_by == world["owner"]
    assert ProvisioningEntry.objects.get(pk=entry["id"]).status == EntryStatus.FAILED
    assert grant.status == R.FAILED
    assert (
        "group payments is read-only" in grant.failure_reason and "membership revoked" in grant.failure_reason
    )
    assert not EntitlementMembership.objects.filter(account__owner__username="carol").exists()
    # the application received the account: it is revoked (not silently deleted)
    assert Account.objects.get(owner__username="carol").status == AccountStatus.REVOKED
    # resolving twice is refused clearly
    with pytest.raises(Conflict):
        entry_resolve_failed(
            actor=world["owner"], source="workspace", entry=ProvisioningEntry(pk=entry["id"]), reason="x"
        )


def test_a_new_account_the_application_never_got_is_removed_on_rollback(world, grant, erp_api):
    create = pull_one(erp_api)
    post(erp_api, create["id"], "failure", reason="ERP down for 3 days", final=True)
    entry_resolve_failed(
        actor=world["owner"],
        source="workspace",
        entry=ProvisioningEntry(pk=create["id"]),
        reason="ERP retired",
    )
    grant.refresh_from_db()
    assert grant.status == R.FAILED and "removed (never provisioned)" in grant.failure_reason
    assert not Account.objects.filter(owner__username="carol").exists()
    # the grant that waited for the account is canceled, never handed out
    statuses = set(
        ProvisioningEntry.objects.filter(correlation_id=f"request-{grant.pk}").values_list(
            "status", flat=True
        )
    )
    assert statuses == {EntryStatus.FAILED, EntryStatus.CANCELED}
    assert erp_api.post("/api/v1/adapter/pull/", {}, format="json").json()["entries"] == []


def test_the_resolver_provisions_by_hand_and_the_request_goes_on(world, grant, erp_api):
    create = pull_one(erp_api)
    post(erp_api, create["id"], "failure", reason="no API for accounts", final=True)
    done = entry_resolve_done(
        actor=world["owner"],
        source="workspace",
        entry=ProvisioningEntry(pk=create["id"]),
        native_identifier="EMP-0042",
        attributes={"created_by_hand": True},
        comment="created in the ERP admin screen",
    )
    assert done.status == EntryStatus.SUCCEEDED and done.result["resolved_by"] == "erp-owner"
    assert NativeIdentifier.objects.get(account__owner__username="carol").value == "EMP-0042"
    assert Task.objects.get(pk=done.manual_task_id).status == TaskStatus.APPROVED
    # the grant, which waited for its account, is now handed out with the native identifier
    entry = pull_one(erp_api)
    assert entry["event_type"] == "GRANT_ENTITLEMENT" and entry["account"]["native_identifier"] == "EMP-0042"
    post(erp_api, entry["id"], "success")
    grant.refresh_from_db()
    assert grant.status == R.FINISHED


def test_a_console_administrator_resolves_when_the_resource_has_no_owner(world, erp_api):
    from tests.provisioning.conftest import make_entry

    world["erp"].owners.clear()
    entry = make_entry(world["erp"], account=world["account"])
    erp_api.post("/api/v1/adapter/pull/", {}, format="json")
    post(erp_api, entry.pk, "failure", reason="x", final=True)
    entry.refresh_from_db()
    assert not entry.manual_task.assignees.exists()
    admin = UserFactory(username="root", console_role=ConsoleRole.ADMINISTRATOR)
    assert entry_resolve_done(actor=admin, source="console", entry=entry).status == EntryStatus.SUCCEEDED


def test_a_manual_provisioning_task_gets_its_sla(world, grant, erp_api):
    from datetime import timedelta

    from worklist.models import TaskDefinition

    TaskDefinition.objects.create(name="Provision by hand", task_kind=TaskKind.PROVISIONING, sla_hours=8)
    create = pull_one(erp_api)
    body = post(erp_api, create["id"], "failure", reason="LDAP says no", final=True)
    task = Task.objects.get(pk=body["manual_task"])
    assert task.definition.name == "Provision by hand"
    assert task.due_at == task.created_at + timedelta(hours=8)  # no calendar: clock hours
