"""Working time: the clock service targets are counted on.

A :class:`WorkingTime` answers two questions exactly, to the microsecond: when has a duration
of counted time elapsed after a start (:meth:`~WorkingTime.add`), and how much counted time lies
between two instants (:meth:`~WorkingTime.elapsed`). :class:`CalendarTime` counts every
instant (24x7); :class:`BusinessCalendar` counts only working windows in local wall-clock time,
with holidays and adjusted working days (China's 调休 weekends worked in place of a holiday).

Every instant given must be timezone-aware; every instant returned is aware and in UTC.

>>> from datetime import UTC, datetime, timedelta
>>> office = BusinessCalendar(zone="Asia/Shanghai")
>>> friday_5pm = datetime(2025, 5, 30, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
>>> office.add(friday_5pm, timedelta(hours=2))  # 1 h on Friday, 1 h on Monday
datetime.datetime(2025, 6, 2, 2, 0, tzinfo=datetime.timezone.utc)
>>> office.elapsed(friday_5pm, datetime(2025, 6, 2, 2, 0, tzinfo=UTC))
datetime.timedelta(seconds=7200)

**Daylight saving time.** Windows are wall-clock times on a local date. A window opens the
first time the local clock reads its start on that date and closes the first time it reads its
end, so:

- a wall time that does not exist (in a spring-forward gap) means the instant the clocks jump:
  a window inside the gap is empty, one that straddles it is shorter by the gap;
- a wall time that occurs twice (in an autumn fold) means its first occurrence: a window that
  straddles the whole fold is longer by the repeated time, one that ends inside it closes at
  the first reading.

The daily working time therefore follows the clock the staff read, and no instant is counted
twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any, Final, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import attrs

from custrec._checks import check, int_range, require_aware

__all__ = ["MAX_IDLE_DAYS", "BusinessCalendar", "CalendarTime", "Window", "WorkingTime"]

MAX_IDLE_DAYS: Final = 366
"""How many consecutive days without working time :meth:`BusinessCalendar.add` searches
before it gives up with a ``ValueError``."""

_ZERO: Final = timedelta(0)
_DAY: Final = timedelta(days=1)
_MIDNIGHT: Final = time(0)

Window = tuple[time, time]
"""A working window ``(start, end)`` in local wall time; an ``end`` of ``time(0)`` is midnight
at the end of the day (24:00)."""


# ------------------------------------------------------------------------------- checks


def _type(value: object) -> str:
    return type(value).__name__


def _aware(value: object, name: str) -> datetime:
    return require_aware(value, name).astimezone(UTC)


def _duration(value: object, name: str = "duration") -> timedelta:
    if not isinstance(value, timedelta):
        raise TypeError(f"{name} must be a timedelta, not {_type(value)}")
    if value < _ZERO:
        raise ValueError(f"{name} must not be negative")
    return value


def _calendar_date(value: object, name: str) -> date:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise TypeError(f"{name} must hold dates, not {_type(value)}")
    return value


def _weekday(value: object, name: str) -> int:
    """A weekday number, 0 (Monday) to 6 (Sunday)."""
    check(f"{name} (a weekday number, 0=Monday)", value, int_range(0, 6))
    assert isinstance(value, int)
    return value


# ------------------------------------------------------------------------------ protocol


@runtime_checkable
class WorkingTime(Protocol):
    """The clock a service target is counted on (see :class:`CalendarTime`,
    :class:`BusinessCalendar`)."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant (UTC) at which ``duration`` of counted time has elapsed after
        ``start``; ``start`` itself when ``duration`` is zero."""
        ...

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """The counted time in ``[start, end)``; zero if ``end <= start``."""
        ...


@attrs.frozen
class CalendarTime:
    """Every instant counts (24x7): ``add`` is plain addition on the UTC time line.

    >>> from datetime import UTC, datetime, timedelta
    >>> CalendarTime().add(datetime(2025, 3, 30, 0, 30, tzinfo=UTC), timedelta(hours=1))
    datetime.datetime(2025, 3, 30, 1, 30, tzinfo=datetime.timezone.utc)
    """

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """``start + duration`` as an aware UTC instant (real elapsed time, DST-proof)."""
        return _aware(start, "start") + _duration(duration)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """The real time from ``start`` to ``end``; zero if ``end <= start``."""
        begin, finish = _aware(start, "start"), _aware(end, "end")
        return max(finish - begin, _ZERO)


# ------------------------------------------------------------------------ the calendar


def check_zone(value: object, name: str = "zone") -> str:
    """``value`` when it is a known IANA time zone name; else ``TypeError`` or ``ValueError``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be an IANA time zone name, not {_type(value)}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        hint = _spelled(value)
        also = f" (did you mean {hint!r}?)" if hint else ""
        raise ValueError(f"{name}: {value!r} is not a known IANA time zone name{also}") from None
    return value


