"""E-mail approvals (issue #3, section 7): a real SMTP server on localhost (aiosmtpd) receives
the approval e-mails; the tests read the messages, follow their links (GET changes nothing, the
POST decides as the link's approver) and check the refusals: replayed, expired, tampered,
reassigned links, and the form's CSRF protection."""

from __future__ import annotations

import email
import re
import socket
import time
from email.message import EmailMessage
from email.policy import default as default_policy
from unittest import mock

import pytest
from aiosmtpd.controller import Controller
from django.core import signing
from django.db import transaction
from django.test import Client

from blazon.audit.models import AuditEvent
from directory.models import EntitlementMembership
from requests_workflow import mail as approval_mail
from requests_workflow.models import RequestEvent, RequestStatus
from requests_workflow.services.approvals import task_approve
from requests_workflow.services.pipeline import request_process
from requests_workflow.services.reassign import task_reassign
from requests_workflow.services.requests import request_create
from tests.api.factories import UserFactory
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory, QueueFactory
from worklist.models import Task, TaskStatus

pytestmark = pytest.mark.django_db
R = RequestStatus
BASE = "http://blazon.test"
LINK = re.compile(r"http://blazon\.test/approvals/[^/\s\"<>]+/")


class Collect:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        parsed = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free localhost port; Django's SMTP backend points at it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.BLAZON_BASE_URL = BASE
    try:
        yield handler
    finally:
        controller.stop()


def received(smtp, to: str) -> list[EmailMessage]:
    return [m for rcpt, m in smtp.messages if to in rcpt]


def body(message: EmailMessage, kind: str = "plain") -> str:
    return message.get_body(preferencelist=(kind,)).get_content()


def links(message: EmailMessage) -> dict[str, str]:
    text = body(message)
    approve = re.search(r"Approve: (\S+)", text).group(1)
    reject = re.search(r"Reject:\s+(\S+)", text).group(1)
    assert LINK.fullmatch(approve) and LINK.fullmatch(reject)
    return {"approve": approve.removeprefix(BASE), "reject": reject.removeprefix(BASE)}


def snapshot(req) -> tuple:
    req.refresh_from_db()
    tasks = tuple(Task.objects.filter(request=req).order_by("id").values_list("status", "decided_by_id"))
    return (
        req.status,
        tasks,
        RequestEvent.objects.filter(request=req).count(),
        AuditEvent.objects.count(),
    )


def csrf_of(response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode()).group(1)


