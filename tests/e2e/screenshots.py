"""Screenshots of the console for the docs (docs/screenshots/*.png, 1280x800).

Not collected by the normal run (the file name does not start with ``test_``); run it with
``bin/screenshots``, which passes the path explicitly."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e import data
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def shot(page, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / f"{name}.png"))


def test_take_screenshots(page):
    world = data.build(rich=True)
    log_in(page, "admin", data.PASSWORD)
    expect(page.locator("canvas").first).to_be_visible()

    user = world["users"]["elisa.rocha"]
    page.goto(f"/console/users/{user.pk}/?tab=entitlements")
    shot(page, "user-detail")

    role = world["roles"]["developers"]
    page.goto(f"/console/roles/{role.pk}/")
    page.locator("#role-item-select").select_option(label="Active Directory › VPN access")
    page.get_by_role("button", name="Preview the change").click()
    expect(page.locator("#role-change-preview")).to_be_visible()
    shot(page, "role-preview")
    page.get_by_role("button", name=re.compile("Confirm and apply")).click()
    expect(page.locator("#role-change-status")).to_have_text("Done")
    shot(page, "role-change-done")

    page.goto("/console/audit/")
    shot(page, "audit-log")

    page.goto(f"/console/users/{world['users']['iris.barros'].pk}/remove/")
    shot(page, "user-remove")

    page.goto("/workspace/accesses/")
    shot(page, "workspace-admin")
    page.get_by_role("button", name="Log out").click()
    log_in(page, "diego.ferreira", data.PASSWORD)
    page.goto("/workspace/accesses/")
    shot(page, "workspace")


def test_take_demo_company_screenshots(page):
    """The README's pictures: the demo company that ``./bin/run`` loads."""
    from django.core.management import call_command

    call_command("load_demo", "--users", "300", stdout=open(os.devnull, "w"))  # noqa: SIM115
    log_in(page, "admin", "blazon-admin-demo")
    expect(page.locator("canvas").first).to_be_visible()
    page.wait_for_timeout(500)  # let Chart.js draw
    shot(page, "dashboard")
    page.goto("/console/users/?q=silva")
    shot(page, "users-list")

    # a request waiting for its approver, and that approver's My tasks and home
    from requests_workflow.models import Request
    from worklist.models import Task

    waiting = Request.objects.filter(status="WAITING_APPROVAL").order_by("pk").first()
    assert waiting is not None, "the demo has requests waiting for approval"
    page.goto(f"/console/requests/{waiting.pk}/")
    shot(page, "request-detail")
    page.goto("/console/requests/users/new/")
    shot(page, "user-new")
    approver = Task.objects.filter(request=waiting, status="OPEN").first().assignees.first()
    page.get_by_role("button", name="Log out").click()
    log_in(page, approver.username, "blazon-demo-user")
    page.goto("/workspace/requests/tasks/")
    shot(page, "my-tasks")
    page.goto("/workspace/")
    shot(page, "workspace-home")
    if approver.direct_reports.exists():
        page.goto("/workspace/requests/team/")
        shot(page, "my-team")


def test_take_phone_screenshots(browser, live_server):
    """The console on a phone (390 x 844): the menu button opens the sidebar."""
    data.build(rich=True)
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url)
    page = context.new_page()
    try:
        log_in(page, "admin", data.PASSWORD)
        page.get_by_role("button", name="Menu").click()
        expect(page.get_by_role("navigation", name="Console")).to_be_visible()
        OUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUT / "mobile-menu.png"))
    finally:
        context.close()
