"""Working time: 24x7 and business calendars (custrec.workflow.calendar).

Hand-computed instants are pinned in UTC next to the local time they stand for. The properties
at the end check ``add`` and ``elapsed`` against a brute-force walk, minute by minute, that
reads the local clock independently of the calendar's own arithmetic.
"""

from __future__ import annotations

import functools
import time as clock
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from custrec.workflow import ContractSigned
from custrec.workflow.calendar import (
    MAX_IDLE_DAYS,
    BusinessCalendar,
    CalendarTime,
    WorkingTime,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
WEEKDAYS = range(5)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


def days(first: date, last: date) -> set[date]:
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


# China 2025: Dragon Boat Festival 31 May - 2 June (Saturday to Monday); National Day and
# Mid-Autumn 1-8 October, made up by working Sunday 28 September and Saturday 11 October.
CHINA_2025 = BusinessCalendar(
    zone="Asia/Shanghai",
    holidays=days(date(2025, 5, 31), date(2025, 6, 2)) | days(date(2025, 10, 1), date(2025, 10, 8)),
    workdays={date(2025, 9, 28): 0, date(2025, 10, 11): 0},
)

LUNCH_BREAK = BusinessCalendar(
    zone="Asia/Shanghai",
    hours={day: [(time(9), time(12)), (time(13, 30), time(18))] for day in WEEKDAYS},
)


# ---------------------------------------------------------------------------- 24x7


class TestCalendarTime:
    def test_add_is_real_elapsed_time_across_a_dst_change(self) -> None:
        before_gap = at(BERLIN, 2025, 3, 30, 1, 30)  # CET
        assert CalendarTime().add(before_gap, HOUR) == at(BERLIN, 2025, 3, 30, 3, 30)  # CEST
        assert CalendarTime().add(before_gap, HOUR) == utc(2025, 3, 30, 1, 30)

    def test_elapsed_is_real_time_and_zero_when_end_is_not_after_start(self) -> None:
        start, end = at(BERLIN, 2025, 10, 26, 1), at(BERLIN, 2025, 10, 26, 4)
        assert CalendarTime().elapsed(start, end) == 4 * HOUR  # the fold repeats an hour
        assert CalendarTime().elapsed(end, start) == timedelta(0)

    def test_results_are_utc(self) -> None:
        result = CalendarTime().add(at(SHANGHAI, 2025, 1, 1, 8), timedelta(0))
        assert result.tzinfo is UTC
        assert result == utc(2025, 1, 1, 0)

    def test_both_clocks_are_working_time(self) -> None:
        assert isinstance(CalendarTime(), WorkingTime)
        assert isinstance(CHINA_2025, WorkingTime)


# ------------------------------------------------------------------ hand-computed


class TestChineseOffice:
    def test_friday_17_00_plus_two_hours_over_a_monday_holiday_is_tuesday_10_00(self) -> None:
        friday = at(SHANGHAI, 2025, 5, 30, 17)
        due = CHINA_2025.add(friday, 2 * HOUR)  # 1 h Friday; Sat, Sun, Mon (holiday) off
        assert due == at(SHANGHAI, 2025, 6, 3, 10) == utc(2025, 6, 3, 2)
        assert CHINA_2025.elapsed(friday, due) == 2 * HOUR

    def test_an_adjusted_saturday_is_worked_with_monday_hours(self) -> None:
        friday = at(SHANGHAI, 2025, 10, 10, 17, 30)
        assert CHINA_2025.add(friday, 2 * HOUR) == at(SHANGHAI, 2025, 10, 11, 10, 30)
        assert CHINA_2025.add(friday, 2 * HOUR) == utc(2025, 10, 11, 2, 30)

    def test_an_adjusted_sunday_is_worked(self) -> None:
        friday = at(SHANGHAI, 2025, 9, 26, 17)
        assert CHINA_2025.add(friday, 4 * HOUR) == utc(2025, 9, 28, 4)  # Sunday 12:00

    def test_the_national_day_week_is_skipped(self) -> None:
        tuesday = at(SHANGHAI, 2025, 9, 30, 16)
        assert CHINA_2025.add(tuesday, 4 * HOUR) == at(SHANGHAI, 2025, 10, 9, 11)
        assert CHINA_2025.elapsed(tuesday, at(SHANGHAI, 2025, 10, 10, 9)) == 11 * HOUR

    def test_a_plain_set_of_workdays_uses_monday_hours(self) -> None:
        saturday = date(2025, 10, 11)
        calendar = BusinessCalendar(
            zone="Asia/Shanghai",
            hours={0: [(time(8), time(17))], 5: [(time(10), time(12))]},
            workdays={saturday},
        )
        assert calendar.workdays == {saturday: 0}
        assert calendar.windows_on(saturday) == ((time(8), time(17)),)

    def test_a_workday_can_borrow_another_weekday_s_hours(self) -> None:
        calendar = BusinessCalendar(
            zone="Asia/Shanghai",
            hours={0: [(time(9), time(18))], 4: [(time(9), time(12))]},
            workdays={date(2025, 10, 11): 4},
        )
        assert calendar.elapsed(at(SHANGHAI, 2025, 10, 11), at(SHANGHAI, 2025, 10, 12)) == 3 * HOUR


class TestLunchBreak:
    def test_the_break_is_not_counted(self) -> None:
        monday_11 = at(SHANGHAI, 2025, 6, 9, 11)
        assert LUNCH_BREAK.add(monday_11, 2 * HOUR) == at(SHANGHAI, 2025, 6, 9, 14, 30)
        assert LUNCH_BREAK.elapsed(monday_11, at(SHANGHAI, 2025, 6, 9, 14, 30)) == 2 * HOUR

    def test_a_start_during_the_break_counts_from_13_30(self) -> None:
        assert LUNCH_BREAK.add(at(SHANGHAI, 2025, 6, 9, 12, 30), HOUR) == at(
            SHANGHAI, 2025, 6, 9, 14, 30
        )

    def test_a_full_day_is_seven_and_a_half_hours(self) -> None:
        day = at(SHANGHAI, 2025, 6, 9)
        assert LUNCH_BREAK.elapsed(day, day + timedelta(days=1)) == timedelta(hours=7.5)


class TestCountingRules:
    def test_adding_nothing_returns_the_start_in_utc_even_outside_hours(self) -> None:
        saturday = at(SHANGHAI, 2025, 6, 7, 12)
        result = CHINA_2025.add(saturday, timedelta(0))
        assert result == saturday
        assert result.tzinfo is UTC

    def test_counting_begins_at_the_next_opening(self) -> None:
        saturday = at(SHANGHAI, 2025, 6, 7, 12)
        assert CHINA_2025.add(saturday, MINUTE) == at(SHANGHAI, 2025, 6, 9, 9, 1)

    def test_reaching_the_duration_at_a_close_returns_the_close(self) -> None:
        assert CHINA_2025.add(at(SHANGHAI, 2025, 6, 9, 16), 2 * HOUR) == at(
            SHANGHAI, 2025, 6, 9, 18
        )

    def test_counting_is_exact_to_the_microsecond(self) -> None:
        start = at(SHANGHAI, 2025, 6, 9, 17, 59, 59, 999_998)
        tick = timedelta(microseconds=1)
        assert CHINA_2025.add(start, tick) == at(SHANGHAI, 2025, 6, 9, 17, 59, 59, 999_999)
        assert CHINA_2025.add(start, 3 * tick) == at(SHANGHAI, 2025, 6, 10, 9, 0, 0, 1)
        assert CHINA_2025.elapsed(start, at(SHANGHAI, 2025, 6, 10, 9, 0, 0, 1)) == 3 * tick

    def test_instants_in_any_zone_are_accepted(self) -> None:
        new_york = ZoneInfo("America/New_York")
        start = datetime(2025, 6, 8, 21, tzinfo=new_york)  # Monday 09:00 in Shanghai
        assert CHINA_2025.add(start, HOUR) == utc(2025, 6, 9, 2)
        fixed = datetime(2025, 6, 9, 9, tzinfo=timezone(timedelta(hours=8)))
        assert CHINA_2025.elapsed(start, fixed) == timedelta(0)

    def test_elapsed_is_zero_when_end_is_not_after_start(self) -> None:
        start = at(SHANGHAI, 2025, 6, 9, 10)
        assert CHINA_2025.elapsed(start, start) == timedelta(0)
        assert CHINA_2025.elapsed(start, start - HOUR) == timedelta(0)

    def test_ten_thousand_business_hours_take_milliseconds(self) -> None:
        started = clock.perf_counter()
        due = LUNCH_BREAK.add(utc(2025, 1, 1), 10_000 * HOUR)
        back = LUNCH_BREAK.elapsed(utc(2025, 1, 1), due)
        assert clock.perf_counter() - started < 0.5  # about 40 ms for both on a laptop
        assert back == 10_000 * HOUR


# ------------------------------------------------------------------------------ DST


def around_the_clock(zone: str, **extra: object) -> BusinessCalendar:
    """Every day 00:00-24:00 plus ``extra`` fields."""
    hours = {day: [(time(0), time(0))] for day in range(7)}
    return BusinessCalendar(zone=zone, hours=hours, **extra)  # type: ignore[arg-type]


class TestBerlinDst:
    OFFICE = BusinessCalendar(zone="Europe/Berlin")

    def test_across_the_march_change(self) -> None:
        friday = at(BERLIN, 2025, 3, 28, 17)  # CET, 16:00 UTC
        due = self.OFFICE.add(friday, 2 * HOUR)
        assert due == at(BERLIN, 2025, 3, 31, 10) == utc(2025, 3, 31, 8)  # CEST
        assert self.OFFICE.elapsed(friday, due) == 2 * HOUR

    def test_across_the_october_change(self) -> None:
        friday = at(BERLIN, 2025, 10, 24, 17)  # CEST, 15:00 UTC
        due = self.OFFICE.add(friday, 2 * HOUR)
        assert due == at(BERLIN, 2025, 10, 27, 10) == utc(2025, 10, 27, 9)  # CET
        assert self.OFFICE.elapsed(friday, due) == 2 * HOUR

    def test_a_whole_day_lasts_as_long_as_the_clock_says(self) -> None:
        calendar = around_the_clock("Europe/Berlin")
        spring, autumn = at(BERLIN, 2025, 3, 30), at(BERLIN, 2025, 10, 26)
        assert calendar.elapsed(spring, at(BERLIN, 2025, 3, 31)) == 23 * HOUR
        assert calendar.elapsed(autumn, at(BERLIN, 2025, 10, 27)) == 25 * HOUR
        assert calendar.working_intervals(date(2025, 3, 30)) == (
            (utc(2025, 3, 29, 23), utc(2025, 3, 30, 22)),
        )

    def test_a_window_inside_the_spring_gap_is_empty(self) -> None:
        calendar = BusinessCalendar(
            zone="Europe/Berlin", hours={6: [(time(2, 10), time(2, 50)), (time(9), time(10))]}
        )
        assert calendar.working_intervals(date(2025, 3, 30)) == (
            (utc(2025, 3, 30, 7), utc(2025, 3, 30, 8)),
        )

    def test_a_window_opening_in_the_gap_opens_when_the_clocks_jump(self) -> None:
        calendar = BusinessCalendar(zone="Europe/Berlin", hours={6: [(time(2, 30), time(4))]})
        # 03:00 CEST (01:00 UTC) to 04:00 CEST: one hour instead of an hour and a half.
        assert calendar.working_intervals(date(2025, 3, 30)) == (
            (utc(2025, 3, 30, 1), utc(2025, 3, 30, 2)),
        )
        assert calendar.add(at(BERLIN, 2025, 3, 30, 1), 30 * MINUTE) == utc(2025, 3, 30, 1, 30)

    def test_a_window_straddling_the_autumn_fold_counts_the_repeated_time(self) -> None:
        calendar = BusinessCalendar(zone="Europe/Berlin", hours={6: [(time(2, 30), time(4))]})
        # Opens at the first 02:30 (CEST, 00:30 UTC), closes at 04:00 CET (03:00 UTC).
        assert calendar.working_intervals(date(2025, 10, 26)) == (
            (utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 3)),
        )

    def test_a_window_ending_in_the_fold_closes_at_the_first_reading(self) -> None:
        calendar = BusinessCalendar(zone="Europe/Berlin", hours={6: [(time(1), time(2, 30))]})
        assert calendar.working_intervals(date(2025, 10, 26)) == (
            (utc(2025, 10, 25, 23), utc(2025, 10, 26, 0, 30)),
        )

    def test_a_day_whose_midnight_does_not_exist(self) -> None:
        # Sao Paulo skipped 00:00-01:00 on 4 November 2018.
        calendar = around_the_clock("America/Sao_Paulo")
        assert calendar.working_intervals(date(2018, 11, 4)) == (
            (utc(2018, 11, 4, 3), utc(2018, 11, 5, 2)),
        )
        assert calendar.working_intervals(date(2018, 11, 3))[0][1] == utc(2018, 11, 4, 3)


