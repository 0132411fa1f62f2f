"""Time-bound access: starts at the start date, the beneficiary is told before the end, and an
automatic revoke request ends it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from directory.models import EntitlementMembership, RoleMembership
from requests_workflow.models import Request, RequestStatus, RequestType
from requests_workflow.services.requests import request_create
from requests_workflow.tasks import end_expired_access, notify_expiring_access, start_due_requests

pytestmark = pytest.mark.django_db
R = RequestStatus


def role_request(run, c, **kw):
    return run(
        request_create,
        actor=c["alice"],
        source="workspace",
        request_type="GRANT_ROLE",
        beneficiary=c["alice"],
        role=c["role"],
        justification="project",
        **kw,
    )


def has_role(c):
    return RoleMembership.objects.filter(user=c["alice"], role=c["role"]).exists()


def test_access_starts_at_the_start_date(company, run):
    start = timezone.now() + timedelta(days=2)
    req = role_request(run, company, start_at=start, end_at=start + timedelta(days=5))
    assert req.status == R.APPROVED and not has_role(company)
    assert "Access starts on" in req.events.last().message
    run(start_due_requests.apply)  # not yet
    req.refresh_from_db()
    assert req.status == R.APPROVED and not has_role(company)
    Request.objects.filter(pk=req.pk).update(start_at=timezone.now() - timedelta(minutes=1))  # time passes
    run(start_due_requests.apply)
    req.refresh_from_db()
    assert req.status == R.FINISHED and has_role(company)


def test_notice_then_automatic_revoke_at_the_end(company, run, mailoutbox, settings):
    settings.BLAZON_ACCESS_EXPIRY_NOTICE_DAYS = 3
    c = company
    req = run(
        request_create,
        actor=c["alice"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=c["alice"],
        entitlement=c["ent"],
        justification="audit",
        end_at=timezone.now() + timedelta(days=10),
    )
    assert req.status == R.FINISHED
    (outcome,) = mailoutbox  # "request finished"
    assert outcome.subject.startswith(f"Request #{req.pk} finished")
    mailoutbox.clear()
    run(notify_expiring_access.apply)
    assert mailoutbox == []  # 10 days away, notice is 3 days before
    Request.objects.filter(pk=req.pk).update(end_at=timezone.now() + timedelta(days=2))
    run(notify_expiring_access.apply)
    run(notify_expiring_access.apply)  # once only
    (mail,) = mailoutbox
    assert mail.to == ["alice@example.com"] and "Payments" in mail.subject

    Request.objects.filter(pk=req.pk).update(end_at=timezone.now() - timedelta(minutes=1))
    run(end_expired_access.apply)
    run(end_expired_access.apply)  # twice: still one revoke request
    (revoke,) = Request.objects.filter(origin=req)
    assert revoke.type == RequestType.REVOKE_ENTITLEMENT and revoke.source == "automatic"
    assert revoke.status == R.FINISHED and revoke.requester is None
    assert not EntitlementMembership.objects.filter(account__owner=c["alice"], entitlement=c["ent"]).exists()
    req.refresh_from_db()
    assert req.access_ended_at is not None
    assert f"revoke request #{revoke.pk} created" in req.events.last().message


def test_end_of_an_access_already_gone_is_recorded(company, run):
    c = company
    req = role_request(run, c, end_at=timezone.now() + timedelta(days=1))
    from directory.services.access.roles import role_revoke

    role_revoke(
        actor=None, source="console", membership=RoleMembership.objects.get(user=c["alice"], role=c["role"])
    )
    Request.objects.filter(pk=req.pk).update(end_at=timezone.now() - timedelta(minutes=1))
    run(end_expired_access.apply)
    assert not Request.objects.filter(origin=req).exists()
    req.refresh_from_db()
    assert "nothing revoked" in req.events.last().message and req.access_ended_at is not None
