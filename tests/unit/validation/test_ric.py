"""Specification of custrec.validation.ric (resident identity card number, GB 11643-1999)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.errors import InvalidFormat, InvalidIdentifier
from custrec.model.records import Gender
from custrec.validation import ric

VECTOR = "11010519491231002X"
TODAY = date(2025, 6, 30)
CODES = {"ric.length", "ric.format", "ric.birth_date", "ric.checksum"}


def reference_check(body: str) -> str:
    """ISO 7064 MOD 11-2 check character, written out independently of the module under test."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def with_check(body: str) -> str:
    return body + reference_check(body)


def error_code(number: object, today: date = TODAY) -> str:
    with pytest.raises(InvalidIdentifier) as info:
        ric.validate(number, today=today)  # type: ignore[arg-type]
    return info.value.code


addresses = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("123456789"),
    st.text("0123456789", min_size=5, max_size=5),
)
sequences = st.text("0123456789", min_size=3, max_size=3)
birth_dates = st.dates(min_value=date(1880, 1, 1), max_value=TODAY)
bodies = st.builds(lambda a, d, s: f"{a}{d:%Y%m%d}{s}", addresses, birth_dates, sequences)


# ------------------------------------------------------------------------------ valid input


def test_the_reference_vector_validates() -> None:
    assert ric.validate(VECTOR) == VECTOR
    assert ric.is_valid(VECTOR)
    assert reference_check(VECTOR[:17]) == "X"


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002x",
        " 110105 19491231 002X ",
        "110105-19491231-002x",
        "１１０１０５１９４９１２３１００２Ｘ",
        "１１０１０５１９４９１２３１００２ｘ",
    ],
)
def test_lower_case_x_spacing_and_full_width_forms_are_normalised(raw: str) -> None:
    assert ric.validate(raw) == VECTOR


def test_birth_date_and_sex_accessors() -> None:
    assert ric.birth_date(VECTOR) == date(1949, 12, 31)
    assert ric.sex(VECTOR) is Gender.FEMALE
    male = with_check("11010519491231001")
    assert ric.sex(male) is Gender.MALE
    assert ric.birth_date(male) == date(1949, 12, 31)


def test_accessors_validate_first() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        ric.sex("110105194912310021")
    assert info.value.code == "ric.checksum"
    with pytest.raises(InvalidIdentifier):
        ric.birth_date("not a number")


def test_compact_and_format() -> None:
    assert ric.compact(" １１０１０５ 19491231-002x ") == VECTOR
    assert ric.format("110105 19491231 002x") == VECTOR


def test_calc_check_digit() -> None:
    assert ric.calc_check_digit("11010519491231002") == "X"
    with pytest.raises(InvalidIdentifier) as info:
        ric.calc_check_digit("1101051949123100")
    assert info.value.code == "ric.format"


def test_the_address_code_is_not_checked_against_a_list() -> None:
    # 999999 is in no division list; the number is still accepted (lists go stale).
    assert ric.is_valid(with_check("99999920000101001"))


# ------------------------------------------------------------------- legacy 15-digit numbers


def test_fifteen_digit_numbers_are_converted_to_eighteen() -> None:
    assert ric.validate("110105491231002") == VECTOR
    assert ric.to_18("110105491231002") == VECTOR
    assert ric.to_18("１１０１０５ ４９１２３１ ００２") == VECTOR
    assert ric.birth_date("110105491231002") == date(1949, 12, 31)
    assert ric.sex("110105491231001") is Gender.MALE


