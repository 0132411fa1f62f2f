"""Blazon as an independent client library sees it: Authlib's OAuth2Session against a live
server (token endpoint errors, code replay) and Authlib's metadata validators (RFC 8414 and
OpenID Connect Discovery)."""

from __future__ import annotations

import time

import pytest
from authlib.integrations.base_client import OAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata, get_well_known_url
from authlib.oidc.discovery import OpenIDProviderMetadata
from django.test import Client

from blazon.audit.models import AuditEvent
from blazon.authcontract import SESSION_AUTH_AT
from tests.authn.conftest import enrol_totp, next_code, simple_policy, start_login, step
from tests.console.conftest import with_password
from tests.oidc.authlib_rp import AuthlibRP, browser_for, logged_in_browser


def test_mismatching_redirect_uri_is_invalid_grant(live_server, rp, alice):
    # RFC 6749 §5.2: a redirect_uri that does not match the authorization request's is
    # invalid_grant (the grant is "issued to another client" / "does not match the redirection
    # URI used in the authorization request"), not invalid_request
    relying_party = AuthlibRP.discover(live_server.url, rp)
    session = relying_party.session()
    response_url, verifier = relying_party.authorize(logged_in_browser(alice), session)
    with pytest.raises(OAuthError) as refused:
        relying_party.fetch_token(
            session, response_url, verifier, redirect_uri="https://rp.example.com/other"
        )
    assert refused.value.error == "invalid_grant"
    # the code was not spent by the refused request: the right redirect_uri still works
    token = relying_party.fetch_token(session, response_url, verifier)
    assert token["access_token"] and token["id_token"]


def test_reused_code_revokes_the_tokens_it_issued(live_server, rp, alice):
    # RFC 6749 §4.1.2: a code used twice is refused, and the tokens its first use issued are
    # revoked (someone else holds the code: the tokens may be theirs)
    relying_party = AuthlibRP.discover(live_server.url, rp)
    session = relying_party.session()
    response_url, verifier = relying_party.authorize(logged_in_browser(alice), session)
    first = relying_party.fetch_token(session, response_url, verifier)
    userinfo = relying_party.discovery["userinfo_endpoint"]
    assert session.get(userinfo, timeout=10).json()["preferred_username"] == "alice"

    replay = relying_party.session()
    with pytest.raises(OAuthError) as refused:
        relying_party.fetch_token(replay, response_url, verifier)
    assert refused.value.error == "invalid_grant"

    # the first redemption's access token no longer opens userinfo, its refresh token is dead
    assert session.get(userinfo, timeout=10).status_code == 401
    with pytest.raises(OAuthError) as refresh_refused:
        session.refresh_token(relying_party.discovery["token_endpoint"], refresh_token=first["refresh_token"])
    assert refresh_refused.value.error == "invalid_grant"
    event = AuditEvent.objects.get(action="oidc.code_replayed")
    assert event.subject_user_id == alice.pk and event.new_values["client_id"] == rp.client_id


def test_id_token_says_how_and_when_the_user_authenticated(live_server, rp):
    # OIDC Core §2 / RFC 8176: amr lists the methods of the login (password then TOTP: pwd,
    # otp, mfa) and auth_time is when that login happened, not when a token was issued
    user = with_password(username="carol", email="carol@example.com")
    simple_policy(["password", "totp"])
    totp = enrol_totp(user)
    here = Client()
    start_login(here, "carol")
    assert step(here, code=next_code(totp, user)).status_code == 302
    logged_in_at = here.session[SESSION_AUTH_AT]

    # the same user logs in again elsewhere a little later (moves user.last_login)
    time.sleep(1.1)
    Client().force_login(user)
    user.refresh_from_db()
    assert int(user.last_login.timestamp()) > logged_in_at

    relying_party = AuthlibRP.discover(live_server.url, rp)
    session = relying_party.session()
    response_url, verifier = relying_party.authorize(browser_for(here), session)
    tokens = relying_party.fetch_token(session, response_url, verifier)
    claims = relying_party.id_token_claims(tokens["id_token"], max_age=3600)
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["auth_time"] == logged_in_at
    assert claims["iat"] > claims["auth_time"]

    # a refresh issues an ID token about the same login
    time.sleep(1.1)
    refreshed = session.refresh_token(relying_party.discovery["token_endpoint"])
    again = relying_party.id_token_claims(refreshed["id_token"], nonce=None)
    assert again["auth_time"] == logged_in_at and again["amr"] == ["pwd", "otp", "mfa"]


@pytest.mark.parametrize(
    "metadata_url",
    [
        # RFC 8414 §3.1, as Authlib builds it from the issuer, and DOT's location under /o/
        get_well_known_url("https://testserver/o", external=False),
        "/o/.well-known/oauth-authorization-server",
    ],
)
def test_one_authorization_server_description(db, metadata_url):
    https = Client()
    metadata = https.get(metadata_url, secure=True).json()
    AuthorizationServerMetadata(metadata).validate()
    discovery = https.get("/o/.well-known/openid-configuration", secure=True).json()
    OpenIDProviderMetadata(discovery).validate()

    assert metadata["issuer"] == discovery["issuer"] == "https://testserver/o"
    # only grants that have an endpoint here (DOT's default announced the device-code grant)
    assert metadata["grant_types_supported"] == ["authorization_code", "refresh_token", "client_credentials"]
    # every field both documents carry says the same thing
    shared = set(metadata) & set(discovery)
    assert {"token_endpoint_auth_methods_supported", "scopes_supported", "jwks_uri"} <= shared
    assert {key: metadata[key] for key in shared} == {key: discovery[key] for key in shared}
    # adapter is the resource adapters' scope: a relying party may never ask for it
    assert "adapter" not in discovery["scopes_supported"]
    assert {"openid", "profile", "email"} <= set(discovery["scopes_supported"])
    # the endpoints announced answer
    assert https.get(metadata["jwks_uri"], secure=True).status_code == 200
    assert https.post(metadata["revocation_endpoint"], secure=True).status_code != 404
