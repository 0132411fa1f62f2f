"""An accounts profile reading a real PostgreSQL table through the SQL connector: accounts are
found and their attribute drift copied, an application account with a known owner is linked,
the directory's accounts the application lost are revoked, orphans and rogue accounts become
tasks with one-click resolutions; the DSN is kept in the vault."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest

from blazon.errors import Conflict
from directory.models import Account, AccountStatus, Entitlement
from provisioning.models import ProvisioningEntry
from reconciliation.models import CaseStatus, ReconciliationCase, RunStatus
from reconciliation.services.cases import case_resolve
from reconciliation.services.profiles import profile_create, profile_secrets, profile_update
from reconciliation.services.runs import run_and_execute
from tests.api.factories import EntitlementFactory, ResourceFactory
from tests.conftest import require

_SUITE_DB = os.environ.get("DATABASE_URL", "")
DSN = (
    _SUITE_DB
    if _SUITE_DB.startswith(("postgres://", "postgresql://"))
    else "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def app_db(postgres):
    try:
        conn = psycopg.connect(DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        conn = None
    require(conn is not None, f"PostgreSQL at {DSN}")
    schema = f"recon_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE SCHEMA "{schema}"')
    conn.execute(
        f"CREATE TABLE \"{schema}\".app_users (login text PRIMARY KEY, mail text NOT NULL DEFAULT '',"
        " active boolean NOT NULL DEFAULT true)"
    )
    conn.execute(f'CREATE TABLE "{schema}".app_roles (code text PRIMARY KEY, label text)')
    conn.execute(f'CREATE TABLE "{schema}".app_user_roles (login text, code text)')
    conn.execute(
        f'INSERT INTO "{schema}".app_users VALUES (%s, %s, true), (%s, %s, true), (%s, %s, true), (%s, %s, false)',
        (
            "ana.souza",
            "ana.new@corp.test",
            "carla.dias",
            "carla@corp.test",
            "svc-backup",
            "",
            "ghost",
            "ghost@evil.test",
        ),
    )
    yield conn, schema
    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    conn.close()


@pytest.fixture
def crm(people, app_db):
    _, schema = app_db
    resource = ResourceFactory(code="crm", name="CRM")
    Account.objects.create(
        resource=resource, owner=people["ana"], identifier="ana.souza", attributes={"mail": "ana@corp.test"}
    )
    Account.objects.create(resource=resource, owner=people["bruno"], identifier="bruno.lima")
    Account.objects.create(resource=resource, owner=None, identifier="svc-backup")
    profile = profile_create(
        actor=people["admin"],
        source="console",
        code="crm-accounts",
        name="CRM accounts",
        kind="ACCOUNTS",
        resource=resource,
        source_type="sql",
        source_settings={
            "schema": schema, "accounts_table": "app_users", "account_id_column": "login",
            "account_columns": {"mail": "{email}"}, "enabled_column": "active",
            "entitlements_table": "app_roles", "entitlement_id_column": "code", "entitlement_name_column": "label",
            "memberships_table": "app_user_roles", "membership_account_column": "login",
            "membership_entitlement_column": "code",
        },
        secret_settings={"dsn": DSN},
        safety_share=50,
        rules=[
            {"target": "OBJECT", "attribute": "identifier", "operator": "EQUALS", "value": "{[identifier]}"},
            {"target": "OWNER", "attribute": "username", "operator": "EQUALS", "value": "{[identifier]}"},
        ],
        mappings=[{"target": "mail", "mode": "FIELD", "value": "{[mail]}"}],
        actions={
            "FOUND": "UPDATE",
            "ACCOUNT_NOT_FOUND_OWNER_FOUND": "LINK",
            "ACCOUNT_FOUND_OWNER_NOT_FOUND": "MANUAL",
            "ACCOUNT_OWNER_NOT_FOUND": "MANUAL",
            "MISSING": "REVOKE",
        },
    )  # fmt: skip
    return resource, profile


pytestmark = pytest.mark.django_db


def test_secret_dsn_is_in_the_vault_not_on_the_profile(crm):
    _, profile = crm
    assert "dsn" not in profile.source_settings and profile.secret_keys == ["dsn"]
    assert profile_secrets(profile) == {"dsn": DSN}


def test_orphans_missing_and_drift(people, crm):
    resource, profile = crm
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.situations == {
        "FOUND": 1,
        "ACCOUNT_NOT_FOUND_OWNER_FOUND": 1,
        "ACCOUNT_FOUND_OWNER_NOT_FOUND": 1,
        "ACCOUNT_OWNER_NOT_FOUND": 1,
        "MISSING": 1,
    }
    assert run.actions == {"UPDATE": 1, "LINK": 1, "MANUAL": 2, "REVOKE": 1}
    accounts = {a.identifier: a for a in Account.objects.filter(resource=resource)}
    assert accounts["ana.souza"].attributes == {"mail": "ana.new@corp.test"}  # drift copied
    assert accounts["carla.dias"].owner == people["carla"]  # linked, not provisioned
    assert accounts["carla.dias"].status == AccountStatus.ACTIVE
    assert accounts["bruno.lima"].status == AccountStatus.REVOKED  # gone from the application
    assert "ghost" not in accounts  # rogue: waits for a person
    cases = {c.key: c for c in ReconciliationCase.objects.all()}
    assert set(cases) == {"svc-backup", "ghost"}
    assert cases["svc-backup"].situation == "ACCOUNT_FOUND_OWNER_NOT_FOUND"
    assert cases["svc-backup"].account == accounts["svc-backup"]
    # one click: the rogue account is recorded and revoked, the orphan given its owner
    case_resolve(actor=people["admin"], source="console", case=cases["ghost"], resolution="revoke")
    ghost = Account.objects.get(resource=resource, identifier="ghost")
    assert ghost.status == AccountStatus.REVOKED and ghost.owner is None
    with pytest.raises(Conflict):  # bruno's revoked account is still his one regular account
        case_resolve(
            actor=people["admin"], source="console", case=cases["svc-backup"], resolution="link",
            candidate=people["bruno"].pk,
        )  # fmt: skip
    case_resolve(
        actor=people["admin"], source="console", case=cases["svc-backup"], resolution="link",
        candidate=people["helpdesk"].pk,
    )  # fmt: skip
    assert Account.objects.get(identifier="svc-backup").owner == people["helpdesk"]
    assert not ReconciliationCase.objects.filter(status=CaseStatus.OPEN).exists()
    # a second run finds everything in place
    again = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert again.situations == {"FOUND": 3, "ACCOUNT_FOUND_OWNER_NOT_FOUND": 1}  # ghost: revoked, on its way
    assert again.actions == {"NONE": 4}
    assert not ReconciliationCase.objects.filter(status=CaseStatus.OPEN).exists()


def test_source_down_fails_the_run_and_changes_nothing(people, crm):
    resource, profile = crm
    profile_update(
        actor=people["admin"],
        source="console",
        profile=profile,
        data={"secret_settings": {"dsn": "postgresql://postgres@127.0.0.1:1/nothing"}},
    )
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("The sql source cannot be read: SQL connect:")
    assert Account.objects.get(identifier="bruno.lima").status == AccountStatus.ACTIVE


def test_entitlements_profile_reads_the_application_groups(people, app_db):
    conn, schema = app_db
    conn.execute(
        f'INSERT INTO "{schema}".app_roles VALUES (%s, %s), (%s, %s), (%s, %s)',
        ("admins", "Administrators", "sales", "Sales team", "audit", "Auditors"),
    )
    resource = ResourceFactory(code="crm", name="CRM")
    EntitlementFactory(resource=resource, identifier="admins", name="Administrators")
    sales = EntitlementFactory(resource=resource, identifier="sales", name="Sales")
    profile = profile_create(
        actor=people["admin"], source="console", code="crm-groups", name="CRM groups", kind="ENTITLEMENTS",
        resource=resource, source_type="sql",
        source_settings={"schema": schema, "accounts_table": "app_users", "account_id_column": "login",
                         "entitlements_table": "app_roles", "entitlement_id_column": "code",
                         "entitlement_name_column": "label", "memberships_table": "app_user_roles",
                         "membership_account_column": "login", "membership_entitlement_column": "code"},
        secret_settings={"dsn": DSN},
        rules=[{"attribute": "identifier", "value": "{[identifier]}"}],
        mappings=[{"target": "name", "mode": "FIELD", "value": "{[name]}"}],
    )  # fmt: skip
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.situations == {"FOUND": 2, "NOT_FOUND": 1}
    assert run.actions == {"NONE": 1, "UPDATE": 1, "CREATE": 1}
    sales.refresh_from_db()
    assert sales.name == "Sales team"
    audit = Entitlement.objects.get(resource=resource, identifier="audit")
    assert audit.name == "Auditors"
    assert not ProvisioningEntry.objects.filter(entitlement_id=audit.pk).exists()  # it exists already
