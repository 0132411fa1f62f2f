"""Working calendars and their holidays: create, change, delete (not while a task definition uses
the calendar); a change moves the escalation times of the open tasks on the calendar."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.utils.translation import gettext, gettext_noop

from blazon.audit.services import audit_record
from blazon.changes import config_create, config_delete, config_update
from directory.models import User
from worklist.models import (
    Calendar,
    Holiday,
    Task,
)
from worklist.services.sla_config.common import (
    _fail,
    _in_use,
    _named,
    _save,
    _text,
    _time,
    tasks_recheck_escalation,
)

CALENDAR_FIELDS = ("name", "timezone", "working_days", "day_start", "day_end")


def _calendar_apply(calendar: Calendar, data: Mapping[str, Any]) -> None:
    calendar.name = _text(data, "name", default=calendar.name)
    tz = _text(data, "timezone", default=calendar.timezone)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(
            "timezone",
            gettext("Unknown time zone %(tz)r: give an IANA name such as Europe/Lisbon.") % {"tz": tz},
        ) from None
    calendar.timezone = tz
    days = data.get("working_days", calendar.working_days)
    if isinstance(days, str | bytes) or not isinstance(days, Iterable):
        raise _fail("working_days", gettext("Expected a list of weekdays, 0 = Monday … 6 = Sunday."))
    try:
        parsed = sorted({int(d) for d in days})
    except (TypeError, ValueError):
        raise _fail(
            "working_days", gettext("Expected weekdays as numbers, 0 = Monday … 6 = Sunday.")
        ) from None
    if not parsed:
        raise _fail("working_days", gettext("Choose at least one working day."))
    if parsed[0] < 0 or parsed[-1] > 6:
        raise _fail("working_days", gettext("Weekdays go from 0 (Monday) to 6 (Sunday)."))
    calendar.working_days = parsed
    calendar.day_start = _time(data.get("day_start", calendar.day_start), "day_start")
    calendar.day_end = _time(data.get("day_end", calendar.day_end), "day_end")
    if calendar.day_end <= calendar.day_start:
        raise _fail("day_end", gettext("The working day must end after it starts (same day)."))


_CALENDAR_TAKEN = gettext_noop("A calendar with this name already exists.")


@transaction.atomic
def calendar_create(*, actor: User | None, source: str, data: Mapping[str, Any]) -> Calendar:
    """A new working-time calendar (weekdays, hours, time zone)."""
    calendar = Calendar()
    _calendar_apply(calendar, data)
    return config_create(
        calendar, actor=actor, source=source, **_named("calendar.create", CALENDAR_FIELDS, _CALENDAR_TAKEN)
    )


@transaction.atomic
def calendar_update(
    *, actor: User | None, source: str, calendar: Calendar, data: Mapping[str, Any]
) -> Calendar:
    """Change a calendar; open tasks that count on it have their escalation times re-read."""
    with config_update(
        Calendar,
        calendar.pk,
        actor=actor,
        source=source,
        **_named("calendar.update", CALENDAR_FIELDS, _CALENDAR_TAKEN),
    ) as change:
        _calendar_apply(change.obj, data)
    if change.new:
        tasks_recheck_escalation(Task.objects.filter(definition__calendar=change.obj))
    return change.obj


@transaction.atomic
def calendar_delete(*, actor: User | None, source: str, calendar: Calendar) -> None:
    """Delete a calendar no task definition uses (with its holidays)."""
    calendar = Calendar.objects.select_for_update().get(pk=calendar.pk)
    _in_use(calendar, gettext("Calendar"))
    config_delete(calendar, fields=CALENDAR_FIELDS, actor=actor, source=source, action="calendar.delete")


@transaction.atomic
def holiday_add(*, actor: User | None, source: str, calendar: Calendar, day: Any, name: str) -> Holiday:
    """Add a holiday (a local date of the calendar) on which no business hours count."""
    calendar = Calendar.objects.select_for_update().get(pk=calendar.pk)
    if isinstance(day, datetime):
        raise _fail("date", gettext("Expected a date, not a date and time."))
    if not isinstance(day, date):
        try:
            day = date.fromisoformat(str(day))
        except ValueError:
            raise _fail("date", gettext("Expected a date as YYYY-MM-DD.")) from None
    name = (name or "").strip()
    if not name:
        raise _fail("name", gettext("Required."))
    holiday = Holiday(calendar=calendar, date=day, name=name)
    _save(holiday, conflict_field="date", conflict_message=f"{calendar.name} already has a holiday on {day}.")
    audit_record(
        actor=actor,
        action="calendar.holiday_add",
        obj=calendar,
        new={"date": day, "name": name},
        source=source,
    )
    tasks_recheck_escalation(Task.objects.filter(definition__calendar=calendar))
    return holiday


@transaction.atomic
def holiday_delete(*, actor: User | None, source: str, holiday: Holiday) -> None:
    """Remove a holiday: that day counts as a working day again."""
    holiday = Holiday.objects.select_for_update().select_related("calendar").get(pk=holiday.pk)
    audit_record(
        actor=actor,
        action="calendar.holiday_delete",
        obj=holiday.calendar,
        old={"date": holiday.date, "name": holiday.name},
        source=source,
    )
    calendar = holiday.calendar
    holiday.delete()
    tasks_recheck_escalation(Task.objects.filter(definition__calendar=calendar))
