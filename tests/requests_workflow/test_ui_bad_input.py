"""Console and workspace pages answer bad input with a 4xx (or ignore it), never a 500, and
write nothing (issue 12, items 8 and 9): ids that ``str.isdigit`` accepts but ``int`` refuses,
ids of thousands of digits, NUL characters in query strings and form posts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from blazon.ids import parse_id
from requests_workflow.models import Request, RequestStatus, Task, TaskStatus
from requests_workflow.services.requests import request_create
from tests.console.conftest import logged_in
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory

pytestmark = pytest.mark.django_db

BULK = reverse("workspace_requests:tasks_bulk_approve")
HUGE = "9" * 5000


@pytest.fixture
def task(company, run):
    level = ApprovalLevelFactory(
        policy=ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"]), approver_kind="USERS"
    )
    level.users.add(company["owner"])
    req = run(
        request_create,
        actor=company["alice"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=company["alice"],
        entitlement=company["ent"],
        justification="month-end close",
    )
    return Task.objects.get(request=req)


@pytest.mark.parametrize(
    "bad", ["²", "٣", HUGE, "-1", "0", " ", "1e3", "99999999999999999999"], ids=lambda v: f"{v[:20]!r}"
)
def test_bulk_approve_ignores_ids_that_are_not_ids(company, task, bad):
    owner = logged_in(company["owner"])
    response = owner.post(BULK, {"task": [bad]}, follow=True)
    assert response.status_code == 200
    assert "Select the tasks to approve." in response.content.decode()
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN


def test_bulk_approve_with_a_bad_id_still_approves_the_good_ones(
    company, task, django_capture_on_commit_callbacks
):
    owner = logged_in(company["owner"])
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(BULK, {"task": ["²", HUGE, str(task.pk)]})
    assert response.status_code == 302
    assert Request.objects.get(pk=task.request_id).status == RequestStatus.FINISHED


@pytest.mark.parametrize("bad", ["²", HUGE], ids=["superscript", "5000-digits"])
def test_cart_add_with_a_bad_id_is_404(company, bad):
    client = logged_in(company["alice"])
    response = client.post(reverse("workspace_requests:cart_add"), {"kind": "entitlement", "id": bad})
    assert response.status_code == 404


@pytest.mark.parametrize("bad", ["²", HUGE], ids=["superscript", "5000-digits"])
def test_console_queue_filter_with_a_bad_id_lists_all(company, task, bad):
    response = logged_in(company["admin"]).get(reverse("console_requests:queues"), {"queue": bad})
    assert response.status_code == 200


def test_a_nul_in_a_query_string_is_400_with_a_clear_message(company):
    response = logged_in(company["admin"]).get(reverse("console_requests:list") + "?q=a%00b")
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()
    assert "'q'" in response.content.decode()


def test_a_nul_in_a_form_post_is_400_and_writes_nothing(company, task):
    owner = logged_in(company["owner"])
    url = reverse("workspace_requests:task_decide", args=[task.pk, "reject"])
    response = owner.post(url, {"comment": "no\x00way"})
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("42", 42), (" 7 ", 7), ("²", None), ("٣", None), (HUGE, None), ("0", None), ("", None), (None, None)],
    ids=lambda v: f"{str(v)[:20]!r}",
)
def test_parse_id(raw, expected):
    assert parse_id(raw) == expected