@pytest.fixture
def approvers(company):
    carol = UserFactory(username="carol", email="carol@example.com")
    dave = UserFactory(username="dave", email="dave@example.com")
    level = ApprovalLevelFactory(policy=ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"]))
    level.users.add(carol, dave)
    return carol, dave


def grant(run, c):
    return run(
        request_create,
        actor=c["alice"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=c["alice"],
        entitlement=c["ent"],
        justification="month-end close",
    )


@pytest.fixture
def pending(company, approvers, run, smtp):
    req = grant(run, company)
    assert req.status == R.WAITING_APPROVAL
    return req


def post(client, url, django_capture_on_commit_callbacks, **data):
    page = client.get(url)
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(url, {"csrfmiddlewaretoken": csrf_of(page), **data})


def test_approver_reads_the_mail_confirms_and_the_requester_is_told(
    company, approvers, pending, smtp, django_capture_on_commit_callbacks
):
    carol, dave = approvers
    (to_carol,) = received(smtp, "carol@example.com")
    assert len(received(smtp, "dave@example.com")) == 1
    assert f"request #{pending.pk}" in to_carol["Subject"]
    assert "month-end close" in body(to_carol) and "Payments (ERP)" in body(to_carol)
    html = body(to_carol, "html")
    carol_links = links(to_carol)
    assert BASE + carol_links["approve"] in html and BASE + carol_links["reject"] in html
    assert carol_links != links(received(smtp, "dave@example.com")[0])  # each approver has their own

    client = Client(enforce_csrf_checks=True)
    before = snapshot(pending)
    page = client.get(carol_links["approve"])
    assert page.status_code == 200
    text = page.content.decode()
    assert (
        f"Approve request #{pending.pk}?" in text and "month-end close" in text and "Payments (ERP)" in text
    )
    assert page["Referrer-Policy"] == "same-origin" and "no-store" in page["Cache-Control"]
    assert snapshot(pending) == before  # opening the link changed nothing

    done = post(client, carol_links["approve"], django_capture_on_commit_callbacks, comment="fine by me")
    assert done.status_code == 200 and "you approved it" in done.content.decode()
    pending.refresh_from_db()
    assert pending.status == R.FINISHED
    task = Task.objects.get(request=pending)
    assert task.status == TaskStatus.APPROVED and task.decided_by == carol and task.comment == "fine by me"
    assert EntitlementMembership.objects.filter(
        account__owner=company["alice"], entitlement=company["ent"]
    ).exists()

    (outcome,) = received(smtp, "alice@example.com")
    assert f"Request #{pending.pk} finished" in outcome["Subject"]
    assert "is finished" in body(outcome) and "is <strong>finished</strong>" in body(outcome, "html")


def test_a_link_works_once(company, approvers, pending, smtp, django_capture_on_commit_callbacks):
    carol_links = links(received(smtp, "carol@example.com")[0])
    dave_links = links(received(smtp, "dave@example.com")[0])
    client = Client()
    assert post(client, carol_links["approve"], django_capture_on_commit_callbacks).status_code == 200
    after = snapshot(pending)
    mails = len(smtp.messages)

    for url in (carol_links["approve"], carol_links["reject"], dave_links["approve"]):
        page = client.get(url)
        assert page.status_code == 410
        assert "already decided" in page.content.decode() and "approved by carol" in page.content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            replay = client.post(url, {"comment": "again"})
        assert replay.status_code == 410
    assert snapshot(pending) == after and len(smtp.messages) == mails


def test_reject_needs_a_reason_and_the_requester_gets_it(
    company, approvers, pending, smtp, django_capture_on_commit_callbacks
):
    reject = links(received(smtp, "dave@example.com")[0])["reject"]
    client = Client(enforce_csrf_checks=True)
    page = client.get(reject)
    assert f"Reject request #{pending.pk}?" in page.content.decode()
    before = snapshot(pending)

    blank = post(client, reject, django_capture_on_commit_callbacks, comment="   ")
    assert blank.status_code == 400 and "A rejection needs a reason." in blank.content.decode()
    assert snapshot(pending) == before

    done = post(client, reject, django_capture_on_commit_callbacks, comment="not your area")
    assert done.status_code == 200 and "you rejected it" in done.content.decode()
    pending.refresh_from_db()
    assert pending.status == R.REJECTED
    assert Task.objects.get(request=pending).decided_by == approvers[1]
    (outcome,) = received(smtp, "alice@example.com")
    assert "rejected" in outcome["Subject"] and "not your area" in body(outcome)


def test_an_expired_link_is_refused(
    company, approvers, pending, smtp, settings, django_capture_on_commit_callbacks
):
    approve = links(received(smtp, "carol@example.com")[0])["approve"]
    before = snapshot(pending)
    now = time.time()
    with mock.patch("django.core.signing.time.time", return_value=now + 71 * 3600):
        assert Client().get(approve).status_code == 200  # within the default 72 hours
    with mock.patch("django.core.signing.time.time", return_value=now + 73 * 3600):
        page = Client().get(approve)
        assert page.status_code == 410 and "This link has expired" in page.content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            assert Client().post(approve).status_code == 410
    settings.BLAZON_APPROVAL_LINK_HOURS = 1
    with mock.patch("django.core.signing.time.time", return_value=now + 2 * 3600):
        assert Client().get(approve).status_code == 410
    assert snapshot(pending) == before


def test_a_tampered_or_forged_link_is_refused(company, approvers, pending, smtp, caplog):
    carol, dave = approvers
    approve = links(received(smtp, "carol@example.com")[0])["approve"]
    token = approve.split("/")[2]
    data = signing.loads(token, salt=approval_mail.SALT)
    forged = {
        "changed character": token[:5] + ("A" if token[5] != "A" else "B") + token[6:],
        "other approver": signing.dumps({**data, "u": dave.pk}, salt="wrong salt"),
        "unsalted": signing.dumps(data),
        "garbage": "not-a-token",
    }
    before = snapshot(pending)
    with caplog.at_level("DEBUG"):
        for name, bad in forged.items():
            page = Client().get(f"/approvals/{bad}/")
            assert page.status_code == 400, name
            assert "This link is not valid" in page.content.decode()
            assert Client().post(f"/approvals/{bad}/", {"comment": "x"}).status_code == 400
    assert snapshot(pending) == before
    assert token not in caplog.text and "/approvals/" not in caplog.text  # links are never logged


def test_a_link_acts_only_as_its_approver(
    company, approvers, pending, smtp, django_capture_on_commit_callbacks
):
    carol, dave = approvers
    carol_approve = links(received(smtp, "carol@example.com")[0])["approve"]
    client = Client()
    client.force_login(dave)
    page = client.get(carol_approve)
    assert "You are signed in as <strong>dave</strong>" in page.content.decode()
    assert "Approve as carol" in page.content.decode()
    done = post(client, carol_approve, django_capture_on_commit_callbacks)
    assert done.status_code == 200 and "Recorded as <strong>carol</strong>" in done.content.decode()
    task = Task.objects.get(request=pending)
    assert task.decided_by == carol
    assert AuditEvent.objects.filter(action="task.approved", actor=carol).exists()
    assert not AuditEvent.objects.filter(action="task.approved", actor=dave).exists()


def test_a_reassigned_task_kills_the_old_links(
    company, approvers, pending, smtp, run, django_capture_on_commit_callbacks
):
    carol, dave = approvers
    erin = UserFactory(username="erin", email="erin@example.com")
    old = links(received(smtp, "carol@example.com")[0])
    task = Task.objects.get(request=pending)
    run(task_reassign, actor=carol, source="workspace", task=task, to_user=erin)
    (to_erin,) = received(smtp, "erin@example.com")  # the new approver gets their own links
    before = snapshot(pending)
    page = Client().get(old["approve"])
    assert page.status_code == 410 and "no longer an approver" in page.content.decode()

    # the task comes back to carol: her first links stay dead, the new e-mail's links work
    run(task_reassign, actor=erin, source="workspace", task=task, to_user=carol)
    first, second = received(smtp, "carol@example.com")
    assert links(second) != old
    assert Client().get(old["approve"]).status_code == 410
    assert snapshot(pending)[0:2] == before[0:2]
    done = post(Client(), links(second)["approve"], django_capture_on_commit_callbacks)
    assert done.status_code == 200
    assert Task.objects.get(request=pending).decided_by == carol
    assert Client().get(links(to_erin)["approve"]).status_code == 410


def test_the_confirmation_form_is_csrf_protected(
    company, approvers, pending, smtp, django_capture_on_commit_callbacks
):
    approve = links(received(smtp, "carol@example.com")[0])["approve"]
    client = Client(enforce_csrf_checks=True)
    client.get(approve)
    before = snapshot(pending)
    with django_capture_on_commit_callbacks(execute=True):
        refused = client.post(approve, {"comment": "no token"})
    assert refused.status_code == 403
    assert snapshot(pending) == before


def test_queue_members_get_links_and_levels_mail_the_next_approvers(
    company, run, smtp, django_capture_on_commit_callbacks
):
    frank = UserFactory(username="frank", email="frank@example.com")
    gina = UserFactory(username="gina", email="gina@example.com")
    queue = QueueFactory()
    queue.members.add(frank)
    policy = ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"])
    ApprovalLevelFactory(policy=policy, position=1, approver_kind="QUEUE", queue=queue)
    level2 = ApprovalLevelFactory(policy=policy, position=2, approver_kind="USERS")
    level2.users.add(gina)
    req = grant(run, company)
    assert received(smtp, "gina@example.com") == []
    (to_frank,) = received(smtp, "frank@example.com")
    assert post(Client(), links(to_frank)["approve"], django_capture_on_commit_callbacks).status_code == 200
    req.refresh_from_db()
    assert req.status == R.WAITING_APPROVAL and req.approval_level == 2
    (to_gina,) = received(smtp, "gina@example.com")
    assert "level 2" in body(to_gina)
    # deciding in "My tasks" instead also makes the mailed links single-use
    run(task_approve, actor=gina, source="workspace", task=Task.objects.get(request=req, level=2))
    assert Client().get(links(to_gina)["approve"]).status_code == 410


def test_a_new_user_request_is_mailed_and_decided_before_the_user_exists(
    company, run, smtp, django_capture_on_commit_callbacks
):
    ApprovalLevelFactory(policy=ApprovalPolicyFactory(request_types=["CREATE_USER"]), approver_kind="MANAGER")
    req = run(
        request_create,
        actor=company["admin"],
        source="console",
        request_type="CREATE_USER",
        payload={"user": {"first_name": "Nina", "last_name": "Souza", "username": "nina", "manager": "boss"}},
    )
    (to_boss,) = received(smtp, company["boss"].email)
    assert "For:           Nina Souza" in body(to_boss) and "Nina Souza" in to_boss["Subject"]
    approve = links(to_boss)["approve"]
    assert "Nina Souza" in Client().get(approve).content.decode()
    assert post(Client(), approve, django_capture_on_commit_callbacks).status_code == 200
    req.refresh_from_db()
    assert req.status == R.FINISHED and req.beneficiary.username == "nina"


class _Undo(Exception):
    pass


def test_a_request_that_finishes_in_a_rolled_back_transaction_mails_nobody(
    company, approvers, pending, smtp, django_capture_on_commit_callbacks
):
    """The outcome e-mail is queued for after commit by the service that ends the request: a
    change that is rolled back tells nobody; the same change committed tells the requester."""
    task = Task.objects.get(request=pending)
    mails = len(smtp.messages)

    def approve_and_finish() -> None:
        task_approve(actor=approvers[0], source="workspace", task=task, comment="ok")
        request_process(request_id=pending.pk)
        pending.refresh_from_db()
        assert pending.status == R.FINISHED

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(_Undo), transaction.atomic():
        approve_and_finish()
        raise _Undo
    pending.refresh_from_db()
    assert pending.status == R.WAITING_APPROVAL
    assert len(smtp.messages) == mails and not received(smtp, "alice@example.com")

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        approve_and_finish()
    (outcome,) = received(smtp, "alice@example.com")
    assert f"Request #{pending.pk} finished" in outcome["Subject"]
