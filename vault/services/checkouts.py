"""Administrative check-outs and password rotation: open, reveal, release (rotating the password), and the life-cycle release."""

from __future__ import annotations

import secrets
import string
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon.audit.services import AuditEntry, audit_record, audit_record_many
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from directory.models import Account, AccountStatus, AccountType, ProvisioningEvent, UserStatus
from provisioning.services import entry_write, resource_provisions
from vault.models import (
    AdministrativeCheckout,
    CheckoutStatus,
    PasswordRotation,
    RotationStatus,
    Secret,
    SecretKind,
)
from vault.services.secrets import _CHECKIN_KINDS, logger, secret_reveal, secret_store


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
