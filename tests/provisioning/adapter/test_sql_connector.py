"""The SQL table connector against a real PostgreSQL: each test gets its own schema holding the
accounts, entitlements and memberships tables (fails under CI when PostgreSQL is missing)."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest

from provisioning.adapter.connectors import (
    AccountData,
    BadRequestError,
    EntitlementData,
    NotFoundError,
    TransientError,
    connector_from_settings,
)
from provisioning.adapter.connectors.sql import SqlConnector, password_verify
from tests.conftest import require

# The application's tables live in a throwaway schema of the database the suite already uses
# (.ci/run sets DATABASE_URL), so no extra database has to exist.
_SUITE_DB = os.environ.get("DATABASE_URL", "")
DSN = os.environ.get(
    "TEST_SQL_CONNECTOR_DSN",
    _SUITE_DB
    if _SUITE_DB.startswith(("postgres://", "postgresql://"))
    else "postgresql://postgres@127.0.0.1:5432/postgres",
)
ALICE = AccountData(
    identifier="alice",
    username="alice",
    email="alice@example.test",
    first_name="Alice",
    last_name="Doe",
    display_name="Alice Doe",
)


@pytest.fixture
def db():
    try:
        conn = psycopg.connect(DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        conn = None
    require(conn is not None, f"PostgreSQL at {DSN} (TEST_SQL_CONNECTOR_DSN)")
    schema = f"conn_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE SCHEMA "{schema}"')
    conn.execute(f'SET search_path TO "{schema}"')
    conn.execute(
        "CREATE TABLE app_users (login text PRIMARY KEY, mail text NOT NULL DEFAULT '',"
        " given text, family text, active boolean NOT NULL DEFAULT false, pw text,"
        " CONSTRAINT mail_short CHECK (length(mail) < 40))"
    )
    conn.execute("CREATE TABLE app_roles (code text PRIMARY KEY, label text)")
    conn.execute(
        "CREATE TABLE app_user_roles (login text REFERENCES app_users, code text REFERENCES app_roles,"
        " PRIMARY KEY (login, code))"
    )
    yield conn, schema
    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    conn.close()


def settings(schema: str, **extra):
    return {
        "type": "sql",
        "dsn": DSN,
        "schema": schema,
        "accounts_table": "app_users",
        "account_id_column": "login",
        "account_columns": {"mail": "{email}", "given": "{first_name}", "family": "{last_name}"},
        "enabled_column": "active",
        "password_column": "pw",
        "entitlements_table": "app_roles",
        "entitlement_id_column": "code",
        "entitlement_name_column": "label",
        "memberships_table": "app_user_roles",
        "membership_account_column": "login",
        "membership_entitlement_column": "code",
        "timeout_seconds": 2,
        **extra,
    }


@pytest.fixture
def sqlc(db):
    connector = connector_from_settings(settings(db[1]))
    assert isinstance(connector, SqlConnector)
    yield connector
    connector.close()


def row(db, login):
    return (
        db[0]
        .execute("SELECT login, mail, given, family, active, pw FROM app_users WHERE login = %s", (login,))
        .fetchone()
    )


def test_create_update_and_password_hashed(sqlc, db):
    assert sqlc.create_account(ALICE, password="S3cret-pass!") == "alice"
    login, mail, given, family, active, pw = row(db, "alice")
    assert (mail, given, family, active) == ("alice@example.test", "Alice", "Doe", True)
    assert pw.startswith("scrypt$") and "S3cret" not in pw and password_verify("S3cret-pass!", pw)
    assert not password_verify("wrong", pw)
    # a retried create updates the row instead of failing
    assert sqlc.create_account(AccountData(**{**ALICE.__dict__, "email": "new@example.test"})) == "alice"
    assert row(db, "alice")[1] == "new@example.test"
    sqlc.update_account("alice", AccountData(**{**ALICE.__dict__, "last_name": "Roe"}))
    assert row(db, "alice")[3] == "Roe"
    sqlc.set_password("alice", "other-pass")
    second = row(db, "alice")[5]
    assert second != pw and password_verify("other-pass", second)


def test_pbkdf2_scheme_is_django_compatible_format(db):
    connector = SqlConnector(settings(db[1], password_scheme="pbkdf2_sha256"))
    connector.create_account(ALICE, password="pw-123456")
    stored = row(db, "alice")[5]
    assert stored.startswith("pbkdf2_sha256$600000$") and password_verify("pw-123456", stored)
    connector.close()


def test_enable_disable_and_listing(sqlc, db):
    sqlc.create_account(ALICE)
    assert sqlc.disable_account("alice") == "alice" and row(db, "alice")[4] is False
    accounts = list(sqlc.list_accounts())
    assert accounts == [
        {
            "remote_id": "alice",
            "identifier": "alice",
            "enabled": False,
            "attributes": {"mail": "alice@example.test", "given": "Alice", "family": "Doe"},
        }
    ]
    sqlc.enable_account("alice")
    assert row(db, "alice")[4] is True


def test_memberships_and_entitlements(sqlc, db):
    sqlc.create_account(ALICE)
    assert sqlc.create_entitlement(EntitlementData(identifier="payments", name="Payments")) == "payments"
    assert sqlc.create_entitlement(EntitlementData(identifier="payments", name="Pay")) == "payments"
    sqlc.create_entitlement(EntitlementData(identifier="audit"))
    sqlc.grant("alice", "payments")
    sqlc.grant("alice", "payments")  # twice: harmless
    listed = {e["identifier"]: e for e in sqlc.list_entitlements()}
    assert listed["payments"] == {
        "remote_id": "payments",
        "identifier": "payments",
        "name": "Pay",
        "members": ["alice"],
    }
    assert listed["audit"]["members"] == []
    sqlc.update_entitlement("audit", EntitlementData(identifier="audit", name="Auditors"))
    assert db[0].execute("SELECT label FROM app_roles WHERE code = 'audit'").fetchone() == ("Auditors",)
    sqlc.revoke("alice", "payments")
    sqlc.revoke("alice", "payments")  # not held any more: harmless
    assert db[0].execute("SELECT count(*) FROM app_user_roles").fetchone() == (0,)
    sqlc.grant("alice", "payments")
    sqlc.delete_entitlement("payments")  # its memberships go with it
    assert [e["identifier"] for e in sqlc.list_entitlements()] == ["audit"]
    with pytest.raises(NotFoundError):
        sqlc.grant("alice", "payments")
    with pytest.raises(NotFoundError):
        sqlc.grant("bob", "audit")


def test_missing_rows_are_not_found(sqlc, db):
    sqlc.create_entitlement(EntitlementData(identifier="audit"))
    sqlc.create_account(ALICE)
    sqlc.grant("alice", "audit")
    sqlc.delete_account("alice")  # memberships first, then the row
    assert row(db, "alice") is None
    for call in (
        lambda: sqlc.delete_account("alice"),
        lambda: sqlc.update_account("alice", ALICE),
        lambda: sqlc.disable_account("alice"),
        lambda: sqlc.enable_account("alice"),
        lambda: sqlc.set_password("alice", "x"),
        lambda: sqlc.update_entitlement("nope", EntitlementData(identifier="nope", name="n")),
        lambda: sqlc.delete_entitlement("nope"),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_refused_values_are_bad_requests(sqlc, db):
    with pytest.raises(BadRequestError, match="mail_short"):
        sqlc.create_account(AccountData(**{**ALICE.__dict__, "email": "x" * 60}))
    bad = SqlConnector(settings(db[1], account_columns={"no_such_column": "{email}"}))
    with pytest.raises(BadRequestError, match="no_such_column"):
        bad.create_account(ALICE)
    bad.close()


def test_hostile_values_and_names_cannot_inject_sql(sqlc, db):
    hostile = "x'); DROP TABLE app_users; --"
    quoted = 'y" ; DROP TABLE app_users; --'
    for name in (hostile, quoted):
        account = AccountData(
            identifier=name, email=name[:30], first_name=name, last_name="'; DELETE FROM app_roles; --"
        )
        assert sqlc.create_account(account, password=name) == name
        sqlc.create_entitlement(EntitlementData(identifier=name, name=name))
        sqlc.grant(name, name)
    assert {a["identifier"] for a in sqlc.list_accounts()} == {hostile, quoted}
    assert row(db, hostile)[2] == hostile
    # a hostile table or column name in the configuration is only ever a (missing) name
    evil = SqlConnector(settings(db[1], accounts_table='app_users"; DROP TABLE app_roles; --'))
    with pytest.raises(BadRequestError, match="does not exist"):
        evil.create_account(ALICE)
    evil.close()
    evil = SqlConnector(settings(db[1], account_columns={"mail\" = ''; DROP TABLE app_roles; --": "{email}"}))
    with pytest.raises(BadRequestError):
        evil.update_account(hostile, ALICE)
    evil.close()
    tables = {r[0] for r in db[0].execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (db[1],))}
    assert tables == {"app_users", "app_roles", "app_user_roles"}
    assert db[0].execute("SELECT count(*) FROM app_user_roles").fetchone() == (2,)


def test_unreachable_database_is_transient_and_reconnects(sqlc, db):
    down = SqlConnector(settings(db[1], dsn="postgresql://postgres@127.0.0.1:1/nothing"))
    with pytest.raises(TransientError):
        down.create_account(ALICE)
    sqlc.create_account(ALICE)
    # the server drops our session (a restart, a failover): transient once, then it reconnects
    pid = sqlc._conn.info.backend_pid
    db[0].execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(TransientError):
        sqlc.update_account("alice", ALICE)
    assert sqlc.update_account("alice", ALICE) == "alice"


def test_dsn_from_the_environment(db, monkeypatch):
    monkeypatch.setenv("APP_DB_DSN", DSN)
    extra = settings(db[1], dsn_env="APP_DB_DSN")
    del extra["dsn"]
    connector = connector_from_settings(extra)
    assert connector.create_account(ALICE) == "alice"
    connector.close()
    with pytest.raises(ValueError, match="dsn"):
        SqlConnector({"type": "sql"})
