"""Workspace "Change password", its live check, the forgotten-password final step and the
help-desk reset link: what a user sees, CSRF, and bad or replayed input."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from blazon import authcontract
from passwords.models import PasswordResetLink, PasswordState
from passwords.services import reset_link_create
from tests.passwords.conftest import NEW, OLD, logged_in

pytestmark = pytest.mark.django_db
LOGIN = "/login/"


def test_the_change_page_lists_the_rules_and_changes_the_password(carol):
    client = logged_in(carol)
    page = client.get(reverse("passwords:change")).content.decode()
    assert "At least 12 characters." in page and 'data-check-url="/workspace/password/check/"' in page
    assert "Not one of your last 3 passwords" in page
    response = client.post(
        reverse("passwords:change"),
        {"current_password": OLD, "new_password": NEW, "confirm_password": NEW},
    )
    assert response.status_code == 302 and response["Location"] == "/workspace/"
    carol.refresh_from_db()
    assert carol.check_password(NEW)
    assert client.get("/workspace/").status_code == 200  # this session survives the change


def test_a_bad_submission_shows_each_broken_rule_and_changes_nothing(carol):
    client = logged_in(carol)
    response = client.post(
        reverse("passwords:change"),
        {"current_password": OLD, "new_password": "carol", "confirm_password": "carol"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    for message in (
        "At least 12 characters.",
        "An upper-case letter.",
        "Not your username, first or last name.",
    ):
        assert message in page
    carol.refresh_from_db()
    assert carol.check_password(OLD)


def test_the_live_check_reports_each_rule_as_json(carol):
    client = logged_in(carol)
    response = client.post(
        reverse("passwords:check"), json.dumps({"password": "summer"}), content_type="application/json"
    )
    body = response.json()
    unmet = {r["code"] for r in body["rules"] if not r["ok"]}
    assert body["ok"] is False and unmet == {"min_length", "uppercase", "digit", "symbol", "dictionary"}
    good = client.post(
        reverse("passwords:check"), json.dumps({"password": NEW}), content_type="application/json"
    )
    assert good.json()["ok"] is True
    bad = client.post(reverse("passwords:check"), "not json", content_type="application/json")
    assert bad.status_code == 400 and "password" in bad.json()["error"]["message"]
    assert client.get(reverse("passwords:check")).status_code == 405


def test_csrf_is_required_on_the_check_and_the_change(carol):
    client = Client(enforce_csrf_checks=True)
    client.force_login(carol)
    check = client.post(
        reverse("passwords:check"), json.dumps({"password": NEW}), content_type="application/json"
    )
    assert check.status_code == 403
    response = client.post(
        reverse("passwords:change"), {"current_password": OLD, "new_password": NEW, "confirm_password": NEW}
    )
    assert response.status_code == 403
    carol.refresh_from_db()
    assert carol.check_password(OLD)


def test_anonymous_users_go_to_the_login(db):
    assert Client().get(reverse("passwords:change"))["Location"].startswith(LOGIN)
    check = Client().post(reverse("passwords:check"), "{}", content_type="application/json")
    assert check.status_code == 302


def test_a_user_who_must_change_is_sent_to_the_change_page(carol, policy):
    PasswordState.objects.filter(user=carol).update(must_change=True)  # e.g. the help desk, before login
    client = logged_in(carol)
    response = client.get("/workspace/accesses/")
    assert response.status_code == 302
    assert response["Location"] == "/workspace/password/?next=%2Fworkspace%2Faccesses%2F"
    page = client.get(response["Location"]).content.decode()
    assert "temporary password" in page
    client.post(
        reverse("passwords:change"),
        {
            "current_password": OLD,
            "new_password": NEW,
            "confirm_password": NEW,
            "next": "/workspace/accesses/",
        },
    )
    assert client.get("/workspace/accesses/").status_code == 200


def test_an_expired_password_is_sent_to_the_change_page(carol, policy):
    from datetime import timedelta

    from django.utils import timezone

    policy.max_age_days = 90
    policy.save()
    PasswordState.objects.filter(user=carol).update(changed_at=timezone.now() - timedelta(days=91))
    client = logged_in(carol)
    assert client.get("/workspace/")["Location"].startswith("/workspace/password/")


# --- forgotten password: /password/reset/new/ (blazon.authcontract) --------------------------


def verified(user, at=None) -> Client:
    client = Client()
    session = client.session
    session[authcontract.RESET_USER] = user.pk
    session[authcontract.RESET_VERIFIED_AT] = time.time() if at is None else at
    session.save()
    return client


def messages_on(response) -> str:
    return " ".join(str(m) for m in response.wsgi_request._messages)


def test_reset_without_a_verified_identity_goes_back_to_the_login(carol):
    response = Client().get("/password/reset/new/")
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert "Start the password reset again" in messages_on(response)
    assert reverse(authcontract.RESET_NEW_PASSWORD_URL) == "/password/reset/new/"


def test_reset_with_an_expired_verification_goes_back_to_the_login(carol):
    client = verified(carol, at=time.time() - authcontract.RESET_MAX_AGE - 5)
    response = client.post("/password/reset/new/", {"new_password": NEW, "confirm_password": NEW})
    assert response["Location"] == LOGIN
    carol.refresh_from_db()
    assert carol.check_password(OLD) and authcontract.RESET_USER not in client.session


def test_reset_sets_a_password_under_the_policy_once(carol):
    client = verified(carol)
    page = client.get("/password/reset/new/").content.decode()
    assert "At least 12 characters." in page and "carol" in page
    weak = client.post("/password/reset/new/", {"new_password": OLD, "confirm_password": OLD})
    assert weak.status_code == 200 and "Not one of your last 3 passwords." in weak.content.decode()
    done = client.post("/password/reset/new/", {"new_password": NEW, "confirm_password": NEW})
    assert done["Location"] == LOGIN and "Log in with your new password" in messages_on(done)
    carol.refresh_from_db()
    assert carol.check_password(NEW)
    assert (
        authcontract.RESET_USER not in client.session and authcontract.RESET_VERIFIED_AT not in client.session
    )
    again = client.post(
        "/password/reset/new/",
        {"new_password": "Other-Fine-Phrase-9", "confirm_password": "Other-Fine-Phrase-9"},
    )
    assert again["Location"] == LOGIN
    carol.refresh_from_db()
    assert carol.check_password(NEW)


def test_a_replayed_verification_is_refused_after_use(carol):
    verified_at = time.time()
    first, replay = verified(carol, at=verified_at), verified(carol, at=verified_at)
    first.post("/password/reset/new/", {"new_password": NEW, "confirm_password": NEW})
    response = replay.post(
        "/password/reset/new/",
        {"new_password": "Other-Fine-Phrase-9", "confirm_password": "Other-Fine-Phrase-9"},
    )
    assert response["Location"] == LOGIN and "already used" in messages_on(response)
    carol.refresh_from_db()
    assert carol.check_password(NEW)


def test_reset_page_needs_csrf(carol):
    client = verified(carol)
    client.handler.enforce_csrf_checks = True
    response = client.post("/password/reset/new/", {"new_password": NEW, "confirm_password": NEW})
    assert response.status_code == 403


def test_a_locked_user_cannot_finish_a_reset(carol):
    client = verified(carol)
    carol.login_locked = True
    carol.save(update_fields=["login_locked"])
    assert client.get("/password/reset/new/")["Location"] == LOGIN


# --- help-desk reset link ---------------------------------------------------------------------


def link_url(carol, helpdesk_user, django_capture_on_commit_callbacks) -> str:
    with django_capture_on_commit_callbacks(execute=True):
        reset_link_create(user=carol, actor=helpdesk_user, source="console", base_url="http://testserver/")
    (message,) = [m for m in mail.outbox if "Reset" in m.subject]
    return re.search(r"http://testserver(/password/reset/link/\S+/)", message.body).group(1)


def test_a_reset_link_works_once(carol, helpdesk_user, django_capture_on_commit_callbacks):
    url = link_url(carol, helpdesk_user, django_capture_on_commit_callbacks)
    client = Client()
    assert "Choose a new password" in client.get(url).content.decode()
    done = client.post(url, {"new_password": NEW, "confirm_password": NEW})
    assert done["Location"] == LOGIN
    carol.refresh_from_db()
    assert carol.check_password(NEW)
    again = client.get(url)
    assert again["Location"] == LOGIN and "already used" in messages_on(again)


def test_a_tampered_expired_or_superseded_link_is_refused(
    carol, helpdesk_user, django_capture_on_commit_callbacks
):
    url = link_url(carol, helpdesk_user, django_capture_on_commit_callbacks)
    assert Client().get(url[:-3] + "xx/")["Location"] == LOGIN
    PasswordResetLink.objects.update(expires_at="2000-01-01T00:00:00Z")
    assert Client().get(url)["Location"] == LOGIN
    mail.outbox.clear()
    first = link_url(carol, helpdesk_user, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    link_url(carol, helpdesk_user, django_capture_on_commit_callbacks)
    response = Client().post(first, {"new_password": NEW, "confirm_password": NEW})
    assert response["Location"] == LOGIN
    carol.refresh_from_db()
    assert carol.check_password(OLD)


def test_the_reset_page_live_check_works_only_during_a_verified_reset(carol):
    body = json.dumps({"password": "summer"})
    assert Client().post("/password/reset/check/", body, content_type="application/json").status_code == 400
    response = verified(carol).post("/password/reset/check/", body, content_type="application/json")
    assert response.status_code == 200 and response.json()["ok"] is False
    assert "history" not in {r["code"] for r in response.json()["rules"]}


def test_a_forbidden_word_with_markup_is_shown_escaped(admin, carol):
    admin.post("/console/passwords/dictionary/", {"words": "<img src=x onerror=alert(1)>"})
    page = admin.get("/console/passwords/dictionary/").content.decode()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    client = logged_in(carol)
    response = client.post(
        reverse("passwords:change"),
        {"current_password": OLD, "new_password": "A1-<img src=x onerror=alert(1)>", "confirm_password": "x"},
    )
    assert "<img src=x" not in response.content.decode()
