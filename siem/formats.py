"""How an audit event is written for a SIEM: a JSON object, an RFC 5424 syslog message (the
JSON in MSG) or a CEF record in an RFC 5424 message; and the framing of the transports.

Audit events carry no secrets (``blazon.audit.services.redact`` ran when they were written);
the values are passed through ``redact`` once more here, so a key named like a secret never
leaves even if an event was written by other means.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from blazon.audit.chain import HASHED_FIELDS
from blazon.audit.services import redact

#: RFC 5424 facility 13 ("log audit") and severity 5 ("notice"): PRI = 13 * 8 + 5
FACILITY = 13
SEVERITY = 5
APP_NAME = "blazon"
#: RFC 5424 SD-ID; 32473 is the private enterprise number reserved for examples (RFC 5612)
SD_ID = "blazon@32473"
CEF_VENDOR = "Blazon"
CEF_PRODUCT = "Blazon IGA"
CEF_VERSION = "1"
CEF_SEVERITY = 3

# the columns of AuditEvent the forwarder reads: those the hash chain covers, with the event's
# own hash instead of the previous one's
EVENT_FIELDS = (*(f for f in HASHED_FIELDS if f != "prev_hash"), "hash")
EVENT_FIELDS = (
    "seq",
    "created_at",
    "actor_id",
    "actor_repr",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "subject_user_id",
    "old_values",
    "new_values",
    "source",
    "correlation_id",
    "client_ip",
    "hash",
)

_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")


def event_json(row: dict[str, Any], *, time: str | None = None) -> dict[str, Any]:
    """The event as the webhook and the RFC 5424 MSG carry it (``time``: its RFC 3339 time,
    when the caller has it already)."""
    return {
        "seq": row["seq"],
        "time": time or rfc3339(row["created_at"]),
        "action": row["action"],
        "actor": row["actor_repr"] or "system",
        "actor_id": row["actor_id"],
        "object_type": row["object_type"],
        "object_id": row["object_id"],
        "object": row["object_repr"],
        "subject_user_id": row["subject_user_id"],
        "old": redact(row["old_values"]) if isinstance(row["old_values"], dict) else row["old_values"],
        "new": redact(row["new_values"]) if isinstance(row["new_values"], dict) else row["new_values"],
        "source": row["source"],
        "correlation_id": row["correlation_id"],
        "client_ip": row["client_ip"],
        "hash": row["hash"],
    }


def rfc3339(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds (RFC 5424 allows six fractional digits)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _header_token(value: str, limit: int) -> str:
    """An RFC 5424 header field: printable US-ASCII without spaces, at most ``limit``, or "-"."""
    token = _PRINTUSASCII.sub("_", value)[:limit]
    return token or "-"


def sd_escape(value: str) -> str:
    """RFC 5424 section 6.3.3: in a PARAM-VALUE, '"', '\\' and ']' are escaped with '\\'."""
    if "\\" not in value and '"' not in value and "]" not in value:
        return value
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_header(*, action: str, time: str) -> str:
    pri = FACILITY * 8 + SEVERITY
    hostname = _header_token(settings.BLAZON_SIEM_HOSTNAME, 255)
    return f"<{pri}>1 {time} {hostname} {APP_NAME} - {_header_token(action, 32)}"


def rfc5424_message(row: dict[str, Any]) -> str:
    """``<PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [SD] MSG``: MSGID the action, SD the event's
    place (seq, actor, object, source, correlation id), MSG the event as JSON. The JSON is
    ASCII (non-ASCII escaped), so MSG needs no BOM (RFC 5424 6.4)."""
    params = {
        "seq": str(row["seq"]),
        "action": row["action"],
        "actor": row["actor_repr"] or "system",
        "object": f"{row['object_type']}:{row['object_id']}",
        "source": row["source"],
        "cid": row["correlation_id"] or "",
    }
    sd = "[" + SD_ID + "".join(f' {k}="{sd_escape(str(v))}"' for k, v in params.items()) + "]"
    time = rfc3339(row["created_at"])
    msg = json.dumps(event_json(row, time=time), separators=(",", ":"), ensure_ascii=True, default=str)
    return f"{syslog_header(action=row['action'], time=time)} {sd} {msg}"


def cef_header_escape(value: str) -> str:
    """CEF header fields: '\\' and '|' escaped; a line break is not allowed (a space)."""
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def cef_ext_escape(value: str) -> str:
    """CEF extension values: '\\' and '=' escaped, line breaks as \\n and \\r."""
    return value.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def cef_record(row: dict[str, Any]) -> str:
    """``CEF:0|Blazon|Blazon IGA|1|<action>|<action> <object>|3|extension``."""
    created: datetime = row["created_at"]
    name = f"{row['action']} {row['object_type']} {row['object_repr'] or row['object_id']}"
    event = event_json(row)
    changes = {"old": event["old"], "new": event["new"]}
    ext: list[tuple[str, Any]] = [
        ("rt", int(created.timestamp() * 1000)),
        ("act", row["action"]),
        ("suser", row["actor_repr"] or "system"),
        ("suid", row["actor_id"]),
        ("duid", row["subject_user_id"]),
        ("src", row["client_ip"]),
        ("externalId", row["seq"]),
        ("cs1Label", "objectType"),
        ("cs1", row["object_type"]),
        ("cs2Label", "objectId"),
        ("cs2", row["object_id"]),
        ("cs3Label", "object"),
        ("cs3", row["object_repr"]),
        ("cs4Label", "source"),
        ("cs4", row["source"]),
        ("cs5Label", "correlationId"),
        ("cs5", row["correlation_id"]),
        ("cs6Label", "changes"),
        ("cs6", json.dumps(changes, separators=(",", ":"), ensure_ascii=False, default=str)),
    ]
    extension = " ".join(f"{k}={cef_ext_escape(str(v))}" for k, v in ext if v not in (None, ""))
    header = "|".join(
        cef_header_escape(str(x))
        for x in (CEF_VENDOR, CEF_PRODUCT, CEF_VERSION, row["action"], name[:512], CEF_SEVERITY)
    )
    return f"CEF:0|{header}|{extension}"


def cef_message(row: dict[str, Any]) -> str:
    """A CEF record as the MSG of an RFC 5424 message (no structured data)."""
    return f"{syslog_header(action=row['action'], time=rfc3339(row['created_at']))} - {cef_record(row)}"


def octet_frame(message: bytes) -> bytes:
    """RFC 6587 3.4.1 / RFC 5425 4.3: ``MSG-LEN SP SYSLOG-MSG``."""
    return str(len(message)).encode("ascii") + b" " + message


def udp_datagram(message: str, limit: int) -> bytes:
    """One datagram (RFC 5426): the message, cut to ``limit`` bytes (at a character boundary)."""
    data = message.encode("utf-8")
    if len(data) <= limit:
        return data
    return data[:limit].decode("utf-8", errors="ignore").encode("utf-8")
