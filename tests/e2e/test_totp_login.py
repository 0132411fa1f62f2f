"""A user sets up an authenticator app in the workspace (QR code + key, recovery codes shown
once), logs out, and logs back in with their password and a TOTP code computed by pyotp — the
code an authenticator app would show."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import expect

from authn.models import TotpDevice
from authn.services import policy_create
from tests.console.conftest import PASSWORD, with_password
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_enrol_totp_then_log_in_with_password_and_code(page):
    user = with_password(username="tessa", first_name="Tessa", last_name="Totp")
    log_in(page, "tessa", PASSWORD)
    expect(page.get_by_role("heading", name="Tessa Totp")).to_be_visible()

    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Login security").click()
    page.get_by_role("link", name="Set up an authenticator app").click()
    expect(page.locator(".qr svg")).to_be_visible()
    seed = page.locator("#totp-secret").inner_text()
    totp = pyotp.TOTP(seed)
    page.get_by_label("Code from the app").fill(totp.now())
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="I saved them").click()
    expect(page.get_by_text("Recovery codes left: 10")).to_be_visible()

    # from now on this user needs password + TOTP
    policy_create(
        actor=None,
        source="console",
        data={"name": "MFA for everyone", "is_default": True},
        rules=[{"outcome": "ALLOW", "factors": ["password", "totp"]}],
    )
    page.get_by_role("button", name="Log out").click()

    log_in(page, "tessa", PASSWORD)
    expect(page).to_have_url(re.compile(r"/login/step/$"))
    expect(page.get_by_text("step 2 of 2: Authenticator app")).to_be_visible()
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")

    # the enrolment used the current time step: the app's next code is the one to type
    device = TotpDevice.objects.get(user=user)
    page.get_by_label("Code from your authenticator app").fill(
        totp.at((device.last_step + 1) * totp.interval)
    )
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Tessa Totp")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/workspace/$"))
