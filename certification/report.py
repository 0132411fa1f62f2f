"""The campaign report (evidence for an auditor): one row per item with its decision, reviewer,
time, comment and the resulting request's outcome. Shared by the console and the API."""

from __future__ import annotations

from typing import Any

from certification.selectors import ITEM_RELATED

REPORT_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("item", "pk"),
    ("campaign", lambda i: i.campaign.name),
    ("kind", lambda i: i.get_kind_display()),
    ("beneficiary", lambda i: i.beneficiary.username if i.beneficiary else ""),
    ("access", lambda i: i.access_label),
    ("resource", lambda i: i.resource.code if i.resource else ""),
    ("criticality", "criticality"),
    (
        "reviewer",
        lambda i: i.reviewer.username if i.reviewer else (f"queue {i.queue.name}" if i.queue else ""),
    ),
    ("fallback_reviewer", lambda i: "yes" if i.reviewer_is_fallback else "no"),
    ("decision", lambda i: i.get_decision_display()),
    ("decided_by", lambda i: i.decided_by.username if i.decided_by else ""),
    ("decided_at", lambda i: i.decided_at.isoformat() if i.decided_at else ""),
    ("comment", "comment"),
    ("request", lambda i: i.request_id or ""),
    ("request_status", lambda i: i.request.get_status_display() if i.request else ""),
    ("outcome", lambda i: i.get_outcome_display()),
)


def report_items(items: Any) -> Any:
    return items.select_related(*ITEM_RELATED).order_by("id")


def report_rows(items: Any) -> list[list[str]]:
    """The report as rows (the API's JSON-free CSV is built from these)."""
    out = []
    for item in items:
        row = []
        for _, col in REPORT_COLUMNS:
            value = col(item) if callable(col) else getattr(item, col)
            row.append("" if value is None else str(value))
        out.append(row)
    return out
