"""Reconciliation runs: start (on demand, on schedule), execute (stage, classify, plan, then
apply unless it is a dry run or the safety limit stops it), confirm a stopped run, cancel one.

Applying goes through the directory's services with source ``reconciliation``, one staged row
at a time, each in its own transaction: a row the directory refuses is a row error and the run
goes on; the checkpoint (the last staged row applied) lets a run interrupted by a crash resume
where it stopped, without applying a row twice."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from blazon.audit.services import audit_record
from blazon.errors import Conflict, DomainError, NotAllowed, TransitionNotAllowed
from blazon.permissions import can
from directory.models import Account, Entitlement, Source, User
from directory.services.access.reconciled import (
    account_attributes_reconcile,
    account_owner_set,
    account_register_found,
    entitlement_reconcile,
    entitlement_register_found,
)
from directory.services.lifecycle import account_revoke, user_inactivate, user_revoke
from directory.services.users import user_create, user_update
from reconciliation.models import (
    DESTRUCTIVE,
    Action,
    ProfileKind,
    ReconciliationLink,
    ReconciliationProfile,
    ReconciliationRun,
    RunRowError,
    RunStatus,
    Situation,
    StagedRow,
)
from reconciliation.services.cases import case_open
from reconciliation.services.staging import (
    account_changes,
    classify,
    entitlement_changes,
    plan,
    row_hashes_keep,
    stage,
    stage_missing,
    summarize,
    user_changes,
)
from reconciliation.sources import SourceError

logger = logging.getLogger(__name__)
APPLY_CHUNK = 500
LIVE = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.APPLYING, RunStatus.WAITING_CONFIRMATION)
SKIP = (Action.IGNORE, Action.NONE, "")


def _admin(actor: Any) -> None:
    if actor is not None and not can(actor, "manage_config"):
        raise NotAllowed("Only an administrator may run a reconciliation.")


@transaction.atomic
def run_create(
    *,
    actor: Any,
    source: str,
    profile: ReconciliationProfile,
    dry_run: bool = False,
    full: bool | None = None,
) -> ReconciliationRun:
    """A new PENDING run of ``profile``; refused while another run of it is under way or waits
    for confirmation (``actor`` None: the scheduler). ``full`` None: incremental when the profile
    says so."""
    _admin(actor)
    locked = ReconciliationProfile.objects.select_for_update().get(pk=profile.pk)
    if not locked.active:
        raise Conflict(f"Profile {locked.name} is inactive: activate it to run it.")
    busy = ReconciliationRun.objects.filter(profile=locked, status__in=LIVE).first()
    if busy is not None:
        raise Conflict(
            f"Run #{busy.pk} of {locked.name} is {busy.get_status_display().lower()}: "
            "let it finish, confirm or cancel it first.",
            code="run_busy",
        )
    run = ReconciliationRun.objects.create(
        profile=locked,
        dry_run=bool(dry_run),
        full=(not locked.incremental) if full is None else bool(full),
        requested_by=actor if isinstance(actor, User) else None,
        source=source,
    )
    audit_record(
        actor=actor,
        action="reconciliation_run.started",
        obj=run,
        new={"profile": locked.code, "dry_run": run.dry_run, "full": run.full},
        source=source,
    )
    return run


def _fail(run: ReconciliationRun, message: str) -> ReconciliationRun:
    run.status, run.error, run.finished_at = RunStatus.FAILED, message, timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    audit_record(
        actor=run.requested_by,
        action="reconciliation_run.failed",
        obj=run,
        new={"error": message},
        source=run.source,
    )
    return run


def run_execute(run_id: int) -> ReconciliationRun:
    """Carry a run as far as it may go (idempotent: a finished run is left alone, an applying
    one resumes from its checkpoint)."""
    with transaction.atomic():
        run = ReconciliationRun.objects.select_for_update().select_related("profile").get(pk=run_id)
        # RUNNING again: the worker died while staging, which changed nothing: stage again
        if run.status not in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.APPLYING):
            return run
        resuming = run.status == RunStatus.APPLYING
        if not resuming:
            run.status, run.started_at = RunStatus.RUNNING, timezone.now()
            run.save(update_fields=["status", "started_at"])
    if not resuming:
        run = _prepare(run)
        if run.status != RunStatus.APPLYING:
            return run
    return _apply(run)


def _prepare(run: ReconciliationRun) -> ReconciliationRun:
    profile = run.profile
    actions = {a.situation: a.action for a in profile.actions.all()}
    try:
        with transaction.atomic():
            result = stage(run, profile)
    except SourceError as exc:
        return _fail(run, str(exc))
    run.rows_read, run.errors = result.rows, result.errors
    if result.errors > profile.max_row_errors:
        StagedRow.objects.filter(run=run).delete()
        ReconciliationRun.objects.filter(pk=run.pk).update(rows_read=run.rows_read, errors=run.errors)
        return _fail(
            run,
            f"{result.errors} malformed rows, more than the profile's limit of {profile.max_row_errors}: "
            "nothing was changed.",
        )
    with transaction.atomic():
        classify(run, profile)
        run.population = stage_missing(run, profile, actions)
        plan(run, profile, actions)
        summarize(run)
        run.destructive = StagedRow.objects.filter(run=run, action__in=DESTRUCTIVE).count()
        run.planned_at = timezone.now()
        run.save()
    limit = Decimal(profile.safety_share) * run.population / 100
    if run.dry_run:
        run.status, run.finished_at = RunStatus.SUCCEEDED, timezone.now()
        run.save(update_fields=["status", "finished_at"])
        audit_record(
            actor=run.requested_by,
            action="reconciliation_run.dry_run",
            obj=run,
            new={"situations": run.situations, "actions": run.actions, "errors": run.errors},
            source=run.source,
        )
        return run
    if run.destructive and run.destructive > limit and run.confirmed_by_id is None:
        run.status = RunStatus.WAITING_CONFIRMATION
        run.error = (
            f"The run would inactivate or revoke {run.destructive} of {run.population} objects, more than the "
            f"profile's safety limit of {profile.safety_share} %: an administrator must confirm it."
        )
        run.save(update_fields=["status", "error"])
        audit_record(
            actor=run.requested_by,
            action="reconciliation_run.safety_stop",
            obj=run,
            new={
                "destructive": run.destructive,
                "population": run.population,
                "share": str(profile.safety_share),
            },
            source=run.source,
        )
        return run
    run.status = RunStatus.APPLYING
    run.rows_total = StagedRow.objects.filter(run=run).exclude(action__in=SKIP).count()
    run.save(update_fields=["status", "rows_total"])
    return run


@transaction.atomic
def run_confirm(*, actor: Any, source: str, run: ReconciliationRun) -> ReconciliationRun:
    """An administrator accepts a run the safety limit stopped: it applies (call ``run_execute``
    after commit)."""
    if not can(actor, "manage_config"):
        raise NotAllowed("Only an administrator may confirm a reconciliation run.")
    locked = ReconciliationRun.objects.select_for_update().get(pk=run.pk)
    if locked.status != RunStatus.WAITING_CONFIRMATION:
        raise TransitionNotAllowed(
            f"Run #{locked.pk} is {locked.get_status_display().lower()}: nothing to confirm."
        )
    locked.status, locked.confirmed_by = RunStatus.APPLYING, actor
    locked.rows_total = StagedRow.objects.filter(run=locked).exclude(action__in=SKIP).count()
    locked.save(update_fields=["status", "confirmed_by", "rows_total"])
    audit_record(
        actor=actor,
        action="reconciliation_run.confirmed",
        obj=locked,
        new={"destructive": locked.destructive, "population": locked.population},
        source=source,
    )
    return locked


@transaction.atomic
def run_cancel(*, actor: Any, source: str, run: ReconciliationRun) -> ReconciliationRun:
    """Drop a run that waits for confirmation or has not started (nothing is applied), or stop
    one that is under way (it stops at its next page; what it applied stays, as the audit log says)."""
    if not can(actor, "manage_config"):
        raise NotAllowed("Only an administrator may cancel a reconciliation run.")
    locked = ReconciliationRun.objects.select_for_update().get(pk=run.pk)
    if locked.status not in LIVE:
        raise TransitionNotAllowed(
            f"Run #{locked.pk} is {locked.get_status_display().lower()}: it cannot be canceled."
        )
    locked.status, locked.finished_at = RunStatus.CANCELED, timezone.now()
    locked.save(update_fields=["status", "finished_at"])
    StagedRow.objects.filter(run=locked).delete()
    audit_record(actor=actor, action="reconciliation_run.canceled", obj=locked, source=source)
    return locked


# --- applying ---------------------------------------------------------------------------------------


def _apply(run: ReconciliationRun) -> ReconciliationRun:
    profile = run.profile
    # the rows to apply, read once (a few per cent of the source, as ids); then page by page
    todo = list(
        StagedRow.objects.filter(run=run, done=False, pk__gt=run.checkpoint)
        .exclude(action__in=SKIP)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(todo), APPLY_CHUNK):
        if ReconciliationRun.objects.filter(pk=run.pk, status=RunStatus.CANCELED).exists():
            return run  # an administrator stopped it: what was applied stays
        chunk = list(StagedRow.objects.filter(pk__in=todo[start : start + APPLY_CHUNK]).order_by("pk"))
        users = (
            User.objects.in_bulk(
                [r.object_min for r in chunk if r.object_min] + [r.owner_min for r in chunk if r.owner_min]
            )
            if profile.kind != ProfileKind.ENTITLEMENTS
            else {}
        )
        accounts = (
            Account.objects.select_related("resource").in_bulk([r.object_min for r in chunk if r.object_min])
            if profile.kind == ProfileKind.ACCOUNTS
            else {}
        )
        for staged in chunk:
            try:
                with transaction.atomic():
                    _apply_row(run, profile, staged, users, accounts)
                    StagedRow.objects.filter(pk=staged.pk).update(done=True)
            except DomainError as exc:
                RunRowError.objects.create(
                    run=run, row=staged.row, key=staged.key, reason=f"{staged.action}: {exc.message}"
                )
                run.errors += 1
            run.checkpoint = staged.pk
            run.rows_done += 1
        ReconciliationRun.objects.filter(pk=run.pk).update(
            checkpoint=run.checkpoint, rows_done=run.rows_done, errors=run.errors
        )
    with transaction.atomic():
        if profile.kind == ProfileKind.USERS:
            _links_write(run, profile)
        row_hashes_keep(run, profile)
        StagedRow.objects.filter(run=run).delete()
        run.status, run.finished_at = RunStatus.SUCCEEDED, timezone.now()
        run.save(update_fields=["status", "finished_at", "errors", "rows_done", "checkpoint"])
        audit_record(
            actor=run.requested_by,
            action="reconciliation_run.finished",
            obj=run,
            new={"situations": run.situations, "actions": run.actions, "errors": run.errors},
            source=run.source,
        )
    return run


def _links_write(run: ReconciliationRun, profile: ReconciliationProfile) -> None:
    """Remember which user each source key stands for (set-based): the found rows and the users
    created this run; a leaver's link goes once they were inactivated or revoked."""
    rows = StagedRow.objects.filter(run=run, situation=Situation.FOUND).values_list("key", "object_min")
    pairs: dict[str, int | None] = dict(rows)
    created = StagedRow.objects.filter(
        run=run, situation=Situation.NOT_FOUND, done=True, action=Action.CREATE
    )
    pairs.update(dict(created.values_list("key", "object_max")))
    gone = StagedRow.objects.filter(run=run, situation=Situation.MISSING, done=True, action__in=DESTRUCTIVE)
    links = ReconciliationLink.objects.filter(profile=profile)
    links.filter(key__in=gone.values("key")).delete()
    linked = {k: int(u) for k, u in pairs.items() if u}
    keys, users = list(linked), list(linked.values())
    for i in range(0, len(keys), 5000):
        links.filter(key__in=keys[i : i + 5000]).delete()
        links.filter(user_id__in=users[i : i + 5000]).delete()
    ReconciliationLink.objects.bulk_create(
        (ReconciliationLink(profile=profile, key=k, user_id=u) for k, u in linked.items()),
        batch_size=5000,
        ignore_conflicts=True,  # two source keys found the same user: the first keeps the link
    )


