"""custrec.storage.ordered: facet encodings whose code-point order is the values' order.

Every property is checked against the definitional answer: Decimal comparison for numbers,
integer microseconds since 0001-01-01 UTC for instants, ``str.startswith`` for prefixes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from custrec.storage.ordered import (
    MAX_EXPONENT,
    decode_date,
    decode_instant,
    decode_number,
    encode_date,
    encode_instant,
    encode_number,
    upper_bound,
)

# --- numbers -------------------------------------------------------------------------------------


@st.composite
def scientific(draw: st.DrawFn) -> Decimal:
    """Any finite Decimal whose adjusted exponent is allowed: tiny, huge, with trailing zeros."""
    sign = draw(st.integers(0, 1))
    digits = draw(st.lists(st.integers(0, 9), min_size=1, max_size=30))
    adjusted = draw(
        st.one_of(
            st.integers(-MAX_EXPONENT, MAX_EXPONENT),
            st.integers(-12, 12),
            st.sampled_from([-MAX_EXPONENT, -100_000, -10, -9, -1, 0, 9, 10, 99_999, MAX_EXPONENT]),
        )
    )
    value = Decimal((sign, tuple(digits), 0))
    if value.is_zero():
        return Decimal((sign, (0,), adjusted))
    return Decimal((sign, tuple(digits), adjusted - value.adjusted()))


numbers = st.one_of(
    scientific(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.integers().map(Decimal),
    st.sampled_from([Decimal("0"), Decimal("-0"), Decimal("0E+7"), Decimal("-0.000")]),
)


def neighbours(value: Decimal) -> st.SearchStrategy[Decimal]:
    """Numbers close to ``value``: one unit more or less in its last digit, or a digit longer."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    step = Decimal((0, (1,), exponent))
    return st.sampled_from([value + step, value - step, value + step / 10, value - step / 10])


@given(numbers, numbers)
@example(Decimal("1.2"), Decimal("1.25"))
@example(Decimal("-1.2"), Decimal("-1.25"))
@example(Decimal("-1"), Decimal("-0.05"))
@example(Decimal("0.05"), Decimal("1E-999999"))
@example(Decimal("-9.99E+999999"), Decimal("-1E-999999"))
@example(Decimal("1.0"), Decimal("1"))
@example(Decimal("-0"), Decimal("0"))
def test_number_text_order_is_numeric_order(a: Decimal, b: Decimal) -> None:
    assert (encode_number(a) < encode_number(b)) == (a < b)
    assert (encode_number(a) == encode_number(b)) == (a == b)


@given(st.data(), numbers)
def test_numbers_next_to_each_other_keep_their_order(data: st.DataObject, a: Decimal) -> None:
    b = data.draw(neighbours(a))
    assume(b.is_finite() and abs(b.adjusted()) <= MAX_EXPONENT)
    assert (encode_number(a) < encode_number(b)) == (a < b)


@given(numbers)
def test_a_number_decodes_to_itself_numerically(value: Decimal) -> None:
    decoded = decode_number(encode_number(value))
    assert decoded == value
    assert decoded.as_tuple().sign == (value < 0)
    assert encode_number(decoded) == encode_number(value)


@given(numbers)
def test_encoded_numbers_are_ascii_without_nul_or_equals(value: Decimal) -> None:
    text = encode_number(value)
    assert text.isascii()
    assert text.isprintable()
    assert "\0" not in text
    assert "=" not in text


@given(st.integers())
def test_an_int_encodes_as_its_decimal(value: int) -> None:
    assert encode_number(value) == encode_number(Decimal(value))


@given(st.text(alphabet="nop0123456789abcfgUVYZ~=-", max_size=12) | st.text(max_size=12))
def test_only_encodings_decode(text: str) -> None:
    """A decoder accepts exactly the encoder's texts: any other text is a ValueError."""
    try:
        value = decode_number(text)
    except ValueError:
        return
    assert encode_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("-12.5"), "nZ8874~"),
        (-1, "na08~"),
        (Decimal("-0.05"), "na24~"),
        (0, "o"),
        (Decimal("-0.00"), "o"),
        (Decimal("0.05"), "pZ75"),
        (1, "pa01"),
        (Decimal("1.000"), "pa01"),
        (Decimal("12.5"), "pa1125"),
        (100, "pa21"),
        (Decimal("1E+10"), "pb101"),
        (Decimal("1E-10"), "pY891"),
        (Decimal(f"1E+{MAX_EXPONENT}"), "pf9999991"),
        (Decimal(f"1E-{MAX_EXPONENT}"), "pU0000001"),
    ],
)
def test_number_encodings_read_sign_exponent_digits(value: int | Decimal, text: str) -> None:
    assert encode_number(value) == text
    assert decode_number(text) == value


