"""The authenticator's data: ordered authentication policies with their context rules, the
factors a user enrols (TOTP device, recovery codes, secret questions), one-time codes sent by
e-mail or SMS, and the failed attempts the "recent failures" context counts.

No secret is stored in clear: the TOTP seed is sealed with the vault's envelope encryption,
codes, recovery codes and answers are stored hashed."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Factor(models.TextChoices):
    PASSWORD = "password", _("Password")
    QUESTIONS = "questions", _("Secret questions")
    EMAIL = "email", _("One-time code by e-mail")
    SMS = "sms", _("One-time code by SMS")
    TOTP = "totp", _("Authenticator app (TOTP)")


class Outcome(models.TextChoices):
    ALLOW = "ALLOW", _("Allow with factors")
    DENY = "DENY", _("Deny")


class DeviceCondition(models.TextChoices):
    ANY = "", _("Any device")
    KNOWN = "KNOWN", _("Known device only")
    UNKNOWN = "UNKNOWN", _("Unknown device only")


class AuthenticationPolicy(models.Model):
    """Which factors a user must present, under which context. Policies are tried by
    ``priority`` (lowest first); the first whose organization/attribute match applies to the
    user wins, and the one ``is_default`` policy applies to everyone else."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    priority = models.PositiveIntegerField(default=100)
    is_default = models.BooleanField(default=False)
    organization = models.ForeignKey(
        "directory.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    attribute_name = models.CharField(
        max_length=100,
        blank=True,
        help_text=_(
            "A user field (department, employee_type, job_title) or an administrator-defined attribute."
        ),
    )
    attribute_value = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "priority", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="authn_one_default_policy"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AuthenticationRule(models.Model):
    """One context rule of a policy: when every condition set here holds (an empty condition
    always holds), the outcome applies. Rules are tried by ``position``; the first that
    matches decides; when none matches the login is denied."""

    policy = models.ForeignKey(AuthenticationPolicy, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(default=0)
    networks = models.JSONField(default=list, blank=True, help_text=_("CIDR blocks of the source network."))
    time_start = models.TimeField(null=True, blank=True)
    time_end = models.TimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    device = models.CharField(max_length=10, choices=DeviceCondition.choices, blank=True, default="")
    failures_at_least = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Matches when the user failed at least this many times…")
    )
    failures_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("…in the last N minutes.")
    )
    outcome = models.CharField(max_length=5, choices=Outcome.choices, default=Outcome.ALLOW)
    factors = models.JSONField(default=list, blank=True, help_text=_("Factors, in the order they are asked."))

    class Meta:
        ordering = ["policy", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome="DENY") | ~Q(factors=[]), name="authn_rule_allow_has_factors"
            ),
            models.CheckConstraint(
                condition=(Q(time_start__isnull=True) & Q(time_end__isnull=True))
                | (Q(time_start__isnull=False) & Q(time_end__isnull=False)),
                name="authn_rule_time_window_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} #{self.position}"


class TotpDevice(models.Model):
    """A user's authenticator app. The seed is sealed by the vault (``vault.crypto``) and bound
    to this row; ``last_step`` is the last accepted 30-second time step, so a code is never
    accepted twice."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device"
    )
    confirmed = models.BooleanField(default=False)
    key_version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField()
    wrap_nonce = models.BinaryField()
    nonce = models.BinaryField()
    ciphertext = models.BinaryField()
    last_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"TOTP device of {self.user_id}"


class RecoveryCode(models.Model):
    """A single-use code that stands in for the TOTP code; stored hashed, shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "code_hash"], name="authn_recovery_code_unique")
        ]


class SecretQuestion(models.Model):
    """One of a user's secret questions; the answer is normalised then hashed like a password."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="secret_questions"
    )
    question = models.CharField(max_length=300)
    answer_hash = models.CharField(max_length=256)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["user", "question"], name="authn_secret_question_unique")
        ]


class CodeChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")


class OneTimeCode(models.Model):
    """A code sent by e-mail or SMS for one login (or password reset) flow: HMAC-hashed,
    expiring, single use and attempt-limited."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=5, choices=CodeChannel.choices)
    flow_id = models.CharField(max_length=64, db_index=True)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)


class LoginFailure(models.Model):
    """A failed factor of a known user, counted by the "recent failures" context condition."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=30)
    client_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "at"], name="authn_failure_user_at")]