def _user_data(values: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        k: (v or None if k in ("manager", "organization", "start_date", "end_date") else v)
        for k, v in values.items()
        if not k.startswith("attributes.")
    }
    attrs = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("attributes.")}
    if attrs:
        data["attributes"] = attrs
    return data


def _apply_row(
    run: ReconciliationRun,
    profile: ReconciliationProfile,
    staged: StagedRow,
    users: dict[Any, User],
    accounts: dict[Any, Account],
) -> None:
    actor = run.requested_by
    src = Source.RECONCILIATION
    action = staged.action
    if action == Action.MANUAL:
        case_open(run=run, profile=profile, staged=staged)
        return
    if profile.kind == ProfileKind.USERS:
        user = users.get(staged.object_min) if staged.object_min else None
        if action == Action.CREATE:
            created = user_create(actor=actor, source=src, data=_user_data(staged.values))
            StagedRow.objects.filter(pk=staged.pk).update(object_max=created.pk)
        elif action == Action.UPDATE and user is not None:
            user = User.objects.select_related("manager", "organization").get(pk=user.pk)
            changes = user_changes(user, staged.values)
            if changes:
                user_update(actor=actor, source=src, user=user, data=changes)
        elif action == Action.INACTIVATE and user is not None:
            user_inactivate(actor=actor, source=src, user=user)
        elif action == Action.REVOKE and user is not None:
            user_revoke(actor=actor, source=src, user=user)
        return
    resource = profile.resource
    assert resource is not None
    if profile.kind == ProfileKind.ENTITLEMENTS:
        values = staged.values
        attrs = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("attributes.")}
        if action == Action.CREATE:
            entitlement_register_found(
                actor=actor, source=src, resource=resource, identifier=staged.key,
                name=values.get("name") or staged.data.get("name") or staged.key,
                description=values.get("description", ""), attributes=attrs,
            )  # fmt: skip
        elif action == Action.UPDATE and staged.object_min:
            entitlement = Entitlement.objects.get(pk=staged.object_min)
            changes = entitlement_changes(entitlement, values)
            if changes:
                entitlement_reconcile(actor=actor, source=src, entitlement=entitlement, data=changes)
        return
    account = accounts.get(staged.object_min) if staged.object_min else None
    owner = users.get(staged.owner_min) if staged.owner_min else None
    attributes = {
        (k.split(".", 1)[1] if k.startswith("attributes.") else k): v for k, v in staged.values.items()
    }
    enabled = staged.data.get("enabled", "true") != "false"
    if action == Action.UPDATE and account is not None:
        changes = account_changes(account, staged.values)
        if changes:
            account_attributes_reconcile(actor=actor, source=src, account=account, attributes=changes)
    elif action == Action.LINK:
        if account is None:
            account_register_found(
                actor=actor, source=src, resource=resource, identifier=staged.key, owner=owner,
                attributes=attributes, enabled=enabled,
            )  # fmt: skip
        else:
            account_owner_set(actor=actor, source=src, account=account, owner=owner)
    elif action == Action.UNLINK and account is not None:
        account_owner_set(actor=actor, source=src, account=account, owner=None)
    elif action == Action.CREATE and account is None:
        account_register_found(
            actor=actor,
            source=src,
            resource=resource,
            identifier=staged.key,
            attributes=attributes,
            enabled=enabled,
        )
    elif action == Action.REVOKE:
        if account is None:  # a rogue account: record it, then tell the application to revoke it
            account = account_register_found(
                actor=actor,
                source=src,
                resource=resource,
                identifier=staged.key,
                attributes=attributes,
                enabled=enabled,
            )
        account_revoke(actor=actor, source=src, account=account)


def run_and_execute(
    *,
    actor: Any,
    source: str,
    profile: ReconciliationProfile,
    dry_run: bool = False,
    full: bool | None = None,
) -> ReconciliationRun:
    """Create a run and carry it through now (the command line and the in-process scheduler)."""
    run = run_create(actor=actor, source=source, profile=profile, dry_run=dry_run, full=full)
    return run_execute(run.pk)
