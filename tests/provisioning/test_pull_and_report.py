"""Pulling (per-object order, leases and their expiry) and reporting (idempotent, 409 when
the entry is not yours any more, 400 on bad input with nothing changed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from blazon.audit.models import AuditEvent
from directory.models import ProvisioningMode
from provisioning.models import EntryStatus, NativeIdentifier, ProvisioningEntry
from tests.api.factories import AccountFactory
from tests.provisioning.conftest import make_entry

pytestmark = pytest.mark.django_db
PULL = "/api/v1/adapter/pull/"


def pull(api, **body):
    response = api.post(PULL, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def report(api, entry_id, outcome, **body):
    return api.post(f"/api/v1/adapter/entries/{entry_id}/{outcome}/", body, format="json")


def test_pull_leases_a_batch_with_what_the_adapter_needs(world, erp_api):
    entry = make_entry(
        world["erp"], "CREATE_ACCOUNT", account=world["account"], user_id_ref=world["alice"].pk
    )
    body = pull(erp_api, limit=10, lease_seconds=120)
    (delivered,) = body["entries"]
    assert delivered["id"] == entry.pk and delivered["event_type"] == "CREATE_ACCOUNT"
    assert delivered["resource"] == "erp" and delivered["attempt"] == 1 and delivered["status"] == "PULLED"
    assert delivered["account"]["identifier"] == "alice" and delivered["user"]["email"] == "alice@example.com"
    assert delivered["secret"] is None
    entry.refresh_from_db()
    assert entry.status == EntryStatus.PULLED and entry.lease_owner == world["erp_client"]
    assert timedelta(seconds=100) < entry.lease_until - timezone.now() <= timedelta(seconds=120)
    # leased: nobody gets it again while the lease runs
    assert pull(erp_api)["entries"] == []
    assert AuditEvent.objects.filter(action="provisioning.entries_pulled").count() == 1


def test_manual_mode_and_finished_entries_are_not_pulled(world, erp_api):
    make_entry(world["erp"], mode=ProvisioningMode.MANUAL)
    for status in (EntryStatus.SUCCEEDED, EntryStatus.FAILED, EntryStatus.CANCELED):
        make_entry(world["erp"], status=status)
    assert pull(erp_api)["entries"] == []


def test_per_object_order_a_grant_waits_for_its_account(world, erp_api):
    erp, account, ent = world["erp"], world["account"], world["ent"]
    other = AccountFactory(resource=erp, identifier="bob")
    create = make_entry(erp, "CREATE_ACCOUNT", account=account)
    grant = make_entry(erp, "GRANT_ENTITLEMENT", account=account, entitlement=ent)
    other_grant = make_entry(erp, "GRANT_ENTITLEMENT", account=other, entitlement=ent)
    first = [e["id"] for e in pull(erp_api)["entries"]]
    # grants of one entitlement to different accounts do not wait for each other
    assert first == [create.pk, other_grant.pk]
    assert pull(erp_api)["entries"] == []  # the grant still waits: its account is only PULLED
    assert report(erp_api, create.pk, "success", native_identifier="uid=alice,ou=people").status_code == 200
    (delivered,) = pull(erp_api)["entries"]
    assert delivered["id"] == grant.pk
    assert delivered["account"]["native_identifier"] == "uid=alice,ou=people"
    assert delivered["entitlement"]["identifier"] == "payments"


def test_per_object_order_waits_for_a_manual_resolution_and_entitlement_events(world, erp_api):
    erp, account, ent = world["erp"], world["account"], world["ent"]
    make_entry(erp, "CREATE_ACCOUNT", account=account, status=EntryStatus.WAITING_FAILOVER_RESOLVING)
    make_entry(erp, "UPDATE_ACCOUNT", account=account)
    create_ent = make_entry(erp, "CREATE_ENTITLEMENT", entitlement=ent)
    other = AccountFactory(resource=erp, identifier="bob")
    grant = make_entry(erp, "GRANT_ENTITLEMENT", account=other, entitlement=ent)
    remove_ent = make_entry(erp, "REMOVE_ENTITLEMENT", entitlement=ent)
    assert [e["id"] for e in pull(erp_api)["entries"]] == [create_ent.pk]
    report(erp_api, create_ent.pk, "success", native_identifier="cn=payments")
    assert [e["id"] for e in pull(erp_api)["entries"]] == [grant.pk]  # removal waits for the grant
    report(erp_api, grant.pk, "success")
    assert [e["id"] for e in pull(erp_api)["entries"]] == [remove_ent.pk]
    assert NativeIdentifier.objects.get(entitlement=ent).value == "cn=payments"


def test_an_expired_lease_returns_the_entry_to_the_pool(world, erp_api):
    entry = make_entry(world["erp"], account=world["account"])
    pull(erp_api, lease_seconds=30)
    assert pull(erp_api)["entries"] == []
    ProvisioningEntry.objects.filter(pk=entry.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    (again,) = pull(erp_api)["entries"]
    assert again["id"] == entry.pk and again["attempt"] == 2


def test_a_late_report_after_another_adapter_took_the_entry_is_409(world, erp_api):
    from provisioning.services.adapter import adapter_client_register
    from tests.provisioning.conftest import api_for, keypair, token_for

    _, cid, secret = adapter_client_register(
        actor=None, source="console", name="erp-replica", resources=[world["erp"]], public_key=keypair(0)[1]
    )
    replica = api_for(token_for(cid, secret))
    entry = make_entry(world["erp"], account=world["account"])
    pull(erp_api)
    ProvisioningEntry.objects.filter(pk=entry.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert [e["id"] for e in pull(replica)["entries"]] == [entry.pk]
    for outcome, body in (("success", {}), ("failure", {"reason": "x"}), ("lease", {})):
        response = report(erp_api, entry.pk, outcome, **body)
        assert response.status_code == 409, outcome
        assert response.json()["error"]["code"] == "leased_by_other"
    assert report(replica, entry.pk, "success").status_code == 200


def test_an_expired_lease_not_taken_by_anyone_may_still_be_reported(world, erp_api):
    entry = make_entry(world["erp"], account=world["account"])
    pull(erp_api)
    ProvisioningEntry.objects.filter(pk=entry.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    response = erp_api.post(
        f"/api/v1/adapter/entries/{entry.pk}/lease/", {"lease_seconds": 600}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "PULLED"
    assert report(erp_api, entry.pk, "success").status_code == 200


def test_reporting_twice_is_harmless(world, erp_api):
    entry = make_entry(world["erp"], account=world["account"])
    pull(erp_api)
    first = report(erp_api, entry.pk, "success", native_identifier="42", attributes={"uid": 42})
    second = report(erp_api, entry.pk, "success", native_identifier="42", attributes={"uid": 42})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() and first.json()["result"]["attributes"] == {"uid": 42}
    assert AuditEvent.objects.filter(action="provisioning.entry_succeeded").count() == 1
    assert NativeIdentifier.objects.get(account=world["account"]).value == "42"
    # a different outcome for a finished entry is refused clearly
    response = report(erp_api, entry.pk, "failure", reason="too late", final=True)
    assert response.status_code == 409 and response.json()["error"]["code"] == "entry_not_leased"
    assert "SUCCEEDED" in response.json()["error"]["message"]


def test_a_final_failure_reported_twice_opens_one_task(world, erp_api):
    entry = make_entry(world["erp"], account=world["account"])
    pull(erp_api)
    for _ in range(2):
        response = report(erp_api, entry.pk, "failure", reason="LDAP says no such OU", final=True)
        assert response.status_code == 200
        assert response.json()["status"] == "WAITING_FAILOVER_RESOLVING"
    entry.refresh_from_db()
    assert entry.manual_task is not None
    assert AuditEvent.objects.filter(action="provisioning.manual_task_opened").count() == 1


def test_transient_failures_retry_later_then_go_to_manual_resolution(world, erp_api, settings):
    settings.BLAZON_ADAPTER_MAX_TRANSIENT_FAILURES = 2
    entry = make_entry(world["erp"], account=world["account"])
    pull(erp_api)
    response = report(erp_api, entry.pk, "failure", reason="timeout", retry_after_seconds=60)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "PENDING" and body["transient_failures"] == 1 and body["not_before"]
    assert report(erp_api, entry.pk, "failure", reason="timeout").status_code == 200  # duplicate: harmless
    assert pull(erp_api)["entries"] == []  # not before the delay
    ProvisioningEntry.objects.filter(pk=entry.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    (again,) = pull(erp_api)["entries"]
    assert again["attempt"] == 2
    body = report(erp_api, entry.pk, "failure", reason="timeout again").json()
    assert body["status"] == "WAITING_FAILOVER_RESOLVING" and body["manual_task"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("pull", {"limit": 0}, "limit"),
        ("pull", {"limit": "lots"}, "limit"),
        ("pull", {"lease_seconds": 5}, "lease_seconds"),
        ("pull", {"limt": 5}, "limt"),
        ("failure", {"final": True}, "reason"),
        ("failure", {"reason": "x", "retry_after_seconds": -1}, "retry_after_seconds"),
        ("success", {"attributes": ["not", "an", "object"]}, "attributes"),
        ("success", {"native_identifier": "x" * 1001}, "native_identifier"),
        ("lease", {"lease_seconds": 999999}, "lease_seconds"),
    ],
)
def test_bad_input_is_400_with_a_clear_message_and_nothing_changes(world, erp_api, path, body, field):
    entry = make_entry(world["erp"], account=world["account"])
    if path != "pull":
        pull(erp_api)
    before = ProvisioningEntry.objects.values().get(pk=entry.pk)
    audit = AuditEvent.objects.count()
    url = PULL if path == "pull" else f"/api/v1/adapter/entries/{entry.pk}/{path}/"
    response = erp_api.post(url, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_failed" and field in error["fields"] and field in error["message"]
    assert ProvisioningEntry.objects.values().get(pk=entry.pk) == before
    assert AuditEvent.objects.count() == audit


def test_a_body_that_is_not_json_is_400(world, erp_api):
    response = erp_api.post(PULL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_pull_queries_do_not_grow_with_the_batch(world, erp_api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count(n: int) -> int:
        for i in range(n):
            account = AccountFactory(resource=world["erp"], identifier=f"q{n}-{i}", owner=None)
            make_entry(
                world["erp"],
                "GRANT_ENTITLEMENT",
                account=account,
                entitlement=world["ent"],
                user_id_ref=world["alice"].pk,
            )
        with CaptureQueriesContext(connection) as ctx:
            assert len(pull(erp_api, limit=50)["entries"]) == n
        return len(ctx.captured_queries)

    assert count(1) == count(12)


def test_entries_a_role_fan_out_writes_in_bulk_are_pulled_too(
    world, erp_api, django_capture_on_commit_callbacks, settings
):
    """Role fan-out writes entries with COPY (entries_write_many), not the ORM: they must be
    complete rows the adapter API serves like any other."""
    # the entitlement's owner would otherwise approve the change first (docs/roles-and-sod.md)
    settings.BLAZON_ROLE_CHANGE_ACCESS_OWNER_APPROVAL = False
    from directory.services.access.role_changes import role_change_submit
    from directory.services.access.roles import role_grant
    from tests.api.factories import RoleFactory, UserFactory

    role = RoleFactory(code="payments-team")
    with django_capture_on_commit_callbacks(execute=True):
        role_change_submit(actor=None, source="console", role=role, action="ADD", entitlement=world["ent"])
    bob = UserFactory(username="bob")
    role_grant(actor=None, source="console", user=bob, role=role)
    written = ProvisioningEntry.objects.filter(resource=world["erp"], user_id_ref=bob.pk)
    assert set(written.values_list("event_type", flat=True)) == {"CREATE_ACCOUNT", "GRANT_ENTITLEMENT"}

    response = erp_api.post("/api/v1/adapter/pull/", {}, format="json")
    assert response.status_code == 200
    pulled = {
        e["event_type"]
        for e in response.json()["entries"]
        if e["id"] in set(written.values_list("pk", flat=True))
    }
    assert pulled == {"CREATE_ACCOUNT"}  # the grant waits for its account
