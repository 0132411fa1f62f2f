"""Audit log in the console: browse with filters and paging, export the same selection as CSV.

The CSV is streamed (the log can hold millions of rows) and every cell that a spreadsheet would
read as a formula is prefixed with a quote (CSV/formula injection)."""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date

from blazon.audit.models import AuditEvent
from blazon.console import ConsoleView, csv_response, csv_safe, paginate

__all__ = ["audit_export", "audit_log", "csv_safe", "filtered_events"]
FILTERS = ("action", "object_type", "actor", "source", "correlation_id", "date_from", "date_to", "object_id")


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


CSV_COLUMNS = [
    ("seq", "seq"),
    ("created_at", lambda e: e.created_at.isoformat()),
    ("actor", "actor_repr"),
    ("action", "action"),
    ("object_type", "object_type"),
    ("object_id", "object_id"),
    ("object", "object_repr"),
    ("subject_user_id", "subject_user_id"),
    ("source", "source"),
    ("correlation_id", "correlation_id"),
    ("client_ip", "client_ip"),
    ("old_values", lambda e: _json(e.old_values)),
    ("new_values", lambda e: _json(e.new_values)),
    ("hash", "hash"),
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


class AuditLog(ConsoleView):
    capability, template_name = "view_audit", "console/audit/list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        qs, active = filtered_events(request.GET)
        distinct = AuditEvent.objects.order_by()
        context = {
            **paginate(request, qs, 50),
            "filters": active,
            "object_types": distinct.values_list("object_type", flat=True).distinct()[:200],
            "sources": distinct.values_list("source", flat=True).distinct()[:50],
        }
        return self.render(context)


class AuditExport(ConsoleView):
    """The selection of the page as CSV (the log can hold millions of rows: it is streamed)."""

    capability = "view_audit"

    def get(self, request: HttpRequest) -> StreamingHttpResponse:
        return csv_response(filtered_events(request.GET)[0], CSV_COLUMNS, "audit")


audit_log = AuditLog.as_view()
audit_export = AuditExport.as_view()
