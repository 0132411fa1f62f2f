"""Secrets for resource adapters, encrypted end to end (seed 002: sensitive payloads).

An entry never stores a secret: at most a reference (``payload.secret_id``, a vault secret).
When an adapter pulls such an entry, the vault decrypts the value in memory and it is sealed
to the adapter's own RSA public key, registered with its client:

* a fresh AES-256-GCM content key encrypts the value, with associated data
  ``blazon.adapter.secret:entry=<entry id>`` (a blob copied onto another entry fails);
* RSA-OAEP (SHA-256, MGF1-SHA-256) encrypts the content key to the adapter's public key.

Only the adapter's private key opens it; the result exists only in the HTTP response (never in
the database, the audit log or logs). ``open_for_adapter`` is the reference decryption, for
adapter authors and the tests. Nothing here logs or formats plaintext or key material.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from blazon.errors import ValidationFailed

ALGORITHM = "RSA-OAEP-256+A256GCM"
MIN_RSA_BITS = 2048
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def public_key_load(pem: str) -> rsa.RSAPublicKey:
    """The RSA public key in ``pem``; a clear ``ValidationFailed`` when it is not one we accept."""
    try:
        key = serialization.load_pem_public_key((pem or "").strip().encode())
    except (ValueError, TypeError):
        raise ValidationFailed(
            "The public key is not a PEM-encoded public key (-----BEGIN PUBLIC KEY-----).",
            fields={"public_key": ["Not a PEM public key."]},
        ) from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise ValidationFailed(
            f"The public key must be an RSA key of {MIN_RSA_BITS} bits or more.",
            fields={"public_key": [f"RSA, {MIN_RSA_BITS} bits or more."]},
        )
    return key


def key_id(pem: str) -> str:
    """SHA-256 of the key's DER SubjectPublicKeyInfo (hex): which key a blob was sealed to."""
    der = public_key_load(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def secret_aad(entry_id: int) -> bytes:
    return f"blazon.adapter.secret:entry={entry_id}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def seal_for_adapter(plaintext: str, *, public_key_pem: str, entry_id: int) -> dict[str, str]:
    """Encrypt ``plaintext`` so that only the holder of the private key of ``public_key_pem``
    can read it, bound to ``entry_id``."""
    key = public_key_load(public_key_pem)
    content_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    aad = secret_aad(entry_id)
    ciphertext = AESGCM(content_key).encrypt(nonce, plaintext.encode("utf-8"), aad)
    return {
        "alg": ALGORITHM,
        "kid": key_id(public_key_pem),
        "encrypted_key": _b64(key.encrypt(content_key, _OAEP)),
        "nonce": _b64(nonce),
        "ciphertext": _b64(ciphertext),
        "aad": aad.decode(),
    }


def open_for_adapter(blob: dict[str, Any], *, private_key_pem: bytes, entry_id: int) -> str:
    """Reference decryption (what an adapter does with its private key)."""
    private_key = serialization.load_pem_private_key(private_key_pem, password=None)
    if blob.get("alg") != ALGORITHM:
        raise ValueError(f"unknown algorithm {blob.get('alg')!r}")
    content_key = private_key.decrypt(base64.b64decode(blob["encrypted_key"]), _OAEP)  # type: ignore[union-attr]
    try:
        value = AESGCM(content_key).decrypt(
            base64.b64decode(blob["nonce"]), base64.b64decode(blob["ciphertext"]), secret_aad(entry_id)
        )
    except InvalidTag:
        raise ValueError("the secret failed authentication (altered, or sealed for another entry)") from None
    return value.decode("utf-8")
