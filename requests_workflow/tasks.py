"""Celery tasks of the request pipeline: thin wrappers that reload by id and call a service;
each is safe to run twice (the services re-check the status under a row lock)."""

from __future__ import annotations

from blazon.tasks import blazon_task


@blazon_task()
def process_request(request_id: int) -> str:
    """Advance a request through the stages it can reach now. Idempotent: ``request_process``
    locks the request and only does what its status still calls for."""
    # deferred: the request services and mail import this module to enqueue its tasks (a cycle at load)
    from requests_workflow.services.pipeline import request_process

    return request_process(request_id=request_id).status


@blazon_task()
def process_requests_batch(request_ids: list[int]) -> dict[str, int]:
    """Advance a batch of new requests (an import's batch) set-based through stages 3-5.
    Idempotent: only requests still NEW are taken (locked, SKIP LOCKED)."""
    # deferred: the request services and mail import this module to enqueue its tasks (a cycle at load)
    from requests_workflow.services.bulk import requests_process_many

    return requests_process_many(request_ids)


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def start_due_requests() -> int:
    """Apply approved requests whose access period has started (periodic sweep)."""
    # deferred: the request services and mail import this module to enqueue its tasks (a cycle at load)
    from requests_workflow.services.timebound import requests_start_due

    return requests_start_due()


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def notify_expiring_access() -> int:
    """E-mail beneficiaries whose time-bound access ends soon (periodic)."""
    # deferred: the request services and mail import this module to enqueue its tasks (a cycle at load)
    from requests_workflow.services.timebound import requests_notify_expiring

    return requests_notify_expiring()


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def end_expired_access() -> int:
    """Create the revoke requests of time-bound accesses past their end (periodic)."""
    # deferred: the request services and mail import this module to enqueue its tasks (a cycle at load)
    from requests_workflow.services.timebound import requests_end_due

    return requests_end_due()


@blazon_task(atomic=False, lease_seconds=1800)
def run_import(job_id: int) -> str:
    """Create the requests of a started CSV import (batches, progress, result rows).
    Idempotent: lines already recorded are skipped, a finished import is left alone. Its
    batches commit one by one, so it runs outside the outbox row's transaction (a long lease)."""
    # deferred: the request services and mail import this module to enqueue its tasks (a cycle at load)
    from requests_workflow.services.imports.run import import_execute

    return import_execute(job_id=job_id).status


@blazon_task(atomic=False)  # an e-mail: marked done after it is sent, whatever the database does
def mail_approval_requests(task_id: int, user_ids: list[int] | None = None) -> int:
    """E-mail the approvers of an open approval task (or only ``user_ids``) their links.
    Idempotent per outbox row: the row is marked done once the mail is sent (waiting out a
    database restart), so a second delivery of it sends nothing; a decided task is mailed no more."""
    # deferred: the request services and mail import this module to enqueue its tasks (a cycle at load)
    from requests_workflow.mail import send_for_task

    return send_for_task(task_id, user_ids)


@blazon_task(atomic=False)  # an e-mail: marked done after it is sent, whatever the database does
def mail_request_outcome(request_id: int) -> int:
    """E-mail the requester and the beneficiary how a request ended. Idempotent per outbox
    row (marked done once the mail is sent, waiting out a database restart: a second delivery
    sends nothing)."""
    # deferred: the request services and mail import this module to enqueue its tasks (a cycle at load)
    from requests_workflow.mail import send_request_outcome
    from requests_workflow.models import Request

    return send_request_outcome(Request(pk=request_id))


@blazon_task(atomic=False)  # an e-mail: marked done after it is sent, whatever the database does
def mail_task_reminders(task_id: int, user_ids: list[int]) -> int:
    """E-mail the reminders of an escalation step. Idempotent per outbox row: marked done once
    sent; a second delivery after a lost worker resends the same messages (same Message-IDs)."""
    # deferred: the request services and mail import this module to enqueue its tasks (a cycle at load)
    from requests_workflow.services.sla import task_reminders_send

    return task_reminders_send(task_id, user_ids)


@blazon_task(atomic=False)  # an e-mail: marked done after it is sent, whatever the database does
def mail_expiry_notice(request_id: int) -> int:
    """E-mail a beneficiary that their time-bound access ends soon. Idempotent per outbox row:
    marked done once sent; a second delivery resends the same message (same Message-ID)."""
    # deferred: the request services and mail import this module to enqueue its tasks (a cycle at load)
    from requests_workflow.services.timebound import expiry_notice_send

    return expiry_notice_send(request_id)


@blazon_task(atomic=False)  # an e-mail: marked done after it is sent, whatever the database does
def mail_password_reset(request_id: int, sealed: dict) -> int:
    """E-mail the new password of a RESET_PASSWORD request (sealed in the row). Idempotent per
    outbox row: marked done once sent; a second delivery resends the same message."""
    # deferred: the request services and mail import this module to enqueue its tasks (a cycle at load)
    from requests_workflow.types import password_reset_mail_send

    return password_reset_mail_send(request_id, sealed)


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def escalate_due_tasks() -> int:
    """Run the escalation steps (remind, escalate) of open tasks that are due (periodic)."""
    # deferred: the request services and mail import this module to enqueue its tasks (a cycle at load)
    from requests_workflow.services.sla import tasks_escalate_due

    return tasks_escalate_due()
