"""Vault operations: store, reveal, change and delete secrets; re-wrap data keys after a master
key rotation; release administrative check-outs.

Values are passed in and returned as ``str`` and never written to the audit log or to logs:
audit events name the secret (id, kind, name, owner, account) and what happened to it.
Authorisation (who may reveal which secret) is the caller's job (workspace, console, PAM).
"""

from __future__ import annotations

import logging
import secrets
import string
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon.audit.services import AuditEntry, audit_record, audit_record_many
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from directory.models import Account, AccountStatus, AccountType, ProvisioningEvent, UserStatus
from provisioning.services import entry_write, resource_provisions
from vault import crypto
from vault.models import (
    AdministrativeCheckout,
    CheckoutStatus,
    PasswordRotation,
    RotationStatus,
    Secret,
    SecretKind,
)

logger = logging.getLogger("blazon.vault")

MAX_VALUE_BYTES = 64 * 1024
_UNSET: Any = object()


class RewrapIncomplete(crypto.VaultError):
    """``secrets_rewrap`` finished but some secrets are still under another master key."""

    def __init__(self, *, rewrapped: int, to_version: int, failed: dict[str, str], remaining: int):
        self.rewrapped = rewrapped
        self.to_version = to_version
        self.failed = failed
        self.remaining = remaining
        parts = [f"re-wrapped {rewrapped} secret(s) to master key version {to_version}"]
        if failed:
            sample = "; ".join(f"{sid}: {reason}" for sid, reason in list(failed.items())[:5])
            parts.append(f"{len(failed)} could not be unwrapped ({sample})")
        if remaining:
            parts.append(f"{remaining} were locked by other transactions and are left for the next run")
        super().__init__(", ".join(parts))


# --- helpers --------------------------------------------------------------------------------


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


# --- secrets --------------------------------------------------------------------------------


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


def _rewrap_batch(
    *,
    target: int,
    ring: crypto.KeyRing,
    after: Any,
    exclude: set[Any],
    batch_size: int,
    actor: Any,
    source: str,
) -> tuple[int, Any, dict[str, str]]:
    """Re-wrap one batch in its own transaction; returns (count, last pk seen, failures).

    One audit event per re-wrapped secret, so each secret's history shows which master key
    version wraps it since when."""
    with transaction.atomic():
        qs = Secret.objects.select_for_update(skip_locked=True).exclude(key_version=target)
        if after is not None:
            qs = qs.filter(pk__gt=after)
        if exclude:
            qs = qs.exclude(pk__in=exclude)
        rows = list(
            qs.order_by("pk").only(
                "id", "kind", "name", "owner_id", "key_version", "wrapped_key", "wrap_nonce"
            )[:batch_size]
        )
        if not rows:
            return 0, None, {}
        changed: list[tuple[Secret, int]] = []
        failed: dict[str, str] = {}
        for row in rows:
            try:
                data_key = crypto.unwrap_data_key(
                    secret_id=row.pk,
                    key_version=row.key_version,
                    wrapped_key=bytes(row.wrapped_key),
                    wrap_nonce=bytes(row.wrap_nonce),
                    ring=ring,
                )
            except crypto.VaultError as exc:
                failed[str(row.pk)] = str(exc)
                logger.warning("vault: cannot re-wrap secret %s: %s", row.pk, exc)
                continue
            wrapped = crypto.wrap_data_key(data_key, secret_id=row.pk, ring=ring, key_version=target)
            from_version = row.key_version
            row.key_version, row.wrapped_key, row.wrap_nonce = (
                wrapped.key_version,
                wrapped.wrapped_key,
                wrapped.wrap_nonce,
            )
            changed.append((row, from_version))
        if changed:
            Secret.objects.bulk_update(
                [row for row, _ in changed], ["key_version", "wrapped_key", "wrap_nonce"]
            )
            audit_record_many(
                (
                    AuditEntry(
                        action="vault.secret.rewrapped",
                        object_type="vault.Secret",
                        object_id=row.pk,
                        object_repr=str(row),
                        old={"key_version": from_version},
                        new={"key_version": target},
                        subject_user_id=row.owner_id,
                    )
                    for row, from_version in changed
                ),
                actor=actor,
                source=source,
            )
        return len(changed), rows[-1].pk, failed