# -------------------------------------------------------------------- bad input


class TestBadInput:
    @pytest.mark.parametrize("instant", [datetime(2025, 6, 9, 9), date(2025, 6, 9), "2025-06-09"])
    def test_start_must_be_an_aware_datetime(self, instant: object) -> None:
        error = ValueError if isinstance(instant, datetime) else TypeError
        with pytest.raises(error, match="start"):
            CHINA_2025.add(instant, HOUR)  # type: ignore[arg-type]
        with pytest.raises(error, match="start"):
            CalendarTime().add(instant, HOUR)  # type: ignore[arg-type]
        with pytest.raises(error, match="end"):
            CHINA_2025.elapsed(utc(2025, 1, 1), instant)  # type: ignore[arg-type]

    def test_duration_must_be_a_non_negative_timedelta(self) -> None:
        with pytest.raises(ValueError, match="duration must not be negative"):
            CHINA_2025.add(utc(2025, 1, 1), -MINUTE)
        with pytest.raises(ValueError, match="duration must not be negative"):
            CalendarTime().add(utc(2025, 1, 1), -MINUTE)
        with pytest.raises(TypeError, match="duration must be a timedelta"):
            CHINA_2025.add(utc(2025, 1, 1), 60)  # type: ignore[arg-type]

    def test_an_unknown_zone_is_named(self) -> None:
        with pytest.raises(ValueError, match="'Mars/Olympus_Mons' is not a known IANA"):
            BusinessCalendar(zone="Mars/Olympus_Mons")
        with pytest.raises(ValueError, match="zone"):
            BusinessCalendar(zone="../etc/passwd")
        with pytest.raises(TypeError, match="zone"):
            BusinessCalendar(zone=SHANGHAI)  # type: ignore[arg-type]

    def test_a_zone_in_the_wrong_letter_case_is_refused_with_its_spelling(self) -> None:
        with pytest.raises(ValueError, match="did you mean 'Asia/Shanghai'"):
            BusinessCalendar(zone="asia/shanghai")
        with pytest.raises(ValueError, match="did you mean 'America/New_York'"):
            ContractSigned(zone="AMERICA/NEW_YORK")

    @pytest.mark.parametrize(
        ("windows", "message"),
        [
            ([(time(9), time(12)), (time(11), time(18))], "must not overlap"),
            ([(time(13), time(18)), (time(9), time(12))], "in order"),
            ([(time(9), time(9))], "start before it ends"),
            ([(time(18), time(9))], "start before it ends"),
            ([(time(9, tzinfo=UTC), time(18))], "without tzinfo"),
        ],
    )
    def test_windows_must_be_ordered_and_not_overlap(
        self, windows: list[tuple[time, time]], message: str
    ) -> None:
        with pytest.raises(ValueError, match=message):
            BusinessCalendar(zone="Asia/Shanghai", hours={0: windows})

    @pytest.mark.parametrize(
        ("hours", "error"),
        [
            ({7: [(time(9), time(18))]}, ValueError),
            ({True: [(time(9), time(18))]}, TypeError),
            ({0: [("09:00", "18:00")]}, TypeError),
            ({0: [(time(9),)]}, TypeError),
            ({0: "09:00-18:00"}, TypeError),
            ([[(time(9), time(18))]], TypeError),
        ],
    )
    def test_hours_are_a_mapping_of_weekday_to_time_pairs(self, hours: object, error: type) -> None:
        with pytest.raises(error, match="hours"):
            BusinessCalendar(zone="Asia/Shanghai", hours=hours)  # type: ignore[arg-type]

    def test_a_day_cannot_be_both_holiday_and_workday(self) -> None:
        with pytest.raises(ValueError, match="holidays and workdays share 1 date"):
            BusinessCalendar(
                zone="Asia/Shanghai",
                holidays={date(2025, 10, 11)},
                workdays={date(2025, 10, 11): 0},
            )

    def test_a_workday_needs_hours(self) -> None:
        with pytest.raises(ValueError, match="no working hours"):
            BusinessCalendar(zone="Asia/Shanghai", workdays={date(2025, 10, 11): 6})

    def test_days_are_dates_not_datetimes(self) -> None:
        with pytest.raises(TypeError, match="holidays"):
            BusinessCalendar(zone="Asia/Shanghai", holidays={datetime(2025, 10, 1)})
        with pytest.raises(TypeError, match="workdays"):
            BusinessCalendar(zone="Asia/Shanghai", workdays={"2025-10-11": 0})
        with pytest.raises(TypeError, match="holidays"):
            BusinessCalendar(zone="Asia/Shanghai", holidays="2025-10-01")  # type: ignore[arg-type]

    def test_a_calendar_without_any_hours_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least one working window"):
            BusinessCalendar(zone="Asia/Shanghai", hours={})

    def test_adding_on_a_calendar_of_endless_holidays_stops_with_a_clear_error(self) -> None:
        off = BusinessCalendar(
            zone="Asia/Shanghai", holidays=days(date(2025, 1, 1), date(2027, 12, 31))
        )
        with pytest.raises(ValueError, match=f"no working time in {MAX_IDLE_DAYS} consecutive"):
            off.add(utc(2025, 1, 1), MINUTE)
        assert off.elapsed(utc(2025, 1, 1), utc(2027, 1, 1)) == timedelta(0)
        assert off.add(utc(2027, 6, 1), MINUTE) > utc(2028, 1, 1)  # under a year to go


