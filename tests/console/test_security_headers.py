"""The Content-Security-Policy and Cache-Control headers (blazon/csp.py), and templates that can
live under that policy. The browser side (no violation on any page) is tests/e2e/test_csp_crawl.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from tests.console.conftest import logged_in

pytestmark = pytest.mark.django_db

REPO = Path(settings.BASE_DIR)


def _csp(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in header.split("; ")}


def test_a_console_page_has_a_strict_policy_with_a_fresh_nonce_and_is_not_stored(admin):
    first, second = admin.get("/console/"), admin.get("/console/")
    assert first.status_code == 200
    policy = _csp(first)
    assert policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert re.fullmatch(r"'self' 'nonce-[A-Za-z0-9_-]{20,}'", policy["script-src"])
    assert "unsafe-inline" not in first["Content-Security-Policy"]
    assert "unsafe-eval" not in first["Content-Security-Policy"]
    assert policy["script-src"] != _csp(second)["script-src"]  # one nonce per response
    assert "no-store" in first["Cache-Control"] and "private" in first["Cache-Control"]


def test_the_workspace_and_its_partials_are_not_stored(world):
    client = logged_in(world["alice"])
    for url in ("/workspace/", "/workspace/accesses/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"], url


def test_the_login_page_is_not_stored_either(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "script-src 'self' 'nonce-" in response["Content-Security-Policy"]


def test_a_redirect_to_the_login_page_carries_the_headers(client):
    response = client.get("/console/users/")
    assert response.status_code == 302
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_anonymous_documents_stay_cacheable(client):
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
    assert "Content-Security-Policy" in response


def test_an_api_response_to_a_logged_in_user_is_not_stored(admin):
    response = admin.get("/api/v1/users/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_the_pages_use_the_htmx_config_that_needs_no_eval(admin):
    page = admin.get("/console/").content.decode()
    assert '"allowEval": false' in page and '"includeIndicatorStyles": false' in page


def test_swagger_ui_loads_its_init_script_instead_of_inlining_it(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", page["Content-Security-Policy"]).group(1)
    assert f'<style nonce="{nonce}">' in html
    assert not re.search(r"<script>(?!\s*</script>)", html)
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


# --- templates that need no 'unsafe-inline' ---------------------------------------------------

TEMPLATE_DIRS = [REPO / "templates", *REPO.glob("*/templates")]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*\bnonce=)[^>]*>")
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE)


def _page_templates() -> list[Path]:
    # e-mails are read in mail clients, which ignore the page's policy (and need inline styles)
    return [
        path
        for directory in TEMPLATE_DIRS
        for path in directory.rglob("*.html")
        if "email" not in path.relative_to(directory).parts
    ]


def test_no_template_has_an_inline_script_handler_or_style_attribute():
    templates = _page_templates()
    assert len(templates) > 80
    problems = []
    for path in templates:
        text = path.read_text()
        for name, pattern in (
            ("inline script", INLINE_SCRIPT),
            ("event handler", EVENT_HANDLER),
            ("style attribute", STYLE_ATTRIBUTE),
        ):
            problems += [
                f"{path.relative_to(REPO)}: {name}: {m.group(0)[:80]}" for m in pattern.finditer(text)
            ]
    assert problems == []
