"""While an import runs, the collector's young generation is collected less often; the
thresholds come back when the last overlapping import ends, and a collector turned off stays
off."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from custrec.interchange._prepare import _YOUNG_OBJECTS, fewer_collections


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield (700, 10, 10)
    gc.set_threshold(*before)


def test_an_import_raises_the_young_threshold_and_restores_it() -> None:
    with fewer_collections():
        assert gc.get_threshold() == (_YOUNG_OBJECTS, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_imports_restore_the_thresholds_when_the_last_ends() -> None:
    first_in, second_done = threading.Event(), threading.Event()
    seen: list[tuple[int, int, int]] = []

    def second() -> None:
        first_in.wait()
        with fewer_collections():
            seen.append(gc.get_threshold())
        second_done.set()

    thread = threading.Thread(target=second)
    thread.start()
    with fewer_collections():
        first_in.set()
        second_done.wait()
        seen.append(gc.get_threshold())  # the second ended: still raised for the first
    thread.join()
    assert seen == [(_YOUNG_OBJECTS, 10, 10)] * 2
    assert gc.get_threshold() == (700, 10, 10)


def test_a_collector_turned_off_stays_off_and_an_error_restores_the_thresholds() -> None:
    gc.set_threshold(0, 10, 10)
    with fewer_collections():
        assert gc.get_threshold() == (0, 10, 10)
    gc.set_threshold(700, 10, 10)
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError
    assert gc.get_threshold() == (700, 10, 10)
