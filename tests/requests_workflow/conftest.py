"""Shared set-up: a small company and a helper that runs what the services enqueue on commit
(the pipeline runs eagerly: no broker in tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from directory.models import ConsoleRole, User
from tests.api.factories import EntitlementFactory, ResourceFactory, RoleFactory, UserFactory


@pytest.fixture
def run(django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """Call a service and then run its on-commit work (the pipeline task, e-mails)."""

    def call(fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            result = fn(**kwargs)
        if hasattr(result, "refresh_from_db"):
            result.refresh_from_db()
        return result

    return call


@pytest.fixture
def company(db) -> dict[str, Any]:
    admin = UserFactory(username="admin", console_role=ConsoleRole.ADMINISTRATOR)
    boss = UserFactory(username="boss")
    alice = UserFactory(username="alice", manager=boss, email="alice@example.com")
    eve = UserFactory(username="eve")
    owner = UserFactory(username="owner")
    app = ResourceFactory(code="erp", name="ERP")
    app.owners.add(owner)
    ent = EntitlementFactory(resource=app, identifier="payments", name="Payments", owner=owner)
    role = RoleFactory(code="accounting", name="Accounting", owner=owner)
    return {
        "admin": admin,
        "boss": boss,
        "alice": alice,
        "eve": eve,
        "owner": owner,
        "app": app,
        "ent": ent,
        "role": role,
    }


def reload(user: User) -> User:
    return User.objects.get(pk=user.pk)
