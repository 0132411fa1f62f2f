"""Audit log in the console: browse with filters and paging, export the same selection as CSV.

The CSV is streamed (the log can hold millions of rows) and every cell that a spreadsheet would
read as a formula is prefixed with a quote (CSV/formula injection)."""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date

from blazon.audit.models import AuditEvent
from blazon.console import ObjectListView, csv_response, csv_safe, list_filter

__all__ = ["audit_export", "audit_log", "csv_safe"]
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


class AuditLog(ObjectListView):
    """The log, newest first, 50 a page, filtered by the form's boxes (an action's beginning, a
    part of the actor's name, exact object, source and correlation id, and days)."""

    capability, template_name, paginate_by = "view_audit", "console/audit/list.html", 50
    queryset, csv_columns, csv_name = AuditEvent.objects.order_by("-seq"), CSV_COLUMNS, "audit"
    filters = {
        "action": "action__istartswith",
        "object_type": "object_type",
        "object_id": "object_id",
        "actor": "actor_repr__icontains",
        "source": "source",
        "correlation_id": "correlation_id",
    }

    def get_queryset(self) -> QuerySet:
        """From the first instant of ``date_from`` to the last of ``date_to`` (not a date: ignored)."""
        qs = super().get_queryset()
        for param, lookup, bound in (("date_from", "gte", time.min), ("date_to", "lte", time.max)):
            try:
                day = parse_date(self.request.GET.get(param, "").strip())
            except ValueError:  # well formed, but no such day (2020-02-31)
                day = None
            if day is not None:
                qs = qs.filter(**{f"created_at__{lookup}": timezone.make_aware(datetime.combine(day, bound))})
        return qs

    def extra_context(self) -> dict[str, Any]:
        distinct = AuditEvent.objects.order_by()
        return {
            "filters": {name: v for name in FILTERS if (v := self.request.GET.get(name, "").strip())},
            "object_types": distinct.values_list("object_type", flat=True).distinct()[:200],
            "sources": distinct.values_list("source", flat=True).distinct()[:50],
        }


class AuditExport(AuditLog):
    """The page's selection as CSV (streamed: the log can hold millions of rows)."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> StreamingHttpResponse:
        rows, __ = list_filter(request, self.get_queryset(), filters=self.filters)
        return csv_response(rows, self.csv_columns, self.csv_name)


audit_log = AuditLog.as_view()
audit_export = AuditExport.as_view()
