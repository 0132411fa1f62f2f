"""Forgotten password: identify, verify the non-password factors of the user's policy, then
hand over to the password app through the contract's session keys — without enumeration."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from blazon.authcontract import RESET_USER, RESET_VERIFIED_AT
from directory.models import UserStatus
from tests.authn.conftest import email_code, enrol_totp, next_code, simple_policy, step

pytestmark = pytest.mark.django_db


def forgot(client, username):
    return client.post(reverse("authn:forgot"), {"username": username})


def test_reset_by_email_code_hands_over_to_the_new_password_page(alice):
    client = Client()
    assert forgot(client, "alice").url == reverse("authn:step")
    client.get(reverse("authn:step"))
    response = step(client, code=email_code(mail.outbox))
    assert response.status_code == 302 and response.url == "/password/reset/new/"
    assert client.session[RESET_USER] == alice.pk
    assert isinstance(client.session[RESET_VERIFIED_AT], int)
    assert "_auth_user_id" not in client.session  # verified for a reset, not logged in


def test_reset_asks_the_policy_factors_without_the_password(alice):
    totp = enrol_totp(alice)
    simple_policy(["password", "totp"])
    client = Client()
    forgot(client, "alice")
    page = client.get(reverse("authn:step")).content.decode()
    assert "Authenticator app" in page and "step 1 of 1" in page
    assert step(client, code=next_code(totp, alice)).url == "/password/reset/new/"


def test_wrong_code_does_not_verify(alice):
    client = Client()
    forgot(client, "alice")
    client.get(reverse("authn:step"))
    right = email_code(mail.outbox)
    response = step(client, code="000000" if right != "000000" else "111111")
    assert response.status_code == 200 and RESET_USER not in client.session


def _page(response) -> str:
    return re.sub(r"[A-Za-z0-9]{64}", "<csrf>", response.content.decode())


@pytest.mark.parametrize("who", ["ghost", "locked", "gone"])
def test_unknown_locked_or_inactive_users_see_the_same_pages_and_get_no_mail(alice, who):
    from tests.console.conftest import with_password

    with_password(username="locked", email="l@example.org", login_locked=True)
    with_password(username="gone", email="g@example.org", status=UserStatus.INACTIVE)
    known = Client()
    forgot(known, "alice")
    known_page = _page(known.get(reverse("authn:step"))).replace("alice", "X")
    mail.outbox.clear()
    other = Client()
    assert forgot(other, who).url == reverse("authn:step")
    assert _page(other.get(reverse("authn:step"))).replace(who, "X") == known_page
    assert mail.outbox == []
    assert step(other, code="123456").status_code == 200
    assert RESET_USER not in other.session


def test_forgot_form_needs_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    assert forgot(client, "alice").status_code == 403
    assert mail.outbox == []
