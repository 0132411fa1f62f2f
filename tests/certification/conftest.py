"""A small company for the certification tests: an ERP with a payments entitlement, a role,
a manager with two reports, and the accesses they hold (manual, role-managed, inactive)."""

from __future__ import annotations

from typing import Any

import pytest

from certification.services.policies import certification_policy_create
from directory.models import Account, ConsoleRole, RoleEntitlement
from directory.services import access
from tests.api.factories import EntitlementFactory, ResourceFactory, RoleFactory, UserFactory
from tests.requests_workflow.conftest import (
    run,  # noqa: F401 (the same fixture: service + its on-commit work)
)


def give(user, entitlement, actor=None):
    """Give ``user`` the entitlement directly (an account on its resource first)."""
    account = Account.objects.filter(owner=user, resource=entitlement.resource).first()
    if account is None:
        account = access.account_create(
            actor=actor, source="console", resource=entitlement.resource, owner=user
        )
    return access.membership_grant(actor=actor, source="console", account=account, entitlement=entitlement)


@pytest.fixture
def world(db) -> dict[str, Any]:
    admin = UserFactory(username="admin", console_role=ConsoleRole.ADMINISTRATOR)
    auditor = UserFactory(username="auditor", console_role=ConsoleRole.AUDITOR)
    boss = UserFactory(username="boss")
    fallback = UserFactory(username="fallback")
    ana = UserFactory(username="ana", manager=boss, job_title="Clerk", department="Finance")
    bob = UserFactory(username="bob", manager=boss, job_title="Clerk", department="Finance")
    eve = UserFactory(username="eve")  # no manager
    owner = UserFactory(username="owner")
    erp = ResourceFactory(code="erp", name="ERP", criticality="HIGH")
    erp.owners.add(owner)
    pay = EntitlementFactory(
        resource=erp, identifier="payments", name="Payments", owner=owner, criticality="CRITICAL"
    )
    view = EntitlementFactory(resource=erp, identifier="reports", name="Reports", criticality="LOW")
    role = RoleFactory(code="accounting", name="Accounting", owner=owner)
    RoleEntitlement.objects.create(role=role, entitlement=view)
    policy = certification_policy_create(
        actor=admin,
        source="console",
        code="quarterly",
        name="Quarterly review",
        reviewer_kind="MANAGER",
        fallback_reviewer=fallback,
        period_days=90,
        duration_days=14,
        undecided_action="REVOKE",
    )
    return {
        "admin": admin,
        "auditor": auditor,
        "boss": boss,
        "fallback": fallback,
        "ana": ana,
        "bob": bob,
        "eve": eve,
        "owner": owner,
        "erp": erp,
        "pay": pay,
        "view": view,
        "role": role,
        "policy": policy,
    }
