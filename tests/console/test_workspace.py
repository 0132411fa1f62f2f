"""The workspace: my profile and my accesses, each with the reason I have it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directory.models import UserStatus
from tests.console.conftest import logged_in

pytestmark = pytest.mark.django_db


def test_anonymous_goes_to_login(client):
    response = client.get(reverse("workspace:accesses"))
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_profile_shows_my_data(world):
    body = logged_in(world["alice"]).get(reverse("workspace:home")).content.decode()
    assert "Alice Liddell" in body and "Finance" in body
    assert "Admin console" not in body  # alice has no console role


def test_accesses_say_granted_by_role(world):
    body = logged_in(world["alice"]).get(reverse("workspace:accesses")).content.decode()
    assert "alice-gh" in body
    assert "GitHub readers" in body
    assert "granted by role Developers" in body
    assert "Developers" in body


def test_manual_access_says_manual(world):
    response = logged_in(world["bob"]).get(reverse("workspace:accesses"))
    memberships = response.context["memberships"]
    assert [(m.entitlement.name, why) for m, why in memberships] == [("GitHub admins", "manual")]
    assert "granted by role" not in response.content.decode()


def test_access_kept_both_manually_and_by_role(world):
    from directory.models import Account

    Account.objects.filter(pk=world["alice_acct"].pk).update(manual=True)
    body = logged_in(world["alice"]).get(reverse("workspace:accesses")).content.decode()
    assert "manual; granted by role Developers" in body


def test_only_my_own_accesses(world):
    body = logged_in(world["bob"]).get(reverse("workspace:accesses")).content.decode()
    assert "alice-gh" not in body and "bob-gh" in body


def test_administrator_sees_the_console_link(admin):
    assert "Admin console" in admin.get(reverse("workspace:home")).content.decode()


def test_a_locked_user_is_refused(world):
    client = logged_in(world["bob"])
    world["bob"].__class__.objects.filter(pk=world["bob"].pk).update(login_locked=True)
    assert client.get(reverse("workspace:home")).status_code == 403
    world["bob"].__class__.objects.filter(pk=world["bob"].pk).update(
        login_locked=False, status=UserStatus.REVOKED
    )
    assert client.get(reverse("workspace:home")).status_code == 403
