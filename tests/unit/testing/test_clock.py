"""custrec.testing.TickingClock: a clock for tests that never runs backwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from custrec.testing import TickingClock

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def test_each_call_moves_on_by_one_step() -> None:
    clock = TickingClock(T0, step=timedelta(minutes=5))
    assert [clock(), clock()] == [T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)]
    assert clock.now == T0 + timedelta(minutes=10)


def test_a_zero_step_holds_still_until_advanced() -> None:
    clock = TickingClock(T0, step=timedelta(0))
    assert clock() == clock() == T0
    assert clock.advance(days=2, hours=1) == T0 + timedelta(days=2, hours=1) == clock()


def test_any_aware_start_is_accepted() -> None:
    start = datetime(2025, 3, 1, 16, 0, tzinfo=timezone(timedelta(hours=8)))
    assert TickingClock(start)() == start + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("start", "step", "error"),
    [
        (datetime(2025, 3, 1), timedelta(seconds=1), ValueError),  # naive
        ("2025-03-01T08:00:00+00:00", timedelta(seconds=1), TypeError),
        (T0, 1, TypeError),
        (T0, timedelta(seconds=-1), ValueError),
    ],
)
def test_bad_arguments_are_refused(start: Any, step: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        TickingClock(start, step=step)


def test_advancing_backwards_is_refused() -> None:
    clock = TickingClock(T0)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(seconds=-1)
    assert clock.now == T0
