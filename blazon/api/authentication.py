"""``Authorization: Bearer <token>`` authentication against hashed API tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from blazon.api.models import ApiToken

TOKEN_PREFIX = "blz_"
MALFORMED = _("Malformed Authorization header: use 'Bearer <token>' (ASCII letters, digits and -._~+/ only).")
# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token. Checked on the raw header, so a stray
# NO-BREAK SPACE, control character or non-ASCII byte is a clear 401 instead of reaching the
# token lookups (where str.split() took \xa0 or \x1c for a separator and found no scheme).
_PRINTABLE_ASCII = re.compile(rb"[\x20-\x7e]*")
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def bearer_token(request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when there is no header or
    it names another scheme. Raises ``AuthenticationFailed`` for a header that is not well formed."""
    raw = authentication.get_authorization_header(request)
    if not raw:
        return None
    if not _PRINTABLE_ASCII.fullmatch(raw):
        raise exceptions.AuthenticationFailed(MALFORMED)
    parts = raw.decode("ascii").split()
    if not parts:
        raise exceptions.AuthenticationFailed(MALFORMED)
    if parts[0].lower() != "bearer":
        return None
    if len(parts) != 2 or not _B64TOKEN.fullmatch(parts[1]):
        raise exceptions.AuthenticationFailed(MALFORMED)
    return parts[1]


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(user, *, name: str = "default", expires_at=None) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the raw token (shown once, never stored)."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[:12], digest=token_digest(raw), expires_at=expires_at
    )
    return token, raw


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        raw = bearer_token(request)
        if raw is None:
            return None
        digest = token_digest(raw)
        token = (
            ApiToken.objects.select_related("user").filter(prefix=raw[:12], revoked_at__isnull=True).first()
        )
        # Constant-time comparison of the digests; the prefix lookup only narrows the search.
        if token is None or not hmac.compare_digest(token.digest, digest):
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        now = timezone.now()
        if token.expires_at and token.expires_at <= now:
            raise exceptions.AuthenticationFailed(_("Token expired."))
        user = token.user
        if not user.is_active or user.login_locked or user.status != "ACTIVE":
            raise exceptions.AuthenticationFailed(_("The token's user cannot sign in."))
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token

    def authenticate_header(self, request):
        return self.keyword


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describes the bearer token in the OpenAPI schema (and the Swagger UI's Authorize)."""

    target_class = "blazon.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `python manage.py issue_api_token USERNAME`.",
        }
