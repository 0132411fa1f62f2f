"""A user who forgot their password: "Forgot your password?" on the login page, the one-time
code arrives by e-mail through a real SMTP server (aiosmtpd), the code unlocks the new-password
page (the password policy applies), and the new password logs in while the old one no longer
does. The reset page works once."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.console.conftest import PASSWORD, with_password
from tests.e2e.conftest import log_in
from tests.requests_workflow.test_email_approvals import body, received, smtp  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "Quartz-Lantern-Meadow-73"


def test_forgotten_password_reset_with_an_e_mailed_code(page, smtp):  # noqa: F811 (the fixture)
    user = with_password(username="rita", first_name="Rita", last_name="Reset", email="rita@example.org")

    page.goto("/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Username").fill("rita")
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/login/step/$"))

    (message,) = received(smtp, user.email)
    code = re.search(r"code is (\d{6})", body(message)).group(1)
    assert PASSWORD not in body(message)

    page.get_by_label("Verification code").fill(code)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/password/reset/new/$"))

    # the policy speaks before anything changes
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Repeat the new password").fill("short")
    page.get_by_role("button", name="Set my new password").click()
    expect(page).to_have_url(re.compile(r"/password/reset/new/$"))
    expect(page.locator("body")).to_contain_text("characters")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)

    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set my new password").click()
    expect(page).to_have_url(re.compile(r"/login/"))

    # the reset page worked once
    page.goto("/password/reset/new/")
    expect(page).to_have_url(re.compile(r"/login/"))

    log_in(page, "rita", PASSWORD)
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login/"))

    log_in(page, "rita", NEW_PASSWORD)
    expect(page.get_by_role("heading", name="Rita Reset")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/workspace/$"))
