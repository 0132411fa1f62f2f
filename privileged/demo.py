"""Privileged access in the demo company (``load_demo`` calls it): the production database's
``postgres`` administrative account and a shared operations account, an access group for the
production DBAs with two approval levels (the head of IT, then the account's responsible), a
governance code required and emergency access allowed, and a request in each status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from directory.models import AccountType, ProvisioningEvent, ProvisioningMode, User
from directory.services import access, config
from privileged.models import AccessRequest
from privileged.services.flow import (
    access_request_cancel,
    access_request_create,
    access_request_revoke,
    access_requests_expire,
    access_reveal,
)
from privileged.services.groups import access_group_create
from vault.services import password_generate, secret_store
from worklist.models import Task, TaskStatus
from worklist.services import task_decide

SOURCE = "console"


def _decide(req: AccessRequest, who: User, decision: str = "approve", comment: str = "") -> None:
    task = Task.objects.get(subject_kind="access_request", subject_id=req.pk, status=TaskStatus.OPEN)
    task_decide(actor=who, source=SOURCE, task=task, decision=decision, comment=comment)


def load_privileged_demo(*, admin: User, head: User, dbas: list[User]) -> int:
    """Build it; returns how many access requests were made. ``head`` approves level 1; the
    ``postgres`` account's responsible (``admin``) approves level 2; ``dbas`` (at least three) ask."""
    modes = {event: ProvisioningMode.DISABLED for event in ProvisioningEvent.values}
    modes[ProvisioningEvent.CHANGE_PASSWORD] = ProvisioningMode.MANUAL  # a DBA sets it: a task shows it
    resource = config.resource_create(
        actor=admin, source=SOURCE, code="proddb", name="Production PostgreSQL", criticality="CRITICAL",
        owners=[head.pk], provisioning_modes=modes, self_service=False,
        description="The orders database. Its superuser is used only through privileged access.",
    )  # fmt: skip
    postgres = access.account_create(
        actor=admin, source=SOURCE, resource=resource, identifier="postgres",
        account_type=AccountType.ADMINISTRATIVE, responsible=admin,
    )  # fmt: skip
    shared = access.account_create(
        actor=admin, source=SOURCE, resource=resource, identifier="ops-readonly",
        account_type=AccountType.SHARED, responsible=head,
    )  # fmt: skip
    for account in (postgres, shared):
        secret_store(
            actor=admin, source=SOURCE, owner=None, kind="ACCOUNT_PASSWORD", name=str(account),
            value=password_generate(), account=account,
        )  # fmt: skip
    access_group_create(
        actor=admin, source=SOURCE, code="prod-dba", name="Production database administrators",
        description="DBAs use the production superuser for a change or an incident, two approvals.",
        members=[f"user:{u.username}" for u in dbas], credentials=["proddb/postgres", "proddb/ops-readonly"],
        approval_required=True, justification_required=True, max_window_minutes=240,
        governance_code_required=True, emergency_allowed=True, notify=[head.username],
        levels=[{"approver_kind": "USERS", "users": [head.username]}, {"approver_kind": "OWNER"}],
    )  # fmt: skip
    a, b, c = dbas[:3]
    now = timezone.now()

    def ask(user: User, account: Any, reason: str, code: str, hours: int = 2, **kw: Any) -> AccessRequest:
        return access_request_create(
            actor=user, source="workspace", account=account, reason=reason, governance_code=code,
            window_start=now, window_end=now + timedelta(hours=hours), **kw,
        )  # fmt: skip

    # pending at level 1
    ask(a, postgres, "Add an index on orders.created_at", "CHG0030211")
    # approved by both levels, and used
    running = ask(b, postgres, "Failover drill with the on-call team", "CHG0030198")
    _decide(running, head)
    _decide(running, admin)
    access_reveal(actor=b, source="workspace", request=running)
    # disapproved at level 1
    refused = ask(c, postgres, "Look at slow queries", "INC0091733")
    _decide(refused, head, "reject", "Use the read-only replica for that.")
    # canceled by its requester
    access_request_cancel(
        actor=a,
        source="workspace",
        request=ask(a, shared, "Check the nightly report", "INC0091740"),
        reason="Not needed",
    )
    # approved (the shared account's responsible is the head of IT: both levels), used, revoked
    revoked = ask(b, shared, "Export last month's figures", "CHG0030205")
    _decide(revoked, head)
    _decide(revoked, head)
    access_reveal(actor=b, source="workspace", request=revoked)
    access_request_revoke(actor=head, source=SOURCE, request=revoked, reason="Export done; access ended.")
    # approved, used and expired: the shortest window, ended by the periodic task's service
    ended = ask(c, shared, "Restart the reporting job", "CHG0030177", hours=1)
    _decide(ended, head)
    _decide(ended, head)
    access_reveal(actor=c, source="workspace", request=ended)
    access_requests_expire(now=ended.window_end + timedelta(seconds=1), limit=1)
    # an emergency, with its review task waiting for the approvers
    ask(c, postgres, "Orders database down: disk full", "INC0091802", emergency=True)
    return AccessRequest.objects.count()
