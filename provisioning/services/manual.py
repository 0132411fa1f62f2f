"""Manual resolution of a failed entry, and telling the request pipeline how its entries ended.

Seed 002: when the adapter cannot make a change it reports it, the entry becomes
WAITING_FAILOVER_RESOLVING and goes to manual provisioning: a PROVISIONING task for the
resource owners (unassigned, for a console administrator, when the resource has none). The
resolver either did the change by hand (``entry_resolve_done``, with the values the application
gave) or could not (``entry_resolve_failed``): that is the entry's final failure. Either way
the request the entry carries out (``ProvisioningEntry.request``) is told through
``provisioning.signals``; the request app then finishes it or rolls it back, so the directory
never claims an access the application does not have. While an entry waits for a person, its
request keeps waiting too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from blazon.permissions import can
from directory.models import ProvisioningEvent, ProvisioningMode
from provisioning.models import ENTITLEMENT_EVENTS, EntryStatus, NativeIdentifier, ProvisioningEntry
from provisioning.signals import EntryNote, entries_settle, requests_lock, requests_noted, requests_settled
from provisioning.subjects import entry_of_task, entry_subject
from vault.models import Secret
from vault.services import secret_reveal
from worklist.models import Task, TaskKind, TaskStatus
from worklist.registry import APPROVE, tasks_sla_apply
from worklist.services import task_close, task_open

MEMBERSHIP_EVENTS = (ProvisioningEvent.GRANT_ENTITLEMENT, ProvisioningEvent.REVOKE_ENTITLEMENT)


def requests_lock_of(entry_ids: Iterable[int], **scope: Any) -> list[int]:
    """Lock the requests the entries ``entry_ids`` carry out (through the request app, see
    ``provisioning.signals``) before the caller locks the entries: the pipeline's lock order,
    the request first. ``scope`` narrows the entries (an adapter's resources). Returns the
    request ids, sorted."""
    ids = sorted(
        set(
            ProvisioningEntry.objects.filter(
                pk__in=list(entry_ids), request__isnull=False, **scope
            ).values_list("request_id", flat=True)
        )
    )
    requests_lock(ids)
    return ids


def native_identifier_remember(entry: ProvisioningEntry, value: str) -> None:
    """Remember the application's identifier of the object ``entry`` created or changed: the
    entitlement for an entitlement event, the account for an account event (a membership
    event names neither)."""
    if not value:
        return
    if entry.event_type in ENTITLEMENT_EVENTS:
        if entry.entitlement_id:
            NativeIdentifier.objects.update_or_create(
                entitlement_id=entry.entitlement_id,
                defaults={"value": value, "resource_id": entry.resource_id},
            )
    elif entry.account_id and entry.event_type not in MEMBERSHIP_EVENTS:
        NativeIdentifier.objects.update_or_create(
            account_id=entry.account_id, defaults={"value": value, "resource_id": entry.resource_id}
        )


def entry_send_to_manual(*, entry: ProvisioningEntry, why: str) -> Task:
    """A PROVISIONING task for the resource owners to make ``entry``'s change by hand (entry
    locked, already WAITING_FAILOVER_RESOLVING; its request, if any, locked before it)."""
    req = entry.request  # the task's subject and SLA; loaded through the entry's own link
    target = entry.account or entry.entitlement or entry.payload.get("identifier") or f"entry #{entry.pk}"
    title = (
        f"Provision by hand: {entry.get_event_type_display().lower()} {target} on {entry.resource.name} "
        f"(entry #{entry.pk})"
    )
    owners = list(entry.resource.owners.filter(status="ACTIVE"))
    task = task_open(
        kind=TaskKind.PROVISIONING, subject=entry_subject(entry), request=req, title=title, assignees=owners
    )
    tasks_sla_apply([task], req=req)  # due date and escalation, as for any task
    entry.manual_task = task
    entry.save(update_fields=["manual_task"])
    who = ", ".join(sorted(u.username for u in owners)) or "no owner: a console administrator"
    audit_record(
        actor=None,
        action="provisioning.manual_task_opened",
        obj=task,
        new={"entry": entry.pk, "resource": entry.resource.code, "reason": why, "assignees": who},
        source="automatic",
        subject_user_id=entry.user_id_ref,
    )
    if entry.request_id is not None:
        requests_noted(
            [
                EntryNote(
                    entry.request_id,
                    f"Provisioning entry #{entry.pk} ({entry.event_type}) failed: {why}. "
                    f"Task #{task.pk} asks {who} to do it by hand.",
                )
            ]
        )
    return task


def _lock_for_resolution(entry: ProvisioningEntry, actor: Any) -> tuple[ProvisioningEntry, Task]:
    requests_lock_of([entry.pk])
    locked = (
        ProvisioningEntry.objects.select_for_update(of=("self",))
        .select_related("resource", "manual_task")
        .get(pk=entry.pk)
    )
    waiting = locked.status == EntryStatus.WAITING_FAILOVER_RESOLVING or (
        locked.status == EntryStatus.PENDING and locked.mode == ProvisioningMode.MANUAL
    )
    if not waiting or locked.manual_task is None:
        raise Conflict(
            gettext("Provisioning entry #%(pk)s is %(status)s: it is not waiting for manual resolution.")
            % {"pk": locked.pk, "status": locked.status},
            code="entry_not_waiting",
        )
    task = Task.objects.select_for_update().get(pk=locked.manual_task.pk)
    may = task.assignees.filter(pk=getattr(actor, "pk", None)).exists() or can(actor, "manage_config")
    if actor is None or not may:
        raise NotAllowed(
            gettext(
                "%(value)s may not resolve task #%(pk)s: only its assignees (the resource owners) or an administrator may."
            )
            % {"value": getattr(actor, "username", "nobody"), "pk": task.pk}
        )
    return locked, task


@transaction.atomic
def entry_resolve_done(
    *,
    actor: Any,
    source: str,
    entry: ProvisioningEntry,
    native_identifier: str = "",
    attributes: dict[str, Any] | None = None,
    comment: str = "",
) -> ProvisioningEntry:
    """The resolver made the change by hand: the entry SUCCEEDED with the values they give."""
    if attributes is not None and not isinstance(attributes, dict):
        raise ValidationFailed(
            gettext("attributes must be an object."), fields={"attributes": [gettext("Expected an object.")]}
        )
    locked, task = _lock_for_resolution(entry, actor)
    before = locked.status
    now = timezone.now()
    locked.status, locked.finished_at, locked.updated_at = EntryStatus.SUCCEEDED, now, now
    locked.result = {
        "native_identifier": (native_identifier or "").strip(),
        "attributes": attributes or {},
        "detail": comment.strip(),
        "resolved_by": actor.username,
        "manual": True,
    }
    locked.save(update_fields=["status", "finished_at", "updated_at", "result"])
    native_identifier_remember(locked, locked.result["native_identifier"])
    task_close(task=task, status=TaskStatus.APPROVED, actor=actor, comment=comment.strip())
    audit_record(
        actor=actor,
        action="provisioning.entry_resolved",
        obj=locked,
        old={"status": before},
        new={"status": locked.status, "task": task.pk, **locked.result},
        source=source,
        subject_user_id=locked.user_id_ref,
    )
    if locked.request_id is not None:
        requests_noted(
            [
                EntryNote(
                    locked.request_id, f"Entry #{locked.pk} provisioned by hand by {actor.username}.", actor
                )
            ]
        )
    requests_settled([locked.request_id])
    entries_settle([locked])
    return locked


@transaction.atomic
def entry_resolve_failed(
    *, actor: Any, source: str, entry: ProvisioningEntry, reason: str
) -> ProvisioningEntry:
    """The resolver could not make the change either: the entry FAILED for good and its request
    (if any) is rolled back by the pipeline."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            gettext("Say why the change could not be made."), fields={"reason": [gettext("Required.")]}
        )
    locked, task = _lock_for_resolution(entry, actor)
    before = locked.status
    now = timezone.now()
    locked.status, locked.finished_at, locked.updated_at = EntryStatus.FAILED, now, now
    locked.last_error = (
        f"{locked.last_error}; manual resolution failed: {reason}" if locked.last_error else reason
    )
    locked.save(update_fields=["status", "finished_at", "updated_at", "last_error"])
    task_close(task=task, status=TaskStatus.REJECTED, actor=actor, comment=reason)
    audit_record(
        actor=actor,
        action="provisioning.entry_failed",
        obj=locked,
        old={"status": before},
        new={"status": locked.status, "task": task.pk, "reason": reason, "final": True},
        source=source,
        subject_user_id=locked.user_id_ref,
    )
    requests_settled([locked.request_id])
    entries_settle([locked])
    return locked