def secrets_rewrap(
    *,
    to_version: int | None = None,
    batch_size: int = 500,
    actor: Any = None,
    source: str = "automatic",
    progress: Callable[[int, int], None] | None = None,
    max_passes: int = 5,
) -> int:
    """Re-wrap the data key of every secret not yet under master key ``to_version`` (default:
    the newest configured), leaving the secrets' ciphertexts untouched. Returns how many were
    re-wrapped.

    Runs while the application keeps reading and writing: each batch is its own short
    transaction locking its rows with ``SELECT … FOR UPDATE SKIP LOCKED``; rows busy in another
    transaction are retried in a later pass. Idempotent and resumable: a second run finds
    nothing to do. Raises ``RewrapIncomplete`` (after doing everything it could) when some
    secret cannot be unwrapped or stayed locked. ``progress(done, total)`` is called per batch.
    """
    if batch_size < 1:
        raise ValidationFailed(
            _("The batch size must be at least 1."), fields={"batch_size": [_("Must be >= 1.")]}
        )
    if max_passes < 1:
        raise ValidationFailed(_("At least one pass is needed."), fields={"max_passes": [_("Must be >= 1.")]})
    ring = crypto.keyring()
    target = ring.current_version if to_version is None else to_version
    if target not in ring.keys:
        raise ValidationFailed(
            _("Master key version %(target)s is not configured in BLAZON_VAULT_KEYS (configured: %(value)s).")
            % {"target": target, "value": ", ".join(map(str, ring.versions))},
            fields={"to_version": [_("Not configured.")]},
        )
    total = Secret.objects.exclude(key_version=target).count()
    done = 0
    failed: dict[str, str] = {}
    for attempt in range(max_passes):
        after: Any = None
        while True:
            count, after, batch_failed = _rewrap_batch(
                target=target,
                ring=ring,
                after=after,
                exclude=set(failed),
                batch_size=batch_size,
                actor=actor,
                source=source,
            )
            if after is None:
                break
            done += count
            failed.update(batch_failed)
            if progress is not None:
                progress(done, total)
        remaining = Secret.objects.exclude(key_version=target).exclude(pk__in=set(failed)).count()
        if not remaining or attempt == max_passes - 1:
            break
        time.sleep(0.2 * (attempt + 1))  # rows held by other transactions: give them time to commit
    logger.info("vault: re-wrapped %d secret(s) to master key version %d", done, target)
    if failed or remaining:
        raise RewrapIncomplete(rewrapped=done, to_version=target, failed=failed, remaining=remaining)
    return done


# --- administrative check-outs --------------------------------------------------------------


@transaction.atomic
def checkouts_release_for_user(
    *, actor: Any, source: str, user: Any, reason: str = "user life-cycle change"
) -> int:
    """Release every account the user has checked in (life-cycle cascade on inactivation,
    revocation or removal): the seed's check-out, so an administrative account's password is
    rotated as on a manual check-out. One audit event per check-out; returns the count."""
    active = list(
        AdministrativeCheckout.objects.select_for_update(of=("self",))
        .select_related("account__resource", "secret")
        .filter(user=user, status=CheckoutStatus.ACTIVE)
        .order_by("pk")
    )
    if not active:
        return 0
    now = timezone.now()
    AdministrativeCheckout.objects.filter(pk__in=[c.pk for c in active]).update(
        status=CheckoutStatus.RELEASED, released_at=now, released_reason=reason[:200]
    )
    rotations = {
        c.pk: _rotate(actor=actor, source=source, account=c.account, secret=c.secret)
        if c.account.account_type == AccountType.ADMINISTRATIVE
        else {"rotated": False}
        for c in active
    }
    audit_record_many(
        (
            AuditEntry(
                action="vault.checkout.released",
                object_type="vault.AdministrativeCheckout",
                object_id=c.pk,
                object_repr=f"check-out of account {c.account_id} by user {user.pk}",
                old={"status": CheckoutStatus.ACTIVE},
                new={
                    "status": CheckoutStatus.RELEASED,
                    "account_id": c.account_id,
                    "reason": reason,
                    **rotations[c.pk],
                },
                subject_user_id=user.pk,
            )
            for c in active
        ),
        actor=actor,
        source=source,
    )
    return len(active)


def password_generate(length: int = 24) -> str:
    """A random password for an account (``secrets``: letters, digits and a few symbols that
    applications accept, with at least one of each of the first three kinds)."""
    alphabet = string.ascii_letters + string.digits + "-_.!@#%"
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        if (
            any(c.isdigit() for c in value)
            and any(c.islower() for c in value)
            and any(c.isupper() for c in value)
        ):
            return value


#: The secret kinds a check-in may hand over, by account type (first found wins).
_CHECKIN_KINDS: dict[str, tuple[str, ...]] = {
    AccountType.ADMINISTRATIVE: (SecretKind.ACCOUNT_PASSWORD,),
    AccountType.APPLICATION: (SecretKind.APPLICATION_CREDENTIAL, SecretKind.ACCOUNT_PASSWORD),
}


