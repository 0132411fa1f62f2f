"""The SoD interface the request pipeline calls in stage 3.

No SoD rules exist yet, so no request conflicts with anything: ``sod_check_request`` returns an
empty list and the pipeline records that no SoD policy matched. It never invents conflicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Conflict:
    """One SoD rule the requested access would break for the beneficiary."""

    rule_id: int | None
    rule_name: str
    description: str
    conflicting_with: list[str] = field(default_factory=list)


def sod_check_request(request: Any) -> list[Conflict]:
    """Conflicts the access asked for in ``request`` would create for its beneficiary (none until
    SoD rules exist)."""
    return []


def sod_check_requests(requests: Iterable[Any]) -> dict[int, list[Conflict]]:
    """``sod_check_request`` for a batch (the set-based pipeline): request pk → its conflicts.
    Rules, when they exist, are to be loaded once here for the whole batch."""
    return {req.pk: sod_check_request(req) for req in requests}
