"""A small SAP world for the SoD tests: create supplier vs approve payment."""

from __future__ import annotations

from typing import Any

import pytest

from directory.models import ConsoleRole, RoleEntitlement
from directory.services import access
from sod.services.rules import sod_rule_create
from tests.api.factories import EntitlementFactory, ResourceFactory, RoleFactory, UserFactory
from tests.requests_workflow.conftest import (
    run,  # noqa: F401 (the same fixture: service + its on-commit work)
)


@pytest.fixture
def sap(db) -> dict[str, Any]:
    admin = UserFactory(username="admin", console_role=ConsoleRole.ADMINISTRATOR)
    auditor = UserFactory(username="auditor", console_role=ConsoleRole.AUDITOR)
    cfo = UserFactory(username="cfo")
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    app = ResourceFactory(code="sap", name="SAP")
    create = EntitlementFactory(resource=app, identifier="vendor_create", name="Create supplier")
    pay = EntitlementFactory(resource=app, identifier="payment_approve", name="Approve payment")
    other = EntitlementFactory(resource=app, identifier="report_view", name="View reports")
    payer = RoleFactory(code="payer", name="Payments clerk")
    RoleEntitlement.objects.create(role=payer, entitlement=pay)
    rule = sod_rule_create(
        actor=admin,
        source="console",
        code="p2p",
        name="Create supplier vs approve payment",
        description="Whoever creates suppliers must not approve payments.",
        severity="CRITICAL",
        owner=cfo,
        sides=[["entitlement:sap/vendor_create"], ["entitlement:sap/payment_approve", "role:payer"]],
    )
    return {
        "admin": admin,
        "auditor": auditor,
        "cfo": cfo,
        "alice": alice,
        "bob": bob,
        "app": app,
        "create": create,
        "pay": pay,
        "other": other,
        "payer": payer,
        "rule": rule,
    }


def give(user, entitlement, actor=None):
    """Give ``user`` the entitlement directly (an account on its resource first)."""
    from directory.models import Account

    account = Account.objects.filter(owner=user, resource=entitlement.resource).first()
    if account is None:
        account = access.account_create(
            actor=actor, source="console", resource=entitlement.resource, owner=user
        )
    return access.membership_grant(actor=actor, source="console", account=account, entitlement=entitlement)
