"""How an approver answers an access task's e-mail: signed one-click links, and the signed tag a
reply carries back (issue 17 item 3).

* A **link** token (``blazon.links``, its own salt) names the task, the approver, the decision
  and the approver's *assignment* (their assignee row, or their membership of the task's queue):
  it acts for that approver only, once (a decided task refuses every link of it), for
  ``BLAZON_APPROVAL_LINK_HOURS`` hours, and dies when the approver is taken off the task.
* A **reply tag** ``pa-<task>-<approver>-<mac>`` (a truncated HMAC-SHA256 with ``SECRET_KEY``) is
  short enough for the local part of an address: it goes in the Reply-To (``<box>+<tag>@<domain>``)
  and in the subject, so a reply carries it back whichever the mail program keeps. It says who
  the mail was sent to; the inbox poller still checks that the reply comes from that person.

Without an inbox (``BLAZON_REPLY_IMAP_HOST`` and ``BLAZON_REPLY_ADDRESS``), the e-mails carry
the links but no reply instructions. Tokens and tags are never logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from blazon.links import LinkError, base_url, link_hours, link_read, link_sign
from directory.models import User, UserStatus
from worklist.models import Queue, Task, TaskKind, TaskStatus
from worklist.registry import APPROVE, REJECT

LINK_SALT = "blazon.privileged.approval-link"
REPLY_SALT = "blazon.privileged.reply-tag"
DECISIONS = {APPROVE: "a", REJECT: "r"}
ELSEWHERE = gettext_lazy("from “My approvals” in the workspace")
#: ``pa-<task id>-<approver id>-<24 hex digits of HMAC>``, anywhere in an address or a subject
TAG_RE = re.compile(r"(?<![0-9a-z])pa-([0-9]{1,12})-([0-9]{1,12})-([0-9a-f]{24})(?![0-9a-z])", re.I)


def assignment(task: Task, user: User) -> str | None:
    """What makes ``user`` an approver of ``task`` now: their assignee row, else their membership
    of the task's queue; None if nothing does. Taking them off and back gives a new row, so the
    links made before are dead."""
    through = Task.assignees.through
    row = through.objects.filter(task_id=task.pk, user_id=user.pk).values_list("pk", flat=True).first()
    if row is not None:
        return f"a{row}"
    if task.queue_id:
        row = (
            Queue.members.through.objects.filter(queue_id=task.queue_id, user_id=user.pk)
            .values_list("pk", flat=True)
            .first()
        )
        if row is not None:
            return f"q{task.queue_id}.{row}"
    return None


# --- one-click links --------------------------------------------------------------------------


@dataclass
class LinkClaim:
    task_id: int
    approver_id: int
    decision: str
    version: str


def link_url(task: Task, approver: User, decision: str) -> str:
    """The absolute URL of the confirmation page for ``approver`` to ``decision`` ``task``."""
    version = assignment(task, approver)
    if version is None or decision not in DECISIONS:
        raise ValueError(f"{approver.username} cannot {decision} task #{task.pk}")
    token = link_sign(
        {"t": task.pk, "u": approver.pk, "d": DECISIONS[decision], "v": version}, salt=LINK_SALT
    )
    return base_url() + reverse("privileged_links:confirm", args=[token])


def link_claim(token: str) -> LinkClaim:
    """Check the signature and age of a link token; LinkError says why it is refused."""
    data = link_read(token, salt=LINK_SALT, elsewhere=str(ELSEWHERE))
    try:
        decision = {v: k for k, v in DECISIONS.items()}[data["d"]]
        return LinkClaim(int(data["t"]), int(data["u"]), decision, str(data["v"]))
    except (KeyError, TypeError, ValueError):
        raise LinkError("This link is not valid", "The link does not name a task.", status=400) from None


def link_check(claim: LinkClaim, task: Task | None, approver: User | None) -> None:
    """Is the link still good for this task and approver? LinkError says why not."""
    if task is None or approver is None or task.kind != TaskKind.ACCESS:
        raise LinkError("This task no longer exists", "The task or its approver was removed.")
    if task.status != TaskStatus.OPEN:
        who = f" by {task.decided_by.username}" if task.decided_by is not None else ""
        raise LinkError(
            "This task was already decided",
            f"Task #{task.pk} is {task.get_status_display().lower()}{who}. An approval link works once.",
        )
    if approver.status != UserStatus.ACTIVE or not approver.is_active:
        raise LinkError(
            "This link can no longer be used",
            f"The account of {approver.username} is not active: it cannot decide access requests.",
            status=403,
        )
    if assignment(task, approver) != claim.version:
        raise LinkError(
            "You are no longer an approver of this task",
            f"Task #{task.pk} was given to someone else since this link was sent: the link no longer works.",
        )


# --- reply tags -------------------------------------------------------------------------------


def inbox_configured() -> bool:
    """Whether approvers may answer by e-mail: an IMAP inbox and its address are set."""
    return bool(getattr(settings, "BLAZON_REPLY_IMAP_HOST", "") and reply_box())


def reply_box() -> str:
    return str(getattr(settings, "BLAZON_REPLY_ADDRESS", "") or "").strip()


def _mac(task_id: int, user_id: int, secret: str | None = None) -> str:
    value = f"{task_id}:{user_id}"
    return salted_hmac(REPLY_SALT, value, secret=secret, algorithm="sha256").hexdigest()[:24]


def _genuine(task_id: int, user_id: int, mac: str) -> bool:
    """Made with the secret key, or one it replaced (``SECRET_KEY_FALLBACKS``, as signed links)."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(constant_time_compare(mac, _mac(task_id, user_id, secret)) for secret in secrets)


