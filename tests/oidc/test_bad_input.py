"""Attacks on the code flow: each is refused with a clear answer and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant

from directory.models import UserStatus
from oidc.models import Authorization
from oidc.tasks import purge_authorizations
from provisioning.services.adapter import adapter_client_register
from tests.api.factories import ResourceFactory
from tests.oidc.conftest import (
    REDIRECT,
    authorize_params,
    code_from,
    consent,
    exchange,
    member,
    pkce_pair,
)
from tests.provisioning.conftest import keypair


def test_wrong_pkce_verifier_is_refused(browser, rp):
    _, challenge = pkce_pair()
    code = code_from(consent(browser, rp, challenge))
    other_verifier, _ = pkce_pair()
    response = exchange(rp, code, other_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


def test_missing_pkce_verifier_is_refused(browser, public_rp):
    _, challenge = pkce_pair()
    code = code_from(consent(browser, public_rp, challenge))
    response = exchange(public_rp, code, None)
    assert response.status_code == 400
    assert not AccessToken.objects.exists()


def test_authorize_without_code_challenge_is_refused(browser, public_rp):
    response = browser.get(
        "/o/authorize/", authorize_params(public_rp, "", code_challenge=None, code_challenge_method=None)
    )
    assert "code" not in parse_qs(urlsplit(response.get("Location", "")).query)
    assert not Grant.objects.exists()


def test_plain_pkce_method_is_refused(browser, rp):
    response = browser.get("/o/authorize/", authorize_params(rp, "x" * 43, code_challenge_method="plain"))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["invalid_request"] and query["state"] == ["state-123"]
    assert "code" not in query
    assert not Grant.objects.exists()


def test_reused_code_is_refused(browser, rp):
    verifier, challenge = pkce_pair()
    code = code_from(consent(browser, rp, challenge))
    assert exchange(rp, code, verifier).status_code == 200
    again = exchange(rp, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    # nothing new issued, and the first use's token revoked (RFC 6749 §4.1.2)
    assert AccessToken.objects.count() == 0


def test_code_of_another_client_is_refused(browser, rp, public_rp):
    verifier, challenge = pkce_pair()
    code = code_from(consent(browser, rp, challenge))
    response = exchange(public_rp, code, verifier)
    assert response.status_code == 400
    assert not AccessToken.objects.exists()


def test_wrong_client_secret_is_refused(browser, rp):
    verifier, challenge = pkce_pair()
    code = code_from(consent(browser, rp, challenge))
    response = exchange(rp, code, verifier, client_secret="x" * 128)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_redirect_uri_mismatch_at_token_endpoint(browser, rp):
    verifier, challenge = pkce_pair()
    code = code_from(consent(browser, rp, challenge))
    response = exchange(rp, code, verifier, redirect_uri="https://rp.example.com/other")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "https://rp.example.com.evil.example/callback",
        "https://rp.example.com/callback/../../evil",
        "https://rp.example.com/callback?next=https://evil.example",
        "https://rp.example.com/callbackX",
        "//evil.example/callback",
        "javascript:alert(1)",
    ],
)
def test_unregistered_redirect_uri_is_never_followed(browser, rp, redirect_uri):
    _, challenge = pkce_pair()
    response = browser.get("/o/authorize/", authorize_params(rp, challenge, redirect_uri=redirect_uri))
    assert response.status_code == 400
    assert "Location" not in response
    assert b"cannot be served" in response.content
    assert not Grant.objects.exists()


def test_unknown_client_gets_an_error_page_not_a_redirect(browser):
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": "no-such-client",
        "redirect_uri": "https://evil.example/cb",
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    response = browser.get("/o/authorize/", params)
    assert response.status_code == 400
    assert "Location" not in response


def test_unknown_client_at_token_endpoint(db):
    response = Client().post(
        "/o/token/",
        {"grant_type": "authorization_code", "code": "x", "client_id": "nope", "redirect_uri": REDIRECT},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_scope_not_allowed_for_the_client(browser, rp):
    _, challenge = pkce_pair()
    response = browser.get("/o/authorize/", authorize_params(rp, challenge, scope="openid adapter"))
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["invalid_scope"]
    assert not Grant.objects.exists()


def test_user_outside_the_clients_roles_is_refused(browser, role_gated_rp):
    gated, _role = role_gated_rp
    _, challenge = pkce_pair()
    response = browser.get("/o/authorize/", authorize_params(gated, challenge))
    assert response.status_code == 403
    assert b"not allowed to sign in to this application" in response.content
    assert not Grant.objects.exists()


def test_member_of_the_role_may_sign_in(browser, alice, role_gated_rp):
    gated, role = role_gated_rp
    member(alice, role)
    verifier, challenge = pkce_pair()
    code = code_from(consent(browser, gated, challenge))
    assert exchange(gated, code, verifier).status_code == 200


@pytest.mark.parametrize(
    "change", [{"login_locked": True}, {"status": UserStatus.INACTIVE}, {"is_active": False}]
)
def test_locked_or_inactive_user_is_refused(alice, rp, change):
    browser = Client()
    browser.force_login(alice)
    for field, value in change.items():
        setattr(alice, field, value)
    alice.save()
    _, challenge = pkce_pair()
    response = browser.get("/o/authorize/", authorize_params(rp, challenge))
    assert response.status_code in (302, 403)
    assert "code=" not in response.get("Location", "")
    assert not Grant.objects.exists()


def test_user_locked_after_the_code_was_issued_gets_no_token(browser, rp, alice):
    verifier, challenge = pkce_pair()
    code = code_from(consent(browser, rp, challenge))
    alice.login_locked = True
    alice.save(update_fields=["login_locked"])
    response = exchange(rp, code, verifier)
    assert response.status_code == 400
    assert not AccessToken.objects.exists()


def test_consent_without_csrf_token_is_refused(alice, rp):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    _, challenge = pkce_pair()
    page = browser.get("/o/authorize/", authorize_params(rp, challenge))
    form = page.context["form"]
    data = {name: form[name].value() or "" for name in form.fields if form.fields[name].widget.is_hidden}
    data["allow"] = "Authorize"
    response = browser.post("/o/authorize/", data)  # no csrfmiddlewaretoken
    assert response.status_code == 403
    assert not Grant.objects.exists()


def test_tampered_consent_form_redirect_uri_is_refused(browser, rp):
    _, challenge = pkce_pair()
    page = browser.get("/o/authorize/", authorize_params(rp, challenge))
    form = page.context["form"]
    data = {name: form[name].value() or "" for name in form.fields if form.fields[name].widget.is_hidden}
    data.update(allow="Authorize", redirect_uri="https://evil.example/callback")
    response = browser.post("/o/authorize/", data)
    assert not response.get("Location", "").startswith("https://evil.example")
    assert not Grant.objects.exists()


def test_adapter_client_cannot_use_the_code_flow(browser, db):
    _client, client_id, secret = adapter_client_register(
        actor=None, source="console", name="ldap", resources=[ResourceFactory()], public_key=keypair()[1]
    )
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    response = browser.get("/o/authorize/", params)
    assert response.status_code == 400
    assert "Location" not in response
    assert not Grant.objects.exists()
    # nor can it ask for OIDC scopes with its own grant
    token = Client().post(
        "/o/token/",
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "openid",
        },
    )
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_scope"


def test_oidc_client_cannot_use_client_credentials(rp):
    response = Client().post(
        "/o/token/",
        {"grant_type": "client_credentials", "client_id": rp.client_id, "client_secret": rp.secret},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
    assert not AccessToken.objects.exists()


def test_inactive_client_cannot_start_a_login(browser, rp):
    rp.client.active = False
    rp.client.save(update_fields=["active"])
    _, challenge = pkce_pair()
    response = browser.get("/o/authorize/", authorize_params(rp, challenge))
    assert response.status_code in (400, 403)
    assert "code=" not in response.get("Location", "")


def test_adapter_token_does_not_open_userinfo(db):
    _client, client_id, secret = adapter_client_register(
        actor=None, source="console", name="ldap2", resources=[ResourceFactory()], public_key=keypair()[1]
    )
    token = (
        Client()
        .post(
            "/o/token/", {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        )
        .json()["access_token"]
    )
    response = Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code in (401, 403)


def test_refresh_is_refused_once_the_user_is_locked(browser, rp, alice):
    verifier, challenge = pkce_pair()
    tokens = exchange(rp, code_from(consent(browser, rp, challenge)), verifier).json()
    alice.login_locked = True
    alice.save(update_fields=["login_locked"])
    response = Client().post(
        "/o/token/",
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": rp.client_id,
            "client_secret": rp.secret,
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert AccessToken.objects.count() == 1


def test_oidc_access_token_does_not_open_the_adapter_api(browser, rp):
    verifier, challenge = pkce_pair()
    tokens = exchange(rp, code_from(consent(browser, rp, challenge)), verifier).json()
    response = Client().post(
        "/api/v1/adapter/pull/",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}",
    )
    assert response.status_code in (401, 403)


def test_reused_code_revokes_tokens_refreshed_from_it_too(browser, rp):
    verifier, challenge = pkce_pair()
    code = code_from(consent(browser, rp, challenge))
    first = exchange(rp, code, verifier).json()
    refreshed = (
        Client()
        .post(
            "/o/token/",
            {
                "grant_type": "refresh_token",
                "refresh_token": first["refresh_token"],
                "client_id": rp.client_id,
                "client_secret": rp.secret,
            },
        )
        .json()
    )
    assert exchange(rp, code, verifier).json()["error"] == "invalid_grant"
    info = Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {refreshed['access_token']}")
    assert info.status_code == 401
    again = Client().post(
        "/o/token/",
        {
            "grant_type": "refresh_token",
            "refresh_token": refreshed["refresh_token"],
            "client_id": rp.client_id,
            "client_secret": rp.secret,
        },
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


def test_a_replay_by_another_client_revokes_nothing(browser, rp, public_rp):
    verifier, challenge = pkce_pair()
    code = code_from(consent(browser, rp, challenge))
    tokens = exchange(rp, code, verifier).json()
    assert exchange(public_rp, code, verifier).status_code == 400
    info = Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert info.status_code == 200


def test_authorization_records_are_purged_once_nothing_depends_on_them(browser, rp):
    verifier, challenge = pkce_pair()
    live = exchange(rp, code_from(consent(browser, rp, challenge)), verifier).json()
    code_from(consent(browser, rp, pkce_pair()[1]))  # never spent
    verifier, challenge = pkce_pair()
    gone = exchange(rp, code_from(consent(browser, rp, challenge)), verifier).json()
    Client().post(
        "/o/revoke_token/",
        {"token": gone["refresh_token"], "client_id": rp.client_id, "client_secret": rp.secret},
    )
    Authorization.objects.update(created_at=timezone.now() - timedelta(hours=2))
    Authorization.objects.exclude(redeemed_at=None).update(redeemed_at=timezone.now() - timedelta(hours=2))

    assert purge_authorizations() == 2  # the unspent code and the one whose tokens were revoked
    kept = Authorization.objects.get()
    assert AccessToken.objects.get(pk=kept.access_token_id)
    info = Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {live['access_token']}")
    assert info.status_code == 200
