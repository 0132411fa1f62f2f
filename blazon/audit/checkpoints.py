"""Signed checkpoints of the audit chain.

A checkpoint is the last event's ``seq`` and ``hash`` signed with Ed25519
(``blazon.audit.keys.load_signing_key``), written to a file kept outside the database (and to
the log stream, which a SIEM keeps). Since every event's hash covers its predecessor's, the
checkpointed hash commits to the whole chain up to it: ``verify_audit --checkpoint FILE`` then
detects the chain cut back below the checkpoint, or any event up to it rewritten, even by someone
who holds the chain's HMAC key.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.utils import timezone

from blazon.audit.keys import key_fingerprint
from blazon.audit.models import AuditEvent
from blazon.audit.verify import VerifyResult

logger = logging.getLogger("blazon.audit.checkpoint")

FORMAT = "blazon-audit-checkpoint/1"
_SIGNED_FIELDS = ("format", "seq", "hash", "key_id", "created_at", "public_key")


class CheckpointError(Exception):
    """A checkpoint file is unreadable, forged, or does not match the chain."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    key_id: str
    created_at: str
    public_key: str  # fingerprint of the signing key
    signature: str

    def signed_fields(self) -> dict[str, Any]:
        return {"format": FORMAT, **{name: getattr(self, name) for name in _SIGNED_FIELDS[1:]}}

    def to_json(self) -> str:
        return json.dumps({**self.signed_fields(), "signature": self.signature}, sort_keys=True)


def _message(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def checkpoint_create(*, verified: VerifyResult, signing_key: Ed25519PrivateKey) -> Checkpoint:
    """Sign the last event of a chain that ``audit_verify`` just found intact, and log it."""
    if not verified.ok:
        raise CheckpointError(f"the audit chain is broken ({verified.reason}): no checkpoint signed")
    key_id = ""
    if verified.last_seq:
        key_id = AuditEvent.objects.filter(seq=verified.last_seq).values_list("key_id", flat=True).get()
    unsigned = Checkpoint(
        seq=verified.last_seq,
        hash=verified.last_hash,
        key_id=key_id,
        created_at=timezone.now().isoformat(),
        public_key=key_fingerprint(signing_key.public_key()),
        signature="",
    )
    signature = base64.b64encode(signing_key.sign(_message(unsigned.signed_fields()))).decode()
    checkpoint = dataclasses.replace(unsigned, signature=signature)
    logger.info("audit checkpoint %s", checkpoint.to_json())
    return checkpoint


def checkpoint_load(path: Path, public_key: Ed25519PublicKey) -> Checkpoint:
    """Read a checkpoint file and check its signature with ``public_key``."""
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not a Blazon audit checkpoint")
        checkpoint = Checkpoint(
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            key_id=str(data["key_id"]),
            created_at=str(data["created_at"]),
            public_key=str(data["public_key"]),
            signature=str(data["signature"]),
        )
        signature = base64.b64decode(checkpoint.signature, validate=True)
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise CheckpointError(f"{path} cannot be read as a checkpoint: {exc}") from None
    if checkpoint.public_key != key_fingerprint(public_key):
        raise CheckpointError(f"{path} was signed by another key (fingerprint {checkpoint.public_key[:16]}…)")
    try:
        public_key.verify(signature, _message(checkpoint.signed_fields()))
    except InvalidSignature:
        raise CheckpointError(f"{path} has an invalid signature (the checkpoint was altered)") from None
    return checkpoint


def checkpoint_check(checkpoint: Checkpoint) -> str | None:
    """What is wrong with the chain against ``checkpoint``, or None. Run after ``audit_verify``
    found the chain itself intact: the links then tie every event below to the checkpointed one."""
    if checkpoint.seq == 0:
        return None
    stored = AuditEvent.objects.filter(seq=checkpoint.seq).values_list("hash", flat=True).first()
    if stored is None:
        return (
            f"event #{checkpoint.seq}, signed in the checkpoint of {checkpoint.created_at}, is gone: "
            "the chain was truncated below the checkpoint"
        )
    if not hmac.compare_digest(stored, checkpoint.hash):
        return (
            f"event #{checkpoint.seq} does not match the checkpoint of {checkpoint.created_at}: "
            f"the chain was rewritten at or below event #{checkpoint.seq}"
        )
    return None
