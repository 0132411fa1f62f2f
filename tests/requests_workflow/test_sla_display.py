"""Due dates and the overdue badge where tasks are listed: the workspace "My tasks", the task
page, the console queues and request pages, and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from directory.models import ConsoleRole
from requests_workflow.services.requests import request_create
from tests.api.factories import UserFactory
from tests.api.helpers import client_for
from tests.console.conftest import logged_in
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory
from worklist.models import Task, TaskDefinition, TaskStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks(company, run):
    """Two open approval tasks for ``approver``: one overdue, one due tomorrow."""
    approver = UserFactory(username="approver", console_role=ConsoleRole.HELPDESK)
    level = ApprovalLevelFactory(policy=ApprovalPolicyFactory(), approver_kind="USERS")
    level.users.add(approver)
    TaskDefinition.objects.create(name="Approvals", task_kind="APPROVAL", sla_hours=24)
    made = []
    for target in (company["ent"], company["role"]):
        kind = "GRANT_ENTITLEMENT" if target == company["ent"] else "GRANT_ROLE"
        req = run(
            request_create,
            actor=company["alice"],
            source="workspace",
            request_type=kind,
            beneficiary=company["alice"],
            justification="work",
            **({"entitlement": target} if kind == "GRANT_ENTITLEMENT" else {"role": target}),
        )
        made.append(Task.objects.get(request=req, status=TaskStatus.OPEN))
    late, fine = made
    Task.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(hours=2))
    late.refresh_from_db()
    return {"approver": approver, "late": late, "fine": fine}


def overdue_rows(html: str) -> int:
    return html.count('class="badge bad overdue"')


def test_my_tasks_show_the_due_date_and_overdue(tasks):
    page = logged_in(tasks["approver"]).get(reverse("workspace_requests:tasks")).content.decode()
    assert tasks["fine"].due_at.strftime("%Y-%m-%d") in page
    assert overdue_rows(page) == 1
    task_page = logged_in(tasks["approver"]).get(reverse("workspace_requests:task", args=[tasks["late"].pk]))
    assert "Overdue" in task_page.content.decode()


def test_console_lists_show_overdue(tasks, company):
    admin = logged_in(company["admin"])
    assert overdue_rows(admin.get(reverse("console_requests:queues")).content.decode()) == 1
    detail = admin.get(reverse("console_requests:detail", args=[tasks["late"].request_id])).content.decode()
    assert overdue_rows(detail) == 1


def test_api_exposes_due_at_and_overdue(tasks):
    body = client_for(tasks["approver"]).get("/api/v1/tasks/").json()
    rows = (
        {row["id"]: row for row in body["results"]} if isinstance(body, dict) else {r["id"]: r for r in body}
    )
    assert rows[tasks["late"].pk]["overdue"] is True and rows[tasks["late"].pk]["due_at"]
    assert rows[tasks["fine"].pk]["overdue"] is False
