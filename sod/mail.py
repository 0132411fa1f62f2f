"""The e-mail telling a rule's owner that a request waits for their SoD decision. No one-click
links: accepting is an exception that needs a reason and an expiry, given on the task's page."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.utils.translation import gettext as _

from blazon.language import activate_for, keeps_language
from directory.models import User
from sod.models import RoleChangeStep, SoDRequestConflict
from worklist.models import TaskKind, TaskStatus


@keeps_language
def sod_task_mail(task_id: int, user_ids: list[int] | None) -> int:
    """Mail the assignees (or ``user_ids``) of an open request SoD task; returns messages sent."""
    row = (
        SoDRequestConflict.objects.select_related("rule", "request__beneficiary", "task")
        .filter(task_id=task_id, task__kind=TaskKind.SOD, task__status=TaskStatus.OPEN)
        .first()
    )
    if row is None or row.task is None:
        return 0
    users = row.task.assignees.all() if user_ids is None else User.objects.filter(pk__in=user_ids)
    base = str(getattr(settings, "BLAZON_BASE_URL", "http://127.0.0.1:8000")).rstrip("/")
    asked = ", ".join(str(r.get("label")) for r in row.requested)
    held = "; ".join(f"{h.get('label')} ({', '.join(h.get('how') or [])})" for h in row.held)
    sent = 0
    for user in users.order_by("pk"):
        if not user.email or not user.is_active:
            continue
        activate_for(user)  # the subject and the body in their language
        sent += send_mail(
            subject=_("SoD decision needed: %(rule)s (request #%(id)s)")
            % {"rule": row.rule.name, "id": row.request_id},
            message=_(
                "Hello %(name)s,\n\n"
                "%(beneficiary)s asks for %(asked)s and already holds %(held)s.\n"
                "Rule: %(rule)s (%(severity)s).\n\n"
                "Accept it with an exception (reason and expiry) or reject the request:\n"
                "%(link)s\n"
            )
            % {
                "name": user.get_full_name() or user.username,
                "beneficiary": row.request.beneficiary,
                "asked": asked,
                "held": held,
                "rule": row.rule.name,
                "severity": row.rule.get_severity_display(),
                "link": f"{base}/workspace/requests/tasks/{row.task_id}/",
            },
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[user.email],
        )
    return sent


@keeps_language
def role_change_task_mail(task_id: int, user_ids: list[int] | None) -> int:
    """Mail the approvers (or ``user_ids``) of an open role-change step: what changes on which
    role, why they are asked and the link to the task in My tasks; returns messages sent."""
    step = (
        RoleChangeStep.objects.select_related("role_change__role", "task")
        .filter(task_id=task_id, task__kind=TaskKind.ROLE_CHANGE, task__status=TaskStatus.OPEN)
        .first()
    )
    if step is None or step.task is None:
        return 0
    users = step.task.assignees.all() if user_ids is None else User.objects.filter(pk__in=user_ids)
    base = str(getattr(settings, "BLAZON_BASE_URL", "http://127.0.0.1:8000")).rstrip("/")
    change = step.role_change
    sent = 0
    for user in users.order_by("pk"):
        if not user.email or not user.is_active:
            continue
        activate_for(user)  # the subject and the body in their language
        sent += send_mail(
            subject=_("Role change to approve: %(role)s (change #%(id)s)")
            % {"role": change.role.name, "id": change.pk},
            message=_(
                "Hello %(name)s,\n\n"
                "Role change #%(id)s: %(change)s.\n"
                "%(step)s: %(reason)s\n\n"
                "Approve or reject it (the role stays unchanged until every step passes):\n"
                "%(link)s\n"
            )
            % {
                "name": user.get_full_name() or user.username,
                "id": change.pk,
                "change": change,
                "step": step.get_kind_display(),
                "reason": step.reason,
                "link": f"{base}/workspace/requests/tasks/{step.task_id}/",
            },
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[user.email],
        )
    return sent
