"""Envelope encryption for the vault (AES-256-GCM, versioned master keys).

Each secret has its own random 256-bit *data key*. The secret's value is encrypted with the
data key; the data key is *wrapped* (encrypted) with a *master key* identified by a version
number. Master keys come from ``settings.BLAZON_VAULT_KEYS``::

    "1:<base64 of 32 bytes>,2:<base64 of 32 bytes>"

The highest version wraps new data keys; every listed version can unwrap. Rotating a master
key therefore only re-wraps the small data keys (``vault.services.secrets_rewrap``); the
secrets' ciphertexts are never touched.

Both encryptions carry associated data (AAD) that binds them to the row: the value to the
secret's id, kind, owner and account; the wrapped data key to the secret's id and the master
key version. Copying a ciphertext, nonce or wrapped key onto another row, or editing those
columns, makes decryption fail with :class:`VaultIntegrityError` instead of returning garbage.

Nothing in this module logs or formats key material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("blazon.vault")

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce size
FORMAT_VERSION = 1
DEVELOPMENT_KEY_VERSION = 0
_DEV_HKDF_SALT = b"blazon-vault-development-key"
_DEV_HKDF_INFO = b"blazon vault master key v1 (development only, derived from SECRET_KEY)"

_dev_warning_logged = False


class VaultError(Exception):
    """The vault could not complete a cryptographic operation (not a user input error)."""


class VaultKeyMissing(VaultError):
    """A secret is wrapped by a master key version that is not in ``BLAZON_VAULT_KEYS``."""


class VaultIntegrityError(VaultError):
    """Authenticated decryption failed: the stored data was altered, swapped or is corrupt."""


@dataclass(frozen=True)
class KeyRing:
    """The master keys currently configured. ``repr`` never shows key material."""

    keys: Mapping[int, bytes] = field(repr=False)
    current_version: int
    development: bool = False

    @property
    def versions(self) -> list[int]:
        return sorted(self.keys)

    def key(self, version: int) -> bytes:
        try:
            return self.keys[version]
        except KeyError:
            raise VaultKeyMissing(
                f"vault master key version {version} is not configured in BLAZON_VAULT_KEYS "
                f"(configured: {', '.join(map(str, self.versions)) or 'none'})"
            ) from None


def parse_vault_keys(raw: str) -> dict[int, bytes]:
    """Parse ``"1:<base64>,2:<base64>"`` into ``{1: key, 2: key}``.

    Raises ``ImproperlyConfigured`` naming the faulty entry by position and version, never by
    its key material.
    """
    keys: dict[int, bytes] = {}
    seen_material: dict[bytes, int] = {}
    for position, entry in enumerate(raw.split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        version_text, sep, encoded = entry.partition(":")
        version_text, encoded = version_text.strip(), encoded.strip()
        where = f"BLAZON_VAULT_KEYS entry #{position}"
        if not sep or not encoded:
            raise ImproperlyConfigured(f"{where} must look like '<version>:<base64 key>'")
        if not version_text.isdigit() or int(version_text) < 1:
            raise ImproperlyConfigured(f"{where}: the version must be a positive integer")
        version = int(version_text)
        if version in keys:
            raise ImproperlyConfigured(f"BLAZON_VAULT_KEYS lists version {version} more than once")
        try:
            material = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"{where} (version {version}): the key is not valid base64") from None
        if len(material) != KEY_BYTES:
            raise ImproperlyConfigured(
                f"{where} (version {version}): the key must be {KEY_BYTES} bytes, got {len(material)}"
            )
        if material in seen_material:
            raise ImproperlyConfigured(
                f"BLAZON_VAULT_KEYS versions {seen_material[material]} and {version} hold the same key"
            )
        seen_material[material] = version
        keys[version] = material
    return keys


def derive_development_key(secret_key: str) -> bytes:
    """Deterministic master key for the embedded default, derived from ``SECRET_KEY`` (HKDF)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=_DEV_HKDF_SALT, info=_DEV_HKDF_INFO).derive(
        secret_key.encode()
    )


@functools.lru_cache(maxsize=8)
def _build_keyring(raw: str, secret_key: str, production: bool) -> KeyRing:
    global _dev_warning_logged
    if raw.strip():
        keys = parse_vault_keys(raw)
        if not keys:
            raise ImproperlyConfigured("BLAZON_VAULT_KEYS holds no key")
        return KeyRing(keys=keys, current_version=max(keys))
    if production:
        raise ImproperlyConfigured("BLAZON_VAULT_KEYS must be set in production")
    if not _dev_warning_logged:
        _dev_warning_logged = True
        logger.warning(
            "BLAZON_VAULT_KEYS is not set: the vault uses a development key derived from SECRET_KEY. "
            "Do not store real secrets; set BLAZON_VAULT_KEYS (python manage.py vault_generate_key)."
        )
    return KeyRing(
        keys={DEVELOPMENT_KEY_VERSION: derive_development_key(secret_key)},
        current_version=DEVELOPMENT_KEY_VERSION,
        development=True,
    )


