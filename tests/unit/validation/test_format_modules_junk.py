"""Every public function of every format module (uscc, ric, phone, email) given junk.

The contract, the same for all four modules and every function, ``compact`` included: for any
value it either returns or raises the module's typed :class:`~custrec.errors.InvalidFormat`
(a ``ValueError``), never ``TypeError``, ``AttributeError`` or ``UnicodeError``. A value that is
not a ``str`` is always refused with the typed error. ``is_valid`` and ``is_mobile`` never
raise: they answer ``True`` or ``False``, and ``False`` for anything that is not a ``str``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.errors import InvalidFormat
from custrec.validation import email, phone, ric, uscc

MODULES: dict[str, ModuleType] = {"uscc": uscc, "ric": ric, "phone": phone, "email": email}

# The code a non-string gets from each module.
NOT_TEXT_CODES = {
    "uscc": "uscc.format",
    "ric": "ric.format",
    "phone": "phone.invalid",
    "email": "email.invalid",
}
PREDICATES = frozenset({"is_valid", "is_mobile"})


def public_functions() -> list[tuple[str, str]]:
    """Every function (not class or constant) a format module lists in ``__all__``."""
    return [
        (module_name, name)
        for module_name, module in MODULES.items()
        for name in module.__all__
        if inspect.isfunction(getattr(module, name))
    ]


FUNCTIONS = public_functions()
FUNCTION_PARAMS = [pytest.param(m, n, id=f"{m}.{n}") for m, n in FUNCTIONS]


def function_of(module_name: str, name: str) -> Callable[[object], Any]:
    function: Callable[[object], Any] = getattr(MODULES[module_name], name)
    return function


def answers_or_refuses(module_name: str, name: str, value: object) -> None:
    """Call the function on ``value`` and check the contract."""
    function = function_of(module_name, name)
    try:
        result = function(value)
    except InvalidFormat as exc:
        error = exc
    else:
        if name in PREDICATES:
            assert isinstance(result, bool)
            assert result is False or isinstance(value, str)
        else:
            assert isinstance(value, str), f"{module_name}.{name} accepted {type(value).__name__}"
        return
    assert name not in PREDICATES, f"{module_name}.{name} raised instead of answering False"
    assert error.code.split(".")[0] == module_name
    assert error.message


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
    ("91110000600037341L",),
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
    "\udcff",
    "\udfff\ud800",
    "9111000060003734\udcff",
    "138\udcff00138000",
    "zs\udcff@example.com",
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
    "zs\x00@example.com",
]


@pytest.mark.parametrize(("module_name", "name"), FUNCTION_PARAMS)
@pytest.mark.parametrize("junk", JUNK, ids=lambda v: f"{type(v).__name__}-{len(repr(v))}")
def test_every_format_function_answers_or_raises_the_typed_error_for_junk(
    module_name: str, name: str, junk: object
) -> None:
    answers_or_refuses(module_name, name, junk)


@pytest.mark.parametrize(("module_name", "name"), FUNCTION_PARAMS)
@pytest.mark.parametrize(
    "value", [None, 13800138000, b"zs@example.com", ["91110000600037341L"], 1.5, object()]
)
def test_every_format_function_refuses_a_non_string_with_the_modules_code(
    module_name: str, name: str, value: object
) -> None:
    function = function_of(module_name, name)
    if name in PREDICATES:
        assert function(value) is False
        return
    with pytest.raises(InvalidFormat) as info:
        function(value)
    assert info.value.code == NOT_TEXT_CODES[module_name]
    assert isinstance(info.value, ValueError)


def _with_bad_characters(text: str, bad: str, position: int) -> str:
    at = position % (len(text) + 1)
    return text[:at] + bad + text[at:]


surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
bad_characters = surrogates | st.just("\x00")
plausible = st.sampled_from(
    ["91110000600037341L", "11010519491231002X", "110105491231002", "+8613800138000", "zs@例.com"]
)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.complex_numbers(),
    st.decimals(),
    st.binary(),
    st.dates(),
    st.characters(),
    st.text(),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.text(st.characters() | surrogates, max_size=30),
    st.text("0123456789ABCDEFGHJKLMNPQRTUWXYx +-.()@\x00", max_size=25),
    st.text("0123456789X", min_size=15, max_size=18),
    st.text(uscc.ALPHABET, min_size=17, max_size=19),
    st.emails(),
    st.builds(_with_bad_characters, plausible, bad_characters, st.integers(0, 20)),
    st.builds(lambda text, n: text * n, st.text(min_size=1, max_size=3), st.integers(100, 5000)),
    st.lists(st.text(max_size=5), max_size=3),
    st.tuples(st.text(max_size=5)),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)


@pytest.mark.parametrize(("module_name", "name"), FUNCTION_PARAMS)
@given(value=junk)
def test_every_format_function_answers_or_raises_the_typed_error_for_generated_junk(
    module_name: str, name: str, value: object
) -> None:
    answers_or_refuses(module_name, name, value)


def test_the_junk_tests_cover_compact_and_format_of_every_module() -> None:
    for module_name in MODULES:
        for name in ("compact", "validate", "is_valid", "format"):
            assert (module_name, name) in FUNCTIONS


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
    module = MODULES[module_name]
    for name in ("compact", "validate", "is_valid", "format"):
        assert name in module.__all__
        assert callable(getattr(module, name))
    assert module.is_valid(sample)
    assert module.validate(sample) == sample
    assert module.compact(sample) == sample
    assert module.format(sample)
