"""Progress of imports and exports: an import reports as rows are checked, within a chunk, and
after each chunk is written; a callback that raises stops it with only whole chunks written."""

from __future__ import annotations

import io
from typing import Any

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.interchange import ImportMapping, ImportPolicy, Progress, export_customers, plan_import

IMPORTER = Actor(id="importer", roles={"admin", "export", "unmask"})
MAPPING = ImportMapping.from_dict(
    {
        "defaults": {"kind": "individual"},
        "columns": {"名称": "name", "手机": "contacts[0].phones[0]"},
    }
)
STEP = 250  # rows checked between two calls at most (docs: every 250 rows or 0.2 s)


class Stop(Exception):
    pass


def rows(count: int) -> list[dict[str, str]]:
    return [{"名称": f"客户{n}", "手机": f"1380000{n:04d}"} for n in range(count)]


def stored(registry: Registry) -> int:
    return registry.customers.count(actor=IMPORTER)


def stopping_at(call: int, seen: list[int]) -> Progress:
    def progress(done: int) -> None:
        seen.append(done)
        if len(seen) == call:
            raise Stop

    return progress


def run(registry: Registry, count: int, **options: Any) -> Any:
    return plan_import(
        rows(count), MAPPING, registry, actor=IMPORTER, import_id="p1", dry_run=False, **options
    )


@pytest.fixture
def registry() -> Registry:
    return Registry(MemoryStore(), keyring=KeyRing.generate())


def test_an_import_reports_within_a_chunk_and_ends_with_every_row(registry: Registry) -> None:
    seen: list[int] = []
    report = run(registry, 600, progress=seen.append)  # one chunk of 5,000 rows at most
    assert report.rows == 600
    assert seen == sorted(set(seen))  # monotonic, no number twice
    assert seen[-1] == 600
    assert seen[0] <= STEP  # reported long before the chunk was done
    assert all(b - a <= STEP for a, b in zip([0, *seen], seen, strict=False))


def test_an_import_also_reports_after_each_chunk(registry: Registry) -> None:
    seen: list[int] = []
    run(registry, 7, policy=ImportPolicy(batch_size=3), progress=seen.append)
    assert seen[-1] == 7
    assert {3, 6, 7} <= set(seen)
    assert seen == sorted(set(seen))


def test_an_import_stopped_while_checking_a_chunk_writes_nothing_of_it(registry: Registry) -> None:
    seen: list[int] = []
    with pytest.raises(Stop):
        run(registry, 600, progress=stopping_at(1, seen))
    assert seen[0] < 600
    assert stored(registry) == 0
    report = run(registry, 600)  # the same import id, run again, completes it
    assert stored(registry) == 600
    assert report.rows == 600


def test_an_import_stopped_between_chunks_keeps_the_chunks_written(registry: Registry) -> None:
    seen: list[int] = []
    with pytest.raises(Stop):
        run(registry, 9, policy=ImportPolicy(batch_size=3), progress=stopping_at(2, seen))
    assert seen == [3, 6]
    assert stored(registry) == 6
    run(registry, 9, policy=ImportPolicy(batch_size=3))
    assert stored(registry) == 9


def test_an_export_stopped_by_its_callback_leaves_whole_lines(registry: Registry) -> None:
    run(registry, 7)
    seen: list[int] = []
    out = io.StringIO()
    with pytest.raises(Stop):
        export_customers(registry, out, actor=IMPORTER, batch_size=3, progress=stopping_at(2, seen))
    assert seen == [3, 6]
    lines = out.getvalue().splitlines()
    assert len(lines) == 6
    assert out.getvalue().endswith("\n")
    complete: list[int] = []
    export_customers(
        registry, io.StringIO(), actor=IMPORTER, batch_size=3, progress=complete.append
    )
    assert complete == [3, 6, 7]
