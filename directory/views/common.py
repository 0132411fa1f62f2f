"""Kept for one release: the capability gate, list helpers and error reporting moved to the
console kernel, ``blazon.console``; import them from there."""

from __future__ import annotations

from blazon.console.access import (
    capability_required,
    caps,
    report_domain_error,
    workspace_required,
)
from blazon.console.lists import PAGE_SIZE, list_page

__all__ = [
    "PAGE_SIZE",
    "capability_required",
    "caps",
    "list_page",
    "report_domain_error",
    "workspace_required",
]
