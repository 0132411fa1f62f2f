"""The notify layer: notifications (e-mail today) are queued by the service that causes them, when
its transaction commits — never from model signals, never inside the transaction.

A notification is a Celery task taking ids (it reloads what it needs and may find the thing
already decided or gone: it then sends nothing). ``on_commit`` queues it once the current
transaction commits, so a rolled-back change notifies nobody and a slow or failing mail server
never holds up the change.

Every notification sends through ``send_messages``. Inside an outbox delivery each message gets a
``Message-ID`` derived from the outbox row (``outbox_idempotency_key``), the same on every
delivery of that row: if a worker dies after the SMTP server accepted a message and before the
row was marked done, the second delivery sends the *same* message again, which mail systems
recognise by its Message-ID (RFC 5322 §3.6.4) and show once — never a second, different e-mail.
A mail server that refuses or is down makes the delivery fail, so the outbox retries it with
back-off (and dead-letters it after its attempts) instead of losing it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from blazon.outbox.services import outbox_idempotency_key
from blazon.tasks import enqueue_on_commit

logger = logging.getLogger(__name__)


def on_commit(notification: Any, *args: Any, **kwargs: Any) -> None:
    """Queue ``notification`` (a Celery task) with ``args`` when the current transaction commits
    (at once if none is open)."""
    enqueue_on_commit(notification, *args, **kwargs)


def message_id_domain() -> str:
    """The right-hand side of Blazon's Message-IDs: the sender address's domain (stable across
    hosts, unlike the host name Django would use)."""
    found = re.search(r"@([A-Za-z0-9.-]+)", str(settings.DEFAULT_FROM_EMAIL))
    return found.group(1) if found else "blazon.invalid"


def send_messages(messages: Sequence[EmailMessage], *, what: str) -> int:
    """Send ``messages`` through Django's e-mail backend; how many were sent.

    In an outbox delivery: each message is stamped with its stable Message-ID and a failure
    raises (the outbox retries the row). Outside one (a direct call): a failure is logged and
    0 returned — the change that caused the mail has committed and is never undone for it."""
    if not messages:
        return 0
    domain = message_id_domain()
    stamped = False
    for message in messages:
        key = outbox_idempotency_key()
        if key is not None:
            message.extra_headers["Message-ID"] = f"<blazon.{key}@{domain}>"
            stamped = True
    try:
        with get_connection() as connection:
            return connection.send_messages(list(messages)) or 0
    except Exception as exc:
        if stamped:
            raise
        logger.warning("E-mail (%s) not sent: %s", what, type(exc).__name__)
        return 0
