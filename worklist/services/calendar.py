"""Business hours on working calendars (seed 002, "Tarefas": calendars).

A calendar says when people work: weekdays and hours in one IANA time zone, minus holidays.
``business_deadline`` and ``business_hours_between`` count business hours on it; with no calendar
they count plain clock hours. Pure functions (they read the calendar's holidays, using a prefetch
when there is one).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from blazon.errors import ValidationFailed
from worklist.models import Calendar

#: How far ahead the calendar walk looks before it gives up (a calendar that is all holidays).
MAX_DAYS = 3660
WEEKDAYS = (_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday"))


# --- calendar math ----------------------------------------------------------------------------


def _hours(value: float | int | Decimal) -> timedelta:
    return timedelta(hours=float(value))


def _windows(calendar: Calendar, first: date) -> Iterable[tuple[datetime, datetime]]:
    """The working windows of ``calendar`` (as UTC instants) from the local day ``first`` on."""
    tz = ZoneInfo(calendar.timezone)
    days = {int(d) for d in calendar.working_days or []}
    holidays = {h.date for h in calendar.holidays.all()}  # uses a prefetch when there is one
    for offset in range(MAX_DAYS):
        day = first + timedelta(days=offset)
        if day.weekday() not in days or day in holidays:
            continue
        # local wall-clock times, converted to UTC before any arithmetic (DST-safe)
        start = datetime.combine(day, calendar.day_start, tzinfo=tz).astimezone(UTC)
        end = datetime.combine(day, calendar.day_end, tzinfo=tz).astimezone(UTC)
        if end > start:
            yield start, end


def _local_date(calendar: Calendar, instant: datetime) -> date:
    return instant.astimezone(ZoneInfo(calendar.timezone)).date()


def business_deadline(calendar: Calendar | None, start: datetime, hours: float | int | Decimal) -> datetime:
    """The instant ``hours`` business hours after ``start`` on ``calendar``: time outside the
    working days and hours and on holidays does not count. No calendar: clock hours."""
    if timezone.is_naive(start):
        raise ValueError("business_deadline needs a timezone-aware start")
    start = start.astimezone(UTC)  # aware arithmetic in a local zone is wall-clock: use UTC
    remaining = _hours(hours)
    if calendar is None or remaining <= timedelta(0):
        return start + remaining
    for window_start, window_end in _windows(calendar, _local_date(calendar, start)):
        if window_end <= start:
            continue
        cursor = max(start, window_start)
        available = window_end - cursor
        if remaining <= available:
            return cursor + remaining
        remaining -= available
    raise ValidationFailed(
        gettext("Calendar %(name)s has no working time in the next %(MAX_DAYS)s days.")
        % {"name": calendar.name, "MAX_DAYS": MAX_DAYS},
        fields={"calendar": [gettext("No working time.")]},
    )


def business_hours_between(calendar: Calendar | None, a: datetime, b: datetime) -> float:
    """Business hours from ``a`` to ``b`` on ``calendar`` (0 when ``b`` is not after ``a``).
    No calendar: clock hours."""
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    if b <= a:
        return 0.0
    if calendar is None:
        return (b - a).total_seconds() / 3600
    total = timedelta(0)
    for window_start, window_end in _windows(calendar, _local_date(calendar, a)):
        if window_start >= b:
            break
        overlap = min(window_end, b) - max(window_start, a)
        if overlap > timedelta(0):
            total += overlap
    return total.total_seconds() / 3600
