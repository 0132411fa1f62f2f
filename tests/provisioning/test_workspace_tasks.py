"""Manual provisioning tasks in the workspace: the resource owner finds the task in "My tasks"
(no Approve button: it is not an approval), opens it to see the change to make, and marks it
done (the request goes on) or not possible (the request is rolled back). Others cannot."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from directory.models import EntitlementMembership
from provisioning.models import EntryStatus, ProvisioningEntry
from requests_workflow.models import RequestStatus
from tests.provisioning.test_failure_path import post, pull_one
from worklist.models import Task, TaskStatus

pytestmark = pytest.mark.django_db
TASKS = reverse("workspace_requests:tasks")


@pytest.fixture
def manual_task(world, grant, erp_api):
    create = pull_one(erp_api)
    post(erp_api, create["id"], "success", native_identifier="uid=carol")
    entry = pull_one(erp_api)
    body = post(erp_api, entry["id"], "failure", reason="group payments is read-only", final=True)
    return Task.objects.get(pk=body["manual_task"])


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_owner_sees_the_change_and_marks_it_done(
    world, grant, manual_task, django_capture_on_commit_callbacks
):
    owner = client_for(world["owner"])
    listing = owner.get(TASKS).content.decode()
    page_url = reverse("workspace_requests:task", args=[manual_task.pk])
    assert page_url in listing and f"Open task #{manual_task.pk}" in listing
    assert f"Approve request #{grant.pk}" not in listing  # not an approval

    page = owner.get(page_url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "group payments is read-only" in text and "month-end close" in text
    assert world["ent"].name in text and "Mark as done" in text

    with django_capture_on_commit_callbacks(execute=True):
        done = owner.post(
            reverse("workspace_requests:provisioning_resolve", args=[manual_task.pk, "done"]),
            {"native_identifier": "cn=payments", "comment": "added by hand"},
        )
    assert done.status_code == 302
    manual_task.refresh_from_db()
    grant.refresh_from_db()
    assert manual_task.status != TaskStatus.OPEN
    assert ProvisioningEntry.objects.get(manual_task=manual_task).status == EntryStatus.SUCCEEDED
    assert grant.status == RequestStatus.FINISHED
    assert f"Open task #{manual_task.pk}" not in owner.get(TASKS).content.decode()


def test_not_possible_needs_a_reason_then_rolls_back(
    world, grant, manual_task, django_capture_on_commit_callbacks
):
    owner = client_for(world["owner"])
    url = reverse("workspace_requests:provisioning_resolve", args=[manual_task.pk, "failed"])
    refused = owner.post(url, {"reason": "  "}, follow=True)
    assert "Say why the change could not be made." in refused.content.decode()
    assert (
        ProvisioningEntry.objects.get(manual_task=manual_task).status
        == EntryStatus.WAITING_FAILOVER_RESOLVING
    )

    with django_capture_on_commit_callbacks(execute=True):
        owner.post(url, {"reason": "group locked by audit"})
    grant.refresh_from_db()
    assert grant.status == RequestStatus.FAILED
    assert not EntitlementMembership.objects.filter(account__owner__username="carol").exists()


def test_someone_else_cannot_open_or_resolve_it(world, manual_task):
    other = client_for(world["alice"])
    assert other.get(reverse("workspace_requests:task", args=[manual_task.pk])).status_code == 404
    response = other.post(reverse("workspace_requests:provisioning_resolve", args=[manual_task.pk, "done"]))
    assert response.status_code == 404
    assert (
        ProvisioningEntry.objects.get(manual_task=manual_task).status
        == EntryStatus.WAITING_FAILOVER_RESOLVING
    )


def test_bulk_approve_ignores_provisioning_tasks(world, manual_task):
    owner = client_for(world["owner"])
    response = owner.post(
        reverse("workspace_requests:tasks_bulk_approve"), {"task": [manual_task.pk]}, follow=True
    )
    assert "no longer open for you" in response.content.decode()
    manual_task.refresh_from_db()
    assert manual_task.status == TaskStatus.OPEN
