"""Batch work changes Python's process-wide garbage collector in one place,
``custrec._collector``: ``paused`` turns the cyclic collector off, ``fewer_collections`` collects
the young generation less often. Both leave the collector as they found it when the last
overlapping block ends, in whatever thread and however it ends, and a collector the application
turned off stays off."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from custrec._collector import YOUNG_OBJECTS, fewer_collections, held, paused


@pytest.fixture(autouse=True)
def as_python_starts() -> Iterator[None]:
    """Each test starts with the collector running at Python's default thresholds."""
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    gc.enable()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*thresholds)
    if not enabled:  # pragma: no cover - pytest runs with the collector on
        gc.disable()


def state() -> tuple[bool, tuple[int, int, int]]:
    return gc.isenabled(), gc.get_threshold()


RUNNING = (True, (700, 10, 10))


def test_paused_turns_the_collector_off_for_the_block() -> None:
    with paused():
        assert state() == (False, (700, 10, 10))
        assert held() == (1, 0)
    assert state() == RUNNING and held() == (0, 0)


def test_fewer_collections_raises_the_young_threshold_for_the_block() -> None:
    with fewer_collections():
        assert state() == (True, (YOUNG_OBJECTS, 10, 10))
        assert held() == (0, 1)
    assert state() == RUNNING and held() == (0, 0)


@pytest.mark.parametrize("block", [paused, fewer_collections])
def test_a_block_that_fails_leaves_the_collector_as_it_was(
    block: Callable[[], AbstractContextManager[None]],
) -> None:
    with pytest.raises(RuntimeError), block():
        raise RuntimeError("the batch failed")
    assert state() == RUNNING and held() == (0, 0)


def test_a_collector_the_application_turned_off_stays_off() -> None:
    gc.disable()
    with paused():
        pass
    assert not gc.isenabled()
    gc.set_threshold(0, 10, 10)
    with fewer_collections():
        assert gc.get_threshold() == (0, 10, 10)
    assert gc.get_threshold() == (0, 10, 10)


@pytest.mark.parametrize("block", [paused, fewer_collections])
def test_overlapping_blocks_of_two_threads_restore_it_when_the_last_one_ends(
    block: Callable[[], AbstractContextManager[None]],
) -> None:
    first_in, second_done = threading.Event(), threading.Event()
    seen: list[tuple[bool, tuple[int, int, int]]] = []

    def second() -> None:
        assert first_in.wait(10)
        with block():
            seen.append(state())
        second_done.set()

    thread = threading.Thread(target=second)
    thread.start()
    with block():
        inside = state()
        first_in.set()
        assert second_done.wait(10)
        seen.append(state())  # the second block ended: the first still holds it
    thread.join(10)
    assert seen == [inside, inside] and inside != RUNNING
    assert state() == RUNNING and held() == (0, 0)


def test_both_blocks_nest_and_each_undoes_only_its_own_change() -> None:
    with paused():
        with fewer_collections():
            assert state() == (False, (YOUNG_OBJECTS, 10, 10))
        assert state() == (False, (700, 10, 10))
    assert state() == RUNNING


def test_a_settled_worker_freezes_its_imports_and_collects_the_young_less_often() -> None:
    code = (
        "import gc\nfrom custrec._collector import YOUNG_OBJECTS, settle_worker\n"
        "gc.set_threshold(700, 10, 10)\nsettle_worker()\n"
        "assert gc.get_freeze_count() > 0, 'nothing frozen'\n"
        "assert gc.get_threshold() == (YOUNG_OBJECTS, 10, 10), gc.get_threshold()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
