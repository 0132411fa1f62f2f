"""Shared kernel models: the hash-chained audit log and API tokens."""

from blazon.audit.models import AuditChainHead, AuditEvent
from blazon.api.models import ApiToken

__all__ = ["ApiToken", "AuditChainHead", "AuditEvent"]
