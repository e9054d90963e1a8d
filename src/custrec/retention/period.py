"""Retention periods with exact calendar arithmetic.

A :class:`Period` is years, months, weeks and days. :meth:`Period.add_to` adds the years and
months on the calendar first, clamping the day to the end of a shorter month (31 January + 1 month
is 28 or 29 February; 29 February + 1 year is 28 February), then adds weeks and days as calendar
days. The time of day and the time zone of the start are kept, so run it on the calendar you
mean (the schedule converts to its own time zone first).

>>> from datetime import UTC, datetime
>>> Period(months=1).add_to(datetime(2024, 1, 31, 12, 0, tzinfo=UTC))
datetime.datetime(2024, 2, 29, 12, 0, tzinfo=datetime.timezone.utc)
>>> Period(years=1).add_to(datetime(2024, 2, 29, tzinfo=UTC)).date()
datetime.date(2025, 2, 28)
>>> str(Period.parse("P3Y6M")), Period(days=30).iso
('3 years 6 months', 'P30D')
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta
from typing import Final

import attrs

from custrec._checks import int_range
from custrec.errors import RetentionError

__all__ = ["Period"]

_ISO: Final = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?")


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


@attrs.frozen(kw_only=True)
class Period:
    """A non-negative span of calendar time: ``years``, ``months``, ``weeks``, ``days``.

    ``Period()`` is zero (the action is due at the trigger itself).
    """

    years: int = attrs.field(default=0, validator=int_range(0))
    months: int = attrs.field(default=0, validator=int_range(0))
    weeks: int = attrs.field(default=0, validator=int_range(0))
    days: int = attrs.field(default=0, validator=int_range(0))

    @classmethod
    def of(cls, value: Period | timedelta) -> Period:
        """``value`` as a period; a ``timedelta`` must be a whole, non-negative number of days."""
        if isinstance(value, Period):
            return value
        if isinstance(value, timedelta):
            if value < timedelta(0) or value % timedelta(days=1):
                raise RetentionError("a timedelta period must be a whole number of days")
            return cls(days=value.days)
        raise TypeError(f"a period is a Period or a timedelta, not {type(value).__name__}")

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse an ISO 8601 duration of years, months, weeks and days (``"P3Y6M"``, ``"P90D"``)."""
        if not isinstance(text, str):
            raise TypeError("parse() takes a string")
        match = _ISO.fullmatch(text.strip().upper())
        if match is None or not any(match.groups()):
            raise RetentionError("not an ISO 8601 duration of years, months, weeks and days")
        years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
        return cls(years=years, months=months, weeks=weeks, days=days)

    @property
    def iso(self) -> str:
        """The ISO 8601 form, e.g. ``"P3Y6M"`` (``"P0D"`` for zero)."""
        parts = [
            f"{n}{unit}"
            for n, unit in (
                (self.years, "Y"),
                (self.months, "M"),
                (self.weeks, "W"),
                (self.days, "D"),
            )
            if n
        ]
        return "P" + ("".join(parts) or "0D")

    def __str__(self) -> str:
        parts = [
            _plural(n, unit)
            for n, unit in (
                (self.years, "year"),
                (self.months, "month"),
                (self.weeks, "week"),
                (self.days, "day"),
            )
            if n
        ]
        return " ".join(parts) or "0 days"

    def add_to(self, start: datetime) -> datetime:
        """``start`` plus this period (months on the calendar, day clamped to the month's end).

        Raises :class:`~custrec.retention.RetentionError` if the result is past year 9999.
        """
        if not isinstance(start, datetime):
            raise TypeError("add_to() takes a datetime")
        try:
            month_index = start.month - 1 + self.years * 12 + self.months
            year = start.year + month_index // 12
            month = month_index % 12 + 1
            day = min(start.day, calendar.monthrange(year, month)[1])
            moved = start.replace(year=year, month=month, day=day)
            return moved + timedelta(weeks=self.weeks, days=self.days)
        except (OverflowError, ValueError, calendar.IllegalMonthError):
            raise RetentionError("the period runs past the year 9999") from None
