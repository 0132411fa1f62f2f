"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

Playwright's sync API runs an event loop in this thread, so Django's async-safety check would
refuse the ORM calls the tests make to set up and check data; they are plain synchronous
calls, hence the switch, set only while a browser is running (a module at a time) so that it
does not leak into other tests (``manage.py check --deploy`` refuses it)."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import require

CHROMIUM = os.environ.get("BLAZON_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser(django_db_setup):
    require(os.path.exists(CHROMIUM) or bool(shutil.which("chromium")), f"Chromium ({CHROMIUM})")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the venv has it
        require(False, "the playwright Python package")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            yield browser
            browser.close()


# Reports every Content-Security-Policy violation of every page to the test (the listener is
# added by the browser before any of the page's own scripts run, whatever the page's policy).
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__blazonCspViolation(
    `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber} ` +
    `on ${document.location.pathname}: ${e.sample}`);
});
"""


def watch_csp(context) -> list[str]:
    """Collect the CSP violations (events and console messages) of every page of ``context``."""
    violations: list[str] = []

    def report(text: str) -> None:
        violations.append(text)

    context.expose_function("__blazonCspViolation", report)
    context.add_init_script(_CSP_LISTENER)

    def on_console(message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            violations.append(f"console: {message.text}")

    context.on("page", lambda page: page.on("console", on_console))
    return violations


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    violations = watch_csp(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
    # every browser test also proves its pages keep to the Content-Security-Policy
    assert violations == [], "Content-Security-Policy violations:\n" + "\n".join(violations)


def log_in(page, username: str, password: str) -> None:
    page.goto("/console/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
