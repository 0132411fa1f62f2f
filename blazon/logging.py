"""Log context: a correlation id per web request or task, shown on every log line (and copied
into audit events and provisioning entries as a trace tag). It is a tag, never a key: no code
finds an object through it."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
client_ip_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_ip", default=None)


#: What a caller's correlation id may look like: short, and nothing a log line, a header or a
#: search could misread (no spaces, quotes, newlines or markup).
SAFE_CORRELATION_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def log_correlation_id(incoming: str | None) -> str:
    """The caller's correlation id when it has a safe shape, else a fresh one."""
    if incoming and SAFE_CORRELATION_ID.fullmatch(incoming):
        return incoming
    return new_correlation_id()


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id_var.get() or "-"
        return True
