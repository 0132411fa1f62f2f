"""The provisioning queue through /api/v1/provisioning-entries/: list with filters, retry and
cancel — administrators only, audited, and a clear refusal that changes nothing when the entry's
state does not allow the action."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.services.adapter import entries_pull
from tests.api.factories import UserFactory
from tests.api.helpers import assert_error, client_for
from tests.provisioning.conftest import make_entry
from worklist.models import TaskStatus

pytestmark = pytest.mark.django_db

BASE = "/api/v1/provisioning-entries/"


@pytest.fixture
def admin_api(db):
    return client_for(UserFactory(username="root", console_role=ConsoleRole.ADMINISTRATOR))


@pytest.fixture
def waiting(world, erp_api):
    """An entry the adapter failed for good: waiting for manual resolution, with its task."""
    entry = make_entry(world["erp"], account=world["account"])
    erp_api.post("/api/v1/adapter/pull/", {}, format="json")
    response = erp_api.post(
        f"/api/v1/adapter/entries/{entry.pk}/failure/", {"reason": "no API", "final": True}, format="json"
    )
    assert response.status_code == 200
    entry.refresh_from_db()
    assert entry.status == EntryStatus.WAITING_FAILOVER_RESOLVING and entry.manual_task is not None
    return entry


def snapshot(entry: ProvisioningEntry) -> tuple:
    entry.refresh_from_db()
    return entry.status, entry.lease_until, entry.manual_task_id, entry.last_error, entry.updated_at


def test_list_filters_by_status_resource_and_event(world, admin_api):
    pending = make_entry(world["erp"])
    failed = make_entry(world["erp"], "GRANT_ENTITLEMENT", status=EntryStatus.FAILED)
    other = make_entry(world["crm"])
    body = admin_api.get(BASE).json()
    assert [e["id"] for e in body["results"]] == [other.pk, failed.pk, pending.pk]
    assert body["results"][0]["resource"] == "crm"
    assert [e["id"] for e in admin_api.get(BASE, {"status": "FAILED"}).json()["results"]] == [failed.pk]
    by_resource = admin_api.get(BASE, {"resource": world["erp"].pk}).json()["results"]
    assert [e["id"] for e in by_resource] == [failed.pk, pending.pk]
    by_event = admin_api.get(BASE, {"event_type": "CREATE_ACCOUNT", "resource": world["crm"].pk})
    assert [e["id"] for e in by_event.json()["results"]] == [other.pk]
    error = assert_error(admin_api.get(BASE, {"status": "STUCK"}), 400)
    assert "status" in error["fields"] and "PENDING" in error["fields"]["status"][0]
    assert_error(admin_api.get(BASE, {"event_type": "DELETE_EVERYTHING"}), 400)


def test_an_entry_never_shows_a_secret_an_adapter_reported(world, admin_api):
    entry = make_entry(
        world["erp"],
        status=EntryStatus.SUCCEEDED,
        result={
            "native_identifier": "E-1",
            "attributes": {"initial_password": "Hunter2!", "mail": "a@x.test"},
        },
    )
    for body in (admin_api.get(f"{BASE}{entry.pk}/").json(), admin_api.get(BASE).json()["results"][0]):
        assert body["result"] == {
            "native_identifier": "E-1",
            "attributes": {"initial_password": "***", "mail": "a@x.test"},
        }


def test_list_reads_in_a_fixed_number_of_queries(world, admin_api):
    for _ in range(3):
        make_entry(world["erp"], account=world["account"])
    assert admin_api.get(BASE).status_code == 200  # the token's first use writes its last-used time
    with CaptureQueriesContext(connection) as few:
        assert admin_api.get(BASE).status_code == 200
    for _ in range(10):
        make_entry(world["crm"])
    with CaptureQueriesContext(connection) as many:
        assert len(admin_api.get(BASE).json()["results"]) == 13
    assert len(many) == len(few)


def test_an_administrator_retries_a_waiting_entry(waiting, admin_api, world):
    task = waiting.manual_task
    response = admin_api.post(f"{BASE}{waiting.pk}/retry/", format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "PENDING" and body["manual_task"] is None and body["lease_until"] is None
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELED
    event = AuditEvent.objects.get(action="provisioning.entry_retried")
    assert event.source == "api" and event.actor_id == admin_api.user.pk
    # the adapter gets it again
    assert [e.pk for e in entries_pull(client=world["erp_client"]).entries] == [waiting.pk]


def test_retry_refuses_entries_where_it_makes_no_sense(world, admin_api):
    pending = make_entry(world["erp"])
    succeeded = make_entry(world["erp"], status=EntryStatus.SUCCEEDED)
    canceled = make_entry(world["erp"], status=EntryStatus.CANCELED)
    for entry in (pending, succeeded, canceled):
        before = snapshot(entry)
        error = assert_error(
            admin_api.post(f"{BASE}{entry.pk}/retry/", format="json"), 409, "entry_not_retryable"
        )
        assert f"#{entry.pk}" in error["message"] and "only a failed entry" in error["message"]
        assert snapshot(entry) == before
    assert not AuditEvent.objects.filter(action="provisioning.entry_retried").exists()


def test_retry_refuses_a_failed_entry_of_a_rolled_back_request(grant, admin_api):
    entry = ProvisioningEntry.objects.filter(correlation_id=f"request-{grant.pk}").first()
    ProvisioningEntry.objects.filter(pk=entry.pk).update(status=EntryStatus.FAILED)
    grant.__class__.objects.filter(pk=grant.pk).update(status="FAILED")
    error = assert_error(admin_api.post(f"{BASE}{entry.pk}/retry/", format="json"), 409, "request_closed")
    assert "rolled back" in error["message"]
    entry.refresh_from_db()
    assert entry.status == EntryStatus.FAILED


def test_an_administrator_cancels_a_pending_entry_with_a_reason(world, admin_api):
    entry = make_entry(world["erp"])
    response = admin_api.post(f"{BASE}{entry.pk}/cancel/", {"reason": "done by hand"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "CANCELED" and "done by hand" in response.json()["last_error"]
    event = AuditEvent.objects.get(action="provisioning.entry_canceled")
    assert event.source == "api" and event.new_values["reason"] == "done by hand"
    # once canceled, neither cancel nor retry again
    assert_error(admin_api.post(f"{BASE}{entry.pk}/cancel/", {"reason": "x"}, format="json"), 409)
    assert_error(admin_api.post(f"{BASE}{entry.pk}/retry/", format="json"), 409)


def test_cancel_bad_input_and_states_where_it_makes_no_sense(world, admin_api, waiting):
    pending = make_entry(world["crm"])
    before = snapshot(pending)
    for body, field in (
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "x", "force": True}, "force"),
    ):
        error = assert_error(admin_api.post(f"{BASE}{pending.pk}/cancel/", body, format="json"), 400)
        assert field in error["fields"], body
    assert snapshot(pending) == before
    # waiting for manual resolution: resolve or retry it instead
    before = snapshot(waiting)
    error = assert_error(
        admin_api.post(f"{BASE}{waiting.pk}/cancel/", {"reason": "x"}, format="json"),
        409,
        "entry_not_cancelable",
    )
    assert "Resolve its manual task" in error["message"]
    assert snapshot(waiting) == before
    # leased to an adapter that may be making the change now
    leased = make_entry(world["erp"])
    entries_pull(client=world["erp_client"])
    before = snapshot(leased)
    error = assert_error(
        admin_api.post(f"{BASE}{leased.pk}/cancel/", {"reason": "stop"}, format="json"), 409, "entry_leased"
    )
    assert "erp-adapter" in error["message"]
    assert snapshot(leased) == before
    assert not AuditEvent.objects.filter(action="provisioning.entry_canceled").exists()
    assert_error(admin_api.post(f"{BASE}999999/cancel/", {"reason": "x"}, format="json"), 404)
    assert_error(admin_api.post(f"{BASE}999999/retry/", format="json"), 404)


@pytest.mark.parametrize("role", [ConsoleRole.HELPDESK, ConsoleRole.AUDITOR, None])
def test_only_administrators_retry_or_cancel(world, waiting, role):
    user = UserFactory(username=f"u-{role}", **({"console_role": role} if role else {}))
    api = client_for(user)
    pending = make_entry(world["erp"])
    before = (snapshot(waiting), snapshot(pending))
    # refused by the endpoint's permission, before the service is called
    for response in (
        api.post(f"{BASE}{waiting.pk}/retry/", format="json"),
        api.post(f"{BASE}{pending.pk}/cancel/", {"reason": "x"}, format="json"),
    ):
        assert assert_error(response, 403)["message"] == "Your administrative role does not allow this."
    assert (snapshot(waiting), snapshot(pending)) == before
    assert not AuditEvent.objects.filter(
        action__in=["provisioning.entry_retried", "provisioning.entry_canceled"]
    ).exists()
    # console roles read the queue; a user without one reads nothing
    assert api.get(BASE).status_code == (200 if role else 403)


def test_anonymous_and_adapter_tokens_are_refused(world, waiting, erp_api):
    from rest_framework.test import APIClient

    assert APIClient().post(f"{BASE}{waiting.pk}/retry/", format="json").status_code == 401
    assert erp_api.post(f"{BASE}{waiting.pk}/retry/", format="json").status_code in (401, 403)
    waiting.refresh_from_db()
    assert waiting.status == EntryStatus.WAITING_FAILOVER_RESOLVING
