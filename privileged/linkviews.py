"""The page a privileged access approval link opens (``/privileged/links/<token>/``).

GET checks the link (signature, age, task still open, still this approver's) and shows the
request with a confirmation form; it never decides. POST (the form, CSRF-protected) decides the
task through ``task_decide`` as the link's approver — the same service as *My approvals*, so
nobody decides their own request and a finished request refuses. The signed link is the
credential (no sign-in needed), but a browser signed in as *someone else* is refused: the link
is for its approver only. Refused links get a page that says why (400 bad, 403 someone else,
410 expired or used) and nothing is changed.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from blazon.errors import DomainError
from blazon.links import LinkError, link_hours, protect_link_page
from directory.models import User
from privileged.links import LinkClaim, link_check, link_claim
from privileged.models import AccessRequest, AccessStatus
from worklist.models import Task
from worklist.services import task_decide

SOURCE = "email"


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return protect_link_page(render(request, template, context, status=status))


def _refused(request: HttpRequest, title: str, message: str, status: int) -> HttpResponse:
    return _page(request, "approvals/refused.html", {"title": title, "message": message}, status)


def _load(claim: LinkClaim, *, lock: bool) -> tuple[Task | None, User | None, AccessRequest | None]:
    """The task, approver and request the link names; locked (request, then task) to decide."""
    subject_id = Task.objects.filter(pk=claim.task_id).values_list("subject_id", flat=True).first()
    requests = AccessRequest.objects.select_related("requester", "account__resource")
    tasks = Task.objects.select_related("decided_by")
    if lock:
        requests = requests.select_for_update(of=("self",))
        tasks = tasks.select_for_update(of=("self",))
    req = requests.filter(pk=subject_id).first() if subject_id else None
    task = tasks.filter(pk=claim.task_id).first()
    return task, User.objects.filter(pk=claim.approver_id).first(), req


def _check(request: HttpRequest, claim: LinkClaim, task: Task | None, approver: User | None) -> None:
    link_check(claim, task, approver)
    assert approver is not None
    signed_in = request.user if request.user.is_authenticated else None
    if signed_in is not None and signed_in.pk != approver.pk:
        raise LinkError(
            "This link is not yours",
            f"It was sent to another approver, and you are signed in as {signed_in.get_username()}. "
            "Use the link of your own e-mail, or “My approvals” in the workspace.",
            status=403,
        )


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        claim = link_claim(token)
        if request.method != "POST":
            task, approver, req = _load(claim, lock=False)
            _check(request, claim, task, approver)
            return _page(
                request,
                "privileged_links/confirm.html",
                {
                    "task": task,
                    "req": req,
                    "approver": approver,
                    "decision": claim.decision,
                    "hours": link_hours(),
                },
            )
        with transaction.atomic():
            task, approver, req = _load(claim, lock=True)
            _check(request, claim, task, approver)
            assert task is not None and approver is not None
            if req is None or (req.status != AccessStatus.PENDING and req.requester_id != approver.pk):
                status = req.get_status_display().lower() if req else "gone"
                raise LinkError("This request can no longer change", f"The access request is {status}.")
            task_decide(
                actor=approver,
                source=SOURCE,
                task=task,
                decision=claim.decision,
                comment=request.POST.get("comment", "").strip()[:2000],
            )
    except LinkError as error:
        return _refused(request, error.title, error.message, error.status)
    except DomainError as error:
        return _refused(request, "This link cannot be used", error.message, 409)
    task.refresh_from_db()
    req.refresh_from_db()
    return _page(request, "privileged_links/done.html", {"task": task, "req": req, "approver": approver})


app_name = "privileged_links"
urlpatterns = [path("<str:token>/", confirm, name="confirm")]
