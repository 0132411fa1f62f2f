"""Approvers answer a privileged access e-mail with APPROVE or DISAPPROVE (seed 003, "if the inbox
is configured"): a real Dovecot IMAP server holds the replies (delivered by IMAP APPEND), the
poller reads them, applies the decision through the flow's services, marks them seen, and answers
through a real SMTP server (aiosmtpd) with a confirmation or a refusal that says why."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import getaddresses, make_msgid
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from blazon.audit.models import AuditEvent
from directory.models import UserStatus
from privileged import inbox as inbox_module
from privileged.inbox import inbox_poll, inbox_wait
from privileged.links import find_tag, reply_tag
from privileged.models import AccessRequest, AccessStatus
from privileged.replies import decision_of, new_text
from privileged.services.flow import access_request_cancel
from privileged.services.groups import access_group_update
from privileged.tasks import poll_reply_inbox
from tests.privileged.dovecot import PASSWORD, USER, Dovecot, dovecot_binary
from tests.privileged.test_flow import ask, open_task
from tests.requests_workflow.test_email_approvals import body, received
from worklist.models import Queue, Task, TaskStatus

pytestmark = pytest.mark.django_db
BOX = "blazon-replies@example.test"


@pytest.fixture(scope="module")
def dovecot():
    binary = dovecot_binary()
    assert binary, "dovecot is not installed (apt-get install dovecot-imapd; .ci/run does it)"
    server = Dovecot(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def inbox(dovecot, smtp, settings):
    settings.BLAZON_REPLY_ADDRESS = BOX
    settings.BLAZON_REPLY_IMAP_HOST = "127.0.0.1"
    settings.BLAZON_REPLY_IMAP_PORT = dovecot.port
    settings.BLAZON_REPLY_IMAP_TLS = "none"
    settings.BLAZON_REPLY_IMAP_USER, settings.BLAZON_REPLY_IMAP_PASSWORD = USER, PASSWORD
    settings.BLAZON_REPLY_IMAP_MAILBOX, settings.BLAZON_REPLY_IMAP_DONE_MAILBOX = "INBOX", ""
    dovecot.empty()
    return dovecot


@dataclass
class Asked:
    req: AccessRequest
    mail: EmailMessage  # what approver1 received
    server: Dovecot


@pytest.fixture
def asked(run, pam, inbox, smtp):
    """dba1 asks for postgres; approver1 (level 1) gets the e-mail."""
    req = ask(run, pam)
    (mail,) = received(smtp, "approver1@example.com")
    smtp.messages.clear()
    return Asked(req, mail, inbox)


def reply(
    to_mail, text: str = "", *, sender="Approver One <APPROVER1@Example.com>", html: str = "", **headers
):
    """The approver's answer to ``to_mail``, as a mail program writes it."""
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = headers.pop("to", None) or to_mail["Reply-To"]
    message["Subject"] = headers.pop("subject", None) or "Re: " + to_mail["Subject"]
    message["Message-ID"] = make_msgid(domain="mail.example.com")
    message["In-Reply-To"] = "<original@blazon>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    if html:
        message.set_content(html, subtype="html")
    else:
        message.set_content(text)
    return message.as_bytes()


QUOTED = "\n\nOn Mon, 7 Dec 2026 at 10:00, Blazon <blazon@localhost> wrote:\n> DISAPPROVE\n> APPROVE\n"


