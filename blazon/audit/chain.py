"""What an audit event's ``hash`` and the chain head's ``mac`` cover, and how they are computed.

An event's hash is HMAC-SHA256, keyed with the chain key ``key_id`` (``blazon.audit.keys``),
over its canonical JSON, which includes ``prev_hash`` (the chain link) and ``key_id``. Events
written before the chain was keyed have an empty ``key_id`` and a plain SHA-256 of the same JSON
without ``key_id`` ("legacy"): they still verify, but only as a prefix of the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from blazon.audit.keys import AuditKeyRing, audit_keyring

GENESIS = "0" * 64

#: The columns an event's hash covers (``key_id`` too, when set).
HASHED_FIELDS = (
    "seq",
    "created_at",
    "actor_id",
    "actor_repr",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "subject_user_id",
    "old_values",
    "new_values",
    "source",
    "correlation_id",
    "client_ip",
    "prev_hash",
)


def canonical_values(v: dict[str, Any]) -> bytes:
    """The bytes the hash covers; ``v`` holds the event's columns by field name."""
    payload = {
        "seq": v["seq"],
        "created_at": v["created_at"].isoformat(),
        "actor_id": v["actor_id"],
        "actor_repr": v["actor_repr"],
        "action": v["action"],
        "object_type": v["object_type"],
        "object_id": v["object_id"],
        "object_repr": v["object_repr"],
        "subject_user_id": v["subject_user_id"],
        "old": v["old_values"],
        "new": v["new_values"],
        "source": v["source"],
        "correlation_id": v["correlation_id"],
        "client_ip": v["client_ip"],
        "prev_hash": v["prev_hash"],
    }
    if v.get("key_id"):  # legacy events were hashed without it
        payload["key_id"] = v["key_id"]
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def keyed_hash(key: bytes, values: dict[str, Any]) -> str:
    return hmac.new(key, canonical_values(values), hashlib.sha256).hexdigest()


def legacy_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_values(values)).hexdigest()


def compute_hash(event: Any, ring: AuditKeyRing | None = None) -> str:
    """The hash ``event`` should carry: keyed with its ``key_id``, or legacy SHA-256 when empty.
    Raises ``AuditKeyMissing`` when its key is not configured."""
    values = {name: getattr(event, name) for name in (*HASHED_FIELDS, "key_id")}
    if not event.key_id:
        return legacy_hash(values)
    return keyed_hash((ring or audit_keyring()).key(event.key_id), values)


def head_mac(key: bytes, seq: int, last_hash: str) -> str:
    """Authenticates the head's (seq, hash). Its own domain prefix, so an event's hash (which an
    attacker can read) never serves as a head MAC."""
    return hmac.new(key, f"blazon-audit-head\n{seq}\n{last_hash}".encode(), hashlib.sha256).hexdigest()
