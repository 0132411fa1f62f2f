"""Time-bound access: requests for accounts, entitlements and roles with a start and/or end.

* start: an approved request waits until its start date; ``requests_start_due`` (periodic)
  applies those whose time has come — and sweeps any approved request whose task was lost;
* notice: ``requests_notify_expiring`` e-mails the beneficiary
  ``BLAZON_ACCESS_EXPIRY_NOTICE_DAYS`` days (default 3) before the end;
* end: ``requests_end_due`` creates the automatic REVOKE_* request that removes the access.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext

from blazon import notify
from blazon.errors import DomainError
from blazon.language import recipient_language
from directory.models import Source
from requests_workflow import tasks
from requests_workflow.models import Request, RequestStatus
from requests_workflow.services.common import request_event
from requests_workflow.services.pipeline import request_process
from requests_workflow.services.requests import request_create
from requests_workflow.types import END_OF_ACCESS

logger = logging.getLogger("blazon.requests")
R = RequestStatus


def expiry_notice_days() -> int:
    return int(getattr(settings, "BLAZON_ACCESS_EXPIRY_NOTICE_DAYS", 3))


def requests_start_due(*, limit: int = 1000) -> int:
    """Apply approved requests whose access period has started (or that have no start date and
    were left behind); returns how many were processed."""
    now = timezone.now()
    ids = list(
        Request.objects.filter(status=R.APPROVED)
        .exclude(start_at__gt=now)
        .order_by("start_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        request_process(request_id=pk)
    return len(ids)


def _ending() -> QuerySet[Request]:
    return Request.objects.filter(
        status=R.FINISHED, type__in=list(END_OF_ACCESS), end_at__isnull=False, access_ended_at__isnull=True
    )


def requests_notify_expiring(*, limit: int = 1000) -> int:
    """E-mail beneficiaries whose time-bound access ends within the notice period (once each)."""
    now = timezone.now()
    horizon = now + timedelta(days=expiry_notice_days())
    ids = list(
        _ending()
        .filter(end_at__gt=now, end_at__lte=horizon, expiry_notice_sent_at__isnull=True)
        .order_by("end_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for pk in ids:
        with transaction.atomic():
            req = Request.objects.select_for_update(of=("self",)).select_related("beneficiary").get(pk=pk)
            if req.expiry_notice_sent_at is not None:
                continue
            req.expiry_notice_sent_at = now
            req.save(update_fields=["expiry_notice_sent_at", "updated_at"])
            user = req.beneficiary
            if user is None or not user.email:
                request_event(
                    req, stage=5, message="Expiry notice not sent: the beneficiary has no e-mail address."
                )
                continue
            request_event(req, stage=5, message=f"Expiry notice e-mailed to {user.email}.")
            notify.on_commit(tasks.mail_expiry_notice, req.pk)
            sent += 1
    return sent


def expiry_notice_send(request_id: int) -> int:
    """E-mail the beneficiary of a time-bound access that its end is near (the notice recorded
    by ``requests_notify_expiring``); how many e-mails were sent (0 if the request is gone or
    its beneficiary has no address any more). Run by the ``mail_expiry_notice`` outbox task."""
    req = (
        Request.objects.select_related("beneficiary", "resource", "entitlement", "role", "account__resource")
        .filter(pk=request_id)
        .first()
    )
    if req is None or req.end_at is None or req.beneficiary is None or not req.beneficiary.email:
        return 0
    user = req.beneficiary
    what = req.entitlement or req.role or (req.account and req.account.resource) or req.resource
    with translation.override(recipient_language(user)):
        subject = gettext("Your access to %(what)s ends on %(end)s") % {
            "what": what,
            "end": f"{req.end_at:%Y-%m-%d %H:%M}",
        }
        body = gettext(
            "Hello %(name)s,\n\nYour access to %(what)s (request #%(id)s) ends on "
            "%(end)s. Request it again before then if you still need it.\n"
        ) % {"name": user, "what": what, "id": req.pk, "end": f"{req.end_at:%Y-%m-%d %H:%M %Z}"}
    message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    return notify.send_messages([message], what=f"expiry notice, request #{req.pk}")


def requests_end_due(*, limit: int = 1000) -> int:
    """Create the automatic revoke request for each time-bound access past its end; returns how
    many revoke requests were created."""
    now = timezone.now()
    ids = list(_ending().filter(end_at__lte=now).order_by("end_at").values_list("pk", flat=True)[:limit])
    created = 0
    for pk in ids:
        with transaction.atomic():
            req = (
                Request.objects.select_for_update(of=("self",))
                .select_related("beneficiary", "account", "entitlement", "role")
                .get(pk=pk)
            )
            if req.access_ended_at is not None:
                continue
            req.access_ended_at = now
            req.save(update_fields=["access_ended_at", "updated_at"])
            revoke_type, refs = END_OF_ACCESS[req.type]
            try:
                with transaction.atomic():
                    follow = request_create(
                        actor=None,
                        source=Source.AUTOMATIC,
                        request_type=revoke_type,
                        beneficiary=req.beneficiary,
                        origin=req,
                        justification=f"End of the access period of request #{req.pk}.",
                        **{name: getattr(req, name) for name in refs},
                    )
            except DomainError as exc:
                request_event(req, stage=5, message=f"Access period ended; nothing revoked: {exc.message}")
                continue
            request_event(req, stage=5, message=f"Access period ended: revoke request #{follow.pk} created.")
            created += 1
    return created
