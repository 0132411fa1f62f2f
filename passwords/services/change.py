"""Changing a password: by the user (workspace), after a forgotten-password reset, through a
help-desk temporary password or e-mailed link, or by the directory's user create/update.

Every path checks the user's password policy, records the new hash in the history, restarts
the expiry clock, sends the password to the applications set to synchronise it and, per the
user's password-change policy, e-mails the user. The password itself is never audited or logged.
"""

from __future__ import annotations

import logging
import secrets
import string
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMessage
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, override

from blazon import authcontract, notify
from blazon.audit.services import audit_record
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from blazon.permissions import may_set_password_of
from passwords import tasks
from passwords.models import MAX_HISTORY, PasswordHistory, PasswordResetLink, PasswordState
from passwords.rules import RuleResult, password_check, unmet
from passwords.selectors import change_policy_for, password_state, policy_for
from passwords.services.sync import password_sync_emit

logger = logging.getLogger("blazon.passwords")

RESET_LINK_SALT = "blazon.passwords.reset-link"


class PasswordChangeReason(models.TextChoices):
    CHANGE = "change", gettext_lazy("Changed by the user")
    RESET = "reset", gettext_lazy("Forgotten-password reset")
    HELPDESK = "helpdesk", gettext_lazy("Temporary password from the help desk")
    RESET_LINK = "reset_link", gettext_lazy("Reset link from the help desk")
    DIRECTORY = "directory", gettext_lazy("Set by an administrator (user create/update)")


def _refuse(results: list[RuleResult], field: str) -> None:
    problems = [r.message for r in unmet(results)]
    if problems:
        raise ValidationFailed(
            gettext("The password does not meet the password policy: %(problems)s")
            % {"problems": " ".join(problems)},
            fields={field: problems},
            code="password_policy",
        )


def password_policy_validate(user: Any, password: str, *, field: str = "password") -> None:
    """Raise ``ValidationFailed`` (one message per unmet rule, on ``field``) when ``password``
    breaks the user's password policy. ``user`` may be unsaved (a user being created)."""
    _refuse(password_check(user, password), field)


def _notify(user: Any, reason: str) -> None:
    if user.email:  # durable: an outbox row in this transaction (``passwords.tasks``)
        notify.on_commit(tasks.mail_password_changed, user.pk, reason, timezone.now().isoformat())


