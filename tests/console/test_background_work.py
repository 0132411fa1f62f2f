"""Console: Operations -> Background work shows late and failed work; an administrator retries a
dead-lettered item; the dashboard counts work older than it should be."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.outbox.models import OutboxMessage, OutboxStatus
from requests_workflow.models import Request

pytestmark = pytest.mark.django_db


def _dead_letter():
    now = timezone.now()
    return OutboxMessage.objects.create(
        kind="requests_workflow.tasks.mail_request_outcome",
        payload={"args": [41], "kwargs": {}},
        status=OutboxStatus.DEAD,
        attempts=10,
        last_error="SMTPServerDisconnected: Connection unexpectedly closed",
        created_at=now,
        available_at=now,
        done_at=now,
    )


def test_failed_work_is_listed_and_an_administrator_retries_it(admin):
    row = _dead_letter()
    page = admin.get("/console/operations/work/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "requests_workflow.tasks.mail_request_outcome" in html
    assert "SMTPServerDisconnected" in html
    assert f'action="/console/operations/work/{row.pk}/retry/"' in html

    response = admin.post(f"/console/operations/work/{row.pk}/retry/", follow=True)
    assert response.status_code == 200
    assert "will be tried again" in response.content.decode()
    row.refresh_from_db()
    # retried at once in embedded mode: the request is gone, so the item is skipped
    assert row.status in (OutboxStatus.PENDING, OutboxStatus.SKIPPED, OutboxStatus.DONE)
    assert row.attempts <= 1
    assert AuditEvent.objects.filter(action="outbox.retried", object_id=str(row.pk)).count() == 1

    # retrying something that is not dead-lettered is refused, as a message
    again = admin.post(f"/console/operations/work/{row.pk}/retry/", follow=True)
    assert "only dead letters are retried" in again.content.decode()


def test_helpdesk_sees_the_page_but_may_not_retry(helpdesk):
    row = _dead_letter()
    page = helpdesk.get("/console/operations/work/")
    assert page.status_code == 200
    assert "/retry/" not in page.content.decode()
    assert helpdesk.post(f"/console/operations/work/{row.pk}/retry/").status_code == 403
    row.refresh_from_db()
    assert row.status == OutboxStatus.DEAD


def test_the_dashboard_counts_work_older_than_it_should_be(admin, world, settings):
    settings.BLAZON_STUCK_AFTER_SECONDS = 60
    req = Request.objects.create(type="GRANT_ENTITLEMENT", source="api", beneficiary=world["alice"])
    Request.objects.filter(pk=req.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    html = admin.get("/console/").content.decode()
    assert 'id="stuck-work"' in html
    assert 'Late background work</div><div class="n"><span class="badge warn">1</span>' in html
    page = admin.get("/console/operations/work/").content.decode()
    assert "Requests NEW" in page
