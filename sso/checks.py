"""System check: the response signer (``BLAZON_SAML_SIGNER``) is reported at start-up, not at the
first sign-in: an unknown value, or an ``xmlsec`` binding that cannot be imported (typically a
source build linked against another libxml2 than lxml's)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

SIGNERS = ("inprocess", "xmlsec1")


@checks.register()
def check_saml_signer(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    signer = getattr(settings, "BLAZON_SAML_SIGNER", "inprocess") or "inprocess"
    if signer not in SIGNERS:
        return [
            checks.Error(
                f"BLAZON_SAML_SIGNER must be one of {', '.join(SIGNERS)}, not {signer!r}.",
                hint="See docs/sso-saml.md, Signing.",
                id="sso.E001",
            )
        ]
    if signer == "inprocess":
        try:
            # imported here: whether the binding imports at all is what this check finds out
            import xmlsec  # noqa: F401
        except Exception as exc:  # noqa: BLE001 - ImportError, or xmlsec's libxml2 mismatch error
            return [
                checks.Error(
                    f"The xmlsec binding that signs SAML responses cannot be loaded: {exc}",
                    hint="Reinstall with pip install --only-binary lxml,xmlsec (docs/sso-saml.md), "
                    "or set BLAZON_SAML_SIGNER=xmlsec1 meanwhile.",
                    id="sso.E002",
                )
            ]
    return []
