"""The console's navigation in a real browser: grouped by the administrator's jobs, each group
folds and stays folded, the current page is marked; on a phone (390 x 844) a menu button opens
the sidebar and no page scrolls sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from directory.models import User
from tests.e2e import data
from tests.e2e.conftest import log_in, watch_csp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GROUPS = [
    "Identities",
    "Access",
    "Requests & tasks",
    "Provisioning",
    "Governance",
    "Single sign-on",
    "Security",
    "Settings",
    "Me",
]


def test_groups_fold_and_remember_and_the_current_page_is_marked(page):
    data.build()
    log_in(page, "admin", data.PASSWORD)
    nav = page.get_by_role("navigation", name="Console")
    assert [s.strip() for s in nav.locator("summary").all_text_contents()] == GROUPS
    # OIDC clients sit under Single sign-on, next to SAML
    sso = nav.locator("details[data-group=sso]")
    expect(sso.get_by_role("link", name="OIDC clients")).to_be_visible()
    expect(sso.get_by_role("link", name="SAML service providers")).to_be_visible()

    # fold Security: its links hide, and it stays folded on the next page
    nav.locator("summary", has_text="Security").click()
    expect(nav.get_by_role("link", name="Lockouts")).to_be_hidden()
    nav.get_by_role("link", name="Roles").click()
    expect(page.get_by_role("heading", name="Roles")).to_be_visible()
    expect(nav.get_by_role("link", name="Lockouts")).to_be_hidden()
    expect(nav.get_by_role("link", name="Roles")).to_have_class("active")

    # the current page's group opens even when it was folded
    nav.locator("summary", has_text="Access").click()
    expect(nav.get_by_role("link", name="Roles")).to_be_hidden()
    page.goto("/console/roles/")
    expect(nav.get_by_role("link", name="Roles")).to_be_visible()


def test_on_a_phone_the_menu_button_opens_the_sidebar_and_nothing_overflows(browser, live_server):
    data.build(rich=True)
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url)
    violations = watch_csp(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, "admin", data.PASSWORD)
        nav = page.get_by_role("navigation", name="Console")
        expect(nav).to_be_hidden()
        menu = page.get_by_role("button", name="Menu")
        expect(menu).to_have_attribute("aria-expanded", "false")
        menu.click()
        expect(nav).to_be_visible()
        expect(menu).to_have_attribute("aria-expanded", "true")
        nav.get_by_role("link", name="Users").click()
        expect(page.get_by_role("heading", name="Users")).to_be_visible()
        expect(nav).to_be_hidden()  # a new page starts with the menu closed
        menu.click()
        page.keyboard.press("Escape")
        expect(nav).to_be_hidden()

        user = User.objects.get(username="diego.ferreira")
        paths = [
            "/console/",
            "/console/users/",
            f"/console/users/{user.pk}/",
            "/console/roles/",
            "/console/audit/",
        ]
        paths += [
            "/console/requests/",
            "/console/requests/queues/",
            "/console/provisioning/",
            "/console/accounts/",
        ]
        for path in paths:
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} scrolls sideways on a phone ({width} px wide)"
    finally:
        context.close()
    assert violations == [], "Content-Security-Policy violations:\n" + "\n".join(violations)
