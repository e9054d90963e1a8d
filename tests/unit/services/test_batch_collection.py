"""A bulk intake pauses the cyclic garbage collector while it works on a batch, and leaves it
as it found it: running again after the last overlapping batch, however the batch ended, and
still off when the caller had turned it off."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from custrec import Actor, Registry
from custrec.services._batch import collection_paused

CLERK = Actor(id="u-1", roles={"admin"})


@pytest.fixture(autouse=True)
def collecting() -> Iterator[None]:
    """Every test starts with the collector running and leaves it running."""
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:  # pragma: no cover - pytest runs with the collector on
        gc.disable()


def customer(i: int) -> dict[str, Any]:
    return {"kind": "individual", "name": f"n{i}", "contacts": [{"phones": [f"1380013{i:04d}"]}]}


def test_a_batch_runs_with_the_collector_paused_and_it_runs_again_after() -> None:
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_runs_again_when_a_batch_fails() -> None:
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError("the batch failed")
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off() -> None:
    gc.disable()
    with collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_overlapping_batches_of_two_threads_resume_it_when_the_last_one_ends() -> None:
    first_in = threading.Event()
    second_in = threading.Event()
    first_out = threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with collection_paused():
            first_in.set()
            second_in.wait(5)
        seen.append(gc.isenabled())  # the second batch still works: paused
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with collection_paused():
            second_in.set()
            first_out.wait(5)
            seen.append(gc.isenabled())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [False, False]
    assert gc.isenabled()


def test_intake_many_pauses_it_per_batch_and_reads_the_items_with_it_running(
    registry: Registry,
) -> None:
    while_read: list[bool] = []

    def items() -> Iterator[dict[str, Any]]:
        for i in range(5):
            while_read.append(gc.isenabled())
            yield customer(i)

    paused_in_batch: list[bool] = []
    original = registry.customers._intake._prepare  # type: ignore[attr-defined]

    def prepare(*args: Any, **kwargs: Any) -> Any:
        paused_in_batch.append(not gc.isenabled())
        return original(*args, **kwargs)

    registry.customers._intake._prepare = prepare  # type: ignore[attr-defined]
    result = registry.customers.intake_many(items(), actor=CLERK, batch_size=2)
    assert len(result.added) == 5
    assert while_read == [True] * 5
    assert paused_in_batch == [True] * 5
    assert gc.isenabled()


def test_intake_many_resumes_it_when_a_batch_raises(registry: Registry) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("the disk is gone")

    registry.customers._intake._prepare = broken  # type: ignore[attr-defined]
    with pytest.raises(OSError, match="disk is gone"):
        registry.customers.intake_many([customer(1)], actor=CLERK)
    assert gc.isenabled()
