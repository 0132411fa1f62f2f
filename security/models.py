"""Brute-force defence and web-session controls: their settings, the login attempts they count,
the throttles and locks they impose, the alerts they raise and the index of open web sessions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SecuritySettings(models.Model):
    """The one row of brute-force thresholds and web-session limits, edited in the console.

    Session limits left empty fall back to the environment (``BLAZON_SESSION_*``)."""

    # 1. many failures from one IP
    ip_failure_threshold = models.PositiveIntegerField(default=20)
    ip_failure_window_minutes = models.PositiveIntegerField(default=15)
    # 2. many usernames from one IP
    ip_username_threshold = models.PositiveIntegerField(default=6)
    ip_username_window_minutes = models.PositiveIntegerField(default=15)
    # 3. one account from many IPs
    account_ip_threshold = models.PositiveIntegerField(default=5)
    account_ip_window_minutes = models.PositiveIntegerField(default=60)
    # plain guessing against one account (any number of IPs)
    account_failure_threshold = models.PositiveIntegerField(default=8)
    account_failure_window_minutes = models.PositiveIntegerField(default=15)
    # responses
    ip_throttle_seconds = models.PositiveIntegerField(default=300)
    account_lock_seconds = models.PositiveIntegerField(default=60)
    account_lock_max_seconds = models.PositiveIntegerField(default=900)
    alert_emails = models.BooleanField(default=True, help_text=_("E-mail security administrators on alerts."))
    attempt_retention_days = models.PositiveIntegerField(default=30)
    # web sessions (empty: environment default)
    session_idle_minutes = models.PositiveIntegerField(null=True, blank=True)
    session_absolute_hours = models.PositiveIntegerField(null=True, blank=True)
    session_bind_ip_prefix = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = _("security settings")
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="security_settings_singleton"),
            models.CheckConstraint(
                condition=models.Q(account_lock_max_seconds__gte=models.F("account_lock_seconds")),
                name="security_settings_lock_max_gte_base",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Security settings"))


class LoginAttempt(models.Model):
    """One login outcome, as cheap as an INSERT; counted over windows by the brute-force
    patterns and purged after the retention period."""

    at = models.DateTimeField(db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    username = models.CharField(max_length=150, help_text=_("As typed, case-folded."))
    success = models.BooleanField(default=False)
    reason = models.CharField(max_length=30, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["ip", "at"], name="security_attempt_ip_at"),
            models.Index(fields=["username", "at"], name="security_attempt_user_at"),
        ]

    def __str__(self) -> str:
        return f"{self.username}@{self.ip} {'ok' if self.success else 'failed'}"


class ThrottleKind(models.TextChoices):
    IP = "IP", _("Source IP throttled")
    ACCOUNT = "ACCOUNT", _("Account temporarily locked")


class Pattern(models.TextChoices):
    IP_FAILURES = "ip_failures", _("Many failed logins from one IP")
    IP_USERNAMES = "ip_usernames", _("Many usernames from one IP")
    ACCOUNT_IPS = "account_ips", _("One account from many IPs")
    ACCOUNT_FAILURES = "account_failures", _("Many failed logins for one account")


class Throttle(models.Model):
    """A temporary refusal of logins from an IP or for a username (known or not: an unknown
    username is locked the same way, so the answer never says whether it exists). ``level``
    grows each time the lock is imposed again, doubling its length up to the maximum."""

    kind = models.CharField(max_length=10, choices=ThrottleKind.choices)
    key = models.CharField(max_length=150, help_text=_("The IP address or the case-folded username."))
    pattern = models.CharField(max_length=20, choices=Pattern.choices)
    level = models.PositiveIntegerField(default=1)
    since = models.DateTimeField()
    until = models.DateTimeField(db_index=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="security_throttle_kind_key")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.key}"


class SecurityAlert(models.Model):
    """A brute-force pattern that fired: listed in the console and e-mailed to security
    administrators."""

    created_at = models.DateTimeField(db_index=True)
    pattern = models.CharField(max_length=20, choices=Pattern.choices)
    kind = models.CharField(max_length=10, choices=ThrottleKind.choices)
    key = models.CharField(max_length=150)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_pattern_display()} ({self.key})"


class UserSession(models.Model):
    """Index of a user's open web sessions, whatever the session store (database or Redis):
    what "My sessions", the console and "log out everywhere" list and end."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="web_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "last_seen"], name="security_session_user_seen")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.session_key[:6]}…"

    @property
    def device(self) -> str:
        """ "Browser on system", read from the user agent (for people, not for decisions)."""
        ua = self.user_agent
        browser = next((name for token, name in _BROWSERS if token in ua), _("Unknown browser"))
        system = next((name for token, name in _SYSTEMS if token in ua), _("unknown system"))
        return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}


_BROWSERS = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
]
_SYSTEMS = [
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
]
