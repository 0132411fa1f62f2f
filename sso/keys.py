"""The IdP's signing keys: generated on first use (or by ``manage.py saml_idp_key``), the private
key sealed in the vault, rotatable with an overlap (a NEXT key is published before it signs).

pysaml2 (and the xmlsec1 fallback signer) read the key from a file, and the in-process signer
(``sso.signing``) loads it from there once: the decrypted PEM is written once per process to a
0600 file in a private 0700 temporary directory (tmpfs when the system has one) and removed at
exit. It is never logged nor audited.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from blazon.audit.services import audit_record
from sso.models import IdPKey, KeyStatus
from vault import services as vault_services
from vault.models import SecretKind

DEFAULT_KEY_SIZE = 3072
CERT_YEARS = 5


@dataclass(frozen=True)
class SigningKey:
    """The decrypted ACTIVE key as the signer needs it (paths of the PEM files)."""

    key_id: int
    key_file: str
    cert_file: str
    certificate: str


def _key_size() -> int:
    return int(getattr(settings, "BLAZON_SAML_KEY_SIZE", DEFAULT_KEY_SIZE))


def _describe(key: IdPKey) -> dict:
    return {
        "status": key.status,
        "key_size": key.key_size,
        "fingerprint_sha256": key.fingerprint_sha256,
        "not_after": key.not_after,
    }


def _new_key_material(key_size: int) -> tuple[str, str, str, dt.datetime]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Blazon SAML IdP")])
    now = dt.datetime.now(dt.UTC)
    not_after = now + dt.timedelta(days=365 * CERT_YEARS)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .sign(private, hashes.SHA256())
    )
    key_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
    return key_pem, cert_pem, fingerprint, not_after


def _create(*, actor, source: str, status: str, key_size: int) -> IdPKey:
    key_pem, cert_pem, fingerprint, not_after = _new_key_material(key_size)
    secret = vault_services.secret_store(
        actor=actor,
        source=source,
        owner=None,
        kind=SecretKind.APPLICATION_CREDENTIAL,
        name=f"SAML IdP signing key {fingerprint[:23]}",
        value=key_pem,
    )
    key = IdPKey.objects.create(
        status=status,
        secret=secret,
        certificate=cert_pem,
        key_size=key_size,
        fingerprint_sha256=fingerprint,
        not_after=not_after,
        activated_at=timezone.now() if status == KeyStatus.ACTIVE else None,
    )
    audit_record(actor=actor, action="sso.saml.key.created", obj=key, new=_describe(key), source=source)
    return key


def idp_key_ensure(*, actor=None, source: str = "automatic", key_size: int | None = None) -> IdPKey:
    """The ACTIVE key, generated if there is none yet (first use)."""
    key = IdPKey.objects.filter(status=KeyStatus.ACTIVE).first()
    if key is not None:
        return key
    try:
        with transaction.atomic():
            return _create(
                actor=actor, source=source, status=KeyStatus.ACTIVE, key_size=key_size or _key_size()
            )
    except IntegrityError:  # another process created it first
        return IdPKey.objects.get(status=KeyStatus.ACTIVE)


@transaction.atomic
def idp_key_stage_next(*, actor, source: str, key_size: int | None = None) -> IdPKey:
    """Create the NEXT key (published in the metadata, not signing yet); replaces an older NEXT."""
    for old in IdPKey.objects.select_for_update().filter(status=KeyStatus.NEXT):
        old.status = KeyStatus.RETIRED
        old.retired_at = timezone.now()
        old.save(update_fields=["status", "retired_at"])
        audit_record(actor=actor, action="sso.saml.key.retired", obj=old, new=_describe(old), source=source)
    return _create(actor=actor, source=source, status=KeyStatus.NEXT, key_size=key_size or _key_size())


@transaction.atomic
def idp_key_rotate(*, actor, source: str, key_size: int | None = None) -> IdPKey:
    """Make the NEXT key (or, without one, a new key) ACTIVE and retire the current one."""
    locked = list(IdPKey.objects.select_for_update().filter(status__in=[KeyStatus.ACTIVE, KeyStatus.NEXT]))
    now = timezone.now()
    for key in locked:
        if key.status == KeyStatus.ACTIVE:
            key.status = KeyStatus.RETIRED
            key.retired_at = now
            key.save(update_fields=["status", "retired_at"])
            audit_record(
                actor=actor, action="sso.saml.key.retired", obj=key, new=_describe(key), source=source
            )
    nxt = next((k for k in locked if k.status == KeyStatus.NEXT), None)
    if nxt is None:
        return _create(actor=actor, source=source, status=KeyStatus.ACTIVE, key_size=key_size or _key_size())
    old = _describe(nxt)
    nxt.status = KeyStatus.ACTIVE
    nxt.activated_at = now
    nxt.save(update_fields=["status", "activated_at"])
    audit_record(
        actor=actor, action="sso.saml.key.activated", obj=nxt, old=old, new=_describe(nxt), source=source
    )
    return nxt


def published_certificates() -> list[str]:
    """The certificates the metadata lists: the ACTIVE key, then the NEXT one."""
    idp_key_ensure()
    keys = IdPKey.objects.filter(status__in=[KeyStatus.ACTIVE, KeyStatus.NEXT]).order_by("status")
    return [k.certificate for k in keys]


# --- the decrypted key, once per process ----------------------------------------------------

_lock = threading.Lock()
_cache: dict[int, SigningKey] = {}
_dir: str | None = None


def _private_dir() -> str:
    global _dir
    if _dir is None:
        shm = "/dev/shm"  # noqa: S108 - only as the parent of mkdtemp's private, unpredictable 0700 directory
        base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
        _dir = tempfile.mkdtemp(prefix="blazon-saml-", dir=base)
        atexit.register(shutil.rmtree, _dir, True)
    return _dir


def _write_private(path: str, data: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)


def signing_key() -> SigningKey:
    """The ACTIVE key's PEM files (decrypting it from the vault the first time, which is audited)."""
    key = idp_key_ensure()
    cached = _cache.get(key.pk)
    if cached is not None:
        return cached
    with _lock:
        cached = _cache.get(key.pk)
        if cached is not None:
            return cached
        pem = vault_services.secret_reveal(actor=None, source="automatic", secret=key.secret)
        directory = _private_dir()
        key_file = os.path.join(directory, f"idp-{key.pk}.key")
        cert_file = os.path.join(directory, f"idp-{key.pk}.crt")
        _write_private(key_file, pem)
        _write_private(cert_file, key.certificate)
        for old in _cache.values():  # a rotated-out key leaves the disk at once
            for path in (old.key_file, old.cert_file):
                with contextlib.suppress(OSError):
                    os.unlink(path)
        _cache.clear()
        _cache[key.pk] = SigningKey(
            key_id=key.pk, key_file=key_file, cert_file=cert_file, certificate=key.certificate
        )
        return _cache[key.pk]
