"""Clients for each internal administrative role, authenticated with real API tokens."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from directory.models import ConsoleRole
from tests.api.factories import UserFactory
from tests.api.helpers import client_for


@pytest.fixture
def admin_user(db):
    return UserFactory(username="api-admin", console_role=ConsoleRole.ADMINISTRATOR)


@pytest.fixture
def admin(admin_user):
    return client_for(admin_user)


@pytest.fixture
def helpdesk(db):
    return client_for(UserFactory(username="api-helpdesk", console_role=ConsoleRole.HELPDESK))


@pytest.fixture
def auditor(db):
    return client_for(UserFactory(username="api-auditor", console_role=ConsoleRole.AUDITOR))


@pytest.fixture
def plain(db):
    return client_for(UserFactory(username="api-plain"))


@pytest.fixture
def anon(db):
    return APIClient()
