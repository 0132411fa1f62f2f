"""Each request type's payload is checked when the request is created (API, CSV import: one rule
set, ``requests_workflow.payloads``): a payload its stage-4 function would choke on, or one that
tries to set a privilege, is a 400 naming the field and nothing is written. The OpenAPI schema
describes the same payloads, one body schema per type."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
import yaml

from blazon.audit.models import AuditEvent
from directory.models import Account, RoleMembership
from requests_workflow.models import ImportMode, Request, RequestEvent, RequestStatus, RequestType
from requests_workflow.payloads import PAYLOADS
from requests_workflow.services.imports.run import import_dry_run, import_execute, import_run
from tests.api.factories import AccountFactory
from tests.api.helpers import assert_error, client_for
from worklist.models import Task

pytestmark = pytest.mark.django_db

URL = "/api/v1/requests/"
HEADER = "type,beneficiary,resource,entitlement,role,account,justification,start_at,end_at"


@pytest.fixture
def admin(company):
    return client_for(company["admin"])


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    def call(client, body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, body, format="json")

    return call


def counts() -> tuple[int, ...]:
    return (
        Request.objects.count(),
        Task.objects.count(),
        RequestEvent.objects.count(),
        AuditEvent.objects.count(),
        Account.objects.count(),
        RoleMembership.objects.count(),
    )


def refused(post, admin, body: dict[str, Any], field: str) -> dict[str, Any]:
    before = counts()
    error = assert_error(post(admin, body), 400, "validation_failed")
    assert field in error["fields"], error
    assert field in error["message"], error["message"]  # the message names the field too
    assert counts() == before
    return error


# --- CREATE_USER / UPDATE_USER ------------------------------------------------------------------


def test_create_user_with_a_first_name_that_is_an_object_is_refused_at_creation(company, admin, post):
    body = {"type": "CREATE_USER", "payload": {"user": {"first_name": {"x": 1}, "last_name": "Rocha"}}}
    error = refused(post, admin, body, "payload.user.first_name")
    assert error["fields"]["payload.user.first_name"] == ["payload.user.first_name: Expected text."]


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("console_role", "ADMINISTRATOR", "Console roles are granted by an administrator"),
        ("is_superuser", True, "Not editable"),
        ("is_staff", True, "Not editable"),
        ("status", "ACTIVE", "life-cycle actions"),
        ("login_locked", False, "lock/unlock"),
        ("last_login", "2020-01-01", "Unknown field 'last_login'"),
    ],
)
@pytest.mark.parametrize("request_type", ["CREATE_USER", "UPDATE_USER"])
def test_privilege_and_unknown_user_fields_are_refused(
    company, admin, post, request_type, field, value, words
):
    if request_type == "CREATE_USER":
        body = {
            "type": request_type,
            "payload": {"user": {"first_name": "Nina", "last_name": "Rocha", field: value}},
        }
        name = f"payload.user.{field}"
    else:
        body = {"type": request_type, "beneficiary": "alice", "payload": {"changes": {field: value}}}
        name = f"payload.changes.{field}"
    error = refused(post, admin, body, name)
    assert words in error["fields"][name][0]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"department": ["Finance"]}, "payload.changes.department", "Expected text"),
        ({"email": 42}, "payload.changes.email", "valid e-mail"),
        ({"start_date": "tomorrow"}, "payload.changes.start_date", "YYYY-MM-DD"),
        ({"manager": {"username": "boss"}}, "payload.changes.manager", "an id (a number) or their username"),
        ({"organization": 1.5}, "payload.changes.organization", "an id (a number) or its code"),
        ({"attributes": ["x"]}, "payload.changes.attributes", "Expected an object"),
        ({"attributes": {"badge": {"n": 1}}}, "payload.changes.attributes.badge", "Expected text, a number"),
        ({"first_name": "  "}, "payload.changes.first_name", "required"),
        ({"username": ""}, "payload.changes.username", "cannot be emptied"),
        ({}, "payload.changes", "non-empty object"),
    ],
)
def test_update_user_changes_of_the_wrong_type_are_refused(company, admin, post, changes, field, words):
    body = {"type": "UPDATE_USER", "beneficiary": "alice", "payload": {"changes": changes}}
    error = refused(post, admin, body, field)
    assert words in error["fields"][field][0]


def test_create_user_needs_the_user_object(company, admin, post):
    refused(post, admin, {"type": "CREATE_USER", "payload": {"user": "Nina Rocha"}}, "payload.user")
    error = refused(post, admin, {"type": "CREATE_USER", "payload": {}}, "payload.user")
    assert "CREATE_USER needs 'user'" in error["fields"]["payload.user"][0]


def test_a_well_formed_update_user_still_runs_to_the_end(company, admin, post):
    body = {
        "type": "UPDATE_USER",
        "beneficiary": "alice",
        "payload": {"changes": {"department": "Finance", "manager": "eve", "start_date": None}},
    }
    response = post(admin, body)
    assert response.status_code == 201, response.content
    company["alice"].refresh_from_db()
    assert company["alice"].department == "Finance" and company["alice"].manager == company["eve"]


# --- the other types ----------------------------------------------------------------------------


@pytest.mark.parametrize("request_type", RequestType.values)
def test_every_type_refuses_a_payload_key_it_does_not_read(company, admin, post, request_type):
    body = {"type": request_type, "beneficiary": "alice", "payload": {"is_superuser": True}}
    error = refused(post, admin, body, "payload.is_superuser")
    assert f"{request_type} does not read 'is_superuser'" in error["fields"]["payload.is_superuser"][0]


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"identifier": 42}, "payload.identifier", "Expected text"),
        ({"identifier": "x" * 256}, "payload.identifier", "At most 255"),
        ({"attributes": "home=/home/alice"}, "payload.attributes", "Expected an object"),
        ({"attributes": {"home": {"path": "/home"}}}, "payload.attributes.home", "Expected text, a number"),
        ({"attributes": {"home": None}}, "payload.attributes.home", "Expected text, a number"),
    ],
)
def test_create_account_payload_of_the_wrong_type_is_refused(company, admin, post, payload, field, words):
    body = {
        "type": "CREATE_ACCOUNT",
        "beneficiary": "alice",
        "resource": company["app"].pk,
        "justification": "month-end",
        "payload": payload,
    }
    error = refused(post, admin, body, field)
    assert words in error["fields"][field][0]


def test_create_account_takes_its_identifier_and_attributes(company, admin, post):
    body = {
        "type": "CREATE_ACCOUNT",
        "beneficiary": "alice",
        "resource": company["app"].pk,
        "justification": "month-end",
        "payload": {"identifier": "alice.s", "attributes": {"home": "/home/alice", "quota": 5, "vpn": True}},
    }
    response = post(admin, body)
    assert response.status_code == 201, response.content
    account = Account.objects.get(owner=company["alice"], resource=company["app"])
    assert account.identifier == "alice.s"
    assert account.attributes == {"home": "/home/alice", "quota": 5, "vpn": True}


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({}, "payload.attributes", "UPDATE_ACCOUNT needs 'attributes'"),
        ({"attributes": {}}, "payload.attributes", "non-empty object"),
        ({"attributes": {"home": ["/a", "/b"]}}, "payload.attributes.home", "text, a number, true/false"),
        ({"attributes": {" ": "x"}}, "payload.attributes", "non-empty text"),
    ],
)
def test_update_account_payload_of_the_wrong_type_is_refused(company, admin, post, payload, field, words):
    account = AccountFactory(resource=company["app"], owner=company["alice"], identifier="alice")
    body = {"type": "UPDATE_ACCOUNT", "account": account.pk, "payload": payload}
    error = refused(post, admin, body, field)
    assert words in error["fields"][field][0]


# --- the CSV import: the same rules -------------------------------------------------------------


def test_the_import_refuses_the_same_payloads_per_line(company, run):
    header = HEADER + ",changes.console_role,changes.department,user.first_name,user.last_name,user.is_staff"
    lines = [
        "UPDATE_USER,alice,,,,,,,,ADMINISTRATOR,,,,",
        "UPDATE_USER,eve,,,,,,,,,Finance,,,",
        "CREATE_USER,,,,,,,,,,,Nina,Rocha,true",
    ]
    data = ("\n".join([header, *lines]) + "\n").encode()
    job = import_dry_run(actor=company["admin"], file=data, file_name="requests.csv")
    errors = {e["line"]: e["error"] for e in job.dry_run_errors}
    assert sorted(errors) == [2, 4]
    assert "payload.changes.console_role: Console roles are granted by an administrator" in errors[2]
    assert "payload.user.is_staff: Not editable." in errors[4]
    import_run(actor=company["admin"], job=job, mode=ImportMode.BEST_EFFORT)
    import_execute(job_id=job.pk)
    assert list(Request.objects.filter(source="import").values_list("type", "beneficiary__username")) == [
        ("UPDATE_USER", "eve")
    ]


# --- the OpenAPI schema says the same -------------------------------------------------------------


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` as JSON Schema's null type (what jsonschema understands)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k not in ("nullable", "discriminator")}
    if node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    if isinstance(out.get("$ref"), str):
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/definitions/")
    return out


@pytest.fixture
def body_schema(admin) -> dict[str, Any]:
    schema = yaml.safe_load(admin.get("/api/schema/").content)
    operation = schema["paths"][URL]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    definitions = _json_schema(copy.deepcopy(schema["components"]["schemas"]))
    return {"$ref": ref.replace("#/components/schemas/", "#/definitions/"), "definitions": definitions}


def _valid(schema: dict[str, Any], body: dict[str, Any]) -> bool:
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).is_valid(body)


def test_the_schema_has_one_body_per_type_chosen_by_type(admin):
    schema = yaml.safe_load(admin.get("/api/schema/").content)
    components = schema["components"]["schemas"]
    body = components["RequestInputRequest"]
    assert body["discriminator"]["propertyName"] == "type"
    assert set(body["discriminator"]["mapping"]) == set(RequestType.values)
    for code, shape in PAYLOADS.items():
        variant = components[body["discriminator"]["mapping"][code].rsplit("/", 1)[1]]
        assert variant["properties"]["type"]["allOf"][0]["$ref"].endswith("TypeEnum")
        assert variant["properties"]["payload"]["$ref"] == f"#/components/schemas/{shape.component}"
    changes = components["UpdateUserPayload"]["properties"]["changes"]
    assert changes["additionalProperties"] is False
    assert not {"console_role", "is_superuser", "is_staff", "status", "password"} & set(changes["properties"])


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        ({"type": "CREATE_USER", "payload": {"user": {"first_name": "Nina", "last_name": "Rocha"}}}, True),
        ({"type": "CREATE_USER", "payload": {"user": {"first_name": {"x": 1}, "last_name": "Rocha"}}}, False),
        ({"type": "UPDATE_USER", "beneficiary": "alice", "payload": {"changes": {"manager": None}}}, True),
        (
            {"type": "UPDATE_USER", "beneficiary": "alice", "payload": {"changes": {"console_role": "X"}}},
            False,
        ),
        ({"type": "LOCK_USER", "beneficiary": "alice"}, True),
        ({"type": "LOCK_USER", "beneficiary": "alice", "payload": {"x": 1}}, False),
        ({"type": "UPDATE_ACCOUNT", "account": 1, "payload": {"attributes": {"home": None}}}, True),
        ({"type": "UPDATE_ACCOUNT", "account": 1, "payload": {"attributes": {"home": [1]}}}, False),
        ({"type": "CREATE_ACCOUNT", "beneficiary": 1, "resource": 1, "payload": {"identifier": None}}, True),
        ({"type": "GRANT_ROLE", "beneficiary": "alice"}, False),  # the role is required
    ],
)
def test_the_schema_accepts_and_refuses_what_the_server_does(body_schema, body, accepted):
    assert _valid(body_schema, body) is accepted


def test_a_request_the_schema_accepts_is_created(company, admin, post, body_schema):
    body = {
        "type": "GRANT_ROLE",
        "beneficiary": "alice",
        "role": company["role"].pk,
        "justification": "project",
        "payload": {},
    }
    assert _valid(body_schema, body)
    response = post(admin, body)
    assert response.status_code == 201, response.content
    status = Request.objects.get(pk=response.json()["id"]).status
    assert status in (RequestStatus.FINISHED, RequestStatus.WAITING_PROVISIONING)
