"""Exports: masked or not by permission, audited, schema-versioned, and round-tripping."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.interchange import (
    CSV_COLUMNS,
    export_customers,
    load_mapping,
    open_source,
    plan_import,
)
from custrec.model.records import Customer

EXAMPLES = Path(__file__).parents[3] / "examples" / "data"
OPERATOR = Actor(id="ops", roles={"admin", "unmask", "erase", "auditor"})
EXPORTER = Actor(id="exporter", roles={"admin", "export", "unmask"})
MASKED_EXPORTER = Actor(id="viewer", roles={"admin", "export"})


def new_registry() -> Registry:
    return Registry(MemoryStore(), keyring=KeyRing.generate())


@pytest.fixture
def registry() -> Registry:
    """The legacy sample imported (8 customers), plus an individual with every kind of field."""
    registry = new_registry()
    with open_source(EXAMPLES / "legacy_customers.csv") as rows:
        plan_import(
            rows,
            load_mapping(EXAMPLES / "legacy_mapping.toml"),
            registry,
            actor=OPERATOR,
            import_id="legacy",
            dry_run=False,
        )
    registry.customers.intake(
        {
            "kind": "individual",
            "name": "韩梅梅",
            "gender": "female",
            "birth_date": "1949-12-31",
            "identifiers": [{"scheme": "CN-RIC", "value": "11010519491231002X"}],
            "contacts": [
                {"name": "韩梅梅", "phones": ["13612345678", "010-65529988"], "primary": True},
                {"name": "李雷", "wechat": "lilei_wx", "title": "丈夫"},
            ],
            "addresses": [{"kind": "home", "city": "北京", "street": "建国路1号\n2单元"}],
            "product_interests": ["保险", "理财, 基金"],
            "needs": ["上门服务"],
            "notes": "第一行\n第二行, 带逗号",
            "intent": "high",
            "category": "individual",
            "milestones": {"satisfaction": 4, "first_payment_on": "2024-02-01"},
        },
        actor=OPERATOR,
    )
    return registry


def everything(registry: Registry) -> dict[str, Customer]:
    return {c.id: c for batch in registry.customers.batches(actor=OPERATOR) for c in batch}


def comparable(customer: Customer) -> Customer:
    return attrs.evolve(customer, version=0, updated_at=None)


def reimport(path: Path, target: Registry) -> dict[str, int]:
    with open_source(path) as rows:
        report = plan_import(rows, None, target, actor=OPERATOR, import_id="back", dry_run=False)
    assert [i for i in report.issues if i.severity.value == "error"] == []
    return {k.value: n for k, n in report.counts.items() if n}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_unmasked_exports_round_trip(registry: Registry, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"customers.{fmt}"
    result = export_customers(registry, path, actor=EXPORTER, format=fmt)
    assert (result.exported, result.masked) == (9, 0)

    fresh = new_registry()
    assert reimport(path, fresh) == {"created": 9}
    original = {i: comparable(c) for i, c in everything(registry).items()}
    assert {i: comparable(c) for i, c in everything(fresh).items()} == original

    assert reimport(path, registry) == {"already_applied": 9}


def test_the_json_lines_export_is_schema_versioned(registry: Registry) -> None:
    out = io.StringIO()
    export_customers(registry, out, actor=EXPORTER, stage="lead")
    documents = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(d["schema_version"], d["type"], d["masked"]) for d in documents] == [
        (1, "customer", False)
    ] * 3
    assert {d["data"]["stage"] for d in documents} == {"lead"}


def test_the_csv_export_has_one_column_per_field(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    export_customers(registry, path, actor=EXPORTER, format="csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert "version" not in CSV_COLUMNS and "milestones.contract_amount" in CSV_COLUMNS
    by_name = {row["name"]: row for row in rows}
    assert by_name["上海明远信息技术有限公司"]["milestones.contract_amount"] == "1250000.00 CNY"
    assert json.loads(by_name["上海明远信息技术有限公司"]["tags"]) == ["重点", "华东"]
    assert by_name["韩梅梅"]["_schema_version"] == "1"
    assert by_name["韩梅梅"]["_masked"] == "false"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_masked_exports_hide_values_and_cannot_be_imported(
    registry: Registry, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"masked.{fmt}"
    result = export_customers(registry, path, actor=MASKED_EXPORTER, format=fmt)
    assert (result.exported, result.masked) == (9, 9)
    text = path.read_text(encoding="utf-8-sig")
    assert "13612345678" not in text and "91310115MA1FL2QX3H" not in text
    with open_source(path) as rows:
        report = plan_import(rows, None, new_registry(), actor=OPERATOR, import_id="m")
    assert report.counts["rejected"] == 9
    assert {i.code for i in report.issues if i.severity.value == "error"} >= {"row.masked"}


def test_exports_are_audited_and_need_the_export_permission(registry: Registry) -> None:
    out = io.StringIO()
    refused = export_customers(registry, out, actor=Actor(id="clerk", roles={"admin", "unmask"}))
    assert (refused.exported, refused.denied, out.getvalue()) == (0, 9, "")
    export_customers(registry, io.StringIO(), actor=EXPORTER)
    trail = registry.audit.trail(actor=OPERATOR, actor_id="exporter")
    assert [e.action for e in trail].count("customer.export") == 9
    denied = registry.audit.trail(actor=OPERATOR, actor_id="clerk")
    assert {e.action for e in denied} == {"denied.export"}


def test_erased_customers_are_left_out(registry: Registry) -> None:
    victim = next(iter(everything(registry)))
    registry.privacy.erase(victim, actor=OPERATOR, reason="subject request")
    out = io.StringIO()
    result = export_customers(registry, out, actor=EXPORTER)
    assert (result.exported, result.erased) == (8, 0)  # an erased record is not listed at all
    assert victim not in out.getvalue()


def test_progress_and_argument_checks(registry: Registry) -> None:
    seen: list[int] = []
    export_customers(registry, io.StringIO(), actor=EXPORTER, batch_size=3, progress=seen.append)
    assert seen == [3, 6, 9]
    bad: list[dict[str, Any]] = [{"format": "xlsx"}, {"batch_size": 0}]
    for options in bad:
        with pytest.raises(ValueError, match=r"format|batch_size"):
            export_customers(registry, io.StringIO(), actor=EXPORTER, **options)
    with pytest.raises(TypeError, match="actor"):
        export_customers(registry, io.StringIO(), actor="ops")  # type: ignore[arg-type]
