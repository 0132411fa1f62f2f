"""Domain errors raised by services. Views and the API turn them into clear messages."""

from __future__ import annotations


class DomainError(Exception):
    """A rule refused the operation; nothing was changed."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code


class ValidationFailed(DomainError):
    code = "validation_failed"


class TransitionNotAllowed(DomainError):
    code = "transition_not_allowed"
    status = 409


class Conflict(DomainError):
    code = "conflict"
    status = 409


class NotAllowed(DomainError):
    code = "permission_denied"
    status = 403
