from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client


def register(name: str, *extra: str) -> str:
    out = io.StringIO()
    call_command("scim_client_register", name, *extra, stdout=out)
    return out.getvalue().split()[-1]


class Scim:
    """A test client speaking SCIM to /scim/v2/ with one bearer token."""

    def __init__(self, token: str | None):
        self.http = Client()
        self.token = token

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None, **headers: str):
        kwargs: dict[str, Any] = {"content_type": "application/scim+json"}
        if self.token:
            kwargs["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        for key, value in headers.items():
            kwargs["HTTP_" + key.upper().replace("-", "_")] = value
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        fn = getattr(self.http, method.lower())
        if method == "GET":
            kwargs.pop("content_type")
            return fn("/scim/v2" + path, body or {}, **kwargs)
        return fn("/scim/v2" + path, data, **kwargs)

    def get(self, path: str, params: dict | None = None, **h: str):
        return self.call("GET", path, params, **h)

    def post(self, path: str, body: Any = None, **h: str):
        return self.call("POST", path, body, **h)

    def put(self, path: str, body: Any, **h: str):
        return self.call("PUT", path, body, **h)

    def patch(self, path: str, body: Any, **h: str):
        return self.call("PATCH", path, body, **h)

    def delete(self, path: str, **h: str):
        return self.call("DELETE", path, **h)


@pytest.fixture
def scim(db) -> Scim:
    return Scim(register("Okta"))


@pytest.fixture
def scim_read(db) -> Scim:
    return Scim(register("Reporting", "--read-only"))


CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
BLAZON = "urn:ietf:params:scim:schemas:extension:blazon:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def new_user(username: str = "ada.lovelace", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [CORE, ENTERPRISE],
        "userName": username,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": f"{username}@example.com", "type": "work", "primary": True}],
        "title": "Engineer",
        ENTERPRISE: {"department": "R&D"},
    }
    body.update(extra)
    return body