def _spelled(value: str) -> str | None:
    """The IANA name ``value`` spells in other letter case (``asia/shanghai``), if any."""
    if len(value) > 64:
        return None
    folded = value.casefold()
    return next((z for z in sorted(available_timezones()) if z.casefold() == folded), None)


def _zone(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_zone(value, attribute.name)


def _into_day(wall: time, *, end: bool = False) -> timedelta:
    """How far into the day ``wall`` lies (midnight as an ``end`` is 24:00)."""
    if end and wall == _MIDNIGHT:
        return _DAY
    return datetime.combine(date.min, wall.replace(tzinfo=None)) - datetime.min


def _windows(value: object, day: int) -> tuple[Window, ...]:
    name = f"hours[{day}]"
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a sequence of (start, end) times, not {_type(value)}")
    found: list[Window] = []
    previous_end = _ZERO
    for item in value:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise TypeError(f"{name} must hold (start, end) pairs of times, not {_type(item)}")
        start, end = item
        if not isinstance(start, time) or not isinstance(end, time):
            raise TypeError(f"{name} must hold (start, end) pairs of times")
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(f"{name} must hold local wall times without tzinfo")
        opening, closing = _into_day(start), _into_day(end, end=True)
        if opening >= closing:
            raise ValueError(f"{name}: each window must start before it ends")
        if opening < previous_end:
            raise ValueError(f"{name}: windows must be in order and must not overlap")
        previous_end = closing
        found.append((start.replace(fold=0), end.replace(fold=0)))
    return tuple(found)


def _hours(value: object) -> tuple[tuple[Window, ...], ...]:
    """Working windows per weekday from a mapping ``{weekday: [(start, end), ...]}`` (a missing
    weekday has none) or from the 7-item form this converter returns."""
    if isinstance(value, Mapping):
        for key in value:
            _weekday(key, "hours")
        return tuple(_windows(value.get(day, ()), day) for day in range(7))
    if isinstance(value, tuple) and len(value) == 7:
        return tuple(_windows(windows, day) for day, windows in enumerate(value))
    raise TypeError(f"hours must be a mapping of weekday to windows, not {_type(value)}")


def _holidays(value: object) -> frozenset[date]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"holidays must be a set of dates, not {_type(value)}")
    return frozenset(_calendar_date(day, "holidays") for day in value)


def _workdays(value: object) -> Mapping[date, int]:
    """Adjusted working days as ``{date: weekday whose hours apply}``; a plain iterable of dates
    works with Monday's hours."""
    if isinstance(value, Mapping):
        pairs = [
            (_calendar_date(day, "workdays"), _weekday(weekday, "workdays"))
            for day, weekday in value.items()
        ]
    elif isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"workdays must be a mapping of date to weekday, not {_type(value)}")
    else:
        pairs = [(_calendar_date(day, "workdays"), 0) for day in value]
    return MappingProxyType(dict(sorted(pairs)))


def _default_hours() -> tuple[tuple[Window, ...], ...]:
    return _hours({day: [(time(9), time(18))] for day in range(5)})


