"""Every console and workspace page keeps to the Content-Security-Policy in a real browser.

An administrator and an employee each follow every link of the console and the workspace
(one page per kind of address: ``/console/users/7/`` and ``/console/users/9/`` count once, each
``?tab=`` apart). On each page: the response carries the policy and ``Cache-Control: no-store``,
and Chromium reports no violation (the ``page`` fixture fails the test on any). Chart.js draws
the dashboard and htmx swaps a list under the policy; the login and API docs pages keep to it
too."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import expect

from requests_workflow.models import ApprovalLevel, ApprovalPolicy
from requests_workflow.services.requests import request_create
from tests.e2e import data
from tests.e2e.conftest import log_in, watch_csp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MAX_PAGES = 400
#: Links the crawler does not follow: leaving the session, downloads, another app's pages.
SKIP = re.compile(
    r"/logout|export=|\.(csv|xml|json|pem|txt)(\?|$)|/download|/result/?$|^/django-admin/|^/api/|^/o/|^/sso/"
)
#: Query parameters whose value makes another page (the others: filters, sort, pages of one list).
DISTINCT_VALUES = {"tab", "queue", "status"}


def _kind(url: str) -> str:
    parts = urlsplit(url)
    path = re.sub(r"/\d+(?=/|$)", "/N", parts.path)
    query = sorted(
        f"{k}={v}" if k in DISTINCT_VALUES else k for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return path + "?" + "&".join(query)


def assert_secure_headers(response, url: str) -> None:
    headers = response.headers
    csp = headers.get("content-security-policy", "")
    assert "script-src 'self' 'nonce-" in csp and "frame-ancestors 'none'" in csp, f"{url}: {csp!r}"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, url
    assert "no-store" in headers.get("cache-control", ""), f"{url}: {headers.get('cache-control')!r}"


def crawl(page, roots: list[str], prefixes: tuple[str, ...]) -> list[str]:
    """Visit every kind of page reachable from ``roots`` under ``prefixes``; returns the URLs."""
    queue, seen, visited = list(roots), {_kind(u) for u in roots}, []
    while queue:
        url = queue.pop(0)
        response = page.goto(url)
        assert response is not None and response.status == 200, f"{url}: {response and response.status}"
        assert_secure_headers(response, url)
        page.wait_for_load_state("networkidle")
        visited.append(url)
        assert len(visited) <= MAX_PAGES, "more kinds of pages than expected: is the crawler looping?"
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not parts.path.startswith(prefixes) or SKIP.search(href):
                continue
            link = parts.path + (f"?{parts.query}" if parts.query else "")
            kind = _kind(link)
            if kind not in seen:
                seen.add(kind)
                queue.append(link)
    return visited


@pytest.fixture
def world():
    world = data.build(rich=True)
    ana, bruno = world["users"]["ana.souza"], world["users"]["bruno.lima"]
    policy = ApprovalPolicy.objects.create(name="VPN needs Bruno", entitlement=world["ents"]["vpn"])
    ApprovalLevel.objects.create(policy=policy, position=1, approver_kind="USERS").users.add(bruno)
    request_create(
        actor=ana,
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=ana,
        entitlement=world["ents"]["vpn"],
        justification="Working from home",
    )
    return world


def test_every_console_page_keeps_to_the_policy(page, world):
    log_in(page, "admin", data.PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    # Chart.js draws under the policy (app.js marks each canvas it drew)
    expect(page.locator("canvas[data-chart][data-drawn]").first).to_be_attached()
    visited = crawl(page, ["/console/"], ("/console/",))
    assert len(visited) > 60, visited  # the crawl reached the whole console, not one page
    # htmx swaps the users list as one types (no eval, no injected style)
    page.goto("/console/users/")
    page.get_by_placeholder("Find a user…").first.fill("Ferreira")
    expect(page.locator("table.list").first).to_contain_text("diego.ferreira")


def test_every_workspace_page_keeps_to_the_policy(page, world):
    log_in(page, "ana.souza", data.PASSWORD)
    expect(page).to_have_url(re.compile(r"/workspace/$"))
    visited = crawl(page, ["/workspace/", "/workspace/password/"], ("/workspace/",))
    assert len(visited) > 10, visited
    page.context.clear_cookies()
    log_in(page, "bruno.lima", data.PASSWORD)  # an approver: "My tasks" and the task page
    crawl(page, ["/workspace/requests/tasks/"], ("/workspace/requests/",))


def test_login_pages_keep_to_the_policy(page, world):
    for url in ("/login/", "/console/login/"):
        response = page.goto(url)
        assert_secure_headers(response, url)
        expect(page.get_by_label("Username")).to_be_visible()


def test_api_docs_run_their_scripts_under_the_policy(browser, live_server):
    """Swagger UI and ReDoc (third-party) may insert styles, never run an inline script; the one
    thing blocked is ReDoc's logo from its CDN (Blazon loads nothing from other hosts)."""
    context = browser.new_context(base_url=live_server.url)
    violations = watch_csp(context)
    page = context.new_page()
    for url, ready in (("/api/docs/", ".swagger-ui .info"), ("/api/redoc/", ".api-content")):
        response = page.goto(url)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self' 'nonce-" in csp and "frame-ancestors 'none'" in csp
        expect(page.locator(ready).first).to_be_visible(timeout=30_000)
        page.wait_for_load_state("networkidle")
    context.close()
    unexpected = [v for v in violations if "cdn.redoc.ly" not in v]
    assert unexpected == [], "\n".join(unexpected)
