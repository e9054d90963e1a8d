"""custrec.validation.currency: the one check of a currency code (ISO 4217 List One)."""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.errors import InvalidFormat
from custrec.validation import currency
from custrec.validation.currency import (
    ALIASES,
    CODES,
    LIST_ONE,
    NOT_A_CURRENCY,
    WITHDRAWN,
    code_for,
    is_valid,
    problem,
    validate,
)

ACCEPTED = sorted(CODES)
LETTERS3 = st.text(alphabet=string.ascii_uppercase, min_size=3, max_size=3)


@pytest.mark.parametrize("code", ACCEPTED)
def test_every_list_one_code_is_accepted_as_it_is(code: str) -> None:
    assert is_valid(code)
    assert problem(code) is None
    assert validate(code) == code
    assert code_for(code) == code


def test_list_one_holds_funds_metals_and_units_of_account_and_the_yuan() -> None:
    assert {"CNY", "USD", "EUR", "HKD", "JPY", "TWD", "MOP"} <= CODES
    assert {"BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"} <= CODES  # funds
    assert {"XAU", "XAG", "XPD", "XPT", "XDR", "XSU", "XUA", "XBA"} <= CODES


@pytest.mark.parametrize("code", ["XTS", "XXX"])
def test_the_testing_and_no_currency_codes_are_in_list_one_but_refused(code: str) -> None:
    assert code in LIST_ONE
    assert not is_valid(code)
    assert problem(code) == NOT_A_CURRENCY[code]
    assert code_for(code) is None
    with pytest.raises(InvalidFormat) as caught:
        validate(code)
    assert caught.value.code == "currency.invalid"


@given(LETTERS3)
def test_three_capitals_are_accepted_iff_in_the_list(text: str) -> None:
    assert is_valid(text) == (text in CODES)
    assert (problem(text) is None) == (text in CODES)


@given(st.text(max_size=8))
def test_any_text_is_accepted_iff_it_is_a_listed_code(text: str) -> None:
    assert is_valid(text) == (text in CODES)
    assert (problem(text) is None) == (text in CODES)


@pytest.mark.parametrize("value", [None, 156, b"CNY", ["CNY"], {"CNY": 1}])
def test_values_that_are_not_text_are_refused_without_raising(value: object) -> None:
    assert not is_valid(value)
    assert problem(value) == "expected an ISO 4217 currency code, such as CNY"
    assert code_for(value) is None


@pytest.mark.parametrize(
    ("alias", "code"),
    [
        ("RMB", "CNY"),
        ("rmb", "CNY"),
        ("人民币", "CNY"),
        ("元", "CNY"),
        ("¥", "CNY"),
        ("￥", "CNY"),
        ("US$", "USD"),
        ("us$", "USD"),
        ("$", "USD"),
        ("HK$", "HKD"),
        ("NT$", "TWD"),
        ("€", "EUR"),
        ("£", "GBP"),
        ("円", "JPY"),
    ],
)
def test_known_aliases_name_the_code_to_use(alias: str, code: str) -> None:
    assert not is_valid(alias)
    assert problem(alias) == f"not an ISO 4217 code: use {code}"
    assert code_for(alias) == code


@given(st.sampled_from(sorted(ALIASES.items())))
def test_every_alias_names_its_code(item: tuple[str, str]) -> None:
    alias, code = item
    assert problem(alias) == f"not an ISO 4217 code: use {code}"
    assert code_for(alias) == code == validate(code)


@given(st.sampled_from(ACCEPTED), st.data())
def test_a_code_in_another_case_says_use_upper_case(code: str, data: st.DataObject) -> None:
    flips = data.draw(st.lists(st.booleans(), min_size=3, max_size=3).filter(any))
    text = "".join(c.lower() if flip else c for c, flip in zip(code, flips, strict=True))
    assert problem(text) == f"use upper case: {code}"
    assert code_for(text) == code


def test_a_full_width_or_padded_code_says_which_code() -> None:
    assert problem("ＣＮＹ") == "use CNY"
    assert problem(" CNY") == "use CNY"
    assert code_for("ＣＮＹ") == code_for(" cny ") == "CNY"


@pytest.mark.parametrize(("old", "new"), sorted(WITHDRAWN.items()))
def test_withdrawn_codes_are_refused_naming_their_successor(old: str, new: str) -> None:
    assert not is_valid(old)
    assert problem(old) == f"withdrawn from ISO 4217 (replaced by {new})"
    assert code_for(old) is None


@given(st.text(min_size=1, max_size=30))
def test_messages_never_repeat_the_value(text: str) -> None:
    value = f"张{text}"  # never a code or an alias
    message = problem(value)
    assert message == "not an ISO 4217 currency code (such as CNY)"
    assert value not in message


def test_the_tables_agree() -> None:
    assert LIST_ONE - {"XTS", "XXX"} == CODES
    assert all(len(code) == 3 and code.isascii() and code.isupper() for code in LIST_ONE)
    assert set(ALIASES.values()) <= CODES
    assert set(WITHDRAWN.values()) <= CODES
    assert not WITHDRAWN.keys() & LIST_ONE
    assert not ALIASES.keys() & LIST_ONE
    # aliases are looked up after NFKC, trimming and upper-casing: keys must be in that form
    assert all(unicodedata.normalize("NFKC", a).strip().upper() == a for a in ALIASES)


def test_the_list_matches_the_cldr_currencies_in_use() -> None:
    """An independent source: CLDR (through Babel) knows which currencies are in use today.
    CLDR adds CNH (offshore yuan, not ISO) and ends SVC, which ISO still lists."""
    core = pytest.importorskip("babel.core")
    in_use = {
        code
        for rows in core.get_global("territory_currencies").values()
        for code, _start, end, _tender in rows
        if end is None
    }
    assert in_use - {"CNH"} | {"SVC"} == LIST_ONE


def test_the_module_names_its_source_and_date() -> None:
    doc = currency.__doc__ or ""
    assert "ISO 4217" in doc and "List One" in doc and "2026-02-01" in doc
