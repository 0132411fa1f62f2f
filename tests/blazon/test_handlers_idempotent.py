"""Every outbox handler is idempotent: delivered twice, it has one effect.

Where the proof lives for each registered handler (the docstring test in ``test_outbox`` makes
each say so):

* ``process_request``: here, and ``tests/requests_workflow/test_pipeline.py::
  test_running_the_stage_task_twice_has_one_effect``;
* ``process_requests_batch``: here;
* ``run_import``: ``tests/requests_workflow/test_import.py::
  test_a_job_runs_once_and_the_task_is_safe_to_run_twice``;
* ``apply_role_change``: here, and with a real worker and a redelivered message in
  ``tests/platform/test_celery_worker.py::test_a_task_delivered_twice_has_one_effect``;
* ``open_manual_tasks``: ``tests/provisioning/test_manual_mode.py::
  test_role_fan_out_opens_one_task_per_entry_in_constant_statements`` (second run: nothing);
* the e-mails (``mail_request_outcome``, ``mail_approval_requests``, ``send_security_alert``,
  ``mail_expiry_notice``, ``mail_password_changed``/``mail_reset_link``; ``mail_task_reminders``
  in ``tests/requests_workflow/test_sla_escalation.py``): here — one outbox row delivered twice
  sends one mail, and a row delivered again after its worker died between the SMTP server's
  acceptance and "done" sends the same message (same Message-ID), never a different one.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.outbox import registry
from blazon.outbox.models import OutboxMessage, OutboxStatus
from blazon.outbox.services import outbox_deliver, outbox_write
from directory.models import (
    Account,
    ConsoleRole,
    EntitlementMembership,
    Resource,
    Role,
    RoleChange,
    RoleChangeStatus,
    RoleMembership,
    default_provisioning_modes,
)
from directory.services import access
from requests_workflow.models import Request, RequestStatus
from requests_workflow.services.requests import request_create
from security.models import SecurityAlert
from tests.api.factories import EntitlementFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def grant(db):
    res = Resource.objects.create(code="idem", name="Idem", provisioning_modes=default_provisioning_modes())
    users = [UserFactory(username=f"idem{i}", email=f"idem{i}@example.com") for i in range(3)]
    for u in users:
        Account.objects.create(resource=res, owner=u, identifier=u.username)
    admin = UserFactory(username="idemadmin", console_role=ConsoleRole.ADMINISTRATOR, email="")
    return {"users": users, "ent": EntitlementFactory(resource=res), "admin": admin}


def _request(grant, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # the handler is run by hand
        return request_create(
            actor=grant["admin"],
            source="api",
            request_type="GRANT_ENTITLEMENT",
            beneficiary=user,
            entitlement=grant["ent"],
            justification="idempotent",
        )


def _effects(req):
    return (
        Request.objects.get(pk=req.pk).status,
        EntitlementMembership.objects.filter(account__owner=req.beneficiary).count(),
        AuditEvent.objects.filter(action="request.applied", object_id=str(req.pk)).count(),
    )


def _handler(name):
    found = registry.handler(name)
    assert found is not None, name
    return found.func


def test_process_request_twice_has_one_effect(grant, django_capture_on_commit_callbacks):
    req = _request(grant, grant["users"][0], django_capture_on_commit_callbacks)
    process = _handler("requests_workflow.tasks.process_request")
    with django_capture_on_commit_callbacks(execute=False):
        process(req.pk)
        once = _effects(req)
        process(req.pk)
    assert once == _effects(req) == (RequestStatus.FINISHED, 1, 1)


def test_process_requests_batch_twice_has_one_effect(grant, django_capture_on_commit_callbacks):
    reqs = [_request(grant, u, django_capture_on_commit_callbacks) for u in grant["users"]]
    batch = _handler("requests_workflow.tasks.process_requests_batch")
    with django_capture_on_commit_callbacks(execute=False):
        batch([r.pk for r in reqs])
        once = [_effects(r) for r in reqs]
        assert batch([r.pk for r in reqs]) == {"set": 0, "single": 0, "skipped": 3}
    assert once == [_effects(r) for r in reqs] == [(RequestStatus.FINISHED, 1, 1)] * 3


def test_apply_role_change_twice_has_one_effect(grant, django_capture_on_commit_callbacks):
    role = Role.objects.create(code="idem-role", name="Idem role")
    RoleMembership.objects.bulk_create([RoleMembership(role=role, user=u) for u in grant["users"]])
    with django_capture_on_commit_callbacks(execute=False):
        change = access.role_change_submit(
            actor=None, source="console", role=role, action="ADD", entitlement=grant["ent"]
        )
    apply = _handler("directory.tasks.apply_role_change")
    with django_capture_on_commit_callbacks(execute=False):
        apply(change.pk)
        apply(change.pk)
    assert RoleChange.objects.get(pk=change.pk).status == RoleChangeStatus.DONE
    assert EntitlementMembership.objects.filter(entitlement=grant["ent"]).count() == 3
    assert AuditEvent.objects.filter(action="role.change_applied", object_id=str(change.pk)).count() == 1


def _deliver_twice(row):
    assert outbox_deliver(message_id=row.pk) == "done"
    sent = len(mail.outbox)
    assert outbox_deliver(message_id=row.pk) == "absent"  # a redelivered message, a relay
    assert len(mail.outbox) == sent
    assert OutboxMessage.objects.get(pk=row.pk).status == OutboxStatus.DONE
    return sent


def test_the_outcome_mail_delivered_twice_is_sent_once(grant, django_capture_on_commit_callbacks):
    req = _request(grant, grant["users"][0], django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        _handler("requests_workflow.tasks.process_request")(req.pk)
    mail.outbox.clear()
    row = OutboxMessage.objects.get(
        kind="requests_workflow.tasks.mail_request_outcome", payload__args=[req.pk]
    )
    assert _deliver_twice(row) == 1
    assert mail.outbox[0].to == ["idem0@example.com"]


def test_the_security_alert_delivered_twice_is_sent_once(grant):
    UserFactory(username="secadmin", console_role=ConsoleRole.ADMINISTRATOR, email="sec@example.com")
    alert = SecurityAlert.objects.create(
        created_at=timezone.now(),
        pattern="ip_failures",
        kind="IP",
        key="203.0.113.9",
        detail={"failures": 50},
    )
    row = outbox_write("security.tasks.send_security_alert", alert.pk)
    mail.outbox.clear()
    assert _deliver_twice(row) == 1


def test_the_approval_mail_delivered_twice_is_sent_once(grant):
    from worklist.models import TaskKind
    from worklist.services import task_open

    approver = UserFactory(username="approver", email="approver@example.com")
    req = Request.objects.create(
        type="GRANT_ENTITLEMENT", source="api", beneficiary=grant["users"][1], entitlement=grant["ent"]
    )
    task = task_open(kind=TaskKind.APPROVAL, title="Approve", assignees=[approver], request=req)
    row = outbox_write("requests_workflow.tasks.mail_approval_requests", task.pk, [approver.pk])
    mail.outbox.clear()
    assert _deliver_twice(row) == 1
    assert mail.outbox[0].to == ["approver@example.com"]


# --- e-mail across a lost worker: the same message again, never a different one ----------------


def _as_if_the_worker_died_before_done(row):
    """The state a SIGKILL leaves between the SMTP server's 250 and the row's "done": the mail
    went out, the row is still PENDING and due again."""
    OutboxMessage.objects.filter(pk=row.pk).update(status=OutboxStatus.PENDING, done_at=None)


def test_an_outcome_mail_delivered_again_after_a_lost_worker_carries_the_same_message_id(
    grant, django_capture_on_commit_callbacks
):
    first_req = _request(grant, grant["users"][0], django_capture_on_commit_callbacks)
    second_req = _request(grant, grant["users"][1], django_capture_on_commit_callbacks)
    for req in (first_req, second_req):
        with django_capture_on_commit_callbacks(execute=False):
            _handler("requests_workflow.tasks.process_request")(req.pk)
    rows = [
        OutboxMessage.objects.get(kind="requests_workflow.tasks.mail_request_outcome", payload__args=[r.pk])
        for r in (first_req, second_req)
    ]
    mail.outbox.clear()
    assert outbox_deliver(message_id=rows[0].pk) == "done"
    _as_if_the_worker_died_before_done(rows[0])
    assert outbox_deliver(message_id=rows[0].pk) == "done"
    assert outbox_deliver(message_id=rows[1].pk) == "done"
    ids = [m.message()["Message-ID"] for m in mail.outbox]
    assert len(ids) == 3
    # the re-send is the same message (receivers show it once); another request's is another
    assert ids[0] == ids[1]
    assert ids[2] != ids[0]
    assert ids[0].startswith(f"<blazon.{rows[0].pk}.") and ids[0].endswith("@localhost>")


def test_each_message_of_one_row_has_its_own_stable_message_id(grant):
    from worklist.models import TaskKind
    from worklist.services import task_open

    approvers = [UserFactory(username=f"appr{i}", email=f"appr{i}@example.com") for i in range(2)]
    req = Request.objects.create(
        type="GRANT_ENTITLEMENT", source="api", beneficiary=grant["users"][1], entitlement=grant["ent"]
    )
    task = task_open(kind=TaskKind.APPROVAL, title="Approve", assignees=approvers, request=req)
    row = outbox_write("requests_workflow.tasks.mail_approval_requests", task.pk, [a.pk for a in approvers])
    mail.outbox.clear()
    assert outbox_deliver(message_id=row.pk) == "done"
    first = [(m.to, m.message()["Message-ID"]) for m in mail.outbox]
    _as_if_the_worker_died_before_done(row)
    mail.outbox.clear()
    assert outbox_deliver(message_id=row.pk) == "done"
    again = [(m.to, m.message()["Message-ID"]) for m in mail.outbox]
    assert first == again
    assert len({mid for _, mid in first}) == 2


def test_a_mail_server_that_is_down_leaves_the_mail_pending_and_the_retry_sends_it(grant, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    UserFactory(username="secadmin2", console_role=ConsoleRole.ADMINISTRATOR, email="sec2@example.com")
    alert = SecurityAlert.objects.create(
        created_at=timezone.now(), pattern="ip_failures", kind="IP", key="203.0.113.7", detail={"failures": 9}
    )
    row = outbox_write("security.tasks.send_security_alert", alert.pk)
    assert outbox_deliver(message_id=row.pk) == "retry"
    row.refresh_from_db()
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert "ConnectionRefused" in row.last_error or "OSError" in row.last_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    OutboxMessage.objects.filter(pk=row.pk).update(available_at=timezone.now())
    mail.outbox.clear()
    assert outbox_deliver(message_id=row.pk) == "done"
    assert [m.subject for m in mail.outbox] == ["[Blazon] Security alert: " + alert.get_pattern_display()]


def test_mail_sent_outside_the_outbox_still_reports_a_down_server_without_raising(settings, caplog):
    from django.core.mail import EmailMessage

    from blazon.notify import send_messages

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    message = EmailMessage("Hi", "body", "blazon@example.com", ["x@example.com"])
    assert send_messages([message], what="a direct mail") == 0
    assert "E-mail (a direct mail) not sent" in caplog.text
    assert "Message-ID" not in message.extra_headers


def test_the_password_mails_are_outbox_work_delivered_once(grant, django_capture_on_commit_callbacks):
    from passwords.models import PasswordResetLink
    from passwords.services import reset_link_create

    user, admin = grant["users"][2], grant["admin"]
    with django_capture_on_commit_callbacks(execute=False):
        first = reset_link_create(user=user, actor=admin, source="console", base_url="http://testserver/")
    row = OutboxMessage.objects.get(kind="passwords.tasks.mail_reset_link", payload__args__0=str(first.pk))
    mail.outbox.clear()
    assert _deliver_twice(row) == 1
    assert "/password/reset/link/" in mail.outbox[0].body and mail.outbox[0].to == [user.email]
    # the token is made when the mail is sent: it is in no outbox row
    assert "reset/link" not in str(
        OutboxMessage.objects.filter(kind__startswith="passwords.").values("payload")
    )
    # a link superseded before its mail went out is not sent at all
    with django_capture_on_commit_callbacks(execute=False):
        reset_link_create(user=user, actor=admin, source="console", base_url="http://testserver/")
        reset_link_create(user=user, actor=admin, source="console", base_url="http://testserver/")
    superseded, latest = PasswordResetLink.objects.filter(user=user).order_by("created_at", "pk")[1:3]
    mail.outbox.clear()
    for link in (superseded, latest):
        outbox_deliver(
            message_id=OutboxMessage.objects.get(
                kind="passwords.tasks.mail_reset_link", payload__args__0=str(link.pk)
            ).pk
        )
    assert len(mail.outbox) == 1


def test_the_expiry_notice_is_outbox_work_delivered_once(grant, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from requests_workflow.services.timebound import requests_notify_expiring

    req = _request(grant, grant["users"][0], django_capture_on_commit_callbacks)
    Request.objects.filter(pk=req.pk).update(
        status=RequestStatus.FINISHED, end_at=timezone.now() + timedelta(hours=5)
    )
    with django_capture_on_commit_callbacks(execute=False):
        assert requests_notify_expiring() == 1
    row = OutboxMessage.objects.get(kind="requests_workflow.tasks.mail_expiry_notice", payload__args=[req.pk])
    mail.outbox.clear()
    assert _deliver_twice(row) == 1
    assert mail.outbox[0].to == ["idem0@example.com"] and "ends on" in mail.outbox[0].subject
