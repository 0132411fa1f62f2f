"""A relying party built on Authlib (an independent OAuth 2.0 / OIDC client), talking to a live
Blazon over HTTP: discovery first, the browser's visit to the authorize endpoint (a ``requests``
session carrying a Blazon session cookie, consent form posted as the page renders it), then
Authlib's own token request."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from django.conf import settings
from django.test import Client
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.oidc.conftest import REDIRECT, RP


class _HiddenInputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs.get("value") or ""


def browser_for(django_client: Client) -> requests.Session:
    """A ``requests`` session carrying the Blazon session cookie of ``django_client``."""
    browser = requests.Session()
    # sessions are bound to the user agent that opened them; the test client sends none
    browser.headers["User-Agent"] = ""
    browser.cookies.set(
        settings.SESSION_COOKIE_NAME, django_client.cookies[settings.SESSION_COOKIE_NAME].value
    )
    return browser


def logged_in_browser(user: Any) -> requests.Session:
    django_client = Client()
    django_client.force_login(user)
    return browser_for(django_client)


@dataclass
class AuthlibRP:
    base_url: str
    rp: RP
    discovery: dict[str, Any]
    nonce: str = ""

    @classmethod
    def discover(cls, base_url: str, rp: RP) -> AuthlibRP:
        discovery = requests.get(f"{base_url}/o/.well-known/openid-configuration", timeout=10).json()
        return cls(base_url=base_url, rp=rp, discovery=discovery)

    def session(self, redirect_uri: str = REDIRECT, **kwargs: Any) -> OAuth2Session:
        return OAuth2Session(
            client_id=self.rp.client_id,
            client_secret=self.rp.secret,
            scope="openid profile email",
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if self.rp.secret else "none",
            **kwargs,
        )

    def authorize(self, browser: requests.Session, session: OAuth2Session) -> tuple[str, str]:
        """Walk the browser through authorize + consent; returns (authorization response URL,
        code_verifier)."""
        verifier = generate_token(48)
        self.nonce = generate_token(12)
        url, _state = session.create_authorization_url(
            self.discovery["authorization_endpoint"], code_verifier=verifier, nonce=self.nonce
        )
        page = browser.get(url, allow_redirects=False, timeout=10)
        if page.status_code == 200:
            form = _HiddenInputs()
            form.feed(page.text)
            form.fields["allow"] = "Authorize"
            page = browser.post(
                self.discovery["authorization_endpoint"],
                data=form.fields,
                headers={"Referer": page.url},
                allow_redirects=False,
                timeout=10,
            )
        assert page.status_code == 302, page.text
        return page.headers["Location"], verifier

    def fetch_token(self, session: OAuth2Session, response_url: str, verifier: str, **kwargs: Any):
        return session.fetch_token(
            self.discovery["token_endpoint"],
            authorization_response=response_url,
            code_verifier=verifier,
            **kwargs,
        )

    def id_token_claims(self, id_token: str, **params: Any) -> CodeIDToken:
        """Verify an ID token as an Authlib relying party does: the signature against the keys
        of the advertised jwks_uri (joserfc, Authlib's JOSE library), then the claims with
        Authlib's ``CodeIDToken`` (iss, aud, exp, iat, nonce, auth_time, amr)."""
        keys = KeySet.import_key_set(requests.get(self.discovery["jwks_uri"], timeout=10).json())
        token = jwt.decode(id_token, keys, algorithms=["RS256"])
        options = {
            "iss": {"essential": True, "value": self.discovery["issuer"]},
            "aud": {"essential": True, "value": self.rp.client_id},
        }
        claims = CodeIDToken(
            token.claims,
            token.header,
            options,
            {"nonce": self.nonce, "client_id": self.rp.client_id, **params},
        )
        claims.validate()
        return claims
