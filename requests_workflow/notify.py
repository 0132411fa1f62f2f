"""The request app's notifications, sent explicitly by the services that cause them (never from
model signals): each function here only *queues* the Celery task that sends the e-mail, once the
current transaction commits (the notify layer, ``blazon.notify``). A change that rolls back
therefore tells nobody, and a slow or failing mail server never holds a change up.

Today: how a request ended (``request_outcome_notify``), called where a request reaches a final
status (``services.common.request_move`` and the set-based ``services.bulk``).
"""

from __future__ import annotations

from blazon import notify
from requests_workflow import tasks
from requests_workflow.models import Request, RequestStatus

FINAL_STATUSES = frozenset(
    {RequestStatus.FINISHED, RequestStatus.REJECTED, RequestStatus.FAILED, RequestStatus.CANCELED}
)


def request_outcome_notify(req: Request) -> None:
    """``req`` reached a final status: its requester and beneficiary get the outcome e-mail
    (``mail.send_request_outcome``) after commit."""
    if req.status in FINAL_STATUSES and _may_have_recipient(req):
        notify.on_commit(tasks.mail_request_outcome, req.pk)


def _may_have_recipient(req: Request) -> bool:
    """False only when it is already known, without a query, that neither the requester nor the
    beneficiary has an e-mail address (both loaded, e.g. by the pipeline's select_related): the
    outcome task would then send nothing, so it is not queued (one Celery task less per request).
    When either is not loaded, the task is queued and decides as before."""
    for field in (Request.requester.field, Request.beneficiary.field):
        if getattr(req, field.attname) is None:
            continue
        if not field.is_cached(req):
            return True
        if field.get_cached_value(req).email:
            return True
    return False
