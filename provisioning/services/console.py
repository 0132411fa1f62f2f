"""What an administrator does with the provisioning queue and a resource's provisioning
settings: retry or cancel an entry, set a resource's retry policy.

Each is one transaction, checks ``manage_config`` itself (the console and any API enforce the
same rule), refuses with a clear message when the entry's state does not allow it (nothing
changed), and writes its audit event. Lock order, as in the pipeline: the request, then the
entry.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from blazon.permissions import can
from directory.models import ProvisioningMode, Resource
from provisioning.models import EntryStatus, ProvisioningEntry, ResourceRetryPolicy
from provisioning.services import _manual_written
from provisioning.services.manual import requests_lock_of
from provisioning.signals import entries_settle, request_entry_retry_check, requests_settled
from worklist.models import Task
from worklist.services import tasks_cancel

RETRYABLE = (EntryStatus.FAILED, EntryStatus.WAITING_FAILOVER_RESOLVING)
CANCELABLE = (EntryStatus.PENDING, EntryStatus.FAILED, EntryStatus.PULLED)
MAX_FAILURES_LIMIT = 100
MAX_BACKOFF_SECONDS = 24 * 3600


def _require_admin(actor: Any, what: str) -> None:
    if not can(actor, "manage_config"):
        raise NotAllowed(gettext("Only an administrator may %(what)s.") % {"what": what})


def _lock(entry_id: int) -> ProvisioningEntry:
    if not ProvisioningEntry.objects.filter(pk=entry_id).exists():
        raise ValidationFailed(
            gettext("There is no provisioning entry #%(entry_id)s.") % {"entry_id": entry_id},
            fields={"entry": [gettext("Not found.")]},
        )
    requests_lock_of([entry_id])
    return (
        ProvisioningEntry.objects.select_for_update(of=("self",))
        .select_related("resource", "lease_owner")
        .get(pk=entry_id)
    )


def _cancel_task(entry: ProvisioningEntry, actor: Any, why: str) -> int | None:
    """Close the entry's open manual task (nobody must do it by hand any more)."""
    if entry.manual_task_id is None:
        return None
    n = tasks_cancel(Task.objects.filter(pk=entry.manual_task_id), actor=actor, comment=why)
    return entry.manual_task_id if n else None


@transaction.atomic
def entry_retry(*, actor: Any, source: str, entry_id: int) -> ProvisioningEntry:
    """Hand a failed entry (FAILED, or waiting for manual resolution) to the adapter again:
    PENDING, lease and retry delay cleared, transient failures reset; its open manual task is
    canceled (a MANUAL entry gets a new one). Refused for an entry whose request was already
    rolled back: the application would get an access the directory no longer has."""
    _require_admin(actor, "retry a provisioning entry")
    entry = _lock(entry_id)
    if entry.status not in RETRYABLE:
        raise Conflict(
            gettext(
                "Provisioning entry #%(pk)s is %(status)s: only a failed entry or one waiting for manual resolution can be retried."
            )
            % {"pk": entry.pk, "status": entry.get_status_display().lower()},
            code="entry_not_retryable",
        )
    request_entry_retry_check(entry)  # the request app refuses when the request was rolled back
    before = {
        "status": entry.status,
        "transient_failures": entry.transient_failures,
        "task": entry.manual_task_id,
    }
    canceled_task = _cancel_task(entry, actor, f"Entry #{entry.pk} retried by {actor.username}.")
    now = timezone.now()
    entry.status = EntryStatus.PENDING
    entry.lease_owner, entry.lease_until, entry.not_before = None, None, None
    entry.transient_failures, entry.finished_at, entry.updated_at = 0, None, now
    entry.manual_task = None
    entry.save(
        update_fields=[
            "status",
            "lease_owner",
            "lease_until",
            "not_before",
            "transient_failures",
            "finished_at",
            "updated_at",
            "manual_task",
        ]
    )
    audit_record(
        actor=actor,
        action="provisioning.entry_retried",
        obj=entry,
        old=before,
        new={"status": entry.status, "canceled_task": canceled_task},
        source=source,
        subject_user_id=entry.user_id_ref,
    )
    if entry.mode == ProvisioningMode.MANUAL:
        _manual_written()
    return entry


