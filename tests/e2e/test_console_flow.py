"""The administrator's main path in a real browser: log in, find a user, add an entitlement to
a role, confirm the preview, watch the fan-out finish, and see a member holding it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from directory.models import EntitlementMembership
from tests.e2e import data
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_add_entitlement_to_role_and_members_gain_it(page):
    world = data.build()
    log_in(page, "admin", data.PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # find a user through the search box
    page.get_by_placeholder("Find a user…").fill("Ferreira")
    page.get_by_placeholder("Find a user…").press("Enter")
    expect(page).to_have_url(re.compile(r"/console/users/\?q=Ferreira"))
    page.get_by_role("link", name="diego.ferreira").click()
    expect(page.get_by_role("heading", name="Diego Ferreira")).to_be_visible()
    page.locator(".tabs").get_by_role("link", name=re.compile("^Entitlements")).click()
    expect(page.locator("#user-entitlements")).not_to_contain_text("GitHub admins")

    # open the role and add an entitlement
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Roles").click()
    page.get_by_role("link", name="Developers").click()
    expect(page.get_by_role("heading", name="Developers")).to_be_visible()
    page.locator("#role-item-select").select_option(label="GitHub › GitHub admins")
    page.get_by_role("button", name="Preview the change").click()

    preview = page.locator("#role-change-preview")
    expect(preview).to_contain_text("5 members of the role are affected")
    assert not EntitlementMembership.objects.filter(entitlement=world["ents"]["gh-admins"]).exists()
    page.get_by_role("button", name=re.compile("Confirm and apply to 5 members")).click()

    # progress until done (htmx polling stops at DONE)
    expect(page.locator("#role-change-status")).to_have_text("Done")
    expect(page.locator("#role-change-progress")).to_contain_text("entitlement gh-admins added")

    # a member now holds it, granted by the role
    page.get_by_role("link", name="Members").first.click()
    page.get_by_role("link", name="diego.ferreira").click()
    page.locator(".tabs").get_by_role("link", name=re.compile("^Entitlements")).click()
    row = page.locator("#user-entitlements tr", has_text="GitHub admins")
    expect(row).to_contain_text("Role: Developers")
    holders = set(
        EntitlementMembership.objects.filter(entitlement=world["ents"]["gh-admins"]).values_list(
            "account__owner__username", flat=True
        )
    )
    assert holders == {"diego.ferreira", "elisa.rocha", "fabio.costa", "gabriela.alves", "karina.dias"}


def test_workspace_shows_why_i_have_each_access(page):
    data.build()
    log_in(page, "ana.souza", data.PASSWORD)
    expect(page).to_have_url(re.compile(r"/workspace/$"))
    page.get_by_role("link", name="My accesses").click()
    row = page.locator("#my-entitlements tr", has_text="FI posting")
    expect(row).to_contain_text("granted by role Accountants")
    # no console for a user without a console role
    response = page.goto("/console/")
    assert response.status == 403
