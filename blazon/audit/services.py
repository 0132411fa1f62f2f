"""Writing and verifying the audit chain.

``audit_record`` appends one event; ``audit_record_many`` appends a batch (bulk services such
as a role fan-out) computing the chain in Python and inserting in chunks. Both must run inside
the caller's transaction: the chain head row is locked until that transaction ends, which
serialises appends and keeps the chain gap-free.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from blazon.audit.models import AuditChainHead, AuditEvent
from blazon.logging import client_ip_var, correlation_id_var

SECRET_KEYS = {"password", "secret", "token", "credential", "ciphertext", "private_key", "otp"}
REDACTED = "***"
GENESIS = "0" * 64


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            str(k): (REDACTED if any(s in str(k).lower() for s in SECRET_KEYS) else _jsonable(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def redact(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """Copy of ``values`` that is JSON-safe and carries no secret (keys like password, token)."""
    return None if values is None else _jsonable(values)


@dataclass
class AuditEntry:
    action: str
    object_type: str
    object_id: Any
    object_repr: str = ""
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    subject_user_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _canonical(event: AuditEvent) -> bytes:
    payload = {
        "seq": event.seq,
        "created_at": event.created_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_repr": event.actor_repr,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "subject_user_id": event.subject_user_id,
        "old": event.old_values,
        "new": event.new_values,
        "source": event.source,
        "correlation_id": event.correlation_id,
        "client_ip": event.client_ip,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


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


def _build(entries: Iterable[AuditEntry], *, actor: Any, source: str, head: AuditChainHead) -> Iterator[AuditEvent]:
    actor_id, actor_repr = _actor_fields(actor)
    now = timezone.now()
    cid = correlation_id_var.get() or ""
    ip = client_ip_var.get()
    for entry in entries:
        event = AuditEvent(
            seq=head.seq + 1,
            created_at=now,
            actor_id=actor_id,
            actor_repr=actor_repr,
            action=entry.action,
            object_type=entry.object_type,
            object_id=str(entry.object_id),
            object_repr=entry.object_repr[:300],
            subject_user_id=entry.subject_user_id,
            old_values=redact(entry.old),
            new_values=redact({**(entry.new or {}), **entry.extra} if (entry.new or entry.extra) else None),
            source=source,
            correlation_id=cid,
            client_ip=ip,
            prev_hash=head.hash,
        )
        event.hash = compute_hash(event)
        head.seq, head.hash = event.seq, event.hash
        yield event


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
    head = _lock_head()
    (event,) = list(_build([entry], actor=actor, source=source, head=head))
    event.save(force_insert=True)
    AuditChainHead.objects.filter(pk=1).update(seq=head.seq, hash=head.hash)
    return event


def audit_record_many(
    entries: Iterable[AuditEntry], *, actor: Any, source: str, chunk_size: int = 5000
) -> int:
    """Append many events (streamed, in chunks) in the current transaction; returns the count."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record_many must be called inside the business transaction")
    head = _lock_head()
    count = 0
    batch: list[AuditEvent] = []
    for event in _build(entries, actor=actor, source=source, head=head):
        batch.append(event)
        if len(batch) >= chunk_size:
            AuditEvent.objects.bulk_create(batch)
            count += len(batch)
            batch = []
    if batch:
        AuditEvent.objects.bulk_create(batch)
        count += len(batch)
    if count:
        AuditChainHead.objects.filter(pk=1).update(seq=head.seq, hash=head.hash)
    return count


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""


def audit_verify(chunk_size: int = 5000) -> VerifyResult:
    """Walk the chain in order; report the first event whose hash, link or position is wrong."""
    expected_prev = GENESIS
    expected_seq = 1
    checked = 0
    qs = AuditEvent.objects.order_by("seq")
    for event in qs.iterator(chunk_size=chunk_size):
        if event.seq != expected_seq:
            return VerifyResult(
                False, checked, expected_seq, f"event #{expected_seq} is missing (next found is #{event.seq})"
            )
        if event.prev_hash != expected_prev:
            return VerifyResult(False, checked, event.seq, f"event #{event.seq} does not link to its predecessor")
        if compute_hash(event) != event.hash:
            return VerifyResult(False, checked, event.seq, f"event #{event.seq} was modified after it was written")
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and head.seq != expected_seq - 1:
        return VerifyResult(
            False, checked, expected_seq, f"event #{expected_seq} to #{head.seq} are missing (the chain was truncated)"
        )
    return VerifyResult(True, checked)
