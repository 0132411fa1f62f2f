"""Service-provider configuration: create, update, delete and import from SP metadata, each
validated whole (nothing is saved when anything is wrong) and audited."""

from __future__ import annotations

import binascii
import re
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext

from blazon.changes import config_create, config_delete, config_update
from blazon.errors import Conflict, ValidationFailed
from sso.models import (
    BINDING_POST,
    BINDING_REDIRECT,
    AccessRule,
    AttributeNameFormat,
    NameIDFormat,
    ServiceProvider,
)

FIELDS = (
    "name",
    "entity_id",
    "enabled",
    "description",
    "acs_endpoints",
    "slo_url",
    "slo_binding",
    "slo_timeout_seconds",
    "certificate",
    "require_signed_requests",
    "nameid_format",
    "attribute_mapping",
    "attribute_name_format",
    "access_rule",
    "resource",
    "role",
    "launch_url",
)
USER_FIELDS = (
    "username",
    "email",
    "first_name",
    "last_name",
    "display_name",
    "job_title",
    "department",
    "employee_type",
    "organization",
)
ACS_BINDINGS = {BINDING_POST}
SLO_BINDINGS = {BINDING_REDIRECT, BINDING_POST}
MAX_SLO_TIMEOUT = 300
_ATTR_NAME = re.compile(r"^[A-Za-z0-9_.:/\-]{1,256}$")
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"


def _url_ok(value: str, *, allow_http: bool) -> bool:
    parts = urlsplit(value)
    schemes = {"https", "http"} if allow_http else {"https"}
    return parts.scheme in schemes and bool(parts.netloc) and not parts.username and not parts.password


def _allow_http() -> bool:
    return not getattr(settings, "PRODUCTION", False) or getattr(settings, "BLAZON_SAML_ALLOW_HTTP", False)