def keyring() -> KeyRing:
    """The master keys from the current settings (re-read each call; parsing is cached by value,
    so ``override_settings`` and a changed environment take effect immediately)."""
    return _build_keyring(
        getattr(settings, "BLAZON_VAULT_KEYS", "") or "",
        settings.SECRET_KEY,
        bool(getattr(settings, "PRODUCTION", False)),
    )


def generate_master_key() -> str:
    """A new random master key, base64-encoded (the part after ``<version>:``)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


# --- associated data ------------------------------------------------------------------------


def _aad(purpose: str, /, **parts: Any) -> bytes:
    return json.dumps(
        {
            "purpose": purpose,
            "format": FORMAT_VERSION,
            **{k: None if v is None else str(v) for k, v in parts.items()},
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def value_aad(*, secret_id: Any, kind: str, owner_id: Any, account_id: Any) -> bytes:
    """Binds a secret's ciphertext to the row it belongs to."""
    return _aad("blazon.vault.value", id=secret_id, kind=kind, owner=owner_id, account=account_id)


def wrap_aad(*, secret_id: Any, key_version: int) -> bytes:
    """Binds a wrapped data key to its secret and to the master key version that wrapped it."""
    return _aad("blazon.vault.data-key", id=secret_id, key_version=key_version)


# --- envelope operations --------------------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    """What is stored for one secret. ``repr`` shows only the key version."""

    key_version: int
    wrapped_key: bytes = field(repr=False)
    wrap_nonce: bytes = field(repr=False)
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)


@dataclass(frozen=True)
class Wrapped:
    key_version: int
    wrapped_key: bytes = field(repr=False)
    wrap_nonce: bytes = field(repr=False)


def wrap_data_key(
    data_key: bytes, *, secret_id: Any, ring: KeyRing, key_version: int | None = None
) -> Wrapped:
    version = ring.current_version if key_version is None else key_version
    nonce = os.urandom(NONCE_BYTES)
    wrapped = AESGCM(ring.key(version)).encrypt(
        nonce, data_key, wrap_aad(secret_id=secret_id, key_version=version)
    )
    return Wrapped(key_version=version, wrapped_key=wrapped, wrap_nonce=nonce)


def unwrap_data_key(
    *, secret_id: Any, key_version: int, wrapped_key: bytes, wrap_nonce: bytes, ring: KeyRing
) -> bytes:
    master = ring.key(key_version)
    try:
        data_key = AESGCM(master).decrypt(
            bytes(wrap_nonce), bytes(wrapped_key), wrap_aad(secret_id=secret_id, key_version=key_version)
        )
    except (InvalidTag, ValueError):
        raise VaultIntegrityError(
            f"the data key of secret {secret_id} failed authentication under master key version {key_version}: "
            "the wrapped key or its nonce was altered or moved from another secret, or the master key for "
            "this version is not the one that wrapped it"
        ) from None
    if len(data_key) != KEY_BYTES:  # pragma: no cover - only possible with a forged, authenticated blob
        raise VaultIntegrityError(f"the data key of secret {secret_id} has the wrong length")
    return data_key


def seal(
    plaintext: str, *, secret_id: Any, kind: str, owner_id: Any, account_id: Any, ring: KeyRing
) -> Sealed:
    """Encrypt ``plaintext`` under a fresh data key wrapped by the current master key."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    aad = value_aad(secret_id=secret_id, kind=kind, owner_id=owner_id, account_id=account_id)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext.encode("utf-8"), aad)
    wrapped = wrap_data_key(data_key, secret_id=secret_id, ring=ring)
    return Sealed(
        key_version=wrapped.key_version,
        wrapped_key=wrapped.wrapped_key,
        wrap_nonce=wrapped.wrap_nonce,
        nonce=nonce,
        ciphertext=ciphertext,
    )


def open_sealed(
    *,
    secret_id: Any,
    kind: str,
    owner_id: Any,
    account_id: Any,
    key_version: int,
    wrapped_key: bytes,
    wrap_nonce: bytes,
    nonce: bytes,
    ciphertext: bytes,
    ring: KeyRing,
) -> str:
    """Decrypt a stored secret; raise ``VaultIntegrityError`` / ``VaultKeyMissing``, never garbage."""
    data_key = unwrap_data_key(
        secret_id=secret_id,
        key_version=key_version,
        wrapped_key=wrapped_key,
        wrap_nonce=wrap_nonce,
        ring=ring,
    )
    aad = value_aad(secret_id=secret_id, kind=kind, owner_id=owner_id, account_id=account_id)
    try:
        plaintext = AESGCM(data_key).decrypt(bytes(nonce), bytes(ciphertext), aad)
    except (InvalidTag, ValueError):
        raise VaultIntegrityError(
            f"secret {secret_id} failed authentication: its ciphertext or nonce was altered, or it was moved "
            "from another secret (id, kind, owner or account do not match what it was sealed with)"
        ) from None
    return plaintext.decode("utf-8")
