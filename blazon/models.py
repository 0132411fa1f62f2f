"""Shared kernel models: the hash-chained audit log, API tokens and the work outbox."""

from blazon.api.models import ApiToken
from blazon.audit.models import AuditChainHead, AuditEvent
from blazon.outbox.models import OutboxMessage, WorkCounter

__all__ = ["ApiToken", "AuditChainHead", "AuditEvent", "OutboxMessage", "WorkCounter"]