def test_decoded_whole_numbers_have_no_exponent_up_to_28_digits() -> None:
    assert str(decode_number(encode_number(100))) == "100"
    assert str(decode_number(encode_number(Decimal("-5E+3")))) == "-5000"
    assert str(decode_number(encode_number(Decimal("1E+40")))) == "1E+40"
    assert str(decode_number(encode_number(Decimal("0.250")))) == "0.25"


@pytest.mark.parametrize(
    "value",
    [
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        Decimal(f"1E+{MAX_EXPONENT + 1}"),
        Decimal(f"1E-{MAX_EXPONENT + 1}"),
        Decimal(f"-123E+{MAX_EXPONENT - 1}"),
    ],
)
def test_non_finite_numbers_and_exponents_beyond_the_bound_are_value_errors(
    value: Decimal,
) -> None:
    with pytest.raises(ValueError, match=r"^value"):
        encode_number(value)


def test_zero_has_no_exponent_bound() -> None:
    assert encode_number(Decimal(f"0E+{10 * MAX_EXPONENT}")) == "o"


@pytest.mark.parametrize("value", [True, False, 1.5, "1", None])
def test_only_ints_and_decimals_encode(value: object) -> None:
    with pytest.raises(TypeError, match=r"^value must be an int or a Decimal"):
        encode_number(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["", "p", "pa", "pa0", "pa010", "pa00", "pb01", "pZ9", "n", "na08"]
)
def test_non_canonical_number_texts_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not an encoded number"):
        decode_number(text)


# --- instants and dates --------------------------------------------------------------------------

offsets = st.builds(
    timezone,
    st.timedeltas(
        min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
    ),
)
zones = st.one_of(offsets, st.timezones(), st.just(UTC))
# Keep a day away from the ends so that every offset stays within years 1..9999 in UTC.
instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones
)


def microseconds(dt: datetime) -> int:
    """The definition of an instant: microseconds since 0001-01-01T00:00 UTC."""
    offset = dt.utcoffset()
    assert offset is not None
    return (dt.replace(tzinfo=None) - offset - datetime(1, 1, 1)) // timedelta(microseconds=1)


@given(instants, instants)
def test_instant_text_order_is_time_order(a: datetime, b: datetime) -> None:
    assert (encode_instant(a) < encode_instant(b)) == (microseconds(a) < microseconds(b))
    assert (encode_instant(a) == encode_instant(b)) == (microseconds(a) == microseconds(b))


@given(instants, zones)
def test_one_instant_encodes_the_same_from_every_time_zone(dt: datetime, zone: tzinfo) -> None:
    assert encode_instant(dt.astimezone(zone)) == encode_instant(dt)


@given(instants)
def test_an_instant_decodes_to_itself_in_utc(dt: datetime) -> None:
    text = encode_instant(dt)
    decoded = decode_instant(text)
    assert decoded.tzinfo is UTC
    assert microseconds(decoded) == microseconds(dt)
    assert len(text) == len("2026-03-01T08:00:00.000000Z")
    assert text.isascii()
    assert "=" not in text


def test_instants_are_utc_with_microseconds() -> None:
    beijing = timezone(timedelta(hours=8))
    assert encode_instant(datetime(2026, 3, 1, 16, 0, tzinfo=beijing)) == (
        "2026-03-01T08:00:00.000000Z"
    )
    assert (
        encode_instant(datetime(5, 1, 1, 0, 0, 0, 7, tzinfo=UTC)) == "0005-01-01T00:00:00.000007Z"
    )


