"""Blazon as an independent client library sees it: Authlib's OAuth2Session against a live
server (token endpoint errors, code replay) and Authlib's metadata validators (RFC 8414 and
OpenID Connect Discovery)."""

from __future__ import annotations

import pytest
from authlib.integrations.base_client import OAuthError

from tests.oidc.authlib_rp import AuthlibRP, logged_in_browser


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
