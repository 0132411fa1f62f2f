"""The vault: encrypted secrets and administrative-account check-outs.

A ``Secret`` row holds only ciphertext (see ``vault.crypto`` for the envelope scheme); the
value is read through ``vault.services.secret_reveal``, which audits every read.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SecretKind(models.TextChoices):
    PERSONAL = "PERSONAL", _("Personal secret")
    ACCOUNT_PASSWORD = "ACCOUNT_PASSWORD", _("Account password")
    APPLICATION_CREDENTIAL = "APPLICATION_CREDENTIAL", _("Application credential")
    ROTATION_PENDING = "ROTATION_PENDING", _("Rotated password (not yet confirmed)")


class Secret(models.Model):
    """One encrypted value: a user's personal secret, an account's password or an application
    credential. The plaintext is never stored; its ciphertext is bound to this row's id, kind,
    owner and account, so changing those requires re-sealing (``secret_update`` does it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=30, choices=SecretKind.choices)
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="vault_secrets",
        help_text="The user a personal secret belongs to.",
    )
    account = models.ForeignKey(
        "directory.Account",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="vault_secrets",
        help_text="The account whose credential this is.",
    )
    key_version = models.PositiveIntegerField(
        db_index=True, help_text="Version of the master key that wraps the data key."
    )
    wrapped_key = models.BinaryField(help_text="The data key, AES-256-GCM encrypted by the master key.")
    wrap_nonce = models.BinaryField()
    nonce = models.BinaryField()
    ciphertext = models.BinaryField(help_text="The value, AES-256-GCM encrypted by the data key.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    rotated_at = models.DateTimeField(null=True, blank=True, help_text="When the value last changed.")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="PERSONAL") | Q(owner__isnull=False), name="vault_secret_personal_has_owner"
            ),
            models.CheckConstraint(
                condition=~Q(kind="ACCOUNT_PASSWORD") | Q(account__isnull=False),
                name="vault_secret_password_has_account",
            ),
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(kind="ACCOUNT_PASSWORD"),
                name="vault_secret_one_password_per_account",
            ),
            models.UniqueConstraint(
                fields=["owner", "name"],
                condition=Q(kind="PERSONAL"),
                name="vault_secret_personal_unique_name",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def __repr__(self) -> str:
        # Only identifying metadata: never the ciphertext, nonces, wrapped key or value.
        return f"<Secret {self.pk} kind={self.kind} name={self.name!r} key_version={self.key_version}>"


class CheckoutStatus(models.TextChoices):
    ACTIVE = "ACTIVE", _("Checked out")
    RELEASED = "RELEASED", _("Released")


class AdministrativeCheckout(models.Model):
    """A user holding an administrative or application account's credential in their vault.

    Opened by a check-in request (``checkout_open``), it gives the user access to the account's
    secret until it is released (``checkout_release``: the check-out, which rotates an
    administrative password) or the user's life cycle ends it (``checkouts_release_for_user``).
    An administrative account has at most one ACTIVE holder (exclusive use); an application
    credential may be held by several users, each at most once."""

    account = models.ForeignKey(
        "directory.Account",
        on_delete=models.CASCADE,
        related_name="checkouts",
        limit_choices_to={"account_type__in": ["ADMINISTRATIVE", "APPLICATION"]},
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="vault_checkouts"
    )
    status = models.CharField(
        max_length=10, choices=CheckoutStatus.choices, default=CheckoutStatus.ACTIVE, db_index=True
    )
    checked_out_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)
    released_reason = models.CharField(max_length=200, blank=True)
    secret = models.ForeignKey(
        Secret,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="checkouts",
        help_text="The secret the user may reveal while this is ACTIVE.",
    )
    exclusive = models.BooleanField(default=True, help_text="One holder at a time (administrative accounts).")
    request_id = models.PositiveBigIntegerField(
        null=True, blank=True, db_index=True, help_text="The request that opened it (check-in), if any."
    )

    class Meta:
        ordering = ["-checked_out_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status="ACTIVE", exclusive=True),
                name="vault_checkout_one_active_per_account",
            ),
            models.UniqueConstraint(
                fields=["account", "user"],
                condition=Q(status="ACTIVE"),
                name="vault_checkout_one_active_per_account_user",
            ),
            models.CheckConstraint(
                condition=(Q(status="ACTIVE") & Q(released_at__isnull=True))
                | (Q(status="RELEASED") & Q(released_at__isnull=False)),
                name="vault_checkout_released_has_time",
            ),
        ]
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"check-out of account {self.account_id} by user {self.user_id} ({self.status})"


class RotationStatus(models.TextChoices):
    PENDING = "PENDING", "Waiting for the application"
    CONFIRMED = "CONFIRMED", "Confirmed"
    FAILED = "FAILED", "Failed"


class PasswordRotation(models.Model):
    """One change of an account's vault password. The new value waits in ``pending`` (a secret of
    kind ROTATION_PENDING, which the CHANGE_PASSWORD provisioning entry refers to) while the old one
    in ``secret`` stays the account's usable password; it replaces it only when the application
    confirmed the entry. A rotation that finally fails leaves the old value and opens a task."""

    account = models.ForeignKey(
        "directory.Account", on_delete=models.CASCADE, related_name="password_rotations"
    )
    secret = models.ForeignKey(Secret, on_delete=models.CASCADE, related_name="rotations")
    pending = models.ForeignKey(
        Secret, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The new value until the application confirms it (deleted then).",
    )  # fmt: skip
    entry = models.ForeignKey(
        "provisioning.ProvisioningEntry", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=RotationStatus.choices, default=RotationStatus.PENDING)
    detail = models.CharField(max_length=500, blank=True, help_text="Why it failed.")
    task = models.ForeignKey(
        "worklist.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status="PENDING"),
                name="vault_one_pending_rotation_per_account",
            ),
        ]

    def __str__(self) -> str:
        return f"Rotation of {self.account}"
