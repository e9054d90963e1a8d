"""Custom fields in imports and exports.

A mapping column may feed ``custom.<name>``; the field's definition reads the cell at intake,
and a column without a ``type`` is typed by its field (separators and date formats apply). An
import checks every custom field its mapping names against the registry's definitions before
it reads a row. A CSV export has one ``custom.<name>`` column per custom field, current and
removed, masked as ``registry.customers.get`` shows them, and it imports back to the same
values.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.errors import MappingError
from custrec.interchange import (
    CSV_COLUMNS,
    ErrorFile,
    ImportMapping,
    ImportPolicy,
    export_customers,
    merge_changes,
    open_source,
    plan_import,
)
from custrec.interchange.export import csv_columns, custom_cell
from custrec.model.custom import CustomField, FieldType
from custrec.model.records import Customer, CustomerKind, CustomValues
from custrec.model.serialization import make_converter

ADMIN = Actor(id="ops", roles={"admin", "unmask", "export"})
STAFF = Actor(id="u-1", roles={"staff", "export"})  # reads and exports its own customers, masked

FIELDS = (
    CustomField(name="member_no", type=FieldType.NUMBER, minimum=1),
    CustomField(name="budget", type=FieldType.DECIMAL, minimum=Decimal(0)),
    CustomField(name="since", type=FieldType.DATE),
    CustomField(name="tier", type=FieldType.ENUM, options=("silver", "gold"), filterable=True),
    CustomField(name="topics", type=FieldType.MULTI_ENUM, options=("保险", "理财", "基金")),
    CustomField(name="vip", type=FieldType.BOOLEAN),
    CustomField(name="remark", type=FieldType.TEXT),
    CustomField(
        name="wechat2", type=FieldType.TEXT, personal=True, category="contact", max_length=20
    ),
    CustomField(name="anniversary", type=FieldType.DATE, personal=True, category="identity"),
)
COLUMNS = {
    "姓名": "name",
    "手机": "contacts[0].phones[0]",
    "会员号": "custom.member_no",
    "预算": "custom.budget",
    "入会日期": "custom.since",
    "等级": {"field": "custom.tier", "values": {"金卡": "gold", "银卡": "silver"}},
    "关注": "custom.topics",
    "贵宾": "custom.vip",
    "备注": "custom.remark",
    "微信2": "custom.wechat2",
    "纪念日": "custom.anniversary",
}
MAPPING = ImportMapping.from_dict(
    {"defaults": {"kind": "individual", "owner": "u-1"}, "columns": COLUMNS}
)
CONVERTER = make_converter()


def defined(registry: Registry, *fields: CustomField) -> Registry:
    for field in fields or FIELDS:
        registry.fields.define(field, actor=ADMIN, reason="CRM launch")
    return registry


@pytest.fixture
def registry() -> Registry:
    return defined(Registry(MemoryStore(), keyring=KeyRing.generate()))


def row(name: str, phone: str, **cells: str) -> dict[str, str]:
    return {"姓名": name, "手机": phone, **cells}


def run(registry: Registry, rows: Any, mapping: ImportMapping | None = MAPPING, **kw: Any) -> Any:
    kw.setdefault("import_id", "custom")
    kw.setdefault("dry_run", False)
    return plan_import(rows, mapping, registry, actor=ADMIN, **kw)


def stored(registry: Registry) -> dict[str, Customer]:
    return {c.name: c for batch in registry.customers.batches(actor=ADMIN) for c in batch}


def counts(report: Any) -> dict[str, int]:
    return {outcome.value: n for outcome, n in report.counts.items() if n}


# ------------------------------------------------------------------------------- import


def test_custom_columns_import_values_typed_by_their_definitions(registry: Registry) -> None:
    cells = {
        "会员号": "１２３",  # full-width digits
        "预算": "１２，３４５．５０",  # full-width, with a thousands separator
        "入会日期": "2023年5月6日",  # one of the mapping's date formats
        "等级": "金卡",  # the column's value map
        "关注": "理财；保险",  # in the options' order, whatever the cell's
        "贵宾": "是",
        "备注": "  老客户  介绍 ",
        "微信2": "zs_wx",
        "纪念日": "2019-10-01",
    }
    report = run(registry, [row("张三", "13800138000", **cells)])
    assert counts(report) == {"created": 1}
    assert stored(registry)["张三"].custom == CustomValues(
        {
            "member_no": 123,
            "budget": Decimal("12345.50"),
            "since": date(2023, 5, 6),
            "tier": "gold",
            "topics": ("保险", "理财"),
            "vip": True,
            "remark": "老客户 介绍",
            "wechat2": "zs_wx",
            "anniversary": date(2019, 10, 1),
        }
    )


def test_a_column_without_a_type_takes_its_fields_and_reads_legacy_numbers(
    registry: Registry,
) -> None:
    mapping = MAPPING.with_fields(registry.fields.current())
    types = {rule.path.text: rule.type for rule in mapping.columns}
    assert (types["custom.budget"], types["custom.member_no"], types["custom.since"]) == (
        "decimal",
        "integer",
        "date",
    )
    assert (types["custom.tier"], types["custom.topics"], types["custom.vip"]) == ("text",) * 3
    report = run(registry, [row("王五", "13800138002", 预算="1.5万", 会员号="1,024")])
    assert counts(report) == {"created": 1}
    assert dict(stored(registry)["王五"].custom) == {
        "budget": Decimal("15000.0"),
        "member_no": 1024,
    }


def test_a_columns_own_type_and_separators_apply_to_a_custom_field(registry: Registry) -> None:
    mapping = ImportMapping.from_dict(
        {
            "defaults": {"kind": "individual"},
            "columns": {
                "姓名": "name",
                "手机": "contacts[0].phones[0]",
                "预算": {"field": "custom.budget", "thousands": ".", "decimal": ","},
                "会员号": {"field": "custom.member_no", "type": "text"},  # as the definition reads
                "关注": {"field": "custom.topics", "type": "list"},  # the mapping's separators
            },
        }
    )
    rows = [
        row("甲", "13800138000", 预算="1.234,5", 会员号="７", 关注="基金、保险"),
        row("乙", "13800138001", 会员号="1,024"),  # text: the definition takes no separators
    ]
    report = run(registry, rows, mapping)
    assert counts(report) == {"created": 1, "rejected": 1}
    assert dict(stored(registry)["甲"].custom) == {
        "budget": Decimal("1234.5"),
        "member_no": 7,
        "topics": ("保险", "基金"),
    }
    assert [(i.row, i.path, i.code) for i in report.issues] == [(2, "custom.member_no", "type")]
    again = ImportMapping.from_dict(mapping.to_dict())  # a given type survives the file
    assert [r.type for r in again.with_fields(registry.fields.current()).columns[2:]] == [
        "decimal",
        "text",
        "list",
    ]


class Untouched:
    """Rows that fail the test if the import reads one."""

    def __iter__(self) -> Iterator[dict[str, str]]:
        raise AssertionError("the import read a row")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"columns": {"会员号": "custom.member_id"}}, "columns.会员号.field"),
        ({"columns": {"姓名": "name"}, "defaults": {"custom.level": "A"}}, "defaults.custom.level"),
    ],
)
def test_a_mapping_naming_an_undefined_custom_field_fails_before_any_row_is_read(
    registry: Registry, data: dict[str, Any], key: str
) -> None:
    mapping = ImportMapping.from_dict(data)
    with pytest.raises(MappingError) as caught:
        run(registry, Untouched(), mapping)
    assert caught.value.key == key
    assert "is defined" in caught.value.message and "registry.fields.define" in caught.value.message
    assert stored(registry) == {}


def test_a_custom_header_naming_no_field_fails_an_import_without_a_mapping(
    registry: Registry,
) -> None:
    data = "name,kind,contacts,custom.member_no,custom.colour\n张三,individual,[],1,red\n"
    with (
        open_source(io.BytesIO(data.encode()), name="export.csv") as rows,
        pytest.raises(MappingError) as caught,
    ):
        run(registry, rows, None)
    assert caught.value.key == "custom.colour"
    assert "no custom field 'colour' is defined" in caught.value.message


def test_a_column_type_that_does_not_fit_its_custom_field_fails_fast(registry: Registry) -> None:
    mapping = ImportMapping.from_dict(
        {"columns": {"预算": {"field": "custom.budget", "type": "date"}}}
    )
    with pytest.raises(MappingError) as caught:
        run(registry, Untouched(), mapping)
    assert str(caught.value) == (
        "columns.预算.type: 'date' does not fit custom field 'budget', a decimal field "
        "(use decimal, integer, text)"
    )


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("custom.Member", "'Member' is not a custom field name"),
        ("custom.member.no", "'member.no' is not a custom field name"),
        ("custom.tags[0]", "'tags[0]' is not a custom field name"),
    ],
)
def test_custom_field_names_are_checked_when_the_mapping_is_read(field: str, message: str) -> None:
    with pytest.raises(MappingError, match=r"^columns\.x\.field: ") as caught:
        ImportMapping.from_dict({"columns": {"x": field}})
    assert message in caught.value.message


def test_a_custom_column_and_the_whole_custom_object_overlap() -> None:
    with pytest.raises(MappingError, match="overlaps"):
        ImportMapping.from_dict({"columns": {"a": "custom", "b": "custom.tier"}})


def test_a_bad_custom_value_goes_to_the_error_file_with_its_path_and_code_never_its_value(
    registry: Registry, tmp_path: Path
) -> None:
    secret = "wx_" + "9" * 30  # too long for wechat2 (personal)
    source = tmp_path / "legacy.csv"
    source.write_text(
        "姓名,手机,会员号,微信2,等级\n"
        f"张三,13800138000,0,{secret},铜卡\n"
        "李四,13800138001,8,ls_wx,银卡\n",
        encoding="utf-8",
    )
    with open_source(source) as rows, ErrorFile.for_source(tmp_path / "e.csv", rows.info) as out:
        report = run(registry, rows, error_file=out)
    assert counts(report) == {"created": 1, "rejected": 1}
    issues = {(i.row, i.column, i.path, i.code): i for i in report.issues}
    assert set(issues) == {
        (1, "会员号", "custom.member_no", "range"),
        (1, "微信2", "custom.wechat2", "length"),
        (1, "等级", "custom.tier", "option"),
    }
    shown = issues[(1, "微信2", "custom.wechat2", "length")]
    assert shown.value is not None and secret not in shown.value  # masked: a personal field
    assert all(secret not in i.message and "铜卡" not in i.message for i in report.issues)
    assert secret not in report.to_json() and secret not in report.render()

    errors = list(csv.reader(io.StringIO((tmp_path / "e.csv").read_text(encoding="utf-8-sig"))))
    assert errors[0] == ["_row", "_errors", "姓名", "手机", "会员号", "微信2", "等级"]
    ((number, brief, *cells),) = errors[1:]
    assert number == "1" and cells[3] == secret  # the row as read, for a person to fix
    assert sorted(brief.split("; ")) == [
        "会员号: range (must be at least 1)",
        "微信2: length (must be at most 20 characters)",
        "等级: option (not one of the field's options)",
    ]


def test_an_update_replaces_the_custom_values_of_the_row_and_keeps_the_others(
    registry: Registry,
) -> None:
    run(registry, [row("张三", "13800138000", 会员号="7", 等级="银卡")], import_id="first")
    report = run(
        registry,
        [row("张三", "13800138000", 等级="金卡", 预算="500")],
        import_id="second",
        policy=ImportPolicy(on_match="update"),
    )
    assert counts(report) == {"updated": 1}
    assert dict(stored(registry)["张三"].custom) == {
        "member_no": 7,
        "tier": "gold",
        "budget": Decimal("500"),
    }


def test_merge_changes_merges_custom_values_by_field() -> None:
    person = CustomerKind.INDIVIDUAL
    current = Customer(
        kind=person, name="张三", custom=CustomValues({"member_no": 7, "tier": "silver"})
    )
    new = Customer(kind=person, name="张三", custom=CustomValues({"tier": "gold"}))
    assert merge_changes(current, new, {"custom"}) == {"custom": {"member_no": 7, "tier": "gold"}}
    assert merge_changes(current, current, {"custom"}) == {}


# ------------------------------------------------------------------------------- export


def customers_with_values(registry: Registry) -> Registry:
    cells = {
        "会员号": "123",
        "预算": "12,345.50",
        "入会日期": "2023-05-06",
        "等级": "金卡",
        "关注": "保险;理财",
        "贵宾": "否",
        "备注": "无",  # a value, though a null in the mapping's eyes: see the round trip
        "微信2": "zs_wx",
        "纪念日": "2019-10-01",
    }
    mapping = ImportMapping.from_dict(
        {
            "defaults": {"kind": "individual", "owner": "u-1"},
            "nulls": [""],
            "columns": COLUMNS,
        }
    )
    report = run(
        registry,
        [row("张三", "13800138000", **cells), row("李四", "13800138001", 会员号="-")],
        mapping,
    )
    assert counts(report) == {"created": 1, "rejected": 1}  # '-' is no member number
    report = run(registry, [row("王五", "13800138002")], import_id="plain")
    assert counts(report) == {"created": 1}
    return registry


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_a_csv_export_has_one_text_column_per_custom_field_current_and_removed(
    registry: Registry,
) -> None:
    customers_with_values(registry)
    registry.fields.remove("remark", actor=ADMIN, reason="no longer kept")
    out = io.StringIO()
    export_customers(registry, out, actor=ADMIN, format="csv")
    header = next(csv.reader(io.StringIO(out.getvalue())))
    names = sorted(f.name for f in FIELDS)
    assert header == [*CSV_COLUMNS, *(f"custom.{name}" for name in names)]
    assert tuple(header) == csv_columns(registry.fields.current())
    assert "custom" not in header
    by_name = {r["name"]: r for r in csv_rows(out.getvalue())}
    assert {k: v for k, v in by_name["张三"].items() if k.startswith("custom.")} == {
        "custom.anniversary": "2019-10-01",
        "custom.budget": "12345.50",
        "custom.member_no": "123",
        "custom.remark": "无",  # a removed field's value is kept, and exported
        "custom.since": "2023-05-06",
        "custom.tier": "gold",
        "custom.topics": "保险;理财",
        "custom.vip": "false",
        "custom.wechat2": "zs_wx",
    }
    assert {v for k, v in by_name["王五"].items() if k.startswith("custom.")} == {""}


def test_custom_cells_are_plain_text() -> None:
    assert custom_cell({"decimal": "1.5E+4"}) == "15000"
    assert custom_cell({"decimal": "-0.00012"}) == "-0.00012"
    assert custom_cell({"decimal": "1E+400"}) == "1E+400"  # too many digits to spell out
    assert custom_cell({"date": "2026-03-01"}) == "2026-03-01"
    assert custom_cell(["保险", "基金"]) == "保险;基金"
    assert (custom_cell(True), custom_cell(False), custom_cell(0), custom_cell(None)) == (
        "true",
        "false",
        "0",
        "",
    )


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_staff_export_masks_custom_fields_as_get_shows_them(registry: Registry, fmt: str) -> None:
    customers_with_values(registry)
    out = io.StringIO()
    result = export_customers(registry, out, actor=STAFF, format=fmt)
    assert (result.exported, result.masked) == (2, 2)
    zhang = stored(registry)["张三"]
    shown = registry.customers.get(zhang.id, actor=STAFF).custom
    assert shown["wechat2"] != "zs_wx" and shown["anniversary"] == date(2019, 1, 1)
    assert shown["member_no"] == 123  # not personal: shown as it is
    if fmt == "csv":
        exported = {r["id"]: r for r in csv_rows(out.getvalue())}[zhang.id]
        expected = CONVERTER.unstructure(shown)
        assert {name: exported[f"custom.{name}"] for name in expected} == {
            name: custom_cell(value) for name, value in expected.items()
        }
    else:
        documents = [json.loads(line) for line in out.getvalue().splitlines()]
        data = next(d["data"] for d in documents if d["data"]["id"] == zhang.id)
        assert CONVERTER.structure(data["custom"], CustomValues) == shown
    assert "zs_wx" not in out.getvalue() and "2019-10-01" not in out.getvalue()


def values(registry: Registry) -> dict[str, Mapping[str, Any]]:
    return {name: dict(c.custom) for name, c in stored(registry).items()}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_imports_back_to_the_same_custom_values(
    registry: Registry, tmp_path: Path, fmt: str
) -> None:
    customers_with_values(registry)
    path = tmp_path / f"customers.{fmt}"
    export_customers(registry, path, actor=ADMIN, format=fmt)
    target = defined(Registry(MemoryStore(), keyring=KeyRing.generate()))
    with open_source(path) as rows:
        report = run(target, rows, None, import_id="back")
    assert counts(report) == {"created": 2}
    assert values(target) == values(registry)
    assert values(target)["张三"]["remark"] == "无"  # only an empty cell is no value


def test_an_export_imports_back_with_a_mapping_of_its_columns(
    registry: Registry, tmp_path: Path
) -> None:
    customers_with_values(registry)
    path = tmp_path / "customers.csv"
    export_customers(registry, path, actor=ADMIN, format="csv")
    columns = {c: c for c in ("name", "kind", "contacts")}
    columns.update({f"custom.{f.name}": f"custom.{f.name}" for f in FIELDS})
    mapping = ImportMapping.from_dict({"columns": columns, "nulls": [""]})
    target = defined(Registry(MemoryStore(), keyring=KeyRing.generate()))
    with open_source(path) as rows:
        report = run(target, rows, mapping, import_id="back")
    assert counts(report) == {"created": 2}
    assert values(target) == values(registry)


def test_a_field_defined_while_a_csv_export_runs_is_named_as_left_out(
    registry: Registry,
) -> None:
    customers_with_values(registry)
    late = CustomField(name="late", type=FieldType.TEXT)
    ids = sorted(c.id for c in stored(registry).values())

    def meanwhile(done: int) -> None:
        if done == 1:  # after the first customer: a new field, and a value in the second
            registry.fields.define(late, actor=ADMIN, reason="added meanwhile")
            registry.customers.update(ids[1], {"custom": {"late": "x"}}, actor=ADMIN, reason="t")

    result = export_customers(
        registry, io.StringIO(), actor=ADMIN, format="csv", batch_size=1, progress=meanwhile
    )
    assert (result.exported, result.left_out_fields) == (2, ("late",))
