"""Console request pages: the list with filters and paging, a request's timeline, tasks and
audit, the task queues and the approval policies; console capabilities are required."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from directory.models import ConsoleRole
from requests_workflow.models import Request, RequestStatus
from requests_workflow.services.requests import request_create
from tests.api.factories import EntitlementFactory, UserFactory
from tests.console.conftest import logged_in
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory, QueueFactory
from worklist.models import Task

pytestmark = pytest.mark.django_db
R = RequestStatus
LIST = reverse("console_requests:list")


def grant(run, company, entitlement=None, justification="month-end close"):
    return run(
        request_create,
        actor=company["alice"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=company["alice"],
        entitlement=entitlement or company["ent"],
        justification=justification,
    )


@pytest.fixture
def policy(company):
    policy = ApprovalPolicyFactory(name="Payments need the owner", request_types=["GRANT_ENTITLEMENT"])
    level = ApprovalLevelFactory(policy=policy, approver_kind="USERS")
    level.users.add(company["owner"])
    return policy


def pages(pk, policy_pk):
    return [
        LIST,
        reverse("console_requests:detail", args=[pk]),
        reverse("console_requests:queues"),
        reverse("console_requests:policies"),
        reverse("console_requests:policy_detail", args=[policy_pk]),
    ]


def test_console_pages_need_a_console_role(company, policy, run, client):
    req = grant(run, company)
    for url in pages(req.pk, policy.pk):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/"), url
        assert logged_in(company["alice"]).get(url).status_code == 403, url
        assert logged_in(company["admin"]).get(url).status_code == 200, url


def test_auditor_reads_everything_but_cannot_cancel(company, policy, run):
    req = grant(run, company)
    auditor = logged_in(UserFactory(username="aud", console_role=ConsoleRole.AUDITOR))
    body = auditor.get(reverse("console_requests:detail", args=[req.pk])).content.decode()
    assert "request.created" in body and "Cancel request" not in body
    assert auditor.post(reverse("console_requests:cancel", args=[req.pk])).status_code == 403
    req.refresh_from_db()
    assert req.status == R.WAITING_APPROVAL


def test_helpdesk_sees_no_audit_but_may_cancel(company, policy, run):
    req = grant(run, company)
    helpdesk = logged_in(UserFactory(username="hd", console_role=ConsoleRole.HELPDESK))
    body = helpdesk.get(reverse("console_requests:detail", args=[req.pk])).content.decode()
    assert "request.created" not in body and "Cancel request" in body
    done = helpdesk.post(
        reverse("console_requests:cancel", args=[req.pk]), {"reason": "duplicate"}, follow=True
    )
    assert f"Request #{req.pk} canceled." in done.content.decode()
    req.refresh_from_db()
    assert req.status == R.CANCELED
    assert (
        "Canceled: duplicate"
        in helpdesk.get(reverse("console_requests:detail", args=[req.pk])).content.decode()
    )


def test_detail_shows_timeline_tasks_and_audit(company, policy, run):
    req = grant(run, company, justification="<img src=x onerror=alert(1)>")
    body = logged_in(company["admin"]).get(reverse("console_requests:detail", args=[req.pk])).content.decode()
    assert "Approval policy Payments need the owner matched." in body
    assert "Approval level 1 (ANY) sent to any of owner." in body
    assert 'id="request-tasks"' in body and "owner" in body
    assert "request.created" in body and "request.waiting_approval" in body
    assert "<img src=x" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body


def test_list_filters(company, run):
    other = EntitlementFactory(resource=company["app"], identifier="ledger", name="Ledger")
    first = grant(run, company)
    second = run(
        request_create,
        actor=company["boss"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=company["alice"],
        entitlement=other,
        justification="x",
    )
    lock = run(
        request_create,
        actor=company["admin"],
        source="console",
        request_type="LOCK_USER",
        beneficiary=company["eve"],
    )
    admin = logged_in(company["admin"])

    def ids(**params):
        return [r.pk for r in admin.get(LIST, params).context["object_list"]]

    assert ids() == [lock.pk, second.pk, first.pk]
    assert ids(type="LOCK_USER") == [lock.pk]
    assert ids(requester="bos") == [second.pk]
    assert ids(beneficiary="eve") == [lock.pk]
    assert ids(status="FINISHED") == [lock.pk, second.pk, first.pk]
    assert ids(status="REJECTED") == []
    today = first.created_at.date().isoformat()
    assert ids(**{"from": today, "to": today}) == [lock.pk, second.pk, first.pk]
    assert ids(**{"from": "2999-01-01"}) == []
    response = admin.get(LIST, {"from": "yesterday"})
    assert response.status_code == 200 and "Ignored the from date" in response.content.decode()


def test_list_is_paged(company, run):
    for i in range(27):
        ent = EntitlementFactory(resource=company["app"], identifier=f"e{i}", name=f"E{i}")
        Request.objects.create(
            type="GRANT_ENTITLEMENT", beneficiary=company["alice"], entitlement=ent, source="workspace"
        )
    admin = logged_in(company["admin"])
    first = admin.get(LIST)
    assert len(first.context["object_list"]) == 25 and "Page 1 of 2" in first.content.decode()
    assert len(admin.get(LIST, {"page": 2}).context["object_list"]) == 2


def test_queues_page_groups_open_tasks(company, run):
    queue = QueueFactory(name="ERP approvers")
    queue.members.add(company["owner"])
    ApprovalLevelFactory(policy=ApprovalPolicyFactory(), approver_kind="QUEUE", queue=queue)
    req = grant(run, company)
    admin = logged_in(company["admin"])
    body = admin.get(reverse("console_requests:queues")).content.decode()
    assert "ERP approvers" in body and f"#{req.pk}" in body
    task = Task.objects.get(request=req)
    assert admin.get(reverse("console_requests:queues"), {"queue": queue.pk}).context["rows"][0][0] == task
    assert admin.get(reverse("console_requests:queues"), {"queue": "unassigned"}).context["rows"] == []


def test_policy_pages(company, policy):
    admin = logged_in(company["admin"])
    body = admin.get(reverse("console_requests:policies")).content.decode()
    assert "Payments need the owner" in body and "GRANT_ENTITLEMENT" in body
    body = admin.get(reverse("console_requests:policy_detail", args=[policy.pk])).content.decode()
    assert "Named users: owner" in body and "Any one approver" in body


def test_console_cancel_needs_csrf(company, policy, run):
    req = grant(run, company)
    client = Client(enforce_csrf_checks=True)
    client.force_login(company["admin"])
    assert client.post(reverse("console_requests:cancel", args=[req.pk])).status_code == 403
    req.refresh_from_db()
    assert req.status == R.WAITING_APPROVAL


def test_administrator_decides_a_task_no_approver_was_found_for(
    company, run, django_capture_on_commit_callbacks
):
    ApprovalLevelFactory(policy=ApprovalPolicyFactory(), approver_kind="MANAGER")
    req = run(  # eve has no manager: the task is unassigned
        request_create,
        actor=company["eve"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=company["eve"],
        entitlement=company["ent"],
        justification="x",
    )
    task = Task.objects.get(request=req)
    detail = reverse("console_requests:detail", args=[req.pk])
    auditor = logged_in(UserFactory(username="aud", console_role=ConsoleRole.AUDITOR))
    assert "decide it" not in auditor.get(detail).content.decode()
    assert auditor.post(reverse("console_requests:task_decide", args=[task.pk, "approve"])).status_code == 403

    admin = logged_in(company["admin"])
    assert "No approver was found for level 1" in admin.get(detail).content.decode()
    admin.post(reverse("console_requests:task_decide", args=[task.pk, "reject"]), {"reason": ""})
    req.refresh_from_db()
    assert req.status == R.WAITING_APPROVAL
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(reverse("console_requests:task_decide", args=[task.pk, "approve"]), {"reason": "checked"})
    req.refresh_from_db()
    assert req.status == R.FINISHED
    assert "Level 1 approved by admin. Comment: checked" in admin.get(detail).content.decode()


def test_a_request_result_reads_as_labelled_values(company, run):
    req = grant(run, company)
    Request.objects.filter(pk=req.pk).update(result={"password_reset": True, "emailed_to": "a@example.com"})
    body = logged_in(company["admin"]).get(reverse("console_requests:detail", args=[req.pk])).content.decode()
    result = body[body.index('id="request-result"') :]
    result = result[: result.index("</dl>")]
    assert (
        "<dt>Password reset</dt><dd>Yes</dd>" in result
        and "<dt>Emailed to</dt><dd>a@example.com</dd>" in result
    )
    assert "{&#x27;" not in body and "True" not in result
