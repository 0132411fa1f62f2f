"""Starting runs in the background: on demand from the console and the API (the run is queued
after commit, in-process in embedded mode) and on each profile's cron schedule (beat)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from blazon.errors import Conflict
from blazon.tasks import enqueue_on_commit
from directory.models import Source
from reconciliation.cron import cron_matches
from reconciliation.models import ReconciliationProfile, ReconciliationRun
from reconciliation.services.runs import run_confirm, run_create
from reconciliation.tasks import execute_run


@transaction.atomic
def run_start(
    *,
    actor: Any,
    source: str,
    profile: ReconciliationProfile,
    dry_run: bool = False,
    full: bool | None = None,
) -> ReconciliationRun:
    """Create a run and queue it (it executes once this transaction commits)."""
    run = run_create(actor=actor, source=source, profile=profile, dry_run=dry_run, full=full)
    enqueue_on_commit(execute_run, run.pk)
    return run


@transaction.atomic
def run_confirm_and_queue(*, actor: Any, source: str, run: ReconciliationRun) -> ReconciliationRun:
    """Confirm a run the safety limit stopped and queue its applying."""
    confirmed = run_confirm(actor=actor, source=source, run=run)
    enqueue_on_commit(execute_run, confirmed.pk)
    return confirmed


def runs_start_due(now: Any = None) -> int:
    """Queue a run of every active profile whose schedule matches this minute and that has no
    run started by the schedule in it; how many were started."""
    now = timezone.localtime(now or timezone.now()).replace(second=0, microsecond=0)
    started = 0
    for profile in ReconciliationProfile.objects.filter(active=True).exclude(schedule=""):
        try:
            due = cron_matches(profile.schedule, now)
        except ValueError:
            continue
        if not due:
            continue
        # claim the minute (one UPDATE): a second beat, or a second call in the minute, starts nothing
        claimed = (
            ReconciliationProfile.objects.filter(pk=profile.pk)
            .exclude(last_scheduled_at=now)
            .update(last_scheduled_at=now)
        )
        if not claimed:
            continue
        try:
            run_start(actor=None, source=Source.AUTOMATIC, profile=profile)
            started += 1
        except Conflict:  # the previous run is still under way or waits for confirmation
            continue
    return started
