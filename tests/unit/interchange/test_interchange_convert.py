"""Value converters: legacy numbers, money, dates and booleans; junk never crashes them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec._text import clean
from custrec.interchange.convert import (
    ConversionError,
    is_null,
    parse_bool,
    parse_currency,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_json,
    parse_money,
    parse_timezone,
    split_values,
)
from custrec.validation import currency as currency_check


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("¥1,250,000.00", "1250000.00", "CNY"),
        ("￥１２，８００．５０", "12800.50", "CNY"),
        ("RMB 380,000", "380000", "CNY"),
        ("1.5万元", "15000.0", "CNY"),
        ("2亿", "200000000", "CNY"),
        ("$25,000", "25000", "USD"),
        ("US$ 99.95", "99.95", "USD"),
        ("HK$1,000", "1000", "HKD"),
        ("€ 12", "12", "EUR"),
        ("100 EUR", "100", "EUR"),
        ("(1,200)", "-1200", "CNY"),
        ("-¥300", "-300", "CNY"),
        ("¥-300", "-300", "CNY"),
        ("300-", "-300", "CNY"),
        ("1 234 567", "1234567", "CNY"),
        (".5", "0.5", "CNY"),
    ],
)
def test_money(text: str, amount: str, currency: str) -> None:
    assert parse_money(text) == (Decimal(amount), currency)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("CNY", "CNY"),
        (" usd ", "USD"),
        ("RMB", "CNY"),
        ("rmb", "CNY"),
        ("人民币", "CNY"),
        ("￥", "CNY"),
        ("元", "CNY"),
        ("US$", "USD"),
        ("港币", "HKD"),
        ("€", "EUR"),
        ("CHF", "CHF"),
    ],
)
def test_a_currency_cell_is_its_iso_code(text: str, code: str) -> None:
    assert parse_currency(text) == code


@given(st.text(max_size=6))
def test_any_currency_cell_is_an_accepted_code_or_a_currency_error(text: str) -> None:
    failure: ConversionError | None = None
    try:
        code = parse_currency(text)
    except ConversionError as exc:
        failure = exc
    if failure is not None:  # the message is the currency check's, never the cell
        assert failure.code == "money.currency"
        assert failure.message == currency_check.problem(clean(text))
        return
    assert code in currency_check.CODES


@pytest.mark.parametrize("text", ["abc", "", "1,2,3", "1,25", "¥", "1.2.3", "--5", "万", "1e5"])
def test_bad_money_is_a_conversion_error(text: str) -> None:
    with pytest.raises(ConversionError) as caught:
        parse_money(text)
    assert caught.value.code == "money.format"
    assert text not in caught.value.message or not text


def test_two_currencies_in_one_value_are_refused() -> None:
    with pytest.raises(ConversionError, match="two different currencies") as caught:
        parse_money("$100 元")
    assert caught.value.code == "money.currency"


def test_european_separators() -> None:
    assert parse_money("1.234,56 €", thousands=".", decimal=",") == (Decimal("1234.56"), "EUR")
    assert parse_decimal("1 234,5", thousands="", decimal=",") == Decimal("1234.5")
    with pytest.raises(ValueError, match="must differ"):
        parse_decimal("1", thousands=",", decimal=",")


def test_integers() -> None:
    assert parse_int("1,200") == 1200
    assert parse_int("３") == 3
    with pytest.raises(ConversionError, match="whole number"):
        parse_int("1.5")


@pytest.mark.parametrize(
    ("text", "formats", "expected"),
    [
        ("2023/05/06", (), date(2023, 5, 6)),
        ("2023年5月6日", (), date(2023, 5, 6)),
        ("２０２３－０５－０６", (), date(2023, 5, 6)),
        ("20230506", (), date(2023, 5, 6)),
        ("06/05/2023", ("%d/%m/%Y",), date(2023, 5, 6)),
        ("2023-06-05", ("%Y-%d-%m", "%Y-%m-%d"), date(2023, 5, 6)),
        ("45000", ("excel",), date(2023, 3, 15)),
        ("2023-05-06T10:00:00+08:00", (), date(2023, 5, 6)),
    ],
)
def test_dates(text: str, formats: tuple[str, ...], expected: date) -> None:
    assert parse_date(text, formats=formats) == expected


def test_bad_dates() -> None:
    for text in ("2023-13-45", "yesterday", "45000"):
        with pytest.raises(ConversionError) as caught:
            parse_date(text)
        assert caught.value.code == "date.format"


def test_datetimes_take_the_mapping_time_zone_when_naive() -> None:
    cst = timezone(timedelta(hours=8))
    assert parse_datetime("2024-01-02 08:00", tz=cst) == datetime(2024, 1, 2, tzinfo=UTC)
    assert parse_datetime("2024-01-02T08:00+00:00", tz=cst) == datetime(2024, 1, 2, 8, tzinfo=UTC)
    assert parse_datetime("2024/01/02", tz=cst) == datetime(2024, 1, 1, 16, tzinfo=UTC)
    with pytest.raises(ConversionError, match="date-time"):
        parse_datetime("soon")


def test_time_zones() -> None:
    assert parse_timezone("UTC") is UTC
    assert parse_timezone("UTC+8") == timezone(timedelta(hours=8))
    assert parse_timezone("-05:30") == timezone(-timedelta(hours=5, minutes=30))
    assert parse_timezone("Asia/Shanghai") == ZoneInfo("Asia/Shanghai")
    for bad in ("Asia/Atlantis", "+25:00", ""):
        with pytest.raises(ConversionError):
            parse_timezone(bad)


def test_booleans_nulls_lists_and_json() -> None:
    assert [parse_bool(t) for t in ("是", "否", "Yes", "0", "√")] == [
        True,
        False,
        True,
        False,
        True,
    ]
    with pytest.raises(ConversionError, match="yes or no"):
        parse_bool("maybe")
    assert [is_null(t) for t in (None, "", " n/a ", "无", "NULL", "0", 0)] == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert split_values("a；b，c、d|e\nf") == ["a", "b", "c", "d", "e", "f"]
    assert split_values("a;b", "") == ["a;b"]
    assert parse_json('[{"a": 1}]') == [{"a": 1}]
    with pytest.raises(ConversionError, match="JSON"):
        parse_json("[")


TEXT = st.text(max_size=60) | st.from_regex(
    r"[-+(¥$€ ]{0,3}[0-9,.万亿元 ]{0,12}[)-]?", fullmatch=True
)


def outcome(convert: Callable[[], Any]) -> tuple[str | None, Any]:
    """(error code, None) or (None, value): what a converter did with its input."""
    try:
        return None, convert()
    except ConversionError as exc:
        return exc.code, None


@given(TEXT, st.sampled_from([",", ".", "", " ", "'"]), st.sampled_from([".", ","]))
def test_number_converters_never_crash(text: str, thousands: str, decimal: str) -> None:
    if thousands == decimal:
        return
    number = outcome(lambda: parse_decimal(text, thousands=thousands, decimal=decimal))
    whole = outcome(lambda: parse_int(text, thousands=thousands))
    for code, value in (number, whole):
        assert code in ("number.format", "value.too_long") or isinstance(value, Decimal | int)
    code, money = outcome(lambda: parse_money(text, thousands=thousands, decimal=decimal))
    assert code in ("money.format", "money.currency", "value.too_long") or (
        money[0].is_finite() and len(money[1]) == 3
    )


@given(st.text(max_size=40), st.lists(st.sampled_from(["%Y-%m-%d", "%d.%m.%Y", "excel"])))
def test_date_converters_never_crash(text: str, formats: list[str]) -> None:
    for code, value in (
        outcome(lambda: parse_date(text, formats=formats)),
        outcome(lambda: parse_datetime(text, formats=formats)),
    ):
        assert code in ("date.format", "datetime.format", "value.too_long") or value is not None


@given(st.text(max_size=40))
def test_other_converters_never_crash(text: str) -> None:
    for convert in (parse_bool, parse_json, parse_timezone):
        try:
            convert(text)
        except ConversionError:
            pass
    assert all(isinstance(v, str) and v for v in split_values(text))
    assert isinstance(is_null(text), bool)


@given(st.one_of(st.none(), st.integers(), st.floats(), st.lists(st.integers()), st.binary()))
def test_non_text_is_a_typed_error(value: object) -> None:
    for convert in (parse_bool, parse_date, parse_decimal, parse_money, split_values, parse_json):
        with pytest.raises(ConversionError):
            convert(value)  # type: ignore[arg-type]