def password_changed_mail_send(user_id: int, reason: str, when: str) -> int:
    """E-mail a user that their password was changed (at ``when``, ISO 8601, for ``reason``);
    how many e-mails were sent. Run by the ``mail_password_changed`` outbox task."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None or not user.email:
        return 0
    at = timezone.localtime(datetime.fromisoformat(when)).strftime("%Y-%m-%d %H:%M %Z")
    with override(user.language or settings.LANGUAGE_CODE):
        body = gettext(
            "Hello %(name)s,\n\n"
            "The password of your identity %(username)s was changed on %(at)s (%(reason)s).\n\n"
            "If you did not do this, call the help desk now.\n"
        ) % {
            "name": user.get_full_name() or user.username,
            "username": user.username,
            "at": at,
            "reason": str(PasswordChangeReason(reason).label).lower(),
        }
        subject = gettext("Your Blazon password was changed")
    message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    return notify.send_messages([message], what=f"password changed, user {user.pk}")


@transaction.atomic
def password_recorded(
    *,
    user: Any,
    actor: Any,
    source: str,
    password: str,
    reason: str,
    must_change: bool = False,
    notify: bool = True,
) -> int:
    """What follows a password change whoever made it (``user.password`` already holds the new
    hash and is saved): history, state, synchronisation, notice. Returns the provisioning
    entries written. The directory's user create/update calls it after saving (``notify=False``
    for a new user: nothing changed for them)."""
    now = timezone.now()
    PasswordHistory.objects.create(user_id=user.pk, password=user.password, created_at=now)
    keep = PasswordHistory.objects.filter(user_id=user.pk).values_list("pk", flat=True)[:MAX_HISTORY]
    PasswordHistory.objects.filter(user_id=user.pk).exclude(pk__in=list(keep)).delete()
    by_user = reason == PasswordChangeReason.CHANGE
    defaults: dict[str, Any] = {"changed_at": now, "must_change": must_change}
    if by_user:
        defaults["changed_by_user_at"] = now
    PasswordState.objects.update_or_create(user_id=user.pk, defaults=defaults)
    written = password_sync_emit(user=user, password=password, actor=actor, source=source)
    if notify and change_policy_for(user).notify_user:
        _notify(user, reason)
    return written


def _factors_check(
    user: Any, policy: Any, current_password: str | None, authenticated_at: float | None
) -> None:
    if policy.require_current and not (
        isinstance(current_password, str)
        and user.has_usable_password()
        and user.check_password(current_password)
    ):
        raise ValidationFailed(
            gettext("Your current password is not correct."),
            fields={"current_password": [gettext("Not your current password.")]},
            code="current_password",
        )
    minutes = policy.recent_login_minutes
    if minutes and (authenticated_at is None or time.time() - float(authenticated_at) > minutes * 60):
        raise NotAllowed(
            gettext(
                "For your security, log in again before changing your password "
                "(your password-change policy asks for a login in the last %(minutes)s minutes)."
            )
            % {"minutes": minutes},
            code="reauthenticate",
        )


def _timing_check(user: Any, policy: Any, change_policy: Any) -> None:
    state = password_state(user)
    last = state.changed_by_user_at if state else None
    if last is None or (state is not None and state.must_change):
        return
    now = timezone.now()
    if policy.min_age_hours and now < last + timedelta(hours=policy.min_age_hours):
        raise Conflict(
            gettext(
                "You changed your password less than %(hours)s hours ago: you may change it again after %(at)s."
            )
            % {
                "hours": policy.min_age_hours,
                "at": f"{(last + timedelta(hours=policy.min_age_hours)):%Y-%m-%d %H:%M}",
            },
            code="min_age",
        )
    minutes = change_policy.min_interval_minutes
    if minutes and now < last + timedelta(minutes=minutes):
        raise Conflict(
            gettext(
                "You changed your password less than %(minutes)s minutes ago: wait before changing it again."
            )
            % {"minutes": minutes},
            code="min_interval",
        )


@transaction.atomic
def password_change(
    *,
    user: Any,
    new_password: str,
    actor: Any,
    source: str,
    reason: str,
    current_password: str | None = None,
    authenticated_at: float | None = None,
    must_change: bool = False,
) -> Any:
    """Give ``user`` a new password. For a change by the user (``reason="change"``) the
    password-change policy's factors (current password, a recent login: ``authenticated_at``
    is the session's ``SESSION_AUTH_AT``), the minimum age and the minimum interval apply;
    every path applies the password policy. Atomic and audited without the password."""
    user = get_user_model().objects.select_for_update(of=("self",)).get(pk=user.pk)
    if not isinstance(new_password, str) or not new_password:
        raise ValidationFailed(
            gettext("Type a new password."),
            fields={"new_password": [gettext("Type a new password.")]},
            code="required",
        )
    policy = policy_for(user)
    if reason == PasswordChangeReason.CHANGE:
        change_policy = change_policy_for(user)
        _factors_check(user, change_policy, current_password, authenticated_at)
        _timing_check(user, policy, change_policy)
    _refuse(password_check(user, new_password, policy=policy), "new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    written = password_recorded(
        user=user, actor=actor, source=source, password=new_password, reason=reason, must_change=must_change
    )
    audit_record(
        actor=actor,
        action="password.changed",
        obj=user,
        new={
            "reason": reason,
            "policy": policy.name,
            "must_change": must_change,
            "provisioning_entries": written,
        },
        source=source,
        subject_user_id=user.pk,
    )
    return user


def password_generate_for(user: Any) -> str:
    """A random password that meets the user's policy (history excepted: it is brand new)."""
    policy = policy_for(user)
    alphabet = string.ascii_letters + string.digits + "!#%-_.@"
    length = max(16, policy.min_length)
    for _ in range(100):
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        if not unmet(password_check(user, value, policy=policy, history=False)):
            return value
    raise Conflict(gettext("Could not generate a temporary password that meets the policy."), code="generate")


