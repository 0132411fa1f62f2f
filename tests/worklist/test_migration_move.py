"""The worklist models moved out of requests_workflow without losing a row: a database at the
last schema before the move (main a3839e1) migrates forward with its tasks, queues, calendars,
escalation policies and task definitions intact, and the links to them still resolve."""

from __future__ import annotations

from datetime import time

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from directory.models import User
from provisioning.models import ProvisioningEntry
from requests_workflow.models import ApprovalLevel, Request
from worklist.models import Calendar, EscalationStep, Queue, Task, TaskDefinition, TaskEscalation

#: The leaf migrations of the apps involved before the move.
BEFORE = [
    ("requests_workflow", "0005_merge_task_sla"),
    ("provisioning", "0004_adapter_credentials_and_inprocess_adapters"),
]


@pytest.mark.django_db(transaction=True)
def test_rows_survive_the_move_to_worklist(postgres):
    executor = MigrationExecutor(connection)
    executor.migrate([("worklist", None)])  # back to the schema before the move
    old = executor.loader.project_state(BEFORE, at_end=True).apps
    ContentType.objects.clear_cache()
    old_ct = ContentType.objects.get_or_create(app_label="requests_workflow", model="task")[0]

    user = old.get_model("directory", "User").objects.create(username="ana", email="ana@example.com")
    request = old.get_model("requests_workflow", "Request").objects.create(type="GRANT_ROLE", source="manual")
    queue = old.get_model("requests_workflow", "Queue").objects.create(name="Help desk")
    queue.members.add(user)
    calendar = old.get_model("requests_workflow", "Calendar").objects.create(
        name="Lisbon", timezone="Europe/Lisbon", day_start=time(9), day_end=time(17)
    )
    calendar.holidays.create(date="2026-06-10", name="Portugal Day")
    policy = old.get_model("requests_workflow", "EscalationPolicy").objects.create(name="Standard")
    step = policy.steps.create(position=1, after_hours=4, action="ESCALATE_QUEUE", queue=queue)
    step.users.add(user)
    old.get_model("requests_workflow", "TaskDefinition").objects.create(
        name="Approvals", task_kind="APPROVAL", sla_hours=8, calendar=calendar, escalation_policy=policy
    )
    task = old.get_model("requests_workflow", "Task").objects.create(
        kind="APPROVAL", request=request, queue=queue, title="Approve the grant"
    )
    task.assignees.add(user)
    old.get_model("requests_workflow", "TaskEscalation").objects.create(task=task, step=step, action="REMIND")
    manual = old.get_model("requests_workflow", "Task").objects.create(kind="PROVISIONING", title="By hand")
    approval_policy = old.get_model("requests_workflow", "ApprovalPolicy").objects.create(name="Grants")
    approval_policy.levels.create(position=1, approver_kind="QUEUE", queue=queue)

    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # forward to today's schema

    moved = Task.objects.get(pk=task.pk)
    assert moved.title == "Approve the grant"
    assert moved.request == Request.objects.get(pk=request.pk)
    assert list(moved.assignees.all()) == [User.objects.get(pk=user.pk)]
    assert moved.queue.name == "Help desk"
    assert list(Queue.objects.get(pk=queue.pk).members.values_list("username", flat=True)) == ["ana"]
    assert TaskEscalation.objects.get(task=moved).step == EscalationStep.objects.get(pk=step.pk)
    definition = TaskDefinition.objects.get(name="Approvals")
    assert definition.calendar == Calendar.objects.get(name="Lisbon")
    assert [h.name for h in definition.calendar.holidays.all()] == ["Portugal Day"]
    assert definition.escalation_policy.steps.get().users.get().username == "ana"
    assert ApprovalLevel.objects.get(policy__name="Grants").queue == moved.queue
    # a new row continues the old sequence, and the provisioning link points at the moved model
    assert Task.objects.create(kind="APPROVAL").pk > manual.pk
    entry_field = ProvisioningEntry._meta.get_field("manual_task")
    assert entry_field.related_model is Task
    # the content type (and so the permissions) followed the model
    ContentType.objects.clear_cache()
    assert ContentType.objects.get(pk=old_ct.pk).app_label == "worklist"
