"""/api/v1/delegations/ (list mine, create, revoke) and the on-behalf-of view of /api/v1/tasks/:
who may do what, refused input in the API's error format with nothing changed, the schema."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from django.utils import timezone
from rest_framework.test import APIClient

from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole
from requests_workflow.models import Delegation
from requests_workflow.services.delegation import delegation_create
from tests.api.factories import EntitlementFactory, UserFactory
from tests.api.helpers import assert_error, client_for
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory
from worklist.models import Task, TaskStatus

pytestmark = pytest.mark.django_db
URL = "/api/v1/delegations/"
TASKS = "/api/v1/tasks/"


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    def call(client, url, body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, body, format="json")

    return call


@pytest.fixture
def people(company):
    return {
        "admin": client_for(company["admin"]),
        "approver": client_for(UserFactory(username="approver", console_role=ConsoleRole.HELPDESK)),
        "deputy": client_for(UserFactory(username="deputy", console_role=ConsoleRole.AUDITOR)),
        "outsider": client_for(UserFactory(username="outsider", console_role=ConsoleRole.AUDITOR)),
    }


def end(days: int = 7) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


def snapshot() -> tuple[int, int]:
    return Delegation.objects.count(), AuditEvent.objects.count()


def test_create_list_and_revoke_my_delegation(people, post):
    response = post(people["approver"], URL, {"delegate": "deputy", "end_at": end(), "reason": "holidays"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["delegator"]["username"] == "approver" and body["delegate"]["username"] == "deputy"
    assert body["state"] == "ACTIVE" and body["scope"] == "ALL" and body["reason"] == "holidays"
    assert body["created_by"]["username"] == "approver" and body["revoked_at"] is None
    assert AuditEvent.objects.filter(action="delegation.created", source="api").count() == 1

    mine = people["approver"].get(URL).json()["results"]
    theirs = people["deputy"].get(URL).json()["results"]
    assert [d["id"] for d in mine] == [d["id"] for d in theirs] == [body["id"]]
    assert people["outsider"].get(URL).json()["results"] == []
    assert people["approver"].get(URL + "?state=ACTIVE").json()["count"] == 1
    assert people["approver"].get(URL + "?state=REVOKED").json()["count"] == 0
    assert_error(people["approver"].get(URL + "?state=SOMEDAY"), 400, "validation_failed")
    assert people["outsider"].get(f"{URL}{body['id']}/").status_code == 200  # console roles read all
    assert people["outsider"].get(URL + "?all=1").json()["count"] == 1
    assert_error(people["outsider"].get(f"{URL}987654/"), 404, "not_found")

    # the delegate may not revoke it; the delegator may
    assert_error(post(people["deputy"], f"{URL}{body['id']}/revoke/", {}), 403, "permission_denied")
    response = post(people["approver"], f"{URL}{body['id']}/revoke/", {"reason": "back early"})
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "REVOKED" and response.json()["revoked_by"]["username"] == "approver"
    assert_error(post(people["approver"], f"{URL}{body['id']}/revoke/", {}), 409, "transition_not_allowed")


def test_someone_elses_delegation_needs_an_administrator(people, post, company):
    before = snapshot()
    body = {"delegator": "approver", "delegate": "outsider", "end_at": end()}
    error = assert_error(post(people["deputy"], URL, body), 403, "permission_denied")
    assert "only they or an administrator" in error["message"]
    assert snapshot() == before
    # an administrator (or help desk) sets it for someone who fell ill
    response = post(people["admin"], URL, {**body, "reason": "sick leave"})
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["delegator"]["username"] == "approver" and created["created_by"]["username"] == "admin"
    # the outsider (an auditor) may not revoke it
    assert_error(post(people["outsider"], f"{URL}{created['id']}/revoke/", {}), 403, "permission_denied")
    assert Delegation.objects.get(pk=created["id"]).revoked_at is None
    response = post(people["admin"], f"{URL}{created['id']}/revoke/", {})
    assert response.status_code == 200 and response.json()["revoked_by"]["username"] == "admin"


def test_a_user_without_console_role_gets_403(company):
    plain = client_for(UserFactory(username="plain", console_role=""))
    assert_error(plain.get(URL), 403, "permission_denied")


@pytest.mark.parametrize(
    "body,status,code,field",
    [
        ({"delegate": "approver"}, 400, "validation_failed", "delegate"),
        ({"delegate": "nobody"}, 400, "validation_failed", "delegate"),
        ({"delegate": "deputy", "end_at": None}, 400, "validation_failed", "end_at"),
        ({"delegate": "deputy", "end_at": "soon"}, 400, "validation_failed", "end_at"),
        ({"delegate": "deputy", "scope": "EVERYTHING"}, 400, "validation_failed", "scope"),
        ({"delegate": "deputy", "end_at": "2000-01-01T00:00:00Z"}, 400, "validation_failed", "end_at"),
        ({"delegate": "deputy", "end_at": "__long__"}, 400, "validation_failed", "end_at"),
        ({"delegate": "deputy", "start_at": "__late__"}, 400, "validation_failed", "end_at"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(people, post, body, status, code, field):
    body = {"end_at": end(), **body}
    if body.get("end_at") == "__long__":
        body["end_at"] = end(120)
    if body.get("start_at") == "__late__":
        body["start_at"] = end(10)
    before = snapshot()
    error = assert_error(post(people["approver"], URL, body), status, code)
    assert field in error["fields"], error
    assert snapshot() == before


def test_loops_and_overlaps_are_conflicts(people, post):
    assert post(people["deputy"], URL, {"delegate": "approver", "end_at": end()}).status_code == 201
    before = snapshot()
    error = assert_error(
        post(people["approver"], URL, {"delegate": "deputy", "end_at": end()}), 409, "conflict"
    )
    assert "loop" in error["message"]
    error = assert_error(
        post(people["deputy"], URL, {"delegate": "outsider", "end_at": end(3)}), 409, "conflict"
    )
    assert "already delegates to approver" in error["message"]
    assert snapshot() == before


def test_task_list_shows_on_behalf_of_and_the_delegate_decides(
    company, people, post, django_assert_max_num_queries
):
    policy = ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"])
    level = ApprovalLevelFactory(policy=policy, approver_kind="USERS")
    level.users.add(people["approver"].user)
    assert post(people["approver"], URL, {"delegate": "deputy", "end_at": end()}).status_code == 201
    for i in range(3):
        ent = EntitlementFactory(resource=company["app"], identifier=f"e{i}", owner=company["owner"])
        body = {
            "type": "GRANT_ENTITLEMENT",
            "beneficiary": "alice",
            "entitlement": ent.pk,
            "justification": "x",
        }
        assert post(people["admin"], "/api/v1/requests/", body).status_code == 201

    with django_assert_max_num_queries(8):
        listing = people["deputy"].get(TASKS)
    rows = listing.json()["results"]
    assert len(rows) == 3
    assert {r["on_behalf_of"]["username"] for r in rows} == {"approver"}
    own = people["approver"].get(TASKS).json()["results"]
    assert len(own) == 3 and {r["on_behalf_of"] for r in own} == {None}
    assert people["outsider"].get(TASKS).json()["results"] == []

    task_id = rows[0]["id"]
    response = post(people["deputy"], f"{TASKS}{task_id}/approve/", {"comment": "covering"})
    assert response.status_code == 200, response.content
    decided = response.json()
    assert decided["decided_by"]["username"] == "deputy" and decided["on_behalf_of"]["username"] == "approver"
    audit = AuditEvent.objects.get(action="task.approved", object_id=str(task_id))
    assert audit.new_values["on_behalf_of"] == "approver" and audit.source == "api"
    # the delegate finds what they decided for others under ?status=
    done = people["deputy"].get(TASKS + "?status=APPROVED").json()["results"]
    assert [t["id"] for t in done] == [task_id]

    # after revocation: nothing left for the deputy, and a decision is refused
    delegation = Delegation.objects.get()
    assert post(people["approver"], f"{URL}{delegation.pk}/revoke/", {}).status_code == 200
    assert people["deputy"].get(TASKS).json()["results"] == []
    other = rows[1]["id"]
    assert_error(post(people["deputy"], f"{TASKS}{other}/approve/", {}), 403, "permission_denied")
    assert Task.objects.get(pk=other).status == TaskStatus.OPEN


def test_list_queries_do_not_grow_with_delegations(people, company, django_assert_max_num_queries):
    for i in range(6):
        u = UserFactory(username=f"u{i}")
        delegation_create(
            actor=u,
            source="api",
            delegator=u,
            delegate=people["deputy"].user,
            end_at=timezone.now() + timedelta(days=2),
        )
    with django_assert_max_num_queries(6):
        response = people["deputy"].get(URL)
    assert response.json()["count"] == 6


def test_schema_documents_delegations():
    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/delegations/"])
    assert "post" in paths["/api/v1/delegations/{id}/revoke/"]
    assert "DelegationScopeEnum" in schema["components"]["schemas"]
    task = schema["components"]["schemas"]["Task"]["properties"]
    assert "on_behalf_of" in task