@transaction.atomic
def password_helpdesk_temporary(*, user: Any, actor: Any, source: str) -> str:
    """Help-desk reset: a random temporary password the user must change at their next login.
    Returns it once, to be shown to the help-desk operator; it is never stored in clear."""
    _helpdesk_allowed(actor, user)
    _active(user)
    value = password_generate_for(user)
    password_change(
        user=user,
        new_password=value,
        actor=actor,
        source=source,
        reason=PasswordChangeReason.HELPDESK,
        must_change=True,
    )
    return value


def _helpdesk_allowed(actor: Any, user: Any) -> None:
    """The help desk resets end users' passwords; a console user's (an administrator's above all)
    only an administrator may reset, else a help-desk operator could take over their role."""

    if actor is not None and getattr(actor, "pk", None) == user.pk:
        raise NotAllowed(
            gettext("Change your own password on the workspace's Change password page."), code="own_password"
        )
    if not may_set_password_of(actor, user):
        raise NotAllowed(
            gettext("%(username)s is a console user: only an administrator may reset their password.")
            % {"username": user.username},
            code="console_user",
        )


def _active(user: Any) -> None:
    if user.status != "ACTIVE" or user.login_locked:
        raise Conflict(
            gettext("%(username)s is not active or their login is locked: unlock or activate them first.")
            % {"username": user.username},
            code="inactive",
        )


# --- help-desk reset links ------------------------------------------------------------------


def reset_link_hours() -> int:
    return int(getattr(settings, "BLAZON_PASSWORD_RESET_LINK_HOURS", 24))


@transaction.atomic
def reset_link_mail_send(link_id: str, base_url: str) -> int:
    """E-mail a help-desk reset link to its user; how many e-mails were sent (0 if the link was
    used, superseded or has expired meanwhile). The token is signed here, from the link's id:
    it is never stored. Run by the ``mail_reset_link`` outbox task."""
    link = PasswordResetLink.objects.select_related("user").filter(pk=link_id).first()
    if link is None or link.used_at is not None or link.expires_at <= timezone.now() or not link.user.email:
        return 0
    user = link.user
    token = signing.TimestampSigner(salt=RESET_LINK_SALT).sign(str(link.pk))
    url = f"{base_url.rstrip('/')}/password/reset/link/{token}/"
    with override(user.language or settings.LANGUAGE_CODE):
        body = gettext(
            "Hello %(name)s,\n\n"
            "The help desk sent you a link to choose a new password. It works once, within "
            "%(hours)s hours:\n\n%(url)s\n\nIf you did not ask for it, ignore this message.\n"
        ) % {"name": user.get_full_name() or user.username, "hours": reset_link_hours(), "url": url}
        subject = gettext("Reset your Blazon password")
    message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    return notify.send_messages([message], what=f"reset link, user {user.pk}")


def reset_link_create(*, user: Any, actor: Any, source: str, base_url: str) -> PasswordResetLink:
    """Help-desk reset by e-mail: a signed link that expires and works once, sent to the user's
    own address after commit. Earlier unused links of the user stop working."""
    _helpdesk_allowed(actor, user)
    _active(user)
    if not user.email:
        raise ValidationFailed(
            gettext("%(username)s has no e-mail address: set a temporary password instead.")
            % {"username": user.username},
            fields={"email": [gettext("No e-mail address.")]},
            code="no_email",
        )
    now = timezone.now()
    PasswordResetLink.objects.filter(user_id=user.pk, used_at__isnull=True).update(used_at=now)
    link = PasswordResetLink.objects.create(
        user=user, created_by=actor, created_at=now, expires_at=now + timedelta(hours=reset_link_hours())
    )
    notify.on_commit(tasks.mail_reset_link, str(link.pk), base_url)
    audit_record(
        actor=actor,
        action="password.reset_link_sent",
        obj=user,
        new={"link": str(link.pk), "expires_at": link.expires_at},
        source=source,
        subject_user_id=user.pk,
    )
    return link


