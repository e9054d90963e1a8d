"""Specification of custrec.validation.uscc (unified social credit code, GB 32100-2015)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.errors import InvalidFormat, InvalidIdentifier
from custrec.validation import uscc

VECTOR = "91110000600037341L"
SYMBOLS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
AUTHORITIES = "123456789ANY"
CODES = {"uscc.length", "uscc.format", "uscc.checksum"}


def reference_check(body: str) -> str:
    """GB 32100-2015 check character, written out independently of the module under test."""
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(SYMBOLS.index(ch) * w for ch, w in zip(body, weights, strict=True))
    value = 31 - total % 31
    return SYMBOLS[0 if value == 31 else value]


def error_code(number: object) -> str:
    with pytest.raises(InvalidIdentifier) as info:
        uscc.validate(number)  # type: ignore[arg-type]
    return info.value.code


bodies = st.builds(
    lambda a, t, d, o: a + t + d + o,
    st.sampled_from(AUTHORITIES),
    st.sampled_from(SYMBOLS),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(SYMBOLS, min_size=9, max_size=9),
)


# ------------------------------------------------------------------------------ valid input


def test_the_reference_vector_validates() -> None:
    assert uscc.validate(VECTOR) == VECTOR
    assert uscc.is_valid(VECTOR)
    assert reference_check(VECTOR[:17]) == VECTOR[17]


@pytest.mark.parametrize(
    "raw",
    [
        "91110000600037341l",
        " 91110000600037341L ",
        "9111-0000-6000-3734-1L",
        "911 100 006 000 373 41L",
        "９１１１００００６０００３７３４１Ｌ",
        "９１１１００００６０００３７３４１ｌ",
        "91110000600037341L\n",
    ],
)
def test_spacing_case_and_full_width_forms_are_normalised(raw: str) -> None:
    assert uscc.validate(raw) == VECTOR


def test_compact_and_format() -> None:
    assert uscc.compact("９１１１-００００ 6000 37341l") == VECTOR
    assert uscc.format(" 9111 0000 6000 3734 1l") == VECTOR


def test_accessors() -> None:
    assert uscc.registration_authority(VECTOR) == "9"
    assert uscc.division_code(VECTOR) == "110000"
    assert uscc.organization_code(VECTOR) == "600037341"


def test_accessors_validate_first() -> None:
    with pytest.raises(InvalidIdentifier):
        uscc.division_code("91110000600037341M")


def test_calc_check_digit() -> None:
    assert uscc.calc_check_digit(VECTOR[:17]) == "L"
    with pytest.raises(InvalidIdentifier) as info:
        uscc.calc_check_digit("9111000060003734I")
    assert info.value.code == "uscc.format"


def test_a_check_value_of_31_is_written_as_0() -> None:
    # Find a body whose weighted sum is a multiple of 31: its check character must be "0".
    body = next(
        f"9111000060003{n:04d}"
        for n in range(10000)
        if reference_check(f"9111000060003{n:04d}") == "0"
    )
    assert uscc.calc_check_digit(body) == "0"
    assert uscc.is_valid(body + "0")


# ---------------------------------------------------------------------------- invalid input


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "uscc.length"),
        ("91110000600037341", "uscc.length"),
        ("91110000600037341LL", "uscc.length"),
        ("9" * 1000, "uscc.length"),
        ("91110000600037341I", "uscc.format"),  # I is not in the alphabet
        ("9111000060003734OL", "uscc.format"),
        ("S1110000600037341L", "uscc.format"),
        ("01110000600037341L", "uscc.format"),  # registration authority 0 does not exist
        ("B1110000600037341L", "uscc.format"),  # neither does B
        ("911A0000600037341L", "uscc.format"),  # division code must be digits
        ("91110000600037341#", "uscc.format"),
        ("91110000600037341M", "uscc.checksum"),
        ("91110000600037431L", "uscc.checksum"),  # transposition
    ],
)
def test_each_failure_has_its_code(raw: str, code: str) -> None:
    assert error_code(raw) == code
    assert not uscc.is_valid(raw)


def test_errors_are_value_errors_and_never_repeat_the_value() -> None:
    with pytest.raises(ValueError, match="check character") as info:
        uscc.validate("91110000600037341M")
    assert isinstance(info.value, InvalidFormat)
    assert "91110000600037341" not in str(info.value)


def test_pilot_era_code_reports_a_checksum_error() -> None:
    # Some codes issued in pilot regions before GB 32100-2015 took effect do not satisfy the
    # check: they are well-formed, so the failure is a checksum one (callers may downgrade it).
    assert error_code("91350203M0001QKT19") == "uscc.checksum"


# ------------------------------------------------------------------------------- properties


@given(bodies)
def test_any_body_with_its_check_character_validates(body: str) -> None:
    number = body + reference_check(body)
    assert uscc.validate(number) == number
    assert uscc.validate(number.lower()) == number
    assert uscc.calc_check_digit(body) == number[-1]


@given(bodies, st.integers(0, 17), st.sampled_from(SYMBOLS))
def test_any_single_substitution_is_detected(body: str, position: int, symbol: str) -> None:
    number = body + reference_check(body)
    changed = number[:position] + symbol + number[position + 1 :]
    if changed != number:
        assert not uscc.is_valid(changed)


@given(st.text())
def test_validate_returns_a_string_or_raises_the_typed_error(raw: str) -> None:
    try:
        result = uscc.validate(raw)
    except InvalidIdentifier as exc:
        error = exc
    else:
        assert len(result) == 18
        return
    assert error.code in CODES


@given(st.text() | st.text(SYMBOLS + " -ｘ", max_size=25))
def test_compact_is_idempotent(raw: str) -> None:
    once = uscc.compact(raw)
    assert uscc.compact(once) == once
