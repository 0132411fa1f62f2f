"""MANUAL mode: every entry a resource provisions by hand gets a PROVISIONING task for the
resource owners (unassigned when none), opened set-based after commit; resolving it on the
workspace page finishes (done) or rolls back (not possible) the request."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from directory.models import (
    ConsoleRole,
    ProvisioningEvent,
    ProvisioningMode,
    RoleMembership,
)
from directory.services import access
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.services.manual_mode import manual_entries_open_tasks
from requests_workflow.models import RequestStatus
from requests_workflow.services.requests import request_create
from tests.api.factories import EntitlementFactory, ResourceFactory, RoleFactory, UserFactory
from worklist.models import Task, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db
ALL_MANUAL = {e: ProvisioningMode.MANUAL for e in ProvisioningEvent.values}


def fan_out(n: int, capture, *, owners=()) -> tuple[int, list[Task]]:
    """Add a MANUAL resource to a role of ``n`` members; returns the statements run (the
    submit, the fan-out and the on-commit task opening) and the tasks opened."""
    res = ResourceFactory(provisioning_modes=ALL_MANUAL)
    res.owners.add(*owners)
    role = RoleFactory()
    users = [UserFactory() for _ in range(n)]
    RoleMembership.objects.bulk_create([RoleMembership(role=role, user=u) for u in users])
    before = set(Task.objects.values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as ctx, capture(execute=True):
        access.role_change_submit(actor=None, source="console", role=role, action="ADD", resource=res)
    return len(ctx.captured_queries), list(Task.objects.exclude(pk__in=before).order_by("pk"))


def test_role_fan_out_opens_one_task_per_entry_in_constant_statements(
    postgres, django_capture_on_commit_callbacks, settings
):
    # the resource's owner would otherwise approve the change first (docs/roles-and-sod.md)
    settings.BLAZON_ROLE_CHANGE_ACCESS_OWNER_APPROVAL = False
    owner = UserFactory(username="app-owner")
    small, tasks5 = fan_out(5, django_capture_on_commit_callbacks, owners=[owner])
    large, tasks50 = fan_out(50, django_capture_on_commit_callbacks, owners=[owner])
    assert len(tasks5) == 5 and len(tasks50) == 50
    assert large <= small, (small, large)  # the statements do not grow with the members
    entries = ProvisioningEntry.objects.filter(manual_task__in=tasks50)
    assert entries.count() == 50
    assert set(entries.values_list("status", flat=True)) == {EntryStatus.PENDING}
    assert all(t.kind == TaskKind.PROVISIONING and t.status == TaskStatus.OPEN for t in tasks50)
    assert {tuple(t.assignees.values_list("username", flat=True)) for t in tasks50} == {("app-owner",)}
    assert "Provision by hand: create account" in tasks50[0].title
    # idempotent: a second run (the beat sweep) finds nothing to do
    assert manual_entries_open_tasks() == 0
    assert Task.objects.filter(kind=TaskKind.PROVISIONING).count() == 55


def test_with_an_sla_definition_the_statements_stay_constant_and_tasks_get_due_dates(
    postgres, django_capture_on_commit_callbacks
):
    from worklist.models import EscalationPolicy, EscalationStep, TaskDefinition

    policy = EscalationPolicy.objects.create(name="remind")
    EscalationStep.objects.create(policy=policy, position=1, after_hours=4, action="REMIND")
    TaskDefinition.objects.create(
        name="by hand", task_kind=TaskKind.PROVISIONING, sla_hours=8, escalation_policy=policy
    )
    small, _ = fan_out(5, django_capture_on_commit_callbacks)
    large, tasks = fan_out(50, django_capture_on_commit_callbacks)
    assert large <= small, (small, large)
    assert all(t.due_at and t.next_escalation_at and t.definition_id for t in tasks)


def test_no_owner_leaves_the_task_unassigned_for_an_administrator(
    postgres, django_capture_on_commit_callbacks
):
    _, tasks = fan_out(2, django_capture_on_commit_callbacks)
    assert len(tasks) == 2 and not any(t.assignees.exists() for t in tasks)


def test_the_sweep_catches_entries_whose_on_commit_task_was_lost(postgres):
    res = ResourceFactory(provisioning_modes=ALL_MANUAL)
    from provisioning.services import entries_write_many

    entries_write_many(
        resource=res,
        event_type="CREATE_ACCOUNT",
        rows=[{"payload": {"identifier": f"u{i}"}} for i in range(3)],
    )  # inside the test transaction: the on-commit task never runs
    assert not Task.objects.exists()
    assert manual_entries_open_tasks(batch=2) == 3  # two batches
    assert not ProvisioningEntry.objects.filter(manual_task__isnull=True).exists()


@pytest.fixture
def manual_request(db, django_capture_on_commit_callbacks):
    owner = UserFactory(username="hr-owner")
    res = ResourceFactory(code="hr", name="HR", provisioning_modes=ALL_MANUAL)
    res.owners.add(owner)
    ent = EntitlementFactory(resource=res, identifier="payroll", name="Payroll")
    admin = UserFactory(username="admin", console_role=ConsoleRole.ADMINISTRATOR)
    with django_capture_on_commit_callbacks(execute=True):
        req = request_create(
            actor=admin,
            source="api",
            request_type="GRANT_ENTITLEMENT",
            beneficiary=UserFactory(username="dora"),
            entitlement=ent,
            justification="payroll run",
        )
    req.refresh_from_db()
    assert req.status == RequestStatus.WAITING_PROVISIONING, req.failure_reason
    return req, owner


def test_a_request_waiting_on_manual_entries_finishes_when_the_owner_marks_them_done(
    manual_request, client, django_capture_on_commit_callbacks
):
    req, owner = manual_request
    tasks = list(Task.objects.filter(request=req, kind=TaskKind.PROVISIONING).order_by("pk"))
    assert len(tasks) == 2  # create the account, grant the entitlement
    assert req.events.filter(message__contains="is MANUAL on HR").count() == 2
    client.force_login(owner)
    for task in tasks:
        page = client.get(reverse("workspace_requests:task", args=[task.pk]))
        assert page.status_code == 200 and "Mark as done" in page.content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("workspace_requests:provisioning_resolve", args=[task.pk, "done"]), {})
    req.refresh_from_db()
    assert req.status == RequestStatus.FINISHED
    assert set(ProvisioningEntry.objects.filter(manual_task__in=tasks).values_list("status", flat=True)) == {
        EntryStatus.SUCCEEDED
    }


def test_not_possible_fails_the_entry_and_rolls_the_request_back(
    manual_request, client, django_capture_on_commit_callbacks
):
    req, owner = manual_request
    task = Task.objects.filter(request=req, kind=TaskKind.PROVISIONING).order_by("pk").first()
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("workspace_requests:provisioning_resolve", args=[task.pk, "failed"]),
            {"reason": "HR system frozen for the audit"},
        )
    req.refresh_from_db()
    assert req.status == RequestStatus.FAILED
    assert ProvisioningEntry.objects.get(manual_task=task).status == EntryStatus.FAILED


def test_someone_else_cannot_open_or_resolve_the_task(manual_request, client):
    req, _ = manual_request
    task = Task.objects.filter(request=req, kind=TaskKind.PROVISIONING).first()
    client.force_login(UserFactory(username="mallory"))
    assert client.get(reverse("workspace_requests:task", args=[task.pk])).status_code == 404
    client.post(reverse("workspace_requests:provisioning_resolve", args=[task.pk, "done"]), {})
    assert ProvisioningEntry.objects.get(manual_task=task).status == EntryStatus.PENDING
