"""Import mappings: field paths, validation naming the key at fault, binding and applying.

Loading mapping files from disk is in
tests/integration/interchange/test_interchange_mapping_files.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.interchange import ImportMapping, MappingError, SourceRow, load_mapping, parse_path
from custrec.interchange.mapping import header_key
from custrec.validation import parse_customer

EXAMPLE = Path(__file__).parents[3] / "examples" / "data" / "legacy_mapping.toml"


def mapping(**columns: Any) -> ImportMapping:
    return ImportMapping.from_dict({"defaults": {"kind": "individual"}, "columns": columns})


def row(number: int = 1, **cells: Any) -> SourceRow:
    return SourceRow(number=number, cells=cells, raw=tuple(str(v) for v in cells.values()))


# ------------------------------------------------------------------------------ field paths


@pytest.mark.parametrize(
    ("text", "converter", "personal", "mask_kind"),
    [
        ("name", "text", True, "name"),
        ("stage", "text", False, "generic"),
        ("birth_date", "date", True, "full"),
        ("created_at", "datetime", False, "generic"),
        ("milestones.contract_amount", "money", False, "generic"),
        ("milestones.contract_amount.amount", "decimal", False, "generic"),
        ("milestones.satisfaction", "integer", False, "generic"),
        ("contacts[0].phones[0]", "text", True, "phone"),
        ("contacts[1].emails", "list", True, "email"),
        ("contacts[0].primary", "bool", False, "generic"),
        ("contacts", "json", True, "generic"),
        ("identifiers[CN-USCC]", "text", True, "uscc"),
        ("identifiers[cn-ric]", "text", True, "ric"),
        ("identifiers[EXTERNAL:legacy crm]", "text", True, "generic"),
        ("addresses[0].street", "text", True, "address"),
        ("addresses[0].city", "text", False, "generic"),
        ("tags", "list", False, "generic"),
    ],
)
def test_field_paths(text: str, converter: str, personal: bool, mask_kind: str) -> None:
    path = parse_path(text)
    assert (path.converter, path.personal, path.mask_kind) == (converter, personal, mask_kind)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("phonez", "unknown field 'phonez'"),
        ("contacts[0].phonez", "unknown field 'phonez' of Contact"),
        ("version", "unknown field 'version'"),
        ("contacts[0]", "is a record: name one of its fields"),
        ("contacts.name", "is a list: give a position"),
        ("contacts[x].name", "must be a position"),
        ("name[0]", "is not a list"),
        ("name.first", "has no fields"),
        ("milestones", "is a record"),
        ("identifiers[EXTERNAL]", "needs its system"),
        ("identifiers[CN-USCC:x]", "only EXTERNAL identifiers name a system"),
        ("identifiers[CN-USCC].value", "nothing may follow"),
        ("identifiers[!!]", "not an identifier scheme"),
        ("contacts[0].phones[0].x", "is a single value"),
        ("", "non-empty"),
        ("a..b", "is not a field name"),
    ],
)
def test_bad_field_paths_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_path(text)


@given(st.text(max_size=40))
def test_parse_path_raises_only_value_errors(text: str) -> None:
    try:
        path = parse_path(text)
    except ValueError:
        return
    assert path.text == text.strip()


# ------------------------------------------------------------------- validating a mapping


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        ({"colums": {}}, "colums", "unknown setting"),
        ({"version": 2}, "version", "unsupported mapping version"),
        ({"columns": {"手机": {"feild": "name"}}}, "columns.手机.feild", "unknown setting"),
        ({"columns": {"手机": {}}}, "columns.手机.field", "is required"),
        ({"columns": {"手机": "contacts[0].phonez"}}, "columns.手机.field", "unknown field"),
        ({"columns": {"手机": 5}}, "columns.手机", "a field path or a table"),
        (
            {"columns": {"日期": {"field": "birth_date", "type": "calendar"}}},
            "columns.日期.type",
            "unknown type 'calendar'",
        ),
        (
            {"columns": {"名称": {"field": "name", "type": "date"}}},
            "columns.名称.type",
            "'date' does not fit 'name'",
        ),
        (
            {"columns": {"性别": {"field": "gender", "values": ["男"]}}},
            "columns.性别.values",
            "must be a table",
        ),
        (
            {"columns": {"性别": {"field": "gender", "values": {"男": {"x": 1}}}}},
            "columns.性别.values.男",
            "must map to a string",
        ),
        (
            {"columns": {"性别": {"field": "gender", "values": {"男": "male", " 男 ": "female"}}}},
            "columns.性别.values. 男 ",
            "repeats another source value",
        ),
        (
            {"columns": {"日期": {"field": "birth_date", "formats": ["YYYY-MM-DD"]}}},
            "columns.日期.formats[0]",
            "needs % codes",
        ),
        ({"date_formats": ["%Y", 3]}, "date_formats[1]", "must be a string"),
        ({"columns": {"a": "name", "b": "name"}}, "columns.b.field", "overlaps 'name'"),
        (
            {"columns": {"a": "contacts", "b": "contacts[0].name"}},
            "columns.b.field",
            "overlaps 'contacts'",
        ),
        (
            {"columns": {"a": {"field": "name", "aliases": ["B"]}, "b": "industry"}},
            "columns.b.aliases",
            "already names column 'a'",
        ),
        ({"region": "XX"}, "region", "not a region"),
        ({"currency": "rmb"}, "currency", "ISO 4217"),
        ({"thousands": ".", "decimal": "."}, "decimal", "must differ"),
        ({"thousands": "12"}, "thousands", "one non-digit character"),
        ({"timezone": "Asia/Atlantis"}, "timezone", "offset"),
        ({"delimiter": ";;"}, "delimiter", "one character"),
        ({"defaults": {"nope": 1}}, "defaults.nope", "unknown field"),
        ({"defaults": {"name": {"a": 1}}}, "defaults.name", "must be a string"),
        ({"columns": {"a": {"field": "name", "required": "yes"}}}, "columns.a.required", "true"),
        ({"native": "yes"}, "native", "true or false"),
    ],
)
def test_mapping_errors_name_the_key(data: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(MappingError) as caught:
        ImportMapping.from_dict(data)
    assert caught.value.key == key
    assert message in caught.value.message
    assert str(caught.value).startswith(f"{key}: ")


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
KEYS = st.sampled_from(
    ["columns", "defaults", "region", "nulls", "date_formats", "currency", "thousands", "decimal"]
)


@given(st.dictionaries(KEYS | st.text(max_size=6), JSONISH, max_size=4))
def test_any_data_gives_a_mapping_or_a_mapping_error(data: dict[str, Any]) -> None:
    key: object = ""
    try:
        ImportMapping.from_dict(data)
    except MappingError as exc:
        key = exc.key
    assert isinstance(key, str)


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=6),
        st.sampled_from(["name", "gender", "contacts[0].phones[0]", "tags", "identifiers[CN-USCC]"])
        | st.fixed_dictionaries(
            {"field": st.sampled_from(["name", "birth_date", "milestones.contract_amount"])},
            optional={
                "type": st.sampled_from(["text", "date", "money", "json", "bogus"]),
                "values": st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
                "formats": st.lists(st.text(max_size=6), max_size=2),
                "aliases": st.lists(st.text(max_size=6), max_size=2),
            },
        ),
        max_size=4,
    )
)
def test_any_columns_give_a_mapping_or_a_mapping_error(columns: dict[str, Any]) -> None:
    try:
        ImportMapping.from_dict({"columns": columns})
    except MappingError:
        pass


def test_the_example_mapping_round_trips_through_to_dict() -> None:
    loaded = load_mapping(EXAMPLE)
    assert loaded.name == "legacy CRM export"
    assert ImportMapping.from_dict(loaded.to_dict()) == loaded
    assert ImportMapping.from_dict(json.loads(json.dumps(loaded.to_dict()))) == loaded


# ----------------------------------------------------------------------------- binding


def test_headers_match_aliases_loosely() -> None:
    m = mapping(customer_name={"field": "name", "aliases": ["客户名称"]})
    for header in ("Customer Name", " *customer-name：", "客户 名称"):
        assert m.bind([header, "x"]).usage.mapped == {header: "name"}
    assert header_key("（手机）") == "手机"


def test_binding_reports_unmapped_missing_and_ignored_columns() -> None:
    m = ImportMapping.from_dict(
        {"ignore": ["备注2"], "columns": {"名称": "name", "手机": "contacts[0].phones[0]"}}
    )
    usage = m.bind(["名称", "备注", "备注2", "_row", "_errors"]).usage
    assert (usage.unmapped, usage.missing) == (("备注",), ("手机",))


def test_a_required_column_must_be_present() -> None:
    m = mapping(名称={"field": "name", "required": True}, 手机="contacts[0].phones[0]")
    with pytest.raises(MappingError, match="required column is not in the file") as caught:
        m.bind(["手机"])
    assert caught.value.key == "columns.名称"


def test_a_file_without_any_mapped_column_is_refused() -> None:
    with pytest.raises(MappingError, match="wrong file or mapping"):
        mapping(名称="name").bind(["foo", "bar"])


def test_a_repeated_column_feeds_the_field_once() -> None:
    usage = mapping(电话="contacts[0].phones[0]").bind(["电话", "电话"]).usage
    assert usage.mapped == {"电话": "contacts[0].phones[0]"}
    assert usage.unmapped == ("电话",)


def test_native_mappings_read_field_path_headers() -> None:
    bound = ImportMapping.native_mapping().bind(
        ["id", "name", "contacts", "contacts[0].name", "tags", "whatever", "_masked", "version"]
    )
    assert bound.usage.mapped == {
        "id": "id",
        "name": "name",
        "contacts": "contacts",
        "tags": "tags",
    }
    assert bound.usage.unmapped == ("contacts[0].name", "whatever")


# ----------------------------------------------------------------------------- applying


def test_values_map_before_conversion_and_nulls_are_blank() -> None:
    m = mapping(
        名称="name",
        性别={"field": "gender", "values": {"男": "male", "女": "female", "保密": ""}},
        手机="contacts[0].phones[0]",
        邮箱="contacts[0].emails[0]",
    )
    bound = m.bind(["名称", "性别", "手机", "邮箱"])
    mapped = bound.apply(row(名称="张三", 性别=" 男 ", 手机="13800138000", 邮箱="N/A"))
    assert mapped.data == {
        "name": "张三",
        "gender": "male",
        "contacts": [{"phones": ["13800138000"]}],
        "kind": "individual",
    }
    assert mapped.touched == {"name", "gender", "contacts"}
    assert "gender" not in bound.apply(row(名称="李四", 性别="保密", 手机="1", 邮箱="")).data


def test_list_items_are_compacted_and_issues_find_their_column() -> None:
    m = mapping(
        名称="name",
        联系人1="contacts[0].name",
        手机1="contacts[0].phones[0]",
        联系人2="contacts[1].name",
        手机2="contacts[1].phones[0]",
        座机2="contacts[1].phones[1]",
    )
    bound = m.bind(["名称", "联系人1", "手机1", "联系人2", "手机2", "座机2"])
    mapped = bound.apply(row(名称="甲", 联系人1="", 手机1="", 联系人2="乙", 手机2="", 座机2="12"))
    assert mapped.data["contacts"] == [{"name": "乙", "phones": ["12"]}]
    report = parse_customer(mapped.data).report
    assert [(i.path, mapped.column_of(i.path)) for i in report.errors] == [
        ("contacts[0].phones[0]", "座机2")
    ]


def test_identifiers_and_defaults_inside_list_items() -> None:
    m = ImportMapping.from_dict(
        {
            "defaults": {"kind": "organization", "addresses[0].country": "HK", "tags": ["legacy"]},
            "columns": {
                "名称": "name",
                "信用代码": "identifiers[CN-USCC]",
                "编号": "identifiers[EXTERNAL:crm]",
                "城市": "addresses[0].city",
            },
        }
    )
    bound = m.bind(["名称", "信用代码", "编号", "城市"])
    data = bound.apply(row(名称="甲", 信用代码="91110000600037341L", 编号="C1", 城市="")).data
    assert data == {
        "name": "甲",
        "identifiers": [
            {"scheme": "CN-USCC", "value": "91110000600037341L"},
            {"scheme": "EXTERNAL", "value": "C1", "system": "crm"},
        ],
        "kind": "organization",
        "tags": ["legacy"],
    }
    with_city = bound.apply(row(名称="甲", 信用代码="", 编号="", 城市="香港")).data
    assert with_city["addresses"] == [{"city": "香港", "country": "HK"}]


def test_conversion_failures_are_row_issues_with_masked_values() -> None:
    m = mapping(
        名称="name",
        生日={"field": "birth_date"},
        金额="milestones.contract_amount",
        手机="contacts[0].phones",
    )
    bound = m.bind(["名称", "生日", "金额", "手机"])
    mapped = bound.apply(row(7, 名称="张三", 生日="1990-02-30", 金额="lots", 手机="138;139"))
    assert [(i.row, i.column, i.path, i.code, i.value) for i in mapped.issues] == [
        (7, "生日", "birth_date", "date.format", "**********"),
        (7, "金额", "milestones.contract_amount", "money.format", "lots"),
    ]
    assert mapped.data["contacts"] == [{"phones": ["138", "139"]}]


def test_export_metadata_columns_are_checked() -> None:
    bound = ImportMapping.native_mapping().bind(["_schema_version", "_masked", "name"])
    codes = [
        [i.code for i in bound.apply(row(_schema_version=v, _masked=m, name="x")).issues]
        for v, m in (("1", "false"), ("9", "false"), ("1", "true"))
    ]
    assert codes == [[], ["row.schema"], ["row.masked"]]


CELL = st.text(max_size=20) | st.sampled_from(["N/A", "1,000", "¥2万", "2023/01/02", "男", "[1]"])


@given(st.lists(CELL, min_size=7, max_size=7))
def test_applying_never_raises(cells: list[str]) -> None:
    m = load_mapping(EXAMPLE)
    headers = ["客户名称", "性别", "手机", "合同金额", "签约日期", "标签", "统一社会信用代码"]
    bound = m.bind(headers)
    mapped = bound.apply(row(3, **dict(zip(headers, cells, strict=True))))
    result = parse_customer(mapped.data)
    assert all(i.row == 3 for i in mapped.issues)
    assert result.record is None or result.report.ok


LIST_CELL = st.sampled_from(["", "N/A", "甲", "乙", "13800138000", "x@example.com", "12"])
LIST_HEADERS = ("名称", "联系人1", "手机1", "联系人2", "手机2", "座机2", "编号", "城市")


@given(st.lists(st.lists(LIST_CELL, min_size=8, max_size=8), min_size=1, max_size=12))
def test_rows_of_one_binding_map_as_each_alone(rows: list[list[str]]) -> None:
    # a binding shares the column attribution of rows that filled the same cells (a cache):
    # each row, mapped after any others, maps as it does by a binding of its own
    m = mapping(
        名称="name",
        联系人1="contacts[0].name",
        手机1="contacts[0].phones[0]",
        联系人2="contacts[1].name",
        手机2="contacts[1].phones[0]",
        座机2="contacts[1].phones[1]",
        编号="identifiers[EXTERNAL:crm]",
        城市="addresses[0].city",
    )
    shared = m.bind(list(LIST_HEADERS))
    for number, cells in enumerate(rows, start=1):
        source = row(number, **dict(zip(LIST_HEADERS, cells, strict=True)))
        mapped, alone = shared.apply(source), m.bind(list(LIST_HEADERS)).apply(source)
        assert mapped == alone
        assert all(mapped.column_of(path) == column for path, column in alone.columns.items())
