"""Specification of Period: exact calendar arithmetic, parsing and rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.retention import Period, RetentionError

CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("start", "period", "expected"),
    [
        (datetime(2024, 1, 31), Period(months=1), datetime(2024, 2, 29)),  # leap year
        (datetime(2023, 1, 31), Period(months=1), datetime(2023, 2, 28)),
        (datetime(2024, 3, 31), Period(months=1), datetime(2024, 4, 30)),
        (datetime(2024, 2, 29), Period(years=1), datetime(2025, 2, 28)),
        (datetime(2024, 2, 29), Period(years=4), datetime(2028, 2, 29)),
        (datetime(2024, 2, 29), Period(months=12), datetime(2025, 2, 28)),
        (datetime(2024, 11, 30), Period(months=3), datetime(2025, 2, 28)),
        (datetime(2024, 12, 31), Period(months=2), datetime(2025, 2, 28)),
        (datetime(2024, 1, 31), Period(months=1, days=1), datetime(2024, 3, 1)),
        (datetime(2024, 8, 31), Period(years=2, months=6), datetime(2027, 2, 28)),
        (datetime(2024, 1, 15), Period(weeks=2, days=3), datetime(2024, 2, 1)),
        (datetime(2024, 5, 5), Period(), datetime(2024, 5, 5)),
    ],
)
def test_calendar_arithmetic_clamps_to_month_end(
    start: datetime, period: Period, expected: datetime
) -> None:
    aware = start.replace(hour=13, minute=5, microsecond=7, tzinfo=UTC)
    assert period.add_to(aware) == expected.replace(hour=13, minute=5, microsecond=7, tzinfo=UTC)


def test_arithmetic_runs_on_the_starts_own_calendar() -> None:
    # 31 January 20:00 UTC is already 1 February in China
    start = datetime(2024, 1, 31, 20, 0, tzinfo=UTC)
    assert Period(months=1).add_to(start) == datetime(2024, 2, 29, 20, 0, tzinfo=UTC)
    local = Period(months=1).add_to(start.astimezone(CST))
    assert local == datetime(2024, 3, 1, 4, 0, tzinfo=CST)


def test_overflow_is_a_retention_error() -> None:
    with pytest.raises(RetentionError, match="9999"):
        Period(years=10).add_to(datetime(9995, 1, 1, tzinfo=UTC))
    with pytest.raises(RetentionError):
        Period(days=10).add_to(datetime(9999, 12, 30, tzinfo=UTC))
    with pytest.raises(TypeError):
        Period(days=1).add_to("2024-01-01")  # type: ignore[arg-type]


def test_parse_render_and_convert() -> None:
    assert Period.parse("P3Y6M") == Period(years=3, months=6)
    assert Period.parse(" p2w ") == Period(weeks=2)
    assert Period.parse("P1Y2M3W4D").iso == "P1Y2M3W4D"
    assert Period().iso == "P0D" and str(Period()) == "0 days"
    assert str(Period(years=1, months=1, weeks=1, days=1)) == "1 year 1 month 1 week 1 day"
    assert str(Period(years=3)) == "3 years"
    for bad in ("P", "3Y", "P1H", "PT1H", "P-1Y", ""):
        with pytest.raises(RetentionError, match="ISO 8601"):
            Period.parse(bad)
    with pytest.raises(TypeError):
        Period.parse(3)  # type: ignore[arg-type]
    assert Period.of(timedelta(days=90)) == Period(days=90)
    assert Period.of(Period(years=1)) == Period(years=1)
    with pytest.raises(RetentionError, match="whole number of days"):
        Period.of(timedelta(hours=36))
    with pytest.raises(RetentionError):
        Period.of(timedelta(days=-1))
    with pytest.raises(TypeError):
        Period.of(30)  # type: ignore[arg-type]


def test_components_are_validated() -> None:
    with pytest.raises(ValueError, match="negative"):
        Period(months=-1)
    with pytest.raises(TypeError):
        Period(years=True)
    with pytest.raises(TypeError):
        Period(days=1.5)  # type: ignore[arg-type]


@given(
    start=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    years=st.integers(0, 50),
    months=st.integers(0, 30),
)
def test_months_never_overflow_into_the_next_month(
    start: datetime, years: int, months: int
) -> None:
    moved = Period(years=years, months=months).add_to(start)
    total = start.month - 1 + 12 * years + months
    assert (moved.year, moved.month) == (start.year + total // 12, total % 12 + 1)
    assert moved.day <= start.day and moved.time() == start.time()
    if moved.day < start.day:  # clamped: it is the last day of its month
        assert (moved + timedelta(days=1)).month != moved.month
