"""The progress-callback convention every long operation follows.

A long operation takes ``progress: Progress | None = None`` and calls it with the number of
items done so far: the numbers never go down, and the last call gives the total done. A
callback that raises stops the operation: what earlier batches committed stays, the batch in
hand is rolled back, and the exception reaches the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeAlias, TypeVar

__all__ = ["Progress", "Reporter", "counted"]

_T = TypeVar("_T")

Progress: TypeAlias = Callable[[int], None]
"""A progress callback: called with the number of items done so far (monotonic; the last call
gives the total)."""


class Reporter:
    """Counts items done and calls a :data:`Progress` callback with the running total: after
    ``every`` items, or ``seconds`` after the last call when given (whichever comes first), and
    once more from :meth:`finish` with the total unless that was the last number reported.
    With ``progress`` ``None`` it only counts."""

    def __init__(
        self,
        progress: Progress | None,
        *,
        every: int = 1,
        seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if progress is not None and not callable(progress):
            raise TypeError("progress must be a callable taking the number of items done")
        self._progress = progress
        self._every = max(1, every)
        self._seconds = seconds
        self._clock = clock
        self.done = 0
        self._reported: int | None = None
        self._at = clock() if seconds is not None else 0.0

    def add(self, count: int = 1) -> None:
        """Count ``count`` more items done; report if the step or the interval is reached."""
        self.done += count
        if self._progress is None or self.done == self._reported:
            return
        due = self.done - (self._reported or 0) >= self._every
        if not due and self._seconds is not None:
            due = self._clock() - self._at >= self._seconds
        if due:
            self._report()

    def flush(self) -> None:
        """Report the count now unless it was the last number reported."""
        if self._progress is not None and self.done != self._reported:
            self._report()

    def finish(self) -> int:
        """Report the total (unless it was the last number reported); return it."""
        self.flush()
        return self.done

    def _report(self) -> None:
        assert self._progress is not None
        self._reported = self.done
        if self._seconds is not None:
            self._at = self._clock()
        self._progress(self.done)


def counted(items: Iterable[_T], reporter: Reporter) -> Iterator[_T]:
    """Yield ``items``, counting each one with ``reporter`` once it has been handed on (so an
    item counts as done when the consumer asks for the next one or the items run out)."""
    for item in items:
        yield item
        reporter.add(1)
