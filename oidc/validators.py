"""django-oauth-toolkit's request validator with Blazon's rules (``OAUTH2_VALIDATOR_CLASS``).

* ID tokens are signed with the active key of ``oidc.keys`` and verified by ``kid`` against
  the published keys (the DOT default signs with one key from settings).
* The code flow is for OIDC clients only, and only for users the client admits; the code is
  refused at the token endpoint too when the user was locked or deactivated meanwhile.
* Claims: the standard profile/email claims from the user, plus custom claims from
  ``BLAZON_OIDC_SCOPE_CLAIMS``.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import router, transaction
from jwcrypto import jws, jwt
from oauth2_provider.models import AbstractApplication, get_id_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from blazon.audit.services import audit_record
from oidc import keys
from oidc.authorizations import (
    authorization_for_code,
    authorization_for_family,
    authorization_record,
    authorization_redeemed,
    code_replayed,
)
from oidc.selectors import (
    STANDARD_CLAIMS,
    client_for_application,
    custom_scope_claims,
    user_attribute,
    user_may_use_client,
)

#: Set by ``oidc.views.AuthorizationView`` in ``request.META`` (never from the client: WSGI only
#: puts client headers under ``HTTP_``); DOT hands META to oauthlib as the request headers.
SESSION_MARKER = "BLAZON_OIDC_SESSION"


class BlazonOAuth2Validator(OAuth2Validator):
    @property
    def oidc_claim_scope(self) -> dict[str, str]:
        mapping = dict(OAuth2Validator.oidc_claim_scope)
        for scope, claims in custom_scope_claims().items():
            for claim in claims:
                mapping[claim] = scope
        return mapping

    def get_additional_claims(self) -> dict[str, Any]:  # request-agnostic: discovery lists them
        claims: dict[str, Any] = {
            name: (lambda r, f=read: f(r.user)) for name, read in STANDARD_CLAIMS.items()
        }
        for mapping in custom_scope_claims().values():
            for claim, source in mapping.items():
                claims[claim] = lambda r, s=source: user_attribute(r.user, s)
        return claims

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs) -> bool:
        # the authorization endpoint serves OIDC clients only: never an adapter client
        oidc_client = client_for_application(client)
        if oidc_client is None or not oidc_client.active:
            return False
        return super().validate_response_type(client_id, response_type, client, request, *args, **kwargs)

    def validate_silent_login(self, request) -> bool:
        # prompt=none: an anonymous user never gets this far (DOT answers login_required first)
        return True

    def validate_silent_authorization(self, request) -> bool:
        # prompt=none with a session: only a trusted client (no consent screen) may proceed.
        # Without one, DOT answers login_required itself once validation passes.
        if (request.headers or {}).get(SESSION_MARKER) != "1":
            return True
        return bool(getattr(request.client, "skip_authorization", False))

    def validate_code(self, client_id, code, client, request, *args, **kwargs) -> bool:
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            # a spent code again: refused (invalid_grant), and what it issued is revoked
            code_replayed(code=code or "", application=client)
            return False
        oidc_client = client_for_application(client)
        if oidc_client is None or not user_may_use_client(request.user, oidc_client):
            return False
        request.blazon_authorization = authorization_for_code(code, client)
        return True

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs) -> bool:
        # oauthlib answers a mismatch with invalid_request; RFC 6749 §5.2 says invalid_grant (the
        # grant "does not match the redirection URI used in the authorization request")
        if not super().confirm_redirect_uri(client_id, code, redirect_uri, client, request, *args, **kwargs):
            raise errors.InvalidGrantError(
                description="redirect_uri does not match the one of the authorization request.",
                request=request,
            )
        return True

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs) -> bool:
        # a refresh must not outlive the user's access: locked, deactivated or out of the role
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        oidc_client = client_for_application(client)
        if oidc_client is not None and not user_may_use_client(request.user, oidc_client):
            return False
        # the ID token of a refresh keeps the authentication of the original login
        instance = getattr(request, "refresh_token_instance", None)
        request.blazon_authorization = authorization_for_family(getattr(instance, "token_family", None))
        return True

    def save_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:
        """Store the code and record the sign-in (who, into which application, which scopes)."""
        with transaction.atomic():
            super().save_authorization_code(client_id, code, request, *args, **kwargs)
            authorization_record(
                code=code["code"], application=request.client, user=request.user, headers=request.headers
            )
            oidc_client = client_for_application(request.client)
            audit_record(
                actor=request.user,
                action="oidc.authorized",
                obj=oidc_client,
                new={"client_id": client_id, "scopes": list(request.scopes or [])},
                source="sso",
                subject_user_id=request.user.pk,
            )

    def _save_bearer_token(self, token, request, *args, **kwargs) -> None:
        super()._save_bearer_token(token, request, *args, **kwargs)
        if request.grant_type == "authorization_code" and token.get("access_token"):
            authorization_redeemed(
                code=request.code, application=request.client, access_token=token["access_token"]
            )

    def get_id_token_dictionary(self, token, token_handler, request) -> tuple[dict[str, Any], Any]:
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        # DOT takes auth_time from user.last_login, which a later login elsewhere moves
        record = getattr(request, "blazon_authorization", None)
        if record is not None:
            claims["auth_time"] = int(record.auth_time.timestamp())
            if record.amr:
                claims["amr"] = list(record.amr)
        return claims, expiration_time

    def finalize_id_token(self, id_token, token, token_handler, request) -> str:
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:  # oauthlib bug #746, as DOT does
            id_token["nonce"] = request.nonce
        key = keys.active_signing_key()
        header = {"typ": "JWT", "alg": AbstractApplication.RS256_ALGORITHM, "kid": key.thumbprint()}
        signed = jwt.JWT(header=json.dumps(header), claims=json.dumps(id_token, default=str))
        signed.make_signed_token(key)
        id_token_model = get_id_token_model()
        with transaction.atomic(using=router.db_for_write(id_token_model)):
            saved = self._save_id_token(id_token["jti"], request, expiration_time)
        request.access_token = saved
        request.id_token = saved
        return signed.serialize()

    def _get_key_for_token(self, token):
        unverified = jws.JWS()
        unverified.deserialize(token)
        header = unverified.jose_header
        if isinstance(header, list):  # a JSON-serialised JWS with several signatures: not ours
            return None
        return keys.verification_key(header.get("kid"))
