"""Repeat a unit of work that failed in a way that may succeed next time.

A backend raises :class:`~custrec.errors.StorageError` with ``retry_safe=True`` when the
transaction did not commit and repeating the *whole* unit of work may succeed (a busy database,
a serialisation failure, a connection lost before commit), and
:class:`~custrec.errors.VersionConflict` when a compare-and-set write met a newer version.
:func:`retry` runs the unit again on those, after a pause that grows exponentially with some
random jitter, and on nothing else:

>>> from custrec.errors import StorageError
>>> calls = []
>>> def work() -> str:
...     calls.append(1)
...     if len(calls) < 3:
...         raise StorageError("the database is busy", retry_safe=True)
...     return "done"
>>> retry(work, sleep=lambda seconds: None)
'done'
>>> len(calls)
3

The pause after the ``n``-th failed attempt is ``min(max_backoff, backoff * 2 ** (n - 1))``
seconds times a factor drawn uniformly from 0.5 to 1 (``0.5 + jitter() / 2``), so concurrent
writers that collided spread apart. When ``attempts`` run out the last error is raised
unchanged. Each retry is logged at ``INFO`` and giving up at ``WARNING`` on the
``custrec.retry`` logger, with the error's class and the attempt numbers only.

The unit of work must be a whole transaction (open, write, commit): a function that catches the
error half-way and goes on is not made safe by retrying it.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import Final, ParamSpec, TypeVar

from custrec._checks import check, non_empty_text, number_range, positive_int
from custrec._log import get_logger
from custrec.errors import StorageError, VersionConflict

__all__ = ["backoff_delay", "retry", "retry_safe", "retrying"]

_log: Final = get_logger(__name__)

_T = TypeVar("_T")
_P = ParamSpec("_P")

_MAX_SECONDS: Final = 3600.0


def retry_safe(error: BaseException, *, conflicts: bool = True) -> bool:
    """Whether :func:`retry` repeats the work after ``error``: a
    :class:`~custrec.errors.VersionConflict` (unless ``conflicts`` is false) or a
    :class:`~custrec.errors.StorageError` with ``retry_safe`` set; nothing else.

    >>> from custrec.errors import NotFound, VersionConflict
    >>> retry_safe(VersionConflict("customer c1", expected=1, actual=2))
    True
    >>> retry_safe(VersionConflict("customer c1", expected=1), conflicts=False)
    False
    >>> retry_safe(NotFound("customer c1")), retry_safe(ValueError("bad"))
    (False, False)
    """
    if isinstance(error, VersionConflict):
        return conflicts
    return isinstance(error, StorageError) and error.retry_safe


def backoff_delay(
    failures: int,
    *,
    backoff: float = 0.05,
    max_backoff: float = 2.0,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the ``failures``-th failed attempt:
    ``min(max_backoff, backoff * 2 ** (failures - 1)) * (0.5 + jitter() / 2)``.

    ``jitter`` returns a number from 0 to 1 (``random.random`` by default); a value outside is
    clamped.

    >>> backoff_delay(1, jitter=lambda: 1.0), backoff_delay(3, jitter=lambda: 1.0)
    (0.05, 0.2)
    >>> backoff_delay(3, jitter=lambda: 0.0)
    0.1
    >>> backoff_delay(20, jitter=lambda: 1.0)
    2.0
    """
    check("failures", failures, positive_int())
    check("backoff", backoff, number_range(0, _MAX_SECONDS))
    check("max_backoff", max_backoff, number_range(0, _MAX_SECONDS))
    cap = min(max_backoff, backoff * 2.0 ** min(failures - 1, 64))
    share = min(1.0, max(0.0, float(jitter())))
    return cap * (0.5 + share / 2)


def retry(
    work: Callable[[], _T],
    *,
    attempts: int = 5,
    backoff: float = 0.05,
    max_backoff: float = 2.0,
    conflicts: bool = True,
    what: str = "unit of work",
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> _T:
    """Call ``work()`` until it returns, at most ``attempts`` times; return what it returned.

    Only errors :func:`retry_safe` accepts are retried (``conflicts=False`` lets a
    :class:`~custrec.errors.VersionConflict` through at once, for a caller that must not
    re-apply its change over someone else's); any other exception propagates at once, and the
    last retry-safe error propagates when the attempts run out. Between attempts it calls
    ``sleep(`` :func:`backoff_delay` ``)``; pass your own ``sleep`` (and ``jitter``) to test or
    to wait differently. ``what`` names the work in the log (no personal data).
    ``ValueError``/``TypeError`` for a bad option.
    """
    check("attempts", attempts, positive_int())
    check("backoff", backoff, number_range(0, _MAX_SECONDS))
    check("max_backoff", max_backoff, number_range(0, _MAX_SECONDS))
    check("what", what, non_empty_text())
    failures = 0
    while True:
        try:
            return work()
        except Exception as error:
            if not retry_safe(error, conflicts=conflicts):
                raise
            failures += 1
            if failures >= attempts:
                _log.warning(
                    "%s failed %d time(s) with %s; giving up",
                    what,
                    failures,
                    type(error).__name__,
                )
                raise
            delay = backoff_delay(failures, backoff=backoff, max_backoff=max_backoff, jitter=jitter)
            _log.info(
                "%s failed with %s (attempt %d of %d); retrying in %.3f s",
                what,
                type(error).__name__,
                failures,
                attempts,
                delay,
            )
        sleep(delay)


def retrying(
    *,
    attempts: int = 5,
    backoff: float = 0.05,
    max_backoff: float = 2.0,
    conflicts: bool = True,
    what: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> Callable[[Callable[_P, _T]], Callable[_P, _T]]:
    """The decorator form of :func:`retry`: each call of the decorated function is retried as
    one unit of work (``what`` defaults to the function's qualified name).

    >>> from custrec.errors import VersionConflict
    >>> tries = []
    >>> @retrying(attempts=3, sleep=lambda seconds: None)
    ... def bump(n: int) -> int:
    ...     tries.append(n)
    ...     if len(tries) == 1:
    ...         raise VersionConflict("counter", expected=1, actual=2)
    ...     return n + 1
    >>> bump(41), len(tries)
    (42, 2)
    """
    check("attempts", attempts, positive_int())
    check("backoff", backoff, number_range(0, _MAX_SECONDS))
    check("max_backoff", max_backoff, number_range(0, _MAX_SECONDS))

    def decorate(function: Callable[_P, _T]) -> Callable[_P, _T]:
        name = what if what is not None else getattr(function, "__qualname__", "unit of work")

        @functools.wraps(function)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            return retry(
                functools.partial(function, *args, **kwargs),
                attempts=attempts,
                backoff=backoff,
                max_backoff=max_backoff,
                conflicts=conflicts,
                what=name,
                sleep=sleep,
                jitter=jitter,
            )

        return wrapper

    return decorate
