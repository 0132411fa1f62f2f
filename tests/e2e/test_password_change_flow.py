"""A user with a temporary password from the help desk, in a real browser: sent to "Change
password", the rules turn from unmet to met as they type (the page's own JavaScript asking the
server), and the new password takes them back to where they were going."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from passwords.models import PasswordPolicy
from passwords.services import password_helpdesk_temporary
from tests.api.factories import UserFactory
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NEW = "Quiet-Meadow-Falcon-42"


def test_temporary_password_must_be_changed_with_live_rules(page):
    PasswordPolicy.objects.create(name="Corporate", is_default=True, min_length=12, require_symbol=True)
    user = UserFactory(username="grace", first_name="Grace", last_name="Hopper", email="grace@example.com")
    temporary = password_helpdesk_temporary(user=user, actor=None, source="console")

    log_in(page, "grace", temporary)
    page.goto("/workspace/accesses/")
    assert "/workspace/password/?next=" in page.url
    expect(page.get_by_role("heading", name="Change password")).to_be_visible()
    expect(page.locator("#must-change")).to_contain_text("temporary password")

    rules = page.locator("#password-rules")
    page.locator("#id_new_password").fill("grace")
    expect(rules.locator("[data-rule=personal_info]")).to_have_class("unmet")
    expect(rules.locator("[data-rule=lowercase]")).to_have_class("met")
    expect(rules.locator("[data-rule=min_length]")).to_have_class("unmet")

    page.locator("#id_new_password").fill(NEW)
    for code in ("min_length", "lowercase", "uppercase", "digit", "symbol", "personal_info", "dictionary"):
        expect(rules.locator(f"[data-rule={code}]")).to_have_class("met")

    page.locator("#id_current_password").fill(temporary)
    page.locator("#id_confirm_password").fill(NEW)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password was changed.")).to_be_visible()
    assert page.url.endswith("/workspace/accesses/")
    user.refresh_from_db()
    assert user.check_password(NEW)
