"""The OpenAPI schema at /api/schema/ and the interactive docs at /api/docs/ (assets served
from this server, never from a CDN: customers run Blazon air-gapped)."""

from __future__ import annotations

import re
from io import StringIO
from urllib.parse import urlparse

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command

pytestmark = pytest.mark.django_db

LISTS = [
    "users",
    "organizations",
    "resources",
    "accounts",
    "entitlements",
    "entitlement-memberships",
    "roles",
    "role-memberships",
]
CONFIG = ["organizations", "resources", "entitlements", "roles", "attribute-definitions"]


@pytest.fixture
def schema(anon):
    response = anon.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    return yaml.safe_load(response.content)


def test_schema_documents_every_endpoint_with_filters_and_pagination(schema):
    paths = schema["paths"]
    for name in LISTS:
        listing = paths[f"/api/v1/{name}/"]["get"]
        params = {p["name"] for p in listing["parameters"]}
        assert {"page", "page_size", "search", "ordering"} <= params, name
        assert f"/api/v1/{name}/{{id}}/" in paths
    assert {"status", "organization", "login_locked"} <= {
        p["name"] for p in paths["/api/v1/users/"]["get"]["parameters"]
    }
    for name in CONFIG:
        assert {"get", "post"} <= set(paths[f"/api/v1/{name}/"]), name
        assert {"get", "put", "patch", "delete"} <= set(paths[f"/api/v1/{name}/{{id}}/"]), name
    assert {"get", "put", "patch"} <= set(paths["/api/v1/username-policy/"])
    assert "post" in paths["/api/v1/roles/{id}/items/"]
    assert "delete" in paths["/api/v1/roles/{id}/items/{kind}/{item_id}/"]
    assert "get" in paths["/api/v1/roles/{id}/items/preview/"]


def test_schema_declares_bearer_auth_and_the_error_format(schema):
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `python manage.py issue_api_token USERNAME`.",
    }
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["$ref"] == "#/components/schemas/ErrorDetail"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            # the adapter API takes OAuth2 client-credentials tokens only (docs/adapters.md)
            expected = (
                {"adapterOAuth2": ["adapter"]} if path.startswith("/api/v1/adapter/") else {"bearerAuth": []}
            )
            assert expected in operation["security"], (path, method)
            for code in ("401", "403"):
                ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (path, method, code)


def test_schema_generates_without_warnings():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert out.getvalue().startswith("openapi: 3")


def _references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(
        r"""https?://[^\s"'<>)]+""", html
    )


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_their_assets_from_this_server_only(anon, url):
    response = anon.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    refs = _references(html)
    assert any("/static/drf_spectacular_sidecar/" in r for r in refs)
    external = [r for r in refs if urlparse(r).netloc or r.startswith("//")]
    assert external == [], f"{url} loads from other hosts: {external}"
    # and every local asset it names exists in the static files
    for ref in refs:
        path = urlparse(ref).path
        if path.startswith("/static/"):
            assert finders.find(path.removeprefix("/static/")), path


def test_every_operation_declares_the_error_responses_it_can_give(schema):
    """400/401/403 everywhere, 404 on an id in the path or a paged list (a page past the end),
    415 with a body: each with the one error body (blazon/api/schema.py)."""
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            expected = {"400", "401", "403"}
            if "{" in path or any(p["name"] == "page" for p in operation.get("parameters", [])):
                expected.add("404")
            if "requestBody" in operation:
                expected.add("415")
            assert expected <= set(operation["responses"]), (method, path)
            for code in expected:
                body = operation["responses"][code]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (method, path, code)
