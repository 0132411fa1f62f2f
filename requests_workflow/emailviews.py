"""The page an e-mail approval link opens (issue #3, section 7).

GET checks the link (signature, age, task still open, approver still assigned) and shows the
request with a confirmation form; it changes nothing. POST (the form, CSRF-protected) decides the
task through ``task_approve``/``task_reject`` as the link's approver: the signed link is the
credential, no sign-in is needed. A refused link gets a page that says why, with 400 (bad
link) or 410 (expired, already decided, reassigned), and nothing is changed.

The token is in the path, so these responses are never logged by ``django.request``, never cached
and send no ``Referer``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from blazon.errors import DomainError, ValidationFailed
from blazon.links import protect_link_page
from directory.models import Source, User
from requests_workflow.mail import APPROVE, LinkClaim, LinkError, check_claim, link_hours, read_token
from requests_workflow.models import Request
from requests_workflow.services.approvals import task_approve, task_reject
from requests_workflow.views.common import request_object
from worklist.models import Task

SOURCE = Source.WORKSPACE


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return protect_link_page(render(request, template, context, status=status))


def _refused(request: HttpRequest, error: LinkError | DomainError, status: int | None = None) -> HttpResponse:
    if isinstance(error, LinkError):
        title, message, code = error.title, error.message, error.status
    else:
        title, message, code = gettext("This link can no longer be used"), error.message, 410
    return _page(request, "approvals/refused.html", {"title": title, "message": message}, status or code)


def _load(claim: LinkClaim, *, lock: bool) -> tuple[Task | None, User | None]:
    """The task and approver the link names; locked (request, then task) for a decision."""
    if lock:
        request_id = Task.objects.filter(pk=claim.task_id).values_list("request_id", flat=True).first()
        if request_id is not None:
            list(Request.objects.select_for_update().filter(pk=request_id))
        tasks = Task.objects.select_for_update(of=("self",))
    else:
        tasks = Task.objects.all()
    task = tasks.select_related("request", "queue", "decided_by").filter(pk=claim.task_id).first()
    approver = User.objects.filter(pk=claim.approver_id).first()
    return task, approver


def _context(
    request: HttpRequest, claim: LinkClaim, task: Task, approver: User, **extra: Any
) -> dict[str, Any]:
    req = task.request
    signed_in = request.user if request.user.is_authenticated else None
    return {
        "task": task,
        "req": req,
        "what": request_object(req),
        "approver": approver,
        "beneficiary_name": req.beneficiary_name,
        "decision": claim.decision,
        "other_user": signed_in if signed_in is not None and signed_in.pk != approver.pk else None,
        "hours": link_hours(),
        **extra,
    }


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        claim = read_token(token)
    except LinkError as exc:
        return _refused(request, exc)

    if request.method != "POST":
        task, approver = _load(claim, lock=False)
        try:
            check_claim(claim, task, approver)
        except LinkError as exc:
            return _refused(request, exc)
        return _page(request, "approvals/confirm.html", _context(request, claim, task, approver))

    text = request.POST.get("comment", "").strip()[:2000]
    if claim.decision != APPROVE and not text:
        task, approver = _load(claim, lock=False)
        try:
            check_claim(claim, task, approver)
        except LinkError as exc:
            return _refused(request, exc)
        context = _context(request, claim, task, approver, error=gettext("A rejection needs a reason."))
        return _page(request, "approvals/confirm.html", context, status=400)

    try:
        with transaction.atomic():
            task, approver = _load(claim, lock=True)
            check_claim(claim, task, approver)
            if claim.decision == APPROVE:
                task_approve(actor=approver, source=SOURCE, task=task, comment=text)
            else:
                task_reject(actor=approver, source=SOURCE, task=task, reason=text)
    except LinkError as exc:
        return _refused(request, exc)
    except ValidationFailed as exc:
        task, approver = _load(claim, lock=False)
        context = _context(request, claim, task, approver, error=exc.message)
        return _page(request, "approvals/confirm.html", context, status=400)
    except DomainError as exc:
        return _refused(request, exc)
    task.refresh_from_db()
    task.request.refresh_from_db()
    return _page(request, "approvals/done.html", _context(request, claim, task, approver))
