"""Configuring a resource's in-process adapter (the embedded runner, ``provisioning.runner``).

An administrator picks the connector type and its settings per resource. Settings whose name
says they are secret (passwords, tokens, DSNs) go to the vault, with the adapter's RSA private
key, in one ``APPLICATION_CREDENTIAL`` secret; the row keeps only their names, and the console
never shows them back (an empty field keeps the stored value). The adapter's client is an
ordinary ``AdapterClient`` bound to the resource, so scope, leases and health work as for an
adapter process."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import NotAllowed, ValidationFailed
from blazon.permissions import can
from directory.models import Resource
from provisioning.adapter.connectors import connector_from_settings
from provisioning.models import ConnectorType, InProcessAdapter
from provisioning.services.adapter import adapter_client_register
from vault.models import SecretKind
from vault.services import secret_reveal, secret_store, secret_update

#: The settings of each connector that are secrets: kept in the vault, never shown back.
SECRET_SETTINGS: dict[str, tuple[str, ...]] = {
    ConnectorType.CSV: (),
    ConnectorType.LDAP: ("password",),
    ConnectorType.SQL: ("dsn",),
    ConnectorType.REST: ("auth_token",),
}
MAX_SETTINGS_BYTES = 64 * 1024


def inprocess_dir() -> Path:
    """Where in-process adapters keep their journals (``adapters/``) and CSV files (``apps/``)."""
    return Path(getattr(settings, "BLAZON_INPROCESS_DIR", None) or settings.BASE_DIR / "var")


def _clean(
    connector_type: Any, settings: Any, secret_settings: Any, errors: dict[str, list[str]]
) -> tuple[dict[str, Any], dict[str, str]]:
    if connector_type not in ConnectorType.values:
        errors["connector_type"] = [
            gettext("One of %(values)s.") % {"values": ", ".join(ConnectorType.values)}
        ]
    if not isinstance(settings, dict):
        errors["settings"] = [gettext("A JSON object of setting names and values.")]
        settings = {}
    elif len(json.dumps(settings)) > MAX_SETTINGS_BYTES:
        errors["settings"] = [gettext("Too large (64 KiB at most).")]
    if not isinstance(secret_settings, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in secret_settings.items()
    ):
        errors["secret_settings"] = [gettext("A JSON object of setting names and text values.")]
        secret_settings = {}
    secret_names = SECRET_SETTINGS.get(connector_type, ())
    in_clear = sorted(k for k in settings if k in secret_names)
    if in_clear:
        errors["settings"] = [
            gettext("%(in_clear)s: a secret setting belongs in the secret settings field.")
            % {"in_clear": ", ".join(in_clear)}
        ]
    unknown = sorted(k for k in secret_settings if k not in secret_names)
    if unknown:
        allowed = ", ".join(secret_names) or "none"
        errors["secret_settings"] = [
            gettext("%(unknown)s: not a secret setting of this connector (%(allowed)s).")
            % {"unknown": ", ".join(unknown), "allowed": allowed}
        ]
    for key in ("type", "password_env", "dsn_env", "auth_env"):
        if key in settings:
            errors.setdefault("settings", []).append(
                gettext("%(key)s is not used by the in-process adapter.") % {"key": key}
            )
    directory = settings.get("directory")
    if connector_type == ConnectorType.CSV and directory is None:
        errors["settings"] = [gettext("directory: the folder under var/apps/ the CSV files go to.")]
    elif connector_type == ConnectorType.CSV:
        path = PurePosixPath(str(directory))
        if not str(directory).strip() or path.is_absolute() or ".." in path.parts:
            errors["settings"] = [gettext("directory: a relative path under var/apps/, without '..'.")]
    return settings, {k: v for k, v in secret_settings.items() if v != ""}


def _generate_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def inprocess_vault_values(adapter: InProcessAdapter) -> dict[str, Any]:
    """The adapter's private key and secret settings, from the vault (an audited reveal)."""
    if adapter.secret is None:
        return {"private_key": "", "settings": {}}
    values: dict[str, Any] = json.loads(secret_reveal(actor=None, source="adapter", secret=adapter.secret))
    return values


