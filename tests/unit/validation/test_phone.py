"""Specification of custrec.validation.phone (E.164 normalisation via phonenumbers)."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.errors import InvalidFormat, InvalidPhone
from custrec.validation import phone
from custrec.validation.phone import PhoneType

MOBILE = "+8613800138000"
BEIJING = "+861065529988"


def invalid(raw: object, region: str = "CN") -> InvalidPhone:
    with pytest.raises(InvalidPhone) as info:
        phone.normalize(raw, region)  # type: ignore[arg-type]
    return info.value


# ------------------------------------------------------------------------------ normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("＋８６ １３８-００１３-８０００", MOBILE),
        ("13800138000", MOBILE),
        ("138 0013 8000", MOBILE),
        ("138.0013.8000", MOBILE),
        ("１３８－００１３－８０００", MOBILE),
        ("１３８\u3000００１３\u3000８０００", MOBILE),  # ideographic spaces
        ("+86 138 0013 8000", MOBILE),
        ("+86 (138) 0013-8000", MOBILE),
        ("0086 138 0013 8000", MOBILE),
        ("008613800138000", MOBILE),
        ("86 138 0013 8000", MOBILE),
        ("8613800138000", MOBILE),
        ("  13800138000\n", MOBILE),
        ("010-6552 9988", BEIJING),
        ("(010) 6552-9988", BEIJING),
        ("０１０－６５５２９９８８", BEIJING),
        ("+86 10 6552 9988", BEIJING),
        ("+86 010 6552 9988", BEIJING),
        ("+1 650 253 0000", "+16502530000"),
        ("+44 20 7946 0000", "+442079460000"),
    ],
)
def test_normalize_returns_e164(raw: str, expected: str) -> None:
    assert phone.normalize(raw) == expected
    assert phone.validate(raw) == expected
    assert phone.is_valid(raw)


def test_region_reads_national_numbers() -> None:
    assert phone.normalize("(650) 253-0000", "US") == "+16502530000"
    assert phone.normalize("650-253-0000", region="us") == "+16502530000"
    assert phone.normalize("020 7946 0000", "GB") == "+442079460000"
    assert not phone.is_valid("(650) 253-0000")  # not a Chinese number


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "+",
        "12345",
        "1380013800",  # one digit short
        "138001380000",  # one digit long
        "19999999999999999",
        "abc",
        "13800138000 ext. 12",  # extensions do not fit E.164
        "010-6552 9988 转 12",
        "1-800-FLOWERS",
        "13800138000\ud800",
        "tel:+8613800138000",
        "1" * 251,
        "1 " * 1000,
        "+" * 100_000,
    ],
)
def test_invalid_numbers_raise_invalid_phone(raw: str) -> None:
    error = invalid(raw)
    assert error.code == "phone.invalid"
    assert not phone.is_valid(raw)


def test_errors_are_value_errors_and_never_repeat_the_value() -> None:
    for raw in ("1380013800", "13800138000 ext 99", "+86 999 9999"):
        error = invalid(raw)
        assert isinstance(error, InvalidFormat)
        assert isinstance(error, ValueError)
        assert "138" not in str(error)
        assert "999" not in str(error)


@pytest.mark.parametrize("region", ["XX", "ZZ", "", "China", "001", None, 86])
def test_an_unknown_region_is_a_value_error_raised_eagerly(region: object) -> None:
    for function in (phone.normalize, phone.validate, phone.is_valid, phone.number_type):
        with pytest.raises(ValueError, match="region") as info:
            function("13800138000", region)  # type: ignore[arg-type]
        assert not isinstance(info.value, InvalidPhone)
    with pytest.raises(ValueError, match="region"):
        phone.is_mobile(None, region)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- compact, format


def test_compact_drops_separators_only() -> None:
    assert phone.compact("＋８６ (１３８) ００１３-８０００") == "+8613800138000"
    assert phone.compact(" 010.6552 9988 ") == "01065529988"
    assert phone.compact("abc 12") == "abc12"  # not validated


@pytest.mark.parametrize(
    ("style", "mobile", "landline"),
    [
        ("international", "+86 138 0013 8000", "+86 10 6552 9988"),
        ("national", "138 0013 8000", "010 6552 9988"),
        ("e164", MOBILE, BEIJING),
    ],
)
def test_format_styles(style: str, mobile: str, landline: str) -> None:
    assert phone.format(MOBILE, style=style) == mobile  # type: ignore[arg-type]
    assert phone.format(BEIJING, style=style) == landline  # type: ignore[arg-type]


def test_format_defaults_to_international_and_validates() -> None:
    assert phone.format("+16502530000") == "+1 650-253-0000"
    assert phone.format("13800138000") == "+86 138 0013 8000"
    with pytest.raises(InvalidPhone):
        phone.format("12345")
    with pytest.raises(ValueError, match="style"):
        phone.format(MOBILE, style="rfc3966")  # type: ignore[arg-type]


# -------------------------------------------------------------------------------- number type


@pytest.mark.parametrize(
    ("raw", "region", "kind"),
    [
        ("13800138000", "CN", PhoneType.MOBILE),
        ("010 6552 9988", "CN", PhoneType.FIXED_LINE),
        ("800 810 1234", "CN", PhoneType.TOLL_FREE),
        ("400 810 8888", "CN", PhoneType.OTHER),
        ("650 253 0000", "US", PhoneType.FIXED_LINE_OR_MOBILE),
        ("07400 123456", "GB", PhoneType.MOBILE),
    ],
)
def test_number_type(raw: str, region: str, kind: PhoneType) -> None:
    assert phone.number_type(raw, region) is kind


def test_number_type_values_are_stable_strings() -> None:
    assert [t.value for t in PhoneType] == [
        "mobile",
        "fixed_line",
        "fixed_line_or_mobile",
        "toll_free",
        "voip",
        "other",
    ]


def test_number_type_of_an_invalid_number_raises() -> None:
    with pytest.raises(InvalidPhone):
        phone.number_type("12345")


def test_is_mobile() -> None:
    assert phone.is_mobile("13800138000")
    assert phone.is_mobile("+86 138 0013 8000", "US")
    assert not phone.is_mobile("010 6552 9988")
    assert not phone.is_mobile("650 253 0000", "US")  # cannot tell, so not claimed mobile
    assert not phone.is_mobile("12345")
    assert not phone.is_mobile(None)


# ------------------------------------------------------------------------------- properties

# Long-allocated mobile prefixes (13x, 15x but 154, 18x): every number in them is valid.
cn_mobiles = st.from_regex(r"1(3[0-9]|5[0-35-9]|8[0-9])[0-9]{8}", fullmatch=True)
FULL_WIDTH = str.maketrans("0123456789+-", "０１２３４５６７８９＋－")


@st.composite
def written_mobiles(draw: st.DrawFn) -> tuple[str, str]:
    """A Chinese mobile number as people type it (prefixes, separators, full-width forms), and
    its E.164 form."""
    digits = draw(cn_mobiles)
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "0086", "86", "+86-"]))
    sep = draw(st.sampled_from(["", " ", "-", ".", "\u3000"]))
    text = prefix + sep.join([digits[:3], digits[3:7], digits[7:]])
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH)
    return text, "+86" + digits


@given(written_mobiles())
def test_written_mobiles_normalise_to_e164(case: tuple[str, str]) -> None:
    raw, expected = case
    assert phone.normalize(raw) == expected
    assert phone.is_mobile(raw)


@given(
    written_mobiles().map(lambda case: case[0])
    | st.text("0123456789+-() ", max_size=20)
    | st.text(),
    st.sampled_from(["CN", "US", "GB", "DE", "HK"]),
)
def test_normalize_is_idempotent(raw: str, region: str) -> None:
    try:
        once = phone.normalize(raw, region)
    except InvalidPhone:
        return
    assert phone.normalize(once, region) == once
    assert phone.normalize(once, "CN") == once  # E.164 does not depend on the region


@given(st.text() | st.text("0123456789+-() ", max_size=30))
def test_validate_returns_a_string_or_raises_invalid_phone(raw: str) -> None:
    try:
        result = phone.validate(raw)
    except InvalidPhone as exc:
        error = exc
    else:
        assert result.startswith("+")
        assert result[1:].isdigit()
        return
    assert error.code == "phone.invalid"


def example_numbers() -> list[tuple[str, str]]:
    """Every region's libphonenumber example number of every type, written nationally."""
    import phonenumbers

    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):  # the PhoneNumberType values
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                national = phonenumbers.format_number(
                    example, phonenumbers.PhoneNumberFormat.NATIONAL
                )
                found.append((national, region))
    return found


