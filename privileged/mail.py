"""The e-mails of the access flow: an approver's task (first level first, the next level after),
the requester's outcome, and the emergency notice every approver gets at once. Values of
credentials are never in a mail; links lead to the workspace pages."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from blazon.notify import send_messages
from directory.models import User, UserStatus
from privileged.links import approver_extras
from privileged.models import AccessRequest
from privileged.services.flow import all_approvers
from worklist.models import Task, TaskKind, TaskStatus


def _base() -> str:
    return str(getattr(settings, "BLAZON_BASE_URL", "") or "http://127.0.0.1:8000").rstrip("/")


def _window(req: AccessRequest) -> str:
    return f"{timezone.localtime(req.window_start):%Y-%m-%d %H:%M} to {timezone.localtime(req.window_end):%Y-%m-%d %H:%M}"


def _summary(req: AccessRequest) -> str:
    lines = [
        f"Requester: {req.requester} ({req.requester.username})",
        f"Credential: {req.account}",
        f"Window: {_window(req)}",
        f"Justification: {req.reason or '(none)'}",
    ]
    if req.governance_code:
        lines.append(f"Governance code: {req.governance_code}")
    return "\n".join(lines)


def _to(users: list[User]) -> list[User]:
    return [u for u in users if u.email and u.status == UserStatus.ACTIVE]


def access_task_mail(task_id: int, user_ids: list[int] | None) -> int:
    """Tell the approvers of an open access task (or ``user_ids``) what waits for them."""
    task = Task.objects.filter(
        pk=task_id, kind__in=[TaskKind.ACCESS, TaskKind.ACCESS_REVIEW], status=TaskStatus.OPEN
    ).first()
    if task is None or task.subject_id is None:
        return 0
    req = (
        AccessRequest.objects.select_related("requester", "account__resource")
        .filter(pk=task.subject_id)
        .first()
    )
    if req is None:
        return 0
    if user_ids is None:
        users = list(task.assignees.all()) + (list(task.queue.members.all()) if task.queue else [])
    else:
        users = list(User.objects.filter(pk__in=user_ids))
    link = f"{_base()}/workspace/privileged/approvals/{req.pk}/"
    if task.kind == TaskKind.ACCESS_REVIEW:
        subject = f"Review an emergency access: {req.account} by {req.requester.username}"
        intro = "used a privileged credential as an emergency, without approval. Review it:"
    else:
        subject = f"Approval needed: privileged access to {req.account} (level {task.level})"
        intro = f"asks to use a privileged credential. Approve or disapprove (level {task.level}):"
    messages = []
    for u in _to(users):
        if u.pk == req.requester_id:
            continue
        # one-click links and, with an inbox, the reply tag: each approver's own
        answer, headers, tag = approver_extras(task, u)
        messages.append(
            EmailMessage(
                subject=subject + tag,
                body=f"Hello {u.get_full_name() or u.username},\n\n{req.requester} {intro}\n\n{_summary(req)}\n\n"
                f"{link}\n" + (f"\n{answer}" if answer else ""),
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[u.email],
                headers=headers,
            )
        )
    return send_messages(messages, what="privileged access task")


_OUTCOME = {
    "created": "is waiting for approval",
    "approved": "was approved",
    "disapproved": "was disapproved",
    "canceled": "was canceled",
    "revoked": "was revoked: the credential was taken back and its password changed",
    "expired": "has ended: the credential was taken back",
    "emergency": "was used as an EMERGENCY access, without approval",
}


def access_event_mail(request_id: int, event: str) -> int:
    """Tell the requester (and the group's notified people; for an emergency every approver) what
    happened to a request."""
    req = (
        AccessRequest.objects.select_related("requester", "account__resource", "group")
        .filter(pk=request_id)
        .first()
    )
    if req is None or event not in _OUTCOME:
        return 0
    people: dict[int, User] = {}
    if event != "created":
        people[req.requester_id] = req.requester
    if req.group is not None:
        people.update({u.pk: u for u in req.group.notify_users.all()})
    if event == "emergency":
        people.update({u.pk: u for u in all_approvers(req)})
    subject = f"Privileged access #{req.pk} to {req.account} {_OUTCOME[event].split(':')[0]}"
    messages = [
        EmailMessage(
            subject=("[EMERGENCY] " if event == "emergency" else "") + subject,
            body=f"Hello {u.get_full_name() or u.username},\n\nThe request of {req.requester} {_OUTCOME[event]}.\n\n"
            f"{_summary(req)}\n\n{_base()}/workspace/privileged/requests/\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[u.email],
        )
        for u in _to(list(people.values()))
    ]
    return send_messages(messages, what="privileged access outcome")
