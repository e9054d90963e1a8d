"""The periods of ``registry.reports``: calendar days, weeks, months, quarters and years in a
time zone, as the instants that bound them (private; see :mod:`custrec.services.aggregates`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final, Literal
from zoneinfo import ZoneInfo

from custrec._checks import require_aware
from custrec.storage.checks import MAX_EDGES

__all__ = ["MAX_PERIODS", "PERIODS", "Period", "check_zone", "edge_chunks", "period_edges"]

Period = Literal["day", "week", "month", "quarter", "year"]
PERIODS: Final = ("day", "week", "month", "quarter", "year")
MAX_PERIODS: Final = 10_000
"""The most periods one report spans."""


def check_zone(zone: object) -> tzinfo:
    """The report's time zone: a ``tzinfo`` as given, or an IANA name read by
    :mod:`zoneinfo` (``"UTC"`` needs no time-zone database). ``TypeError`` for another type,
    ``ValueError`` for a name the database does not know."""
    if isinstance(zone, tzinfo):
        return zone
    if not isinstance(zone, str):
        raise TypeError("zone must be an IANA time-zone name (such as 'Asia/Shanghai') or a tzinfo")
    if zone == "UTC":
        return UTC
    try:
        return ZoneInfo(zone)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(
            "zone is not a time zone the IANA database knows (such as 'Asia/Shanghai')"
        ) from None


def _first_day(day: date, period: str) -> date:
    """The first day of the period holding ``day``."""
    if period == "week":  # ISO weeks: Monday to Sunday
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if period == "year":
        return day.replace(month=1, day=1)
    return day


def _next_day(first: date, period: str) -> date:
    """The first day of the period after the one starting on ``first``."""
    if period == "day":
        return first + timedelta(days=1)
    if period == "week":
        return first + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _midnight(day: date, zone: tzinfo) -> datetime:
    """The first instant of ``day`` in ``zone``, in UTC. Where the clocks skip midnight, the
    day starts when they resume (``fold=0`` reads a skipped local time with the offset before
    the change, which gives that instant); where midnight comes twice, at the first."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def period_edges(
    period: object, since: datetime, until: datetime, zone: tzinfo
) -> tuple[datetime, ...]:
    """The bounds of the periods from the one holding ``since`` to the first one that ends at
    or after ``until``: at least two strictly increasing instants, in UTC (compare them, then
    show them in ``zone``); a calendar day a zone skipped entirely holds no period.

    ``TypeError``/``ValueError`` for an unknown ``period``, naive bounds, ``until`` before
    ``since``, more than :data:`MAX_PERIODS` periods, or dates past the year 9999."""
    if not isinstance(period, str) or period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    since = require_aware(since, "since")
    until = require_aware(until, "until")
    try:
        since, until = since.astimezone(UTC), until.astimezone(UTC)
    except OverflowError:
        raise ValueError("since and until must lie within the years 1..9999 in UTC") from None
    if until < since:
        raise ValueError("until must not be before since")
    try:
        day = _first_day(since.astimezone(zone).date(), period)
        edges = [_midnight(day, zone)]
        while len(edges) < 2 or edges[-1] < until:
            day = _next_day(day, period)
            edge = _midnight(day, zone)
            if edge > edges[-1]:
                edges.append(edge)
            if len(edges) > MAX_PERIODS + 1:
                break
    except (OverflowError, ValueError):
        raise ValueError("since and until must lie within the years 1..9999") from None
    if len(edges) > MAX_PERIODS + 1:
        raise ValueError(
            f"a report spans at most {MAX_PERIODS} periods: take a longer period or a shorter range"
        )
    return tuple(edges)


def edge_chunks(edges: Sequence[datetime]) -> Iterator[Sequence[datetime]]:
    """``edges`` in runs the storage takes in one call (at most ``MAX_EDGES`` each, every run
    starting at the previous one's last edge), so that the runs' periods are the periods."""
    step = MAX_EDGES - 1
    for start in range(0, len(edges) - 1, step):
        yield edges[start : start + step + 1]
