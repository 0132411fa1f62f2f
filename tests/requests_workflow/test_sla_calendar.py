"""Business-hour arithmetic on calendars: weekends, holidays, starts outside working hours,
time zones and daylight-saving changes; no calendar means clock hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from worklist.models import Calendar, Holiday
from worklist.services.calendar import business_deadline, business_hours_between

pytestmark = pytest.mark.django_db
LISBON = ZoneInfo("Europe/Lisbon")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def office() -> Calendar:
    """Monday to Friday, 09:00–17:00 UTC (8 business hours a day)."""
    return Calendar.objects.create(name="Office", timezone="UTC", day_start=time(9), day_end=time(17))


# 2026-11-23 is a Monday


def test_within_one_working_day(office):
    assert business_deadline(office, utc(2026, 11, 23, 10), 3) == utc(2026, 11, 23, 13)
    assert business_deadline(office, utc(2026, 11, 23, 9), 8) == utc(2026, 11, 23, 17)


def test_spills_over_the_weekend(office):
    friday_4pm = utc(2026, 11, 27, 16)
    assert business_deadline(office, friday_4pm, 2) == utc(2026, 11, 30, 10)
    assert business_hours_between(office, friday_4pm, utc(2026, 11, 30, 10)) == pytest.approx(2)


def test_holiday_is_skipped(office):
    Holiday.objects.create(calendar=office, date=datetime(2026, 11, 30).date(), name="Feast")
    assert business_deadline(office, utc(2026, 11, 27, 16), 2) == utc(2026, 12, 1, 10)
    assert business_hours_between(office, utc(2026, 11, 27, 9), utc(2026, 12, 2, 9)) == pytest.approx(16)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (utc(2026, 11, 24, 7), utc(2026, 11, 24, 10)),  # before the day starts
        (utc(2026, 11, 24, 20), utc(2026, 11, 25, 10)),  # after it ends
        (utc(2026, 11, 28, 12), utc(2026, 11, 30, 10)),  # on a Saturday
        (utc(2026, 11, 24, 17), utc(2026, 11, 25, 10)),  # exactly at the end
    ],
)
def test_start_outside_working_hours_waits_for_the_next_window(office, start, expected):
    assert business_deadline(office, start, 1) == expected


def test_several_days(office):
    # Monday 15:00 + 20 h: 2 (Mon) + 8 (Tue) + 8 (Wed) + 2 (Thu) → Thursday 11:00
    assert business_deadline(office, utc(2026, 11, 23, 15), 20) == utc(2026, 11, 26, 11)
    assert business_hours_between(office, utc(2026, 11, 23, 15), utc(2026, 11, 26, 11)) == pytest.approx(20)


def test_fractional_hours(office):
    assert business_deadline(office, utc(2026, 11, 23, 16, 30), 1.5) == utc(2026, 11, 24, 10)


def test_working_days_and_hours_are_configurable():
    weekend = Calendar.objects.create(
        name="Weekend desk", timezone="UTC", working_days=[5, 6], day_start=time(10), day_end=time(14)
    )
    # Monday → Saturday 10:00 + 5 h: 4 on Saturday, 1 on Sunday
    assert business_deadline(weekend, utc(2026, 11, 23, 12), 5) == utc(2026, 11, 29, 11)


def test_time_zone_of_the_calendar():
    ny = Calendar.objects.create(name="NY", timezone="America/New_York", day_start=time(9), day_end=time(17))
    # 13:00 UTC on Monday is 08:00 in New York (EST, UTC-5): counting starts at 09:00 local
    assert business_deadline(ny, utc(2026, 11, 23, 13), 1) == datetime(2026, 11, 23, 10, tzinfo=NEW_YORK)
    assert business_deadline(ny, utc(2026, 11, 23, 13), 1) == utc(2026, 11, 23, 15)


def test_daylight_saving_starts_over_the_weekend():
    lisbon = Calendar.objects.create(
        name="Lisbon", timezone="Europe/Lisbon", day_start=time(9), day_end=time(17)
    )
    friday = datetime(2026, 3, 27, 16, tzinfo=LISBON)  # WET, UTC+0
    deadline = business_deadline(lisbon, friday, 2)
    # Monday 10:00 local is WEST (UTC+1): 09:00 UTC, not 10:00
    assert deadline == datetime(2026, 3, 30, 10, tzinfo=LISBON)
    assert deadline == utc(2026, 3, 30, 9)
    assert business_hours_between(lisbon, friday, deadline) == pytest.approx(2)


def test_daylight_saving_ends_over_the_weekend():
    ny = Calendar.objects.create(name="NY", timezone="America/New_York", day_start=time(9), day_end=time(17))
    friday = datetime(2026, 10, 30, 16, tzinfo=NEW_YORK)  # EDT, UTC-4
    deadline = business_deadline(ny, friday, 3)  # 1 h Friday + 2 h Monday (EST, UTC-5)
    assert deadline == datetime(2026, 11, 2, 11, tzinfo=NEW_YORK) == utc(2026, 11, 2, 16)


def test_working_hours_across_a_night_change_in_a_24h_calendar():
    """A calendar working around the clock in New York: the spring-forward day has 23 hours."""
    allday = Calendar.objects.create(
        name="24x7 NY",
        timezone="America/New_York",
        working_days=list(range(7)),
        day_start=time(0),
        day_end=time(23, 59, 59),
    )
    start = datetime(2026, 3, 8, 0, 30, tzinfo=NEW_YORK)
    # real elapsed hours are counted: 00:30 EST + 3 h = 04:30 EDT (02:00–03:00 never happens)
    assert business_deadline(allday, start, 3) == datetime(2026, 3, 8, 4, 30, tzinfo=NEW_YORK)


def test_no_calendar_means_clock_hours():
    start = utc(2026, 11, 28, 23)  # a Saturday night
    assert business_deadline(None, start, 5) == start + timedelta(hours=5)
    assert business_hours_between(None, start, start + timedelta(hours=30)) == pytest.approx(30)


def test_round_trip(office):
    Holiday.objects.create(calendar=office, date=datetime(2026, 12, 25).date(), name="Christmas")
    for start in (utc(2026, 12, 24, 8), utc(2026, 12, 24, 16, 15), utc(2026, 12, 26, 3)):
        for hours in (1, 7, 9, 30):
            end = business_deadline(office, start, hours)
            assert business_hours_between(office, start, end) == pytest.approx(hours)


def test_between_is_zero_when_backwards(office):
    assert business_hours_between(office, utc(2026, 11, 24, 12), utc(2026, 11, 23, 12)) == 0


def test_naive_start_is_refused(office):
    with pytest.raises(ValueError, match="timezone-aware"):
        business_deadline(office, datetime(2026, 11, 23, 10), 1)  # noqa: DTZ001


def test_the_examples_of_docs_tasks_md():
    office = Calendar.objects.create(
        name="Lisbon office", timezone="Europe/Lisbon", day_start=time(9), day_end=time(17)
    )
    Holiday.objects.create(calendar=office, date=datetime(2026, 6, 10).date(), name="Portugal Day")

    def local(*args: int) -> datetime:
        return datetime(*args, tzinfo=LISBON)

    assert business_deadline(office, local(2026, 6, 5, 16), 2) == local(2026, 6, 8, 10)  # Friday
    assert business_deadline(office, local(2026, 6, 9, 16), 4) == local(2026, 6, 11, 12)  # holiday
    assert business_deadline(office, local(2026, 6, 6, 11), 1) == local(2026, 6, 8, 10)  # Saturday
    monday = local(2026, 6, 15, 10)
    assert [business_deadline(office, monday, h) for h in (8, 16, 24, 32)] == [
        local(2026, 6, 16, 10),
        local(2026, 6, 17, 10),
        local(2026, 6, 18, 10),
        local(2026, 6, 19, 10),
    ]
