"""E-mail approvals (issue #3, section 7): approvers get signed approve/reject links; requesters
and beneficiaries are told how their request ended.

A link carries a ``django.core.signing`` token (timestamped, salted) binding the task, the
approver, the decision and the approver's *assignment*: the id of the row that makes them an
approver of the task (their assignee row, or their queue membership and the task's queue). A link
is therefore:

* signed: any change to the token is refused;
* expiring: ``BLAZON_APPROVAL_LINK_HOURS`` (72 by default) after it was made;
* bound to the approver: it acts as that approver only, and only while they still hold the same
  assignment (a reassigned task's old links are dead, even if the task comes back to them);
  an out-of-office delegate gets links of their own, bound to the delegation, which die when it
  ends or is revoked;
* single-use: once the task is decided it is no longer OPEN and every link of it is refused.

The e-mails are Celery tasks enqueued when the transaction that opened the task (or ended the
request) commits, so a slow or failing mail server never holds up a decision; they go through
Django's e-mail backend. Approval requests are queued by the worklist services when a task is
opened or gets new resolvers (``worklist.services``, through the ``mail_approval_requests``
notification this app registers for APPROVAL tasks in ``RequestsWorkflowConfig.ready()``); the
outcome of a request is queued by the services that end it (``requests_workflow.notify``). No
model signal sends mail. Tokens and links are never logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext

from blazon import notify
from blazon.language import activate_for, keeps_language
from blazon.links import LinkError, base_url, link_hours, link_read, link_sign  # the first 3 lived here
from directory.models import User
from requests_workflow.models import Delegation, DelegationScope, Request, RequestStatus
from requests_workflow.notify import FINAL_STATUSES  # its old home was here
from requests_workflow.selectors import active_delegations, task_decider
from requests_workflow.views.common import request_object
from worklist.models import Queue, Task, TaskKind, TaskStatus

logger = logging.getLogger(__name__)

SALT = "blazon.requests_workflow.approval-link"
APPROVE, REJECT = "approve", "reject"
DECISIONS = {APPROVE: "a", REJECT: "r"}


# --- links ------------------------------------------------------------------------------------


def assignment_version(task: Task, user: User) -> str | None:
    """What makes ``user`` an approver of ``task`` right now, or None if nothing does: their
    assignee row, else their membership of the task's queue, else the out-of-office delegation
    they hold for an assignee (and that assignee's row). Removing and re-adding them gives a new
    row, so the links made before are dead; so does the end or revocation of the delegation."""
    through = Task.assignees.through
    row = through.objects.filter(task_id=task.pk, user_id=user.pk).values_list("pk", flat=True).first()
    if row is not None:
        return f"a{row}"
    if task.queue_id:
        members = Queue.members.through
        row = (
            members.objects.filter(queue_id=task.queue_id, user_id=user.pk)
            .values_list("pk", flat=True)
            .first()
        )
        if row is not None:
            return f"q{task.queue_id}.{row}"
    allowed, delegation_id = task_decider(task, user)
    if allowed and delegation_id is not None:
        delegator_id = (
            Delegation.objects.filter(pk=delegation_id).values_list("delegator_id", flat=True).first()
        )
        row = (
            through.objects.filter(task_id=task.pk, user_id=delegator_id).values_list("pk", flat=True).first()
        )
        if row is not None:
            return f"d{delegation_id}.a{row}"
    return None


def approval_token(task: Task, approver: User, decision: str) -> str:
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {sorted(DECISIONS)}")
    version = assignment_version(task, approver)
    if version is None:
        raise ValueError(f"{approver.username} is not an approver of task #{task.pk}")
    payload = {"t": task.pk, "u": approver.pk, "d": DECISIONS[decision], "v": version}
    return link_sign(payload, salt=SALT)


def approval_link(task: Task, approver: User, decision: str) -> str:
    """The absolute URL of the confirmation page for ``approver`` to ``decision`` ``task``."""
    token = approval_token(task, approver, decision)
    return base_url() + reverse("email_approvals:confirm", args=[token])


@dataclass
class LinkClaim:
    task_id: int
    approver_id: int
    decision: str
    version: str


def read_token(token: str) -> LinkClaim:
    """Check the signature and the age of ``token``; raise LinkError when either fails."""
    data = link_read(token, salt=SALT, elsewhere=gettext("from “My tasks” in the workspace"))
    try:
        decision = {v: k for k, v in DECISIONS.items()}[data["d"]]
        return LinkClaim(int(data["t"]), int(data["u"]), decision, str(data["v"]))
    except (KeyError, TypeError, ValueError):
        raise LinkError(
            gettext("This link is not valid"), gettext("The link does not name a task."), status=400
        ) from None


def check_claim(claim: LinkClaim, task: Task | None, approver: User | None) -> None:
    """Is the link still good for this task and approver? Raise LinkError with why not."""
    if task is None or approver is None or task.kind != TaskKind.APPROVAL or task.request_id is None:
        raise LinkError(
            gettext("This task no longer exists"), gettext("The task or its approver was removed.")
        )
    if task.status != TaskStatus.OPEN:
        state = str(task.get_status_display()).lower()
        if task.decided_by_id and task.decided_by:
            state = gettext("%(state)s by %(username)s") % {
                "state": state,
                "username": task.decided_by.username,
            }
        if task.decided_at:
            state = gettext("%(state)s on %(when)s") % {
                "state": state,
                "when": f"{task.decided_at:%Y-%m-%d %H:%M}",
            }
        raise LinkError(
            gettext("This task was already decided"),
            gettext("Task #%(id)s is %(state)s. An approval link works once.")
            % {"id": task.pk, "state": state},
        )
    req = task.request
    if req.status != RequestStatus.WAITING_APPROVAL:
        raise LinkError(
            gettext("This request is no longer waiting for approval"),
            gettext("Request #%(id)s is %(status)s.")
            % {"id": req.pk, "status": str(req.get_status_display()).lower()},
        )
    if assignment_version(task, approver) != claim.version:
        if claim.version.startswith("d"):
            raise LinkError(
                gettext("You are no longer an approver of this task"),
                gettext(
                    "The out-of-office delegation that let you decide task #%(id)s has ended or was "
                    "revoked, so the link no longer works."
                )
                % {"id": task.pk},
            )
        raise LinkError(
            gettext("You are no longer an approver of this task"),
            gettext("Task #%(id)s was reassigned since this link was sent, so the link no longer works.")
            % {"id": task.pk},
        )


# --- messages ---------------------------------------------------------------------------------


def _send(messages: list[EmailMultiAlternatives], what: str) -> int:
    return notify.send_messages(messages, what=what)


def _message(subject: str, template: str, context: dict[str, Any], to: str) -> EmailMultiAlternatives:
    text = render_to_string(f"email/{template}.txt", context)
    html = render_to_string(f"email/{template}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    return message


def task_approvers(task: Task) -> list[User]:
    """The users who may decide ``task`` through an e-mail link: assignees, else queue members."""
    users = list(task.assignees.all())
    if not users and task.queue_id:
        users = list(task.queue.members.all())
    return users


def delegates_of(task: Task, users: list[User]) -> list[tuple[User, User]]:
    """(delegate, delegator) for each of ``users`` who is out of office now with a delegation
    covering ``task``: the delegate gets the approval e-mail too, with links of their own."""
    ids = [u.pk for u in users]
    if not ids:
        return []
    rows = (
        active_delegations()
        .filter(delegator_id__in=ids)
        .filter(Q(scope=DelegationScope.ALL) | Q(scope=task.kind))
        .select_related("delegate", "delegator")
        .order_by("pk")
    )
    return [(d.delegate, d.delegator) for d in rows]


@keeps_language
def send_approval_requests(task: Task, users: list[User] | None = None, *, subject_prefix: str = "") -> int:
    """E-mail each approver of an open APPROVAL task (or only ``users``) their own links
    (``subject_prefix``: "Reminder: " when the escalation sweep sends them again).
    Returns the number of messages sent."""
    task = Task.objects.select_related("request__beneficiary", "request__requester", "queue").get(pk=task.pk)
    if task.kind != TaskKind.APPROVAL or task.status != TaskStatus.OPEN or task.request_id is None:
        return 0
    req = task.request
    excluded = {req.requester_id, req.beneficiary_id}
    approvers = users if users is not None else task_approvers(task)
    recipients: list[tuple[User, User | None]] = [(u, None) for u in approvers]
    recipients += delegates_of(task, [u for u in approvers if u.pk not in excluded])
    messages, seen = [], set()
    for user, on_behalf_of in recipients:
        activate_for(user)  # the subject and the body in their language
        if (
            not user.email
            or user.pk in excluded
            or user.pk in seen
            or not user.is_active
            or assignment_version(task, user) is None
        ):
            continue
        seen.add(user.pk)
        context = {
            "task": task,
            "req": req,
            "what": request_object(req),
            "approver": user,
            "on_behalf_of": _name(on_behalf_of) if on_behalf_of else "",
            "beneficiary_name": req.beneficiary_name,
            "approve_url": approval_link(task, user, APPROVE),
            "reject_url": approval_link(task, user, REJECT),
            "hours": link_hours(),
            "base_url": base_url(),
        }
        subject = subject_prefix + (
            gettext("Approval needed: %(type)s for %(beneficiary)s (request #%(id)s)")
            % {"type": req.get_type_display(), "beneficiary": req.beneficiary_name, "id": req.pk}
        )
        messages.append(_message(subject, "approval_request", context, user.email))
    return _send(messages, f"approval request, task #{task.pk}")


@keeps_language
def send_request_outcome(request: Request) -> int:
    """E-mail the requester and the beneficiary how ``request`` ended. Returns messages sent."""
    req = Request.objects.select_related("requester", "beneficiary").get(pk=request.pk)
    if req.status not in FINAL_STATUSES:
        return 0
    last = req.events.filter(to_status=req.status).order_by("-id").first()
    recipients: dict[str, User] = {}
    for user in (req.requester, req.beneficiary):
        if user is not None and user.email and user.email.lower() not in recipients:
            recipients[user.email.lower()] = user
    messages = []
    for user in recipients.values():
        activate_for(user)
        context = {
            "req": req,
            "what": request_object(req),
            "user": user,
            "beneficiary_name": req.beneficiary_name,
            "outcome": str(req.get_status_display()).lower(),
            "detail": last.message if last else "",
            "detail_url": _detail_url(req),
        }
        subject = gettext("Request #%(id)s %(status)s: %(type)s for %(beneficiary)s") % {
            "id": req.pk,
            "status": str(req.get_status_display()).lower(),
            "type": req.get_type_display(),
            "beneficiary": req.beneficiary_name,
        }
        messages.append(_message(subject, "request_outcome", context, user.email))
    return _send(messages, f"outcome of request #{req.pk}")


def _detail_url(req: Request) -> str:
    try:
        return base_url() + reverse("workspace_requests:detail", args=[req.pk])
    except NoReverseMatch:
        return base_url() + "/workspace/"


def _name(user: User | None) -> str:
    if user is None:
        return gettext("a new user")
    return user.get_full_name() or user.username


def send_for_task(task_id: int, user_ids: list[int] | None) -> int:
    """Mail an approval task's links if it is still open (it may be decided by the time the
    queued message runs). Returns the number of messages sent."""
    task = Task.objects.filter(pk=task_id, kind=TaskKind.APPROVAL, status=TaskStatus.OPEN).first()
    if task is None:
        return 0
    users = None if user_ids is None else list(User.objects.filter(pk__in=user_ids).order_by("pk"))
    return send_approval_requests(task, users)


def connect_signals() -> None:
    """Nothing left to connect: approval requests are queued by the worklist services and the
    request outcome by ``requests_workflow.notify``. Kept for one release for callers."""
