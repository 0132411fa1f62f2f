"""Accessibility of the main console and workspace pages (issue 13 item 9): axe-core (vendored
for the tests only, tests/e2e/vendor/) runs in Chromium on each page and the test fails on any
serious or critical violation of WCAG 2 A/AA; the keyboard reaches and opens the menus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from directory.models import User
from requests_workflow.models import Request
from tests.e2e import data
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
RUN = """async () => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
  return result.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v =>
    `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | ")}`);
}"""


def audit(page, path: str) -> list[str]:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.evaluate(AXE)  # the context bypasses the CSP for this test-only script, nothing else
    return [f"{path}: {v}" for v in page.evaluate(RUN)]


@pytest.fixture
def axe_page(browser, live_server):
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, base_url=live_server.url, bypass_csp=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_console_pages_have_no_serious_accessibility_violations(axe_page):
    data.build(rich=True)
    log_in(axe_page, "admin", data.PASSWORD)
    user = User.objects.get(username="diego.ferreira")
    req = Request.objects.order_by("pk").first()
    paths = [
        "/console/",
        "/console/users/",
        f"/console/users/{user.pk}/",
        f"/console/users/{user.pk}/?tab=roles",
        "/console/roles/",
        "/console/resources/",
        "/console/accounts/",
        "/console/requests/",
        "/console/requests/queues/",
        "/console/requests/users/new/",
        "/console/provisioning/",
        "/console/audit/",
        "/console/privileged/groups/",
        "/console/privileged/groups/new/",
        "/console/privileged/requests/",
        "/console/privileged/rotation-policies/",
        "/console/privileged/itsm-instances/",
        "/console/privileged/itsm-instances/new/",
        "/console/certification/policies/",
        "/console/certification/policies/new/",
        "/console/certification/campaigns/",
        "/console/reconciliation/profiles/",
        "/console/reconciliation/profiles/new/",
        "/console/sod/policies/",
        "/console/sod/rules/",
    ]
    if req is not None:
        paths.append(f"/console/requests/{req.pk}/")
    found = [v for path in paths for v in audit(axe_page, path)]
    assert found == [], "axe found serious or critical violations:\n" + "\n".join(found)


def test_workspace_pages_have_no_serious_accessibility_violations(axe_page):
    data.build(rich=True)
    log_in(axe_page, "diego.ferreira", data.PASSWORD)
    paths = [
        "/workspace/",
        "/workspace/accesses/",
        "/workspace/requests/catalog/",
        "/workspace/requests/cart/",
        "/workspace/requests/",
        "/workspace/requests/tasks/",
        "/workspace/requests/out-of-office/",
        "/workspace/requests/team/",
        "/workspace/privileged/",
        "/workspace/privileged/requests/",
        "/workspace/privileged/approvals/",
        "/workspace/privileged/vault/",
        "/workspace/certification/",
    ]
    found = [v for path in paths for v in audit(axe_page, path)]
    assert found == [], "axe found serious or critical violations:\n" + "\n".join(found)


def test_the_keyboard_reaches_and_folds_the_console_menu(axe_page):
    data.build()
    log_in(axe_page, "admin", data.PASSWORD)
    nav = axe_page.get_by_role("navigation", name="Console")
    summary = nav.locator("summary", has_text="Security")
    summary.focus()
    expect(summary).to_be_focused()
    axe_page.keyboard.press("Enter")  # folds the group
    expect(nav.get_by_role("link", name="Lockouts")).to_be_hidden()
    axe_page.keyboard.press("Enter")  # and opens it again
    expect(nav.get_by_role("link", name="Lockouts")).to_be_visible()
    nav.get_by_role("link", name="Lockouts").focus()
    axe_page.keyboard.press("Enter")
    expect(axe_page).to_have_url(re.compile(r"/console/security/lockouts/"))
