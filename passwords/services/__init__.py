"""Password management services: change, reset, help desk (``change``), synchronisation to
applications (``sync``) and the configuration the console edits (``config``)."""

from passwords.services.change import (
    PasswordChangeReason,
    password_change,
    password_generate_for,
    password_helpdesk_temporary,
    password_policy_validate,
    password_recorded,
    reset_link_create,
    reset_link_use,
    reset_link_user,
    reset_session_complete,
    reset_session_user,
)
from passwords.services.sync import password_sync_emit, resource_sync_set

__all__ = [
    "PasswordChangeReason",
    "password_change",
    "password_generate_for",
    "password_helpdesk_temporary",
    "password_policy_validate",
    "password_recorded",
    "password_sync_emit",
    "reset_link_create",
    "reset_link_use",
    "reset_link_user",
    "reset_session_complete",
    "reset_session_user",
    "resource_sync_set",
]
