"""ID-token signing keys: RS256, the private key sealed in the vault (or given by the
environment), rotated with the previous key still published in the JWKS for a while.

* ``BLAZON_OIDC_RSA_PRIVATE_KEY`` (PEM) set: that key signs; keys in the database are only
  published (so a switch from stored keys to an injected one keeps old tokens verifiable).
* Otherwise the ACTIVE ``SigningKey`` signs; the first ID token creates one.
* ``signing_key_rotate`` makes a new ACTIVE key and turns the old one PREVIOUS; PREVIOUS keys
  stay in the JWKS for ``BLAZON_OIDC_KEY_OVERLAP_SECONDS`` and are then RETIRED.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from jwcrypto import jwk

from blazon.audit.services import audit_record
from oidc.models import SigningKey, SigningKeyState
from vault.models import SecretKind
from vault.services import secret_reveal, secret_store

logger = logging.getLogger("blazon.oidc")

KEY_BITS = 3072
_private_cache: dict[str, jwk.JWK] = {}
_cache_lock = threading.Lock()


def _env_key() -> jwk.JWK | None:
    pem = getattr(settings, "BLAZON_OIDC_RSA_PRIVATE_KEY", "")
    if not pem:
        return None
    cache_key = "env:" + hashlib.sha256(pem.encode()).hexdigest()
    key = _private_cache.get(cache_key)
    if key is None:
        key = jwk.JWK.from_pem(pem.encode())
        _private_cache[cache_key] = key
    return key


def _public(key: jwk.JWK) -> dict[str, Any]:
    data = json.loads(key.export_public())
    data.update({"alg": "RS256", "use": "sig", "kid": key.thumbprint()})
    return data


@transaction.atomic
def signing_key_rotate(*, actor: Any, source: str) -> SigningKey:
    """Create a new ACTIVE signing key; the current one becomes PREVIOUS (still published)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key = jwk.JWK.from_pem(pem.encode())
    kid = key.thumbprint()
    now = timezone.now()
    previous = list(SigningKey.objects.select_for_update().filter(state=SigningKeyState.ACTIVE))
    SigningKey.objects.filter(pk__in=[k.pk for k in previous]).update(
        state=SigningKeyState.PREVIOUS, rotated_at=now
    )
    secret = secret_store(
        actor=actor,
        source=source,
        owner=None,
        kind=SecretKind.APPLICATION_CREDENTIAL,
        name=f"OIDC ID-token signing key {kid}",
        value=pem,
    )
    signing_key = SigningKey.objects.create(kid=kid, secret=secret, public_jwk=_public(key))
    audit_record(
        actor=actor,
        action="oidc.signing_key.rotated",
        obj=signing_key,
        old={"kids": [k.kid for k in previous]} if previous else None,
        new={"kid": kid, "bits": KEY_BITS},
        source=source,
    )
    signing_keys_retire(actor=actor, source=source)
    return signing_key


@transaction.atomic
def signing_keys_retire(*, actor: Any, source: str) -> int:
    """Withdraw from the JWKS the PREVIOUS keys replaced longer ago than the overlap."""
    cutoff = timezone.now() - timedelta(seconds=settings.BLAZON_OIDC_KEY_OVERLAP_SECONDS)
    stale = list(
        SigningKey.objects.select_for_update().filter(state=SigningKeyState.PREVIOUS, rotated_at__lt=cutoff)
    )
    if not stale:
        return 0
    SigningKey.objects.filter(pk__in=[k.pk for k in stale]).update(
        state=SigningKeyState.RETIRED, retired_at=timezone.now()
    )
    for key in stale:
        audit_record(
            actor=actor, action="oidc.signing_key.retired", obj=key, new={"kid": key.kid}, source=source
        )
    return len(stale)


def _stored_private(signing_key: SigningKey) -> jwk.JWK:
    key = _private_cache.get(signing_key.kid)
    if key is None:
        with _cache_lock:
            key = _private_cache.get(signing_key.kid)
            if key is None:
                # Audited read ("vault.secret.revealed"): once per process and key.
                pem = secret_reveal(actor=None, source="oidc", secret=signing_key.secret)
                key = jwk.JWK.from_pem(pem.encode())
                _private_cache[signing_key.kid] = key
    return key


def active_signing_key() -> jwk.JWK:
    """The private key that signs ID tokens now (created on first use when none exists)."""
    env = _env_key()
    if env is not None:
        return env
    current = SigningKey.objects.filter(state=SigningKeyState.ACTIVE).select_related("secret").first()
    if current is None:
        try:
            current = signing_key_rotate(actor=None, source="automatic")
        except IntegrityError:  # another worker created it at the same moment
            current = SigningKey.objects.select_related("secret").get(state=SigningKeyState.ACTIVE)
    return _stored_private(current)


def published_keys() -> list[dict[str, Any]]:
    """The JWKS ``keys``: the injected key (if any), then the ACTIVE and PREVIOUS stored keys."""
    keys = []
    env = _env_key()
    if env is not None:
        keys.append(_public(env))
    seen = {k["kid"] for k in keys}
    cutoff = timezone.now() - timedelta(seconds=settings.BLAZON_OIDC_KEY_OVERLAP_SECONDS)
    current = Q(state=SigningKeyState.ACTIVE) | Q(state=SigningKeyState.PREVIOUS, rotated_at__gte=cutoff)
    for public in SigningKey.objects.filter(current).values_list("public_jwk", flat=True):
        if public["kid"] not in seen:
            keys.append(public)
    return keys


def verification_key(kid: str | None) -> jwk.JWK | None:
    """The public key a token with header ``kid`` verifies under, if it is still published."""
    for public in published_keys():
        if public["kid"] == kid:
            return jwk.JWK(**public)
    return None
