"""What Blazon remembers of an authorization code beyond DOT's ``Grant`` (``oidc.Authorization``):

* how the user authenticated, read from the session at the authorize endpoint (the
  authenticator's ``SESSION_AUTH_AT`` and ``SESSION_FACTORS``, ``blazon.authcontract``): the
  ``auth_time`` and ``amr`` (RFC 8176) of every ID token issued from the code, refreshes
  included;
* the tokens its redemption issued, so that a second use of the code revokes them
  (RFC 6749 §4.1.2: "SHOULD revoke (when possible) all tokens previously issued based on that
  authorization code").

The validator (``oidc.validators``) calls these; none is called outside a token or
authorization request.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from oauth2_provider.models import AccessToken, IDToken, RefreshToken

from blazon.audit.services import audit_record
from blazon.authcontract import SESSION_AUTH_AT, SESSION_FACTORS
from oidc.models import Authorization
from oidc.selectors import client_for_application

#: ``request.META`` keys the authorize view fills from the session (never from the client:
#: WSGI puts client headers under ``HTTP_``); DOT hands META to oauthlib as the headers.
AUTH_TIME_MARKER = "BLAZON_OIDC_AUTH_TIME"
AMR_MARKER = "BLAZON_OIDC_AMR"

#: The authenticator's factors (``authn.models.Factor`` values) as RFC 8176 method references.
FACTOR_AMR: dict[str, tuple[str, ...]] = {
    "password": ("pwd",),
    "totp": ("otp",),
    "email": ("otp",),
    "sms": ("sms", "otp"),
    "questions": ("kba",),
}

#: An unspent code's record is dropped after this (DOT's codes live 60 s by default).
UNSPENT_RETENTION = timedelta(hours=1)


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def amr_for_factors(factors: list[str]) -> list[str]:
    """RFC 8176 values for the factors the user passed: each factor's methods, plus ``mfa``
    when two or more factors were used. Unknown factors add nothing."""
    values: list[str] = []
    for factor in factors:
        for value in FACTOR_AMR.get(factor, ()):
            if value not in values:
                values.append(value)
    if len({f for f in factors if f in FACTOR_AMR}) >= 2:
        values.append("mfa")
    return values


def session_markers(session: Any, user: Any) -> dict[str, str]:
    """The META entries the authorize view sets for ``save_authorization_code``: when and how
    the session's user authenticated. A session the authenticator did not open (none of its
    keys) falls back to the user's last login and names no method."""
    at = session.get(SESSION_AUTH_AT)
    if not isinstance(at, int):
        last = getattr(user, "last_login", None)
        at = int(last.timestamp()) if last else int(timezone.now().timestamp())
    factors = session.get(SESSION_FACTORS) or []
    return {AUTH_TIME_MARKER: str(at), AMR_MARKER: " ".join(amr_for_factors(list(factors)))}


def authorization_record(*, code: str, application: Any, user: Any, headers: dict[str, Any]) -> None:
    """Remember a code just issued (inside the caller's transaction)."""
    raw_time = (headers or {}).get(AUTH_TIME_MARKER) or ""
    auth_time = datetime.fromtimestamp(int(raw_time), tz=UTC) if raw_time.isdigit() else timezone.now()
    amr = ((headers or {}).get(AMR_MARKER) or "").split()
    Authorization.objects.create(
        code_digest=code_digest(code), application=application, user=user, auth_time=auth_time, amr=amr
    )


def authorizations_purge() -> int:
    """Drop the records that can no longer matter (periodic, ``oidc.tasks``): codes never spent
    and long expired, and spent ones whose tokens are all gone (no access token left, no live
    refresh token in the family). Returns how many."""
    now = timezone.now()
    unspent, _ = Authorization.objects.filter(
        redeemed_at__isnull=True, created_at__lt=now - UNSPENT_RETENTION
    ).delete()
    live_access = AccessToken.objects.filter(pk=OuterRef("access_token_id"))
    live_refresh = RefreshToken.objects.filter(token_family=OuterRef("token_family"), revoked__isnull=True)
    spent, _ = (
        Authorization.objects.filter(redeemed_at__lt=now - UNSPENT_RETENTION)
        .exclude(Exists(live_access) | Exists(live_refresh))
        .delete()
    )
    return unspent + spent


def authorization_for_code(code: str, application: Any) -> Authorization | None:
    return Authorization.objects.filter(code_digest=code_digest(code), application=application).first()


def authorization_for_family(token_family: Any) -> Authorization | None:
    if token_family is None:
        return None
    return Authorization.objects.filter(token_family=token_family).first()


def authorization_redeemed(*, code: str, application: Any, access_token: str) -> None:
    """Note which tokens the redemption of ``code`` issued (inside the token transaction)."""
    record = authorization_for_code(code, application)
    if record is None:
        return
    token = AccessToken.objects.filter(
        token_checksum=hashlib.sha256(access_token.encode()).hexdigest()
    ).first()
    if token is None:
        return
    refresh = RefreshToken.objects.filter(access_token=token).first()
    record.redeemed_at = timezone.now()
    record.access_token_id = token.pk
    record.id_token_id = token.id_token_id
    record.token_family = refresh.token_family if refresh is not None else None
    record.save(update_fields=["redeemed_at", "access_token_id", "id_token_id", "token_family"])


def code_replayed(*, code: str, application: Any) -> bool:
    """A spent code presented again by the client it was issued to: revoke what its first use
    issued (access token, the refresh-token family with every token refreshed from it, the ID
    token's record) and audit it. Returns whether the code was a spent one."""
    with transaction.atomic():
        record = (
            Authorization.objects.select_for_update()
            .filter(code_digest=code_digest(code), application=application, redeemed_at__isnull=False)
            .first()
        )
        if record is None:
            return False
        family_access = RefreshToken.objects.filter(token_family=record.token_family).values(
            "access_token_id"
        )
        revoked = AccessToken.objects.filter(Q(pk=record.access_token_id) | Q(pk__in=family_access)).count()
        if record.token_family is not None:
            RefreshToken.revoke_family(record.token_family)
        if record.access_token_id is not None:
            AccessToken.objects.filter(pk=record.access_token_id).delete()
        if record.id_token_id is not None:
            IDToken.objects.filter(pk=record.id_token_id).delete()
        audit_record(
            actor=None,
            action="oidc.code_replayed",
            obj=client_for_application(application),
            new={"client_id": application.client_id, "revoked_tokens": revoked},
            source="sso",
            subject_user_id=record.user_id,
        )
    return True
