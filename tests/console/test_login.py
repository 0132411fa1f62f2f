"""Logging in: administrators land on the console, others on their workspace; a locked or
non-ACTIVE identity cannot log in and gets the same answer as a wrong password (no hint that
the account exists)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from directory.models import ConsoleRole, UserStatus
from tests.console.conftest import PASSWORD, with_password

pytestmark = pytest.mark.django_db


def login(client, username):
    return client.post(reverse("console:login"), {"username": username, "password": PASSWORD})


def test_login_page_renders_with_csrf_token(client):
    response = client.get(reverse("console:login"))
    assert response.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


def test_administrator_lands_on_the_dashboard():
    with_password(username="root", console_role=ConsoleRole.ADMINISTRATOR)
    client = Client()
    response = login(client, "root")
    assert response.status_code == 302 and response.url == reverse("console:dashboard")
    assert client.get(reverse("console:dashboard")).status_code == 200


def test_user_without_console_role_lands_on_the_workspace():
    with_password(username="worker")
    response = login(Client(), "worker")
    assert response.status_code == 302 and response.url == reverse("workspace:home")


def test_next_parameter_is_honoured_but_not_offsite():
    with_password(username="root", console_role=ConsoleRole.ADMINISTRATOR)
    client = Client()
    response = client.post(
        reverse("console:login") + "?next=/console/roles/",
        {"username": "root", "password": PASSWORD, "next": "/console/roles/"},
    )
    assert response.url == "/console/roles/"
    client = Client()
    response = client.post(
        reverse("console:login"), {"username": "root", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.url == reverse("console:dashboard")


def test_wrong_password_is_refused():
    with_password(username="root", console_role=ConsoleRole.ADMINISTRATOR)
    response = Client().post(reverse("console:login"), {"username": "root", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_login_locked_user_cannot_log_in():
    with_password(username="locked", console_role=ConsoleRole.ADMINISTRATOR, login_locked=True)
    client = Client()
    response = login(client, "locked")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("status", [UserStatus.INACTIVE, UserStatus.REVOKED, UserStatus.REMOVED])
def test_non_active_user_cannot_log_in(status):
    with_password(username="gone", console_role=ConsoleRole.ADMINISTRATOR, status=status)
    client = Client()
    response = login(client, "gone")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_needs_post_and_ends_the_session(admin):
    assert admin.get(reverse("console:logout")).status_code == 405
    response = admin.post(reverse("console:logout"))
    assert response.status_code == 302
    assert admin.get(reverse("console:dashboard")).status_code == 302
