"""/api/v1/requests/: create any type with a JSON body (source api, the token's user is the
requester), list with filters, detail with the stage history and tasks, cancel. Bad input gets
a clear JSON error and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from django.utils import timezone

from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole, EntitlementMembership, RoleMembership
from requests_workflow.models import Request, RequestEvent, RequestStatus, RequestType
from tests.api.factories import UserFactory
from tests.api.helpers import assert_error, client_for
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory
from worklist.models import Task

pytestmark = pytest.mark.django_db

R = RequestStatus
URL = "/api/v1/requests/"


@pytest.fixture
def admin(company):
    return client_for(company["admin"])


@pytest.fixture
def helpdesk(db):
    return client_for(UserFactory(username="desk", console_role=ConsoleRole.HELPDESK))


@pytest.fixture
def auditor(db):
    return client_for(UserFactory(username="audit", console_role=ConsoleRole.AUDITOR))


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    """POST JSON and run what the services enqueue on commit (the pipeline, eagerly)."""

    def call(client, url, body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, body, format="json")

    return call


def counts() -> tuple[int, int, int, int]:
    return (
        Request.objects.count(),
        Task.objects.count(),
        RequestEvent.objects.count(),
        AuditEvent.objects.count(),
    )


def grant_body(c, **extra):
    return {
        "type": "GRANT_ENTITLEMENT",
        "beneficiary": c["alice"].username,
        "entitlement": c["ent"].pk,
        "justification": "month-end close",
        **extra,
    }


def holds(c) -> bool:
    return EntitlementMembership.objects.filter(account__owner=c["alice"], entitlement=c["ent"]).exists()


# --- create ----------------------------------------------------------------------------------


def test_admin_creates_a_grant_that_runs_to_the_end(company, admin, post):
    response = post(admin, URL, grant_body(company))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["type"] == "GRANT_ENTITLEMENT" and body["source"] == "api"
    assert body["requester"]["username"] == "admin"
    assert body["beneficiary"]["username"] == "alice"
    assert body["entitlement"]["id"] == company["ent"].pk
    assert [e["stage"] for e in body["events"]][:2] == [1, 2]
    assert "Created from api." in body["events"][0]["message"]
    req = Request.objects.get(pk=body["id"])
    assert req.status in (R.FINISHED, R.WAITING_PROVISIONING) and holds(company)
    assert AuditEvent.objects.filter(action="request.created", source="api").count() == 1

    detail = admin.get(f"{URL}{req.pk}/").json()
    assert detail["status"] == req.status
    messages = [e["message"] for e in detail["events"]]
    assert "No approval policy matched: no approval needed." in messages
    assert "result" not in detail  # the stage-4 internals are not shown


def test_beneficiary_by_id_and_a_time_bound_role(company, helpdesk, post):
    end = timezone.now() + timedelta(days=30)
    body = {
        "type": "GRANT_ROLE",
        "beneficiary": company["eve"].pk,
        "role": company["role"].pk,
        "justification": "project",
        "end_at": end.isoformat(),
    }
    response = post(helpdesk, URL, body)
    assert response.status_code == 201, response.content
    assert response.json()["requester"]["username"] == "desk"
    membership = RoleMembership.objects.get(user=company["eve"], role=company["role"])
    assert membership is not None
    assert Request.objects.get(pk=response.json()["id"]).end_at == end


def test_create_user_with_a_payload(company, admin, post):
    body = {
        "type": "CREATE_USER",
        "payload": {"user": {"first_name": "Nina", "last_name": "Rocha", "email": "nina@example.com"}},
    }
    response = post(admin, URL, body)
    assert response.status_code == 201, response.content
    req = Request.objects.get(pk=response.json()["id"])
    assert req.status == R.FINISHED
    assert req.beneficiary is not None and req.beneficiary.first_name == "Nina"


# --- bad input: a clear error, nothing changed -------------------------------------------------


def test_unknown_type_is_400(company, admin, post):
    before = counts()
    error = assert_error(
        post(admin, URL, grant_body(company, type="GRANT_EVERYTHING")), 400, "validation_failed"
    )
    assert "GRANT_EVERYTHING" in error["fields"]["type"][0]
    assert counts() == before


def test_missing_fields_are_named(company, admin, post):
    before = counts()
    error = assert_error(
        post(admin, URL, {"type": "GRANT_ENTITLEMENT", "beneficiary": "alice"}), 400, "validation_failed"
    )
    assert set(error["fields"]) >= {"entitlement", "justification"}
    assert "entitlement is required" in error["fields"]["entitlement"][0]
    error = assert_error(post(admin, URL, {"beneficiary": "alice"}), 400, "validation_failed")
    assert error["fields"]["type"] == ["This field is required."]
    assert counts() == before


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("entitlement", 987654, "987654"),
        ("beneficiary", 987654, "No user with id 987654."),
        ("beneficiary", "nobody-here", "No user with username 'nobody-here'."),
    ],
)
def test_unknown_ids_are_400(company, admin, post, field, value, expected):
    before = counts()
    error = assert_error(post(admin, URL, grant_body(company, **{field: value})), 400, "validation_failed")
    assert expected in error["fields"][field][0]
    assert counts() == before


def test_a_request_for_a_removed_user_is_refused(company, admin, post):
    gone = UserFactory(username="gone", status="REMOVED")
    before = counts()
    error = assert_error(post(admin, URL, grant_body(company, beneficiary="gone")), 400, "validation_failed")
    assert "gone is REMOVED" in error["fields"]["beneficiary"][0]
    assert counts() == before
    assert not EntitlementMembership.objects.filter(account__owner=gone).exists()


def test_a_duplicate_pending_request_is_409(company, admin, post):
    policy = ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"])
    ApprovalLevelFactory(policy=policy, approver_kind="OWNER")
    first = post(admin, URL, grant_body(company))
    assert first.status_code == 201
    assert Request.objects.get(pk=first.json()["id"]).status == R.WAITING_APPROVAL
    before = counts()
    error = assert_error(post(admin, URL, grant_body(company)), 409, "duplicate_pending")
    assert "already pending" in error["message"]
    assert counts() == before


def test_malformed_json_is_400(company, admin):
    before = counts()
    response = admin.generic(
        "POST", URL, '{"type": "LOCK_USER", "beneficiary": ', content_type="application/json"
    )
    error = assert_error(response, 400, "parse_error")
    assert "JSON parse error" in error["message"]
    assert counts() == before


def test_a_payload_with_a_secret_is_refused(company, admin, post):
    before = counts()
    body = {"type": "UPDATE_USER", "beneficiary": "alice", "payload": {"changes": {"password": "x"}}}
    error = assert_error(post(admin, URL, body), 400, "validation_failed")
    assert "never carries secrets" in error["fields"]["payload"][0]
    assert counts() == before


# --- who may do what ---------------------------------------------------------------------------


def test_auditor_reads_but_cannot_create(company, admin, auditor, post):
    created = post(admin, URL, grant_body(company)).json()
    assert auditor.get(URL).json()["count"] == 1
    assert auditor.get(f"{URL}{created['id']}/").status_code == 200
    before = counts()
    assert_error(post(auditor, URL, {"type": "LOCK_USER", "beneficiary": "eve"}), 403, "permission_denied")
    assert counts() == before


def test_plain_user_and_anonymous_are_refused(company, post):
    from rest_framework.test import APIClient

    plain = client_for(company["eve"])
    before = counts()
    assert_error(plain.get(URL), 403, "permission_denied")
    assert_error(post(plain, URL, {"type": "LOCK_USER", "beneficiary": "eve"}), 403, "permission_denied")
    assert_error(APIClient().get(URL), 401, "not_authenticated")
    assert counts() == before


# --- list, filters, detail ----------------------------------------------------------------------


def test_list_filters_search_ordering_and_pages(company, admin, helpdesk, post):
    post(admin, URL, grant_body(company))
    post(helpdesk, URL, {"type": "LOCK_USER", "beneficiary": "eve"})
    post(
        admin,
        URL,
        {"type": "GRANT_ROLE", "beneficiary": "eve", "role": company["role"].pk, "justification": "x"},
    )

    def ids(query):
        response = admin.get(URL + query)
        assert response.status_code == 200, response.content
        return [r["type"] for r in response.json()["results"]]

    assert ids("") == ["GRANT_ROLE", "LOCK_USER", "GRANT_ENTITLEMENT"]  # newest first
    assert ids("?type=LOCK_USER") == ["LOCK_USER"]
    assert ids(f"?beneficiary={company['eve'].pk}&ordering=id") == ["LOCK_USER", "GRANT_ROLE"]
    assert ids(f"?requester={helpdesk.user.pk}") == ["LOCK_USER"]
    assert ids("?status=FINISHED&search=alice") == ["GRANT_ENTITLEMENT"]
    assert ids("?status=REJECTED") == []
    today = timezone.localdate().isoformat()
    assert len(ids(f"?created_after={today}&created_before={today}")) == 3
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert ids(f"?created_after={tomorrow}") == []
    page = admin.get(URL + "?page_size=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    assert_error(admin.get(URL + "?type=GRANT_EVERYTHING"), 400, "validation_failed")
    assert_error(admin.get(URL + "?created_after=yesterday"), 400, "validation_failed")


def test_detail_shows_the_stage_history_and_tasks(company, admin, post):
    policy = ApprovalPolicyFactory(name="Payments owner", request_types=["GRANT_ENTITLEMENT"])
    ApprovalLevelFactory(policy=policy, approver_kind="OWNER")
    created = post(admin, URL, grant_body(company)).json()
    detail = admin.get(f"{URL}{created['id']}/").json()
    assert detail["status"] == "WAITING_APPROVAL"
    assert detail["approval_policy"]["name"] == "Payments owner"
    moves = [(e["from_status"], e["to_status"]) for e in detail["events"] if e["to_status"]]
    assert moves == [("", "NEW"), ("NEW", "WAITING_APPROVAL")]
    (task,) = detail["tasks"]
    assert task["status"] == "OPEN" and [u["username"] for u in task["assignees"]] == ["owner"]
    assert_error(admin.get(f"{URL}424242/"), 404, "not_found")


# --- cancel ----------------------------------------------------------------------------------


def test_cancel_by_the_requester_cancels_the_open_tasks(company, admin, post):
    policy = ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"])
    ApprovalLevelFactory(policy=policy, approver_kind="OWNER")
    created = post(admin, URL, grant_body(company)).json()
    response = post(admin, f"{URL}{created['id']}/cancel/", {"reason": "not needed after all"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "CANCELED"
    assert body["tasks"][0]["status"] == "CANCELED"
    assert body["events"][-1]["message"] == "Canceled: not needed after all"
    assert not holds(company)
    # and once canceled it cannot be canceled again
    before = counts()
    assert_error(post(admin, f"{URL}{created['id']}/cancel/", {}), 409, "transition_not_allowed")
    assert counts() == before


def test_cancel_of_someone_elses_request_by_an_auditor_is_403(company, admin, auditor, post):
    policy = ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"])
    ApprovalLevelFactory(policy=policy, approver_kind="OWNER")
    created = post(admin, URL, grant_body(company)).json()
    before = counts()
    error = assert_error(post(auditor, f"{URL}{created['id']}/cancel/", {}), 403, "permission_denied")
    assert "requester" in error["message"]
    assert counts() == before
    assert Request.objects.get(pk=created["id"]).status == R.WAITING_APPROVAL


def test_cancel_of_a_finished_request_is_409(company, admin, post):
    created = post(admin, URL, {"type": "LOCK_USER", "beneficiary": "eve"}).json()
    assert Request.objects.get(pk=created["id"]).status == R.FINISHED
    before = counts()
    assert_error(post(admin, f"{URL}{created['id']}/cancel/", {}), 409, "transition_not_allowed")
    assert counts() == before


# --- schema ----------------------------------------------------------------------------------


def test_schema_lists_the_20_type_codes_as_an_enum(company):
    from rest_framework.test import APIClient

    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    enum = schema["components"]["schemas"]["RequestTypeEnum"]["enum"]
    assert enum == list(RequestType.values) and len(enum) == 20
    # the body: one schema per type, chosen by ``type`` (tests/requests_workflow/test_payloads.py)
    body = schema["components"]["schemas"]["RequestInputRequest"]
    assert list(body["discriminator"]["mapping"]) == list(RequestType.values)
    output = schema["components"]["schemas"]["RequestDetail"]["properties"]["type"]
    assert output["allOf"][0]["$ref"] == "#/components/schemas/RequestTypeEnum"
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/requests/"])
    assert "post" in paths["/api/v1/requests/{id}/cancel/"]
    for action in ("approve", "reject", "reassign"):
        assert "post" in paths[f"/api/v1/tasks/{{id}}/{action}/"]
    params = {p["name"] for p in paths["/api/v1/requests/"]["get"]["parameters"]}
    assert {"type", "status", "beneficiary", "requester", "created_after", "created_before"} <= params
    assert {"search", "ordering", "page", "page_size"} <= params
    type_param = next(p for p in paths["/api/v1/requests/"]["get"]["parameters"] if p["name"] == "type")
    assert type_param["schema"]["enum"] == list(RequestType.values)
