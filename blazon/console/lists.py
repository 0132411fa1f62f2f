"""List pages: search, exact filters, whitelisted sorting, paging, and the CSV export of the
same selection (streamed, every cell safe from spreadsheet formula injection)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import get_language

from blazon.templatetags.blazon_display import label

PAGE_SIZE = 25
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# A CSV column: its header and either an attribute path ("owner.username") or a function of the row.
Column = tuple[str, str | Callable[[Any], Any]]


def list_filter(
    request: HttpRequest,
    queryset: QuerySet,
    *,
    search: Iterable[str] = (),
    filters: Mapping[str, str] | None = None,
    orderings: Mapping[str, str] | None = None,
    default_order: str = "",
) -> tuple[QuerySet, dict[str, Any]]:
    """The rows a list page shows, and what it was asked for (``q``, active filters, order).

    Search is ``q`` over ``search`` fields; ``filters`` maps a query parameter to a lookup;
    ``orderings`` maps a public sort key (``o``, ``-`` for descending) to a model field, so only
    whitelisted columns can be sorted on."""
    q = request.GET.get("q", "").strip()
    if q and search:
        cond = Q()
        for field in search:
            cond |= Q(**{f"{field}__icontains": q})
        queryset = queryset.filter(cond)
    active: dict[str, str] = {}
    for param, lookup in (filters or {}).items():
        value = request.GET.get(param, "").strip()
        if value:
            if lookup.endswith("__isnull"):
                queryset = queryset.filter(**{lookup: value in {"1", "true", "yes"}})
            else:
                queryset = queryset.filter(**{lookup: value})
            active[param] = value
    order = request.GET.get("o", default_order)
    key = order.lstrip("-")
    if orderings and key in orderings:
        field = orderings[key]
        queryset = queryset.order_by(f"-{field}" if order.startswith("-") else field, "pk")
    else:
        order = ""
    return queryset, {"q": q, "active_filters": active, "order": order}


def paginate(request: HttpRequest, queryset: Any, per_page: int = PAGE_SIZE) -> dict[str, Any]:
    page = Paginator(queryset, per_page).get_page(request.GET.get("page"))
    return {"page_obj": page, "object_list": page.object_list}


def list_page(
    request: HttpRequest,
    queryset: QuerySet,
    *,
    search: Iterable[str] = (),
    filters: Mapping[str, str] | None = None,
    orderings: Mapping[str, str] | None = None,
    default_order: str = "",
) -> dict[str, Any]:
    """Search, filters, ordering and paging of a list, as template context."""
    rows, asked = list_filter(
        request, queryset, search=search, filters=filters, orderings=orderings, default_order=default_order
    )
    return {**paginate(request, rows), **asked}


def csv_safe(value: Any) -> str:
    """Text for one CSV cell that a spreadsheet will not evaluate as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(row: Any, column: str | Callable[[Any], Any]) -> Any:
    if callable(column):
        return column(row)
    value = row
    for part in column.split("."):
        value = getattr(value, part, None) if value is not None else None
    return value


def csv_header(key: str) -> str:
    """A column's header: in English its key, as always (``first_name``: scripts read it); in
    another language the key's label translated (``Nome``), for the people who open the file."""
    if (get_language() or "en").startswith("en"):
        return key
    return label(key)


def csv_rows(rows: Iterable[Any], columns: Sequence[Column]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([csv_header(str(header)) for header, _ in columns])
    for row in rows:
        yield writer.writerow([csv_safe(_cell(row, column)) for _, column in columns])


def csv_response(rows: Iterable[Any], columns: Sequence[Column], name: str) -> StreamingHttpResponse:
    """A streamed CSV download named ``blazon-<name>-<timestamp>.csv``; a queryset is read in
    chunks, so a list of millions of rows does not sit in memory."""
    if isinstance(rows, QuerySet):
        rows = rows.iterator(chunk_size=2000)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(csv_rows(rows, columns), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="blazon-{name}-{stamp}.csv"'
    return response
