"""Requests as the subjects of tasks (``worklist.registry``): the worklist links an approval or
SoD task to its request through the typed link ("request", request id); this module tells it how
to load, name and link requests. Registered by this app's ``ready()``."""

from __future__ import annotations

from collections.abc import Collection

from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from requests_workflow.models import Request
from worklist.registry import SubjectRef, register_subject_kind

#: The subject kind of a task about a request.
REQUEST_SUBJECT = "request"

REQUEST_RELATED = (
    "requester",
    "beneficiary",
    "resource",
    "entitlement__resource",
    "role",
    "account__resource",
)


def request_subject(req: Request) -> SubjectRef:
    """The typed link of a task about ``req``."""
    return SubjectRef(REQUEST_SUBJECT, req.pk)


def request_object(req: Request) -> str:
    """What the request is about, in a few words."""
    if req.entitlement_id:
        return f"{req.entitlement.name} ({req.entitlement.resource.name})"
    if req.role_id:
        return gettext("Role %(name)s") % {"name": req.role.name}
    if req.account_id:
        return gettext("Account %(identifier)s (%(resource)s)") % {
            "identifier": req.account.identifier,
            "resource": req.account.resource.name,
        }
    if req.resource_id:
        return gettext("Account on %(resource)s") % {"resource": req.resource.name}
    user = (req.payload or {}).get("user") or {}
    if user:
        return " ".join(str(user.get(k) or "") for k in ("first_name", "last_name")).strip()
    return ""


def requests_resolve(ids: Collection[int]) -> dict[int, Request]:
    """The requests ``ids`` with what their label reads, in one query."""
    return Request.objects.select_related(*REQUEST_RELATED).in_bulk(list(ids))


def request_console_url(req: Request) -> str:
    return reverse("console_requests:detail", args=[req.pk])


def register() -> None:
    register_subject_kind(
        REQUEST_SUBJECT,
        noun=_("Request"),
        resolve=requests_resolve,
        label=request_object,
        console_url=request_console_url,
    )