class TestValueObject:
    def test_calendars_compare_and_hash_by_value(self) -> None:
        same = BusinessCalendar(
            zone="Asia/Shanghai",
            holidays=sorted(CHINA_2025.holidays),
            workdays=dict(CHINA_2025.workdays),
        )
        assert same == CHINA_2025
        assert hash(same) == hash(CHINA_2025)
        assert same != LUNCH_BREAK

    def test_evolve_keeps_the_normal_form(self) -> None:
        moved = attrs.evolve(CHINA_2025, zone="Europe/Berlin")
        assert moved.hours == CHINA_2025.hours
        assert moved.add(at(BERLIN, 2025, 6, 9, 17), 2 * HOUR) == at(BERLIN, 2025, 6, 10, 10)


# --------------------------------------------------------- properties vs brute force

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Sao_Paulo"]
ZONES += ["Asia/Shanghai"]
# Days of clock changes in those zones (Lord Howe moves 30 minutes; Sao Paulo at midnight).
CHANGES = [
    date(2025, 3, 30),
    date(2025, 10, 26),
    date(2025, 3, 9),
    date(2025, 11, 2),
    date(2025, 4, 6),
    date(2025, 10, 5),
    date(2018, 11, 4),
    date(2019, 2, 16),
    date(2025, 6, 9),
]
SPAN_DAYS = 6
MINUTES = SPAN_DAYS * 24 * 60
Hours = Mapping[int, Sequence[tuple[time, time]]]


