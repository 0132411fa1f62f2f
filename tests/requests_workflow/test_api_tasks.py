"""/api/v1/tasks/: my tasks (assigned to me or to a queue I belong to), approve, reject with a
reason, reassign — end to end from a request created through the API to the access in the
directory. Refused decisions change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole, EntitlementMembership
from requests_workflow.models import Request, RequestEvent, RequestStatus
from tests.api.factories import UserFactory
from tests.api.helpers import assert_error, client_for
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory, QueueFactory
from worklist.models import Task, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db

R = RequestStatus
TASKS = "/api/v1/tasks/"


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    def call(client, url, body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, body, format="json")

    return call


@pytest.fixture
def people(company):
    """Console-role users (API tokens are for them): an approver, a colleague, an outsider."""
    return {
        "admin": client_for(company["admin"]),
        "approver": client_for(UserFactory(username="approver", console_role=ConsoleRole.HELPDESK)),
        "colleague": client_for(UserFactory(username="colleague", console_role=ConsoleRole.AUDITOR)),
        "outsider": client_for(UserFactory(username="outsider", console_role=ConsoleRole.HELPDESK)),
    }


@pytest.fixture
def policy(people):
    policy = ApprovalPolicyFactory(name="Named approver", request_types=["GRANT_ENTITLEMENT"])
    level = ApprovalLevelFactory(policy=policy, approver_kind="USERS")
    level.users.add(people["approver"].user)
    return policy


def counts() -> tuple[int, int, int, int]:
    return (
        Request.objects.count(),
        Task.objects.count(),
        RequestEvent.objects.count(),
        AuditEvent.objects.count(),
    )


def holds(c) -> bool:
    return EntitlementMembership.objects.filter(account__owner=c["alice"], entitlement=c["ent"]).exists()


def create_grant(company, people, post, **extra) -> dict:
    body = {
        "type": "GRANT_ENTITLEMENT",
        "beneficiary": "alice",
        "entitlement": company["ent"].pk,
        "justification": "month-end close",
        **extra,
    }
    response = post(people["admin"], "/api/v1/requests/", body)
    assert response.status_code == 201, response.content
    return response.json()


def my_tasks(client, query: str = "") -> list[dict]:
    response = client.get(TASKS + query)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_end_to_end_create_then_approve_through_the_api(company, people, policy, post):
    created = create_grant(company, people, post)
    assert Request.objects.get(pk=created["id"]).status == R.WAITING_APPROVAL
    assert not holds(company)

    (task,) = my_tasks(people["approver"])
    assert task["request"] == created["id"] and task["request_type"] == "GRANT_ENTITLEMENT"
    assert task["status"] == "OPEN" and task["request_status"] == "WAITING_APPROVAL"
    assert task["beneficiary"]["username"] == "alice"
    assert my_tasks(people["colleague"]) == []  # not theirs

    response = post(people["approver"], f"{TASKS}{task['id']}/approve/", {"comment": "fine"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "APPROVED" and body["decided_by"]["username"] == "approver"
    assert body["comment"] == "fine"
    req = Request.objects.get(pk=created["id"])
    assert req.status in (R.FINISHED, R.WAITING_PROVISIONING)
    assert holds(company)
    assert my_tasks(people["approver"]) == []  # decided: no longer open
    assert AuditEvent.objects.filter(action="task.approved", source="api").count() == 1
    detail = people["admin"].get(f"/api/v1/requests/{req.pk}/").json()
    assert any(e["message"].startswith("Level 1 approved by approver") for e in detail["events"])


def test_queue_tasks_reach_the_queue_members(company, people, post):
    queue = QueueFactory(name="Access desk")
    queue.members.add(people["colleague"].user)
    policy = ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"])
    ApprovalLevelFactory(policy=policy, approver_kind="QUEUE", queue=queue)
    create_grant(company, people, post)
    (task,) = my_tasks(people["colleague"])
    assert task["queue"]["name"] == "Access desk" and task["assignees"] == []
    assert my_tasks(people["approver"]) == []


def test_approval_by_someone_who_is_not_an_approver_is_403(company, people, policy, post):
    created = create_grant(company, people, post)
    task = Task.objects.get(request_id=created["id"])
    before = counts()
    error = assert_error(post(people["outsider"], f"{TASKS}{task.pk}/approve/", {}), 403, "permission_denied")
    assert "not an approver" in error["message"]
    assert_error(post(people["outsider"], f"{TASKS}{task.pk}/reject/", {"reason": "no"}), 403)
    # the requester (the admin) does not approve their own request either
    error = assert_error(post(people["admin"], f"{TASKS}{task.pk}/approve/", {}), 403, "permission_denied")
    assert "their own request" in error["message"]
    assert counts() == before
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN and not holds(company)


def test_rejecting_needs_a_reason(company, people, policy, post):
    created = create_grant(company, people, post)
    task = Task.objects.get(request_id=created["id"])
    before = counts()
    for body in ({}, {"reason": "   "}):
        error = assert_error(
            post(people["approver"], f"{TASKS}{task.pk}/reject/", body), 400, "validation_failed"
        )
        assert "reason" in error["fields"]
    assert counts() == before

    response = post(people["approver"], f"{TASKS}{task.pk}/reject/", {"reason": "not in finance"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "REJECTED" and response.json()["request_status"] == "REJECTED"
    req = Request.objects.get(pk=created["id"])
    assert req.status == R.REJECTED and not holds(company)
    assert req.events.last().message == "Rejected by approver: not in finance"


def test_approving_an_already_decided_task_is_409(company, people, policy, post):
    created = create_grant(company, people, post)
    task = Task.objects.get(request_id=created["id"])
    assert post(people["approver"], f"{TASKS}{task.pk}/approve/", {}).status_code == 200
    before = counts()
    error = assert_error(post(people["approver"], f"{TASKS}{task.pk}/approve/", {}), 409, "task_closed")
    assert "already APPROVED" in error["message"]
    assert_error(post(people["approver"], f"{TASKS}{task.pk}/reject/", {"reason": "too late"}), 409)
    assert counts() == before


def test_the_approver_shortens_the_access_period(company, people, policy, post):
    end = timezone.now() + timedelta(days=30)
    created = create_grant(company, people, post, end_at=end.isoformat())
    task = Task.objects.get(request_id=created["id"])
    later = end + timedelta(days=1)
    before = counts()
    error = assert_error(
        post(people["approver"], f"{TASKS}{task.pk}/approve/", {"end_at": later.isoformat()}),
        400,
        "validation_failed",
    )
    assert "end_at" in error["fields"]
    assert counts() == before
    shorter = end - timedelta(days=20)
    response = post(people["approver"], f"{TASKS}{task.pk}/approve/", {"end_at": shorter.isoformat()})
    assert response.status_code == 200, response.content
    assert Request.objects.get(pk=created["id"]).end_at == shorter


def test_malformed_json_on_approve_is_400(company, people, policy, post):
    created = create_grant(company, people, post)
    task = Task.objects.get(request_id=created["id"])
    before = counts()
    response = people["approver"].generic(
        "POST", f"{TASKS}{task.pk}/approve/", '{"comment": ', content_type="application/json"
    )
    assert_error(response, 400, "parse_error")
    assert counts() == before


# --- reassign ----------------------------------------------------------------------------------


def test_the_assignee_hands_the_task_over(company, people, policy, post):
    created = create_grant(company, people, post)
    task = Task.objects.get(request_id=created["id"])
    response = post(
        people["approver"], f"{TASKS}{task.pk}/reassign/", {"to_user": "colleague", "comment": "on leave"}
    )
    assert response.status_code == 200, response.content
    assert [u["username"] for u in response.json()["assignees"]] == ["colleague"]
    assert my_tasks(people["approver"]) == []
    assert [t["id"] for t in my_tasks(people["colleague"])] == [task.pk]
    assert AuditEvent.objects.filter(action="task.reassigned", source="api").count() == 1
    assert (
        "reassigned by approver to colleague" in Request.objects.get(pk=created["id"]).events.last().message
    )
    # the new assignee decides; the old one no longer may
    assert_error(post(people["approver"], f"{TASKS}{task.pk}/approve/", {}), 403)
    assert post(people["colleague"], f"{TASKS}{task.pk}/approve/", {}).status_code == 200
    assert holds(company)


def test_an_administrator_reassigns_a_queue_task(company, people, post):
    queue = QueueFactory(name="Access desk")
    queue.members.add(people["colleague"].user)
    policy = ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"])
    ApprovalLevelFactory(policy=policy, approver_kind="QUEUE", queue=queue)
    created = create_grant(company, people, post)
    task = Task.objects.get(request_id=created["id"])
    response = post(people["admin"], f"{TASKS}{task.pk}/reassign/", {"to_user": people["approver"].user.pk})
    assert response.status_code == 200, response.content
    assert response.json()["queue"] is None
    assert my_tasks(people["colleague"]) == []
    assert len(my_tasks(people["approver"])) == 1


def test_reassign_refusals_change_nothing(company, people, policy, post):
    created = create_grant(company, people, post)
    task = Task.objects.get(request_id=created["id"])
    url = f"{TASKS}{task.pk}/reassign/"
    before = counts()
    # neither an assignee nor an administrator
    assert_error(post(people["outsider"], url, {"to_user": "outsider"}), 403, "permission_denied")
    # to the beneficiary: nobody approves their own request
    error = assert_error(post(people["approver"], url, {"to_user": "alice"}), 400, "validation_failed")
    assert "to_user" in error["fields"]
    # to a user who cannot sign in, to nobody, to an unknown user
    UserFactory(username="left", status="INACTIVE")
    assert_error(post(people["approver"], url, {"to_user": "left"}), 400, "validation_failed")
    assert_error(post(people["approver"], url, {}), 400, "validation_failed")
    assert_error(post(people["approver"], url, {"to_user": "ghost"}), 400, "validation_failed")
    # to someone who already has it
    assert_error(post(people["admin"], url, {"to_user": "approver"}), 409, "conflict")
    assert counts() == before
    assert list(task.assignees.values_list("username", flat=True)) == ["approver"]


# --- listing -----------------------------------------------------------------------------------


def test_all_tasks_is_for_administrators(company, people, policy, post):
    created = create_grant(company, people, post)
    task = Task.objects.get(request_id=created["id"])
    assert my_tasks(people["admin"]) == []  # assigned to the approver, not to the admin
    assert [t["id"] for t in my_tasks(people["admin"], "?all=1")] == [task.pk]
    assert_error(people["approver"].get(TASKS + "?all=1"), 403, "permission_denied")
    post(people["approver"], f"{TASKS}{task.pk}/approve/", {})
    assert [t["id"] for t in my_tasks(people["approver"], "?status=APPROVED")] == [task.pk]
    assert my_tasks(people["admin"], "?all=1&status=OPEN") == []
    # any console role reads a task's detail; a plain user does not
    assert people["colleague"].get(f"{TASKS}{task.pk}/").json()["status"] == "APPROVED"
    assert_error(client_for(company["eve"]).get(f"{TASKS}{task.pk}/"), 403)
    assert_error(people["admin"].get(f"{TASKS}424242/"), 404, "not_found")


def test_unassigned_tasks_go_to_administrators_and_help_desk(company, people, post):
    # an OWNER level on an entitlement without an owner: nobody found, a console administrator decides
    company["ent"].owner = None
    company["ent"].save(update_fields=["owner"])
    company["app"].owners.clear()
    policy = ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"])
    ApprovalLevelFactory(policy=policy, approver_kind="OWNER")
    created = create_grant(company, people, post)
    (task,) = my_tasks(people["outsider"])  # help desk
    assert task["request"] == created["id"] and task["assignees"] == []
    assert my_tasks(people["colleague"]) == []  # auditors do not decide
    assert post(people["outsider"], f"{TASKS}{task['id']}/approve/", {}).status_code == 200
    assert holds(company)


def test_a_task_without_a_request_says_so_with_nulls(company, people):
    """Issue 12 item 14: a manual provisioning task opened for no request (e.g. a password set by
    hand) keeps every field the schema marks required: request, request_type, request_status and
    beneficiary are null, not missing, in the list and on the task's own page."""
    task = Task.objects.create(kind=TaskKind.PROVISIONING, title="Set the password by hand")
    task.assignees.add(people["approver"].user)
    listed = people["admin"].get(TASKS, {"all": "true"}).json()["results"]
    row = next(r for r in listed if r["id"] == task.pk)
    detail = people["approver"].get(f"{TASKS}{task.pk}/").json()
    for body in (row, detail):
        assert body["kind"] == "PROVISIONING" and body["title"] == "Set the password by hand"
        for key in ("request", "request_type", "request_status", "beneficiary"):
            assert key in body and body[key] is None, (key, body)