INVALID_LINK = gettext_lazy(
    "This password reset link is invalid, has expired or was already used. Ask the help desk for a new one."
)


def _link_from(token: str, *, lock: bool) -> PasswordResetLink:
    try:
        link_id = signing.TimestampSigner(salt=RESET_LINK_SALT).unsign(
            str(token), max_age=timedelta(hours=reset_link_hours())
        )
    except signing.BadSignature:
        raise NotAllowed(str(INVALID_LINK), code="invalid_link") from None
    qs = PasswordResetLink.objects.select_related("user")
    if lock:
        qs = qs.select_for_update(of=("self",))
    link = qs.filter(pk=link_id).first()
    if link is None or link.used_at is not None or link.expires_at <= timezone.now():
        raise NotAllowed(str(INVALID_LINK), code="invalid_link")
    if link.user.status != "ACTIVE" or link.user.login_locked:
        raise NotAllowed(str(INVALID_LINK), code="invalid_link")
    return link


def reset_link_user(token: str) -> Any:
    """The user a valid, unused, unexpired reset link is for; ``NotAllowed`` otherwise."""
    return _link_from(token, lock=False).user


@transaction.atomic
def reset_link_use(*, token: str, new_password: str, source: str) -> Any:
    """Set the new password through a help-desk link, which then stops working."""
    link = _link_from(token, lock=True)
    user = password_change(
        user=link.user,
        new_password=new_password,
        actor=link.user,
        source=source,
        reason=PasswordChangeReason.RESET_LINK,
    )
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    return user


# --- forgotten password: the final step of the authenticator's reset flow -------------------


def reset_session_user(session: Any) -> Any | None:
    """The user whose identity the authenticator verified for a reset (``blazon.authcontract``),
    while the verification is younger than ``RESET_MAX_AGE``; else None (and the keys go)."""
    user_id = session.get(authcontract.RESET_USER)
    verified_at = session.get(authcontract.RESET_VERIFIED_AT)
    try:
        fresh = (
            verified_at is not None and 0 <= time.time() - float(verified_at) <= authcontract.RESET_MAX_AGE
        )
    except (TypeError, ValueError):
        fresh = False
    user = None
    if user_id is not None and fresh:
        user = get_user_model().objects.filter(pk=user_id, status="ACTIVE", login_locked=False).first()
    if user is None:
        reset_session_clear(session)
    return user


def reset_session_clear(session: Any) -> None:
    session.pop(authcontract.RESET_USER, None)
    session.pop(authcontract.RESET_VERIFIED_AT, None)


@transaction.atomic
def reset_session_complete(*, session: Any, new_password: str, source: str) -> Any:
    """Set the new password of the verified user; the verification is then used up."""
    user = reset_session_user(session)
    if user is None:
        raise NotAllowed(
            gettext("Your identity check has expired. Start the password reset again."), code="reset_expired"
        )
    user = get_user_model().objects.select_for_update(of=("self",)).get(pk=user.pk)
    state = password_state(user)
    if state is not None and state.changed_at.timestamp() >= float(session[authcontract.RESET_VERIFIED_AT]):
        # a second submission with the same verification (another tab, a replayed request)
        reset_session_clear(session)
        raise NotAllowed(
            gettext("This identity check was already used. Start the password reset again."),
            code="reset_used",
        )
    user = password_change(
        user=user, new_password=new_password, actor=user, source=source, reason=PasswordChangeReason.RESET
    )
    reset_session_clear(session)
    return user
