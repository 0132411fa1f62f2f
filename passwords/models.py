"""Password management (seed 002, "Gerenciamento de senhas"): password policies (complexity,
history, expiry), password-change policies (factors, notification, minimum interval), the
administrator's forbidden words, each user's password history and state, help-desk reset links
and which resources receive a user's new password (synchronisation, issue #4 §6)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

#: The most previous passwords a policy may remember (and the most the history table keeps).
MAX_HISTORY = 24


class AssignedPolicy(models.Model):
    """What password and password-change policies share: who they apply to. The first policy in
    ``priority`` order whose criteria all match a user applies; else the default one."""

    name = models.CharField(max_length=100, unique=True)
    priority = models.PositiveIntegerField(default=100, help_text=_("Lower numbers are tried first."))
    is_default = models.BooleanField(default=False, help_text=_("Applies to users no other policy matches."))
    organization = models.ForeignKey(
        "directory.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Members of this organization (or of its sub-organizations)."),
    )
    attribute_name = models.CharField(
        max_length=64,
        blank=True,
        help_text=_(
            "A user attribute (department, employee_type, job_title or an administrator-defined one)."
        ),
    )
    attribute_value = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["-is_default", "priority", "name"]

    def __str__(self) -> str:
        return self.name


class PasswordPolicy(AssignedPolicy):
    """Complexity, history and life cycle of a password."""

    min_length = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(128)]
    )
    require_lowercase = models.BooleanField(default=True)
    require_uppercase = models.BooleanField(default=True)
    require_digit = models.BooleanField(default=True)
    require_symbol = models.BooleanField(default=False)
    history_count = models.PositiveIntegerField(
        default=5,
        validators=[MaxValueValidator(MAX_HISTORY)],
        help_text=_("A new password may not be one of the last N (0: no history)."),
    )
    max_age_days = models.PositiveIntegerField(default=0, help_text=_("Expires after N days (0: never)."))
    min_age_hours = models.PositiveIntegerField(
        default=0, help_text=_("A user may change their password again only after N hours (0: any time).")
    )
    use_dictionary = models.BooleanField(
        default=True, help_text=_("Refuse passwords containing a forbidden word (shipped list + yours).")
    )
    forbid_personal_info = models.BooleanField(
        default=True, help_text=_("Refuse passwords containing the username, first or last name.")
    )

    class Meta(AssignedPolicy.Meta):
        verbose_name_plural = _("password policies")
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="pwpolicy_one_default",
                violation_error_message=_("Another policy is already the default: unset it first."),
            )
        ]


class PasswordChangePolicy(AssignedPolicy):
    """How a user proves who they are to change their own password, who is told, how often."""

    require_current = models.BooleanField(default=True, verbose_name=_("require the current password"))
    recent_login_minutes = models.PositiveIntegerField(
        default=0, help_text=_("The user must have logged in within N minutes (0: not required).")
    )
    notify_user = models.BooleanField(
        default=True, help_text=_("E-mail the user when their password changes.")
    )
    min_interval_minutes = models.PositiveIntegerField(
        default=0, help_text=_("Minimum time between two changes by the user (0: none).")
    )

    class Meta(AssignedPolicy.Meta):
        verbose_name_plural = _("password-change policies")
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="pwchangepolicy_one_default",
                violation_error_message=_("Another policy is already the default: unset it first."),
            )
        ]


class ForbiddenWord(models.Model):
    """A word the administrator forbids inside passwords (stored lower-case; matched ignoring case)."""

    word = models.CharField(max_length=100, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["word"]

    def __str__(self) -> str:
        return self.word


class PasswordHistory(models.Model):
    """A hash of a password the user had (the current one included), for the history rule."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="password_history"
    )
    password = models.CharField(max_length=256)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]
        verbose_name_plural = _("password history")


class PasswordState(models.Model):
    """When the user's password last changed and whether they must change it at next login."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="password_state"
    )
    changed_at = models.DateTimeField()
    changed_by_user_at = models.DateTimeField(null=True, blank=True)
    must_change = models.BooleanField(default=False)


class PasswordResetLink(models.Model):
    """A help-desk reset link: signed, expiring and usable once (``used_at``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "used_at"])]


class ResourcePasswordSync(models.Model):
    """A resource set to receive its users' new passwords (CHANGE_PASSWORD entries)."""

    resource = models.OneToOneField(
        "directory.Resource", primary_key=True, on_delete=models.CASCADE, related_name="password_sync"
    )
    enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
