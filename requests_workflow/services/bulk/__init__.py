"""Running a batch of new requests through stages 3–5 set-based (the CSV import).

``requests_process_many`` does for many NEW requests what ``pipeline.request_process`` does for
one, in a number of SQL statements that does not grow with the batch: the requests are locked
and loaded at once, the approval policies are loaded once and matched in memory with the same
rule (``approval_policy_applies``), the SoD check goes through ``sod_check_requests``, and the
directory changes, provisioning entries, timeline events, audit events and status changes are
written with one statement each. The result is the same as processing the requests one by one:
the same statuses, timeline messages, audit events (per request, in the same order, with the
same actor and correlation id), memberships and provisioning entries.

Set-based today: ``GRANT_ENTITLEMENT`` and ``REVOKE_ENTITLEMENT``. Everything else, and every
request the set path cannot decide exactly like the per-request path — one that needs approval
tasks or has SoD conflicts, a beneficiary with a revoked regular account or whose username is
taken on the resource, an entitlement the account already holds manually, a membership a role
keeps or that is not there, two requests for the same membership — goes through
``request_process``, in the same transaction. (``GRANT_ROLE``/``REVOKE_ROLE`` fan out through
the role's items: they stay per request for now.)

Safety: the batch's requests are locked ``FOR UPDATE SKIP LOCKED`` and only those still NEW are
taken, so a concurrent ``process_request`` for one of them, or the batch run twice, has one
effect; the batch is one transaction.

The steps are modules: ``decide`` reads the batch and decides in memory what each request
becomes (stages 3 and 4), ``write`` writes it with a constant number of statements. The
package's public name is ``requests_process_many``; ``SET_TYPES`` stays importable here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import IntegrityError, transaction

from blazon.outbox.services import outbox_batch
from blazon.tasks import TRANSIENT_ERRORS
from requests_workflow.models import Request, RequestStatus
from requests_workflow.notify import request_outcome_notify
from requests_workflow.services.bulk.decide import SET_TYPES, stage3, stage4_prepare
from requests_workflow.services.bulk.write import write
from requests_workflow.services.common import TERMINAL
from requests_workflow.services.pipeline import request_process

__all__ = ["SET_TYPES", "requests_process_many"]

R = RequestStatus
logger = logging.getLogger(__name__)


def requests_process_many(request_ids: Iterable[int]) -> dict[str, int]:
    """Carry the NEW requests among ``request_ids`` through stages 3–5 (see the module doc).
    Returns counts: ``set`` (handled set-based), ``single`` (through ``request_process``),
    ``skipped`` (locked by someone else or no longer NEW)."""
    ids = sorted(set(request_ids))
    if not ids:
        return {"set": 0, "single": 0, "skipped": 0}
    with transaction.atomic():
        reqs = list(
            Request.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related(
                "beneficiary__manager",
                "beneficiary__organization",
                "requester",
                "resource",
                "account__resource",
                "entitlement__resource",
                "role",
            )
            .filter(pk__in=ids, status=R.NEW)
            .order_by("pk")
        )
        runs, single = stage3(reqs)
        runs, more = stage4_prepare(runs)
        single += more
        if runs:
            try:
                with transaction.atomic():
                    write(runs)
            except IntegrityError:  # a concurrent change took an account or a membership
                single += [run.req for run in runs]
                runs = []
        for req in sorted(single, key=lambda r: r.pk):
            _process_one(req.pk)
        _notify_final(run.req for run in runs)
    return {"set": len(runs), "single": len(single), "skipped": len(ids) - len(reqs)}


def _process_one(request_id: int) -> None:
    """``request_process`` for one request of the batch. An error it raises undoes that
    request's processing only (its savepoint) and is logged: the request stays NEW, as it would
    after its own task failed, and the rest of the batch goes on. A transient database error
    fails the batch, so that the task is retried."""
    try:
        request_process(request_id=request_id)
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        logger.exception("request #%s could not be processed in its import batch", request_id)


def _notify_final(reqs: Iterable[Request]) -> None:
    """The outcome e-mail of each request the batch ended, as ``request_move`` queues it (their
    outbox rows in one INSERT)."""
    with outbox_batch():
        for req in reqs:
            if req.status in TERMINAL:
                request_outcome_notify(req)