def _account_secret(account: Account) -> Secret:
    """The credential of ``account`` a check-in hands over; a clear error when there is none or
    when it is ambiguous (several application credentials)."""
    for kind in _CHECKIN_KINDS[account.account_type]:
        found = list(Secret.objects.filter(account=account, kind=kind).order_by("name")[:2])
        if len(found) > 1:
            raise Conflict(
                _("Account %(account)s has several %(value)ss in the vault; keep one to check it in.")
                % {"account": account, "value": SecretKind(kind).label.lower()},
                code="ambiguous_secret",
            )
        if found:
            return found[0]
    raise Conflict(
        _("Account %(account)s has no credential in the vault: store its password before checking it in.")
        % {"account": account},
        fields={"account": [_("No credential in the vault.")]},
        code="no_secret",
    )


def _describe_checkout(checkout: AdministrativeCheckout) -> dict[str, Any]:
    return {
        "status": checkout.status,
        "account_id": checkout.account_id,
        "user_id": checkout.user_id,
        "secret_id": str(checkout.secret_id) if checkout.secret_id else None,
        "exclusive": checkout.exclusive,
        "request_id": checkout.request_id,
    }


@transaction.atomic
def checkout_open(
    *, actor: Any, source: str, account: Account, user: Any, request_id: int | None = None
) -> AdministrativeCheckout:
    """Check-in (seed 002): put an administrative or application account's credential in
    ``user``'s vault until it is released. An administrative account has one holder at a time;
    the same user asking again gets their open check-out back."""
    acc = Account.objects.select_for_update(of=("self",)).select_related("resource").get(pk=account.pk)
    errors: dict[str, list[str]] = {}
    if acc.account_type not in _CHECKIN_KINDS:
        errors["account"] = [
            _(
                "Account %(account)s is a %(type)s account: only administrative "
                "and application accounts are checked in."
            )
            % {"account": acc, "type": acc.get_account_type_display().lower()}
        ]
    elif acc.status != AccountStatus.ACTIVE:
        errors["account"] = [
            _("Account %(account)s is %(status)s: only an active account can be checked in.")
            % {"account": acc, "status": acc.status}
        ]
    if user is None or user.status != UserStatus.ACTIVE:
        who = getattr(user, "username", "nobody")
        errors["user"] = [
            _("%(who)s is %(status)s: only an active user may hold it.")
            % {"who": who, "status": getattr(user, "status", "missing")}
        ]
    if errors:
        raise ValidationFailed(
            "The check-in is not possible: " + " ".join(sum(errors.values(), [])), fields=errors
        )
    exclusive = acc.account_type == AccountType.ADMINISTRATIVE
    held = AdministrativeCheckout.objects.filter(account=acc, status=CheckoutStatus.ACTIVE).select_related(
        "user"
    )
    mine = next((c for c in held if c.user_id == user.pk), None)
    if mine is not None:
        return mine
    if exclusive:
        other = next(iter(held), None)
        if other is not None:
            raise Conflict(
                _(
                    "Account %(account)s is already checked in by %(user)s since %(since)s: one holder at a time."
                )
                % {
                    "account": acc,
                    "user": other.user.username,
                    "since": f"{timezone.localtime(other.checked_out_at):%Y-%m-%d %H:%M}",
                },
                fields={"account": [_("Held by another user.")]},
                code="checked_in_by_other",
            )
    secret = _account_secret(acc)
    try:
        with transaction.atomic():
            checkout = AdministrativeCheckout.objects.create(
                account=acc, user=user, secret=secret, exclusive=exclusive, request_id=request_id
            )
    except IntegrityError as exc:  # a concurrent check-in won the race
        raise Conflict(
            _("Account %(acc)s was checked in by someone else at the same time.") % {"acc": acc}
        ) from exc
    audit_record(
        actor=actor,
        action="vault.checkout.opened",
        obj=checkout,
        new={**_describe_checkout(checkout), "secret_name": secret.name},
        source=source,
        subject_user_id=user.pk,
    )
    return checkout


