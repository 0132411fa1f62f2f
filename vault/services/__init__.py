"""Vault operations: store, reveal, change and delete secrets; re-wrap data keys after a master
key rotation; release administrative check-outs.

Values are passed in and returned as ``str`` and never written to the audit log or to logs:
audit events name the secret (id, kind, name, owner, account) and what happened to it.
Authorisation (who may reveal which secret) is the caller's job (workspace, console, PAM)."""

from __future__ import annotations

from vault.services.checkouts import (
    _rotate,
    account_password_rotate,
    checkout_open,
    checkout_release,
    checkout_reveal,
    checkouts_release_for_user,
    password_generate,
)
from vault.services.rewrap import RewrapIncomplete, secrets_rewrap
from vault.services.secrets import (
    MAX_VALUE_BYTES,
    _describe,
    _validate,
    logger,
    secret_delete,
    secret_reveal,
    secret_store,
    secret_take_value,
    secret_update,
)

__all__ = [
    "MAX_VALUE_BYTES",
    "RewrapIncomplete",
    "_describe",
    "_rotate",
    "_validate",
    "account_password_rotate",
    "checkout_open",
    "checkout_release",
    "checkout_reveal",
    "checkouts_release_for_user",
    "logger",
    "password_generate",
    "secret_delete",
    "secret_reveal",
    "secret_store",
    "secret_take_value",
    "secret_update",
    "secrets_rewrap",
]
