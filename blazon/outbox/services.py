"""The outbox's operations: write a row in the business transaction, deliver it (run its
handler once), relay due rows, dead-letter and retry, sweep stuck work, report lag.

Delivery, step by step (``outbox_deliver``):
1. *claim*: one UPDATE counts the attempt and pushes ``available_at`` one lease ahead. It
   commits on its own, so a worker killed mid-handler still used up an attempt (a handler that
   kills its worker every time is dead-lettered too).
2. *run*: a transaction locks the row (``FOR UPDATE``: a second delivery of the same row waits
   here, then finds it done), runs the handler and marks the row DONE — the handler's writes
   and "done" commit together. A handler error rolls back both; the attempt is then recorded
   with its error and a back-off, and after ``BLAZON_OUTBOX_MAX_ATTEMPTS`` the row is DEAD.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Min
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.celery import app
from blazon.errors import TransitionNotAllowed
from blazon.logging import correlation_id_var, new_correlation_id
from blazon.outbox.models import OutboxMessage, OutboxStatus, WorkCounter
from blazon.outbox.registry import handler, sweeps

logger = logging.getLogger("blazon.outbox")

S = OutboxStatus
DELIVER_TASK = "blazon.outbox.deliver"


def lease_seconds() -> int:
    """How long a delivery may take before its row is handed out again."""
    return int(getattr(settings, "BLAZON_OUTBOX_LEASE_SECONDS", 60))


def max_attempts() -> int:
    return int(getattr(settings, "BLAZON_OUTBOX_MAX_ATTEMPTS", 10))


def retry_base_seconds() -> int:
    return int(getattr(settings, "BLAZON_OUTBOX_RETRY_SECONDS", 10))


def stuck_after_seconds() -> int:
    """How old intermediate work may get before the sweep re-drives it and it shows as stuck."""
    return int(getattr(settings, "BLAZON_STUCK_AFTER_SECONDS", 300))


def _eager() -> bool:
    return bool(app.conf.task_always_eager)


# --- writing ------------------------------------------------------------------------------------


_batch: ContextVar[list[OutboxMessage] | None] = ContextVar("outbox_batch", default=None)


@dataclass
class _Delivery:
    """The row being delivered in this context, and how many idempotency keys it handed out."""

    pk: int
    created: datetime
    keys: int = 0


_delivering: ContextVar[_Delivery | None] = ContextVar("outbox_delivering", default=None)


def outbox_idempotency_key() -> str | None:
    """Inside a delivery: a key naming the next effect of this row (the n-th e-mail it sends),
    the same on every delivery of the row and different for every other row and effect; None
    outside a delivery. A handler whose effect leaves the database (an e-mail: the SMTP server
    may have accepted it just before the worker died) stamps it with this key, so a second
    delivery repeats the same effect, which the receiver recognises, never a new one."""
    found = _delivering.get()
    if found is None:
        return None
    found.keys += 1
    return f"{found.pk}.{found.created:%Y%m%d%H%M%S%f}.{found.keys}"


def outbox_write(kind: str, *args: Any, **kwargs: Any) -> OutboxMessage:
    """Record ``kind(*args, **kwargs)`` as work to do once the current transaction commits (at
    once in autocommit). The row commits with the caller's changes or not at all; after the
    commit it is dispatched at once, and if that fails (broker down, process killed) the relay
    hands it out when its lease has passed. Inside ``outbox_batch()`` the row is only collected
    (no id yet) and written with the others in one INSERT."""
    now = timezone.now()
    row = OutboxMessage(
        kind=kind,
        payload={"args": list(args), "kwargs": kwargs},
        created_at=now,
        available_at=now + timedelta(seconds=lease_seconds()),
        correlation_id=correlation_id_var.get() or "",
    )
    pending = _batch.get()
    if pending is not None:
        pending.append(row)
        return row
    row.save(force_insert=True)
    pk = row.pk
    transaction.on_commit(lambda: outbox_dispatch([pk]))
    return row


@contextmanager
def outbox_batch() -> Iterator[None]:
    """Collect the rows written inside (set-based services: one outcome mail per request of a
    batch) and insert them in one statement at the end; dispatched together after commit."""
    if _batch.get() is not None:  # nested: the outer batch writes them
        yield
        return
    rows: list[OutboxMessage] = []
    token = _batch.set(rows)
    try:
        yield
    finally:
        _batch.reset(token)
    if rows:
        OutboxMessage.objects.bulk_create(rows)
        ids = [row.pk for row in rows]
        transaction.on_commit(lambda: outbox_dispatch(ids))


def outbox_dispatch(ids: Iterable[int]) -> int:
    """Hand rows to the workers (in embedded mode: deliver them here and now). Never raises: a
    row that could not be handed out stays PENDING and the relay tries again; the caller's
    transaction has committed and its answer stands. Returns how many were handed out."""
    ids = list(ids)
    if _eager():
        for pk in ids:
            try:
                outbox_deliver(message_id=pk)
            except Exception:
                logger.exception("outbox #%s: in-process delivery failed; the relay will retry", pk)
        return len(ids)

    cid = correlation_id_var.get()
    sent = 0
    for pk in ids:
        try:
            app.send_task(DELIVER_TASK, args=[pk], kwargs={"_cid": cid})
            sent += 1
        except Exception as exc:
            logger.warning(
                "outbox: broker unavailable (%s); %d row(s) left for the relay",
                type(exc).__name__,
                len(ids) - sent,
            )
            break
    return sent


# --- delivering ---------------------------------------------------------------------------------


def outbox_deliver(*, message_id: int) -> str:
    """Run the handler of one row, once: returns ``done``, ``skipped`` (its object is gone),
    ``retry`` (failed; due again after a back-off), ``dead`` or ``absent`` (already done,
    dead-lettered or deleted: nothing to do). Safe to call twice or concurrently."""
    claimed = OutboxMessage.objects.filter(pk=message_id, status=S.PENDING).update(
        attempts=F("attempts") + 1, available_at=Now() + timedelta(seconds=lease_seconds())
    )  # lease times from the database's clock (see outbox_relay)
    if not claimed:
        return "absent"
    run_outside: tuple[Any, list[Any], dict[str, Any]] | None = None
    delivery: _Delivery | None = None
    try:
        with transaction.atomic():
            row = OutboxMessage.objects.select_for_update().filter(pk=message_id).first()
            if row is None or row.status != S.PENDING:
                return "absent"
            found = handler(row.kind)
            if found is None:
                raise LookupError(f"no outbox handler is registered for {row.kind!r}")
            if row.attempts > max_attempts():  # its workers died every time
                _dead(row, "the worker running it was lost on every attempt")
                return "dead"
            args, kwargs = list(row.payload.get("args", [])), dict(row.payload.get("kwargs", {}))
            delivery = _Delivery(pk=row.pk, created=row.created_at)
            if found.atomic:
                with _delivering_row(delivery):
                    found.func(*args, **kwargs)
                _done(row.pk, S.DONE)
                return "done"
            if found.lease_seconds:
                OutboxMessage.objects.filter(pk=row.pk).update(
                    available_at=Now() + timedelta(seconds=found.lease_seconds)
                )
            run_outside = (found.func, args, kwargs)
        func, args, kwargs = run_outside
        with _delivering_row(delivery):
            func(*args, **kwargs)
        # the handler's effect is outside the database (an e-mail sent): record it even if the
        # database is restarting right now, or the row would be delivered, and sent, again
        _done_surely(message_id)
        return "done"
    except ObjectDoesNotExist as exc:
        logger.warning("outbox #%s: skipped, its object no longer exists (%s)", message_id, exc)
        _done(message_id, S.SKIPPED, error=f"skipped: {exc}")
        return "skipped"
    except Exception as exc:
        return _failed(message_id, exc)


@contextmanager
def _delivering_row(delivery: _Delivery | None) -> Iterator[None]:
    token = _delivering.set(delivery)
    try:
        yield
    finally:
        _delivering.reset(token)


def _done(pk: int, status: str, *, error: str = "") -> None:
    values: dict[str, Any] = {"status": status, "done_at": timezone.now()}
    if error:
        values["last_error"] = error[:2000]
    OutboxMessage.objects.filter(pk=pk, status=S.PENDING).update(**values)


def _done_surely(pk: int, *, seconds: float = 60) -> None:
    """``_done`` that waits out a database restart (reconnecting) for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    pause = 0.2
    while True:
        try:
            _done(pk, S.DONE)
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                raise
            logger.warning("outbox #%s: done but not recorded yet (database unavailable); retrying", pk)
            connection.close()
            time.sleep(pause)
            pause = min(pause * 2, 5)