@transaction.atomic
def entry_secret_reveal(*, actor: Any, source: str, task: Task) -> str:
    """The password an entry refers to (an initial or rotated password), decrypted from the
    vault for an assignee of its open manual task who must type it into the application.
    Audited twice: the vault's reveal and this task's; the value is never recorded."""

    entry = entry_of_task(task, related=("resource",))
    secret_id = (entry.payload or {}).get("secret_id") if entry else None
    if entry is None or not secret_id:
        raise Conflict(gettext("Task #%(pk)s has no password to reveal.") % {"pk": task.pk}, code="no_secret")
    locked = Task.objects.get(pk=task.pk)
    if locked.status != TaskStatus.OPEN:
        raise Conflict(
            gettext("Task #%(pk)s is closed: its password is no longer shown.") % {"pk": task.pk},
            code="task_closed",
        )
    if actor is None or not locked.assignees.filter(pk=actor.pk).exists():
        raise NotAllowed(
            gettext("%(value)s may not see the password of task #%(pk)s: only its assignees may.")
            % {"value": getattr(actor, "username", "nobody"), "pk": task.pk}
        )
    secret = Secret.objects.filter(pk=secret_id).first()
    if secret is None:
        raise Conflict(
            gettext("The password this entry refers to is no longer in the vault."), code="secret_gone"
        )
    value = secret_reveal(actor=actor, source=source, secret=secret)
    audit_record(
        actor=actor,
        action="provisioning.secret_revealed",
        obj=entry,
        new={"task": task.pk, "secret": secret.pk, "resource": entry.resource.code},
        source=source,
        subject_user_id=entry.user_id_ref,
    )
    return value


def entry_task_decide(
    *, actor: Any, source: str, task: Task, decision: str, comment: str = "", **details: Any
) -> ProvisioningEntry:
    """How a decision on a PROVISIONING task applies (registered with the worklist by this app's
    ``ready()``): approve = the resolver made the change by hand (``native_identifier`` and
    ``attributes`` in ``details``), reject = they could not (the comment says why)."""
    entry = entry_of_task(task)
    if entry is None:
        raise Conflict(
            gettext("Task #%(pk)s belongs to no provisioning entry.") % {"pk": task.pk},
            code="entry_not_waiting",
        )
    if decision == APPROVE:
        return entry_resolve_done(
            actor=actor,
            source=source,
            entry=entry,
            native_identifier=details.get("native_identifier", ""),
            attributes=details.get("attributes"),
            comment=comment,
        )
    return entry_resolve_failed(actor=actor, source=source, entry=entry, reason=comment)
