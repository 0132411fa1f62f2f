"""Celery tasks of privileged access: thin wrappers that call a service."""

from __future__ import annotations

import imaplib
import logging

from blazon.tasks import blazon_task

logger = logging.getLogger(__name__)


@blazon_task(atomic=False)  # an e-mail: marked done after it is sent, whatever the database does
def mail_access_task(task_id: int, user_ids: list[int] | None = None) -> int:
    """Tell an access task's approvers it waits for them. Idempotent per outbox row (the same
    Message-ID on a second delivery); a task decided meanwhile sends nothing."""
    # deferred: the services import this module to queue the e-mail (a cycle at load)
    from privileged.mail import access_task_mail

    return access_task_mail(task_id, user_ids)


@blazon_task(atomic=False)  # an e-mail, as above
def mail_access_event(request_id: int, event: str) -> int:
    """Tell the requester, the notified people (and for an emergency every approver) what
    happened to a request. Idempotent per outbox row (the same Message-ID on a second delivery)."""
    # deferred: the services import this module to queue the e-mail (a cycle at load)
    from privileged.mail import access_event_mail

    return access_event_mail(request_id, event)


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def expire_access_windows() -> int:
    """End the requests whose window is over: give the credentials back and rotate their
    passwords. Idempotent: a second run finds nothing to do."""
    # deferred: the services import this module to queue their e-mails (a cycle at load)
    from privileged.services.flow import access_requests_expire

    return access_requests_expire()


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def rotate_due_passwords() -> int:
    """Rotate the privileged passwords a rotation policy says are too old. Idempotent: a rotated
    password is young again, a second run finds nothing."""
    # deferred: the services import this module to queue their e-mails (a cycle at load)
    from privileged.services.rotation import rotations_run

    return rotations_run()


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def poll_reply_inbox() -> int:
    """Apply the approvers' e-mail replies waiting in the reply inbox (nothing when no inbox is
    configured). Safe to run twice: a read message is marked seen, a decided task refuses a
    second decision. Returns the number of replies handled."""
    # deferred: the services import this module to queue their e-mails (a cycle at load)
    from privileged.inbox import inbox_poll

    try:
        counts = inbox_poll()
    except (imaplib.IMAP4.error, OSError, ValueError) as exc:  # the next run tries again
        logger.warning("Reply inbox not read: %s", exc)
        return 0
    return sum(n for status, n in counts.items() if status != "failed")