def _failed(pk: int, exc: BaseException) -> str:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    with transaction.atomic():
        row = OutboxMessage.objects.select_for_update().filter(pk=pk, status=S.PENDING).first()
        if row is None:
            return "absent"
        if row.attempts >= max_attempts():
            _dead(row, error)
            return "dead"
        delay = min(retry_base_seconds() * 2 ** max(row.attempts - 1, 0), 3600)
        row.last_error = error
        row.available_at = timezone.now() + timedelta(seconds=delay)
        row.save(update_fields=["last_error", "available_at"])
    logger.warning(
        "outbox #%s %s: attempt %s failed (%s); again in %ss", pk, row.kind, row.attempts, error, delay
    )
    return "retry"


def _dead(row: OutboxMessage, error: str) -> None:
    row.status = S.DEAD
    row.last_error = error[:2000]
    row.done_at = timezone.now()
    row.save(update_fields=["status", "last_error", "done_at"])
    counter_add("outbox.dead_lettered", 1)
    logger.error("outbox #%s %s: dead-lettered after %s attempts: %s", row.pk, row.kind, row.attempts, error)


# --- relaying -----------------------------------------------------------------------------------


def outbox_relay(*, limit: int = 500) -> int:
    """Hand out the PENDING rows that are due (never dispatched, or whose delivery did not
    complete within its lease). Rows are taken with ``FOR UPDATE SKIP LOCKED``: two relays at
    once never hand out the same row, and a row whose handler is running (locked) is left
    alone. Returns how many rows were handed out.

    Due and lease times are compared with and set from the **database's** clock (``Now()``), not
    this host's: a relay host whose clock jumps back does not leave due work waiting for the
    jump to pass, and one whose clock jumps ahead does not hand out work still under a lease."""
    with transaction.atomic():
        ids = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(status=S.PENDING, available_at__lte=Now())
            .order_by("available_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return 0
        OutboxMessage.objects.filter(pk__in=ids).update(
            available_at=Now() + timedelta(seconds=lease_seconds())
        )
    sent = outbox_dispatch(ids)
    if sent < len(ids):  # broker down: due again at the next relay
        OutboxMessage.objects.filter(pk__in=ids[sent:], status=S.PENDING).update(available_at=Now())
    logger.info("outbox relay: %d row(s) handed out again", sent)
    return sent


def outbox_retry(*, actor: Any, message_id: int, source: str = "console") -> OutboxMessage:
    """An administrator retries a dead-lettered row: PENDING again, attempts from zero, due now."""

    with transaction.atomic():
        row = OutboxMessage.objects.select_for_update().get(pk=message_id)
        if row.status != S.DEAD:
            raise TransitionNotAllowed(
                _("Outbox message #%(id)s is %(status)s: only dead letters are retried.")
                % {"id": row.pk, "status": row.status}
            )
        old = {"status": row.status, "attempts": row.attempts, "last_error": row.last_error}
        row.status, row.attempts, row.done_at = S.PENDING, 0, None
        row.available_at = timezone.now() + timedelta(seconds=lease_seconds())
        row.save(update_fields=["status", "attempts", "done_at", "available_at"])
        audit_record(
            actor=actor,
            action="outbox.retried",
            obj=row,
            object_repr=f"{row.kind} #{row.pk}",
            old=old,
            new={"status": row.status},
            source=source,
        )
        pk = row.pk
        transaction.on_commit(lambda: outbox_dispatch([pk]))
    return row


def outbox_prune(*, keep_days: int | None = None) -> int:
    """Delete rows completed (DONE, SKIPPED) more than ``BLAZON_OUTBOX_KEEP_DAYS`` ago."""
    days = keep_days if keep_days is not None else int(getattr(settings, "BLAZON_OUTBOX_KEEP_DAYS", 7))
    cutoff = timezone.now() - timedelta(days=days)
    deleted, __ = OutboxMessage.objects.filter(status__in=[S.DONE, S.SKIPPED], done_at__lt=cutoff).delete()
    return deleted


# --- stuck work, lag, counters ------------------------------------------------------------------


def counter_add(name: str, n: int) -> None:
    """Add ``n`` to a shared counter (created at the first use)."""
    if n <= 0:
        return
    if WorkCounter.objects.filter(name=name).update(value=F("value") + n):
        return
    try:
        with transaction.atomic():
            WorkCounter.objects.create(name=name, value=n)
    except IntegrityError:  # created meanwhile by another process
        WorkCounter.objects.filter(name=name).update(value=F("value") + n)


def counters() -> dict[str, int]:
    return dict(WorkCounter.objects.order_by("name").values_list("name", "value"))


def work_sweep(*, older_than_seconds: int | None = None, limit: int = 500) -> dict[str, int]:
    """Re-drive every kind of intermediate work older than the stuck age (each registered
    sweep), count it (``redriven.<name>``) and log it; a failing sweep does not stop the others.
    Returns how many were re-driven per sweep."""
    age = older_than_seconds if older_than_seconds is not None else stuck_after_seconds()
    cutoff = timezone.now() - timedelta(seconds=age)
    done: dict[str, int] = {}
    for sweep in sweeps():
        token = correlation_id_var.set(f"sweep-{sweep.name}-{new_correlation_id()[:8]}")
        try:
            n = sweep.redrive(cutoff, limit)
        except Exception:
            logger.exception("stuck-work sweep %s failed", sweep.name)
            continue
        finally:
            correlation_id_var.reset(token)
        done[sweep.name] = n
        if n:
            counter_add(f"redriven.{sweep.name}", n)
            logger.warning("stuck-work sweep: %d %s older than %ss re-driven", n, sweep.label, age)
    return done


@dataclass(frozen=True)
class StuckWork:
    name: str
    label: str
    count: int


def stuck_work(*, older_than_seconds: int | None = None) -> list[StuckWork]:
    """Every registered kind of intermediate work and how much of it is older than it should be."""
    age = older_than_seconds if older_than_seconds is not None else stuck_after_seconds()
    cutoff = timezone.now() - timedelta(seconds=age)
    return [StuckWork(name=s.name, label=s.label, count=s.count(cutoff)) for s in sweeps()]


@dataclass(frozen=True)
class OutboxState:
    pending: int
    due: int
    dead: int
    oldest_pending_at: datetime | None

    @property
    def lag_seconds(self) -> float:
        """Age of the oldest work not done yet (0 when there is none)."""
        if self.oldest_pending_at is None:
            return 0.0
        return max((timezone.now() - self.oldest_pending_at).total_seconds(), 0.0)


def outbox_state() -> OutboxState:
    pending = OutboxMessage.objects.filter(status=S.PENDING)
    oldest = pending.aggregate(m=Min("created_at"))["m"]
    return OutboxState(
        pending=pending.count(),
        due=pending.filter(available_at__lte=timezone.now()).count(),
        dead=OutboxMessage.objects.filter(status=S.DEAD).count(),
        oldest_pending_at=oldest,
    )
