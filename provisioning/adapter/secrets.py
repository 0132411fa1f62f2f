"""Opening the secrets the core seals to this adapter's RSA key (docs/adapters.md §5).

The same algorithm as ``provisioning.crypto.open_for_adapter``, without Django: RSA-OAEP
(SHA-256) unwraps an AES-256-GCM key; the associated data binds the blob to its entry. The
plaintext lives only in memory, for the one connector call that needs it."""

from __future__ import annotations

import base64
import os
import secrets
import string
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALGORITHM = "RSA-OAEP-256+A256GCM"
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class SecretError(ValueError):
    """The sealed secret cannot be opened with our key (wrong key, altered, other entry)."""


def _private_key(private_key_pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SecretError("the adapter's private key is not an RSA key")
    return key


def _open(blob: dict[str, Any], *, private_key_pem: bytes, aad: bytes, unreadable: str) -> str:
    """RSA-OAEP unwraps the AES-256-GCM key, which opens the value bound to ``aad``."""
    key = _private_key(private_key_pem)
    try:
        content_key = key.decrypt(base64.b64decode(blob["encrypted_key"]), _OAEP)
        value = AESGCM(content_key).decrypt(
            base64.b64decode(blob["nonce"]), base64.b64decode(blob["ciphertext"]), aad
        )
    except (InvalidTag, ValueError, KeyError) as exc:
        raise SecretError(unreadable) from exc
    return value.decode("utf-8")


def secret_open(blob: dict[str, Any], *, private_key_pem: bytes, entry_id: int) -> str:
    aad = f"blazon.adapter.secret:entry={entry_id}".encode()
    if blob.get("alg") != ALGORITHM:
        raise SecretError(f"unknown algorithm {blob.get('alg')!r}")
    if blob.get("aad") not in (None, aad.decode()):
        raise SecretError("the secret was sealed for another entry")
    return _open(
        blob,
        private_key_pem=private_key_pem,
        aad=aad,
        unreadable="the secret cannot be opened with this adapter's key",
    )


# --- credentials the adapter creates, kept sealed to its own key until the core stores them ---


def _own_aad(entry_id: int, account_id: int, kind: str) -> bytes:
    return f"blazon.adapter.credential:entry={entry_id}:account={account_id}:kind={kind}".encode()


def seal_own(
    value: str, *, private_key_pem: bytes, entry_id: int, account_id: int, kind: str
) -> dict[str, str]:
    """Seal ``value`` to the adapter's own public key (same scheme as the core's blobs), so the
    journal never holds a created credential in clear."""
    key = _private_key(private_key_pem)
    content_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    aad = _own_aad(entry_id, account_id, kind)
    return {
        "alg": ALGORITHM,
        "encrypted_key": base64.b64encode(key.public_key().encrypt(content_key, _OAEP)).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(
            AESGCM(content_key).encrypt(nonce, value.encode("utf-8"), aad)
        ).decode(),
        "aad": aad.decode(),
    }


def open_own(
    blob: dict[str, Any], *, private_key_pem: bytes, entry_id: int, account_id: int, kind: str
) -> str:
    aad = _own_aad(entry_id, account_id, kind)
    if blob.get("alg") != ALGORITHM or blob.get("aad") != aad.decode():
        raise SecretError("the kept credential belongs to another entry or was altered")
    return _open(
        blob,
        private_key_pem=private_key_pem,
        aad=aad,
        unreadable="the kept credential cannot be opened with this adapter's key",
    )


def password_generate(length: int = 24) -> str:
    """A random initial password (letters, digits, a few symbols applications accept; at least
    one lower, one upper case letter and one digit), as the vault generates them."""
    alphabet = string.ascii_letters + string.digits + "-_.!@#%"
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(max(length, 12)))
        if (
            any(c.isdigit() for c in value)
            and any(c.islower() for c in value)
            and any(c.isupper() for c in value)
        ):
            return value
