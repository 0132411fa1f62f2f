"""Celery tasks of SoD: thin wrappers that call a service."""

from __future__ import annotations

from blazon.tasks import blazon_task


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def scan_violations() -> dict[str, int]:
    """The detective SoD scan (periodic). Idempotent: a second run finds the same violations
    and changes nothing."""
    # deferred: the SoD services import this module to queue its e-mail (a cycle at load)
    from sod.services.scan import sod_scan

    return sod_scan().as_dict()


@blazon_task(atomic=False)  # an e-mail: marked done after it is sent, whatever the database does
def mail_sod_task(task_id: int, user_ids: list[int] | None = None) -> int:
    """Tell the rule owner(s) that a request waits for their SoD decision (a link to the task in
    "My tasks"). Idempotent per outbox row (marked done once sent: a second delivery sends
    nothing); a task decided meanwhile, or a detected violation's task (those are listed in
    "My tasks" and the console, without one e-mail per violation), sends nothing."""
    # deferred: the SoD services import this module to queue its e-mail (a cycle at load)
    from sod.mail import sod_task_mail

    return sod_task_mail(task_id, user_ids)


@blazon_task(atomic=False)  # an e-mail: marked done after it is sent, whatever the database does
def mail_role_change_task(task_id: int, user_ids: list[int] | None = None) -> int:
    """Tell a role-change step's approvers that it waits for them. Idempotent per outbox row; a
    task decided meanwhile sends nothing."""
    # deferred: the SoD services import this module to queue its e-mail (a cycle at load)
    from sod.mail import role_change_task_mail

    return role_change_task_mail(task_id, user_ids)
