"""A rotated password is kept only once the application confirmed it (issue 17, item 7).

``vault.services._rotate`` writes the new value aside (a ROTATION_PENDING secret) and a
CHANGE_PASSWORD provisioning entry that refers to it; the account's vault password keeps the old
value, still the one the application knows. Provisioning announces settled entries
(``provisioning.signals.entries_settled``); for a rotation's entry:

- **succeeded** (an adapter, the in-process runner or a person resolving the manual task made the
  change): the new value becomes the account's vault password, the aside copy is deleted;
- **failed for good or canceled**: the old value stays, the new one is discarded, and a
  ``ROTATION`` task goes to the account's responsible and the resource's owners (a console
  administrator when there are none). Approving it rotates again; rejecting it keeps the current
  password.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from blazon.audit.services import audit_record
from blazon.errors import Conflict, NotAllowed
from blazon.permissions import can
from directory.models import Account
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.signals import entries_settled
from vault.models import PasswordRotation, RotationStatus
from vault.services import account_password_rotate, secret_delete, secret_take_value
from worklist.models import Task, TaskKind, TaskStatus
from worklist.registry import APPROVE, SubjectRef, register_subject_kind, register_task_kind
from worklist.services import task_close, task_open

ROTATION_SUBJECT = "password_rotation"
SOURCE = "automatic"


def _audit(rotation: PasswordRotation, action: str, **new: Any) -> None:
    audit_record(
        actor=None,
        action=f"vault.password.{action}",
        obj=rotation.account,
        new={
            "rotation": rotation.pk,
            "reason": rotation.reason,
            "provisioning_entry": rotation.entry_id,
            **new,
        },
        source=SOURCE,
        subject_user_id=rotation.account.owner_id,
    )


def _confirm(rotation: PasswordRotation, now: Any) -> None:
    if rotation.pending is not None:
        secret_take_value(actor=None, source=SOURCE, secret=rotation.secret, donor=rotation.pending)
    rotation.status, rotation.settled_at, rotation.pending = RotationStatus.CONFIRMED, now, None
    rotation.save(update_fields=["status", "settled_at", "pending"])
    _audit(rotation, "rotation_confirmed")


def _fail(rotation: PasswordRotation, entry: ProvisioningEntry, now: Any) -> None:
    if rotation.pending is not None:
        secret_delete(actor=None, source=SOURCE, secret=rotation.pending)
    why = entry.last_error or entry.get_status_display()
    account = rotation.account
    assignees = [u for u in [account.responsible, *account.resource.owners.all()] if u is not None]
    rotation.task = task_open(
        kind=TaskKind.ROTATION,
        title=f"Password rotation of {account} failed: it keeps its current password",
        subject=SubjectRef(ROTATION_SUBJECT, rotation.pk),
        assignees={u.pk: u for u in assignees}.values(),
    )
    rotation.status, rotation.settled_at, rotation.pending = RotationStatus.FAILED, now, None
    rotation.detail = why[:500]
    rotation.save(update_fields=["status", "settled_at", "pending", "detail", "task"])
    _audit(rotation, "rotation_failed", detail=rotation.detail, task=rotation.task.pk)


def rotations_settle(sender: Any = None, *, entries: Collection[ProvisioningEntry], **kwargs: Any) -> None:
    """Receiver of ``provisioning.signals.entries_settled``: keep or discard the new password of
    every pending rotation whose CHANGE_PASSWORD entry settled (inside provisioning's transaction)."""
    outcome = {
        e.pk: e
        for e in entries
        if e.status in (EntryStatus.SUCCEEDED, EntryStatus.FAILED, EntryStatus.CANCELED)
    }
    if not outcome:
        return
    rotations = (
        PasswordRotation.objects.select_for_update(of=("self",))
        .select_related("account__resource", "account__responsible", "secret", "pending")
        .filter(entry_id__in=list(outcome), status=RotationStatus.PENDING)
        .order_by("pk")
    )
    now = timezone.now()
    for rotation in rotations:
        entry = outcome[rotation.entry_id]  # type: ignore[index]  # filtered on entry_id above
        if entry.status == EntryStatus.SUCCEEDED:
            _confirm(rotation, now)
        else:
            _fail(rotation, entry, now)


@transaction.atomic
def rotation_task_decide(
    *, actor: Any, source: str, task: Task, decision: str, comment: str = "", **details: Any
) -> Any:
    """A failed rotation's task: approve = rotate again now; reject = keep the current password."""
    locked = Task.objects.select_for_update().get(pk=task.pk)
    if locked.status != TaskStatus.OPEN:
        raise Conflict(f"This task was already {locked.get_status_display().lower()}.", code="task_closed")
    if not (locked.assignees.filter(pk=getattr(actor, "pk", None)).exists() or can(actor, "manage_config")):
        raise NotAllowed("Only the account's responsible, the resource's owners or an administrator decide.")
    rotation = PasswordRotation.objects.select_related("account").filter(pk=locked.subject_id or 0).first()
    if rotation is None:
        raise Conflict("This task's rotation is gone.", code="subject_gone")
    again = decision == APPROVE
    task_close(
        task=locked,
        status=TaskStatus.APPROVED if again else TaskStatus.REJECTED,
        actor=actor,
        comment=comment,
    )
    result = None
    if again:
        result = account_password_rotate(
            actor=actor, source=source, account=rotation.account, reason="retry of a failed rotation"
        )
    audit_record(
        actor=actor,
        action="vault.password.rotation_task_decided",
        obj=rotation.account,
        new={"rotation": rotation.pk, "decision": decision, "comment": comment, "retry": result},
        source=source,
    )
    return result


def rotations_resolve(ids: Collection[int]) -> Mapping[int, PasswordRotation]:
    return PasswordRotation.objects.select_related("account__resource").in_bulk(list(ids))


def rotation_label(rotation: PasswordRotation) -> str:
    return f"Password rotation of {rotation.account}"


def rotation_console_url(rotation: PasswordRotation) -> str:
    return reverse("console:account_detail", args=[rotation.account_id])


def register() -> None:
    """From ``VaultConfig.ready``: the task kind, its subject and the settled-entries receiver."""
    register_task_kind(TaskKind.ROTATION, decide=rotation_task_decide)
    register_subject_kind(
        ROTATION_SUBJECT,
        noun=gettext_lazy("Password rotation"),
        resolve=rotations_resolve,
        label=rotation_label,
        console_url=rotation_console_url,
    )
    entries_settled.connect(rotations_settle, dispatch_uid="vault.rotations_settle")


def pending_rotation(account: Account) -> PasswordRotation | None:
    """The rotation of ``account`` waiting for the application, if any."""
    return PasswordRotation.objects.filter(account=account, status=RotationStatus.PENDING).first()
