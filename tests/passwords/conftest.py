"""Password tests: users with a real (Argon2id) password, a password policy, logged-in clients."""

from __future__ import annotations

import pytest
from django.test import Client

from directory.models import ConsoleRole
from passwords.models import PasswordChangePolicy, PasswordPolicy
from passwords.services import PasswordChangeReason, password_change
from tests.api.factories import OrganizationFactory, UserFactory

OLD = "Blue-Harbour-Lantern-7"
NEW = "Quiet-Meadow-Falcon-42"


def user_with_password(password: str = OLD, **kwargs):
    """A user whose current password ``password`` went through the service (history, state)."""
    kwargs.setdefault("email", f"{kwargs.get('username', 'someone')}@example.com")
    user = UserFactory(**kwargs)
    return password_change(
        user=user, new_password=password, actor=None, source="console", reason=PasswordChangeReason.DIRECTORY
    )


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def policy(db):
    """The default policy: 12+ characters, all four classes, history 3, dictionary, no name."""
    return PasswordPolicy.objects.create(
        name="Corporate",
        is_default=True,
        min_length=12,
        require_symbol=True,
        history_count=3,
    )


@pytest.fixture
def change_policy(db):
    return PasswordChangePolicy.objects.create(name="Everyone", is_default=True)


@pytest.fixture
def org(db):
    return OrganizationFactory(code="acme", name="Acme")


@pytest.fixture
def carol(policy, change_policy):
    return user_with_password(username="carol", first_name="Carol", last_name="Danvers")


@pytest.fixture
def admin(db):
    return logged_in(UserFactory(username="pw-admin", console_role=ConsoleRole.ADMINISTRATOR))


@pytest.fixture
def helpdesk_user(db):
    return UserFactory(username="pw-helpdesk", console_role=ConsoleRole.HELPDESK)


@pytest.fixture
def helpdesk(helpdesk_user):
    return logged_in(helpdesk_user)


@pytest.fixture
def auditor(db):
    return logged_in(UserFactory(username="pw-auditor", console_role=ConsoleRole.AUDITOR))


@pytest.fixture
def plain(db):
    return logged_in(UserFactory(username="pw-plain"))
