"""The converters' fast paths give exactly what their general paths give.

- ``is_null`` reads ASCII text without NFKC (which leaves ASCII as it is);
- ``parse_money`` stops looking for currency words when no word could begin or end the text;
- ``parse_date`` reads a format of ``%Y``, ``%m`` and ``%d`` apart by literals (``%Y/%m/%d``,
  ``%Y年%m月%d日``) with a pattern of ASCII digits, and leaves anything else to ``strptime``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec._text import clean
from custrec.interchange import convert
from custrec.interchange.convert import DEFAULT_NULLS, ConversionError, is_null, parse_date

ASCII = st.text(st.characters(max_codepoint=127), max_size=12)
NULL_LIKE = st.sampled_from(
    ["N/A", " n/a ", "NULL", "-", "--", "\tNone\n", "na", "#N/A", "x", "x  y", " X\t\x1fy "]
)


@given(ASCII | NULL_LIKE | st.text(max_size=8))
def test_is_null_is_clean_and_casefold_then_the_nulls(text: str) -> None:
    expected = clean(text).casefold()
    assert is_null(text) == (expected == "" or expected in DEFAULT_NULLS)
    assert is_null(text, ("x y",)) == (expected in ("", "x y"))


class _Everything:
    def __contains__(self, item: object) -> bool:
        return True


MONEY = st.text(
    st.sampled_from(list("0123456789,.-+() ¥$€£元万亿USDCNYRMBHK美元港币日円欧英镑人民")),
    max_size=12,
) | st.sampled_from(["¥12,800.00", "1.5万", "US$ 5", "(100)元", "HK$1", "100-", "RMB 3"])


def _money(text: str) -> tuple[Decimal, str] | str:
    try:
        return convert.parse_money(text)
    except ConversionError as exc:
        return exc.code


@settings(max_examples=400)
@given(MONEY)
def test_parse_money_gives_what_the_full_currency_search_gives(text: str) -> None:
    fast = _money(text)
    with pytest.MonkeyPatch.context() as patch:  # every text may begin or end with a word
        patch.setattr(convert, "_TOKEN_HEADS", _Everything())
        patch.setattr(convert, "_TOKEN_TAILS", _Everything())
        general = _money(text)
    assert fast == general


FORMATS = [
    "%Y/%m/%d",
    "%Y年%m月%d日",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%Y.%m.%d",
    "%Y-%m-%d",
    "%Y%m%d",
    "excel",
    "%d.%m.%y",
]
DATE_TEXT = st.text(st.sampled_from(list("0123456789/-.年月日 T٣")), max_size=12) | st.sampled_from(
    [
        "2023/1/2",
        "2023/02/29",
        "2024/02/29",
        "2023年11月2日",
        "02/03/2023",
        "2023/13/01",
        "0000/1/1",
    ]
)


def _date(text: str, formats: list[str]) -> date | str:
    try:
        return parse_date(text, formats=formats)
    except ConversionError as exc:
        return exc.code


@settings(max_examples=400)
@given(DATE_TEXT, st.lists(st.sampled_from(FORMATS), max_size=3))
def test_parse_date_gives_what_strptime_gives(text: str, formats: list[str]) -> None:
    fast = _date(text, formats)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(convert, "_numeric_date", lambda fmt: None)
        general = _date(text, formats)
    assert fast == general


@pytest.mark.parametrize(
    ("fmt", "numeric"),
    [
        ("%Y/%m/%d", True),
        ("%Y年%m月%d日", True),
        ("%d.%m.%Y", True),
        ("%Y%m%d", False),  # directives side by side: strptime splits the digits
        ("%Y/%m/%d %H", False),
        ("%y/%m/%d", False),
        ("%Y/%m", False),
        ("%Y %m %d", False),  # a space in the format matches any run of spaces
    ],
)
def test_which_formats_are_read_without_strptime(fmt: str, numeric: bool) -> None:
    result: Any = convert._numeric_date(fmt)
    assert (result is not None) == numeric
