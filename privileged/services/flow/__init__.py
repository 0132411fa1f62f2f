"""The access flow (seed 003): ask for a credential with a justification and a window, approval
level by level through the worklist, use during the window only, and the end — expiry,
revocation, cancellation — which gives the credential back and rotates its password.

Every service locks the request first, then its tasks; refuses bad input with a clear message
and changes nothing; writes its audit event in the same transaction; queues e-mails for after
the commit."""

from __future__ import annotations

from privileged.services.flow.common import (
    CODE_RE,
    REASON_MAX,
    START_GRACE,
    START_HORIZON,
    _audit,
    _describe,
    _duration,
    _fail,
    _open_level,
    _when,
    all_approvers,
    is_approver,
    level_approvers,
    may_decide,
    window_check,
)
from privileged.services.flow.create import (
    _clean_code,
    _locked,
    access_request_create,
    access_request_emergency,
)
from privileged.services.flow.decide import access_task_decide
from privileged.services.flow.end import (
    _in_window,
    access_request_cancel,
    access_request_revoke,
    access_requests_expire,
    access_reveal,
    due_requests,
    end_for_leaver,
)

__all__ = [
    "CODE_RE",
    "REASON_MAX",
    "START_GRACE",
    "START_HORIZON",
    "_audit",
    "_clean_code",
    "_describe",
    "_duration",
    "_fail",
    "_in_window",
    "_locked",
    "_open_level",
    "_when",
    "access_request_cancel",
    "access_request_create",
    "access_request_emergency",
    "access_request_revoke",
    "access_requests_expire",
    "access_reveal",
    "access_task_decide",
    "all_approvers",
    "due_requests",
    "end_for_leaver",
    "is_approver",
    "level_approvers",
    "may_decide",
    "window_check",
]
