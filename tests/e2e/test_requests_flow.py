"""A user's access request in a real browser: Ana finds an entitlement in the workspace catalog,
puts it in her cart and submits it with a justification; Bruno, the approver the policy names,
approves it in "My tasks"; the access then appears in Ana's "My accesses"."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from directory.models import EntitlementMembership
from requests_workflow.models import ApprovalLevel, ApprovalPolicy, Request
from tests.e2e import data
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_out(page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Username")).to_be_visible()


def test_request_an_entitlement_and_the_approver_approves_it(page):
    world = data.build()
    ana, bruno = world["users"]["ana.souza"], world["users"]["bruno.lima"]
    vpn = world["ents"]["vpn"]
    policy = ApprovalPolicy.objects.create(name="VPN needs Bruno", entitlement=vpn)
    level = ApprovalLevel.objects.create(policy=policy, position=1, approver_kind="USERS")
    level.users.add(bruno)

    # Ana finds the entitlement in the catalog and submits her cart
    log_in(page, "ana.souza", data.PASSWORD)
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Request access").click()
    expect(page.get_by_role("heading", name="Request access")).to_be_visible()
    page.get_by_label("Search the catalog").fill("VPN")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#catalog-entitlement-table")).not_to_contain_text("GitHub admins")
    page.get_by_role("button", name="Add VPN access to cart").click()
    expect(page.locator(".messages")).to_contain_text("VPN access added to your cart")
    page.get_by_role("link", name=re.compile("^Go to cart")).click()
    expect(page.locator("#cart-items")).to_contain_text("VPN access")
    page.get_by_label("Justification").fill("Working from home during the audit")
    page.get_by_role("button", name="Submit 1 request").click()

    expect(page.get_by_role("heading", name="My requests")).to_be_visible()
    row = page.locator("#my-requests tr", has_text="VPN access")
    expect(row).to_contain_text("Waiting approval")
    row.get_by_role("link").first.click()
    expect(page.locator("#request-timeline")).to_contain_text(
        "Approval level 1 (ANY) sent to any of bruno.lima"
    )
    assert not EntitlementMembership.objects.filter(account__owner=ana, entitlement=vpn).exists()
    log_out(page)

    # Bruno approves it in "My tasks"
    log_in(page, "bruno.lima", data.PASSWORD)
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name=re.compile("^My tasks")).click()
    task_row = page.locator("#my-tasks tr", has_text="VPN access")
    expect(task_row).to_contain_text("Working from home during the audit")
    req = Request.objects.get(beneficiary=ana, entitlement=vpn)
    page.get_by_role("button", name=f"Approve request #{req.pk}").click()
    expect(page.locator(".messages")).to_contain_text(f"Request #{req.pk} approved")
    expect(page.locator("#my-tasks")).to_contain_text("Nothing waits for you")
    log_out(page)

    # the access is Ana's now
    log_in(page, "ana.souza", data.PASSWORD)
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="My accesses").click()
    expect(page.locator("#my-entitlements")).to_contain_text("VPN access")
    assert EntitlementMembership.objects.filter(account__owner=ana, entitlement=vpn).exists()