def _rotate(
    *, actor: Any, source: str, account: Account, secret: Secret | None, reason: str = "check-out"
) -> dict[str, Any]:
    """Start changing ``account``'s password: a new random value kept aside (a ROTATION_PENDING
    secret) and a CHANGE_PASSWORD provisioning entry that refers to it (the secret's id, never the
    value). The account's vault password keeps the old value — still the one the application
    knows — until the application confirms the entry (``vault.rotation.rotations_settle``).
    Not done when the resource does not provision password changes (the vault would then hold a
    password the resource does not know), nor while another rotation of the account waits."""
    if secret is None:
        secret = Secret.objects.filter(account=account, kind=SecretKind.ACCOUNT_PASSWORD).first()
    if secret is None:
        return {"rotated": False, "why_not": "no password in the vault"}
    if not resource_provisions(account.resource, ProvisioningEvent.CHANGE_PASSWORD):
        logger.warning(
            "vault: password of account %s not rotated: resource %s does not provision password changes",
            account.pk,
            account.resource.code,
        )
        return {"rotated": False, "why_not": "the resource does not provision password changes"}
    waiting = PasswordRotation.objects.filter(account=account, status=RotationStatus.PENDING).first()
    if waiting is not None:
        # its new value was never shown to anyone: the password changes when it is confirmed
        return {
            "rotated": False,
            "why_not": "a rotation already waits for the application's confirmation",
            "rotation": waiting.pk,
        }
    pending = secret_store(
        actor=actor,
        source=source,
        owner=None,
        kind=SecretKind.ROTATION_PENDING,
        name=f"Rotation of {account}"[:200],
        value=password_generate(),
    )
    entry = entry_write(
        resource=account.resource,
        event_type=ProvisioningEvent.CHANGE_PASSWORD,
        account_id=account.pk,
        user_id=account.owner_id,
        payload={"reason": reason, "identifier": account.identifier, "secret_id": str(pending.pk)},
    )
    rotation = PasswordRotation.objects.create(
        account=account, secret=secret, pending=pending, entry=entry, reason=reason[:200]
    )
    return {
        "rotated": True,
        "confirmed": False,
        "rotation": rotation.pk,
        "provisioning_entry": entry.pk if entry else None,
    }


@transaction.atomic
def account_password_rotate(*, actor: Any, source: str, account: Account, reason: str) -> dict[str, Any]:
    """Rotate an account's vault password now (a privileged access that ended, a rotation policy):
    a new random value in the vault and a CHANGE_PASSWORD provisioning entry, as a check-out does.
    Returns what happened (``rotated``, ``provisioning_entry`` or ``why_not``), also audited."""
    acc = Account.objects.select_related("resource").get(pk=account.pk)
    rotation = _rotate(actor=actor, source=source, account=acc, secret=None, reason=reason)
    audit_record(
        actor=actor,
        action="vault.password.rotated",
        obj=acc,
        new={"reason": reason, **rotation},
        source=source,
        subject_user_id=acc.owner_id,
    )
    return rotation


@transaction.atomic
def checkout_release(
    *, actor: Any, source: str, account: Account, user: Any, rotate: bool = True, reason: str = "checked out"
) -> AdministrativeCheckout:
    """Check-out (seed 002): ``user`` gives the account's credential back; their access to the
    secret ends. With ``rotate`` an administrative account gets a new random password (in the
    vault, and a CHANGE_PASSWORD provisioning entry for the resource)."""
    checkout = (
        AdministrativeCheckout.objects.select_for_update(of=("self",))
        .select_related("account__resource", "secret")
        .filter(
            account_id=account.pk,
            user_id=getattr(user, "pk", None),  # type: ignore[misc]  # None matches no row, as Django does
            status=CheckoutStatus.ACTIVE,
        )
        .first()
    )
    if checkout is None:
        who = getattr(user, "username", "nobody")
        raise Conflict(
            _("%(who)s has no open check-in of account %(account)s: there is nothing to check out.")
            % {"who": who, "account": account},
            fields={"account": [_("Not checked in by this user.")]},
            code="not_checked_in",
        )
    checkout.status = CheckoutStatus.RELEASED
    checkout.released_at = timezone.now()
    checkout.released_reason = reason[:200]
    checkout.save(update_fields=["status", "released_at", "released_reason"])
    rotation: dict[str, Any] = {"rotated": False}
    if rotate and checkout.account.account_type == AccountType.ADMINISTRATIVE:
        rotation = _rotate(actor=actor, source=source, account=checkout.account, secret=checkout.secret)
    audit_record(
        actor=actor,
        action="vault.checkout.released",
        obj=checkout,
        old={"status": CheckoutStatus.ACTIVE},
        new={**_describe_checkout(checkout), "reason": reason, **rotation},
        source=source,
        subject_user_id=checkout.user_id,
    )
    checkout.rotation = rotation  # type: ignore[attr-defined]  # for the caller (request result)
    return checkout


@transaction.atomic
def checkout_reveal(*, actor: Any, source: str, checkout: AdministrativeCheckout) -> str:
    """The credential of an open check-out, for its holder only (audited as a reveal)."""
    locked = AdministrativeCheckout.objects.select_related("account").get(pk=checkout.pk)
    if locked.status != CheckoutStatus.ACTIVE or locked.secret_id is None:
        raise Conflict(
            _("This check-in is over: the credential is no longer in your vault."), code="released"
        )
    if actor is None or locked.user_id != actor.pk:
        raise NotAllowed(_("Only the user who checked the account in may see its credential."))
    secret = locked.secret
    assert secret is not None  # secret_id was checked above
    return secret_reveal(actor=actor, source=source, secret=secret)