def test_to_18_keeps_an_eighteen_digit_number() -> None:
    assert ric.to_18("11010519491231002x") == VECTOR


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("11010549123100", "ric.length"),
        ("11010549123100A", "ric.format"),
        ("010105491231002", "ric.format"),
        ("110105491301002", "ric.birth_date"),  # month 13
        ("110105490230002", "ric.birth_date"),  # 30 February
    ],
)
def test_to_18_rejects_bad_fifteen_digit_numbers(raw: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        ric.to_18(raw)
    assert info.value.code == code


# ---------------------------------------------------------------------------- invalid input


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "ric.length"),
        ("1101051949123100", "ric.length"),  # 16
        ("110105194912310021X", "ric.length"),  # 19
        ("1" * 5000, "ric.length"),
        ("A1010519491231002X", "ric.format"),
        ("01010519491231002X", "ric.format"),  # address code starting with 0
        ("1101051949123100XX", "ric.format"),
        ("11010519491231002Y", "ric.format"),
        ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "ric.format"),  # Arabic-Indic digits are not ID digits
        ("110105194912310021", "ric.checksum"),
        ("110105194912130021", "ric.checksum"),
    ],
)
def test_each_failure_has_its_code(raw: str, code: str) -> None:
    assert error_code(raw) == code
    assert not ric.is_valid(raw, today=TODAY)


@pytest.mark.parametrize(
    "body",
    [
        "11010519491331002",  # month 13
        "11010520000230001",  # 30 February
        "11010519000229001",  # 1900 was not a leap year
        "11010519491200002",  # day 0
        "11010518791231002",  # before 1880
        "11010520250701001",  # after TODAY
    ],
)
def test_a_checksum_valid_number_with_an_impossible_birth_date_reports_the_date(
    body: str,
) -> None:
    number = with_check(body)
    assert error_code(number) == "ric.birth_date"


def test_leap_day_is_a_real_date() -> None:
    assert ric.birth_date(with_check("11010520000229001")) == date(2000, 2, 29)


def test_today_bounds_the_birth_date() -> None:
    number = with_check("11010520250630001")
    assert ric.is_valid(number, today=date(2025, 6, 30))
    assert not ric.is_valid(number, today=date(2025, 6, 29))
    assert ric.is_valid(number, today=datetime(2025, 6, 30, 12, 0))


def test_default_today_is_the_current_date() -> None:
    future = date.today().replace(year=date.today().year + 1, month=1, day=1)
    assert not ric.is_valid(with_check(f"110105{future:%Y%m%d}001"))


def test_errors_are_value_errors_and_never_repeat_the_value() -> None:
    for raw in ("110105194912310021", with_check("11010519491331002"), "A1010519491231002X"):
        with pytest.raises(ValueError, match="resident ID") as info:
            ric.validate(raw)
        assert isinstance(info.value, InvalidFormat)
        assert raw[:14] not in str(info.value)
        assert "19491231" not in str(info.value)


# ------------------------------------------------------------------------------- properties


@given(bodies)
def test_any_body_with_a_real_date_and_its_check_digit_validates(body: str) -> None:
    number = with_check(body)
    assert ric.validate(number, today=TODAY) == number
    assert ric.validate(number.lower(), today=TODAY) == number
    assert ric.birth_date(number, today=TODAY).strftime("%Y%m%d") == body[6:14]
    assert ric.sex(number, today=TODAY) is (Gender.MALE if int(body[16]) % 2 else Gender.FEMALE)


@given(bodies, st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_substitution_is_detected(body: str, position: int, symbol: str) -> None:
    number = with_check(body)
    changed = number[:position] + symbol + number[position + 1 :]
    if changed != number:
        assert not ric.is_valid(changed, today=TODAY)


@given(addresses, st.dates(date(1900, 1, 1), date(1999, 12, 31)), sequences)
def test_fifteen_digit_numbers_convert_to_their_eighteen_digit_form(
    address: str, born: date, sequence: str
) -> None:
    legacy = f"{address}{born:%y%m%d}{sequence}"
    expected = with_check(f"{address}{born:%Y%m%d}{sequence}")
    assert ric.to_18(legacy) == expected
    assert ric.validate(legacy, today=TODAY) == expected
    assert ric.birth_date(legacy, today=TODAY) == born


@given(st.text() | st.text("0123456789Xx ", min_size=14, max_size=19))
def test_validate_returns_a_string_or_raises_the_typed_error(raw: str) -> None:
    try:
        result = ric.validate(raw, today=TODAY)
    except InvalidIdentifier as exc:
        error = exc
    else:
        assert len(result) == 18
        return
    assert error.code in CODES


@given(st.text())
def test_compact_is_idempotent(raw: str) -> None:
    once = ric.compact(raw)
    assert ric.compact(once) == once
