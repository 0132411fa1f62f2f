"""Web sessions and lockouts in a real browser: two browsers logged in as the same person, one
ends the other from "My sessions" and the other is sent to the login; repeated wrong passwords
lock the login page's answer."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from directory.models import User
from security.models import SecuritySettings, UserSession
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
LAPTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
)
PHONE_UA = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Firefox/128.0 Mobile"


@pytest.fixture
def person(db):
    user = User.objects.create_user(
        username="maria.lima", password=PASSWORD, first_name="Maria", last_name="Lima"
    )
    return user


def open_browser(browser, live_server, user_agent):
    context = browser.new_context(base_url=live_server.url, user_agent=user_agent)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


def test_ending_my_other_session_sends_that_browser_to_the_login(browser, live_server, person):
    laptop_ctx, laptop = open_browser(browser, live_server, LAPTOP_UA)
    phone_ctx, phone = open_browser(browser, live_server, PHONE_UA)
    try:
        log_in(laptop, "maria.lima", PASSWORD)
        log_in(phone, "maria.lima", PASSWORD)
        expect(phone).to_have_url(re.compile(r"/workspace/$"))

        laptop.get_by_role("link", name="My sessions").click()
        table = laptop.locator("#my-sessions")
        expect(table.locator("tbody tr")).to_have_count(2)
        expect(table.locator("tr", has_text="This session")).to_contain_text("Chrome on Linux")
        other = table.locator("tr", has_text="Firefox on Android")
        other.get_by_role("button", name=re.compile("^End session")).click()
        expect(laptop.locator("#my-sessions tbody tr")).to_have_count(1)
        expect(laptop.get_by_role("status")).to_contain_text("The session was ended")

        phone.reload()
        expect(phone).to_have_url(re.compile(r"/login/"))
        expect(phone.get_by_label("Username")).to_be_visible()
        assert UserSession.objects.filter(user=person).count() == 1
    finally:
        laptop_ctx.close()
        phone_ctx.close()


def test_the_login_page_refuses_after_repeated_wrong_passwords(page, person):
    SecuritySettings.objects.update_or_create(pk=1, defaults={"account_failure_threshold": 3})
    for _ in range(3):
        log_in(page, "maria.lima", "not the password")
        expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    log_in(page, "maria.lima", PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("Too many attempts. Try again later.")
    expect(page).to_have_url(re.compile(r"/login/"))
