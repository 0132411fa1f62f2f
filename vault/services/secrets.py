"""Secrets: store, reveal, change and delete (values sealed with the key ring; never in audit or logs)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.errors import Conflict, ValidationFailed
from directory.models import AccountType
from vault import crypto
from vault.models import (
    Secret,
    SecretKind,
)

logger = logging.getLogger("blazon.vault")


MAX_VALUE_BYTES = 64 * 1024


_UNSET: Any = object()


def _validate(*, kind: str, name: str, value: str | None, owner: Any, account: Any) -> None:
    errors: dict[str, list[str]] = {}
    if kind not in SecretKind.values:
        errors["kind"] = [
            _("Unknown kind %(kind)r; expected one of %(values)s.")
            % {"kind": kind, "values": ", ".join(SecretKind.values)}
        ]
    if not isinstance(name, str) or not name.strip():
        errors["name"] = [_("A name is required.")]
    elif len(name) > (Secret._meta.get_field("name").max_length or 200):
        errors["name"] = [_("The name is too long (200 characters at most).")]
    if value is not None:
        if not isinstance(value, str):
            errors["value"] = [_("The value must be text.")]
        elif not value:
            errors["value"] = [_("The value must not be empty.")]
        elif len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            errors["value"] = [
                _("The value is too large (%(max)s bytes at most).") % {"max": MAX_VALUE_BYTES}
            ]
    if kind == SecretKind.PERSONAL and owner is None:
        errors["owner"] = [_("A personal secret needs an owner.")]
    if kind == SecretKind.ACCOUNT_PASSWORD and account is None:
        errors["account"] = [_("An account password needs an account.")]
    if errors:
        raise ValidationFailed(_("The secret is not valid."), fields=errors)


def _check_unique(*, kind: str, name: str, owner: Any, account: Any, exclude_pk: Any = None) -> None:
    qs = Secret.objects.exclude(pk=exclude_pk) if exclude_pk else Secret.objects.all()
    if kind == SecretKind.ACCOUNT_PASSWORD and qs.filter(kind=kind, account=account).exists():
        raise Conflict(
            _("This account already has a password in the vault."), fields={"account": [_("Already stored.")]}
        )
    if kind == SecretKind.PERSONAL and qs.filter(kind=kind, owner=owner, name=name).exists():
        raise Conflict(_("You already have a secret with this name."), fields={"name": [_("Already used.")]})


def _apply_sealed(secret: Secret, sealed: crypto.Sealed) -> None:
    secret.key_version = sealed.key_version
    secret.wrapped_key = sealed.wrapped_key
    secret.wrap_nonce = sealed.wrap_nonce
    secret.nonce = sealed.nonce
    secret.ciphertext = sealed.ciphertext


def _seal_for(secret: Secret, value: str, ring: crypto.KeyRing) -> crypto.Sealed:
    return crypto.seal(
        value,
        secret_id=secret.pk,
        kind=secret.kind,
        owner_id=secret.owner_id,
        account_id=secret.account_id,
        ring=ring,
    )


def _decrypt(secret: Secret, ring: crypto.KeyRing) -> str:
    return crypto.open_sealed(
        secret_id=secret.pk,
        kind=secret.kind,
        owner_id=secret.owner_id,
        account_id=secret.account_id,
        key_version=secret.key_version,
        wrapped_key=bytes(secret.wrapped_key),
        wrap_nonce=bytes(secret.wrap_nonce),
        nonce=bytes(secret.nonce),
        ciphertext=bytes(secret.ciphertext),
        ring=ring,
    )


def _describe(secret: Secret) -> dict[str, Any]:
    """What the audit log may know about a secret (never its value or crypto material)."""
    return {
        "kind": secret.kind,
        "name": secret.name,
        "owner_id": secret.owner_id,
        "account_id": secret.account_id,
        "key_version": secret.key_version,
    }


@transaction.atomic
def secret_store(
    *, actor: Any, source: str, owner: Any, kind: str, name: str, value: str, account: Any = None
) -> Secret:
    """Put a new secret in the vault: a personal secret of ``owner``, the password of ``account``
    or an application credential. The value is encrypted under a fresh data key."""
    name = name.strip() if isinstance(name, str) else name
    _validate(kind=kind, name=name, value=value, owner=owner, account=account)
    _check_unique(kind=kind, name=name, owner=owner, account=account)
    secret = Secret(id=uuid.uuid4(), kind=kind, name=name, owner=owner, account=account)
    _apply_sealed(secret, _seal_for(secret, value, crypto.keyring()))
    secret.save(force_insert=True)
    audit_record(
        actor=actor,
        action="vault.secret.stored",
        obj=secret,
        new=_describe(secret),
        source=source,
        subject_user_id=secret.owner_id,
    )
    return secret


@transaction.atomic
def secret_reveal(*, actor: Any, source: str, secret: Secret) -> str:
    """Decrypt a secret for ``actor`` and record that it was revealed (the value is not recorded).

    Raises ``VaultIntegrityError`` when the stored data was altered and ``VaultKeyMissing`` when
    its master key version is no longer configured."""
    stored = Secret.objects.get(pk=secret.pk)
    try:
        value = _decrypt(stored, crypto.keyring())
    except crypto.VaultError as exc:
        logger.error("vault: could not reveal secret %s: %s", stored.pk, exc)
        raise
    audit_record(
        actor=actor,
        action="vault.secret.revealed",
        obj=stored,
        new={"kind": stored.kind, "name": stored.name},
        source=source,
        subject_user_id=stored.owner_id,
    )
    return value


@transaction.atomic
def secret_update(
    *,
    actor: Any,
    source: str,
    secret: Secret,
    value: str | None = None,
    name: str | None = None,
    owner: Any = _UNSET,
    account: Any = _UNSET,
) -> Secret:
    """Change a secret's value (a rotation: new data key, ``rotated_at`` set), its name, or whom
    it belongs to. Moving it to another owner or account re-seals it, because the ciphertext
    is bound to them. Returns the updated secret; does nothing when nothing changes."""
    locked = Secret.objects.select_for_update().get(pk=secret.pk)
    new_name = locked.name if name is None else (name.strip() if isinstance(name, str) else name)
    new_owner_id = locked.owner_id if owner is _UNSET else (owner.pk if owner is not None else None)
    new_account_id = locked.account_id if account is _UNSET else (account.pk if account is not None else None)
    _validate(
        kind=locked.kind,
        name=new_name,
        value=value,
        owner=new_owner_id,
        account=new_account_id,
    )
    rebind = (new_owner_id, new_account_id) != (locked.owner_id, locked.account_id)
    if value is None and not rebind and new_name == locked.name:
        return locked
    _check_unique(
        kind=locked.kind, name=new_name, owner=new_owner_id, account=new_account_id, exclude_pk=locked.pk
    )
    ring = crypto.keyring()
    old = _describe(locked)
    plaintext = value if value is not None else (_decrypt(locked, ring) if rebind else None)
    locked.name = new_name
    locked.owner_id = new_owner_id
    locked.account_id = new_account_id
    if plaintext is not None:
        _apply_sealed(locked, _seal_for(locked, plaintext, ring))
    if value is not None:
        locked.rotated_at = timezone.now()
    locked.save()
    audit_record(
        actor=actor,
        action="vault.secret.updated",
        obj=locked,
        old=old,
        new={**_describe(locked), "value_changed": value is not None},
        source=source,
        subject_user_id=locked.owner_id,
    )
    return locked


@transaction.atomic
def secret_take_value(*, actor: Any, source: str, secret: Secret, donor: Secret) -> Secret:
    """Give ``secret`` the value of ``donor`` (a confirmed rotation's new password) and delete the
    donor; the value is never revealed on the way (audited as an update and a delete)."""
    value = _decrypt(Secret.objects.get(pk=donor.pk), crypto.keyring())
    updated = secret_update(actor=actor, source=source, secret=secret, value=value)
    secret_delete(actor=actor, source=source, secret=donor)
    return updated


@transaction.atomic
def secret_delete(*, actor: Any, source: str, secret: Secret) -> None:
    """Remove a secret from the vault for good (its ciphertext and wrapped data key go with it)."""
    locked = Secret.objects.select_for_update().filter(pk=secret.pk).first()
    if locked is None:
        return
    audit_record(
        actor=actor,
        action="vault.secret.deleted",
        obj=locked,
        old=_describe(locked),
        source=source,
        subject_user_id=locked.owner_id,
    )
    locked.delete()


#: The secret kinds a check-in may hand over, by account type (first found wins).
_CHECKIN_KINDS: dict[str, tuple[str, ...]] = {
    AccountType.ADMINISTRATIVE: (SecretKind.ACCOUNT_PASSWORD,),
    AccountType.APPLICATION: (SecretKind.APPLICATION_CREDENTIAL, SecretKind.ACCOUNT_PASSWORD),
}
