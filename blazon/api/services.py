"""API tokens: issue and revoke. Only the SHA-256 digest is stored; the raw token is returned
once to whoever issued it and never written anywhere (not even in the audit log)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from blazon.api.authentication import issue_token
from blazon.api.models import ApiToken
from blazon.audit.services import audit_record
from blazon.errors import ValidationFailed
from blazon.permissions import role_of


@transaction.atomic
def api_token_issue(
    *, actor: Any, source: str, user: Any, name: str = "default", expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Give ``user`` a personal API token; the API then acts with the user's administrative role.
    Refused for users without one (the token could do nothing) and for users who cannot sign in."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(
            _("Give the token a name of 1 to 100 characters."), fields={"name": [_("1 to 100 characters.")]}
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed(
            _("The expiry must be in the future."), fields={"expires_at": [_("Must be in the future.")]}
        )
    if user.status != "ACTIVE" or user.login_locked or not user.is_active:
        raise ValidationFailed(
            (
                _("User %(username)r cannot sign in (status %(status)s, login locked); no token issued.")
                if user.login_locked
                else _("User %(username)r cannot sign in (status %(status)s); no token issued.")
            )
            % {"username": user.username, "status": user.status},
            fields={"user": [_("The user cannot sign in.")]},
        )
    if not role_of(user):
        raise ValidationFailed(
            _(
                "User %(username)r has no administrative role (administrator, help desk or auditor); "
                "an API token would be refused everywhere. Give the user a console role first."
            )
            % {"username": user.username},
            fields={"user": [_("No administrative role.")]},
        )
    token, raw = issue_token(user, name=name, expires_at=expires_at)
    audit_record(
        actor=actor,
        action="api_token.issue",
        obj=token,
        object_repr=f"API token {token.prefix}… of {user.username}",
        new={"user": user.username, "name": name, "prefix": token.prefix, "expires_at": expires_at},
        source=source,
        subject_user_id=user.pk,
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, actor: Any, source: str, token: ApiToken) -> ApiToken:
    """Revoke a token at once; requests carrying it get 401 from then on."""
    locked = ApiToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is not None:
        return locked
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="api_token.revoke",
        obj=locked,
        object_repr=f"API token {locked.prefix}… of user {locked.user_id}",
        new={"revoked_at": locked.revoked_at},
        source=source,
        subject_user_id=locked.user_id,
    )
    return locked