@st.composite
def windows(draw: st.DrawFn) -> list[tuple[time, time]]:
    """0-3 windows on a 15-minute grid; 96 (24:00) ends a window at midnight."""
    marks = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
    if len(marks) % 2:
        marks = marks[:-1]
    return [
        (time(a // 4, a % 4 * 15), time(b // 4 % 24, b % 4 * 15))
        for a, b in zip(marks[::2], marks[1::2], strict=True)
    ]


@functools.cache
def peak_readings(zone: str, begin: datetime) -> list[datetime]:
    """The highest local clock reading so far at each minute from ``begin`` on."""
    tz = ZoneInfo(zone)
    warmup = 24 * 60  # to know the highest reading before the first minute
    peak = datetime.min
    found = []
    for n in range(-warmup, MINUTES):
        peak = max(peak, (begin + n * MINUTE).astimezone(tz).replace(tzinfo=None))
        if n >= 0:
            found.append(peak)
    return found


class Scenario:
    """A calendar, and the working minutes of a few days found the slow way."""

    def __init__(
        self, zone: str, hours: Hours, holidays: set[date], workdays: dict[date, int], first: date
    ) -> None:
        self.calendar = BusinessCalendar(
            zone=zone, hours=hours, holidays=holidays, workdays=workdays
        )
        self.hours, self.holidays, self.workdays = hours, holidays, workdays
        self.zone = ZoneInfo(zone)
        self.begin = datetime.combine(first, time(0), tzinfo=UTC)

    @functools.cached_property
    def working(self) -> list[bool]:
        """Whether each minute from ``begin`` on counts, for :data:`SPAN_DAYS` days."""
        return [self.counts(peak) for peak in peak_readings(self.zone.key, self.begin)]

    def counts(self, reading: datetime) -> bool:
        """Whether a window of the reading's date holds its wall time. A minute counts when the
        highest reading so far does: a window opens the first time the clock reads its start,
        so during a repeated (fold) hour the clock is where it got to the first time."""
        day = reading.date()
        if day in self.workdays:
            wanted = self.hours.get(self.workdays[day], ())
        elif day in self.holidays:
            wanted = ()
        else:
            wanted = self.hours.get(day.weekday(), ())
        wall = reading.time()
        return any(start <= wall and (wall < end or end == time(0)) for start, end in wanted)

    def instant(self, minute: int) -> datetime:
        return self.begin + minute * MINUTE

    def near(self) -> st.SearchStrategy[datetime]:
        """Any instant, to the microsecond, from a day before to two weeks after ``begin``."""
        return st.timedeltas(-timedelta(days=1), timedelta(days=14)).map(self.begin.__add__)

    def count(self, first: int, last: int) -> int:
        return sum(self.working[first:last])


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    zone = draw(st.sampled_from(ZONES))
    hours = draw(st.dictionaries(st.integers(0, 6), windows(), min_size=1))
    assume(any(hours.values()))
    first = draw(st.sampled_from(CHANGES)) - timedelta(days=draw(st.integers(0, 3)))
    span = sorted(days(first, first + timedelta(days=SPAN_DAYS - 1)))
    holidays = draw(st.sets(st.sampled_from(span), max_size=2))
    worked = [weekday for weekday, wanted in hours.items() if wanted]
    workdays = draw(
        st.dictionaries(
            st.sampled_from(sorted(set(span) - holidays)), st.sampled_from(worked), max_size=2
        )
    )
    return Scenario(zone, hours, holidays, workdays, first)


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.data())
def test_elapsed_counts_the_working_minutes(scenario: Scenario, data: st.DataObject) -> None:
    first = data.draw(st.integers(0, MINUTES))
    last = data.draw(st.integers(0, MINUTES))
    expected = scenario.count(first, last) * MINUTE if last > first else timedelta(0)
    start, end = scenario.instant(first), scenario.instant(last)
    assert scenario.calendar.elapsed(start, end) == expected


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.data())
def test_add_lands_at_the_end_of_the_nth_working_minute(
    scenario: Scenario, data: st.DataObject
) -> None:
    first = data.draw(st.integers(0, MINUTES))
    available = scenario.count(first, MINUTES)
    n = data.draw(st.integers(0, available))
    if n == 0:
        expected = scenario.instant(first)
    else:
        ends = [m + 1 for m in range(first, MINUTES) if scenario.working[m]]
        expected = scenario.instant(ends[n - 1])
    assert scenario.calendar.add(scenario.instant(first), n * MINUTE) == expected


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.data())
def test_add_of_elapsed_is_the_close_of_the_last_counted_stretch(
    scenario: Scenario, data: st.DataObject
) -> None:
    """``add(s, elapsed(s, e))`` is the earliest instant with as much counted time as ``e``:
    ``e`` itself when the minute before ``e`` counts, otherwise the end of the last counted
    minute before ``e``, or ``s`` when nothing counts in ``[s, e)``."""
    first = data.draw(st.integers(0, MINUTES))
    last = data.draw(st.integers(first, MINUTES))
    counted = [m + 1 for m in range(first, last) if scenario.working[m]]
    expected = scenario.instant(counted[-1] if counted else first)
    start, end = scenario.instant(first), scenario.instant(last)
    assert scenario.calendar.add(start, scenario.calendar.elapsed(start, end)) == expected


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.data(), st.timedeltas(timedelta(0), timedelta(days=2)))
def test_elapsed_of_add_is_the_duration(
    scenario: Scenario, data: st.DataObject, duration: timedelta
) -> None:
    calendar, start = scenario.calendar, data.draw(scenario.near())
    assume(calendar.elapsed(start, start + timedelta(days=60)) > duration)  # not too sparse
    assert calendar.elapsed(start, calendar.add(start, duration)) == duration


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.data())
def test_elapsed_adds_up_over_split_points(scenario: Scenario, data: st.DataObject) -> None:
    a, b, c = sorted(data.draw(st.lists(scenario.near(), min_size=3, max_size=3)))
    calendar = scenario.calendar
    assert calendar.elapsed(a, c) == calendar.elapsed(a, b) + calendar.elapsed(b, c)


@settings(max_examples=150, deadline=None)
@given(
    scenarios(),
    st.data(),
    st.timedeltas(timedelta(0), timedelta(days=1)),
    st.timedeltas(timedelta(0), timedelta(days=1)),
)
def test_adding_in_two_steps_is_adding_the_sum(
    scenario: Scenario, data: st.DataObject, one: timedelta, two: timedelta
) -> None:
    calendar, start = scenario.calendar, data.draw(scenario.near())
    assume(calendar.elapsed(start, start + timedelta(days=60)) > one + two)
    assert calendar.add(calendar.add(start, one), two) == calendar.add(start, one + two)
