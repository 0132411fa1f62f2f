"""Ids typed by people and clients (form fields, query parameters, import cells)."""

from __future__ import annotations

MAX_ID = 2**63 - 1  # PostgreSQL bigint, the widest primary key Blazon uses


def parse_id(value: object) -> int | None:
    """The id ``value`` names when it is ASCII digits that fit a primary key, else None.

    ``str.isdigit`` alone is not enough: it accepts "²" and "٣", which ``int`` then refuses
    (or reads as a different number), and ``int`` refuses more than 4,300 digits with a ValueError.
    """
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > 19 or not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None
