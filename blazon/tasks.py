"""The project's one Celery task decorator and the one helper that defers work to after commit.

Tasks take ids, reload, call a service, and must be safe to run twice. Work deferred with
``enqueue_on_commit`` is a row of the transactional outbox (``blazon.outbox``), written in the
caller's transaction: once that commits the work cannot be lost, whatever happens to the web
process, the broker or a worker afterwards.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.db import OperationalError

from blazon.celery import app
from blazon.logging import correlation_id_var, new_correlation_id
from blazon.outbox.registry import register_handler
from blazon.outbox.services import outbox_write

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, ConnectionError, TimeoutError)


def blazon_task(
    name: str | None = None,
    *,
    max_retries: int = 5,
    outbox: bool = True,
    atomic: bool = True,
    lease_seconds: int | None = None,
    **options: Any,
) -> Callable:
    """Declare a Celery task with Blazon's policy: acks late (a message whose worker process
    was lost is delivered again), retry transient errors with exponential back-off, and carry
    the caller's correlation id into the log context.

    ``outbox`` (default): the function is also the outbox handler of that name, so
    ``enqueue_on_commit(task, ...)`` runs it durably; ``atomic``/``lease_seconds`` are the
    handler's options (``blazon.outbox.registry.Handler``). The function must be idempotent."""

    def decorator(func: Callable) -> Any:
        @functools.wraps(func)
        def run(self: Any, *args: Any, _cid: str | None = None, **kwargs: Any) -> Any:
            token = correlation_id_var.set(_cid or new_correlation_id())
            try:
                return func(*args, **kwargs)
            except TRANSIENT_ERRORS as exc:
                logger.warning("task %s transient failure, retrying: %s", self.name, type(exc).__name__)
                raise self.retry(exc=exc, countdown=min(2**self.request.retries, 300)) from exc
            finally:
                correlation_id_var.reset(token)

        task = app.task(
            bind=True,
            name=name or f"{func.__module__}.{func.__name__}",
            acks_late=True,
            reject_on_worker_lost=True,
            max_retries=max_retries,
            **options,
        )(run)
        if outbox:
            register_handler(task.name, func, atomic=atomic, lease_seconds=lease_seconds)
        return task

    return decorator


def enqueue_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Have ``task(*args, **kwargs)`` run once the current transaction commits (at once if
    none is open), durably: an outbox row is written in this transaction and handed to a
    worker after the commit (in-process in embedded mode). A rolled-back transaction leaves no
    row; a committed one keeps its row until the work is done, even if the broker is down or
    this process dies right after the commit (the outbox relay hands it out again)."""

    outbox_write(task.name, *args, **kwargs)
