"""Verifying the audit chain: every event's hash, link and position, then the head.

What it detects without a checkpoint: an edited, inserted or deleted event (its keyed hash or the
next event's link no longer matches, and without the chain key nobody can re-compute them), a
keyed event turned back into a legacy one, and a head that does not point at the last event or
whose MAC is wrong (deleting the newest events and moving the head back). What only a signed
checkpoint (``blazon.audit.checkpoints``) detects: a rewrite by someone holding the chain key, and
the tail cut back to an earlier head whose MAC was copied before (a restored backup).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from blazon.audit.chain import GENESIS, compute_hash, head_mac
from blazon.audit.keys import AuditKeyMissing, AuditKeyRing, audit_keyring
from blazon.audit.models import AuditChainHead, AuditEvent


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""
    legacy: int = 0  # events hashed before the chain was keyed (plain SHA-256)
    last_seq: int = 0
    last_hash: str = GENESIS


def _fail(checked: int, seq: int, reason: str) -> VerifyResult:
    return VerifyResult(False, checked, seq, reason)


def audit_verify(chunk_size: int = 5000, *, ring: AuditKeyRing | None = None) -> VerifyResult:
    """Walk the chain in order; report the first event whose hash, link or position is wrong,
    then check that the head names the last event and carries a valid MAC."""
    ring = ring or audit_keyring()
    expected_prev = GENESIS
    expected_seq = 1
    checked = legacy = 0
    keyed_seen = False
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size):
        if event.seq != expected_seq:
            return _fail(
                checked, expected_seq, f"event #{expected_seq} is missing (next found is #{event.seq})"
            )
        if event.prev_hash != expected_prev:
            return _fail(checked, event.seq, f"event #{event.seq} does not link to its predecessor")
        if event.key_id:
            keyed_seen = True
        elif keyed_seen:
            # legacy events only ever come before the first keyed one
            return _fail(
                checked, event.seq, f"event #{event.seq} lost its chain key (re-hashed without the key)"
            )
        else:
            legacy += 1
        try:
            expected_hash = compute_hash(event, ring)
        except AuditKeyMissing as exc:
            return _fail(checked, event.seq, f"event #{event.seq} cannot be verified: {exc}")
        if not hmac.compare_digest(expected_hash, event.hash):
            return _fail(checked, event.seq, f"event #{event.seq} was modified after it was written")
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    last_seq = expected_seq - 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None:
        if checked:
            return _fail(checked, last_seq, "the chain head is missing")
        return VerifyResult(True, 0)
    if head.seq > last_seq:
        return _fail(
            checked,
            expected_seq,
            f"event #{expected_seq} to #{head.seq} are missing (the chain was truncated)",
        )
    if head.seq < last_seq or head.hash != expected_prev:
        return _fail(
            checked,
            head.seq + 1,
            f"the chain head names event #{head.seq}, not the last event #{last_seq} "
            "(the newest events were deleted or the head was edited)",
        )
    if keyed_seen or head.mac:
        try:
            key = ring.key(head.key_id)
        except AuditKeyMissing as exc:
            return _fail(checked, last_seq, f"the chain head cannot be verified: {exc}")
        if not hmac.compare_digest(head_mac(key, head.seq, head.hash), head.mac):
            return _fail(
                checked,
                last_seq,
                f"the chain head (event #{head.seq}) was altered: the newest events were deleted or rewritten",
            )
    return VerifyResult(True, checked, legacy=legacy, last_seq=last_seq, last_hash=expected_prev)
