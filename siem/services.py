"""Configuring SIEM destinations: create, change, delete (audited, validated, secrets in the
vault), and sending a test message.

Secrets (a webhook's header value, a TLS client key) go to the vault as one JSON value per
destination; they are write-only: nothing here returns them, the audit events name which
secrets are set (``secret_keys``), never their values.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from blazon.audit.models import AuditChainHead
from blazon.audit.services import audit_record
from blazon.changes import config_create, config_delete, config_update, field_error
from blazon.errors import Conflict, ValidationFailed
from siem import transports
from siem.formats import cef_message, event_json, rfc5424_message
from siem.models import SYSLOG_TRANSPORTS, Format, SiemDestination, Transport
from vault.models import SecretKind
from vault.services import secret_delete, secret_reveal, secret_store, secret_update

#: what the audit events record of a destination (no secret, no cursor bookkeeping)
FIELDS = (
    "name",
    "transport",
    "format",
    "host",
    "port",
    "url",
    "ca_cert",
    "client_cert",
    "secret_header",
    "secret_keys",
    "enabled",
    "action_prefix",
)
EDITABLE = tuple(f for f in FIELDS if f != "secret_keys")
SECRET_NAMES = ("header_value", "client_key")

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]*$")
CONFLICT = gettext_noop("A SIEM destination with this name already exists.")


def _pem_certs(field: str, text: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(text.encode("utf-8"))
    except ValueError:
        raise field_error(field, _("Not a PEM certificate (-----BEGIN CERTIFICATE----- …).")) from None
    return certs


def _validate(dest: SiemDestination, secrets: dict[str, str]) -> None:
    errors: dict[str, list[str]] = {}

    def err(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    dest.name = (dest.name or "").strip()
    if not dest.name:
        err("name", _("A name is required."))
    elif len(dest.name) > 100:
        err("name", _("100 characters at most."))
    if dest.transport not in Transport.values:
        err("transport", _("One of %(values)s.") % {"values": ", ".join(Transport.values)})
    if dest.format not in Format.values:
        err("format", _("One of %(values)s.") % {"values": ", ".join(Format.values)})
    if dest.transport in SYSLOG_TRANSPORTS:
        dest.host = (dest.host or "").strip()
        if not dest.host:
            err("host", _("A syslog destination needs a host."))
        else:
            try:
                ipaddress.ip_address(dest.host)
            except ValueError:
                if not _HOSTNAME.match(dest.host):
                    err("host", _("Not a host name or IP address."))
        if dest.port is None:
            err("port", _("A syslog destination needs a port."))
        elif not isinstance(dest.port, int) or not 1 <= dest.port <= 65535:
            err("port", _("A port is a number from 1 to 65535."))
        dest.url = ""
    elif dest.transport == Transport.WEBHOOK_HTTPS:
        dest.url = (dest.url or "").strip()
        parts = urlsplit(dest.url)
        if parts.scheme.lower() != "https":
            err(
                "url",
                _("The webhook needs an https:// URL (plain http would expose the events and the secret)."),
            )
        elif not parts.hostname:
            err("url", _("The URL has no host."))
        elif len(dest.url) > 500:
            err("url", _("500 characters at most."))
        elif parts.username or parts.password:
            err("url", _("Put credentials in the secret header, not in the URL."))
        dest.host, dest.port = "", None
    if dest.secret_header and not _HEADER.match(dest.secret_header):
        err("secret_header", _("Not an HTTP header name."))
    if secrets.get("header_value") and not dest.secret_header:
        err("secret_header", _("Name the header the secret value is sent in."))
    if secrets.get("header_value") and any(c in secrets["header_value"] for c in "\r\n"):
        err("header_value", _("A header value is one line."))
    if dest.action_prefix and not _PREFIX.match(dest.action_prefix):
        err("action_prefix", _("Letters, digits and . _ : - only."))
    try:
        if dest.ca_cert.strip():
            _pem_certs("ca_cert", dest.ca_cert)
        if dest.client_cert.strip():
            cert = _pem_certs("client_cert", dest.client_cert)[0]
            key_pem = secrets.get("client_key")
            if key_pem:
                try:
                    key = serialization.load_pem_private_key(key_pem.encode("utf-8"), password=None)
                except (ValueError, TypeError):
                    raise field_error("client_key", _("Not an unencrypted PEM private key.")) from None
                if key.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                ) != cert.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                ):
                    raise field_error("client_key", _("The key does not belong to the client certificate."))
    except ValidationFailed as exc:
        for field, messages in (exc.fields or {}).items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationFailed(_("The SIEM destination is not valid."), fields=errors)


def _apply(dest: SiemDestination, data: dict[str, Any]) -> None:
    for name in EDITABLE:
        if name in data:
            value = data[name]
            if name in ("ca_cert", "client_cert", "host", "url", "secret_header", "action_prefix", "name"):
                value = (value or "").strip()
                if name in ("ca_cert", "client_cert") and value:
                    value += "\n"
            setattr(dest, name, value)


def destination_secrets(dest: SiemDestination) -> dict[str, str]:
    """The destination's secrets from the vault (an audited reveal)."""
    if dest.secret is None:
        return {}
    value: dict[str, str] = json.loads(secret_reveal(actor=None, source="siem", secret=dest.secret))
    return value