def normalize_certificate(pem: str) -> str:
    """A PEM certificate from PEM text or bare base64; raises ValueError when it is not one."""
    text = (pem or "").strip()
    if not text:
        return ""
    if "-----BEGIN CERTIFICATE-----" not in text:
        body = re.sub(r"\s+", "", text)
        text = "-----BEGIN CERTIFICATE-----\n" + "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        text += "\n-----END CERTIFICATE-----"
    cert = x509.load_pem_x509_certificate(text.encode())

    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _validate(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out = dict(data)
    allow_http = _allow_http()
    name = (data.get("name") or "").strip()
    if not name:
        errors.setdefault("name", []).append(gettext("A name is required."))
    elif len(name) > 200:
        errors.setdefault("name", []).append(gettext("The name is too long (200 characters at most)."))
    out["name"] = name
    entity_id = (data.get("entity_id") or "").strip()
    if not entity_id:
        errors.setdefault("entity_id", []).append(gettext("The SP's entity id is required."))
    elif len(entity_id) > 1024 or any(c.isspace() for c in entity_id):
        errors.setdefault("entity_id", []).append(
            gettext("The entity id must be a URI without spaces (1024 characters at most).")
        )
    out["entity_id"] = entity_id
    acs = data.get("acs_endpoints") or []
    clean_acs = []
    if not isinstance(acs, list) or not acs:
        errors.setdefault("acs_endpoints", []).append(
            gettext("At least one assertion consumer service URL is required.")
        )
    else:
        for i, item in enumerate(acs):
            url = (item.get("url") or "").strip() if isinstance(item, dict) else ""
            binding = (item.get("binding") or BINDING_POST) if isinstance(item, dict) else ""
            if not _url_ok(url, allow_http=allow_http):
                errors.setdefault("acs_endpoints", []).append(
                    f"{url or '(empty)'} is not an absolute {'http(s)' if allow_http else 'https'} URL."
                )
            elif binding not in ACS_BINDINGS:
                errors.setdefault("acs_endpoints", []).append(
                    f"{url}: Blazon answers on the HTTP-POST binding only (the Web SSO profile does not allow "
                    "responses over HTTP-Redirect)."
                )
            else:
                index = item.get("index", i) if isinstance(item, dict) else i
                try:
                    index = int(index)
                except (TypeError, ValueError):
                    index = i
                clean_acs.append({"url": url, "binding": binding, "index": index})
    out["acs_endpoints"] = clean_acs
    slo_url = (data.get("slo_url") or "").strip()
    if slo_url and not _url_ok(slo_url, allow_http=allow_http):
        errors.setdefault("slo_url", []).append(
            gettext("The single logout URL must be an absolute https URL.")
        )
    out["slo_url"] = slo_url
    slo_binding = data.get("slo_binding") or BINDING_REDIRECT
    if slo_binding not in SLO_BINDINGS:
        errors.setdefault("slo_binding", []).append(gettext("Unknown binding."))
    out["slo_binding"] = slo_binding
    timeout = data.get("slo_timeout_seconds") or 0
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 0 <= timeout <= MAX_SLO_TIMEOUT:
        errors.setdefault("slo_timeout_seconds", []).append(
            gettext("Give a number of seconds from 0 (no limit) to %(max)s.") % {"max": MAX_SLO_TIMEOUT}
        )
        timeout = 0
    out["slo_timeout_seconds"] = timeout
    try:
        out["certificate"] = normalize_certificate(data.get("certificate") or "")
    except ValueError:
        errors.setdefault("certificate", []).append(
            gettext("This is not a PEM (or base64 DER) X.509 certificate.")
        )
        out["certificate"] = ""
    out["require_signed_requests"] = bool(data.get("require_signed_requests"))
    if out["require_signed_requests"] and not out["certificate"] and "certificate" not in errors:
        errors.setdefault("certificate", []).append(
            gettext("Signed requests can only be required with the SP's certificate.")
        )
    if data.get("nameid_format") not in NameIDFormat.values:
        errors.setdefault("nameid_format", []).append(gettext("Choose a NameID format."))
    out["attribute_name_format"] = data.get("attribute_name_format") or AttributeNameFormat.AUTO
    if out["attribute_name_format"] not in AttributeNameFormat.values:
        errors.setdefault("attribute_name_format", []).append(gettext("Choose an attribute name format."))
    mapping = data.get("attribute_mapping") or {}
    if not isinstance(mapping, dict):
        errors.setdefault("attribute_mapping", []).append(
            gettext("The attribute mapping must map names to user fields.")
        )
        mapping = {}
    for attr, source in mapping.items():
        if not isinstance(attr, str) or not _ATTR_NAME.match(attr):
            errors.setdefault("attribute_mapping", []).append(f"{attr!r} is not a valid SAML attribute name.")
        elif not isinstance(source, str) or not (
            source in USER_FIELDS or (source.startswith("attributes.") and len(source) > len("attributes."))
        ):
            errors.setdefault("attribute_mapping", []).append(
                f"{attr}: {source!r} is not a user field ({', '.join(USER_FIELDS)}) or attributes.<name>."
            )
    out["attribute_mapping"] = mapping
    rule = data.get("access_rule")
    if rule not in AccessRule.values:
        errors.setdefault("access_rule", []).append(gettext("Choose who may use this application."))
    elif rule == AccessRule.RESOURCE_ACCOUNT and not data.get("resource"):
        errors.setdefault("resource", []).append(
            gettext("Choose the resource whose active account holders may sign in.")
        )
    elif rule == AccessRule.ROLE_MEMBER and not data.get("role"):
        errors.setdefault("role", []).append(gettext("Choose the role whose members may sign in."))
    if rule != AccessRule.RESOURCE_ACCOUNT:
        out["resource"] = None
    if rule != AccessRule.ROLE_MEMBER:
        out["role"] = None
    launch = (data.get("launch_url") or "").strip()
    if launch and (len(launch) > 80 or any(c.isspace() for c in launch)):
        errors.setdefault("launch_url", []).append(
            gettext("The RelayState sent on launch must be 80 bytes at most, no spaces.")
        )
    out["launch_url"] = launch
    out["enabled"] = bool(data.get("enabled", True))
    out["description"] = (data.get("description") or "").strip()
    if errors:
        raise ValidationFailed(gettext("The service provider is not valid."), fields=errors)
    return out


def _entity_taken() -> Conflict:
    return Conflict(
        gettext("A service provider with this entity id exists."),
        fields={"entity_id": [gettext("Already registered.")]},
    )


@transaction.atomic
def service_provider_create(*, actor: Any, source: str, data: dict[str, Any]) -> ServiceProvider:
    """Register an application that delegates its login to Blazon."""
    clean = _validate(data)
    if ServiceProvider.objects.filter(entity_id=clean["entity_id"]).exists():
        raise _entity_taken()
    sp = ServiceProvider(**{k: clean.get(k) for k in FIELDS})
    return config_create(
        sp, fields=FIELDS, actor=actor, source=source, action="sso.saml.sp.created", conflict=_entity_taken()
    )


@transaction.atomic
def service_provider_update(
    *, actor: Any, source: str, sp: ServiceProvider, data: dict[str, Any]
) -> ServiceProvider:
    """Change an SP's configuration; records the fields that changed."""
    with config_update(
        ServiceProvider,
        sp.pk,
        fields=FIELDS,
        actor=actor,
        source=source,
        action="sso.saml.sp.updated",
        conflict=_entity_taken(),
    ) as change:
        clean = _validate(data)
        if ServiceProvider.objects.filter(entity_id=clean["entity_id"]).exclude(pk=sp.pk).exists():
            raise _entity_taken()
        for key in FIELDS:
            setattr(change.obj, key, clean.get(key))
    return change.obj


@transaction.atomic
def service_provider_delete(*, actor: Any, source: str, sp: ServiceProvider) -> None:
    """Remove an SP: its users can no longer sign in to it; persistent NameIDs go with it."""
    locked = ServiceProvider.objects.select_for_update().filter(pk=sp.pk).first()
    if locked is None:
        return
    config_delete(locked, fields=FIELDS, actor=actor, source=source, action="sso.saml.sp.deleted")


def parse_sp_metadata(xml: str | bytes) -> dict[str, Any]:
    """The configuration an SP's metadata declares (entity id, ACS, SLO, signing certificate,
    NameID format, whether it signs its requests). Raises ValidationFailed on anything else."""
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    if not xml.strip():
        raise ValidationFailed(
            gettext("Paste or upload the SP's metadata XML."), fields={"metadata": [gettext("Required.")]}
        )
    if len(xml) > 512 * 1024:
        raise ValidationFailed(
            gettext("The metadata is too large (512 KiB at most)."),
            fields={"metadata": [gettext("Too large.")]},
        )
    try:
        root = SafeET.fromstring(xml, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        raise ValidationFailed(
            gettext("The metadata is not well-formed XML (%(error)s).") % {"error": exc},
            fields={"metadata": [gettext("Not XML.")]},
        ) from None
    if root.tag == f"{{{MD}}}EntitiesDescriptor":
        entities = root.findall(f"{{{MD}}}EntityDescriptor")
        if len(entities) != 1:
            raise ValidationFailed(
                gettext("The metadata must describe exactly one service provider."),
                fields={"metadata": [gettext("Several entities.")]},
            )
        root = entities[0]
    if root.tag != f"{{{MD}}}EntityDescriptor":
        raise ValidationFailed(
            gettext("This is not SAML 2.0 metadata (no EntityDescriptor)."),
            fields={"metadata": [gettext("Not metadata.")]},
        )
    spsso = root.find(f"{{{MD}}}SPSSODescriptor")
    if spsso is None:
        raise ValidationFailed(
            gettext("The metadata has no SPSSODescriptor (is it an IdP's?)."),
            fields={"metadata": [gettext("Not an SP.")]},
        )
    acs = []
    for i, el in enumerate(spsso.findall(f"{{{MD}}}AssertionConsumerService")):
        if el.get("Binding") == BINDING_POST:
            acs.append(
                {"url": el.get("Location", ""), "binding": BINDING_POST, "index": int(el.get("index") or i)}
            )
    if not acs:
        raise ValidationFailed(
            gettext("The metadata declares no assertion consumer service on the HTTP-POST binding."),
            fields={"metadata": [gettext("No HTTP-POST ACS.")]},
        )
    acs.sort(key=lambda a: a["index"])
    slo_url, slo_binding = "", BINDING_REDIRECT
    for el in spsso.findall(f"{{{MD}}}SingleLogoutService"):
        if el.get("Binding") in SLO_BINDINGS:
            slo_url, slo_binding = el.get("Location", ""), el.get("Binding")
            break
    cert = ""
    for kd in spsso.findall(f"{{{MD}}}KeyDescriptor"):
        if kd.get("use") in (None, "signing"):
            el = kd.find(f".//{{{DS}}}X509Certificate")
            if el is not None and el.text:
                try:
                    cert = normalize_certificate(el.text)
                except (ValueError, binascii.Error):
                    raise ValidationFailed(
                        gettext("The SP's signing certificate in the metadata is not valid."),
                        fields={"metadata": [gettext("Bad certificate.")]},
                    ) from None
                break
    formats = [el.text.strip() for el in spsso.findall(f"{{{MD}}}NameIDFormat") if el.text]
    nameid = next((f for f in formats if f in NameIDFormat.values), NameIDFormat.PERSISTENT)
    signed = (spsso.get("AuthnRequestsSigned") or "").lower() == "true"
    return {
        "entity_id": root.get("entityID", ""),
        "acs_endpoints": acs,
        "slo_url": slo_url,
        "slo_binding": slo_binding,
        "certificate": cert,
        "require_signed_requests": signed and bool(cert),
        "nameid_format": nameid,
    }
