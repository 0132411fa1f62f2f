"""Fuzzing every operation of /api/schema/ with schemathesis, in-process (WSGI), as an
administrator: no 5xx, no response outside its schema, no status code or content type the
schema does not declare (docs/dev/api-fuzzing.md).

Bounded and deterministic: a few examples per operation, hypothesis derandomized (the same
cases on every run, so CI is not flaky) and no example database. The test runs in its own
transaction with its own small directory; what the fuzzer creates or deletes through the API is
rolled back with it, so no other test in the worker sees it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from blazon.api.authentication import issue_token
from blazon.wsgi import application
from directory.models import ConsoleRole
from tests.api.factories import (
    AccountFactory,
    EntitlementFactory,
    OrganizationFactory,
    ResourceFactory,
    RoleFactory,
    UserFactory,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzz_token(db) -> str:
    """An administrator's token and a small directory for the fuzzer to find."""
    admin = UserFactory(username="fuzz-admin", console_role=ConsoleRole.ADMINISTRATOR)
    org = OrganizationFactory(code="fuzz-org")
    boss = UserFactory(username="fuzz-boss", organization=org)
    alice = UserFactory(username="fuzz-alice", manager=boss, organization=org, email="alice@example.com")
    app = ResourceFactory(code="fuzz-app")
    EntitlementFactory(resource=app, identifier="fuzz-ent")
    RoleFactory(code="fuzz-role")
    AccountFactory(resource=app, owner=alice, identifier="fuzz-alice")
    _, raw = issue_token(admin, name="fuzz")
    return raw


@pytest.fixture
def api_schema(fuzz_token) -> Iterator[Any]:
    # Requests run in this thread on this test's connection: Django must not close it at the
    # end of each request (the test client does the same).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    # 3 random examples per operation, on top of schemathesis's deterministic coverage cases
    # (boundary and invalid values of every parameter and body field): about 2.5 min of CPU
    max_examples=3,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    # hypothesis's health checks judge the generation (slow data, filtered examples, the
    # function-scoped fixtures schemathesis passes in), not the API; the API checks are CHECKS
    suppress_health_check=list(HealthCheck),
)
def test_api(case, fuzz_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_token}"}, checks=CHECKS)
