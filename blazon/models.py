"""Shared kernel models: the hash-chained audit log and API tokens."""

from blazon.api.models import ApiToken
from blazon.audit.models import AuditChainHead, AuditEvent

__all__ = ["ApiToken", "AuditChainHead", "AuditEvent"]
