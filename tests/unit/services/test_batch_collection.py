"""A bulk intake pauses the cyclic garbage collector while it works on a batch
(``custrec._collector.paused``, whose own tests are in tests/unit/test_collector.py) and reads
the caller's items with it running; a batch that raises leaves it running."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from custrec import Actor, Registry

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
