"""An administrator's journey in a real browser (issue 13 items 1 and 12): create a user from the
console, then grant them a role, picking the manager and the role from the search-as-you-type
lists; both go through requests and finish at once (no approval policy in this directory)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from directory.models import RoleMembership, User
from tests.e2e import data
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def pick(page, label: str, typed: str) -> str:
    """Type into a pick field, wait for the list the server offers, and take its first entry."""
    field = page.get_by_label(label)
    field.press_sequentially(typed, delay=30)
    options = page.locator(f"datalist#{field.get_attribute('list')} option")
    expect(options.first).to_be_attached()
    value = options.first.get_attribute("value") or ""
    field.fill(value)
    return value


def test_administrator_creates_a_user_and_grants_a_role(page):
    data.build()
    log_in(page, "admin", data.PASSWORD)
    page.goto("/console/users/")
    page.get_by_role("link", name="New user…").click()
    expect(page.get_by_role("heading", name="New user")).to_be_visible()
    page.get_by_label("First name").fill("Nina")
    page.get_by_label("Last name").fill("Simone")
    page.get_by_label("E-mail").fill("nina@example.com")
    chosen = pick(page, "Manager", "Ada")
    assert chosen.startswith("admin (Ada Admin) #")
    page.get_by_role("button", name="Request the new user").click()
    expect(page.locator("ul.messages")).to_contain_text("request #")
    expect(page.locator("main")).to_contain_text(re.compile(r"Status\s*Finished"))

    nina = User.objects.get(email="nina@example.com")
    assert nina.manager is not None and nina.manager.username == "admin"
    page.goto(f"/console/users/{nina.pk}/?tab=roles")
    page.get_by_role("link", name="Grant role…").click()
    chosen = pick(page, "Role", "Develop")
    assert re.fullmatch(r"Developers #\d+", chosen)
    page.get_by_label("Justification").fill("joins the platform team")
    page.get_by_role("button", name="Request").click()
    # the role is granted; its accounts wait for the resources' automatic provisioning
    expect(page.locator("main")).to_contain_text(re.compile(r"Status\s*Waiting provisioning"))
    assert RoleMembership.objects.filter(user=nina, role__code="developers").exists()
    page.goto(f"/console/users/{nina.pk}/?tab=roles")
    expect(page.locator("#user-roles")).to_contain_text("Developers")
