"""A binding builds most rows from a compiled plan of their shape; every row maps exactly as the
general path (placing each value in a tree, then compacting lists) maps it.

A row's shape is the set of cells that gave a value. When every value is plain (text, a number,
a date, a sum of money, a list of texts), rows of one shape share one structure, built once with
placeholders and compiled; anything else (a JSON cell, a path running through another cell's or
a default's value) takes the general path.
"""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.interchange import ImportMapping, SourceRow
from custrec.interchange._binding import BoundMapping, MappedRow

COLUMNS: dict[str, Any] = {
    "名称": "name",
    "性别": {"field": "gender", "values": {"男": "male", "女": "female"}},
    "编号": "identifiers[EXTERNAL:crm]",
    "信用代码": "identifiers[CN-USCC]",
    "联系人1": "contacts[0].name",
    "手机1": "contacts[0].phones[0]",
    "座机1": "contacts[0].phones[2]",
    "联系人2": "contacts[1].name",
    "邮箱2": "contacts[1].emails[0]",
    "城市": "addresses[0].city",
    "区": "addresses[1].district",
    "金额": "milestones.contract_amount",
    "签约日期": "milestones.contract_signed_on",
    "标签": {"field": "tags", "type": "list"},
    "备注": {"field": "custom", "type": "json"},
}
DEFAULTS: dict[str, Any] = {
    "kind": "individual",
    "addresses[0].country": "CN",
    "contacts[1].title": "财务",
    "product_interests": ["默认"],
    # runs through the sum of money a cell gives: its shapes take the general path
    "milestones.contract_amount.currency": "USD",
}
HEADERS = list(COLUMNS)


def bind(defaults: dict[str, Any] = DEFAULTS, columns: dict[str, Any] = COLUMNS) -> BoundMapping:
    mapping = ImportMapping.from_dict({"defaults": defaults, "columns": columns})
    return mapping.bind(list(columns))


def general(bound: BoundMapping, source: SourceRow) -> MappedRow:
    """The row as the general path maps it (no plan for any shape)."""
    plans = bound._plan
    bound._plan = lambda shape: None  # type: ignore[method-assign]
    try:
        return bound.apply(source)
    finally:
        bound._plan = plans  # type: ignore[method-assign]


def containers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value, *(c for v in value.values() for c in containers(v))]
    if isinstance(value, list):
        return [value, *(c for v in value for c in containers(v))]
    return []


CELLS: dict[str, st.SearchStrategy[Any]] = {
    "名称": st.sampled_from(["张三", "  李四 ", "Acme Ltd"]),
    "性别": st.sampled_from(["男", "女", "保密"]),
    "编号": st.sampled_from(["C1", "C2"]),
    "信用代码": st.sampled_from(["91110000600037341L", "bad"]),
    "联系人1": st.sampled_from(["王五", "赵六"]),
    "手机1": st.sampled_from(["13800138000", "１３９００１３９０００"]),
    "座机1": st.sampled_from(["010-12345678"]),
    "联系人2": st.sampled_from(["钱七"]),
    "邮箱2": st.sampled_from(["a@example.com"]),
    "城市": st.sampled_from(["上海", "北京"]),
    "区": st.sampled_from(["浦东"]),
    "金额": st.sampled_from(["¥12,800.00", "1.5万", "lots", "(100)", "US$ 5"]),
    "签约日期": st.sampled_from(["2023-01-02", "2023/1/2", "2023年1月2日", "2023-02-30"]),
    "标签": st.sampled_from(["甲;乙", "丙", '["x", "y"]', "[1]"]),
    "备注": st.sampled_from(['{"a": 1}', "{}", "[]", "not json"]),
}
# a blank-like text, or a value of a JSON source that is not text
OTHER = st.sampled_from(["", " ", "N/A", "无", "—"]) | st.integers(-5, 5) | st.just(["甲"])


@st.composite
def rows(draw: st.DrawFn) -> SourceRow:
    cells: dict[str, Any] = {}
    for header in HEADERS:
        choice = draw(st.integers(0, 5))
        if choice == 0:
            continue  # the cell is missing
        if choice == 1:
            cells[header] = draw(OTHER)
        else:
            cells[header] = draw(CELLS[header])
    return SourceRow(number=draw(st.integers(1, 9)), cells=cells, raw=())


