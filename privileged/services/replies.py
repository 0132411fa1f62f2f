"""Applying an approver's e-mail reply (seed 003: "if the inbox is configured, approvers can reply
to the email with the words APPROVE or DISAPPROVE"), through the same decision service as the
workspace and the API (``worklist.services.task_decide`` → ``access_task_decide``), so the same
rules hold: nobody decides their own request, a finished request or a decided task changes
nothing.

One reply, one outcome, each audited:

* **applied** (``privileged.reply.applied``): the decision is recorded as the approver's, with
  the rest of their text as the comment; they get a confirmation;
* **refused** (``privileged.reply.refused``): a genuine tag but the reply cannot be applied — not
  from the approver the mail was sent to, no APPROVE/DISAPPROVE word first, the request finished,
  the task already decided (a replayed reply), their own request. The sender gets an answer that
  says why and that nothing was changed;
* **ignored** (``privileged.reply.ignored``): no tag, a forged or altered tag, or an automatic
  reply (out of office, bounce). No answer is sent: answering forged mail would send our mail
  wherever a forger points it, and answering an auto-reply can loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction

from blazon.audit.services import audit_record
from blazon.errors import DomainError
from blazon.notify import send_messages
from directory.models import User, UserStatus
from privileged.links import find_tag, reply_box
from privileged.models import AccessRequest, AccessStatus
from privileged.replies import Reply, decision_of, reply_parse
from worklist.models import Task, TaskKind
from worklist.registry import APPROVE
from worklist.services import task_decide

logger = logging.getLogger(__name__)
SOURCE = "email"
APPLIED, REFUSED, IGNORED = "applied", "refused", "ignored"


@dataclass
class ReplyOutcome:
    status: str  # applied | refused | ignored
    reason: str
    request_id: int | None = None
    answered: int = 0  # answers sent (0 or 1)


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _where(reply: Reply) -> dict[str, Any]:
    return {"from": reply.senders[:3], "message_id": reply.message_id, "subject": reply.subject[:200]}


def _audit(action: str, *, actor: User | None, reply: Reply, req: AccessRequest | None, **new: Any) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=f"privileged.reply.{action}",
            obj=req,
            object_type=None if req is not None else "privileged.reply",
            object_repr=None if req is not None else reply.message_id or "(no Message-ID)",
            new={**_where(reply), **new},
            source=SOURCE,
            subject_user_id=req.requester_id if req is not None else None,
        )


def _ours(address: str) -> bool:
    """An address of Blazon itself (the reply box, its sub-addresses, the sender of notices):
    never answered, so a misrouted answer cannot loop."""
    box_local, _, box_domain = reply_box().lower().rpartition("@")
    local, _, domain = address.lower().rpartition("@")
    sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].lower()
    return address.lower() == sender or (domain == box_domain and local.split("+")[0] == box_local)


def _answer(reply: Reply, to: str, subject: str, text: str) -> int:
    if not to or _ours(to):
        return 0
    message = EmailMessage(
        subject=subject,
        body=text + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        # an answer to an answer must never be answered again (RFC 3834)
        headers={"Auto-Submitted": "auto-replied"},
    )
    if reply.message_id:
        message.extra_headers["In-Reply-To"] = reply.message_id
        message.extra_headers["References"] = reply.message_id
    return send_messages([message], what="privileged access reply answer")


def _ignored(reply: Reply, reason: str) -> ReplyOutcome:
    _audit("ignored", actor=None, reply=reply, req=None, reason=reason)
    logger.info("E-mail reply ignored: %s", reason)
    return ReplyOutcome(IGNORED, reason)


def reply_handle(raw: bytes) -> ReplyOutcome:
    """Apply one e-mail reply (the raw message from the inbox) and answer its sender."""
    reply = reply_parse(raw)
    if reply.automatic:
        return _ignored(reply, "an automatic reply (auto-submitted, bulk or without a sender)")
    claim = find_tag(*reply.addresses, reply.subject)  # the reply address first: it is per approver
    if claim is None:
        return _ignored(reply, "no approval tag in its address or subject")
    if not claim.genuine:
        return _ignored(reply, f"a forged or altered approval tag (task #{claim.task_id})")
    task = Task.objects.filter(pk=claim.task_id, kind=TaskKind.ACCESS).first()
    approver = User.objects.filter(pk=claim.approver_id).first()
    req = AccessRequest.objects.filter(pk=task.subject_id).first() if task and task.subject_id else None
    if task is None or approver is None or req is None:
        return _ignored(reply, f"task #{claim.task_id} or its approver no longer exists")
    sender = reply.senders[0] if len(reply.senders) == 1 else ""
    about = f"access request #{req.pk} ({req.account} for {req.requester.username})"
    if not approver.email or sender != approver.email.strip().lower():
        why = (
            f"The approval e-mail of {about} was sent to someone else: only that approver may answer "
            "it, from their own address."
        )
        _audit("refused", actor=None, reply=reply, req=req, reason="not the approver's address", task=task.pk)
        sent = _answer(reply, sender, f"Your reply was not applied: {about}", why + _NOTHING)
        return ReplyOutcome(REFUSED, why, req.pk, sent)
    decision, word, comment = decision_of(reply.text)
    try:
        if approver.status != UserStatus.ACTIVE or not approver.is_active:
            raise _Refused("Your Blazon account is not active: you cannot decide access requests.")
        if decision is None:
            raise _Refused(
                f"The first word of your reply{f' ({word!r})' if word else ''} is neither APPROVE nor "
                "DISAPPROVE (in Portuguese APROVAR or REPROVAR). Write one of them as the first word "
                "of your answer, above the quoted e-mail."
            )
        with transaction.atomic():
            locked = AccessRequest.objects.select_for_update(of=("self",)).get(pk=req.pk)
            if locked.status != AccessStatus.PENDING and locked.requester_id != approver.pk:
                raise _Refused(
                    f"Access request #{req.pk} is {locked.get_status_display().lower()}: it can no longer "
                    "be approved or disapproved."
                )
            task_decide(actor=approver, source=SOURCE, task=task, decision=decision, comment=comment or "")
            _audit_applied(approver, reply, req, decision, task)
    except (_Refused, DomainError) as error:
        message = error.message
        _audit("refused", actor=approver, reply=reply, req=req, reason=message, task=task.pk)
        sent = _answer(reply, approver.email, f"Your reply was not applied: {about}", message + _NOTHING)
        return ReplyOutcome(REFUSED, message, req.pk, sent)
    req.refresh_from_db()
    done = "approved" if decision == APPROVE else "disapproved"
    text = (
        f"Hello {approver.get_full_name() or approver.username},\n\nYou {done} {about} at level "
        f"{task.level}" + (f', with the comment: "{comment}"' if comment else "") + ".\n"
        f"The request is now {req.get_status_display().lower()}."
    )
    sent = _answer(reply, approver.email, f"Recorded: you {done} {about}", text)
    return ReplyOutcome(APPLIED, done, req.pk, sent)


_NOTHING = "\n\nNothing was changed. You can also decide from “My approvals” in the workspace."


def _audit_applied(approver: User, reply: Reply, req: AccessRequest, decision: str, task: Task) -> None:
    audit_record(
        actor=approver,
        action="privileged.reply.applied",
        obj=req,
        new={**_where(reply), "decision": decision, "task": task.pk, "level": task.level},
        source=SOURCE,
        subject_user_id=req.requester_id,
    )
