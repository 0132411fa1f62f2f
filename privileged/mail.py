"""The e-mails of the access flow: an approver's task (first level first, the next level after),
the requester's outcome, and the emergency notice every approver gets at once. Values of
credentials are never in a mail; links lead to the workspace pages."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from blazon.language import activate_for, keeps_language
from blazon.notify import send_messages
from directory.models import User, UserStatus
from privileged.links import approver_extras
from privileged.models import AccessRequest
from privileged.services.flow import all_approvers
from worklist.models import Task, TaskKind, TaskStatus


def _base() -> str:
    return str(getattr(settings, "BLAZON_BASE_URL", "") or "http://127.0.0.1:8000").rstrip("/")


def _window(req: AccessRequest) -> str:
    start = date_format(timezone.localtime(req.window_start), "SHORT_DATETIME_FORMAT")
    end = date_format(timezone.localtime(req.window_end), "SHORT_DATETIME_FORMAT")
    return _("%(start)s to %(end)s") % {"start": start, "end": end}


def _summary(req: AccessRequest) -> str:
    lines = [
        _("Requester: %(name)s (%(username)s)") % {"name": req.requester, "username": req.requester.username},
        _("Credential: %(credential)s") % {"credential": req.account},
        _("Window: %(window)s") % {"window": _window(req)},
        _("Justification: %(reason)s") % {"reason": req.reason or _("(none)")},
    ]
    if req.governance_code:
        lines.append(_("Governance code: %(code)s") % {"code": req.governance_code})
    return "\n".join(lines)


def _to(users: list[User]) -> list[User]:
    return [u for u in users if u.email and u.status == UserStatus.ACTIVE]


@keeps_language
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
    messages = []
    for u in _to(users):
        if u.pk == req.requester_id:
            continue
        activate_for(u)  # the subject and the body in their language
        if task.kind == TaskKind.ACCESS_REVIEW:
            subject = _("Review an emergency access: %(credential)s by %(username)s") % {
                "credential": req.account,
                "username": req.requester.username,
            }
            intro = _("used a privileged credential as an emergency, without approval. Review it:")
        else:
            subject = _("Approval needed: privileged access to %(credential)s (level %(level)s)") % {
                "credential": req.account,
                "level": task.level,
            }
            intro = _("asks to use a privileged credential. Approve or disapprove (level %(level)s):") % {
                "level": task.level
            }
        # one-click links and, with an inbox, the reply tag: each approver's own
        answer, headers, tag = approver_extras(task, u)
        hello = _("Hello %(name)s,") % {"name": u.get_full_name() or u.username}
        messages.append(
            EmailMessage(
                subject=subject + tag,
                body=f"{hello}\n\n{req.requester} {intro}\n\n{_summary(req)}\n\n{link}\n"
                + (f"\n{answer}" if answer else ""),
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[u.email],
                headers=headers,
            )
        )
    return send_messages(messages, what="privileged access task")


_OUTCOME = {
    "created": gettext_lazy("is waiting for approval"),
    "approved": gettext_lazy("was approved"),
    "disapproved": gettext_lazy("was disapproved"),
    "canceled": gettext_lazy("was canceled"),
    "revoked": gettext_lazy("was revoked: the credential was taken back and its password changed"),
    "expired": gettext_lazy("has ended: the credential was taken back"),
    "emergency": gettext_lazy("was used as an EMERGENCY access, without approval"),
}


@keeps_language
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
    messages = []
    for u in _to(list(people.values())):
        activate_for(u)
        outcome = str(_OUTCOME[event])
        subject = _("Privileged access #%(pk)s to %(credential)s %(outcome)s") % {
            "pk": req.pk,
            "credential": req.account,
            "outcome": outcome.split(":")[0],
        }
        hello = _("Hello %(name)s,") % {"name": u.get_full_name() or u.username}
        what = _("The request of %(requester)s %(outcome)s.") % {
            "requester": req.requester,
            "outcome": outcome,
        }
        messages.append(
            EmailMessage(
                subject=(_("[EMERGENCY]") + " " if event == "emergency" else "") + subject,
                body=f"{hello}\n\n{what}\n\n{_summary(req)}\n\n{_base()}/workspace/privileged/requests/\n",
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[u.email],
            )
        )
    return send_messages(messages, what="privileged access outcome")
