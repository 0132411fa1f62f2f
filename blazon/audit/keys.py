"""Key material for the audit chain, kept out of the database.

Two kinds of key:

- the *chain keys* (HMAC-SHA256) that each event's ``hash`` is computed with, so an event cannot
  be edited and the chain re-hashed forward by someone who can only write to the database. They
  form a keyring, ``settings.BLAZON_AUDIT_KEYS``::

      "<key id>:<base64 of at least 32 bytes>,<key id>:<base64>"

  The FIRST entry keys new events; every listed key verifies the events that name its id. Each
  event stores the id of its key (``AuditEvent.key_id``), so rotating (putting a new key first
  and keeping the old ones after it) leaves old events verifiable.

  Embedded default (nothing configured, not production): the keyring is read from the file
  ``settings.BLAZON_AUDIT_KEY_FILE`` (``var/audit-chain.keys``), created with one random key on
  first use. A key derived from ``SECRET_KEY`` would not do there: the embedded ``SECRET_KEY`` is
  a constant published in the source, so anyone could compute the key.

- the *checkpoint signing key* (Ed25519), a PKCS#8 PEM file (``BLAZON_AUDIT_SIGNING_KEY_FILE``,
  embedded default ``var/audit-signing-key.pem``, created on first use) that
  ``manage.py audit_checkpoint`` signs checkpoints with.

Nothing here logs or formats key material.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MIN_KEY_BYTES = 32
KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")


class AuditKeyMissing(Exception):
    """An event names a chain key id that is not in the configured keyring."""


@dataclass(frozen=True)
class AuditKeyRing:
    """The chain keys configured; ``current_id`` keys new events. ``repr`` shows no key."""

    keys: dict[str, bytes] = field(repr=False)
    current_id: str
    source: str  # "BLAZON_AUDIT_KEYS" or the key file's path, for messages

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current_id]

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise AuditKeyMissing(
                f"audit chain key {key_id!r} is not configured in {self.source} "
                f"(configured: {', '.join(self.keys) or 'none'})"
            ) from None


def parse_audit_keys(raw: str, *, where: str = "BLAZON_AUDIT_KEYS") -> tuple[dict[str, bytes], str]:
    """Parse ``"id1:<base64>,id2:<base64>"`` (commas or new lines) into the keys and the id of
    the first (current) one. Errors name the entry by position and id, never its material."""
    keys: dict[str, bytes] = {}
    first = ""
    lines = [line for line in raw.splitlines() if not line.strip().startswith("#")]
    entries = [e.strip() for e in re.split(r"[,\n]", "\n".join(lines)) if e.strip()]
    for position, entry in enumerate(entries, start=1):
        key_id, sep, encoded = (part.strip() for part in entry.partition(":"))
        if not sep or not encoded:
            raise ImproperlyConfigured(f"{where} entry #{position} must look like '<key id>:<base64 key>'")
        if not KEY_ID.fullmatch(key_id):
            raise ImproperlyConfigured(
                f"{where} entry #{position}: the key id must be 1-32 letters, digits, '.', '_' or '-'"
            )
        if key_id in keys:
            raise ImproperlyConfigured(f"{where} lists key id {key_id!r} more than once")
        try:
            material = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(
                f"{where} entry #{position} ({key_id}): the key is not valid base64"
            ) from None
        if len(material) < MIN_KEY_BYTES:
            raise ImproperlyConfigured(
                f"{where} entry #{position} ({key_id}): the key must be at least {MIN_KEY_BYTES} bytes"
            )
        keys[key_id] = material
        first = first or key_id
    if not keys:
        raise ImproperlyConfigured(f"{where} holds no key")
    return keys, first


def generate_audit_key(key_id: str) -> str:
    """A new keyring entry ``<key id>:<base64 of 32 random bytes>``."""
    if not KEY_ID.fullmatch(key_id):
        raise ValueError("the key id must be 1-32 letters, digits, '.', '_' or '-'")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(MIN_KEY_BYTES)).decode()}"


def _create_private_file(path: Path, content: bytes) -> None:
    """Write ``content`` to a new file readable by its owner only; if another process created it
    first (the web server and run_adapters start together), keep theirs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def _read_key_file(path: Path) -> str:
    if not path.exists():
        entry = generate_audit_key("local-" + secrets.token_hex(4))
        _create_private_file(
            path,
            (
                "# Blazon audit chain keys (embedded default). The first key signs new events; keep\n"
                "# every older key listed below it. Never delete this file: without it, the audit\n"
                "# log can no longer be verified.\n" + entry + "\n"
            ).encode(),
        )
    return path.read_text()


@functools.lru_cache(maxsize=8)
def _build_keyring(raw: str, key_file: str, production: bool) -> AuditKeyRing:
    if raw.strip():
        keys, current = parse_audit_keys(raw)
        return AuditKeyRing(keys=keys, current_id=current, source="BLAZON_AUDIT_KEYS")
    if production:
        raise ImproperlyConfigured("BLAZON_AUDIT_KEYS must be set in production (see docs/configuration.md)")
    path = Path(key_file)
    keys, current = parse_audit_keys(_read_key_file(path), where=str(path))
    return AuditKeyRing(keys=keys, current_id=current, source=str(path))


def audit_keyring() -> AuditKeyRing:
    """The chain keys from the current settings (parsing is cached by value, so
    ``override_settings`` takes effect at once)."""
    return _build_keyring(
        getattr(settings, "BLAZON_AUDIT_KEYS", "") or "",
        str(settings.BLAZON_AUDIT_KEY_FILE),
        bool(getattr(settings, "PRODUCTION", False)),
    )


# --- checkpoint signing (Ed25519) ------------------------------------------------------------


def _pem_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_signing_key() -> Ed25519PrivateKey:
    """The checkpoint signing key: ``BLAZON_AUDIT_SIGNING_KEY_FILE``; in embedded mode, when that
    is not set, ``var/audit-signing-key.pem`` (created on first use)."""
    configured = getattr(settings, "BLAZON_AUDIT_SIGNING_KEY_FILE", "") or ""
    if configured:
        path = Path(configured)
        if not path.exists():
            raise ImproperlyConfigured(f"BLAZON_AUDIT_SIGNING_KEY_FILE {path} does not exist")
    elif getattr(settings, "PRODUCTION", False):
        raise ImproperlyConfigured(
            "BLAZON_AUDIT_SIGNING_KEY_FILE must be set in production to sign checkpoints"
        )
    else:
        path = Path(settings.BLAZON_AUDIT_DEFAULT_SIGNING_KEY_FILE)
        if not path.exists():
            _create_private_file(path, _pem_private(Ed25519PrivateKey.generate()))
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{path} does not hold an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (the output of ``audit_checkpoint --public-key``);
    a private key file is accepted too."""
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        private = serialization.load_pem_private_key(data, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ImproperlyConfigured(f"{path} does not hold an Ed25519 key")
        return private.public_key()
    public = serialization.load_pem_public_key(data)
    if not isinstance(public, Ed25519PublicKey):
        raise ImproperlyConfigured(f"{path} does not hold an Ed25519 public key")
    return public


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex: names the key in a checkpoint without trusting it."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()
