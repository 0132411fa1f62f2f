"""Requests stuck in an intermediate state, and how the periodic sweep re-drives them.

Normally every step of a request is outbox work written in the transaction that made the step
due, so nothing stays behind. This is the net under that net (requests written before the
outbox existed, a handler dead-lettered and fixed since, a bug): a request that has been in a
state the pipeline should have moved it out of for longer than ``BLAZON_STUCK_AFTER_SECONDS``
is run through the pipeline again. Re-driving is idempotent: ``request_process`` and
``request_settle`` only do what the request's status (under its row lock) still calls for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_noop

from blazon.outbox.registry import register_sweep
from provisioning.models import OPEN_STATUSES, ProvisioningEntry
from requests_workflow.models import Request, RequestStatus
from requests_workflow.services.pipeline import request_process, request_settle

logger = logging.getLogger("blazon.requests")
R = RequestStatus


def stuck_new(older_than: datetime) -> QuerySet[Request]:
    """NEW requests not picked up by the pipeline since ``older_than``."""
    return Request.objects.filter(status=R.NEW, updated_at__lt=older_than)


def stuck_approved(older_than: datetime) -> QuerySet[Request]:
    """APPROVED requests whose access period has started (or has no start) and that were not
    applied since ``older_than``."""
    return Request.objects.filter(status=R.APPROVED, updated_at__lt=older_than).filter(
        Q(start_at__isnull=True) | Q(start_at__lte=timezone.now())
    )


def stuck_settled(older_than: datetime) -> QuerySet[Request]:
    """Requests WAITING_PROVISIONING since ``older_than`` whose entries have all settled (the
    announcement that should have finished or failed them was lost)."""
    entries = ProvisioningEntry.objects.filter(request_id=OuterRef("pk"))
    return Request.objects.filter(status=R.WAITING_PROVISIONING, updated_at__lt=older_than).filter(
        Exists(entries), ~Exists(entries.filter(status__in=OPEN_STATUSES))
    )


def _ids(queryset: QuerySet[Request], limit: int) -> list[int]:
    return list(queryset.order_by("updated_at", "pk").values_list("pk", flat=True)[:limit])


def _redrive(ids: list[int], what: str, step: Callable[[int], object]) -> int:
    done = 0
    for pk in ids:
        try:
            step(pk)
            done += 1
        except Exception:  # one bad request must not stop the sweep; it is logged and retried
            logger.exception("stuck-work sweep: request #%s (%s) could not be re-driven", pk, what)
    if ids:
        logger.warning("stuck-work sweep: re-drove %d %s request(s): %s", done, what, ids[:20])
    return done


def requests_redrive_new(older_than: datetime, limit: int) -> int:
    """Run the pipeline for stuck NEW requests; how many were re-driven."""
    return _redrive(_ids(stuck_new(older_than), limit), "NEW", lambda pk: request_process(request_id=pk))


def requests_redrive_approved(older_than: datetime, limit: int) -> int:
    """Apply stuck APPROVED requests (stage 4); how many were re-driven."""
    return _redrive(
        _ids(stuck_approved(older_than), limit), "APPROVED", lambda pk: request_process(request_id=pk)
    )


def _settle(pk: int) -> None:
    with transaction.atomic():
        req = Request.objects.select_for_update(of=("self",)).get(pk=pk)
        request_settle(req)


def requests_redrive_settled(older_than: datetime, limit: int) -> int:
    """Finish or fail stuck WAITING_PROVISIONING requests whose entries all settled."""
    return _redrive(_ids(stuck_settled(older_than), limit), "WAITING_PROVISIONING", _settle)


def register() -> None:
    """Plug the request sweeps into the kernel's stuck-work sweep (``AppConfig.ready``)."""

    register_sweep(
        "requests.new",
        label=gettext_noop("requests NEW"),
        count=lambda t: stuck_new(t).count(),
        redrive=requests_redrive_new,
    )
    register_sweep(
        "requests.approved",
        label=gettext_noop("requests APPROVED and due"),
        count=lambda t: stuck_approved(t).count(),
        redrive=requests_redrive_approved,
    )
    register_sweep(
        "requests.settled",
        label=gettext_noop("requests waiting for provisioning that has settled"),
        count=lambda t: stuck_settled(t).count(),
        redrive=requests_redrive_settled,
    )
