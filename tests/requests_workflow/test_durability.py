"""No 500 for saved work, and nothing left behind: once a request's transaction has committed,
the API answers 201 whatever the broker's state (the outbox delivers later), and requests left
in an intermediate state are re-driven by the stuck-work sweep, counted and logged."""

from __future__ import annotations

import logging
from datetime import timedelta

import kombu.pools
import pytest
from django.utils import timezone

from blazon.celery import app
from blazon.outbox import services
from blazon.outbox.models import OutboxMessage, OutboxStatus
from directory.models import Account, EntitlementMembership, Resource, default_provisioning_modes
from requests_workflow.models import Request, RequestStatus
from requests_workflow.services.requests import request_create
from tests.api.factories import EntitlementFactory, UserFactory
from tests.api.helpers import client_for

pytestmark = pytest.mark.django_db
PROCESS = "requests_workflow.tasks.process_request"


@pytest.fixture
def grant(db):
    res = Resource.objects.create(code="dur", name="Durable", provisioning_modes=default_provisioning_modes())
    user = UserFactory(username="duruser")
    Account.objects.create(resource=res, owner=user, identifier="duruser")
    admin = UserFactory(username="duradmin", console_role="ADMINISTRATOR")
    return {"user": user, "ent": EntitlementFactory(resource=res), "admin": admin}


@pytest.fixture
def broker_down():
    """The Celery app as in production, its broker unreachable."""
    saved = {"CELERY_TASK_ALWAYS_EAGER": app.conf.task_always_eager, "CELERY_BROKER_URL": app.conf.broker_url}

    def reset():
        kombu.pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    reset()
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    yield
    reset()
    app.conf.update(saved)


def test_a_saved_request_is_answered_201_with_the_broker_down_and_finished_once_it_is_back(
    grant, broker_down, django_capture_on_commit_callbacks, caplog
):
    client = client_for(grant["admin"])
    body = {"type": "GRANT_ENTITLEMENT", "beneficiary": grant["user"].pk, "entitlement": grant["ent"].pk}
    with caplog.at_level(logging.WARNING, logger="blazon.outbox"):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/api/v1/requests/", {**body, "justification": "durable"}, format="json")
    assert response.status_code == 201, response.content
    assert "broker unavailable" in caplog.text
    req = Request.objects.get(pk=response.json()["id"])
    assert req.status == RequestStatus.NEW
    row = OutboxMessage.objects.get(kind=PROCESS, payload__args=[req.pk])
    assert row.status == OutboxStatus.PENDING

    # the client does not need to retry (a retry would be a 409 duplicate_pending)
    # the broker is back (embedded: in-process); the relay hands the row out once its lease is over
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=True)
    OutboxMessage.objects.filter(pk=row.pk).update(available_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.outbox_relay() == 1
    req.refresh_from_db()
    assert req.status == RequestStatus.FINISHED
    assert (
        EntitlementMembership.objects.filter(account__owner=grant["user"], entitlement=grant["ent"]).count()
        == 1
    )
    assert services.outbox_relay() == 0


def _new_request(grant):
    return request_create(
        actor=grant["admin"],
        source="api",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=grant["user"],
        entitlement=grant["ent"],
        justification="durable",
    )


def test_the_sweep_re_drives_a_request_left_new_counts_it_and_logs_it(
    grant, settings, django_capture_on_commit_callbacks, caplog
):
    settings.BLAZON_STUCK_AFTER_SECONDS = 120
    with django_capture_on_commit_callbacks(execute=False):  # its outbox row is lost too
        req = _new_request(grant)
    OutboxMessage.objects.all().delete()
    assert [w.count for w in services.stuck_work() if w.name == "requests.new"] == [0]  # not old yet
    assert services.work_sweep() == {
        "outbox": 0,
        "directory.role_changes": 0,
        "requests.new": 0,
        "requests.approved": 0,
        "requests.settled": 0,
        "privileged.windows": 0,
    }

    Request.objects.filter(pk=req.pk).update(updated_at=timezone.now() - timedelta(seconds=121))
    assert [w.count for w in services.stuck_work() if w.name == "requests.new"] == [1]
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        done = services.work_sweep()
    assert done["requests.new"] == 1
    req.refresh_from_db()
    assert req.status == RequestStatus.FINISHED
    assert services.counters()["redriven.requests.new"] == 1
    assert "re-drove 1 NEW request(s)" in caplog.text
    assert [w.count for w in services.stuck_work() if w.name == "requests.new"] == [0]
    # again: nothing left, nothing done twice
    assert services.work_sweep()["requests.new"] == 0
    assert (
        EntitlementMembership.objects.filter(account__owner=grant["user"], entitlement=grant["ent"]).count()
        == 1
    )


def test_the_sweep_applies_an_approved_request_that_was_left_behind(
    grant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        req = _new_request(grant)
    Request.objects.filter(pk=req.pk).update(
        status=RequestStatus.APPROVED, updated_at=timezone.now() - timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.work_sweep()["requests.approved"] == 1
    assert Request.objects.get(pk=req.pk).status == RequestStatus.FINISHED


def test_a_request_waiting_for_a_future_start_is_not_stuck(grant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        req = _new_request(grant)
    Request.objects.filter(pk=req.pk).update(
        status=RequestStatus.APPROVED,
        start_at=timezone.now() + timedelta(days=1),
        updated_at=timezone.now() - timedelta(hours=1),
    )
    assert services.work_sweep()["requests.approved"] == 0
    assert Request.objects.get(pk=req.pk).status == RequestStatus.APPROVED


def test_the_sweep_settles_a_request_whose_entries_settled_unannounced(
    grant, django_capture_on_commit_callbacks
):
    from directory.models import ProvisioningMode
    from provisioning.models import EntryStatus, ProvisioningEntry

    res = grant["ent"].resource
    res.provisioning_modes = {**res.provisioning_modes, "GRANT_ENTITLEMENT": ProvisioningMode.AUTOMATIC}
    res.save(update_fields=["provisioning_modes"])
    with django_capture_on_commit_callbacks(execute=True):
        req = _new_request(grant)
    req.refresh_from_db()
    assert req.status == RequestStatus.WAITING_PROVISIONING
    # the adapter's report was recorded but the announcement that settles the request was lost
    ProvisioningEntry.objects.filter(request=req).update(status=EntryStatus.SUCCEEDED)
    assert services.work_sweep()["requests.settled"] == 0  # too recent to be called stuck
    Request.objects.filter(pk=req.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.work_sweep()["requests.settled"] == 1
    assert Request.objects.get(pk=req.pk).status == RequestStatus.FINISHED


def test_the_sweep_applies_a_role_change_left_pending(grant, django_capture_on_commit_callbacks):
    from directory.models import Role, RoleChange, RoleChangeStatus, RoleMembership
    from directory.services import access

    role = Role.objects.create(code="dur-role", name="Durable role")
    RoleMembership.objects.create(role=role, user=grant["user"])
    with django_capture_on_commit_callbacks(execute=False):
        change = access.role_change_submit(
            actor=None, source="console", role=role, action="ADD", entitlement=grant["ent"]
        )
    OutboxMessage.objects.all().delete()  # its work item lost as well
    RoleChange.objects.filter(pk=change.pk).update(created_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.work_sweep()["directory.role_changes"] == 1
    assert RoleChange.objects.get(pk=change.pk).status == RoleChangeStatus.DONE
    assert services.counters()["redriven.directory.role_changes"] == 1
