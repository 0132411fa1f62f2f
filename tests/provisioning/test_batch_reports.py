"""Many reports in one call (``POST /api/v1/adapter/reports/``): each report means what its
single-entry call means and is answered on its own; a malformed call changes nothing; the
statements do not grow with the number of reports."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from blazon.audit.models import AuditEvent
from provisioning.models import EntryStatus, NativeIdentifier, ProvisioningEntry
from requests_workflow.models import RequestStatus
from tests.api.factories import AccountFactory
from tests.provisioning.conftest import make_entry

pytestmark = pytest.mark.django_db
PULL, REPORTS = "/api/v1/adapter/pull/", "/api/v1/adapter/reports/"


def pull(api, **body):
    response = api.post(PULL, {"limit": 500, **body}, format="json")
    assert response.status_code == 200, response.content
    return [e["id"] for e in response.json()["entries"]]


def post(api, reports):
    return api.post(REPORTS, {"reports": reports}, format="json")


def creates(world, n):
    accounts = [AccountFactory(resource=world["erp"], identifier=f"u{i}") for i in range(n)]
    return [make_entry(world["erp"], "CREATE_ACCOUNT", account=a) for a in accounts]


def test_many_successes_in_one_call(world, erp_api):
    entries = creates(world, 3)
    ids = pull(erp_api)
    response = post(
        erp_api,
        [
            {"entry": i, "outcome": "success", "native_identifier": f"uid=u{n},ou=people"}
            for n, i in enumerate(ids)
        ],
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["entry"] for r in results] == ids
    assert all(r["ok"] and r["error"] is None and r["state"]["status"] == "SUCCEEDED" for r in results)
    for n, entry in enumerate(entries):
        entry.refresh_from_db()
        assert entry.status == EntryStatus.SUCCEEDED and entry.finished_at is not None
        assert NativeIdentifier.objects.get(account=entry.account).value == f"uid=u{n},ou=people"
    assert AuditEvent.objects.filter(action="provisioning.entry_succeeded").count() == 3
    # the same reports again: harmless, nothing new
    again = post(erp_api, [{"entry": i, "outcome": "success"} for i in ids])
    assert all(r["ok"] for r in again.json()["results"])
    assert AuditEvent.objects.filter(action="provisioning.entry_succeeded").count() == 3


def test_each_report_is_answered_on_its_own(world, erp_api):
    (mine, done, failing) = creates(world, 3)
    ids = pull(erp_api)
    ProvisioningEntry.objects.filter(pk=done.pk).update(status=EntryStatus.CANCELED, lease_until=None)
    foreign = make_entry(world["crm"], "CREATE_ACCOUNT")
    response = post(
        erp_api,
        [
            {"entry": mine.pk, "outcome": "success"},
            {"entry": done.pk, "outcome": "success"},
            {"entry": foreign.pk, "outcome": "success"},
            {"entry": failing.pk, "outcome": "failure", "reason": "LDAP: no such OU", "final": True},
        ],
    )
    assert response.status_code == 200, response.content
    ok, not_leased, not_found, failed = response.json()["results"]
    assert ok["ok"] and ok["state"]["status"] == "SUCCEEDED"
    assert not not_leased["ok"] and not_leased["error"]["code"] == "entry_not_leased"
    assert not not_found["ok"] and not_found["error"]["code"] == "not_found" and not_found["state"] is None
    assert failed["ok"] and failed["state"]["status"] == "WAITING_FAILOVER_RESOLVING"
    assert failed["state"]["manual_task"] is not None
    foreign.refresh_from_db()
    assert foreign.status == EntryStatus.PENDING
    assert sorted(ids) == sorted([mine.pk, done.pk, failing.pk])


def test_the_last_entry_of_a_request_finishes_it(grant, erp_api):
    create_id = pull(erp_api)[0]
    post(erp_api, [{"entry": create_id, "outcome": "success", "native_identifier": "uid=carol"}])
    grant_id = pull(erp_api)[0]
    grant.refresh_from_db()
    assert grant.status == RequestStatus.WAITING_PROVISIONING
    response = post(erp_api, [{"entry": grant_id, "outcome": "success"}])
    assert response.json()["results"][0]["ok"]
    grant.refresh_from_db()
    assert grant.status == RequestStatus.FINISHED


@pytest.mark.parametrize(
    "reports",
    [
        [],
        [{"entry": 1, "outcome": "maybe"}],
        [{"entry": 1, "outcome": "failure"}],
        [{"entry": 1, "outcome": "success", "colour": "red"}],
        [{"entry": 1, "outcome": "success", "attributes": ["x"]}],
        "not a list",
    ],
)
def test_a_malformed_call_is_400_and_changes_nothing(world, erp_api, reports):
    (entry,) = creates(world, 1)
    pull(erp_api)
    reports = [{**r, "entry": entry.pk} for r in reports] if isinstance(reports, list) else reports
    before = ProvisioningEntry.objects.values().get(pk=entry.pk)
    audit = AuditEvent.objects.count()
    response = post(erp_api, reports)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_failed"
    assert ProvisioningEntry.objects.values().get(pk=entry.pk) == before
    assert AuditEvent.objects.count() == audit


def test_the_same_entry_twice_in_one_call_is_refused(world, erp_api):
    (entry,) = creates(world, 1)
    pull(erp_api)
    response = post(erp_api, [{"entry": entry.pk, "outcome": "success"}] * 2)
    assert response.status_code == 400 and "twice" in response.json()["error"]["message"]
    entry.refresh_from_db()
    assert entry.status == EntryStatus.PULLED


def test_without_an_adapter_token_it_is_401_or_403(world, erp_api, admin_client):
    (entry,) = creates(world, 1)
    pull(erp_api)
    from rest_framework.test import APIClient

    assert post(APIClient(), [{"entry": entry.pk, "outcome": "success"}]).status_code == 401
    assert admin_client.post(REPORTS, {}, content_type="application/json").status_code in (401, 403)
    entry.refresh_from_db()
    assert entry.status == EntryStatus.PULLED


def test_statements_do_not_grow_with_the_reports(world, erp_api):
    creates(world, 30)
    ids = pull(erp_api)

    def cost(chunk):
        with CaptureQueriesContext(connection) as queries:
            response = post(
                erp_api, [{"entry": i, "outcome": "success", "native_identifier": f"x{i}"} for i in chunk]
            )
        assert all(r["ok"] for r in response.json()["results"])
        return len(queries)

    assert cost(ids[:2]) == cost(ids[2:30])
