"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0, served by DOT)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.oidc.conftest import LOGOUT_REDIRECT, login_flow


def test_logout_with_id_token_hint_signs_out_and_returns_to_the_rp(browser, rp):
    tokens = login_flow(browser, rp)
    params = {
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": LOGOUT_REDIRECT,
        "state": "bye",
    }
    page = browser.get("/o/logout/", params)
    assert page.status_code == 200
    assert b"Sign out of Payroll?" in page.content
    form = page.context["form"]
    data = {name: form[name].value() or "" for name in form.fields if form.fields[name].widget.is_hidden}
    data["allow"] = "Logout"
    response = browser.post("/o/logout/", data)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == LOGOUT_REDIRECT
    assert parse_qs(location.query)["state"] == ["bye"]
    assert "_auth_user_id" not in browser.session


def test_logout_to_an_unregistered_uri_is_refused(browser, rp):
    tokens = login_flow(browser, rp)
    params = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"}
    response = browser.get("/o/logout/", params)
    assert response.status_code == 400
    assert "Location" not in response
    assert "_auth_user_id" in browser.session


def test_logout_with_a_forged_id_token_hint_is_refused(browser, rp):
    tokens = login_flow(browser, rp)
    header, payload, _sig = tokens["id_token"].split(".")
    params = {"id_token_hint": f"{header}.{payload}.AAAA", "post_logout_redirect_uri": LOGOUT_REDIRECT}
    response = browser.get("/o/logout/", params)
    assert response.status_code == 400
    assert "_auth_user_id" in browser.session
