"""Helpers shared by the API tests."""

from __future__ import annotations

from rest_framework.test import APIClient

from blazon.api.authentication import issue_token


def client_for(user) -> APIClient:
    _, raw = issue_token(user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.user = user
    return client


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is the API's one error format with this status (and code)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]
