"""System check: a malformed ``BLAZON_VAULT_KEYS`` is reported at start-up, not at first use."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from vault.crypto import parse_vault_keys


@checks.register(checks.Tags.security)
def check_vault_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    raw = getattr(settings, "BLAZON_VAULT_KEYS", "") or ""
    if not raw.strip():
        return []
    try:
        parse_vault_keys(raw)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), hint="See docs/vault.md for the key format.", id="vault.E001")]
    return []
