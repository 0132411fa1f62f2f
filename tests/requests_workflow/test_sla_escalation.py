"""Task definitions set the due date of new tasks; escalation steps run once each, from the
periodic sweep, and write the request timeline and the audit log."""

from __future__ import annotations

import threading
from datetime import time, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole
from requests_workflow.services import sla
from requests_workflow.services.approvals import task_approve
from requests_workflow.services.requests import request_create
from requests_workflow.tasks import escalate_due_tasks
from tests.api.factories import UserFactory
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory, QueueFactory
from worklist.models import (
    Calendar,
    EscalationPolicy,
    EscalationStep,
    Task,
    TaskDefinition,
    TaskEscalation,
    TaskKind,
    TaskStatus,
)
from worklist.services import sla_config

pytestmark = pytest.mark.django_db


def grant(run, c):
    return run(
        request_create,
        actor=c["alice"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=c["alice"],
        entitlement=c["ent"],
        justification="month-end close",
    )


@pytest.fixture
def owner_approves(company):
    """One approval level: the entitlement owner (who reports to ``chief``)."""
    chief = UserFactory(username="chief", email="chief@example.com")
    company["owner"].manager = chief
    company["owner"].email = "owner@example.com"
    company["owner"].save()
    policy = ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"])
    ApprovalLevelFactory(policy=policy, position=1, approver_kind="OWNER")
    company["chief"] = chief
    company["policy"] = policy
    return company


@pytest.fixture
def escalation() -> EscalationPolicy:
    return EscalationPolicy.objects.create(name="Standard")


def definition(policy=None, calendar=None, **kw) -> TaskDefinition:
    values = {"name": "Approvals", "task_kind": TaskKind.APPROVAL, "sla_hours": 16, **kw}
    return TaskDefinition.objects.create(calendar=calendar, escalation_policy=policy, **values)


def step(policy, after_hours, action, position=None, **kw) -> EscalationStep:
    users = kw.pop("users", [])
    position = position or (policy.steps.count() + 1)
    created = EscalationStep.objects.create(
        policy=policy, position=position, after_hours=after_hours, action=action, **kw
    )
    created.users.set(users)
    return created


def the_task(req) -> Task:
    return Task.objects.get(request=req, status=TaskStatus.OPEN)


def sweep(run, task, hours):
    """Run the sweep as if ``hours`` clock hours had passed since the task opened."""
    return run(sla.tasks_escalate_due, now=task.created_at + timedelta(hours=hours))


# --- due dates --------------------------------------------------------------------------------


def test_due_at_set_from_the_matching_definition(owner_approves, run):
    office = Calendar.objects.create(name="Office", timezone="UTC", day_start=time(9), day_end=time(17))
    d = definition(calendar=office, sla_hours=8)
    task = the_task(grant(run, owner_approves))
    assert task.definition == d
    assert task.due_at == sla.business_deadline(office, task.created_at, 8)
    assert task.next_escalation_at is None  # no escalation policy


def test_no_definition_no_due_date(owner_approves, run):
    definition(task_kind=TaskKind.SOD)
    task = the_task(grant(run, owner_approves))
    assert task.definition is None and task.due_at is None


def test_most_specific_definition_wins_then_priority(owner_approves, run):
    owner_approves["ent"].criticality = "HIGH"
    owner_approves["ent"].save()
    definition(name="Any approval", priority=1, sla_hours=40)
    definition(name="Grants", request_types=["GRANT_ENTITLEMENT"], priority=50, sla_hours=20)
    best = definition(
        name="High grants", request_types=["GRANT_ENTITLEMENT"], criticality="HIGH", sla_hours=4
    )
    definition(
        name="High grants, urgent but off",
        request_types=["GRANT_ENTITLEMENT"],
        criticality="HIGH",
        sla_hours=1,
        active=False,
    )
    definition(name="High roles", request_types=["GRANT_ROLE"], criticality="HIGH", sla_hours=2)
    task = the_task(grant(run, owner_approves))
    assert task.definition == best
    assert task.due_at == task.created_at + timedelta(hours=4)

    best.delete()
    tie = definition(name="Grants, first", request_types=["GRANT_ENTITLEMENT"], priority=10, sla_hours=3)
    req = owner_approves
    from requests_workflow.services.requests import request_cancel

    run(request_cancel, actor=req["admin"], source="console", request=task.request, reason="again")
    assert the_task(grant(run, req)).definition == tie


def test_overdue_flag(owner_approves, run):
    definition(sla_hours=1)
    task = the_task(grant(run, owner_approves))
    assert not task.overdue
    Task.objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    task.refresh_from_db()
    assert task.overdue
    task.status = TaskStatus.APPROVED
    assert not task.overdue


# --- escalation steps -------------------------------------------------------------------------


def test_remind_e_mails_the_assignees_again_once(owner_approves, escalation, run):
    step(escalation, 4, "REMIND")
    definition(escalation)
    task = the_task(grant(run, owner_approves))
    assert task.next_escalation_at == task.created_at + timedelta(hours=4)
    mail.outbox.clear()

    assert sweep(run, task, 3) == 0 and not mail.outbox  # not due yet
    assert sweep(run, task, 5) == 1
    (message,) = mail.outbox
    assert message.to == ["owner@example.com"] and message.subject.startswith("Reminder: Approval needed")
    assert sweep(run, task, 6) == 0  # twice: one effect
    assert run(escalate_due_tasks.apply).result == 0
    assert len(mail.outbox) == 1
    assert TaskEscalation.objects.filter(task=task).count() == 1
    task.refresh_from_db()
    assert task.next_escalation_at is None
    assert task.request.events.filter(message__contains="reminded owner").exists()
    audit = AuditEvent.objects.get(action="task.reminded")
    assert audit.source == "automatic" and audit.actor_id is None


def test_escalate_to_the_managers_of_the_assignees_keeps_them(owner_approves, escalation, run):
    step(escalation, 8, "ESCALATE_MANAGER")
    definition(escalation)
    task = the_task(grant(run, owner_approves))
    mail.outbox.clear()
    assert sweep(run, task, 9) == 1
    assert set(task.assignees.values_list("username", flat=True)) == {"owner", "chief"}
    assert [m.to for m in mail.outbox] == [["chief@example.com"]]  # links for the new approver
    events = " | ".join(task.request.events.values_list("message", flat=True))
    assert "escalated to chief (manager)" in events
    audit = AuditEvent.objects.get(action="task.escalated")
    assert audit.old_values["assignees"] == ["owner"] and audit.new_values["assignees"] == ["chief", "owner"]
    # the manager can now decide
    run(task_approve, actor=owner_approves["chief"], source="workspace", task=task)
    task.refresh_from_db()
    assert task.status == TaskStatus.APPROVED


def test_escalation_may_replace_the_resolvers(owner_approves, escalation, run):
    step(escalation, 8, "ESCALATE_MANAGER", keep_assignees=False)
    definition(escalation)
    task = the_task(grant(run, owner_approves))
    sweep(run, task, 9)
    assert list(task.assignees.values_list("username", flat=True)) == ["chief"]


def test_manager_of_the_beneficiary_when_the_task_is_for_a_queue(company, escalation, run):
    queue = QueueFactory(name="Help desk")
    ApprovalLevelFactory(
        policy=ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"]), approver_kind="QUEUE", queue=queue
    )
    step(escalation, 2, "ESCALATE_MANAGER")
    definition(escalation)
    task = the_task(grant(run, company))
    sweep(run, task, 3)
    assert list(task.assignees.values_list("username", flat=True)) == ["boss"]  # alice's manager
    assert task.queue == queue


def test_escalate_to_a_queue(owner_approves, escalation, run):
    member = UserFactory(username="desk1", email="desk1@example.com")
    queue = QueueFactory(name="Escalations")
    queue.members.add(member)
    step(escalation, 2, "ESCALATE_QUEUE", queue=queue)
    definition(escalation)
    task = the_task(grant(run, owner_approves))
    mail.outbox.clear()
    sweep(run, task, 2)
    task.refresh_from_db()
    assert task.queue == queue and list(task.assignees.values_list("username", flat=True)) == ["owner"]
    assert [m.to for m in mail.outbox] == [["desk1@example.com"]]
    run(task_approve, actor=member, source="workspace", task=task)


def test_escalate_to_named_users_never_the_requester(owner_approves, escalation, run):
    backup = UserFactory(username="backup")
    step(escalation, 1, "ESCALATE_USERS", users=[backup, owner_approves["alice"]])
    definition(escalation)
    task = the_task(grant(run, owner_approves))
    sweep(run, task, 1)
    assert set(task.assignees.values_list("username", flat=True)) == {"owner", "backup"}


def test_escalate_to_the_next_approval_level(owner_approves, escalation, run):
    second = UserFactory(username="cfo")
    level2 = ApprovalLevelFactory(policy=owner_approves["policy"], position=2, approver_kind="USERS")
    level2.users.add(second)
    step(escalation, 24, "ESCALATE_NEXT_APPROVER")
    definition(escalation)
    task = the_task(grant(run, owner_approves))
    assert task.level == 1
    sweep(run, task, 24)
    assert set(task.assignees.values_list("username", flat=True)) == {"owner", "cfo"}


def test_next_approver_falls_back_to_named_users(owner_approves, escalation, run):
    fallback = UserFactory(username="fallback")
    step(escalation, 24, "ESCALATE_NEXT_APPROVER", users=[fallback])
    definition(escalation)
    task = the_task(grant(run, owner_approves))
    sweep(run, task, 25)
    assert set(task.assignees.values_list("username", flat=True)) == {"owner", "fallback"}


def test_nobody_found_is_recorded_and_changes_nobody(owner_approves, escalation, run):
    owner_approves["owner"].manager = None
    owner_approves["owner"].save()
    step(escalation, 1, "ESCALATE_MANAGER", keep_assignees=False)
    definition(escalation)
    task = the_task(grant(run, owner_approves))
    assert sweep(run, task, 2) == 1
    assert list(task.assignees.values_list("username", flat=True)) == ["owner"]
    assert "nobody to escalate to" in TaskEscalation.objects.get(task=task).detail


def test_steps_run_in_time_order_on_business_hours(owner_approves, escalation, run):
    office = Calendar.objects.create(name="Office", timezone="UTC", day_start=time(9), day_end=time(17))
    step(escalation, 16, "ESCALATE_MANAGER", position=1)
    step(escalation, 8, "REMIND", position=2)
    definition(escalation, calendar=office)
    task = the_task(grant(run, owner_approves))
    first = sla.business_deadline(office, task.created_at, 8)
    second = sla.business_deadline(office, task.created_at, 16)
    assert task.next_escalation_at == first
    assert run(sla.tasks_escalate_due, now=first - timedelta(seconds=1)) == 0
    assert run(sla.tasks_escalate_due, now=first) == 1
    task.refresh_from_db()
    assert task.next_escalation_at == second
    assert list(TaskEscalation.objects.filter(task=task).values_list("action", flat=True)) == ["REMIND"]
    # late sweep: only what is left runs
    assert run(sla.tasks_escalate_due, now=second + timedelta(days=3)) == 1
    assert run(sla.tasks_escalate_due, now=second + timedelta(days=4)) == 0
    assert list(TaskEscalation.objects.filter(task=task).values_list("action", flat=True)) == [
        "REMIND",
        "ESCALATE_MANAGER",
    ]


def test_decided_tasks_do_not_escalate(owner_approves, escalation, run):
    step(escalation, 1, "REMIND")
    definition(escalation)
    task = the_task(grant(run, owner_approves))
    run(task_approve, actor=owner_approves["owner"], source="workspace", task=task)
    assert sweep(run, task, 5) == 0
    assert not TaskEscalation.objects.exists()


def test_a_step_added_later_reaches_open_tasks(owner_approves, escalation, run):
    definition(escalation)
    task = the_task(grant(run, owner_approves))
    assert task.next_escalation_at is None
    admin = owner_approves["admin"]
    run(
        sla_config.escalation_step_create,
        actor=admin,
        source="console",
        policy=escalation,
        data={"after_hours": 2, "action": "REMIND"},
    )
    task.refresh_from_db()
    assert task.next_escalation_at == task.created_at  # the sweep re-reads it
    assert sweep(run, task, 1) == 0
    task.refresh_from_db()
    assert task.next_escalation_at == task.created_at + timedelta(hours=2)
    assert sweep(run, task, 2) == 1


def test_the_sweep_finds_due_tasks_in_a_constant_number_of_queries(
    owner_approves, escalation, run, django_assert_max_num_queries
):
    step(escalation, 100, "REMIND")
    definition(escalation)
    task = the_task(grant(run, owner_approves))
    with django_assert_max_num_queries(1):
        assert sla.tasks_escalate_due(now=task.created_at + timedelta(hours=1)) == 0


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_run_a_step_once(postgres, django_capture_on_commit_callbacks):
    """Two sweeps in two connections, at the same time: the step runs once."""
    chief = UserFactory(username="chief")
    owner = UserFactory(username="owner", manager=chief)
    alice = UserFactory(username="alice")
    UserFactory(username="admin", console_role=ConsoleRole.ADMINISTRATOR)
    from tests.api.factories import EntitlementFactory, ResourceFactory

    ent = EntitlementFactory(resource=ResourceFactory(code="erp"), identifier="pay", owner=owner)
    ApprovalLevelFactory(
        policy=ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"]), approver_kind="OWNER"
    )
    policy = EscalationPolicy.objects.create(name="Race")
    step(policy, 1, "ESCALATE_MANAGER")
    definition(policy)
    req = request_create(
        actor=alice,
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=alice,
        entitlement=ent,
        justification="x",
    )
    from requests_workflow.services.pipeline import request_process

    request_process(request_id=req.pk)
    task = the_task(req)
    now = task.created_at + timedelta(hours=2)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        try:
            barrier.wait()
            results.append(sla.tasks_escalate_due(now=now))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 1
    assert TaskEscalation.objects.filter(task=task).count() == 1
    assert AuditEvent.objects.filter(action="task.escalated").count() == 1
    assert set(task.assignees.values_list("username", flat=True)) == {"owner", "chief"}


def test_remind_on_an_sod_task_sends_the_short_reminder(owner_approves, escalation, run):
    step(escalation, 1, "REMIND")
    definition(escalation, name="SoD", task_kind=TaskKind.SOD)
    req = grant(run, owner_approves)
    sod = Task.objects.create(kind=TaskKind.SOD, request=req, title="conflict")
    sod.assignees.add(owner_approves["owner"])
    run(sla.sla_tasks_opened, tasks=[sod], req=req)
    assert sod.due_at == sod.created_at + timedelta(hours=16)
    mail.outbox.clear()
    assert sweep(run, sod, 2) == 1
    (message,) = mail.outbox
    assert message.subject == f"Reminder: Segregation of duties task #{sod.pk} waits for you"
    assert f"/workspace/requests/tasks/{sod.pk}/" in message.body


def test_added_approvers_get_one_e_mail(owner_approves, escalation, run):
    step(escalation, 1, "ESCALATE_MANAGER")
    definition(escalation)
    task = the_task(grant(run, owner_approves))
    mail.outbox.clear()
    sweep(run, task, 2)
    assert [m.to for m in mail.outbox] == [["chief@example.com"]]


def test_the_sweep_is_on_the_beat_schedule():
    from django.conf import settings

    entries = {e["task"]: e["schedule"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert entries["requests_workflow.tasks.escalate_due_tasks"] == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("service", "data", "field"),
    [
        (sla_config.calendar_create, {"name": "X", "timezone": "Mars/Olympus"}, "timezone"),
        (sla_config.calendar_create, {"name": "X", "working_days": [7]}, "working_days"),
        (sla_config.calendar_create, {"name": "X", "working_days": "01234"}, "working_days"),
        (sla_config.calendar_create, {"name": "X", "day_start": "18:00", "day_end": "09:00"}, "day_end"),
        (sla_config.calendar_create, {"name": "  "}, "name"),
        (sla_config.task_definition_create, {"name": "X", "task_kind": "NOPE", "sla_hours": 1}, "task_kind"),
        (sla_config.task_definition_create, {"name": "X", "task_kind": "SOD", "sla_hours": 0}, "sla_hours"),
        (sla_config.task_definition_create, {"name": "X", "task_kind": "SOD", "sla_hours": 1.5}, "sla_hours"),
        (
            sla_config.task_definition_create,
            {"name": "X", "task_kind": "SOD", "sla_hours": 1, "request_types": ["NOPE"]},
            "request_types",
        ),
        (
            sla_config.task_definition_create,
            {"name": "X", "task_kind": "SOD", "sla_hours": 1, "calendar": 999},
            "calendar",
        ),
    ],
)
def test_services_refuse_bad_input_and_change_nothing(company, service, data, field):
    from blazon.errors import ValidationFailed

    before = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        service(actor=company["admin"], source="api", data=data)
    assert field in refused.value.fields
    assert AuditEvent.objects.count() == before