@transaction.atomic
def entry_cancel(*, actor: Any, source: str, entry_id: int, reason: str) -> ProvisioningEntry:
    """The application must not get this change (any more): PENDING or FAILED → CANCELED, its
    open manual task canceled. A PULLED entry only once its lease has expired (while it runs
    the adapter may be making the change). The directory is not changed; a request whose other
    entries are all done then finishes."""
    _require_admin(actor, "cancel a provisioning entry")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            gettext("Say why the entry is canceled."), fields={"reason": [gettext("Required.")]}
        )
    entry = _lock(entry_id)
    now = timezone.now()
    if entry.status == EntryStatus.PULLED and entry.lease_until and entry.lease_until >= now:
        raise Conflict(
            gettext(
                "Provisioning entry #%(pk)s is leased to adapter %(lease_owner)s until %(lease_until)s: the adapter may be making the change now. Wait for its report or for the lease to expire."
            )
            % {
                "pk": entry.pk,
                "lease_owner": entry.lease_owner,
                "lease_until": f"{entry.lease_until:%Y-%m-%d %H:%M:%S %Z}",
            },
            code="entry_leased",
        )
    if entry.status not in CANCELABLE:
        hint = (
            " Resolve its manual task, or retry it."
            if entry.status == EntryStatus.WAITING_FAILOVER_RESOLVING
            else ""
        )
        raise Conflict(
            gettext(
                "Provisioning entry #%(pk)s is %(status)s: only a pending or failed entry can be canceled.%(hint)s"
            )
            % {"pk": entry.pk, "status": entry.get_status_display().lower(), "hint": hint},
            code="entry_not_cancelable",
        )
    before = {"status": entry.status, "lease_owner": entry.lease_owner_id}
    canceled_task = _cancel_task(entry, actor, f"Entry #{entry.pk} canceled by {actor.username}: {reason}")
    entry.status, entry.lease_until, entry.updated_at = EntryStatus.CANCELED, None, now
    entry.finished_at = now
    entry.last_error = (
        f"{entry.last_error}; canceled: {reason}" if entry.last_error else f"canceled: {reason}"
    )
    entry.save(update_fields=["status", "lease_until", "updated_at", "finished_at", "last_error"])
    audit_record(
        actor=actor,
        action="provisioning.entry_canceled",
        obj=entry,
        old=before,
        new={"status": entry.status, "reason": reason, "canceled_task": canceled_task},
        source=source,
        subject_user_id=entry.user_id_ref,
    )
    requests_settled([entry.request_id])
    entries_settle([entry])
    return entry


def _optional_int(name: str, value: Any, low: int, high: int, errors: dict[str, list[str]]) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[name] = [gettext("A whole number, or empty for the default.")]
        return None
    if not low <= number <= high:
        errors[name] = [
            gettext("From %(low)s to %(high)s, or empty for the default.") % {"low": low, "high": high}
        ]
    return number


@transaction.atomic
def resource_retry_policy_set(
    *,
    actor: Any,
    source: str,
    resource: Resource,
    max_transient_failures: Any = None,
    backoff_seconds: Any = None,
    backoff_max_seconds: Any = None,
) -> ResourceRetryPolicy:
    """Set how Blazon retries a resource's entries after transient failures (empty: the
    defaults). Checked whole before anything is saved."""
    _require_admin(actor, "change a resource's retry policy")
    errors: dict[str, list[str]] = {}
    values = {
        "max_transient_failures": _optional_int(
            "max_transient_failures", max_transient_failures, 1, MAX_FAILURES_LIMIT, errors
        ),
        "backoff_seconds": _optional_int("backoff_seconds", backoff_seconds, 1, MAX_BACKOFF_SECONDS, errors),
        "backoff_max_seconds": _optional_int(
            "backoff_max_seconds", backoff_max_seconds, 1, MAX_BACKOFF_SECONDS, errors
        ),
    }
    low, high = values["backoff_seconds"], values["backoff_max_seconds"]
    if not errors and low is not None and high is not None and high < low:
        errors["backoff_max_seconds"] = [gettext("The longest delay cannot be shorter than the first one.")]
    if errors:
        raise ValidationFailed(gettext("The retry policy is not valid."), fields=errors)
    policy = ResourceRetryPolicy.objects.select_for_update().filter(resource=resource).first()
    old = None
    if policy is None:
        policy = ResourceRetryPolicy(resource=resource)
    else:
        old = {k: getattr(policy, k) for k in values}
    for key, value in values.items():
        setattr(policy, key, value)
    policy.save()
    audit_record(
        actor=actor,
        action="resource.retry_policy_set",
        obj=resource,
        old=old,
        new=values,
        source=source,
    )
    return policy
