"""Who a request's approval goes to: what the request is about, its criticality, and the
approvers of a level. The approval stage (``approvals``) and escalation (``sla``) both need
them; they lived in ``approvals``, which calls ``sla``, so ``sla`` had to import them inside
its functions."""

from __future__ import annotations

from typing import Any

from directory.models import User
from requests_workflow.models import ApprovalLevel, ApproverKind, Request


def request_target(req: Request) -> tuple[Any, Any, Any]:
    """(resource, entitlement, role) the request is about."""
    resource = req.resource
    if resource is None and req.account is not None:
        resource = req.account.resource
    if resource is None and req.entitlement is not None:
        resource = req.entitlement.resource
    return resource, req.entitlement, req.role


def request_criticality(req: Request) -> str:
    """The criticality of what the request is about: its entitlement's, role's or resource's."""
    resource, entitlement, role = request_target(req)
    for obj in (entitlement, role, resource):
        if obj is not None:
            return str(obj.criticality)
    return ""


def approvers_of_level(req: Request, level: ApprovalLevel) -> list[User]:
    """Who approves ``req`` at ``level`` (a queue level has none): never the requester or the
    beneficiary, only active users."""
    resource, entitlement, role = request_target(req)
    found: list[User] = []
    if level.approver_kind == ApproverKind.MANAGER:
        if req.beneficiary is not None:
            manager = req.beneficiary.manager
        else:  # a new user: the manager named in the request
            ref = (req.payload.get("user") or {}).get("manager")
            manager = User.objects.filter(username=ref).first() if isinstance(ref, str) else None
        found = [manager] if manager else []
    elif level.approver_kind == ApproverKind.OWNER:
        if entitlement is not None and entitlement.owner_id:
            found = [entitlement.owner]
        elif role is not None and role.owner_id:
            found = [role.owner]
        elif resource is not None:
            found = list(resource.owners.all())
    elif level.approver_kind == ApproverKind.USERS:
        found = list(level.users.all())
    excluded = {req.requester_id, req.beneficiary_id}
    return [u for u in found if u.pk not in excluded and u.status == "ACTIVE"]
