"""The periodic run (the beat): finish the campaigns whose end has come, start the periodic policies whose time has come."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import (
    Q,
)
from django.utils import timezone

from blazon.errors import TransitionNotAllowed, ValidationFailed
from certification.models import (
    CampaignStatus,
    CertificationCampaign,
    CertificationPolicy,
    PolicyTrigger,
)
from certification.services.campaigns.close import campaign_finish
from certification.services.campaigns.start import campaign_start


@dataclass
class RunResult:
    started: int = 0
    finished: int = 0
    empty: int = 0


def certification_run(*, now: datetime | None = None) -> RunResult:
    """What the beat does: finish the campaigns whose end has come, start the campaigns of the
    active policies whose time has come (a policy with nothing eligible waits for its next
    period). Each in its own transaction; idempotent (status and ``next_run_at`` guard)."""
    now = now or timezone.now()
    result = RunResult()
    for campaign in CertificationCampaign.objects.filter(status=CampaignStatus.RUNNING, ends_at__lte=now):
        try:
            campaign_finish(actor=None, source="automatic", campaign=campaign)
            result.finished += 1
        except TransitionNotAllowed:  # closed meanwhile
            continue
    due = CertificationPolicy.objects.filter(active=True, trigger=PolicyTrigger.PERIODIC).filter(
        Q(next_run_at__isnull=True) | Q(next_run_at__lte=now)
    )
    for policy in due:
        try:
            campaign_start(actor=None, source="automatic", policy=policy, starts_at=now)
            result.started += 1
        except ValidationFailed:
            with transaction.atomic():
                CertificationPolicy.objects.filter(pk=policy.pk).update(
                    last_run_at=now, next_run_at=now + timedelta(days=policy.period_days)
                )
            result.empty += 1
    return result
