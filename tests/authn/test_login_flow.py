"""The login flow end to end through the pages: factors in policy order, the contract's
session keys, redirects (and no open redirect), the contract's signals, and no user
enumeration."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import user_logged_in, user_login_failed
from django.test import Client
from django.urls import reverse

from authn.models import LoginFailure
from blazon.audit.models import AuditEvent
from blazon.authcontract import SESSION_AUTH_AT, SESSION_FACTORS, LoginRefused, login_attempt
from directory.models import ConsoleRole, UserStatus
from tests.authn.conftest import enrol_totp, next_code, simple_policy, start_login, step
from tests.console.conftest import PASSWORD, with_password

pytestmark = pytest.mark.django_db

GENERIC = "Please enter a correct username and password"


def _page(response) -> str:
    # the CSRF tokens differ per response; everything else must be identical
    return re.sub(r"[A-Za-z0-9]{64}", "<csrf>", response.content.decode())


def test_password_login_with_no_policy_sets_the_contract_session_keys(alice):
    client = Client()
    response = start_login(client, "alice")
    assert response.status_code == 302 and response.url == reverse("workspace:home")
    assert client.session[SESSION_FACTORS] == ["password"]
    assert isinstance(client.session[SESSION_AUTH_AT], int)
    assert int(client.session["_auth_user_id"]) == alice.pk
    event = AuditEvent.objects.get(action="authn.login")
    assert event.subject_user_id == alice.pk and event.new_values["factors"] == ["password"]
    assert PASSWORD not in str(event.new_values)


def test_password_then_totp(alice):
    totp = enrol_totp(alice)
    simple_policy(["password", "totp"])
    client = Client()
    response = start_login(client, "alice")
    assert response.url == reverse("authn:step")
    assert "_auth_user_id" not in client.session
    page = client.get(reverse("authn:step")).content.decode()
    assert "Authenticator app" in page
    response = step(client, code=next_code(totp, alice))
    assert response.status_code == 302 and response.url == reverse("workspace:home")
    assert client.session[SESSION_FACTORS] == ["password", "totp"]


def test_wrong_totp_keeps_the_user_logged_out_and_counts_a_failure(alice):
    enrol_totp(alice)
    simple_policy(["password", "totp"])
    client = Client()
    start_login(client, "alice")
    response = step(client, code="000000")
    assert response.status_code == 200 and "not valid" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert LoginFailure.objects.filter(user=alice, reason="totp").count() == 1


def test_too_many_wrong_codes_restart_the_flow(alice, settings):
    settings.BLAZON_LOGIN_MAX_FAILURES = 2
    totp = enrol_totp(alice)
    simple_policy(["password", "totp"])
    client = Client()
    start_login(client, "alice")
    step(client, code="000000")
    response = step(client, code="000001")
    assert response.status_code == 302 and response.url == reverse("authn:login")
    # the flow is gone: even the right code does not log in now
    response = step(client, code=next_code(totp, alice))
    assert response.url == reverse("authn:login")
    assert "_auth_user_id" not in client.session


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(alice):
    wrong = start_login(Client(), "alice", "not-the-password")
    unknown = start_login(Client(), "nobody-by-that-name", "not-the-password")
    assert wrong.status_code == unknown.status_code == 200
    assert GENERIC in wrong.content.decode()
    # the page echoes the typed username; with the same name typed, the pages are identical
    assert _page(unknown).replace("nobody-by-that-name", "alice") == _page(wrong)


@pytest.mark.parametrize(
    "change", [{"login_locked": True}, {"status": UserStatus.INACTIVE}, {"status": UserStatus.REVOKED}]
)
def test_locked_or_inactive_user_gets_the_generic_answer_on_every_step(change):
    user = with_password(username="blocked", console_role=ConsoleRole.ADMINISTRATOR, **change)
    client = Client()
    response = start_login(client, "blocked")
    assert response.status_code == 200 and GENERIC in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert LoginFailure.objects.get(user=user).reason == "inactive"


def test_user_locked_in_the_middle_of_the_flow_is_not_logged_in(alice):
    totp = enrol_totp(alice)
    simple_policy(["password", "totp"])
    client = Client()
    start_login(client, "alice")
    type(alice).objects.filter(pk=alice.pk).update(login_locked=True)
    response = step(client, code=next_code(totp, alice))
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "http://testserver.evil.example/", "javascript:alert(1)"],
)
def test_next_cannot_redirect_off_site(alice, target):
    response = Client().post(
        reverse("authn:login") + "?next=" + target,
        {"username": "alice", "password": PASSWORD, "next": target},
    )
    assert response.status_code == 302 and response.url == reverse("workspace:home")


def test_next_on_site_is_kept_across_steps(alice):
    totp = enrol_totp(alice)
    simple_policy(["password", "totp"])
    client = Client()
    client.post(
        reverse("authn:login"), {"username": "alice", "password": PASSWORD, "next": "/workspace/accesses/"}
    )
    response = step(client, code=next_code(totp, alice))
    assert response.url == "/workspace/accesses/"


def test_login_attempt_refused_shows_its_message_and_checks_nothing(alice):
    failed = []

    def refuse(sender, request, username, **kwargs):
        raise LoginRefused("Slow down: try again in 5 minutes.", retry_after=300)

    def on_failed(sender, **kwargs):
        failed.append(kwargs)

    login_attempt.connect(refuse)
    user_login_failed.connect(on_failed)
    try:
        response = start_login(Client(), "alice")
    finally:
        login_attempt.disconnect(refuse)
        user_login_failed.disconnect(on_failed)
    assert response.status_code == 429 and "Slow down: try again in 5 minutes." in response.content.decode()
    assert failed == []


def test_signals_of_the_contract(alice):
    attempts, failures, logins = [], [], []

    def on_attempt(sender, request, username, **kwargs):
        attempts.append(username)

    def on_failed(sender, credentials, request, reason, **kwargs):
        failures.append((credentials, reason))

    def on_login(sender, request, user, **kwargs):
        logins.append(request.session[SESSION_FACTORS])

    login_attempt.connect(on_attempt)
    user_login_failed.connect(on_failed)
    user_logged_in.connect(on_login)
    try:
        start_login(Client(), "alice", "wrong")
        start_login(Client(), "alice")
    finally:
        login_attempt.disconnect(on_attempt)
        user_login_failed.disconnect(on_failed)
        user_logged_in.disconnect(on_login)
    assert attempts == ["alice", "alice"]
    assert failures == [({"username": "alice"}, "password")]
    assert logins == [["password"]]


def test_failed_login_is_audited_without_the_password(alice):
    start_login(Client(), "alice", "Sup3r-secret-guess")
    event = AuditEvent.objects.get(action="authn.login_failed")
    assert event.new_values["reason"] == "password"
    assert "Sup3r-secret-guess" not in str(event.new_values)


def test_step_page_without_a_flow_goes_back_to_login(db):
    response = Client().get(reverse("authn:step"))
    assert response.status_code == 302 and response.url == reverse("authn:login")


def test_login_form_needs_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    assert start_login(client, "alice").status_code == 403
    assert "_auth_user_id" not in client.session


def test_console_login_url_uses_the_same_flow(alice):
    enrol_totp(alice)
    simple_policy(["password", "totp"])
    client = Client()
    response = client.post(reverse("console:login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response.url == reverse("authn:step")


def test_django_admin_login_goes_through_the_one_flow(db):
    with_password(username="staff-locked", is_staff=True, is_superuser=True, login_locked=True)
    client = Client()
    response = client.post(
        "/django-admin/login/?next=/django-admin/", {"username": "staff-locked", "password": PASSWORD}
    )
    assert response.status_code == 302 and response.url == "/login/?next=%2Fdjango-admin%2F"
    assert "_auth_user_id" not in client.session
    assert (
        client.get("/django-admin/login/?next=https://evil.example/").url == "/login/?next=%2Fdjango-admin%2F"
    )
