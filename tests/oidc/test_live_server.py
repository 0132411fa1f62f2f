"""The relying party's view over real HTTP: a live Blazon server, ``requests`` as the RP's
library would use it, discovery first, client_secret_basic at the token endpoint, the ID token
verified with the keys fetched from the advertised jwks_uri."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings
from django.test import Client
from jwcrypto import jwk, jwt

from tests.oidc.conftest import REDIRECT, authorize_params, pkce_pair


class HiddenInputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs.get("value") or ""


def test_relying_party_over_http(live_server, rp, alice):
    # the user's browser already has a Blazon session
    django_client = Client()
    django_client.force_login(alice)
    browser = requests.Session()
    # a session is bound to the user agent of the browser that opened it (security middleware);
    # force_login's request has none, so this "browser" sends none either
    browser.headers["User-Agent"] = ""
    browser.cookies.set(
        settings.SESSION_COOKIE_NAME, django_client.cookies[settings.SESSION_COOKIE_NAME].value
    )

    discovery = requests.get(f"{live_server.url}/.well-known/openid-configuration", timeout=10).json()
    assert discovery["issuer"] == f"{live_server.url}/o"

    verifier, challenge = pkce_pair()
    page = browser.get(
        discovery["authorization_endpoint"], params=authorize_params(rp, challenge), timeout=10
    )
    assert page.status_code == 200
    form = HiddenInputs()
    form.feed(page.text)
    form.fields["allow"] = "Authorize"
    answer = browser.post(
        discovery["authorization_endpoint"],
        data=form.fields,
        headers={"Referer": page.url},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    code = parse_qs(location.query)["code"][0]

    token = requests.post(
        discovery["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(rp.client_id, rp.secret),
        timeout=10,
    )
    assert token.status_code == 200, token.text
    tokens = token.json()
    assert token.headers["Cache-Control"] == "no-store"

    keyset = jwk.JWKSet.from_json(requests.get(discovery["jwks_uri"], timeout=10).text)
    id_token = jwt.JWT(
        jwt=tokens["id_token"],
        key=keyset,
        algs=["RS256"],
        check_claims={"iss": discovery["issuer"], "aud": rp.client_id, "exp": None, "nonce": "nonce-456"},
    )
    assert json.loads(id_token.claims)["preferred_username"] == "alice"

    info = requests.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert info.json()["email"] == "alice@example.com"
