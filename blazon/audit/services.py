"""Writing and verifying the audit chain.

``audit_record`` appends one event; ``audit_record_many`` appends a batch (bulk services such
as a role fan-out) computing the chain in Python and inserting in chunks. Both must run inside
the caller's transaction: the chain head row is locked until that transaction ends, which
serialises appends and keeps the chain gap-free.

``audit_batch()`` defers the chain link of the events a transaction records to the end of that
transaction's work: a service that records several events (the request pipeline records four
for one no-approval grant) then reads and updates the head row ONCE and inserts its events in one
statement, instead of a head read + insert + head update per event. It also takes the head lock
(the one global serialisation point of all writers) as late as possible. The chain, its order
and the verification are unchanged: the events are chained in the order they were recorded.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from blazon.audit.chain import GENESIS, HASHED_FIELDS, head_mac, keyed_hash
from blazon.audit.keys import AuditKeyRing, audit_keyring
from blazon.audit.models import AuditChainHead, AuditEvent
from blazon.db import copy_rows
from blazon.logging import client_ip_var, correlation_id_var

SECRET_KEYS = {"password", "secret", "token", "credential", "ciphertext", "private_key", "otp"}
REDACTED = "***"


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(s in lowered for s in SECRET_KEYS)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): (REDACTED if _is_secret_key(str(k)) else _jsonable(v)) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def redact(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """Copy of ``values`` that is JSON-safe and carries no secret (keys like password, token)."""
    return None if values is None else _jsonable(values)


#: ``AuditEntry.actor`` when the entry takes the actor given to ``audit_record_many``.
CALL_ACTOR: Any = object()


@dataclass
class AuditEntry:
    """One event of ``audit_record_many``. ``actor``, ``source`` and ``correlation_id`` default
    to the call's (the actor and source passed, the correlation id of the context); a batch
    mixing several (the set-based request pipeline: the system's status changes and the
    requester's directory changes, each request with its own correlation id) sets them per
    entry."""

    action: str
    object_type: str
    object_id: Any
    object_repr: str = ""
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    subject_user_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    actor: Any = CALL_ACTOR
    source: str | None = None
    correlation_id: str | None = None


def _lock_head() -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        AuditChainHead.objects.get_or_create(pk=1)
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head


def _actor_fields(actor: Any) -> tuple[int | None, str]:
    if actor is None or not getattr(actor, "pk", None):
        return None, "system"
    return actor.pk, getattr(actor, "username", str(actor))


def _entry_values(entries: Iterable[AuditEntry], *, actor: Any, source: str) -> Iterator[dict[str, Any]]:
    """One dict of column values per entry, without its place in the chain (``seq``,
    ``prev_hash``, ``hash``). Bulk callers pass the same ``extra`` for every entry; its redacted
    copy is computed once."""
    actor_id, actor_repr = _actor_fields(actor)
    now = timezone.now()
    cid = correlation_id_var.get() or ""
    ip = client_ip_var.get()
    shared_extra: tuple[int, Any] | None = None
    for entry in entries:
        if entry.new is None and entry.extra:
            if shared_extra is None or shared_extra[0] != id(entry.extra):
                shared_extra = (id(entry.extra), redact(dict(entry.extra)))
            new_values = shared_extra[1]
        else:
            new_values = redact({**(entry.new or {}), **entry.extra} if (entry.new or entry.extra) else None)
        if entry.actor is CALL_ACTOR:
            entry_actor_id, entry_actor_repr = actor_id, actor_repr
        else:
            entry_actor_id, entry_actor_repr = _actor_fields(entry.actor)
        yield {
            "created_at": now,
            "actor_id": entry_actor_id,
            "actor_repr": entry_actor_repr,
            "action": entry.action,
            "object_type": entry.object_type,
            "object_id": str(entry.object_id),
            "object_repr": entry.object_repr[:300],
            "subject_user_id": entry.subject_user_id,
            "old_values": redact(entry.old),
            "new_values": new_values,
            "source": source if entry.source is None else entry.source,
            "correlation_id": cid if entry.correlation_id is None else entry.correlation_id,
            "client_ip": ip,
        }


def _link(values: dict[str, Any], head: AuditChainHead, ring: AuditKeyRing) -> dict[str, Any]:
    """Give ``values`` the next place in the chain after ``head`` (advancing it), hashed with
    the current chain key."""
    values["seq"] = head.seq + 1
    values["prev_hash"] = head.hash
    values["key_id"] = ring.current_id
    values["hash"] = keyed_hash(ring.current_key, values)
    head.seq, head.hash, head.key_id = values["seq"], values["hash"], ring.current_id
    return values


def _head_values(head: AuditChainHead, ring: AuditKeyRing) -> dict[str, Any]:
    """The head row's new columns, its MAC computed once per append (not per event)."""
    return {
        "seq": head.seq,
        "hash": head.hash,
        "key_id": ring.current_id,
        "mac": head_mac(ring.current_key, head.seq, head.hash),
    }


def _build_values(
    entries: Iterable[AuditEntry], *, actor: Any, source: str, head: AuditChainHead, ring: AuditKeyRing
) -> Iterator[dict[str, Any]]:
    """Chain the entries after ``head`` (advancing it): one dict of column values per event,
    its ``hash`` included."""
    for values in _entry_values(entries, actor=actor, source=source):
        yield _link(values, head, ring)


# --- deferring the chain link to the end of a transaction's work -----------------------------


class _Batch:
    """Events recorded under ``audit_batch()``, not yet chained nor inserted.

    An event recorded inside a savepoint opened after the batch began carries a *marker*: a
    no-op ``on_commit`` callback registered in that savepoint. Django drops the callbacks of a
    savepoint that is rolled back (and keeps them when it is released), so an event whose marker
    is gone at flush time was rolled back with the rows it describes and is not written — the
    same outcome as an immediate insert undone by the savepoint rollback."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.base = tuple(conn.savepoint_ids)
        self.pending: list[tuple[AuditEvent, Callable[[], None] | None]] = []
        self._marker: tuple[tuple[Any, ...], Callable[[], None]] | None = None

    def marker(self) -> Callable[[], None] | None:
        stack = tuple(self.conn.savepoint_ids)
        if stack == self.base:
            return None
        if self._marker is None or self._marker[0] != stack:

            def alive() -> None:  # runs (and does nothing) after commit
                return None

            transaction.on_commit(alive)
            self._marker = (stack, alive)
        return self._marker[1]

    def add(self, values: Iterable[dict[str, Any]]) -> list[AuditEvent]:
        marker = self.marker()
        events = [AuditEvent(**v) for v in values]
        self.pending.extend((event, marker) for event in events)
        return events

    def flush(self) -> int:
        """Chain and insert the events still alive: one head read, then one statement inserting
        them and moving the head (``_append``)."""
        pending, self.pending, self._marker = self.pending, [], None
        if any(marker is not None for _event, marker in pending):
            live = {id(func) for _sids, func, *_robust in self.conn.run_on_commit}
            pending = [(e, m) for e, m in pending if m is None or id(m) in live]
        if not pending:
            return 0
        ring = audit_keyring()
        head = _lock_head()
        rows = []
        for event, _marker in pending:
            row = _link({name: getattr(event, name) for name in HASHED_FIELDS if name != "seq"}, head, ring)
            event.seq, event.prev_hash, event.hash = row["seq"], row["prev_hash"], row["hash"]
            event.key_id = row["key_id"]
            rows.append(row)
        for (event, _marker), pk in zip(pending, _append(rows, head, ring), strict=True):
            event.pk = pk
            event._state.adding = False
        return len(rows)


_batch_var: ContextVar[_Batch | None] = ContextVar("blazon_audit_batch", default=None)


def _current_batch() -> _Batch | None:
    batch = _batch_var.get()
    if batch is not None and batch.conn is transaction.get_connection() and batch.conn.in_atomic_block:
        return batch
    return None


@contextmanager
def audit_batch() -> Iterator[None]:
    """Record the audit events of the enclosed block and chain them when it ends without an
    exception (one head read, then one statement inserting them all and moving the head).

    Use it directly inside the ``transaction.atomic`` block whose work it covers (as its first
    statement, ending with it), so an exception leaving the batch also rolls the transaction back:
    the pending events are then discarded with the rows they describe. Events recorded in a
    savepoint that is rolled back are dropped (see ``_Batch``). Nested batches join the outer one.
    Within the batch, an event returned by ``audit_record`` gets its ``pk``/``seq`` at the end."""
    conn = transaction.get_connection()
    if not conn.in_atomic_block:
        raise RuntimeError("audit_batch must be used inside the business transaction")
    if _current_batch() is not None:
        yield
        return
    batch = _Batch(conn)
    token = _batch_var.set(batch)
    try:
        yield
    finally:
        _batch_var.reset(token)
    batch.flush()  # not reached on an exception: the transaction is rolled back


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: Any = None,
    object_type: str | None = None,
    object_id: Any = None,
    object_repr: str | None = None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    source: str = "console",
    subject_user_id: int | None = None,
) -> AuditEvent:
    """Append one audit event in the current transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must be called inside the business transaction")
    if obj is not None:
        object_type = object_type or obj._meta.label
        object_id = obj.pk if object_id is None else object_id
        object_repr = str(obj) if object_repr is None else object_repr
    entry = AuditEntry(
        action=action,
        object_type=object_type or "",
        object_id=object_id,
        object_repr=object_repr or "",
        old=old,
        new=new,
        subject_user_id=subject_user_id,
    )
    batch = _current_batch()
    if batch is not None:
        (event,) = batch.add(_entry_values([entry], actor=actor, source=source))
        return event
    ring = audit_keyring()
    head = _lock_head()
    (values,) = list(_build_values([entry], actor=actor, source=source, head=head, ring=ring))
    event = AuditEvent(**values)
    (event.pk,) = _append([values], head, ring)  # the INSERT and the head update in one statement
    event._state.adding = False
    return event


_COPY_COLUMNS = (*HASHED_FIELDS, "key_id", "hash")
_JSON_FIELDS = frozenset({"old_values", "new_values"})


#: Up to this many events, the INSERT and the head update are one statement (``_append``).
_ONE_STATEMENT_MAX = 200


def _append(rows: list[dict[str, Any]], head: AuditChainHead, ring: AuditKeyRing) -> list[int]:
    """Insert the chained ``rows`` and move the head row to ``head`` (locked by the caller) in
    ONE statement - a data-modifying CTE, run by PostgreSQL whether or not the INSERT reads it -
    instead of an INSERT and an UPDATE. Returns the new ids, in order. Larger batches (and
    other databases) take the two-statement path."""
    if not rows:
        return []
    conn = transaction.get_connection()
    head_values = _head_values(head, ring)
    if conn.vendor != "postgresql" or len(rows) > _ONE_STATEMENT_MAX:
        events = AuditEvent.objects.bulk_create([AuditEvent(**row) for row in rows], batch_size=1000)
        AuditChainHead.objects.filter(pk=1).update(**head_values)
        return [event.pk for event in events]
    quote = conn.ops.quote_name
    casts = {"old_values": "::jsonb", "new_values": "::jsonb", "client_ip": "::inet"}
    one = "(" + ", ".join(f"%s{casts.get(name, '')}" for name in _COPY_COLUMNS) + ")"
    head_table, table = quote(AuditChainHead._meta.db_table), quote(AuditEvent._meta.db_table)
    cols = ", ".join(quote(n) for n in _COPY_COLUMNS)
    values = ", ".join([one] * len(rows))
    # identifiers from the models' meta, quoted; every value is a parameter
    sql = f"WITH head AS (UPDATE {head_table} SET seq = %s, hash = %s, key_id = %s, mac = %s WHERE id = 1) INSERT INTO {table} ({cols}) VALUES {values} RETURNING id"  # noqa: S608, E501
    params: list[Any] = [head_values[name] for name in ("seq", "hash", "key_id", "mac")]
    for row in rows:
        params.extend(
            (json.dumps(row[name]) if row[name] is not None else None) if name in _JSON_FIELDS else row[name]
            for name in _COPY_COLUMNS
        )
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return [pk for (pk,) in cursor.fetchall()]


def audit_record_many(
    entries: Iterable[AuditEntry], *, actor: Any, source: str, chunk_size: int = 5000
) -> int:
    """Append many events (streamed through ``copy_rows``) in the current transaction; returns
    the count. ``chunk_size`` is kept for callers; COPY streams without chunks."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record_many must be called inside the business transaction")
    batch = _current_batch()
    if batch is not None:  # keep the recording order: join the batch (inside a batch, volumes are small)
        return len(batch.add(_entry_values(entries, actor=actor, source=source)))
    ring = audit_keyring()
    head = _lock_head()
    last: list[Any] = [None, None]  # (value, its JSON): the shared ``extra`` is serialised once

    def as_json(value: Any) -> str | None:
        if value is None:
            return None
        if last[0] is not value:  # holding the reference keeps the identity test sound
            last[0], last[1] = value, json.dumps(value)
        encoded: str = last[1]
        return encoded

    count = copy_rows(
        AuditEvent._meta.db_table,
        _COPY_COLUMNS,
        (
            tuple(as_json(v[name]) if name in _JSON_FIELDS else v[name] for name in _COPY_COLUMNS)
            for v in _build_values(entries, actor=actor, source=source, head=head, ring=ring)
        ),
    )
    if count:
        AuditChainHead.objects.filter(pk=1).update(**_head_values(head, ring))
    return count


# verification lives in its own module; re-exported for the callers of this one
from blazon.audit.verify import VerifyResult, audit_verify  # noqa: E402

__all__ = [
    "GENESIS",
    "AuditEntry",
    "VerifyResult",
    "audit_batch",
    "audit_record",
    "audit_record_many",
    "audit_verify",
]
