"""Python's cyclic garbage collector around batch work: one place, safe for threads.

Bulk intake, an import and a clustering run keep hundreds of thousands of new objects alive at
once (records, rows, keys, audit entries, pair tuples) and make no reference cycle. Every few
hundred allocations the collector would start a pass, and the passes over the older generations
walk the whole heap again and again: a tenth to a fifth of such a run's CPU. Reference counting
still frees everything a batch drops; the collector's next pass, once the work has ended, finds
whatever cycle it left.

The collector is process-wide, so both adjustments here are counted: overlapping blocks in
several threads change it once, and it is put back as it was when the last of them ends,
however it ends. A collector that the application had turned off stays off.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

__all__ = ["YOUNG_OBJECTS", "fewer_collections", "held", "paused", "settle_worker"]

YOUNG_OBJECTS: Final = 50_000
"""New objects between two young-generation passes while :func:`fewer_collections` runs
(Python's default is 700)."""

_lock = threading.Lock()


class _State:
    pauses = 0
    resume = False
    relaxed = 0
    thresholds: tuple[int, int, int] = (0, 0, 0)


@contextmanager
def paused() -> Iterator[None]:
    """Turn the cyclic collector off for the block (a batch that makes no cycle)."""
    with _lock:
        if _State.pauses == 0:
            _State.resume = gc.isenabled()
            gc.disable()
        _State.pauses += 1
    try:
        yield
    finally:
        with _lock:
            _State.pauses -= 1
            if _State.pauses == 0 and _State.resume:
                gc.enable()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect the young generation every :data:`YOUNG_OBJECTS` new objects during the block
    (a long run that frees what it makes as it goes)."""
    with _lock:
        if _State.relaxed == 0:
            _State.thresholds = current = gc.get_threshold()
            if 0 < current[0] < YOUNG_OBJECTS:
                gc.set_threshold(YOUNG_OBJECTS, *current[1:])
        _State.relaxed += 1
    try:
        yield
    finally:
        with _lock:
            _State.relaxed -= 1
            if _State.relaxed == 0:
                gc.set_threshold(*_State.thresholds)


def held() -> tuple[int, int]:
    """How many blocks hold the collector paused, and how many hold it relaxed (for tests)."""
    with _lock:
        return _State.pauses, _State.relaxed


def settle_worker() -> None:
    """Set up a worker process custrec started for batch work, for its whole life: what it
    imported is moved out of the collector's sight (``gc.freeze``) and the young generation is
    collected every :data:`YOUNG_OBJECTS` new objects."""
    gc.freeze()
    young, *older = gc.get_threshold()
    if 0 < young < YOUNG_OBJECTS:
        gc.set_threshold(YOUNG_OBJECTS, *older)
