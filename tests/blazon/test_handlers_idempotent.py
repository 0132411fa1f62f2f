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
* the e-mails (``mail_request_outcome``, ``mail_approval_requests``, ``send_security_alert``):
  here — one outbox row delivered twice sends one mail.
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
