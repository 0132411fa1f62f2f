"""What the request app does when provisioning announces something about entries that carry
out its requests (``provisioning.signals``). Connected in ``RequestsWorkflowConfig.ready``.

Provisioning sits below this app and never imports it: it only knows an entry's typed link
(``ProvisioningEntry.request``) and sends these signals inside its own transaction.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext

from blazon.errors import Conflict
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.signals import (
    EntryNote,
    request_entries_locking,
    request_entries_noted,
    request_entries_settled,
    request_entry_retrying,
)
from requests_workflow.models import Request, RequestEvent, RequestStatus
from requests_workflow.services.pipeline import request_settle

#: The stage of a request whose entries provisioning reports on.
PROVISIONING_STAGE = 5


def _locked(request_ids: list[int]) -> Any:
    return Request.objects.select_for_update(of=("self",)).filter(pk__in=request_ids).order_by("pk")


def requests_lock(sender: Any, *, request_ids: list[int], **kwargs: Any) -> None:
    """Lock the requests before provisioning locks their entries (the pipeline's lock order)."""
    list(_locked(request_ids).values_list("pk", flat=True))


def requests_settle(sender: Any, *, request_ids: list[int], **kwargs: Any) -> None:
    """Finish or roll back each request whose entries all reached an outcome."""
    for req in _locked(request_ids).filter(status=RequestStatus.WAITING_PROVISIONING):
        request_settle(req)


def requests_note(sender: Any, *, notes: list[EntryNote], **kwargs: Any) -> None:
    """The lines provisioning has for the requests' timelines, in order (one INSERT)."""
    RequestEvent.objects.bulk_create(
        [
            RequestEvent(
                request_id=note.request_id,
                stage=PROVISIONING_STAGE,
                actor=note.actor if getattr(note.actor, "pk", None) else None,
                message=note.message,
            )
            for note in notes
        ]
    )


def entry_retry_refuse_closed(
    sender: Any, *, entry: ProvisioningEntry, request_id: int, **kwargs: Any
) -> None:
    """A failed entry of a request that was rolled back is not retried: the application would
    get an access the directory no longer has."""
    if entry.status != EntryStatus.FAILED:
        return
    req = Request.objects.filter(pk=request_id).first()
    if req is None or req.status == RequestStatus.WAITING_PROVISIONING:
        return
    raise Conflict(
        gettext(
            "Provisioning entry #%(pk)s belongs to request #%(pk2)s, which is %(status)s (its directory change was rolled back): retrying would give the application an access the directory no longer has. Submit a new request instead."
        )
        % {"pk": entry.pk, "pk2": req.pk, "status": req.get_status_display().lower()},
        code="request_closed",
    )


def connect() -> None:
    request_entries_locking.connect(requests_lock, dispatch_uid="requests_workflow.requests_lock")
    request_entries_settled.connect(requests_settle, dispatch_uid="requests_workflow.requests_settle")
    request_entries_noted.connect(requests_note, dispatch_uid="requests_workflow.requests_note")
    request_entry_retrying.connect(entry_retry_refuse_closed, dispatch_uid="requests_workflow.entry_retry")