def test_the_e164_form_of_a_valid_number_reads_back_as_itself() -> None:
    """What lets the cache treat a number's E.164 form as valid without parsing it (issue 16):
    read afresh, in any region, it is a valid number with the same E.164 form."""
    numbers = example_numbers()
    assert len(numbers) > 1000
    for national, region in numbers:
        phone._clear_cache()
        try:
            e164 = phone.normalize(national, region)
        except InvalidPhone:
            continue
        for other in (region, "CN", "US"):
            phone._clear_cache()
            assert phone.normalize(e164, other) == e164, (national, region, other)
            phone._clear_cache()
            assert phone.is_valid(e164, other), (national, region, other)


@given(
    written_mobiles().map(lambda case: case[0]) | st.text("0123456789+-() ", max_size=20),
    st.sampled_from(["CN", "US", "GB", "DE", "HK", "IT", "AR", "MX"]),
)
def test_normalize_is_idempotent_without_the_cache(raw: str, region: str) -> None:
    try:
        once = phone.normalize(raw, region)
    except InvalidPhone:
        return
    phone._clear_cache()
    assert phone.normalize(once, region) == once


# --- the fast path for Chinese mobile numbers -----------------------------------------------------


def _by_the_parser(raw: str) -> tuple[str | None, str]:
    try:
        number = phone._parse(raw, "CN")
    except InvalidPhone as exc:
        return (None, exc.message)
    return (phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), "")


_MOBILE_LIKE = st.from_regex(
    r"\s?(\+86[ -]?)?1[0-9]{2}[ -]?[0-9]{4}[ -]?[0-9]{4}\s?", fullmatch=True
)


@settings(max_examples=500)
@given(
    _MOBILE_LIKE
    | st.text("0123456789+- ", max_size=18)
    | st.from_regex(r"179\d{8}", fullmatch=True)
)
def test_the_cn_mobile_fast_path_agrees_with_libphonenumber(raw: str) -> None:
    fast = phone._cn_mobile(raw, "CN")
    if fast is not None:
        assert fast == _by_the_parser(raw)


@pytest.mark.parametrize(
    "raw", ["13800138000", "+8613800138000", "138 0013 8000", "+86 138-0013-8000"]
)
def test_plain_cn_mobile_numbers_take_the_fast_path(raw: str) -> None:
    assert phone._cn_mobile(raw, "CN") == ("+8613800138000", "")


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("17951234567", "CN"),
        ("13800138000", "US"),
        ("010-6552 9988", "CN"),
        ("１３８００１３８０００", "CN"),
    ],
)
def test_other_numbers_are_left_to_libphonenumber(raw: str, region: str) -> None:
    assert phone._cn_mobile(raw, region) is None
