"""Console: background work — the outbox (pending, lag, dead letters with a Retry button for
administrators), intermediate work older than it should be, and the work counters."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from blazon.console import capability_required, render_console, report_domain_error
from blazon.errors import DomainError
from blazon.outbox.selectors import dead_letters
from blazon.outbox.services import counters, outbox_retry, outbox_state, stuck_after_seconds, stuck_work


@capability_required("view")
def work(request: HttpRequest) -> HttpResponse:
    page = Paginator(dead_letters(), 50).get_page(request.GET.get("page"))
    context = {
        "state": outbox_state(),
        "stuck": stuck_work(),
        "stuck_after": stuck_after_seconds(),
        "counters": counters(),
        "page_obj": page,
        "section": "operations",
    }
    return render_console(request, "console/operations/work.html", context)


@require_POST
@capability_required("manage_config")
def retry(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        row = outbox_retry(actor=request.user, message_id=pk)
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(
            request, _("Work item #%(id)s (%(kind)s) will be tried again.") % {"id": row.pk, "kind": row.kind}
        )
    return redirect("console_operations:work")