def reply_tag(task: Task, approver: User) -> str:
    return f"pa-{task.pk}-{approver.pk}-{_mac(task.pk, approver.pk)}"


def reply_address(tag: str) -> str:
    """``box+tag@domain`` (sub-addressing): the reply comes back to the inbox with the tag."""
    local, _, domain = reply_box().rpartition("@")
    return f"{local}+{tag}@{domain}"


@dataclass
class TagClaim:
    task_id: int
    approver_id: int
    genuine: bool  # False: a tag-shaped text whose HMAC does not hold (forged or altered)


def find_tag(*texts: str) -> TagClaim | None:
    """The first reply tag in ``texts`` (addresses, subject), genuine or not; None if none."""
    forged: TagClaim | None = None
    for text in texts:
        for match in TAG_RE.finditer(text or ""):
            task_id, user_id, mac = int(match[1]), int(match[2]), match[3].lower()
            if _genuine(task_id, user_id, mac):
                return TagClaim(task_id, user_id, True)
            forged = forged or TagClaim(task_id, user_id, False)
    return forged


def approver_extras(task: Task, approver: User) -> tuple[str, dict[str, str], str]:
    """What one approver's access-task e-mail adds: (text with the links and, with an inbox, how
    to reply; headers; subject suffix). Nothing when they are not an approver of the task."""
    if task.kind != TaskKind.ACCESS or assignment(task, approver) is None:
        return "", {}, ""
    text = (
        _("Approve: %(url)s") % {"url": link_url(task, approver, APPROVE)}
        + "\n"
        + _("Disapprove: %(url)s") % {"url": link_url(task, approver, REJECT)}
        + "\n"
        + _("(The links open a confirmation page; they work once, for you only, for %(hours)s hours.)")
        % {"hours": link_hours()}
        + "\n"
    )
    if not inbox_configured():
        return text, {}, ""
    tag = reply_tag(task, approver)
    text += (
        "\n"
        + _(
            "Or reply to this e-mail with APPROVE or DISAPPROVE (APROVAR or REPROVAR) as the first "
            "word of your answer; the rest of your text is kept as your comment."
        )
        + "\n"
    )
    return text, {"Reply-To": reply_address(tag)}, f" [{tag}]"
