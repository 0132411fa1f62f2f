"""Bearer token authentication: a valid token works; missing, garbage, revoked and expired
tokens, and tokens of users who can no longer sign in, get 401 in the JSON error format."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from blazon.api.authentication import issue_token
from blazon.api.models import ApiToken
from blazon.api.services import api_token_revoke
from directory.models import ConsoleRole, UserStatus
from tests.api.factories import UserFactory
from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def auditor_user():
    return UserFactory(username="tok-auditor", console_role=ConsoleRole.AUDITOR)


def test_valid_token_reads_and_records_last_use(auditor_user):
    token, raw = issue_token(auditor_user)
    response = bearer(raw).get("/api/v1/users/")
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_no_credentials_is_401_with_a_challenge(anon):
    response = anon.get("/api/v1/users/")
    error = assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"
    assert "credentials" in error["message"].lower()


@pytest.mark.parametrize(
    "header",
    [
        "Bearer blz_not-a-real-token-at-all",
        "Bearer garbage",
        "Bearer ",
        "Bearer two parts",
    ],
)
def test_garbage_tokens_are_401(auditor_user, header):
    issue_token(auditor_user)  # a real token exists, the garbage must still not match it
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    error = assert_error(client.get("/api/v1/users/"), 401)
    assert error["code"] in {"authentication_failed", "not_authenticated"}


def test_a_token_with_the_right_prefix_but_wrong_secret_is_401(auditor_user):
    _, raw = issue_token(auditor_user)
    forged = raw[:12] + "x" * (len(raw) - 12)
    error = assert_error(bearer(forged).get("/api/v1/users/"), 401, "authentication_failed")
    assert "Invalid or revoked token" in error["message"]


def test_revoked_token_is_401(auditor_user):
    token, raw = issue_token(auditor_user)
    assert bearer(raw).get("/api/v1/users/").status_code == 200
    api_token_revoke(actor=None, source="console", token=token)
    error = assert_error(bearer(raw).get("/api/v1/users/"), 401, "authentication_failed")
    assert "revoked" in error["message"]


def test_expired_token_is_401(auditor_user):
    token, raw = issue_token(auditor_user, expires_at=timezone.now() + timedelta(days=1))
    assert bearer(raw).get("/api/v1/users/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    error = assert_error(bearer(raw).get("/api/v1/users/"), 401, "authentication_failed")
    assert "expired" in error["message"]


@pytest.mark.parametrize(
    "change", [{"status": UserStatus.INACTIVE}, {"login_locked": True}, {"is_active": False}]
)
def test_token_of_a_user_who_cannot_sign_in_is_401(auditor_user, change):
    _, raw = issue_token(auditor_user)
    for field, value in change.items():
        setattr(auditor_user, field, value)
    auditor_user.save()
    error = assert_error(bearer(raw).get("/api/v1/users/"), 401, "authentication_failed")
    assert "cannot sign in" in error["message"]


def test_other_authorization_schemes_are_not_accepted(auditor_user):
    _, raw = issue_token(auditor_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert_error(client.get("/api/v1/users/"), 401, "not_authenticated")
