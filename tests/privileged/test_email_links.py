"""The one-click links of a privileged access e-mail (issue 17 item 3): a real SMTP server
(aiosmtpd) receives the approver's mail; its links open a confirmation page (GET decides
nothing), the CSRF-protected POST decides as the link's approver; a link is refused when
expired, changed, reused, opened by someone else signed in, or after the approver was taken off
the task — and then nothing changes."""

from __future__ import annotations

import re
import time
from unittest import mock

import pytest
from django.test import Client

from blazon.audit.models import AuditEvent
from directory.models import UserStatus
from privileged.models import AccessStatus
from privileged.services.flow import access_request_cancel
from tests.privileged.test_email_replies import state
from tests.privileged.test_flow import ask, open_task
from tests.requests_workflow.test_email_approvals import body, csrf_of, received
from worklist.models import TaskStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def links(run, pam, smtp):
    """dba1 asks; the links approver1 received (approve, disapprove), as paths."""
    req = ask(run, pam)
    (mail,) = received(smtp, "approver1@example.com")
    text = body(mail)
    found = {
        kind: re.search(rf"^{label}: http://[^/]+(/privileged/links/[^/\s]+/)", text, re.M).group(1)
        for kind, label in (("approve", "Approve"), ("disapprove", "Disapprove"))
    }
    return req, found


def confirm(client, url, django_capture_on_commit_callbacks, **data):
    page = client.get(url)
    assert page.status_code == 200, page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(url, {"csrfmiddlewaretoken": csrf_of(page), **data})


def test_get_decides_nothing_and_the_post_approves_as_the_approver(
    links, pam, smtp, django_capture_on_commit_callbacks
):
    req, urls = links
    client = Client(enforce_csrf_checks=True)
    before = state(req)
    page = client.get(urls["approve"])
    text = page.content.decode()
    assert page.status_code == 200 and f"Approve access request #{req.pk}?" in text
    assert "Vacuum the orders table" in text and "Approve as approver1" in text
    assert page["Referrer-Policy"] == "same-origin" and "no-store" in page["Cache-Control"]
    assert client.head(urls["approve"]).status_code == 200
    assert state(req) == before  # opening (or a mail scanner's GET/HEAD) changed nothing

    no_csrf = client.post(urls["approve"], {"comment": "x"})
    assert no_csrf.status_code == 403 and state(req) == before

    done = confirm(client, urls["approve"], django_capture_on_commit_callbacks, comment="ok for CHG-1001")
    assert done.status_code == 200 and "you approved it" in done.content.decode()
    req.refresh_from_db()
    assert req.status == AccessStatus.PENDING and req.level == 2  # level 1 approved, level 2 asked
    event = AuditEvent.objects.filter(action="privileged.request.level_approved").get()
    assert event.actor_id == pam["approver1"].pk and event.source == "email"
    assert received(smtp, "approver2@example.com")  # the next level is asked


def test_the_disapprove_link(links, pam, django_capture_on_commit_callbacks):
    req, urls = links
    done = confirm(Client(), urls["disapprove"], django_capture_on_commit_callbacks, comment="no ticket")
    assert done.status_code == 200 and "you disapproved it" in done.content.decode()
    req.refresh_from_db()
    assert req.status == AccessStatus.DISAPPROVED and req.close_reason == "no ticket"


def test_a_link_works_once(links, pam, django_capture_on_commit_callbacks):
    req, urls = links
    client = Client()
    confirm(client, urls["approve"], django_capture_on_commit_callbacks)
    after = state(req)
    for url in urls.values():
        page = client.get(url)
        assert page.status_code == 410 and "already decided" in page.content.decode()
        assert "approved by approver1" in page.content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(url, {"comment": "again"}).status_code == 410
    assert state(req) == after


def test_an_expired_link_is_refused(links, pam, django_capture_on_commit_callbacks):
    req, urls = links
    before = state(req)
    now = time.time()
    client = Client()
    with mock.patch("django.core.signing.time.time", return_value=now + 73 * 3600):
        page = client.get(urls["approve"])
        assert page.status_code == 410 and "This link has expired" in page.content.decode()
        assert "My approvals" in page.content.decode()
        assert client.post(urls["approve"], {}).status_code == 410
    assert state(req) == before


def test_the_link_is_for_its_approver_only(links, pam, django_capture_on_commit_callbacks):
    req, urls = links
    before = state(req)
    client = Client()
    client.force_login(pam["approver2"])  # another approver of the group, signed in
    page = client.get(urls["approve"])
    assert page.status_code == 403 and "This link is not yours" in page.content.decode()
    assert "signed in as approver2" in page.content.decode()
    assert client.post(urls["approve"], {}).status_code == 403
    assert state(req) == before
    client.force_login(pam["approver1"])  # its own approver signed in: fine
    assert confirm(client, urls["approve"], django_capture_on_commit_callbacks).status_code == 200


def test_a_changed_link_or_a_removed_approver_is_refused(links, pam, django_capture_on_commit_callbacks):
    req, urls = links
    before = state(req)
    client = Client()
    tampered = urls["approve"][:-3] + ("A" if urls["approve"][-3] != "A" else "B") + urls["approve"][-2:]
    page = client.get(tampered)
    assert page.status_code == 400 and "This link is not valid" in page.content.decode()
    task = open_task(req)
    task.assignees.remove(pam["approver1"])
    task.assignees.add(pam["approver2"])
    page = client.get(urls["approve"])
    assert page.status_code == 410 and "no longer an approver" in page.content.decode()
    assert client.post(urls["approve"], {}).status_code == 410
    assert state(req)[:2] == before[:2] and open_task(req).status == TaskStatus.OPEN


def test_a_link_of_a_finished_request_is_refused(links, pam, run, django_capture_on_commit_callbacks):
    req, urls = links
    run(access_request_cancel, actor=pam["dba1"], source="workspace", request=req)
    before = state(req)
    page = Client().get(urls["approve"])
    assert page.status_code == 410 and "canceled" in page.content.decode()
    assert state(req) == before


def test_an_inactive_approver_link_is_refused(links, pam):
    req, urls = links
    approver = pam["approver1"]
    approver.status = UserStatus.INACTIVE
    approver.save(update_fields=["status"])
    before = state(req)
    client = Client()
    page = client.get(urls["approve"])
    assert page.status_code == 403 and "is not active" in page.content.decode()
    assert client.post(urls["approve"], {}).status_code == 403
    assert state(req) == before
