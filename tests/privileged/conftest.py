"""A production database for the privileged-access tests: a DBA role, two approval levels."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from directory.models import AccountType, ConsoleRole, ProvisioningEvent, ProvisioningMode, RoleMembership
from privileged.services.groups import access_group_create
from tests.api.factories import AccountFactory, OrganizationFactory, ResourceFactory, RoleFactory, UserFactory
from tests.requests_workflow.conftest import (
    run,  # noqa: F401 (the same fixture: service + its on-commit work)
)
from tests.requests_workflow.test_email_approvals import (
    smtp,  # noqa: F401 (the same fixture: a real SMTP server, aiosmtpd, Django's SMTP backend on it)
)
from tests.vault.conftest import keys
from vault.services import secret_store

PASSWORD = "Initial-Pa55word"


@pytest.fixture(autouse=True)
def vault_key():
    with override_settings(BLAZON_VAULT_KEYS=keys(1)):
        yield


def window(minutes: int = 60, start_in: int = 0) -> dict[str, Any]:
    start = timezone.now() + timedelta(minutes=start_in)
    return {"window_start": start, "window_end": start + timedelta(minutes=minutes)}


@pytest.fixture
def pam(db) -> dict[str, Any]:
    admin = UserFactory(username="admin", console_role=ConsoleRole.ADMINISTRATOR)
    helpdesk = UserFactory(username="helpdesk", console_role=ConsoleRole.HELPDESK)
    auditor = UserFactory(username="auditor", console_role=ConsoleRole.AUDITOR)
    ops = OrganizationFactory(code="ops", name="Operations")
    dba1 = UserFactory(username="dba1")
    dba2 = UserFactory(username="dba2", organization=ops)
    stranger = UserFactory(username="stranger")
    approver1 = UserFactory(username="approver1")
    approver2 = UserFactory(username="approver2")
    owner = UserFactory(username="owner")
    role = RoleFactory(code="dba", name="Database administrators")
    RoleMembership.objects.create(user=dba1, role=role)
    db_res = ResourceFactory(code="proddb", name="Production database")
    db_res.provisioning_modes = {
        **db_res.provisioning_modes,
        ProvisioningEvent.CHANGE_PASSWORD: ProvisioningMode.AUTOMATIC,
    }
    db_res.save()
    postgres = AccountFactory(
        resource=db_res,
        identifier="postgres",
        owner=None,
        account_type=AccountType.ADMINISTRATIVE,
        responsible=owner,
    )
    shared = AccountFactory(
        resource=db_res, identifier="shared-ops", owner=None, account_type=AccountType.SHARED
    )
    for account in (postgres, shared):
        secret_store(
            actor=admin,
            source="console",
            owner=None,
            kind="ACCOUNT_PASSWORD",
            name=str(account),
            value=PASSWORD,
            account=account,
        )
    group = access_group_create(
        actor=admin,
        source="console",
        code="prod-dba",
        name="Production DBAs",
        members=["role:dba", "organization:ops"],
        credentials=["proddb/postgres", "proddb/shared-ops"],
        approval_required=True,
        levels=[
            {"approver_kind": "USERS", "users": ["approver1"]},
            {"approver_kind": "USERS", "users": ["approver2"]},
        ],
        max_window_minutes=120,
        governance_code_required=True,
        emergency_allowed=True,
        notify=["owner"],
    )
    return {
        "admin": admin,
        "helpdesk": helpdesk,
        "auditor": auditor,
        "dba1": dba1,
        "dba2": dba2,
        "stranger": stranger,
        "approver1": approver1,
        "approver2": approver2,
        "owner": owner,
        "role": role,
        "ops": ops,
        "resource": db_res,
        "postgres": postgres,
        "shared": shared,
        "group": group,
    }