def poll(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return dict(inbox_poll())


def answers(smtp, to):
    return [(m["Subject"], body(m)) for m in received(smtp, to)]


def state(req):
    """What a refused reply must leave as it was."""
    req.refresh_from_db()
    tasks = Task.objects.filter(subject_kind="access_request", subject_id=req.pk).order_by("pk")
    return req.status, req.level, list(tasks.values_list("status", "decided_by_id", "comment"))


def test_the_mail_carries_a_signed_reply_address_and_subject_tag(asked, pam):
    task = open_task(asked.req)
    tag = reply_tag(task, pam["approver1"])
    assert getaddresses([asked.mail["Reply-To"]])[0][1] == f"blazon-replies+{tag}@example.test"
    assert asked.mail["Subject"].endswith(f"[{tag}]")
    text = body(asked.mail)
    assert "reply to this e-mail with APPROVE or DISAPPROVE (APROVAR or REPROVAR)" in text
    assert "/privileged/links/" in text


def test_approve_by_reply_applies_once_confirms_and_marks_it_seen(
    asked,
    pam,
    smtp,
    django_capture_on_commit_callbacks,
):
    req, first = asked.req, open_task(asked.req)
    raw = reply(asked.mail, "Approve — checked with the DBA lead" + QUOTED)
    asked.server.deliver(raw)
    assert poll(django_capture_on_commit_callbacks) == {"applied": 1}
    first.refresh_from_db()
    req.refresh_from_db()
    assert first.status == TaskStatus.APPROVED and first.decided_by == pam["approver1"]
    assert first.comment == "— checked with the DBA lead"
    assert req.status == AccessStatus.PENDING and req.level == 2  # level 2 is asked next
    assert received(smtp, "approver2@example.com")  # ... by e-mail
    ((subject, text),) = answers(smtp, "approver1@example.com")
    assert subject.startswith("Recorded: you approved access request") and "level 1" in text
    assert asked.server.flags() == ["\\Seen"]
    event = AuditEvent.objects.get(action="privileged.reply.applied")
    assert event.actor_id == pam["approver1"].pk and event.new_values["decision"] == "approve"
    assert event.source == "email"

    # the same reply again (a replay): refused with why, nothing changed
    before = state(req)
    asked.server.deliver(raw)
    assert poll(django_capture_on_commit_callbacks) == {"refused": 1}
    assert state(req) == before
    subject, text = answers(smtp, "approver1@example.com")[-1]
    assert subject.startswith("Your reply was not applied") and "already approved" in text
    assert "Nothing was changed" in text
    assert AuditEvent.objects.filter(action="privileged.reply.refused").count() == 1
    assert poll(django_capture_on_commit_callbacks) == {}  # every message is seen now


def test_disapprove_keeps_the_rest_as_the_comment(asked, pam, smtp, django_capture_on_commit_callbacks):
    asked.server.deliver(reply(asked.mail, "DISAPPROVE. Not during the change freeze." + QUOTED))
    assert poll(django_capture_on_commit_callbacks) == {"applied": 1}
    req = asked.req
    req.refresh_from_db()
    assert req.status == AccessStatus.DISAPPROVED and req.close_reason == "Not during the change freeze."
    ((subject, text),) = answers(smtp, "approver1@example.com")
    assert subject.startswith("Recorded: you disapproved") and "now disapproved" in text
    assert received(smtp, "dba1@example.com")  # the requester hears of it as from the workspace


def test_portuguese_reply_below_em_escreveu(asked, pam, smtp, django_capture_on_commit_callbacks):
    text = (
        "APROVAR\n\nEm seg., 7 de dez. de 2026 às 10:00, Blazon <blazon@localhost>\nescreveu:\n> REPROVAR\n"
    )
    asked.server.deliver(reply(asked.mail, text))
    assert poll(django_capture_on_commit_callbacks) == {"applied": 1}
    asked.req.refresh_from_db()
    assert asked.req.level == 2


def test_html_only_reply_reads_the_new_text_not_the_quote(
    asked,
    pam,
    smtp,
    django_capture_on_commit_callbacks,
):
    html = (
        "<html><head><style>p{color:red}</style></head><body><div dir='ltr'><b>Reprovo</b>, sem ticket"
        "<br></div><div class='gmail_quote'>On Mon, 7 Dec 2026, Blazon wrote:<br>"
        "<blockquote>APPROVE</blockquote></div></body></html>"
    )
    asked.server.deliver(reply(asked.mail, html=html))
    assert poll(django_capture_on_commit_callbacks) == {"applied": 1}
    asked.req.refresh_from_db()
    assert asked.req.status == AccessStatus.DISAPPROVED and asked.req.close_reason == "sem ticket"


def test_a_reply_from_someone_else_is_refused_and_told_why(
    asked,
    pam,
    smtp,
    django_capture_on_commit_callbacks,
):
    before = state(asked.req)
    asked.server.deliver(reply(asked.mail, "APPROVE", sender="Eve <stranger@example.com>"))
    assert poll(django_capture_on_commit_callbacks) == {"refused": 1}
    assert state(asked.req) == before
    ((subject, text),) = answers(smtp, "stranger@example.com")
    assert "was sent to someone else" in text and "Nothing was changed" in text
    assert "approver1@example.com" not in text  # the approver's address is not given away
    assert not received(smtp, "approver1@example.com")
    event = AuditEvent.objects.get(action="privileged.reply.refused")
    assert event.new_values["reason"] == "not the approver's address" and event.actor_id is None
    assert asked.server.flags() == ["\\Seen"]


def test_a_forged_or_altered_tag_is_ignored_without_an_answer(
    asked,
    pam,
    smtp,
    django_capture_on_commit_callbacks,
):
    before = state(asked.req)
    task = open_task(asked.req)
    good = reply_tag(task, pam["approver1"])
    forged = good[:-4] + ("0000" if not good.endswith("0000") else "1111")
    other_task = f"pa-{task.pk + 1}-{pam['approver1'].pk}-{good.rsplit('-', 1)[1]}"
    for tag in (forged, other_task):
        asked.server.deliver(
            reply(asked.mail, "APPROVE", to=f"blazon-replies+{tag}@example.test", subject=f"Re: [{tag}]")
        )
    assert poll(django_capture_on_commit_callbacks) == {"ignored": 2}
    assert state(asked.req) == before and smtp.messages == []
    reasons = set(
        AuditEvent.objects.filter(action="privileged.reply.ignored").values_list(
            "new_values__reason", flat=True
        )
    )
    assert {r.split(" (")[0] for r in reasons} == {"a forged or altered approval tag"}


def test_a_reply_to_a_finished_request_is_refused(
    asked,
    pam,
    run,
    smtp,
    django_capture_on_commit_callbacks,
):
    run(access_request_cancel, actor=pam["dba1"], source="workspace", request=asked.req)
    smtp.messages.clear()
    before = state(asked.req)
    asked.server.deliver(reply(asked.mail, "approve"))
    assert poll(django_capture_on_commit_callbacks) == {"refused": 1}
    assert state(asked.req) == before
    ((subject, text),) = answers(smtp, "approver1@example.com")
    assert f"Access request #{asked.req.pk} is canceled: it can no longer be approved" in text


def test_the_requester_cannot_approve_their_own_request_by_reply(
    asked,
    pam,
    smtp,
    django_capture_on_commit_callbacks,
):
    # a genuine tag for the requester (as if they had been sent the approver's mail)
    tag = reply_tag(open_task(asked.req), pam["dba1"])
    before = state(asked.req)
    asked.server.deliver(
        reply(
            asked.mail,
            "APPROVE",
            sender="dba1@example.com",
            to=f"blazon-replies+{tag}@example.test",
            subject=f"Re: [{tag}]",
        )
    )
    assert poll(django_capture_on_commit_callbacks) == {"refused": 1}
    assert state(asked.req) == before
    ((_, text),) = answers(smtp, "dba1@example.com")
    assert "You cannot approve or disapprove your own access request." in text


@pytest.mark.parametrize(
    "text",
    ["Sounds good to me", "", "yes", "> APPROVE\n> quoted only", "Aprovação concedida"],
)
def test_a_reply_without_the_word_first_is_refused_clearly(
    asked,
    pam,
    smtp,
    django_capture_on_commit_callbacks,
    text,
):
    before = state(asked.req)
    asked.server.deliver(reply(asked.mail, text))
    assert poll(django_capture_on_commit_callbacks) == {"refused": 1}
    assert state(asked.req) == before
    ((_, answer),) = answers(smtp, "approver1@example.com")
    assert "is neither APPROVE nor DISAPPROVE (in Portuguese APROVAR or REPROVAR)" in answer


def test_automatic_replies_are_ignored_and_never_answered(
    asked,
    pam,
    smtp,
    django_capture_on_commit_callbacks,
):
    asked.server.deliver(reply(asked.mail, "I am out of the office", Auto_Submitted="auto-replied"))
    assert poll(django_capture_on_commit_callbacks) == {"ignored": 1}
    assert smtp.messages == []


def test_done_mailbox_and_the_command(asked, pam, smtp, settings, django_capture_on_commit_callbacks):
    settings.BLAZON_REPLY_IMAP_DONE_MAILBOX = "Done"
    asked.server.deliver(reply(asked.mail, "Approve"))
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("poll_replies", stdout=out)
    assert out.getvalue().strip() == "Replies: 1 applied"
    assert asked.server.flags() == [] and "\\Seen" in asked.server.flags("Done")[0]


def test_without_an_inbox_there_are_no_reply_instructions(run, pam, smtp, settings):
    settings.BLAZON_REPLY_IMAP_HOST = ""
    ask(run, pam)
    (mail,) = received(smtp, "approver1@example.com")
    assert mail["Reply-To"] is None and "[pa-" not in mail["Subject"]
    assert "reply to this e-mail" not in body(mail) and "/privileged/links/" in body(mail)
    assert inbox_poll() == {}
    with pytest.raises(CommandError, match="No reply inbox"):
        call_command("poll_replies")


@pytest.mark.parametrize(
    ("text", "decision"),
    [
        ("APPROVE", "approve"),
        ("approve.", "approve"),
        ("Approved!", "approve"),
        ("*APROVAR*", "approve"),
        ("aprovado, pode seguir", "approve"),
        ("DISAPPROVE", "reject"),
        ("Reject: no ticket", "reject"),
        ("reprovo", "reject"),
        ("Desaprovar", "reject"),
        ("negado.", "reject"),
        ("APROVE", None),
        ("ok", None),
        ("sim", None),
        ("aprovação", None),
    ],
)
def test_which_words_count(text, decision):
    assert decision_of(text)[0] == decision


def test_the_new_text_stops_at_the_quoted_mail():
    outlook = "Approve\r\n\r\n-----Original Message-----\r\nFrom: Blazon\r\nDISAPPROVE"
    assert new_text(outlook) == "Approve"
    assert new_text("\n\nDisapprove\n\nOn Tue, Blazon wrote:\n> APPROVE") == "Disapprove"
    assert new_text("Aprovar\n-- \nJoão, DBA\nAPPROVE") == "Aprovar"


def test_an_inactive_approver_cannot_decide_by_reply(asked, pam, smtp, django_capture_on_commit_callbacks):
    approver = pam["approver1"]
    approver.status = UserStatus.INACTIVE
    approver.save(update_fields=["status"])
    before = state(asked.req)
    asked.server.deliver(reply(asked.mail, "APPROVE"))
    assert poll(django_capture_on_commit_callbacks) == {"refused": 1}
    assert state(asked.req) == before
    ((_, text),) = answers(smtp, "approver1@example.com")
    assert "account is not active" in text


def test_an_unreadable_inbox_is_a_clear_error_and_the_task_waits(inbox, settings):
    settings.BLAZON_REPLY_IMAP_PASSWORD = "wrong"
    inbox.deliver(b"From: someone@example.com\r\nSubject: hi\r\n\r\nAPPROVE\r\n")
    with pytest.raises(CommandError, match="The reply inbox cannot be read"):
        call_command("poll_replies")
    assert poll_reply_inbox() == 0  # the periodic task logs it and tries again next time
    assert inbox.flags() == [""]  # still unseen


def test_idle_wakes_up_when_a_reply_arrives(inbox):
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(inbox_wait, 60)
        # deliver until the IDLE sees one: the first may land before the IDLE command is sent
        while not waiting.done():
            inbox.deliver(b"From: someone@example.com\r\nSubject: hi\r\n\r\nAPPROVE\r\n")
            time.sleep(0.2)
        assert waiting.result() is True


def test_a_reply_from_blazon_itself_is_never_answered(asked, pam, smtp, django_capture_on_commit_callbacks):
    before = state(asked.req)
    for sender in ("blazon-replies+pa-1-2-x@example.test", "Blazon <blazon@localhost>"):
        asked.server.deliver(reply(asked.mail, "APPROVE", sender=sender))
    assert poll(django_capture_on_commit_callbacks) == {"refused": 2}
    assert state(asked.req) == before and smtp.messages == []  # no loop with our own mail


def test_a_tag_made_before_a_secret_key_rotation_still_works(
    asked, pam, settings, django_capture_on_commit_callbacks
):
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-" + "x" * 40, [old_key]
    asked.server.deliver(reply(asked.mail, "APPROVE"))
    assert poll(django_capture_on_commit_callbacks) == {"applied": 1}
    settings.SECRET_KEY_FALLBACKS = []  # the old key retired: its tags are no longer genuine
    tag = reply_tag(open_task(asked.req), pam["approver2"])
    assert find_tag(f"x+{tag}@example.test").genuine
    settings.SECRET_KEY = old_key
    assert not find_tag(f"x+{tag}@example.test").genuine


@pytest.mark.parametrize("tls", ["ssl", "starttls"])
def test_the_inbox_over_tls_verifies_the_certificate(
    asked, pam, settings, smtp, django_capture_on_commit_callbacks, tls
):
    settings.BLAZON_REPLY_IMAP_TLS = tls
    settings.BLAZON_REPLY_IMAP_PORT = asked.server.tls_port if tls == "ssl" else asked.server.port
    asked.server.deliver(reply(asked.mail, "APPROVE"))
    settings.BLAZON_REPLY_IMAP_CA_FILE = ""  # the test CA is not trusted: refused, nothing read
    with pytest.raises(CommandError, match="CERTIFICATE_VERIFY_FAILED"):
        call_command("poll_replies")
    assert asked.server.flags() == [""]
    settings.BLAZON_REPLY_IMAP_CA_FILE = str(asked.server.ca_file)
    assert poll(django_capture_on_commit_callbacks) == {"applied": 1}


def test_one_poller_at_a_time(asked, pam, django_capture_on_commit_callbacks):
    """Another poller (another process: its own database session) holds the lock: this one
    reads nothing and leaves the reply for it."""
    params = connection.get_connection_params()
    other = psycopg.connect(**params, autocommit=True)
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [inbox_module._LOCK_KEY])
        asked.server.deliver(reply(asked.mail, "APPROVE"))
        assert poll(django_capture_on_commit_callbacks) == {}
        assert asked.server.flags() == [""]
        other.execute("SELECT pg_advisory_unlock(%s)", [inbox_module._LOCK_KEY])
        assert poll(django_capture_on_commit_callbacks) == {"applied": 1}
    finally:
        other.close()


