"""A profile's schedule: a five-field cron expression (minute hour day-of-month month day-of-week;
numbers, ``*``, ``*/n``, ``a-b``, ``a-b/n`` and lists), checked when saved and matched each minute
by the beat task that starts due runs."""

from __future__ import annotations

from datetime import datetime

FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 6),
)


def _values(part: str, name: str, low: int, high: int) -> set[int]:
    out: set[int] = set()
    for item in part.split(","):
        rng, __, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"{name}: step {step_text!r} is not a positive number.")
            step = int(step_text)
        if rng == "*":
            start, end = low, high
        elif "-" in rng:
            a, __, b = rng.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise ValueError(f"{name}: {rng!r} is not a range of numbers.")
            start, end = int(a), int(b)
        elif rng.isdigit():
            start = end = int(rng)
            if step_text:
                end = high
        else:
            raise ValueError(f"{name}: {item!r} is not a number, a range or *.")
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ValueError(f"{name}: {item!r} is outside {low}-{high}.")
        out.update(range(start, end + 1, step))
    return out


def cron_parse(expression: str) -> list[set[int]]:
    """The allowed values of each field; ``ValueError`` with a clear message when invalid."""
    parts = (expression or "").split()
    if len(parts) != 5:
        raise ValueError("A schedule has five fields: minute hour day-of-month month day-of-week.")
    return [_values(p, name, low, high) for p, (name, low, high) in zip(parts, FIELDS, strict=True)]


def cron_matches(expression: str, when: datetime) -> bool:
    minute, hour, day, month, weekday = cron_parse(expression)
    return (
        when.minute in minute
        and when.hour in hour
        and when.day in day
        and when.month in month
        and (when.isoweekday() % 7) in weekday
    )
