"""Periodic purge of login attempts and stale session-index rows; alert e-mails."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import Q
from django.utils.translation import gettext

from blazon import notify
from blazon.tasks import blazon_task
from directory.models import ConsoleRole, User, UserStatus
from security.models import SecurityAlert
from security.services.bruteforce import attempts_purge
from security.services.sessions import sessions_purge

logger = logging.getLogger(__name__)


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def purge_login_attempts() -> dict[str, int]:
    return {"login_attempts": attempts_purge(), "session_index_rows": sessions_purge()}


def security_administrators() -> list[str]:
    """E-mail addresses of the active, unlocked administrators (the console's security role)."""
    return sorted(
        set(
            User.objects.filter(Q(console_role=ConsoleRole.ADMINISTRATOR) | Q(is_superuser=True))
            .filter(status=UserStatus.ACTIVE, login_locked=False)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )


@blazon_task(atomic=False)  # an e-mail: marked done after it is sent, whatever the database does
def send_security_alert(alert_id: int) -> int:
    """E-mail the security administrators about an alert. Idempotent per outbox row (marked
    done once the mail is sent); an alert deleted meanwhile sends nothing."""
    alert = SecurityAlert.objects.filter(pk=alert_id).first()
    recipients = security_administrators()
    if alert is None or not recipients:
        return 0
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(alert.detail.items()))
    body = gettext(
        "Blazon detected: %(pattern)s.\n\n"
        "%(kind)s: %(key)s\n%(detail)s\nAt: %(at)s\n\n"
        "Active throttles and locks are listed in the console under Security → Lockouts, "
        "where they can be released. Further alerts of this kind in the next 10 minutes are "
        "listed there without another e-mail.\n"
    ) % {
        "pattern": alert.get_pattern_display(),
        "kind": alert.get_kind_display(),
        "key": alert.key,
        "detail": detail,
        "at": alert.created_at.isoformat(),
    }
    message = EmailMessage(
        gettext("[Blazon] Security alert: %(pattern)s") % {"pattern": alert.get_pattern_display()},
        body,
        settings.DEFAULT_FROM_EMAIL,
        recipients,
    )
    notify.send_messages([message], what=f"security alert {alert.pk}")
    logger.info("security alert %s mailed to %d administrators", alert.pk, len(recipients))
    return len(recipients)
