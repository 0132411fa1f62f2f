"""The notify layer: notifications (e-mail today) are queued by the service that causes them, when
its transaction commits — never from model signals, never inside the transaction.

A notification is a Celery task taking ids (it reloads what it needs and may find the thing
already decided or gone: it then sends nothing). ``on_commit`` queues it once the current
transaction commits, so a rolled-back change notifies nobody and a slow or failing mail server
never holds up the change.
"""

from __future__ import annotations

from typing import Any

from blazon.tasks import enqueue_on_commit


def on_commit(notification: Any, *args: Any, **kwargs: Any) -> None:
    """Queue ``notification`` (a Celery task) with ``args`` when the current transaction commits
    (at once if none is open)."""
    enqueue_on_commit(notification, *args, **kwargs)