PLAIN_DEFAULTS = {k: v for k, v in DEFAULTS.items() if k != "milestones.contract_amount.currency"}


@settings(max_examples=300)
@given(st.lists(rows(), min_size=1, max_size=8), st.sampled_from([DEFAULTS, PLAIN_DEFAULTS]))
def test_each_row_maps_as_the_general_path_maps_it(
    sources: list[SourceRow], defaults: dict[str, Any]
) -> None:
    bound = bind(defaults)
    for source in sources:  # later rows of a shape use the plan the first one made
        mapped, expected = bound.apply(source), general(bound, source)
        assert mapped == expected
        # the same order of keys at every level (the data is JSON-encoded downstream)
        assert json.dumps(mapped.data, default=str) == json.dumps(expected.data, default=str)


@given(rows(), rows())
def test_rows_of_one_shape_share_no_container(first: SourceRow, second: SourceRow) -> None:
    bound = bind()
    a, b = bound.apply(first), bound.apply(second)
    given_cells = {id(c) for s in (first, second) for v in s.cells.values() for c in containers(v)}
    shared = {id(c) for c in containers(a.data)} & {id(c) for c in containers(b.data)}
    assert not shared - given_cells  # a JSON source's own list or object is passed on as is


def test_a_path_through_a_default_takes_the_general_path() -> None:
    # the default list of phones is a prefix of the cell's path: which one wins depends on
    # the values, so rows of this shape get no plan
    bound = bind(
        defaults={"kind": "individual", "contacts[0].phones": ["110"]},
        columns={"名称": "name", "手机": "contacts[0].phones[0]", "联系人": "contacts[0].name"},
    )
    source = SourceRow(number=1, cells={"名称": "甲", "手机": "13800138000"}, raw=())
    assert bound.apply(source) == general(bound, source)
    assert bound._plans == {(0, 1): None}
    with_name = SourceRow(number=2, cells={"名称": "甲", "联系人": "乙"}, raw=())
    assert bound.apply(with_name).data["contacts"] == [{"name": "乙", "phones": ["110"]}]
    assert bound._plans[(0, 2)] is not None  # a sibling of the default: a plan
    assert bound.apply(with_name) == general(bound, with_name)


def test_plain_rows_take_a_plan_and_others_the_general_path() -> None:
    bound = bind()
    plain = SourceRow(
        number=1, cells={"名称": "甲", "签约日期": "2023-01-02", "标签": "a;b"}, raw=()
    )
    bound.apply(plain)
    assert [p is not None for p in bound._plans.values()] == [True]
    json_cell = SourceRow(number=2, cells={"名称": "甲", "备注": '{"a": 1}'}, raw=())
    assert bound.apply(json_cell).data["custom"] == {"a": 1}
    assert len(bound._plans) == 1  # a JSON value: no plan asked for


@pytest.mark.parametrize("kept", [1, 3])
def test_plans_are_bounded(monkeypatch: pytest.MonkeyPatch, kept: int) -> None:
    monkeypatch.setattr("custrec.interchange._binding._COLUMN_SHAPES_KEPT", kept)
    bound = bind()
    for header in HEADERS[:5]:
        bound.apply(SourceRow(number=1, cells={header: "x"}, raw=()))
        assert len(bound._plans) <= kept


def test_a_sources_own_sum_of_money_is_copied_as_the_general_path_copies_it() -> None:
    # a JSON source may give the same object in every row: the rows' data must not share it
    amount = {"amount": "5", "currency": "CNY"}
    bound = bind(PLAIN_DEFAULTS, {"名称": "name", "金额": "milestones.contract_amount"})
    rows = [SourceRow(number=n, cells={"名称": "甲", "金额": amount}, raw=()) for n in (1, 2)]
    first, second = (bound.apply(r).data["milestones"]["contract_amount"] for r in rows)
    assert first == amount and first is not amount and first is not second
    assert bound.apply(rows[0]) == general(bound, rows[0])


def test_a_binding_that_made_plans_pickles_and_copies() -> None:
    bound = bind()
    source = SourceRow(number=1, cells={"名称": "甲", "标签": "a;b"}, raw=())
    mapped = bound.apply(source)
    assert bound._plans
    for other in (pickle.loads(pickle.dumps(bound)), copy.deepcopy(bound)):
        assert other.apply(source) == mapped