def test_a_queue_member_answers_a_queue_level_and_a_member_who_left_cannot(
    run, pam, inbox, smtp, django_capture_on_commit_callbacks
):
    queue = Queue.objects.create(name="DBA leads")
    queue.members.add(pam["approver1"], pam["approver2"])
    access_group_update(
        actor=pam["admin"],
        source="console",
        group=pam["group"],
        data={"levels": [{"approver_kind": "QUEUE", "queue": "DBA leads"}, {"approver_kind": "OWNER"}]},
    )
    req = ask(run, pam)
    (to_one,) = received(smtp, "approver1@example.com")
    (to_two,) = received(smtp, "approver2@example.com")
    assert to_one["Reply-To"] != to_two["Reply-To"]  # each member has their own tag
    queue.members.remove(pam["approver1"])  # left the queue since the mail
    before = state(req)
    inbox.deliver(reply(to_one, "APPROVE"))
    assert poll(django_capture_on_commit_callbacks) == {"refused": 1}
    assert state(req) == before
    assert "You are not an approver of this task." in answers(smtp, "approver1@example.com")[-1][1]
    inbox.deliver(reply(to_two, "Aprovo", sender="approver2@example.com"))
    assert poll(django_capture_on_commit_callbacks) == {"applied": 1}
    req.refresh_from_db()
    assert req.level == 2 and list(open_task(req).assignees.values_list("username", flat=True)) == ["owner"]