def test_naive_and_non_datetime_instants_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^dt must be timezone-aware"):
        encode_instant(datetime(2026, 3, 1))
    with pytest.raises(TypeError, match=r"^dt must be a timezone-aware datetime"):
        encode_instant(date(2026, 3, 1))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "dt",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-2))),
    ],
)
def test_instants_outside_the_utc_years_1_to_9999_are_value_errors(dt: datetime) -> None:
    with pytest.raises(ValueError, match=r"^dt must be an instant within the years 1..9999"):
        encode_instant(dt)


@pytest.mark.parametrize(
    "text",
    ["", "2026-03-01T08:00:00Z", "2026-03-01T08:00:00.000000", "2026-13-01T08:00:00.000000Z",
     "2026-02-30T08:00:00.000000Z", "２026-03-01T08:00:00.000000Z", "2026-03-01 08:00:00.000000Z"],
)  # fmt: skip
def test_other_texts_are_not_instants(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not an encoded instant"):
        decode_instant(text)


@given(st.dates(), st.dates())
def test_date_text_order_is_calendar_order(a: date, b: date) -> None:
    assert (encode_date(a) < encode_date(b)) == (a < b)
    assert (encode_date(a) == encode_date(b)) == (a == b)
    assert decode_date(encode_date(a)) == a


def test_dates_are_zero_padded_iso() -> None:
    assert encode_date(date(1, 2, 3)) == "0001-02-03"
    assert decode_date("2026-03-01") == date(2026, 3, 1)
    with pytest.raises(TypeError, match=r"^d must be a date, not datetime"):
        encode_date(datetime(2026, 3, 1, tzinfo=UTC))
    for text in ("2026-3-1", "2026-02-30", "2026-03-01T00:00:00.000000Z", ""):
        with pytest.raises(ValueError, match=r"^not an encoded date"):
            decode_date(text)


# --- prefix ranges -------------------------------------------------------------------------------

_MAX = "\U0010ffff"
_EDGES = "a=>\0\x7f\ud7ff\ue000\uffff" + _MAX
edgy_text = st.text(alphabet=st.sampled_from(list(_EDGES)) | st.characters(), max_size=6)
prefixes = edgy_text.filter(lambda p: p.rstrip(_MAX) != "")


@given(prefixes, st.data())
@example("n=", None)
@example("a" + _MAX, None)
@example("\ud7ff", None)
def test_a_prefix_range_holds_exactly_the_texts_with_that_prefix(
    prefix: str, data: st.DataObject | None
) -> None:
    """``t.startswith(p)`` iff ``p <= t < upper_bound(p)``, for every storable text ``t``; so
    the bound is above every such text, not itself one, and the smallest such bound."""
    bound = upper_bound(prefix)
    assert not bound.startswith(prefix)
    assert bound > prefix
    if data is None:
        return
    texts = [
        data.draw(edgy_text),
        prefix + data.draw(edgy_text),
        prefix[:-1] + data.draw(edgy_text),
        bound + data.draw(edgy_text),
        bound[:-1] + data.draw(edgy_text),
    ]
    for text in texts:
        assert text.startswith(prefix) == (prefix <= text < bound)


@pytest.mark.parametrize(
    ("prefix", "bound"),
    [("n=", "n>"), ("grade=", "grade>"), ("a" + _MAX, "b"), ("a" + _MAX * 3, "b"),
     ("\ud7ff", "\ue000"), ("x\uffff", "x\U00010000")],
)  # fmt: skip
def test_upper_bound_increments_the_last_code_point_below_the_maximum(
    prefix: str, bound: str
) -> None:
    assert upper_bound(prefix) == bound


@pytest.mark.parametrize("prefix", ["", _MAX, _MAX * 2])
def test_a_prefix_with_no_upper_bound_is_a_value_error(prefix: str) -> None:
    with pytest.raises(ValueError, match=r"^prefix must contain"):
        upper_bound(prefix)


def test_every_facet_of_one_name_is_a_text_range() -> None:
    at_least, below = "amount=", upper_bound("amount=")
    facets = ["amount=" + encode_number(v) for v in (-(10**30), -1, 0, Decimal("0.5"), 10**30)]
    assert all(at_least <= f < below for f in facets)
    assert not any(at_least <= f < below for f in ["amount", "amounts=pa01", "amount>", "b=o"])
