"""The project's one Celery task decorator and the one helper that enqueues on commit.

Tasks take ids, reload, call a service, and must be safe to run twice: ``acks_late`` means a
worker that dies mid-task gets the message redelivered.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.db import OperationalError, transaction

from blazon.celery import app
from blazon.logging import correlation_id_var, new_correlation_id

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, ConnectionError, TimeoutError)


def blazon_task(name: str | None = None, *, max_retries: int = 5, **options: Any) -> Callable:
    """Declare a Celery task with Blazon's policy: acks late, retry transient errors with
    exponential back-off, and carry the caller's correlation id into the log context."""

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

        return app.task(
            bind=True,
            name=name or f"{func.__module__}.{func.__name__}",
            acks_late=True,
            reject_on_worker_lost=True,
            max_retries=max_retries,
            **options,
        )(run)

    return decorator


def enqueue_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Send ``task`` once the current transaction commits (immediately if none is open).

    Never call ``.delay()`` inside a transaction: a worker could pick the message up before the
    rows it needs are visible, or run it for a transaction that then rolls back."""
    cid = correlation_id_var.get()

    def send() -> None:
        task.apply_async(args=args, kwargs={**kwargs, "_cid": cid})

    transaction.on_commit(send)
