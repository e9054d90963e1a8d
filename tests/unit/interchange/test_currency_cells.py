"""The import takes currencies through the one check (custrec.validation.currency): a currency
cell keeps reading the names legacy files write (RMB, 人民币, ¥ are CNY) but refuses texts that
name no currency (ABC); a mapping's currency setting must be an accepted code."""

from __future__ import annotations

import io
import json
import warnings
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec import Actor, MemoryStore, PlaintextStorageWarning, Registry
from custrec.errors import ConversionError, MappingError
from custrec.interchange import ImportMapping
from custrec.interchange.activities import ActivityMapping, ActivityOutcome, import_activities
from custrec.interchange.convert import parse_currency, parse_money
from custrec.interchange.readers import open_source
from custrec.validation.currency import ALIASES, CODES

OPS = Actor(id="ops", roles={"admin"})


@given(st.sampled_from(sorted(CODES)), st.sampled_from([str.lower, str.upper, str.title]))
def test_a_currency_cell_reads_every_code_in_any_case(code: str, case: object) -> None:
    assert callable(case)
    assert parse_currency(f" {case(code)} ") == code


@pytest.mark.parametrize(
    ("cell", "code"),
    [
        ("RMB", "CNY"),
        ("rmb", "CNY"),
        ("人民币", "CNY"),
        ("￥", "CNY"),
        ("元", "CNY"),
        ("US$", "USD"),
    ],
)
def test_a_currency_cell_reads_legacy_names_as_their_code(cell: str, code: str) -> None:
    assert parse_currency(cell) == code == ALIASES[cell.upper().replace("￥", "¥")]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("ABC", "not an ISO 4217 currency code (such as CNY)"),
        ("abc", "not an ISO 4217 currency code (such as CNY)"),
        ("HRK", "withdrawn from ISO 4217 (replaced by EUR)"),
        ("XXX", "XXX means no currency: name the currency of the amount"),
    ],
)
def test_a_currency_cell_that_names_no_accepted_code_is_refused(cell: str, message: str) -> None:
    with pytest.raises(ConversionError) as caught:
        parse_currency(cell)
    assert (caught.value.code, caught.value.message) == ("money.currency", message)


def registry_with_one_customer() -> tuple[Registry, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextStorageWarning)
        registry = Registry(MemoryStore())
    customer = registry.customers.intake(
        {"kind": "individual", "name": "张三", "contacts": [{"phones": ["13800138000"]}]},
        actor=OPS,
    )
    return registry, customer.id


def test_an_import_rejects_the_rows_whose_currency_cell_names_no_currency() -> None:
    registry, customer_id = registry_with_one_customer()
    rows = [("100", "RMB"), ("200", "ABC"), ("300", "人民币"), ("400", "USD")]
    lines = [
        {"customer_id": customer_id, "occurred_at": f"2024-05-0{day}", "amount": a, "currency": c}
        for day, (a, c) in enumerate(rows, start=1)
    ]
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
    with open_source(io.BytesIO(data), name="rows.jsonl") as source:
        report = import_activities(
            source, None, registry, actor=OPS, import_id="cur", kind="transaction"
        )
    assert [(i.row, i.code) for i in report.issues] == [(2, "money.currency")]
    assert report.counts[ActivityOutcome.RECORDED.value] == 3
    recorded = registry.activities.list(customer_id, actor=OPS)
    assert sorted((str(t.amount.amount), t.amount.currency) for t in recorded) == [
        ("100", "CNY"),
        ("300", "CNY"),
        ("400", "USD"),
    ]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("RMB", "not an ISO 4217 code: use CNY"),
        ("rmb", "not an ISO 4217 code: use CNY"),
        ("人民币", "not an ISO 4217 code: use CNY"),
        ("US$", "not an ISO 4217 code: use USD"),
        ("cny", "use upper case: CNY"),
        ("ABC", "not an ISO 4217 currency code (such as CNY)"),
        ("XTS", "XTS is reserved for testing: name the currency of the amount"),
    ],
)
def test_a_mapping_currency_setting_must_be_an_accepted_code(setting: str, message: str) -> None:
    with pytest.raises(MappingError) as caught:
        ActivityMapping.from_dict({"kind": "transaction", "currency": setting})
    assert (caught.value.key, caught.value.message) == ("currency", message)
    with pytest.raises(MappingError) as caught:
        ImportMapping.from_dict({"currency": setting})
    assert (caught.value.key, caught.value.message) == ("currency", message)
    column = {"field": "milestones.contract_amount", "currency": setting}
    with pytest.raises(MappingError) as caught:
        ImportMapping.from_dict({"columns": {"合同金额": column}})
    assert (caught.value.key, caught.value.message) == ("columns.合同金额.currency", message)


@given(st.sampled_from(sorted(CODES)))
def test_a_mapping_takes_every_accepted_code(code: str) -> None:
    assert ActivityMapping.from_dict({"kind": "transaction", "currency": code}).currency == code
    assert ImportMapping.from_dict({"currency": code}).currency == code


# The names an amount cell read before the aliases moved to custrec.validation.currency.
BEFORE = {
    "CNY": "CNY",
    "RMB": "CNY",
    "人民币": "CNY",
    "元": "CNY",
    "¥": "CNY",
    "￥": "CNY",
    "USD": "USD",
    "US$": "USD",
    "美元": "USD",
    "$": "USD",
    "EUR": "EUR",
    "欧元": "EUR",
    "€": "EUR",
    "GBP": "GBP",
    "英镑": "GBP",
    "£": "GBP",
    "HKD": "HKD",
    "HK$": "HKD",
    "港币": "HKD",
    "港元": "HKD",
    "JPY": "JPY",
    "日元": "JPY",
    "円": "JPY",
}


@given(st.sampled_from(sorted(BEFORE.items())), st.booleans(), st.sampled_from(["", " "]))
def test_an_amount_cell_reads_the_names_it_read_before(
    item: tuple[str, str], after: bool, space: str
) -> None:
    token, code = item
    cell = f"1,200{space}{token}" if after else f"{token}{space}1,200"
    assert parse_money(cell) == (Decimal(1200), code)


@given(st.sampled_from(sorted(ALIASES.items())))
def test_an_amount_cell_reads_every_alias(item: tuple[str, str]) -> None:
    alias, code = item
    assert parse_money(f"{alias} 5") == parse_money(f"5{alias}") == (Decimal(5), code)
