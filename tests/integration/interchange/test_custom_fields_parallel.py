"""Custom columns in a parallel import: worker processes read them by the registry's
definitions, each row is validated once, and the outcome does not depend on the workers."""

from __future__ import annotations

import csv
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.interchange import ErrorFile, ImportMapping, ImportPolicy, open_source, plan_import
from custrec.model.custom import CustomField, FieldType

ADMIN = Actor(id="ops", roles={"admin", "unmask"})
MAPPING = ImportMapping.from_dict(
    {
        "defaults": {"kind": "individual"},
        "columns": {
            "名称": "name",
            "手机": "contacts[0].phones[0]",
            "会员号": "custom.member_no",
            "预算": "custom.budget",
            "等级": "custom.tier",
        },
    }
)
FIELDS = (
    CustomField(name="member_no", type=FieldType.NUMBER, minimum=1),
    CustomField(name="budget", type=FieldType.DECIMAL),
    CustomField(name="tier", type=FieldType.ENUM, options=("silver", "gold")),
)


def write_rows(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["名称", "手机", "会员号", "预算", "等级"])
        for i in range(n):
            tier = "bronze" if i == 11 else ("gold" if i % 2 else "silver")
            writer.writerow([f"客户{i}", f"138{i:08d}", f"{i + 1:,}", f"１，２００．{i:02d}", tier])


def run(directory: Path, source: Path, workers: int) -> tuple[dict[str, Any], bytes, Registry]:
    directory.mkdir()
    registry = Registry(SQLiteStore(directory / "c.sqlite"), keyring=KeyRing.generate())
    for field in FIELDS:
        registry.fields.define(field, actor=ADMIN, reason="CRM launch")
    errors = directory / "errors.csv"
    with open_source(source) as rows, ErrorFile.for_source(errors, rows.info) as error_file:
        report = plan_import(
            rows,
            MAPPING,
            registry,
            actor=ADMIN,
            import_id="custom",
            policy=ImportPolicy(batch_size=7, workers=workers),
            dry_run=False,
            error_file=error_file,
        )
    return report.to_dict(), errors.read_bytes(), registry


@pytest.mark.parametrize("workers", [1, 2])
def test_custom_columns_are_validated_once_whatever_the_workers(
    tmp_path: Path, count_intake_validations: Callable[[], Any], workers: int
) -> None:
    source = tmp_path / "rows.csv"
    write_rows(source, 30)
    counting = count_intake_validations()
    report, errors, registry = run(tmp_path / "run", source, workers)
    assert counting.calls == 0  # prepared with the definitions, taken in without a second look
    assert {k: n for k, n in report["counts"].items() if n} == {"created": 29, "rejected": 1}
    assert [(i["row"], i["path"], i["code"]) for i in report["issues"]] == [
        (12, "custom.tier", "option")
    ]
    assert b"bronze" in errors  # the row, as read, for a person to fix
    customers = {c.name: c for b in registry.customers.batches(actor=ADMIN) for c in b}
    assert dict(customers["客户29"].custom) == {
        "member_no": 30,
        "budget": Decimal("1200.29"),
        "tier": "gold",
    }


def test_a_parallel_import_of_custom_columns_equals_an_in_process_one(tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    write_rows(source, 30)
    one, errors_one, first = run(tmp_path / "one", source, 1)
    two, errors_two, second = run(tmp_path / "two", source, 2)
    assert (one, errors_one) == (two, errors_two)

    def contents(registry: Registry) -> dict[str, Any]:
        return {
            c.id: attrs.evolve(c, created_at=None, updated_at=None)
            for batch in registry.customers.batches(actor=ADMIN)
            for c in batch
        }

    assert contents(first) == contents(second)
