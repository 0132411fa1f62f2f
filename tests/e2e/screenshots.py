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
