"""A controllable clock for tests of code that takes ``clock=`` (such as ``Registry``).

>>> from datetime import UTC, datetime, timedelta
>>> clock = TickingClock(datetime(2025, 3, 1, 8, 0, tzinfo=UTC))
>>> clock().isoformat(), clock().isoformat()
('2025-03-01T08:00:01+00:00', '2025-03-01T08:00:02+00:00')
>>> clock.advance(days=1).isoformat()
'2025-03-02T08:00:02+00:00'
>>> still = TickingClock(datetime(2025, 3, 1, tzinfo=UTC), step=timedelta(0))
>>> still() == still()
True
"""

from __future__ import annotations

from datetime import datetime, timedelta

from custrec._checks import require_aware

__all__ = ["TickingClock"]


class TickingClock:
    """Starts at ``start`` (timezone-aware); each call moves it on by ``step`` (default one
    second, so successive events get distinct, ordered times) and returns the new time.
    :meth:`advance` moves it on without a call; ``now`` is the time last returned.

    Raises ``TypeError`` for a non-datetime ``start`` or a non-timedelta ``step``, and
    ``ValueError`` for a naive ``start`` or a negative ``step``: a test clock never runs
    backwards.
    """

    __slots__ = ("now", "step")

    def __init__(self, start: datetime, *, step: timedelta = timedelta(seconds=1)) -> None:
        require_aware(start, "start")
        if not isinstance(step, timedelta):
            raise TypeError("step must be a timedelta")
        if step < timedelta(0):
            raise ValueError("step must not be negative")
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move the clock on by ``timedelta(**delta)`` and return the new time."""
        moved = timedelta(**delta)
        if moved < timedelta(0):
            raise ValueError("a test clock does not run backwards")
        self.now += moved
        return self.now

    def __repr__(self) -> str:
        return f"TickingClock(now={self.now.isoformat()}, step={self.step})"
