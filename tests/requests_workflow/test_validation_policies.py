"""Validation policies (issue #3, section 2): each rule refuses a request with a message naming
the policy and creates nothing; a policy does not reach types or objects outside its scope; with
no policy the built-in rules are unchanged; the CSV import applies the same policies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.errors import NotAllowed, ValidationFailed
from directory.models import ConsoleRole, UserStatus
from requests_workflow.models import ImportJob, Request, RequestEvent, RequestStatus, ValidationPolicy
from requests_workflow.services.imports.run import import_dry_run
from requests_workflow.services.requests import request_create
from tests.api.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def counts():
    return Request.objects.count(), RequestEvent.objects.count(), AuditEvent.objects.count()


def policy(**kwargs) -> ValidationPolicy:
    kwargs.setdefault("name", "Finance rules")
    return ValidationPolicy.objects.create(**kwargs)


@pytest.fixture
def grant(company):
    """A GRANT_ENTITLEMENT of the ERP payments entitlement for alice, by alice (self-service)."""

    def make(**kwargs):
        kwargs.setdefault("actor", company["alice"])
        kwargs.setdefault("source", "workspace")
        kwargs.setdefault("request_type", "GRANT_ENTITLEMENT")
        kwargs.setdefault("beneficiary", company["alice"])
        kwargs.setdefault("entitlement", company["ent"])
        kwargs.setdefault("justification", "month-end close")
        return request_create(**kwargs)

    return make


@pytest.fixture
def refused(grant):
    def check(exc, match, **kwargs):
        before = counts()
        with pytest.raises(exc, match=match) as err:
            grant(**kwargs)
        assert counts() == before
        return err.value

    return check


def test_justification_required_and_minimum_length(refused, grant, company):
    policy(name="Say why", request_types=["GRANT_ROLE"], justification_required=True)
    # GRANT_ROLE's built-in default already needs one: the built-in message, once
    with pytest.raises(ValidationFailed):
        grant(request_type="GRANT_ROLE", entitlement=None, role=company["role"], justification="")
    policy(name="Long reasons", justification_min_length=20)
    err = refused(
        ValidationFailed,
        "Validation policy 'Long reasons': the justification needs at least 20",
        justification="short",
    )
    assert "justification" in err.fields
    assert grant(justification="the monthly closing of the books").pk


def test_justification_required_on_a_type_the_setting_leaves_free(refused, company, settings):
    settings.BLAZON_REQUEST_JUSTIFICATION_REQUIRED = []
    policy(name="Grants say why", request_types=["GRANT_ENTITLEMENT"], justification_required=True)
    err = refused(
        ValidationFailed,
        "Validation policy 'Grants say why': GRANT_ENTITLEMENT requests need a justification",
        justification="",
    )
    assert err.fields["justification"]


def test_settings_default_without_policies(refused):
    refused(ValidationFailed, "GRANT_ENTITLEMENT requests need a justification", justification="")


def test_beneficiary_attribute_rules(refused, grant, company):
    alice = company["alice"]
    alice.employee_type, alice.attributes = "CONTRACTOR", {"cost_center": "CC-9"}
    alice.save()
    policy(
        name="Employees only",
        role=company["role"],
        beneficiary_rules=[{"attribute": "employee_type", "operator": "equals", "value": "EMPLOYEE"}],
    )
    err = refused(
        ValidationFailed,
        "Validation policy 'Employees only': alice does not meet 'employee_type equals EMPLOYEE'",
        request_type="GRANT_ROLE",
        entitlement=None,
        role=company["role"],
    )
    assert "beneficiary" in err.fields
    # the role is the scope: a grant of the entitlement is not concerned
    assert grant().pk
    Request.objects.all().delete()
    ValidationPolicy.objects.all().delete()
    policy(
        name="Cost centers",
        beneficiary_rules=[
            {"attribute": "cost_center", "operator": "in", "value": ["CC-1", "CC-2"]},
            {"attribute": "employee_type", "operator": "not_equals", "value": "CONTRACTOR"},
            {"attribute": "department", "operator": "regex", "value": "Fin.*"},
        ],
    )
    err = refused(ValidationFailed, "cost_center is one of CC-1, CC-2")
    assert len(err.fields["beneficiary"]) == 3
    alice.employee_type, alice.attributes, alice.department = "EMPLOYEE", {"cost_center": "CC-2"}, "Finance"
    alice.save()
    assert grant().pk


def test_who_may_request_for_whom(refused, grant, company):
    boss, alice = company["boss"], company["alice"]
    policy(name="Self only", request_types=["GRANT_ENTITLEMENT"], requester_scope="SELF")
    # the manager passes the built-in rule, the policy refuses
    refused(
        NotAllowed,
        "Validation policy 'Self only': boss may not request GRANT_ENTITLEMENT for alice",
        actor=boss,
    )
    # an administrator too
    refused(NotAllowed, "Self only", actor=company["admin"], source="api")
    assert grant(actor=alice).pk
    Request.objects.all().delete()
    ValidationPolicy.objects.all().delete()
    policy(name="Managers ask", requester_scope="MANAGER")
    refused(NotAllowed, "Managers ask", actor=alice)
    assert grant(actor=boss).pk


def test_console_role_scope(refused, grant, company):
    policy(name="Console only", requester_scope="CONSOLE")
    refused(NotAllowed, "Console only", actor=company["alice"])
    helpdesk = UserFactory(username="hd", console_role=ConsoleRole.HELPDESK)
    assert grant(actor=helpdesk, source="api").pk


def test_built_in_who_may_request_still_applies(refused, company):
    policy(name="Console only", requester_scope="CONSOLE")
    # an auditor has a console role but may not request for others (built-in rule)
    auditor = UserFactory(username="aud", console_role=ConsoleRole.AUDITOR)
    refused(NotAllowed, "aud may not request", actor=auditor, source="api")


def test_beneficiary_statuses(refused, company):
    policy(name="Active or inactive", request_types=["LOCK_USER"], beneficiary_statuses=["ACTIVE"])
    alice = company["alice"]
    alice.status = UserStatus.INACTIVE
    alice.save()
    before = counts()
    with pytest.raises(ValidationFailed, match="Validation policy 'Active or inactive': alice is INACTIVE"):
        request_create(actor=company["admin"], source="console", request_type="LOCK_USER", beneficiary=alice)
    assert counts() == before


def test_max_access_period(refused, grant):
    policy(name="Thirty days", max_period_days=30)
    now = timezone.now()
    refused(ValidationFailed, "Validation policy 'Thirty days': give an end date")
    err = refused(ValidationFailed, "may last at most 30 days", end_at=now + timedelta(days=31))
    assert "end_at" in err.fields
    assert grant(start_at=now + timedelta(days=2), end_at=now + timedelta(days=31)).pk


def test_period_rule_leaves_types_without_a_period_alone(company):
    policy(name="Thirty days", max_period_days=30)
    req = request_create(
        actor=company["admin"], source="console", request_type="LOCK_USER", beneficiary=company["alice"]
    )
    assert req.pk


def test_out_of_scope_and_inactive_policies_do_not_apply(grant, company):
    policy(name="Roles say why at length", request_types=["GRANT_ROLE"], justification_min_length=50)
    policy(name="Off", active=False, justification_min_length=50)
    assert grant(justification="short").pk


def test_the_system_is_not_subject_to_policies(company):
    policy(name="Say why at length", justification_min_length=50, requester_scope="SELF")
    account = AccountFactory(owner=company["alice"], resource=company["app"])
    req = request_create(actor=None, source="automatic", request_type="REVOKE_ACCOUNT", account=account)
    assert req.status == RequestStatus.NEW


def test_import_dry_run_applies_the_policies(company):
    policy(name="Long reasons", justification_min_length=20)
    data = (
        b"type,beneficiary,resource,entitlement,justification\n"
        b"GRANT_ENTITLEMENT,alice,erp,payments,short\n"
        b"GRANT_ENTITLEMENT,eve,erp,payments,a long enough reason for this\n"
    )
    job = import_dry_run(actor=company["admin"], file=data, file_name="grants.csv")
    job = ImportJob.objects.get(pk=job.pk)
    assert job.ok_count == 1
    assert job.dry_run_errors[0]["line"] == 2
    assert "Validation policy 'Long reasons'" in job.dry_run_errors[0]["error"]