def inprocess_connector_settings(
    adapter: InProcessAdapter, secret_settings: dict[str, str]
) -> dict[str, Any]:
    """What ``connector_from_settings`` gets: the settings, the secrets, the type; a CSV
    directory is resolved under ``<var>/apps/``."""

    merged: dict[str, Any] = {**adapter.settings, **secret_settings, "type": adapter.connector_type}
    if adapter.connector_type == ConnectorType.CSV:
        merged["directory"] = str(inprocess_dir() / "apps" / str(adapter.settings.get("directory", "")))
    return merged


@transaction.atomic
def inprocess_adapter_configure(
    *,
    actor: Any,
    source: str,
    resource: Resource,
    connector_type: str,
    settings: dict[str, Any],
    secret_settings: dict[str, str] | None = None,
    clear_secrets: list[str] | None = None,
    initial_passwords: bool = False,
    enabled: bool = True,
) -> InProcessAdapter:
    """Create or change the in-process adapter of ``resource``. ``secret_settings`` given with
    an empty value keep what is stored; ``clear_secrets`` names the ones to forget. Checked
    whole (the connector must accept the settings) before anything is saved."""
    if not can(actor, "manage_config"):
        raise NotAllowed(gettext("Only an administrator may configure a resource's in-process adapter."))
    errors: dict[str, list[str]] = {}
    settings, given = _clean(connector_type, settings, secret_settings or {}, errors)
    if errors:
        raise ValidationFailed(gettext("The in-process adapter is not valid."), fields=errors)
    # the resource's row serialises two administrators configuring it at the same time
    Resource.objects.select_for_update().filter(pk=resource.pk).first()
    adapter = InProcessAdapter.objects.select_related("secret").filter(resource=resource).first()
    stored = inprocess_vault_values(adapter) if adapter is not None else {"private_key": "", "settings": {}}
    secrets_now = {
        **{k: v for k, v in stored["settings"].items() if k not in set(clear_secrets or [])},
        **given,
    }
    secrets_now = {k: v for k, v in secrets_now.items() if k in SECRET_SETTINGS[connector_type]}
    probe = InProcessAdapter(resource=resource, connector_type=connector_type, settings=settings)
    try:
        connector_from_settings(inprocess_connector_settings(probe, secrets_now)).close()
    except KeyError as exc:
        raise ValidationFailed(
            gettext("The %(connector_type)s connector needs the setting %(args)s.")
            % {"connector_type": connector_type, "args": exc.args[0]},
            fields={"settings": [gettext("%(args)s is required.") % {"args": exc.args[0]}]},
        ) from None
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            gettext("The %(connector_type)s connector refuses these settings: %(exc)s")
            % {"connector_type": connector_type, "exc": exc},
            fields={"settings": [str(exc)]},
        ) from None
    old = None
    if adapter is None:
        private, public = _generate_key()
        client, _, _ = adapter_client_register(
            actor=actor,
            source=source,
            name=f"in-process:{resource.code}",
            resources=[resource],
            public_key=public,
        )
        vault_value = json.dumps({"private_key": private, "settings": secrets_now})
        secret = secret_store(
            actor=actor,
            source=source,
            owner=None,
            kind=SecretKind.APPLICATION_CREDENTIAL,
            name=f"in-process adapter of {resource.code}"[:200],
            value=vault_value,
        )
        adapter = InProcessAdapter(resource=resource, client=client, secret=secret)
    else:
        old = _describe(adapter)
        if secrets_now != stored["settings"]:
            assert adapter.secret is not None
            secret_update(
                actor=actor,
                source=source,
                secret=adapter.secret,
                value=json.dumps({"private_key": stored["private_key"], "settings": secrets_now}),
            )
    adapter.connector_type = connector_type
    adapter.settings = settings
    adapter.secret_keys = sorted(secrets_now)
    adapter.initial_passwords = bool(initial_passwords)
    adapter.enabled = bool(enabled)
    adapter.save()
    audit_record(
        actor=actor,
        action="provisioning.inprocess_adapter_configured",
        obj=resource,
        old=old,
        new=_describe(adapter),
        source=source,
    )
    return adapter


def _describe(adapter: InProcessAdapter) -> dict[str, Any]:
    return {
        "connector_type": adapter.connector_type,
        "settings": adapter.settings,
        "vault_held_settings": adapter.secret_keys,  # names only ("secret…" keys are masked)
        "initial_passwords": adapter.initial_passwords,
        "enabled": adapter.enabled,
    }
