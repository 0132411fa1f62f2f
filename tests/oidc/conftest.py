"""OIDC provider test set-up: relying parties registered through the console service, users
with and without access, and helpers that walk the authorization-code flow with PKCE through
the real endpoints (DOT + oauthlib; nothing mocked)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from jwcrypto import jwk, jwt

from directory.models import ConsoleRole
from oidc.models import ClientAccess
from oidc.services import oidc_client_create
from tests.api.factories import RoleFactory, RoleMembershipFactory, UserFactory

REDIRECT = "https://rp.example.com/callback"
LOGOUT_REDIRECT = "https://rp.example.com/signed-out"
ISSUER = "http://testserver/o"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class RP:
    """A registered relying party as its operator knows it."""

    client: Any
    client_id: str
    secret: str | None


def register(*, confidential: bool = True, **kwargs: Any) -> RP:
    kwargs.setdefault("name", f"App {secrets.token_hex(3)}")
    kwargs.setdefault("redirect_uris", REDIRECT)
    kwargs.setdefault("post_logout_redirect_uris", LOGOUT_REDIRECT)
    kwargs.setdefault("scopes", ["profile", "email"])
    client, secret = oidc_client_create(actor=None, source="console", confidential=confidential, **kwargs)
    return RP(client=client, client_id=client.application.client_id, secret=secret)


@pytest.fixture
def rp(db) -> RP:
    return register(name="Payroll")


@pytest.fixture
def public_rp(db) -> RP:
    return register(name="Mobile app", confidential=False)


@pytest.fixture
def alice(db):
    return UserFactory(
        username="alice",
        first_name="Alice",
        last_name="Liddell",
        display_name="Alice Liddell",
        email="alice@example.com",
        department="Finance",
        attributes={"cost_center": "CC-42"},
    )


@pytest.fixture
def browser(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def authorize_params(rp: RP, challenge: str, **overrides: Any) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile email",
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def consent(browser: Client, rp: RP, challenge: str, **overrides: Any):
    """Open the authorize endpoint, then submit the consent form as the page renders it."""
    page = browser.get("/o/authorize/", authorize_params(rp, challenge, **overrides))
    assert page.status_code == 200, page.content
    form = page.context["form"]
    data = {name: form[name].value() or "" for name in form.fields if form.fields[name].widget.is_hidden}
    data["allow"] = "Authorize"
    return browser.post("/o/authorize/", data)


def code_from(response) -> str:
    assert response.status_code == 302, response.content
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["state-123"]
    return query["code"][0]


def exchange(rp: RP, code: str, verifier: str | None, **overrides: Any):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": rp.client_id,
        "code_verifier": verifier,
    }
    if rp.secret:
        data["client_secret"] = rp.secret
    data.update(overrides)
    return Client().post("/o/token/", {k: v for k, v in data.items() if v is not None})


def login_flow(browser: Client, rp: RP, **overrides: Any) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    code = code_from(consent(browser, rp, challenge, **overrides))
    response = exchange(rp, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


def verify_id_token(id_token: str, audience: str) -> dict[str, Any]:
    """Verify as a relying party would: signature against the published JWKS, iss, aud, exp."""
    keyset = jwk.JWKSet.from_json(Client().get("/o/.well-known/jwks.json").content)
    token = jwt.JWT(
        jwt=id_token,
        key=keyset,
        algs=["RS256"],
        check_claims={"iss": ISSUER, "aud": audience, "exp": None},
    )
    return json.loads(token.claims)


@pytest.fixture
def role_gated_rp(db):
    role = RoleFactory(code="payroll-users", name="Payroll users")
    return register(name="Gated", access=ClientAccess.ROLES, roles=[role]), role


@pytest.fixture
def admin(db):
    return UserFactory(username="oidc-admin", console_role=ConsoleRole.ADMINISTRATOR)


@pytest.fixture
def helpdesk(db):
    return UserFactory(username="oidc-helpdesk", console_role=ConsoleRole.HELPDESK)


def member(user, role):
    return RoleMembershipFactory(user=user, role=role)
