"""Stages 1–2: bad input gets a clear error and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from directory.services import lifecycle
from requests_workflow.models import Request, RequestEvent, RequestStatus
from requests_workflow.services.requests import request_create

pytestmark = pytest.mark.django_db


def counts():
    return Request.objects.count(), RequestEvent.objects.count(), AuditEvent.objects.count()


@pytest.fixture
def refused(company):
    """Assert a request_create call is refused and writes nothing."""

    def check(exc, match, **kwargs):
        kwargs.setdefault("actor", company["admin"])
        kwargs.setdefault("source", "api")
        kwargs.setdefault("justification", "because")
        before = counts()
        with pytest.raises(exc, match=match) as err:
            request_create(**kwargs)
        assert counts() == before
        return err.value

    return check


def test_unknown_type(refused):
    err = refused(ValidationFailed, "Unknown request type 'GRANT_PONY'", request_type="GRANT_PONY")
    assert err.fields == {"type": ["Unknown request type."]}


def test_missing_fields(refused, company):
    err = refused(
        ValidationFailed,
        "entitlement is required",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=company["alice"],
    )
    assert "entitlement" in err.fields
    err = refused(ValidationFailed, "needs 'user'", request_type="CREATE_USER")
    assert "payload.user" in err.fields
    refused(
        ValidationFailed,
        "payload.user.last_name: This field is required",
        request_type="CREATE_USER",
        payload={"user": {"first_name": "Ana"}},
    )
    refused(ValidationFailed, "need a beneficiary", request_type="LOCK_USER")


def test_justification_required_per_type(refused, company, settings):
    refused(
        ValidationFailed,
        "need a justification",
        request_type="GRANT_ROLE",
        beneficiary=company["alice"],
        role=company["role"],
        justification="",
    )
    settings.BLAZON_REQUEST_JUSTIFICATION_REQUIRED = ["LOCK_USER"]
    refused(
        ValidationFailed,
        "need a justification",
        request_type="LOCK_USER",
        beneficiary=company["alice"],
        justification="",
    )


def test_source_not_allowed_for_the_type(refused, company):
    refused(
        ValidationFailed,
        "cannot come from workspace",
        request_type="RESET_PASSWORD",
        beneficiary=company["alice"],
        source="workspace",
    )


def test_removed_beneficiary(refused, company):
    alice = company["alice"]
    lifecycle.user_remove(actor=None, source="console", user=alice)
    refused(
        ValidationFailed,
        "REMOVED",
        request_type="UPDATE_USER",
        beneficiary=alice,
        payload={"changes": {"job_title": "x"}},
    )


def test_grants_only_for_active_users(refused, company):
    alice = company["alice"]
    lifecycle.user_inactivate(actor=None, source="console", user=alice)
    refused(
        ValidationFailed,
        "INACTIVE; GRANT_ROLE needs ACTIVE",
        request_type="GRANT_ROLE",
        beneficiary=alice,
        role=company["role"],
    )


def test_secrets_never_travel_in_a_request(refused, company):
    refused(
        ValidationFailed,
        "never carries secrets",
        request_type="CREATE_USER",
        payload={"user": {"first_name": "A", "last_name": "B", "password": "hunter2hunter2"}},
    )


def test_duplicate_pending_request_is_refused(company, refused):
    # the first request is still pending (its processing has not run yet)
    first = request_create(
        actor=company["alice"],
        source="workspace",
        request_type="GRANT_ROLE",
        beneficiary=company["alice"],
        role=company["role"],
        justification="x",
    )
    assert first.status == RequestStatus.NEW
    err = refused(
        Conflict,
        "already pending",
        actor=company["alice"],
        source="workspace",
        request_type="GRANT_ROLE",
        beneficiary=company["alice"],
        role=company["role"],
    )
    assert err.code == "duplicate_pending"


def test_who_may_request_for_whom(refused, company, run):
    alice, eve, boss = company["alice"], company["eve"], company["boss"]
    # a colleague may not
    refused(
        NotAllowed,
        "eve may not request GRANT_ROLE for alice",
        actor=eve,
        source="workspace",
        request_type="GRANT_ROLE",
        beneficiary=alice,
        role=company["role"],
    )
    # a user may not run the console-only user types on themselves
    refused(
        NotAllowed,
        "may not request",
        actor=alice,
        source="console",
        request_type="LOCK_USER",
        beneficiary=alice,
    )
    # the manager may, for their report; oneself may, for self-service types
    req = run(
        request_create,
        actor=boss,
        source="workspace",
        request_type="GRANT_ROLE",
        beneficiary=alice,
        role=company["role"],
        justification="team",
    )
    assert req.status == RequestStatus.FINISHED
    req = run(
        request_create,
        actor=alice,
        source="workspace",
        request_type="CREATE_ACCOUNT",
        beneficiary=alice,
        resource=company["app"],
        justification="work",
    )
    assert req.status == RequestStatus.FINISHED


def test_period_rules(refused, company):
    now = timezone.now()
    refused(
        ValidationFailed,
        "do not carry an access period",
        request_type="LOCK_USER",
        beneficiary=company["alice"],
        end_at=now + timedelta(days=1),
    )
    refused(
        ValidationFailed,
        "after its start",
        request_type="GRANT_ROLE",
        beneficiary=company["alice"],
        role=company["role"],
        start_at=now + timedelta(days=2),
        end_at=now + timedelta(days=1),
    )
    refused(
        ValidationFailed,
        "in the future",
        request_type="GRANT_ROLE",
        beneficiary=company["alice"],
        role=company["role"],
        end_at=now - timedelta(days=1),
    )


def test_state_the_directory_would_refuse_is_caught_up_front(refused, company):
    refused(ValidationFailed, "already ACTIVE", request_type="ACTIVATE_USER", beneficiary=company["alice"])
    refused(ValidationFailed, "is not locked", request_type="UNLOCK_USER", beneficiary=company["alice"])
    refused(
        ValidationFailed,
        "does not have the role",
        request_type="REVOKE_ROLE",
        beneficiary=company["alice"],
        role=company["role"],
    )
