"""The one interface every connector implements, and its typed errors.

A connector speaks to one application. It knows nothing about entries, leases or the core:
the runtime turns an entry into one call here and the call's outcome into a report. Remote
ids are the application's own identifiers (an LDAP DN, a row key); the runtime keeps them in
its link table and hands them back on later calls.

Errors say what the runtime should do, not what went wrong inside the library:

* ``TransientError``: the application is unreachable or busy — retry later (back-off);
* ``BadRequestError``: the application refused this change (invalid attribute, schema
  violation, no permission) — retrying will not help: fail this entry, keep going;
* ``NotFoundError``: the object is not in the application — gone (a delete or revoke is then
  already done; anything else fails the entry and forgets the link).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


class ConnectorError(Exception):
    """Base of the typed errors a connector raises."""


class TransientError(ConnectorError):
    """Try again later: the application is down, busy or the connection broke."""


class BadRequestError(ConnectorError):
    """The application refused this change; retrying the same change cannot succeed."""


class NotFoundError(ConnectorError):
    """The account or entitlement the change is about does not exist in the application."""


@dataclass
class AccountData:
    """What the core told us about an account and its owner (a flat view for mappings)."""

    identifier: str
    username: str = ""
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    display_name: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)

    def context(self) -> dict[str, Any]:
        """Values an attribute mapping may use: account attributes first, then the fixed fields."""
        return {
            **{k: v for k, v in self.attributes.items() if isinstance(k, str)},
            "identifier": self.identifier,
            "username": self.username or self.identifier,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "display_name": self.display_name,
        }


@dataclass
class EntitlementData:
    """What the core told us about an entitlement (an LDAP group, a role in an application)."""

    identifier: str
    name: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)


class Connector(ABC):
    """Create, change and list accounts and entitlements in one application.

    Every method is idempotent where the application allows it: creating what already exists
    updates it, granting a membership held already, or deleting what is gone, succeeds. A
    create or update returns the remote id (it may change, e.g. when an LDAP entry moves)."""

    # --- ids for objects the link table does not know yet -----------------------------------
    @abstractmethod
    def account_remote_id(self, identifier: str) -> str:
        """The remote id an account with this identifier has (or would have) in the application."""

    @abstractmethod
    def entitlement_remote_id(self, identifier: str) -> str:
        """The remote id an entitlement with this identifier has (or would have)."""

    # --- accounts ----------------------------------------------------------------------------
    @abstractmethod
    def create_account(self, account: AccountData, *, password: str | None = None) -> str: ...

    @abstractmethod
    def update_account(self, remote_id: str, account: AccountData) -> str: ...

    @abstractmethod
    def enable_account(self, remote_id: str) -> str: ...

    @abstractmethod
    def disable_account(self, remote_id: str) -> str: ...

    @abstractmethod
    def delete_account(self, remote_id: str) -> None: ...

    @abstractmethod
    def set_password(self, remote_id: str, password: str) -> None: ...

    # --- memberships -------------------------------------------------------------------------
    @abstractmethod
    def grant(self, account_remote_id: str, entitlement_remote_id: str) -> None: ...

    @abstractmethod
    def revoke(self, account_remote_id: str, entitlement_remote_id: str) -> None: ...

    # --- entitlements ------------------------------------------------------------------------
    @abstractmethod
    def create_entitlement(self, entitlement: EntitlementData) -> str: ...

    @abstractmethod
    def update_entitlement(self, remote_id: str, entitlement: EntitlementData) -> str: ...

    @abstractmethod
    def delete_entitlement(self, remote_id: str) -> None: ...

    # --- for reconciliation ------------------------------------------------------------------
    @abstractmethod
    def list_accounts(self) -> Iterator[dict[str, Any]]:
        """Every account: ``{"remote_id", "identifier", "enabled", "attributes"}``."""

    @abstractmethod
    def list_entitlements(self) -> Iterator[dict[str, Any]]:
        """Every entitlement: ``{"remote_id", "identifier", "members": [account remote ids]}``."""

    def take_issued_credentials(self) -> list[tuple[str, str]]:
        """Credentials the application issued during the last call (``(name, value)``, e.g. the
        API key of a new application account), handed over once: the runtime stores them in
        Blazon's vault. Most applications issue none."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook, most connectors hold nothing
        """Release connections (the runtime calls it on stop)."""
