"""CSV file connector: an application whose accounts live in a CSV file (small apps, tests).

``accounts.csv`` (identifier, email, first_name, last_name, display_name, enabled,
password_changed_at, groups — ``;``-separated) and ``entitlements.csv`` (identifier, name) in
``directory``. The remote id is the identifier. Passwords are never written: only when one was
set. Every change rewrites the file through a temporary file and a rename, so a crash never
leaves half a file.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provisioning.adapter.connectors.base import (
    AccountData,
    Connector,
    EntitlementData,
    NotFoundError,
    TransientError,
)

ACCOUNT_FIELDS = [
    "identifier",
    "email",
    "first_name",
    "last_name",
    "display_name",
    "enabled",
    "password_changed_at",
    "groups",
]
ENTITLEMENT_FIELDS = ["identifier", "name"]


class CsvConnector(Connector):
    def __init__(self, settings: dict[str, Any]) -> None:
        self.directory = Path(settings["directory"])
        self.accounts_file = self.directory / settings.get("accounts_file", "accounts.csv")
        self.entitlements_file = self.directory / settings.get("entitlements_file", "entitlements.csv")

    # --- files -------------------------------------------------------------------------------

    def _read(self, path: Path) -> dict[str, dict[str, str]]:
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                return {row["identifier"]: row for row in csv.DictReader(handle)}
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise TransientError(f"cannot read {path}: {exc}") from exc

    def _write(self, path: Path, rows: dict[str, dict[str, str]], fields: list[str]) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.")
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows[k] for k in sorted(rows))
            os.replace(tmp, path)
        except OSError as exc:
            raise TransientError(f"cannot write {path}: {exc}") from exc

    def _accounts(self) -> dict[str, dict[str, str]]:
        return self._read(self.accounts_file)

    def _save_accounts(self, rows: dict[str, dict[str, str]]) -> None:
        self._write(self.accounts_file, rows, ACCOUNT_FIELDS)

    def _account(self, rows: dict[str, dict[str, str]], remote_id: str) -> dict[str, str]:
        if remote_id not in rows:
            raise NotFoundError(f"no account {remote_id!r} in {self.accounts_file.name}")
        return rows[remote_id]

    # --- interface ---------------------------------------------------------------------------

    def account_remote_id(self, identifier: str) -> str:
        return identifier

    def entitlement_remote_id(self, identifier: str) -> str:
        return identifier

    def create_account(self, account: AccountData, *, password: str | None = None) -> str:
        rows = self._accounts()
        row = rows.setdefault(
            account.identifier, {"identifier": account.identifier, "enabled": "1", "groups": ""}
        )
        row.update(
            email=account.email,
            first_name=account.first_name,
            last_name=account.last_name,
            display_name=account.display_name,
        )
        if password:
            row["password_changed_at"] = datetime.now(UTC).isoformat()
        self._save_accounts(rows)
        return account.identifier

    def update_account(self, remote_id: str, account: AccountData) -> str:
        rows = self._accounts()
        self._account(rows, remote_id).update(
            email=account.email,
            first_name=account.first_name,
            last_name=account.last_name,
            display_name=account.display_name,
        )
        self._save_accounts(rows)
        return remote_id

    def _set(self, remote_id: str, **values: str) -> str:
        rows = self._accounts()
        self._account(rows, remote_id).update(values)
        self._save_accounts(rows)
        return remote_id

    def enable_account(self, remote_id: str) -> str:
        return self._set(remote_id, enabled="1")

    def disable_account(self, remote_id: str) -> str:
        return self._set(remote_id, enabled="0")

    def delete_account(self, remote_id: str) -> None:
        rows = self._accounts()
        self._account(rows, remote_id)
        del rows[remote_id]
        self._save_accounts(rows)

    def set_password(self, remote_id: str, password: str) -> None:
        self._set(remote_id, password_changed_at=datetime.now(UTC).isoformat())

    def _groups(self, row: dict[str, str]) -> list[str]:
        return [g for g in (row.get("groups") or "").split(";") if g]

    def grant(self, account_remote_id: str, entitlement_remote_id: str) -> None:
        if entitlement_remote_id not in self._read(self.entitlements_file):
            raise NotFoundError(f"no entitlement {entitlement_remote_id!r} in {self.entitlements_file.name}")
        rows = self._accounts()
        row = self._account(rows, account_remote_id)
        groups = self._groups(row)
        if entitlement_remote_id not in groups:
            row["groups"] = ";".join([*groups, entitlement_remote_id])
            self._save_accounts(rows)

    def revoke(self, account_remote_id: str, entitlement_remote_id: str) -> None:
        rows = self._accounts()
        row = self._account(rows, account_remote_id)
        groups = self._groups(row)
        if entitlement_remote_id in groups:
            row["groups"] = ";".join(g for g in groups if g != entitlement_remote_id)
            self._save_accounts(rows)

    def create_entitlement(self, entitlement: EntitlementData) -> str:
        rows = self._read(self.entitlements_file)
        rows[entitlement.identifier] = {"identifier": entitlement.identifier, "name": entitlement.name}
        self._write(self.entitlements_file, rows, ENTITLEMENT_FIELDS)
        return entitlement.identifier

    def update_entitlement(self, remote_id: str, entitlement: EntitlementData) -> str:
        rows = self._read(self.entitlements_file)
        if remote_id not in rows:
            raise NotFoundError(f"no entitlement {remote_id!r} in {self.entitlements_file.name}")
        rows[remote_id]["name"] = entitlement.name
        self._write(self.entitlements_file, rows, ENTITLEMENT_FIELDS)
        return remote_id

    def delete_entitlement(self, remote_id: str) -> None:
        rows = self._read(self.entitlements_file)
        if remote_id not in rows:
            raise NotFoundError(f"no entitlement {remote_id!r} in {self.entitlements_file.name}")
        del rows[remote_id]
        self._write(self.entitlements_file, rows, ENTITLEMENT_FIELDS)
        accounts = self._accounts()
        for row in accounts.values():
            row["groups"] = ";".join(g for g in self._groups(row) if g != remote_id)
        self._save_accounts(accounts)

    def list_accounts(self) -> Iterator[dict[str, Any]]:
        for identifier, row in self._accounts().items():
            yield {
                "remote_id": identifier,
                "identifier": identifier,
                "enabled": row.get("enabled") == "1",
                "attributes": {
                    k: row.get(k, "") for k in ("email", "first_name", "last_name", "display_name")
                },
            }

    def list_entitlements(self) -> Iterator[dict[str, Any]]:
        accounts = self._accounts()
        for identifier, row in self._read(self.entitlements_file).items():
            yield {
                "remote_id": identifier,
                "identifier": identifier,
                "name": row.get("name", ""),
                "members": sorted(a for a, r in accounts.items() if identifier in self._groups(r)),
            }
