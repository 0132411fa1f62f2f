"""The console dashboard says what needs attention (issue 13 item 6): requests per day by
status, the provisioning backlog by resource and age, overdue tasks, orphan accounts per
resource — each with a link to the filtered list behind it. The panels come from the apps that
own the data (blazon/panels.py)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from directory.models import Account
from provisioning.models import EntryStatus, ProvisioningEntry
from requests_workflow.models import Request, RequestStatus
from tests.api.factories import AccountFactory
from worklist.models import Task, TaskKind
from worklist.services import task_open

pytestmark = pytest.mark.django_db


def chart(body: str, element_id: str) -> dict:
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', body, re.S)
    assert found, f"no {element_id} chart data"
    return json.loads(found.group(1))


def test_requests_per_day_by_status(admin, world, admin_user):
    for status in (RequestStatus.FINISHED, RequestStatus.FINISHED, RequestStatus.WAITING_APPROVAL):
        Request.objects.create(type="LOCK_USER", source="console", requester=admin_user, beneficiary=world["bob"],
                               status=status)  # fmt: skip
    old = Request.objects.create(type="LOCK_USER", source="console", requester=admin_user, beneficiary=world["bob"],
                                 status=RequestStatus.FAILED)  # fmt: skip
    Request.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=30)
    )  # outside the window
    body = admin.get(reverse("console:dashboard")).content.decode()
    data = chart(body, "chart-requests-per-day")
    assert len(data["labels"]) == 14
    series = {ds["label"]: ds["data"] for ds in data["datasets"]}
    assert series["Finished"][-1] == 2 and series["Waiting approval"][-1] == 1
    assert sum(series["Failed"]) == 0
    assert f"{reverse('console_requests:list')}?status=FINISHED" in body


def test_provisioning_backlog_by_resource_and_age(admin, world):
    github = world["github"]
    now = timezone.now()
    for age in (timedelta(minutes=5), timedelta(hours=3), timedelta(days=2), timedelta(days=3)):
        ProvisioningEntry.objects.create(
            resource=github, event_type="CREATE_ACCOUNT", status=EntryStatus.PENDING, created_at=now - age,
            mode="AUTOMATIC",
        )  # fmt: skip
    ProvisioningEntry.objects.create(
        resource=github, event_type="CREATE_ACCOUNT", status=EntryStatus.SUCCEEDED, created_at=now, mode="AUTOMATIC"
    )  # fmt: skip
    body = admin.get(reverse("console:dashboard")).content.decode()
    panel = body[body.index('id="dash-backlog"') :]
    panel = panel[: panel.index("</section>")]
    assert f"{reverse('console_provisioning:queue')}?resource={github.pk}" in panel
    cells = re.findall(r'<td class="num">(.*?)</td>', panel)
    assert cells[:4] == ["1", "1", '<span class="badge warn">2</span>', "4"]  # <1 h, 1-24 h, >24 h, total


def test_overdue_tasks_and_their_drill_down(admin, world):
    late = task_open(kind=TaskKind.APPROVAL, title="Late approval", assignees=[world["alice"]])
    Task.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(hours=2))
    on_time = task_open(kind=TaskKind.APPROVAL, title="On-time approval", assignees=[world["alice"]])
    Task.objects.filter(pk=on_time.pk).update(due_at=timezone.now() + timedelta(hours=2))
    body = admin.get(reverse("console:dashboard")).content.decode()
    panel = body[body.index('id="dash-overdue"') :]
    assert 'badge warn">1<' in panel[: panel.index("</section>")]
    queues = admin.get(
        reverse("console_requests:queues"), {"overdue": "1", "kind": "APPROVAL"}
    ).content.decode()
    assert "Late approval" in queues and "On-time approval" not in queues
    assert "Showing only overdue" in queues


def test_orphans_per_resource_link_to_the_filtered_accounts(admin, world):
    AccountFactory(resource=world["github"], owner=None, identifier="ghost")
    body = admin.get(reverse("console:dashboard")).content.decode()
    link = f"{reverse('console:accounts')}?resource={world['github'].pk}&amp;orphan=1"
    assert link in body
    accounts = admin.get(
        reverse("console:accounts"), {"resource": world["github"].pk, "orphan": "1"}
    ).content.decode()
    assert "ghost" in accounts and "bob-gh" not in accounts
    assert Account.objects.filter(owner__isnull=True).count() == 1


def test_the_auditor_sees_the_panels_an_employee_no_dashboard(auditor, plain):
    body = auditor.get(reverse("console:dashboard")).content.decode()
    assert 'id="dash-backlog"' in body and 'id="dash-overdue"' in body and 'id="dash-requests"' in body
    assert plain.get(reverse("console:dashboard")).status_code in (302, 403)
