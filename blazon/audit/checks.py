"""System check: a malformed ``BLAZON_AUDIT_KEYS`` is reported at start-up, not at the first
audited change (which would then fail)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from blazon.audit.keys import parse_audit_keys


@checks.register(checks.Tags.security)
def check_audit_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    raw = getattr(settings, "BLAZON_AUDIT_KEYS", "") or ""
    if not raw.strip():
        return []
    try:
        parse_audit_keys(raw)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), hint="See docs/configuration.md, 'Audit log keys'.", id="blazon.E001")]
    return []
