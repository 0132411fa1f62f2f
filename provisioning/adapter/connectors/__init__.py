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
    if kind == "ldap":
        from provisioning.adapter.connectors.ldap import LdapConnector

        return LdapConnector(settings)
    if kind == "csv":
        from provisioning.adapter.connectors.csvfile import CsvConnector

        return CsvConnector(settings)
    if kind == "sql":
        from provisioning.adapter.connectors.sql import SqlConnector

        return SqlConnector(settings)
    if kind == "rest":
        from provisioning.adapter.connectors.rest import RestConnector

        return RestConnector(settings)
    if kind == "scim":
        from provisioning.adapter.connectors.scim import ScimConnector

        return ScimConnector(settings)
    raise ValueError(f"unknown connector type {kind!r} (ldap, csv, sql, rest, scim)")
