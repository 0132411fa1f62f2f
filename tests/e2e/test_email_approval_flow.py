"""The e-mail half of the request flow in a real browser: Ana asks for VPN access in the
workspace; Bruno, the approver, receives the approval e-mail from a real SMTP server (aiosmtpd),
opens its approve link — without being signed in — sees what he is deciding, confirms, and the
access is Ana's in the directory (waiting for the application's adapter). The reused link is then refused."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from directory.models import EntitlementMembership
from requests_workflow.models import ApprovalLevel, ApprovalPolicy, Request, RequestStatus
from tests.e2e import data
from tests.e2e.conftest import log_in
from tests.requests_workflow.test_email_approvals import BASE, body, links, received, smtp  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_approver_approves_from_the_e_mail_link(page, smtp):  # noqa: F811 (the fixture)
    world = data.build()
    ana, bruno = world["users"]["ana.souza"], world["users"]["bruno.lima"]
    vpn = world["ents"]["vpn"]
    policy = ApprovalPolicy.objects.create(name="VPN needs Bruno", entitlement=vpn)
    level = ApprovalLevel.objects.create(policy=policy, position=1, approver_kind="USERS")
    level.users.add(bruno)

    log_in(page, "ana.souza", data.PASSWORD)
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Request access").click()
    page.get_by_label("Search the catalog").fill("VPN")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("button", name="Add VPN access to cart").click()
    page.get_by_role("link", name=re.compile("^Go to cart")).click()
    page.get_by_label("Justification").fill("On call this month")
    page.get_by_role("button", name="Submit 1 request").click()
    expect(page.get_by_role("heading", name="My requests")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    req = Request.objects.get(beneficiary=ana, entitlement=vpn)
    assert req.status == RequestStatus.WAITING_APPROVAL

    (message,) = received(smtp, bruno.email)
    assert f"request #{req.pk}" in message["Subject"] and "On call this month" in body(message)
    approve = links(message)["approve"]

    page.goto(approve)  # Bruno is not signed in: the link is his credential for this decision
    expect(page.get_by_role("heading", name=f"Approve request #{req.pk}?")).to_be_visible()
    expect(page.locator("body")).to_contain_text("On call this month")
    req.refresh_from_db()
    assert req.status == RequestStatus.WAITING_APPROVAL  # opening the page changed nothing

    page.get_by_label("Comment (optional)").fill("ok for the on-call rota")
    page.get_by_role("button", name="Approve as bruno.lima").click()
    expect(page.locator("#outcome")).to_contain_text("you approved it")
    # the directory has it; the VPN (an AD group) now waits for its adapter
    expect(page.locator("#request-status")).to_have_text("Waiting provisioning")
    assert EntitlementMembership.objects.filter(account__owner=ana, entitlement=vpn).exists()

    page.goto(approve)  # the link worked once
    expect(page.locator("body")).to_contain_text(re.compile("already|no longer", re.I))
    assert BASE not in page.url
