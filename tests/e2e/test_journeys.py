"""The help desk's and a manager's journeys in a real browser (issue 13 item 12): the help desk
requests a role for someone from the workspace cart; a manager revokes a team member's access
from My team; and the manager's journey again on a phone (390 x 844) through the menu button."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from directory.models import ConsoleRole, EntitlementMembership, RoleMembership, User
from requests_workflow.models import Request
from tests.e2e import data
from tests.e2e.conftest import log_in, watch_csp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_help_desk_requests_a_role_for_someone(page):
    world = data.build()
    User.objects.filter(username="bruno.lima").update(console_role=ConsoleRole.HELPDESK)
    log_in(page, "bruno.lima", data.PASSWORD)
    page.goto("/workspace/requests/catalog/")
    page.get_by_role("button", name="Add Sales reps to cart").click()
    page.get_by_role("link", name=re.compile("^Go to cart")).click()
    someone = page.get_by_label("Or someone else")
    someone.press_sequentially("Karina", delay=30)
    option = page.locator("datalist#lookup-user option").first
    expect(option).to_be_attached()
    someone.fill(option.get_attribute("value") or "")
    page.get_by_label("Justification").fill("Asked by phone: covers the sales desk this month")
    page.get_by_role("button", name=re.compile("^Submit")).click()
    expect(page.get_by_role("heading", name="My requests")).to_be_visible()
    karina = world["users"]["karina.dias"]
    req = Request.objects.get(type="GRANT_ROLE", beneficiary=karina)
    assert req.requester.username == "bruno.lima" and req.source == "workspace"
    assert RoleMembership.objects.filter(user=karina, role__code="sales-reps").exists()


def _manager_revokes(page, world) -> None:
    elisa = world["users"]["elisa.rocha"]
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="My team").click()
    expect(page.get_by_role("heading", name="My team")).to_be_visible()
    page.locator("#team").get_by_role("link", name=re.compile("Elisa")).click()
    row = page.locator("#team-entitlements tr", has_text="GitHub admins")
    row.get_by_role("link", name="Revoke…").click()
    page.get_by_label("Justification").fill("Moved to the data team")
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("ul.messages")).to_contain_text("Revoke GitHub admins on GitHub from elisa.rocha")
    assert not EntitlementMembership.objects.filter(
        account__owner=elisa, entitlement=world["ents"]["gh-admins"]
    ).exists()
    assert Request.objects.get(type="REVOKE_ENTITLEMENT").requester.username == "ana.souza"


def test_a_manager_revokes_a_team_members_access(page):
    world = data.build(rich=True)
    User.objects.filter(username="elisa.rocha").update(manager=world["users"]["ana.souza"])
    log_in(page, "ana.souza", data.PASSWORD)
    _manager_revokes(page, world)


def test_the_same_on_a_phone_with_the_menu_button(browser, live_server):
    world = data.build(rich=True)
    User.objects.filter(username="elisa.rocha").update(manager=world["users"]["ana.souza"])
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url)
    violations = watch_csp(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, "ana.souza", data.PASSWORD)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the workspace home scrolls sideways on a phone ({width} px)"
        menu = page.get_by_role("button", name="Menu")
        if menu.count():  # the workspace's links fold behind the menu button on a phone
            menu.click()
        _manager_revokes(page, world)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the team member's page scrolls sideways on a phone ({width} px)"
    finally:
        context.close()
    assert violations == []
