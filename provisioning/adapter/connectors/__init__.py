"""Connectors: one interface (``base.Connector``) and its implementations, by config ``type``."""

from __future__ import annotations

from typing import Any

from provisioning.adapter.connectors.base import (
    AccountData,
    BadRequestError,
    Connector,
    ConnectorError,
    EntitlementData,
    NotFoundError,
    TransientError,
)

__all__ = [
    "AccountData",
    "BadRequestError",
    "Connector",
    "ConnectorError",
    "EntitlementData",
    "NotFoundError",
    "TransientError",
    "connector_from_settings",
]


def connector_from_settings(settings: dict[str, Any]) -> Connector:
    """The connector a config's ``[connector]`` table describes (``type`` = ldap | csv | sql | rest | scim)."""
    kind = settings.get("type")
    # Each connector is imported when a config names it: an adapter process loads only its own
    # connector's library (ldap3, a database driver, an HTTP client), not every one.
    if kind == "ldap":
        # imported here: see above, the connector's library only when named
        from provisioning.adapter.connectors.ldap import LdapConnector

        return LdapConnector(settings)
    if kind == "csv":
        # imported here: see above, the connector's library only when named
        from provisioning.adapter.connectors.csvfile import CsvConnector

        return CsvConnector(settings)
    if kind == "sql":
        # imported here: see above, the connector's library only when named
        from provisioning.adapter.connectors.sql import SqlConnector

        return SqlConnector(settings)
    if kind == "rest":
        # imported here: see above, the connector's library only when named
        from provisioning.adapter.connectors.rest import RestConnector

        return RestConnector(settings)
    if kind == "scim":
        # imported here: see above, the connector's library only when named
        from provisioning.adapter.connectors.scim import ScimConnector

        return ScimConnector(settings)
    raise ValueError(f"unknown connector type {kind!r} (ldap, csv, sql, rest, scim)")