def _merge(stored: dict[str, str], given: dict[str, str]) -> dict[str, str]:
    """The secrets after a change: given values replace stored ones, an empty one removes it."""
    now = {**stored, **{k: v for k, v in given.items() if v}}
    for k, v in given.items():
        if not v:
            now.pop(k, None)
    return now


def _secrets_write(
    *, actor: Any, source: str, dest: SiemDestination, stored: dict[str, str], now: dict[str, str]
) -> None:
    """Put the destination's secrets in the vault (store, replace or delete its secret)."""
    if now == stored:
        return
    if not now and dest.secret is not None:
        secret = dest.secret
        dest.secret = None
        dest.save(update_fields=["secret"])
        secret_delete(actor=actor, source=source, secret=secret)
    elif dest.secret is None:
        dest.secret = secret_store(
            actor=actor,
            source=source,
            owner=None,
            kind=SecretKind.APPLICATION_CREDENTIAL,
            name=f"SIEM destination {dest.name}"[:200],
            value=json.dumps(now),
        )
    else:
        secret_update(actor=actor, source=source, secret=dest.secret, value=json.dumps(now))
    dest.secret_keys = sorted(now)


def _given_secrets(data: dict[str, Any]) -> dict[str, str]:
    return {k: data[k] for k in SECRET_NAMES if data.get(k) is not None}


@transaction.atomic
def siem_destination_create(
    *, actor: Any, source: str, forward_history: bool = False, **data: Any
) -> SiemDestination:
    """Add a destination. It forwards the events written from now on, or the whole audit log
    with ``forward_history``."""
    secrets = _merge({}, _given_secrets(data))
    dest = SiemDestination(format=Format.RFC5424)
    _apply(dest, data)
    _validate(dest, secrets)
    if SiemDestination.objects.filter(name=dest.name).exists():
        conflict = _(CONFLICT)
        raise Conflict(conflict, fields={"name": [conflict]})
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    dest.cursor = 0 if forward_history else head
    _secrets_write(actor=actor, source=source, dest=dest, stored={}, now=secrets)
    return config_create(
        dest,
        fields=(*FIELDS, "cursor"),
        actor=actor,
        source=source,
        action="siem_destination.create",
        conflict=CONFLICT,
        conflict_field="name",
    )


@transaction.atomic
def siem_destination_update(
    *, actor: Any, source: str, destination: SiemDestination, data: dict[str, Any]
) -> SiemDestination:
    """Change a destination; secrets given replace the stored ones (an empty one is removed)."""
    given = _given_secrets(data)
    with config_update(
        SiemDestination,
        destination.pk,
        fields=FIELDS,
        actor=actor,
        source=source,
        action="siem_destination.update",
        conflict=CONFLICT,
        conflict_field="name",
    ) as change:
        dest = change.obj
        _apply(dest, data)
        stored = destination_secrets(dest) if (given and dest.secret_id) else {}
        now = _merge(stored, given) if given else {}
        _validate(dest, now if given else {"client_key": "", "header_value": ""})
        if given:
            _secrets_write(actor=actor, source=source, dest=dest, stored=stored, now=now)
        if data.get("enabled"):
            dest.next_attempt_at = None  # switched (back) on: try at once
    return change.obj


@transaction.atomic
def siem_destination_delete(*, actor: Any, source: str, destination: SiemDestination) -> None:
    """Remove a destination and its vault secret; the audit log itself is untouched."""
    dest = SiemDestination.objects.select_for_update().filter(pk=destination.pk).first()
    if dest is None:
        return
    secret = dest.secret

    def drop_secret(obj: SiemDestination) -> None:
        if secret is not None:
            obj.secret = None
            obj.save(update_fields=["secret"])
            secret_delete(actor=actor, source=source, secret=secret)

    config_delete(
        dest,
        fields=FIELDS,
        actor=actor,
        source=source,
        action="siem_destination.delete",
        extra={"cursor": dest.cursor},
        before_delete=drop_secret,
    )


def siem_destination_test(*, actor: Any, source: str, destination: SiemDestination) -> tuple[bool, str]:
    """Send one test message (action ``siem.test``, seq 0) to the destination now; record the
    outcome in the audit log. Returns (accepted, error message)."""
    dest = SiemDestination.objects.get(pk=destination.pk)
    now = timezone.now()
    row = {
        "seq": 0,
        "created_at": now,
        "actor_id": getattr(actor, "pk", None),
        "actor_repr": getattr(actor, "username", "system"),
        "action": "siem.test",
        "object_type": "siem_destination",
        "object_id": str(dest.pk),
        "object_repr": dest.name,
        "subject_user_id": None,
        "old_values": None,
        "new_values": {"test": True},
        "source": source,
        "correlation_id": "",
        "client_ip": None,
        "hash": "",
    }
    error = ""
    try:
        secrets = destination_secrets(dest)
        if dest.transport == Transport.WEBHOOK_HTTPS:
            transports.send_webhook(dest, [event_json(row)], secrets)
        else:
            message = cef_message(row) if dest.format == Format.CEF else rfc5424_message(row)
            transports.send_syslog(dest, [message], secrets)
    except transports.SendFailed as exc:
        error = str(exc)
    audit_record(
        actor=actor,
        action="siem_destination.test",
        obj=dest,
        new={"accepted": not error, "error": error},
        source=source,
    )
    return not error, error
