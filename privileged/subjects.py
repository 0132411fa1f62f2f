"""The kind of task subject this app owns: an access request (``"access_request", id``). Its
approval and review tasks point at it, so My tasks and the console queues name the request
("Privileged access to root@aws for ana.souza") and link to it."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from django.urls import reverse

from privileged.models import AccessRequest
from worklist.registry import SubjectRef, register_subject_kind

REQUEST_SUBJECT = "access_request"


def request_subject(req: AccessRequest) -> SubjectRef:
    """The typed link of an access request's task."""
    return SubjectRef(REQUEST_SUBJECT, req.pk)


def requests_resolve(ids: Collection[int]) -> Mapping[int, AccessRequest]:
    """Many requests at once (one query), with their requester and credential."""
    return AccessRequest.objects.select_related("requester", "account__resource").in_bulk(list(ids))


def request_label(req: AccessRequest) -> str:
    return f"Privileged access to {req.account} for {req.requester.username}"


def request_console_url(req: AccessRequest) -> str:
    return reverse("console_privileged:request", args=[req.pk])


def register() -> None:
    register_subject_kind(
        REQUEST_SUBJECT,
        noun="Access request",
        resolve=requests_resolve,
        label=request_label,
        console_url=request_console_url,
    )
