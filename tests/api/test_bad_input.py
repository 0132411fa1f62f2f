"""Bad input is answered with a 4xx and a clear message, never a 500, and writes nothing
(issue 12, items 7, 8 and 9): malformed ``Authorization`` headers, NUL characters and lone
surrogates in JSON bodies and query parameters, JSON nested too deep, and OPTIONS."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from blazon.api.authentication import issue_token
from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole, User
from requests_workflow.models import Delegation, Request, Task
from tests.api.factories import EntitlementFactory, ResourceFactory, UserFactory
from tests.api.helpers import assert_error, client_for
from tests.provisioning.conftest import api_for, make_entry, token_for, world  # noqa: F401 - fixture
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/v1/users/",
    "/api/v1/organizations/",
    "/api/v1/resources/",
    "/api/v1/accounts/",
    "/api/v1/entitlements/",
    "/api/v1/entitlement-memberships/",
    "/api/v1/roles/",
    "/api/v1/role-memberships/",
    "/api/v1/role-changes/",
    "/api/v1/attribute-definitions/",
    "/api/v1/username-policy/",
    "/api/v1/requests/",
    "/api/v1/tasks/",
    "/api/v1/delegations/",
    "/api/v1/provisioning-entries/",
    "/api/schema/",
]
ADAPTER = [
    ("get", "/api/v1/adapter/me/"),
    ("post", "/api/v1/adapter/pull/"),
    ("post", "/api/v1/adapter/reports/"),
    ("post", "/api/v1/adapter/entries/1/lease/"),
    ("post", "/api/v1/adapter/entries/1/success/"),
    ("post", "/api/v1/adapter/entries/1/failure/"),
    ("post", "/api/v1/adapter/entries/1/credentials/"),
]
MALFORMED = [
    "\xa0",
    "\x1c",
    "Bearer\xa0abc",
    "Bearer\x1cabc",
    "Bearer a\x00b",
    "\xa0Bearer abc",
    "Bearer \xe9t\xe9",
]

NUL = "a\u0000b"
SURROGATE = "\ud800"


def raw_client(header: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


def post_json(client: APIClient, url: str, body: object):
    """POST the JSON text as json.dumps writes it: lone surrogates travel as \\ud800 escapes."""
    return client.generic("POST", url, json.dumps(body), content_type="application/json")


def snapshot() -> tuple[int, ...]:
    return (
        User.objects.count(),
        Request.objects.count(),
        Task.objects.count(),
        Delegation.objects.count(),
        AuditEvent.objects.count(),
    )


# --- item 7: malformed Authorization headers -------------------------------------------------


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("header", MALFORMED)
def test_malformed_authorization_header_is_401_on_every_endpoint(url, header):
    UserFactory(username="someone", console_role=ConsoleRole.ADMINISTRATOR)
    response = raw_client(header).get(url)
    if url == "/api/schema/":  # rendered as OpenAPI YAML, errors included
        assert response.status_code == 401
        assert b"Malformed Authorization header" in response.content
        return
    error = assert_error(response, 401, "authentication_failed")
    assert "Malformed Authorization header" in error["message"]


@pytest.mark.parametrize(("method", "url"), ADAPTER)
@pytest.mark.parametrize("header", MALFORMED)
def test_malformed_authorization_header_is_401_on_the_adapter_api(world, method, url, header):  # noqa: F811
    response = getattr(raw_client(header), method)(url, {}, format="json")
    error = assert_error(response, 401, "authentication_failed")
    assert "Malformed Authorization header" in error["message"]


def test_well_formed_tokens_still_work_after_the_header_check(world):  # noqa: F811
    _, raw = issue_token(UserFactory(username="reader", console_role=ConsoleRole.AUDITOR))
    assert raw_client(f"Bearer {raw}").get("/api/v1/users/").status_code == 200
    assert api_for(token_for(*world["erp_creds"])).get("/api/v1/adapter/me/").status_code == 200


# --- item 8: NUL characters and lone surrogates ---------------------------------------------


@pytest.fixture
def admin(db):
    return client_for(UserFactory(username="admin", console_role=ConsoleRole.ADMINISTRATOR))


@pytest.fixture
def catalogue(db):
    UserFactory(username="alice")
    UserFactory(username="deputy", console_role=ConsoleRole.HELPDESK)
    resource = ResourceFactory(code="erp", name="ERP")
    return EntitlementFactory(resource=resource, identifier="payments", name="Payments")


def request_bodies(entitlement_id: int, bad: str) -> list[dict]:
    return [
        {
            "type": "GRANT_ENTITLEMENT",
            "beneficiary": bad,
            "entitlement": entitlement_id,
            "justification": "x",
        },
        {
            "type": "GRANT_ENTITLEMENT",
            "beneficiary": "alice",
            "entitlement": entitlement_id,
            "justification": bad,
        },
        {"type": "CREATE_USER", "payload": {"user": {"first_name": bad, "last_name": "Doe"}}},
        {"type": "UPDATE_USER", "beneficiary": "alice", "payload": {"changes": {"department": bad}}},
        {"type": "UPDATE_USER", "beneficiary": "alice", "payload": {"changes": {bad: "x"}}},
    ]


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
def test_requests_api_refuses_nul_and_surrogates_and_writes_nothing(admin, catalogue, bad):
    before = snapshot()
    for body in request_bodies(catalogue.pk, bad):
        error = assert_error(post_json(admin, "/api/v1/requests/", body), 400, "parse_error")
        assert "not allowed" in error["message"]
    assert snapshot() == before


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
def test_delegations_api_refuses_nul_and_surrogates(admin, catalogue, bad):
    before = snapshot()
    body = {"delegate": bad, "end_at": "2099-01-01T00:00:00Z", "reason": "holidays"}
    error = assert_error(post_json(admin, "/api/v1/delegations/", body), 400, "parse_error")
    assert "body.delegate" in error["message"]
    assert snapshot() == before


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
def test_task_reassign_refuses_nul_and_surrogates(admin, catalogue, bad, django_capture_on_commit_callbacks):
    policy = ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"])
    level = ApprovalLevelFactory(policy=policy, approver_kind="USERS")
    level.users.add(User.objects.get(username="deputy"))
    body = {
        "type": "GRANT_ENTITLEMENT",
        "beneficiary": "alice",
        "entitlement": catalogue.pk,
        "justification": "x",
    }
    with django_capture_on_commit_callbacks(execute=True):
        created = admin.post("/api/v1/requests/", body, format="json")
    assert created.status_code == 201, created.content
    task = Task.objects.get(request_id=created.json()["id"])
    before = snapshot()
    response = post_json(admin, f"/api/v1/tasks/{task.pk}/reassign/", {"to_user": bad, "comment": "x"})
    assert_error(response, 400, "parse_error")
    assert snapshot() == before


def test_adapter_reports_refuse_nul(world):  # noqa: F811
    api = api_for(token_for(*world["erp_creds"]))
    entry = make_entry(world["erp"], "CREATE_ACCOUNT", account=world["account"])
    before = AuditEvent.objects.count()
    body = {"reports": [{"entry": entry.pk, "outcome": "failure", "reason": NUL}]}
    assert_error(post_json(api, "/api/v1/adapter/reports/", body), 400, "parse_error")
    body = {"reports": [{"entry": entry.pk, "outcome": "success", "native_identifier": SURROGATE}]}
    assert_error(post_json(api, "/api/v1/adapter/reports/", body), 400, "parse_error")
    entry.refresh_from_db()
    assert entry.status == "PENDING"
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(
    "query",
    [
        "department=a%00b",
        "employee_type=%00",
        "search=a%00b",
        "ordering=%00",
        "username=a%00b",
        "page=%00",
    ],
)
def test_query_parameters_with_nul_are_400(admin, catalogue, query):
    error = assert_error(admin.get(f"/api/v1/users/?{query}"), 400, "parse_error")
    assert "NUL" in error["message"]


@pytest.mark.parametrize("url", ["/api/v1/requests/?beneficiary=%00", "/api/v1/accounts/?search=%00"])
def test_query_parameters_with_nul_are_400_on_other_lists(admin, url):
    assert_error(admin.get(url), 400, "parse_error")


def test_form_encoded_bodies_with_nul_are_refused_too(admin, catalogue):
    before = snapshot()
    response = admin.post(
        "/api/v1/delegations/",
        "delegate=a%00b&end_at=2099-01-01T00%3A00%3A00Z",
        content_type="application/x-www-form-urlencoded",
    )
    assert_error(response, 400, "parse_error")
    assert snapshot() == before


# --- item 9: deep nesting, OPTIONS -----------------------------------------------------------


@pytest.mark.parametrize("depth", [200, 50_000])
def test_deeply_nested_json_is_400(admin, catalogue, depth):
    body = '{"type": "UPDATE_USER", "beneficiary": "alice", "payload": ' + "[" * depth + "]" * depth + "}"
    before = snapshot()
    response = admin.generic("POST", "/api/v1/requests/", body, content_type="application/json")
    error = assert_error(response, 400, "parse_error")
    assert "nested" in error["message"]
    assert snapshot() == before


def test_options_on_the_username_policy_answers(admin):
    response = admin.options("/api/v1/username-policy/")
    assert response.status_code in (200, 405)
    assert response.json()


@pytest.mark.parametrize("url", [u for u in LISTS if u != "/api/schema/"])
def test_options_answers_on_every_endpoint(admin, url):
    assert admin.options(url).status_code in (200, 405)
