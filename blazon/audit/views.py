"""Audit log in the console: browse with filters and paging, export the same selection as CSV.

The CSV is streamed (the log can hold millions of rows) and every cell that a spreadsheet would
read as a formula is prefixed with a quote (CSV/formula injection)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime, time
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET

from blazon.audit.models import AuditEvent
from directory.views.common import capability_required
from directory.views.console import render_console

FILTERS = ("action", "object_type", "actor", "source", "correlation_id", "date_from", "date_to", "object_id")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = [
    "seq",
    "created_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "object",
    "subject_user_id",
    "source",
    "correlation_id",
    "client_ip",
    "old_values",
    "new_values",
    "hash",
]


def _day_bound(value: str, end: bool) -> datetime | None:
    day = parse_date(value) if value else None
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.max if end else time.min))


def filtered_events(params: Any) -> tuple[QuerySet, dict[str, str]]:
    """The audit events matching the page's filters (shared by the page and the export)."""
    active = {name: (params.get(name) or "").strip() for name in FILTERS}
    qs = AuditEvent.objects.order_by("-seq")
    if active["action"]:
        qs = qs.filter(action__istartswith=active["action"])
    if active["object_type"]:
        qs = qs.filter(object_type=active["object_type"])
    if active["object_id"]:
        qs = qs.filter(object_id=active["object_id"])
    if active["actor"]:
        qs = qs.filter(actor_repr__icontains=active["actor"])
    if active["source"]:
        qs = qs.filter(source=active["source"])
    if active["correlation_id"]:
        qs = qs.filter(correlation_id=active["correlation_id"])
    start = _day_bound(active["date_from"], end=False)
    if start:
        qs = qs.filter(created_at__gte=start)
    end = _day_bound(active["date_to"], end=True)
    if end:
        qs = qs.filter(created_at__lte=end)
    return qs, {k: v for k, v in active.items() if v}


@require_GET
@capability_required("view_audit")
def audit_log(request: HttpRequest) -> HttpResponse:
    qs, active = filtered_events(request.GET)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    context = {
        "page_obj": page,
        "filters": active,
        "object_types": AuditEvent.objects.order_by().values_list("object_type", flat=True).distinct()[:200],
        "sources": AuditEvent.objects.order_by().values_list("source", flat=True).distinct()[:50],
    }
    return render_console(request, "console/audit/list.html", context)


def csv_safe(value: Any) -> str:
    """Text for one CSV cell that a spreadsheet will not evaluate as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def _rows(qs: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in qs.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                csv_safe(v)
                for v in (
                    event.seq,
                    event.created_at.isoformat(),
                    event.actor_repr,
                    event.action,
                    event.object_type,
                    event.object_id,
                    event.object_repr,
                    event.subject_user_id,
                    event.source,
                    event.correlation_id,
                    event.client_ip,
                    "" if event.old_values is None else _json(event.old_values),
                    "" if event.new_values is None else _json(event.new_values),
                    event.hash,
                )
            ]
        )


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@require_GET
@capability_required("view_audit")
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    qs, _ = filtered_events(request.GET)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(_rows(qs), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="blazon-audit-{stamp}.csv"'
    return response
