"""The report maps every row to its outcome and customer id, inline when small and streamed to
an ids file always (issue 22)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.interchange import ImportMapping, ImportPolicy, Outcome, plan_import, report_ids
from custrec.interchange.report_ids import IdsFile, RowResult, read_ids

ADMIN = Actor(id="ops", roles={"admin", "unmask"})
IMPORTER = Actor(id="importer", roles={"admin"})
MAPPING = ImportMapping.from_dict(
    {
        "defaults": {"kind": "individual"},
        "columns": {
            "名称": "name",
            "手机": "contacts[0].phones[0]",
            "邮箱": "contacts[0].emails[0]",
        },
    }
)


def person(name: str, phone: str = "", email: str = "") -> dict[str, str]:
    return {"名称": name, "手机": phone, "邮箱": email}


def run(registry: Registry, rows: list[dict[str, str]], **options: Any) -> Any:
    options.setdefault("actor", IMPORTER)
    options.setdefault("import_id", "t1")
    options.setdefault("dry_run", False)
    return plan_import(rows, MAPPING, registry, **options)


def mapped(report: Any) -> list[tuple[int, str, str | None]]:
    return [(r.row, r.outcome.value, r.customer_id) for r in report.row_ids]


def test_every_row_maps_to_its_outcome_and_customer(tmp_path: Path) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    kept = registry.customers.intake(
        {"kind": "individual", "name": "甲", "contacts": [{"phones": ["13700137000"]}]},
        actor=ADMIN,
    )
    rows = [
        person("张三", "13800138000"),
        person("李四", "12345"),  # rejected
        person("甲二", "13700137000"),  # a stored customer's phone: skipped
        person("张三（重复）", "13800138000"),  # row 1 again, in the next chunk
        person("王五", "13900139000"),
    ]
    with IdsFile(tmp_path / "ids.jsonl") as ids:
        report = run(registry, rows, ids_file=ids, policy=ImportPolicy(batch_size=2))
    first = next(r.customer_id for r in report.row_ids if r.row == 1)
    last = next(r.customer_id for r in report.row_ids if r.row == 5)
    assert mapped(report) == [
        (1, "created", first),
        (2, "rejected", None),
        (3, "duplicate_in_store", kept.id),
        (4, "duplicate_in_file", first),
        (5, "created", last),
    ]
    stored = {c.id for batch in registry.customers.batches(actor=ADMIN) for c in batch}
    assert stored == {kept.id, first, last}
    assert report.ids_file == "ids.jsonl" and ids.rows == 5
    assert list(read_ids(tmp_path / "ids.jsonl")) == list(report.row_ids)
    text = (tmp_path / "ids.jsonl").read_text(encoding="utf-8")
    assert not any(value in text for value in ("张三", "13800138000", "12345", "李四"))
    assert stat.S_IMODE((tmp_path / "ids.jsonl").stat().st_mode) == 0o600
    data = report.to_dict()
    assert data["row_ids"][0] == {"row": 1, "outcome": "created", "id": first}
    assert data["ids_file"] == "ids.jsonl"
    assert "customer id of every row: ids.jsonl" in report.render()

    again = run(registry, rows)  # a re-run: the same customers, already applied
    assert [r.customer_id for r in again.row_ids] == [r.customer_id for r in report.row_ids]
    assert again.row_ids[0].outcome is Outcome.ALREADY_APPLIED


def test_updates_and_conflicts() -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    kept = registry.customers.intake(
        {"kind": "individual", "name": "甲", "contacts": [{"phones": ["13700137000"]}]},
        actor=ADMIN,
    )
    rows = [
        person("甲", "13700137000", "jia@example.com"),
        person("甲", "", "jia@example.com"),  # the same customer again: a duplicate
    ]
    update = run(registry, rows, actor=ADMIN, policy=ImportPolicy(on_match="update"))
    assert mapped(update) == [(1, "updated", kept.id), (2, "duplicate_in_file", kept.id)]
    same = run(registry, rows[:1], actor=ADMIN, policy=ImportPolicy(on_match="update"))
    assert mapped(same) == [(1, "unchanged", kept.id)]
    review = run(registry, rows[:1], policy=ImportPolicy(on_match="conflict"))
    assert mapped(review) == [(1, "conflict", None)]


def test_a_large_import_streams_the_map_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_ids, "INLINE_ROW_IDS", 3)
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    rows = [person(f"客户{n}", f"1380013{n:04d}") for n in range(5)]
    with IdsFile(tmp_path / "ids.jsonl") as ids:
        report = run(registry, rows, ids_file=ids, dry_run=True)
    assert report.row_ids is None and report.to_dict()["row_ids"] is None
    streamed = list(read_ids(tmp_path / "ids.jsonl"))
    assert [r.row for r in streamed] == [1, 2, 3, 4, 5]
    assert {r.outcome for r in streamed} == {Outcome.CREATED}
    assert sorted(report.sample_ids) == sorted(
        r.customer_id for r in streamed if r.customer_id in report.sample_ids
    )


NAMES = st.sampled_from(["甲", "乙", "丙", ""])
PHONES = st.sampled_from(["13800138000", "13900139000", "13700137000", "12345", ""])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(NAMES, PHONES), min_size=1, max_size=12),
    batch=st.integers(1, 4),
)
def test_the_map_is_complete_and_consistent(rows: list[tuple[str, str]], batch: int) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    report = run(registry, [person(n, p) for n, p in rows], policy=ImportPolicy(batch_size=batch))
    results = {r.row: r for r in report.row_ids}
    assert sorted(results) == list(range(1, len(rows) + 1))  # no blank rows here
    stored = {c.id for b in registry.customers.batches(actor=ADMIN) for c in b}
    for result in report.row_ids:
        if result.outcome in (Outcome.REJECTED, Outcome.CONFLICT):
            assert result.customer_id is None
        elif result.outcome is Outcome.CREATED:
            assert result.customer_id in stored
        elif result.outcome is Outcome.DUPLICATE_IN_FILE:
            first = next(i for i in report.issues if i.row == result.row).message
            earlier = results[int(first.rsplit(" ", 1)[1])]
            assert result.customer_id == earlier.customer_id
    counted = {o: sum(1 for r in report.row_ids if r.outcome is o) for o in Outcome}
    assert counted == dict(report.counts)


def test_row_results_round_trip() -> None:
    result = RowResult(row=7, outcome="duplicate_in_store", customer_id="c-9")
    assert RowResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
