"""SQL table connector (PostgreSQL, psycopg 3): an application whose accounts are table rows.

Three tables, every name configurable: accounts (a key column holding the identifier, the
columns of ``account_columns``, an optional boolean ``enabled_column`` and an optional
``password_column``), entitlements (a key column, an optional name column) and memberships
(account key, entitlement key). The remote id of an account or entitlement is its key value.

* Every table and column name goes through ``psycopg.sql.Identifier`` and every value is a
  query parameter: neither the configuration nor an entry's data can inject SQL.
* Passwords are never stored in clear: ``password_scheme`` ``scrypt`` (default,
  ``scrypt$16384$8$1$<salt b64>$<hash b64>``, 16-byte random salt) or ``pbkdf2_sha256``
  (Django's format ``pbkdf2_sha256$<iterations>$<salt>$<hash b64>``, so a Django application
  can check it). ``password_verify`` checks either.
* Errors: no connection, a broken one, a server shutting down (``OperationalError``,
  ``InterfaceError``) are transient; a refused value (``IntegrityError``, ``DataError``) or a
  wrong table / column name (``ProgrammingError``) is a bad request; no row for the remote id
  on an update, enable / disable, password or delete is not found.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from provisioning.adapter.connectors.base import (
    AccountData,
    BadRequestError,
    Connector,
    EntitlementData,
    NotFoundError,
    TransientError,
)

DEFAULT_ACCOUNT_COLUMNS = {
    "email": "{email}",
    "first_name": "{first_name}",
    "last_name": "{last_name}",
    "display_name": "{display_name}",
}
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
PBKDF2_ITERATIONS = 600_000


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def password_hash(password: str, scheme: str = "scrypt") -> str:
    """Hash a password with a fresh random salt in ``scheme`` (``scrypt`` or ``pbkdf2_sha256``)."""
    if scheme == "scrypt":
        salt = os.urandom(16)
        digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
        return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"
    if scheme == "pbkdf2_sha256":
        salt = secrets.token_urlsafe(16)
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), PBKDF2_ITERATIONS)
        return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${salt}${_b64(digest)}"
    raise ValueError(f"unknown password_scheme {scheme!r} (scrypt, pbkdf2_sha256)")


def password_verify(password: str, stored: str) -> bool:
    """Whether ``password`` matches a value ``password_hash`` produced."""
    parts = stored.split("$")
    if parts[0] == "scrypt" and len(parts) == 6:
        n, r, p = (int(x) for x in parts[1:4])
        salt, expected = base64.b64decode(parts[4]), base64.b64decode(parts[5])
        digest = hashlib.scrypt(
            password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=256 * n * r + 2**20
        )
        return hmac.compare_digest(digest, expected)
    if parts[0] == "pbkdf2_sha256" and len(parts) == 4:
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), parts[2].encode(), int(parts[1]))
        return hmac.compare_digest(_b64(digest), parts[3])
    return False


class SqlConnector(Connector):
    def __init__(self, settings: dict[str, Any]) -> None:
        env = settings.get("dsn_env", "")
        self.dsn = os.environ.get(env, "") if env else settings.get("dsn", "")
        if not self.dsn:
            raise ValueError("SQL connector: set dsn_env (an environment variable's name) or dsn")
        self.timeout = max(int(settings.get("timeout_seconds", 10)), 1)
        schema = settings.get("schema", "")

        def table(name: str) -> sql.Identifier:
            return sql.Identifier(schema, name) if schema else sql.Identifier(name)

        self.accounts = table(settings.get("accounts_table", "accounts"))
        self.account_key = sql.Identifier(settings.get("account_id_column", "username"))
        self.mapping = dict(settings.get("account_columns", DEFAULT_ACCOUNT_COLUMNS))
        self.enabled_column = settings.get("enabled_column", "enabled")
        self.password_column = settings.get("password_column", "password_hash")
        self.password_scheme = settings.get("password_scheme", "scrypt")
        if self.password_scheme not in ("scrypt", "pbkdf2_sha256"):
            raise ValueError(f"SQL connector: unknown password_scheme {self.password_scheme!r}")
        self.entitlements = table(settings.get("entitlements_table", "entitlements"))
        self.entitlement_key = sql.Identifier(settings.get("entitlement_id_column", "name"))
        self.entitlement_name = settings.get("entitlement_name_column", "description")
        self.memberships = table(settings.get("memberships_table", "memberships"))
        self.member_account = sql.Identifier(settings.get("membership_account_column", "account"))
        self.member_entitlement = sql.Identifier(settings.get("membership_entitlement_column", "entitlement"))
        self._conn: psycopg.Connection | None = None

    # --- connection and error mapping -------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = psycopg.connect(self.dsn, connect_timeout=self.timeout, autocommit=True)
            except psycopg.Error as exc:
                raise TransientError(f"SQL connect: {exc}") from exc
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None

    def _execute(self, what: str, statements: list[tuple[sql.Composable, tuple[Any, ...]]]) -> list[Any]:
        """Run statements in one transaction; each one's rowcount (or rows for a SELECT)."""
        conn = self._connect()
        results: list[Any] = []
        try:
            with conn.transaction(), conn.cursor() as cur:
                for query, params in statements:
                    cur.execute(query, params)
                    results.append(cur.fetchall() if cur.description else cur.rowcount)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self.close()
            raise TransientError(f"SQL {what}: {exc}") from exc
        except (psycopg.IntegrityError, psycopg.DataError, psycopg.ProgrammingError) as exc:
            raise BadRequestError(f"SQL {what}: {exc}") from exc
        except psycopg.Error as exc:  # anything else (internal error, …): the server may recover
            raise TransientError(f"SQL {what}: {exc}") from exc
        return results

    def _one(self, what: str, query: sql.Composable, params: tuple[Any, ...]) -> Any:
        return self._execute(what, [(query, params)])[0]

    # --- ids ---------------------------------------------------------------------------------

    def account_remote_id(self, identifier: str) -> str:
        return identifier

    def entitlement_remote_id(self, identifier: str) -> str:
        return identifier

    # --- accounts ----------------------------------------------------------------------------

    def _mapped(self, account: AccountData) -> dict[str, str]:
        context = _Blank(account.context())
        values = {}
        for column, template in self.mapping.items():
            try:
                values[column] = str(template).format_map(context).strip()
            except (ValueError, IndexError, AttributeError) as exc:
                raise BadRequestError(f"column mapping of {column!r} is not valid: {exc}") from exc
        return values

    def _update_query(
        self, table: sql.Identifier, key: sql.Identifier, values: dict[str, Any]
    ) -> sql.Composed:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder()) for c in values
        )
        return sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(table, assignments, key)

    def _upsert(
        self, what: str, table: sql.Identifier, key: sql.Identifier, remote_id: str, values: dict
    ) -> None:
        """Update the row, or insert it when there is none (a retried create updates)."""
        insert_values = {**values}
        columns = sql.SQL(", ").join([key, *(sql.Identifier(c) for c in insert_values)])
        placeholders = sql.SQL(", ").join(sql.Placeholder() * (len(insert_values) + 1))
        insert = sql.SQL(
            "INSERT INTO {} ({}) SELECT {} WHERE NOT EXISTS (SELECT 1 FROM {} WHERE {} = %s)"
        ).format(table, columns, placeholders, table, key)
        statements = []
        if values:
            statements.append((self._update_query(table, key, values), (*values.values(), remote_id)))
        statements.append((insert, (remote_id, *insert_values.values(), remote_id)))
        self._execute(what, statements)

    def create_account(self, account: AccountData, *, password: str | None = None) -> str:
        values: dict[str, Any] = self._mapped(account)
        if password:
            values[self._need(self.password_column, "password_column")] = password_hash(
                password, self.password_scheme
            )
        if self.enabled_column:  # a created account is enabled, whatever the column's default
            values[self.enabled_column] = True
        self._upsert(
            f"create account {account.identifier!r}",
            self.accounts,
            self.account_key,
            account.identifier,
            values,
        )
        return account.identifier

    def _set(self, remote_id: str, column: str, value: Any) -> str:
        what = f"update account {remote_id!r}"
        if (
            self._one(
                what, self._update_query(self.accounts, self.account_key, {column: value}), (value, remote_id)
            )
            == 0
        ):
            raise NotFoundError(f"SQL {what}: no such account")
        return remote_id

    @staticmethod
    def _need(column: str, setting: str) -> str:
        if not column:
            raise BadRequestError(f"SQL connector: {setting} is not configured")
        return column

    def update_account(self, remote_id: str, account: AccountData) -> str:
        values = self._mapped(account)
        what = f"update account {remote_id!r}"
        if not values:
            self._exists_or_raise(what, self.accounts, self.account_key, remote_id, "account")
            return remote_id
        query = self._update_query(self.accounts, self.account_key, values)
        if self._one(what, query, (*values.values(), remote_id)) == 0:
            raise NotFoundError(f"SQL {what}: no such account")
        return remote_id

    def enable_account(self, remote_id: str) -> str:
        return self._set(remote_id, self._need(self.enabled_column, "enabled_column"), True)

    def disable_account(self, remote_id: str) -> str:
        return self._set(remote_id, self._need(self.enabled_column, "enabled_column"), False)

    def set_password(self, remote_id: str, password: str) -> None:
        column = self._need(self.password_column, "password_column")
        self._set(remote_id, column, password_hash(password, self.password_scheme))

    def delete_account(self, remote_id: str) -> None:
        what = f"delete account {remote_id!r}"
        _, deleted = self._execute(
            what,
            [
                (
                    sql.SQL("DELETE FROM {} WHERE {} = %s").format(self.memberships, self.member_account),
                    (remote_id,),
                ),
                (
                    sql.SQL("DELETE FROM {} WHERE {} = %s").format(self.accounts, self.account_key),
                    (remote_id,),
                ),
            ],
        )
        if deleted == 0:
            raise NotFoundError(f"SQL {what}: no such account")

    def _exists_or_raise(
        self, what: str, table: sql.Identifier, key: sql.Identifier, remote_id: str, kind: str
    ) -> None:
        rows = self._one(what, sql.SQL("SELECT 1 FROM {} WHERE {} = %s").format(table, key), (remote_id,))
        if not rows:
            raise NotFoundError(f"SQL {what}: no such {kind} {remote_id!r}")

    # --- memberships -------------------------------------------------------------------------

    def grant(self, account_remote_id: str, entitlement_remote_id: str) -> None:
        what = f"grant {entitlement_remote_id!r} to {account_remote_id!r}"
        exists = sql.SQL("SELECT 1 FROM {} WHERE {} = %s")
        insert = sql.SQL(
            "INSERT INTO {m} ({a}, {e}) SELECT %s, %s"
            " WHERE EXISTS (SELECT 1 FROM {at} WHERE {ak} = %s)"
            " AND EXISTS (SELECT 1 FROM {et} WHERE {ek} = %s)"
            " AND NOT EXISTS (SELECT 1 FROM {m} WHERE {a} = %s AND {e} = %s)"
        ).format(
            m=self.memberships,
            a=self.member_account,
            e=self.member_entitlement,
            at=self.accounts,
            ak=self.account_key,
            et=self.entitlements,
            ek=self.entitlement_key,
        )
        account, entitlement, _ = self._execute(
            what,
            [
                (exists.format(self.accounts, self.account_key), (account_remote_id,)),
                (exists.format(self.entitlements, self.entitlement_key), (entitlement_remote_id,)),
                (insert, (account_remote_id, entitlement_remote_id) * 3),
            ],
        )
        if not account:
            raise NotFoundError(f"SQL {what}: no such account")
        if not entitlement:
            raise NotFoundError(f"SQL {what}: no such entitlement")

    def revoke(self, account_remote_id: str, entitlement_remote_id: str) -> None:
        query = sql.SQL("DELETE FROM {} WHERE {} = %s AND {} = %s").format(
            self.memberships, self.member_account, self.member_entitlement
        )
        self._one(
            f"revoke {entitlement_remote_id!r} from {account_remote_id!r}",
            query,
            (account_remote_id, entitlement_remote_id),
        )

    # --- entitlements ------------------------------------------------------------------------

    def _entitlement_values(self, entitlement: EntitlementData) -> dict[str, Any]:
        return {self.entitlement_name: entitlement.name} if self.entitlement_name else {}

    def create_entitlement(self, entitlement: EntitlementData) -> str:
        self._upsert(
            f"create entitlement {entitlement.identifier!r}",
            self.entitlements,
            self.entitlement_key,
            entitlement.identifier,
            self._entitlement_values(entitlement),
        )
        return entitlement.identifier

    def update_entitlement(self, remote_id: str, entitlement: EntitlementData) -> str:
        what = f"update entitlement {remote_id!r}"
        values = self._entitlement_values(entitlement)
        if not values:
            self._exists_or_raise(what, self.entitlements, self.entitlement_key, remote_id, "entitlement")
            return remote_id
        query = self._update_query(self.entitlements, self.entitlement_key, values)
        if self._one(what, query, (*values.values(), remote_id)) == 0:
            raise NotFoundError(f"SQL {what}: no such entitlement")
        return remote_id

    def delete_entitlement(self, remote_id: str) -> None:
        what = f"delete entitlement {remote_id!r}"
        _, deleted = self._execute(
            what,
            [
                (
                    sql.SQL("DELETE FROM {} WHERE {} = %s").format(self.memberships, self.member_entitlement),
                    (remote_id,),
                ),
                (
                    sql.SQL("DELETE FROM {} WHERE {} = %s").format(self.entitlements, self.entitlement_key),
                    (remote_id,),
                ),
            ],
        )
        if deleted == 0:
            raise NotFoundError(f"SQL {what}: no such entitlement")

    # --- listing (reconciliation) ------------------------------------------------------------

    def list_accounts(self) -> Iterator[dict[str, Any]]:
        columns = [self.account_key, *(sql.Identifier(c) for c in self.mapping)]
        if self.enabled_column:
            columns.append(sql.Identifier(self.enabled_column))
        query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
            sql.SQL(", ").join(columns), self.accounts, self.account_key
        )
        for row in self._one("list accounts", query, ()):
            key, values = str(row[0]), list(row[1:])
            enabled = bool(values.pop()) if self.enabled_column else True
            yield {
                "remote_id": key,
                "identifier": key,
                "enabled": enabled,
                "attributes": dict(zip(self.mapping, values, strict=True)),
            }

    def list_entitlements(self) -> Iterator[dict[str, Any]]:
        name = sql.Identifier(self.entitlement_name) if self.entitlement_name else sql.SQL("''")
        groups = sql.SQL("SELECT {}, {} FROM {} ORDER BY {}").format(
            self.entitlement_key, name, self.entitlements, self.entitlement_key
        )
        members = sql.SQL("SELECT {}, {} FROM {} ORDER BY {}").format(
            self.member_entitlement, self.member_account, self.memberships, self.member_account
        )
        rows, links = self._execute("list entitlements", [(groups, ()), (members, ())])
        by_group: dict[Any, list[Any]] = {}
        for group, account in links:
            by_group.setdefault(group, []).append(str(account))
        for key, label in rows:
            yield {
                "remote_id": str(key),
                "identifier": str(key),
                "name": label or "",
                "members": by_group.get(key, []),
            }
