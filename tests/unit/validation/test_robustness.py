"""Every format module's ``is_valid`` answers a bool for any junk and never raises."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.validation import email, phone, ric, uscc

IS_VALID: dict[str, Callable[[object], bool]] = {
    "uscc": uscc.is_valid,
    "ric": ric.is_valid,
    "phone": phone.is_valid,
    "email": email.is_valid,
}

JUNK: list[object] = [
    None,
    True,
    0,
    -1,
    2**200,
    0.5,
    float("nan"),
    float("inf"),
    Decimal("1E+999"),
    1j,
    b"",
    b"\xff\xfe",
    bytearray(b"91110000600037341L"),
    memoryview(b"13800138000"),
    [],
    ["13800138000"],
    (),
    {},
    {"number": "91110000600037341L"},
    set(),
    object(),
    date(2000, 1, 1),
    str,
    "",
    " ",
    "\x00",
    "\ud800",
    "\udfff\ud800",
    "\ufeff",
    "\u200b" * 18,
    "\U0010ffff" * 18,
    "-" * 18,
    "+",
    "@",
    "X" * 18,
    "0" * 18,
    "0" * 15,
    "9" * 17 + "\u0301",
    "ﷺ" * 18,  # expands a lot under NFKC
    "ﷺ" * 10_000,
    "１" * 100_000,
    "a@" * 50_000,
    "Ⅻ" * 18,
    "²³" * 9,
    "٣" * 18,
    "\n".join(["91110000600037341L"] * 3),
    "91110000600037341L\x00",
    "11010519491231002X\x00",
    "+86 138 0013 8000\x00",
    "zs@example.com\x00",
]


@pytest.mark.parametrize("name", sorted(IS_VALID))
@pytest.mark.parametrize("junk", JUNK, ids=lambda v: type(v).__name__)
def test_is_valid_rejects_junk(name: str, junk: object) -> None:
    assert IS_VALID[name](junk) is False


@pytest.mark.parametrize("name", sorted(IS_VALID))
@given(
    value=st.none()
    | st.booleans()
    | st.binary()
    | st.integers()
    | st.floats()
    | st.complex_numbers()
    | st.decimals()
    | st.characters()
    | st.text()
    | st.text(st.characters(codec="utf-8"), max_size=40)
    | st.text("0123456789ABCDEFGHJKLMNPQRTUWXYx +-.()@", max_size=25)
    | st.lists(st.text())
    | st.dictionaries(st.text(), st.text())
    | st.dates()
)
def test_is_valid_answers_a_bool_for_anything(name: str, value: object) -> None:
    assert isinstance(IS_VALID[name](value), bool)


@pytest.mark.parametrize(
    "module_name", ["uscc", "ric", "phone", "email"], ids=lambda name: f"{name}.compact"
)
@given(raw=st.text())
def test_compact_never_raises_on_text(module_name: str, raw: str) -> None:
    module = {"uscc": uscc, "ric": ric, "phone": phone, "email": email}[module_name]
    assert isinstance(module.compact(raw), str)


@pytest.mark.parametrize(
    ("module_name", "sample"),
    [
        ("uscc", "91110000600037341L"),
        ("ric", "11010519491231002X"),
        ("phone", "+8613800138000"),
        ("email", "zs@example.com"),
    ],
)
def test_every_module_exposes_the_uniform_api(module_name: str, sample: str) -> None:
    module = {"uscc": uscc, "ric": ric, "phone": phone, "email": email}[module_name]
    for name in ("compact", "validate", "is_valid", "format"):
        assert name in module.__all__
        assert callable(getattr(module, name))
    assert module.is_valid(sample)
    assert module.validate(sample) == sample
    assert module.format(sample)
