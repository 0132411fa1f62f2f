"""The worklist's task pages know no task kind: a kind's page, its own actions and its decisions
are what the owning app registered (``register_task_kind``); a kind that registered no page gets
the worklist's plain page, an action the kind does not have is refused, and someone else's task
is not disclosed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from directory.models import ConsoleRole
from requests_workflow.models import Request
from requests_workflow.subjects import request_subject
from tests.api.factories import RoleFactory, UserFactory
from worklist.models import Task, TaskKind, TaskStatus
from worklist.registry import _HANDLERS, register_task_kind
from worklist.services import task_open

pytestmark = pytest.mark.django_db
KIND = "TEST_REVIEW"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def review_kind():
    """A kind owned by a pretend app, with its own page, an action and a decision."""
    seen: list[tuple[str, int, dict[str, Any]]] = []

    def page(request, task):
        return HttpResponse(f"review page of task {task.pk}")

    def resolve(request, task, **kwargs):
        seen.append(("resolve", task.pk, kwargs))
        return HttpResponse("resolved")

    def decide(**kwargs: Any) -> None:
        seen.append(("decide", kwargs["task"].pk, {"decision": kwargs["decision"]}))

    register_task_kind(KIND, decide=decide, page=page, actions={"resolve": resolve})
    yield seen
    _HANDLERS.pop(KIND, None)


def test_a_kind_s_registered_page_action_and_decision_are_used(review_kind):
    ana = UserFactory(username="ana")
    task = task_open(kind=KIND, title="Review ana's access", assignees=[ana])
    ana_client = client_for(ana)
    page = ana_client.get(reverse("workspace_requests:task", args=[task.pk]))
    assert page.content.decode() == f"review page of task {task.pk}"
    acted = ana_client.post(reverse("workspace_requests:provisioning_resolve", args=[task.pk, "done"]))
    assert acted.content.decode() == "resolved"
    ana_client.post(reverse("workspace_requests:task_decide", args=[task.pk, "approve"]), {"comment": "ok"})
    assert review_kind == [
        ("resolve", task.pk, {"outcome": "done"}),
        ("decide", task.pk, {"decision": "approve"}),
    ]


def test_a_kind_without_a_page_gets_the_plain_page_and_cannot_be_decided_here(monkeypatch):
    ana = UserFactory(username="ana")
    # every kind has its owning app now: take the role-change kind's registration away for this test
    monkeypatch.delitem(_HANDLERS, TaskKind.ROLE_CHANGE.value, raising=False)
    task = task_open(kind=TaskKind.ROLE_CHANGE, title="Certify ana's accesses", assignees=[ana])
    ana_client = client_for(ana)
    page = ana_client.get(reverse("workspace_requests:task", args=[task.pk]))
    assert page.status_code == 200 and "Certify ana&#x27;s accesses" in page.content.decode()
    listing = ana_client.get(reverse("workspace_requests:tasks")).content.decode()
    assert reverse("workspace_requests:task", args=[task.pk]) in listing

    refused = ana_client.post(
        reverse("workspace_requests:task_decide", args=[task.pk, "approve"]), follow=True
    )
    assert "Role change tasks cannot be decided here." in refused.content.decode()
    assert Task.objects.get(pk=task.pk).status == TaskStatus.OPEN
    comment = ana_client.post(reverse("workspace_requests:task_decide", args=[task.pk, "comment"]))
    assert comment.status_code == 404  # no comment hook for this kind


def test_an_action_the_kind_does_not_have_is_refused():
    ana = UserFactory(username="ana")
    task = task_open(kind=TaskKind.CERTIFICATION, title="Certify", assignees=[ana])
    refused = client_for(ana).post(reverse("workspace_requests:provisioning_reveal", args=[task.pk]))
    assert refused.status_code == 403


def test_someone_else_s_task_is_not_disclosed(review_kind):
    ana, eve = UserFactory(username="ana"), UserFactory(username="eve")
    task = task_open(kind=KIND, title="Review", assignees=[ana])
    eve_client = client_for(eve)
    assert eve_client.get(reverse("workspace_requests:task", args=[task.pk])).status_code == 404
    url = reverse("workspace_requests:provisioning_resolve", args=[task.pk, "done"])
    assert eve_client.post(url).status_code == 404
    assert review_kind == []


def test_the_console_queues_name_each_task_s_subject_and_need_a_console_role():
    ana = UserFactory(username="ana")
    task_open(kind=TaskKind.CERTIFICATION, title="Certify ana's accesses", assignees=[ana])
    url = reverse("console_requests:queues")
    assert client_for(ana).get(url).status_code in (302, 403)  # no console role
    auditor = client_for(UserFactory(username="audrey", console_role=ConsoleRole.AUDITOR))
    page = auditor.get(url)
    assert page.status_code == 200 and "Certify ana&#x27;s accesses" in page.content.decode()


def test_my_tasks_reads_a_fixed_number_of_queries_whatever_the_number_of_tasks(
    django_assert_max_num_queries,
):
    """The subjects of a page of tasks load with one query per subject kind, not one per task."""
    ana = UserFactory(username="ana")
    ana_client = client_for(ana)
    url = reverse("workspace_requests:tasks")

    def add(n: int) -> None:
        for _ in range(n):
            bea = UserFactory()
            req = Request.objects.create(
                type="GRANT_ROLE", source="manual", requester=bea, beneficiary=bea, role=RoleFactory()
            )
            task_open(
                kind=TaskKind.APPROVAL,
                title="Approve",
                request=req,
                subject=request_subject(req),
                assignees=[ana],
            )

    add(2)
    ana_client.get(url)  # the session and the user are read once
    with CaptureQueriesContext(connection) as few:
        assert ana_client.get(url).status_code == 200
    add(6)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = ana_client.get(url)
    assert page.content.decode().count('data-task="') == 8


def test_my_tasks_is_paged_soonest_due_first_and_filtered():
    from datetime import timedelta

    from django.utils import timezone

    ana = UserFactory(username="ana")
    client = client_for(ana)
    url = reverse("workspace_requests:tasks")
    now = timezone.now()
    made: dict[str, Task] = {}

    def add(name: str, *, due=None, kind=TaskKind.APPROVAL, requester_name="bea") -> Task:
        who = UserFactory(username=f"{requester_name}{len(made)}", first_name=requester_name.title())
        req = Request.objects.create(
            type="GRANT_ROLE", source="manual", requester=who, beneficiary=who, role=RoleFactory()
        )
        task = task_open(kind=kind, title=name, request=req, subject=request_subject(req), assignees=[ana])
        if due is not None:
            Task.objects.filter(pk=task.pk).update(due_at=due)
        made[name] = task
        return task

    add("no-due")
    add("late", due=now - timedelta(hours=2), requester_name="carlos")
    add("soon", due=now + timedelta(hours=1))
    add("later", due=now + timedelta(days=3))
    for i in range(24):
        add(f"bulk{i}", due=now + timedelta(days=10, minutes=i))

    def order(response) -> list[int]:
        text = response.content.decode()
        return [int(x) for x in re.findall(r'data-task="(\d+)"', text)]

    first = client.get(url)
    ids = order(first)
    assert len(ids) == 25  # a page, not all 28
    assert ids[:3] == [made["late"].pk, made["soon"].pk, made["later"].pk]
    assert "1–25 of 28" in first.content.decode()
    last = order(client.get(url, {"page": 2}))
    assert last[-1] == made["no-due"].pk and len(last) == 3  # no due date: last

    assert order(client.get(url, {"overdue": "1"})) == [made["late"].pk]
    assert order(client.get(url, {"requester": "carl"})) == [made["late"].pk]
    assert order(client.get(url, {"kind": "SOD"})) == []
    assert "No open task matches these filters." in client.get(url, {"kind": "SOD"}).content.decode()
    assert client.get(url, {"kind": "NOPE", "page": "x"}).status_code == 200  # bad input: ignored


def test_approve_selected_shows_only_when_a_task_on_the_page_can_be_approved():
    ana = UserFactory(username="ana")
    client = client_for(ana)
    url = reverse("workspace_requests:tasks")
    bea = UserFactory(username="bea")
    req = Request.objects.create(
        type="GRANT_ROLE", source="manual", requester=bea, beneficiary=bea, role=RoleFactory()
    )
    task_open(
        kind=TaskKind.PROVISIONING,
        title="Do it by hand",
        request=req,
        subject=request_subject(req),
        assignees=[ana],
    )
    assert "Approve selected" not in client.get(url).content.decode()
    task_open(
        kind=TaskKind.APPROVAL, title="Approve", request=req, subject=request_subject(req), assignees=[ana]
    )
    assert "Approve selected" in client.get(url).content.decode()
