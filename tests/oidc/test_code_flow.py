"""The authorization-code flow with PKCE, end to end through the real endpoints: consent,
code, token exchange, ID token verified against the JWKS, userinfo claims."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.test import Client, override_settings
from oauth2_provider.models import AccessToken, Grant

from blazon.audit.models import AuditEvent
from blazon.authcontract import SESSION_AUTH_AT
from tests.authn.conftest import start_login
from tests.console.conftest import with_password
from tests.oidc.conftest import (
    ISSUER,
    REDIRECT,
    authorize_params,
    code_from,
    consent,
    exchange,
    login_flow,
    pkce_pair,
    register,
    verify_id_token,
)


def test_discovery_document_at_the_issuer_and_at_the_origin(db):
    for url in ("/.well-known/openid-configuration", "/o/.well-known/openid-configuration"):
        doc = Client().get(url).json()
        assert doc["issuer"] == ISSUER
        assert doc["authorization_endpoint"] == f"{ISSUER}/authorize/"
        assert doc["token_endpoint"] == f"{ISSUER}/token/"
        assert doc["userinfo_endpoint"] == f"{ISSUER}/userinfo/"
        assert doc["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
        assert doc["end_session_endpoint"] == f"{ISSUER}/logout/"
        assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert doc["response_types_supported"] == ["code"]
        assert {"openid", "profile", "email"} <= set(doc["scopes_supported"])
        assert {"sub", "name", "given_name", "family_name", "email", "preferred_username"} <= set(
            doc["claims_supported"]
        )


def test_full_code_flow_with_pkce(browser, rp, alice):
    tokens = login_flow(browser, rp)
    claims = verify_id_token(tokens["id_token"], rp.client_id)
    assert claims["sub"] == str(alice.pk)
    assert claims["nonce"] == "nonce-456"
    assert claims["name"] == "Alice Liddell"
    assert claims["email"] == "alice@example.com"

    info = Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert info.status_code == 200
    assert info.json() == {
        "sub": str(alice.pk),
        "name": "Alice Liddell",
        "given_name": "Alice",
        "family_name": "Liddell",
        "preferred_username": "alice",
        "email": "alice@example.com",
    }


def test_authorization_response_names_the_issuer(browser, rp):
    _, challenge = pkce_pair()
    response = consent(browser, rp, challenge)
    assert parse_qs(urlsplit(response["Location"]).query)["iss"] == [ISSUER]


def test_claims_follow_the_granted_scopes(browser, rp, alice):
    tokens = login_flow(browser, rp, scope="openid email")
    info = Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").json()
    assert info == {"sub": str(alice.pk), "email": "alice@example.com"}


def test_custom_claims_from_user_attributes_by_scope(db, browser, alice):
    mapping = {"org": {"department": "department", "cost_center": "cost_center"}}
    provider = {**settings.OAUTH2_PROVIDER, "SCOPES": {**settings.OAUTH2_PROVIDER["SCOPES"], "org": "Org"}}
    with override_settings(BLAZON_OIDC_SCOPE_CLAIMS=mapping, OAUTH2_PROVIDER=provider):
        app = register(name="HR", scopes=["profile", "org"])
        tokens = login_flow(browser, app, scope="openid org")
        info = Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").json()
        claims = verify_id_token(tokens["id_token"], app.client_id)
    assert info == {"sub": str(alice.pk), "department": "Finance", "cost_center": "CC-42"}
    assert claims["cost_center"] == "CC-42"


def test_public_client_uses_pkce_without_secret(browser, public_rp, alice):
    assert public_rp.secret is None
    tokens = login_flow(browser, public_rp)
    assert verify_id_token(tokens["id_token"], public_rp.client_id)["sub"] == str(alice.pk)


def test_trusted_client_skips_consent(browser, db):
    app = register(name="Intranet", trusted=True)
    verifier, challenge = pkce_pair()
    response = browser.get("/o/authorize/", authorize_params(app, challenge))
    code = code_from(response)
    assert exchange(app, code, verifier).status_code == 200


def test_untrusted_client_shows_consent_with_scopes(browser, rp):
    _, challenge = pkce_pair()
    page = browser.get("/o/authorize/", authorize_params(rp, challenge))
    assert page.status_code == 200
    assert b"Sign in to Payroll?" in page.content
    assert b"Your e-mail address" in page.content
    assert not Grant.objects.exists()


def test_denying_consent_returns_access_denied(browser, rp):
    _, challenge = pkce_pair()
    page = browser.get("/o/authorize/", authorize_params(rp, challenge))
    form = page.context["form"]
    data = {name: form[name].value() or "" for name in form.fields if form.fields[name].widget.is_hidden}
    response = browser.post("/o/authorize/", data)  # no "allow"
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["access_denied"]
    assert not Grant.objects.exists()


def test_anonymous_user_is_sent_to_the_login_page_and_back(rp):
    _, challenge = pkce_pair()
    response = Client().get("/o/authorize/", authorize_params(rp, challenge))
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == settings.LOGIN_URL
    next_url = parse_qs(location.query)["next"][0]
    assert next_url.startswith("/o/authorize/?") and rp.client_id in next_url


def test_prompt_none_without_session_returns_login_required(rp):
    _, challenge = pkce_pair()
    response = Client().get("/o/authorize/", authorize_params(rp, challenge, prompt="none"))
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT)
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["login_required"]


def test_access_token_is_stored_hashed_not_in_clear(browser, rp):
    tokens = login_flow(browser, rp)
    assert not AccessToken.objects.filter(token=tokens["access_token"]).exists()


def test_prompt_none_with_session_needs_consent_unless_trusted(browser, rp):
    _, challenge = pkce_pair()
    response = browser.get("/o/authorize/", authorize_params(rp, challenge, prompt="none"))
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["consent_required"]
    trusted = register(name="Portal", trusted=True)
    assert code_from(browser.get("/o/authorize/", authorize_params(trusted, challenge, prompt="none")))


def test_sign_in_is_audited(browser, rp, alice):
    login_flow(browser, rp)
    event = AuditEvent.objects.get(action="oidc.authorized")
    assert event.actor_id == alice.pk and event.source == "sso"
    assert event.object_repr == "Payroll"
    assert event.new_values["scopes"] == ["openid", "profile", "email"]


def test_refresh_token_gives_a_new_access_token(browser, rp):
    tokens = login_flow(browser, rp)
    refreshed = Client().post(
        "/o/token/",
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": rp.client_id,
            "client_secret": rp.secret,
        },
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] != tokens["access_token"]


def test_amr_of_a_password_login_and_of_a_session_opened_otherwise(rp):
    # a password-only login through Blazon's login page: amr ["pwd"], auth_time of that login
    with_password(username="dora", email="dora@example.com")
    browser = Client()
    assert start_login(browser, "dora").status_code == 302
    claims = verify_id_token(login_flow(browser, rp)["id_token"], rp.client_id)
    assert claims["amr"] == ["pwd"]
    assert claims["auth_time"] == browser.session[SESSION_AUTH_AT]
    # a session not opened by the login page names no method
    other = Client()
    other.force_login(with_password(username="emil", email="emil@example.com"))
    assert "amr" not in verify_id_token(login_flow(other, rp)["id_token"], rp.client_id)