@attrs.frozen(kw_only=True)
class BusinessCalendar:
    """Working windows in a time zone, less holidays, plus adjusted working days.

    ``zone`` is an IANA name (``"Asia/Shanghai"``). ``hours`` maps a weekday (0=Monday) to its
    windows ``[(start, end), ...]`` in local wall time, in order and not overlapping; an ``end``
    of ``time(0)`` means midnight at the end of the day. The default is Monday to Friday,
    09:00-18:00. ``holidays`` are whole days off. ``workdays`` are days worked although they
    would not be (a 调休 Saturday), each mapped to the weekday whose hours it uses; a plain set
    of dates uses Monday's hours. A day may not be both a holiday and a workday.

    >>> from datetime import date, time
    >>> china = BusinessCalendar(
    ...     zone="Asia/Shanghai",
    ...     hours={day: [(time(9), time(12)), (time(13, 30), time(18))] for day in range(5)},
    ...     holidays={date(2025, 10, 1), date(2025, 10, 2)},
    ...     workdays={date(2025, 10, 11): 0},
    ... )
    >>> [(start.hour, end.hour) for start, end in china.working_intervals(date(2025, 10, 11))]
    [(1, 4), (5, 10)]
    """

    zone: str = attrs.field(validator=_zone)
    hours: tuple[tuple[Window, ...], ...] = attrs.field(factory=_default_hours, converter=_hours)
    holidays: frozenset[date] = attrs.field(factory=frozenset, converter=_holidays)
    workdays: Mapping[date, int] = attrs.field(
        factory=lambda: MappingProxyType({}), converter=_workdays, hash=False
    )
    _tz: ZoneInfo = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        if not any(self.hours):
            raise ValueError("hours must have at least one working window")
        both = self.holidays & self.workdays.keys()
        if both:
            raise ValueError(
                f"holidays and workdays share {len(both)} date(s), first {min(both).isoformat()}"
            )
        idle = sorted(day for day, weekday in self.workdays.items() if not self.hours[weekday])
        if idle:
            raise ValueError(
                f"workdays: {idle[0].isoformat()} uses a weekday that has no working hours"
            )
        object.__setattr__(self, "_tz", ZoneInfo(self.zone))

    # ------------------------------------------------------------------------ queries

    def windows_on(self, day: date) -> tuple[Window, ...]:
        """The wall-clock windows worked on the local date ``day``."""
        day = _calendar_date(day, "day")
        weekday = self.workdays.get(day)
        if weekday is not None:
            return self.hours[weekday]
        if day in self.holidays:
            return ()
        return self.hours[day.weekday()]

    def working_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The windows of the local date ``day`` as ``[start, end)`` UTC instants, empty ones
        (inside a DST gap) left out."""
        return tuple(self._intervals(day))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant (UTC) at which ``duration`` of working time has elapsed after
        ``start``; counting begins at the next window opening if ``start`` is outside one.

        ``ValueError`` if no working time is found in :data:`MAX_IDLE_DAYS` consecutive days.
        """
        instant = _aware(start, "start")
        remaining = _duration(duration)
        if not remaining:
            return instant
        day = instant.astimezone(self._tz).date() - _DAY  # a fold at midnight can lag a day
        idle = 0
        while True:
            intervals = self._intervals(day)
            idle = 0 if intervals else idle + 1
            if idle >= MAX_IDLE_DAYS:
                raise ValueError(
                    f"no working time in {MAX_IDLE_DAYS} consecutive days up to"
                    f" {day.isoformat()}: the calendar has too little working time"
                )
            for opening, closing in intervals:
                if closing <= instant:
                    continue
                begin = max(opening, instant)
                available = closing - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
            day += _DAY

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """The working time in ``[start, end)``; zero if ``end <= start``."""
        begin, finish = _aware(start, "start"), _aware(end, "end")
        total = _ZERO
        if finish <= begin:
            return total
        day = begin.astimezone(self._tz).date() - _DAY
        last = finish.astimezone(self._tz).date() + _DAY
        while day <= last:
            for opening, closing in self._intervals(day):
                low, high = max(opening, begin), min(closing, finish)
                if high > low:
                    total += high - low
            day += _DAY
        return total

    # ---------------------------------------------------------------------- internals

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        found = []
        for start, end in self.windows_on(day):
            opening = self._instant(day, start)
            if end == _MIDNIGHT:
                closing = self._instant(day + _DAY, _MIDNIGHT)
            else:
                closing = self._instant(day, end)
            if closing > opening:
                found.append((opening, closing))
        return found

    def _instant(self, day: date, wall: time) -> datetime:
        """The first instant at which the local clock reads ``wall`` on ``day`` or later."""
        local = datetime.combine(day, wall, tzinfo=self._tz)
        first, second = local.utcoffset(), local.replace(fold=1).utcoffset()
        assert first is not None and second is not None  # a ZoneInfo always has an offset
        naive = datetime.combine(day, wall)
        if first >= second:  # unique, or a fold: its first occurrence (fold=0)
            return (naive - first).replace(tzinfo=UTC)
        # A gap: the clocks jump from ``first`` to ``second`` between these two instants.
        low = (naive - second).replace(tzinfo=UTC)  # before the jump
        high = (naive - first).replace(tzinfo=UTC)  # after it
        while high - low > timedelta(microseconds=1):
            middle = low + (high - low) // 2
            if middle.astimezone(self._tz).utcoffset() == first:
                low = middle
            else:
                high = middle
        return high
