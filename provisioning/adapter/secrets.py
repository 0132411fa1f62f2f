"""Opening the secrets the core seals to this adapter's RSA key (docs/adapters.md §5).

The same algorithm as ``provisioning.crypto.open_for_adapter``, without Django: RSA-OAEP
(SHA-256) unwraps an AES-256-GCM key; the associated data binds the blob to its entry. The
plaintext lives only in memory, for the one connector call that needs it."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALGORITHM = "RSA-OAEP-256+A256GCM"
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class SecretError(ValueError):
    """The sealed secret cannot be opened with our key (wrong key, altered, other entry)."""


def secret_open(blob: dict[str, Any], *, private_key_pem: bytes, entry_id: int) -> str:
    aad = f"blazon.adapter.secret:entry={entry_id}".encode()
    if blob.get("alg") != ALGORITHM:
        raise SecretError(f"unknown algorithm {blob.get('alg')!r}")
    if blob.get("aad") not in (None, aad.decode()):
        raise SecretError("the secret was sealed for another entry")
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SecretError("the adapter's private key is not an RSA key")
    try:
        content_key = key.decrypt(base64.b64decode(blob["encrypted_key"]), _OAEP)
        value = AESGCM(content_key).decrypt(
            base64.b64decode(blob["nonce"]), base64.b64decode(blob["ciphertext"]), aad
        )
    except (InvalidTag, ValueError, KeyError) as exc:
        raise SecretError("the secret cannot be opened with this adapter's key") from exc
    return value.decode("utf-8")
