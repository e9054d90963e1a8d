"""Telephone numbers, normalised to E.164 with Google's libphonenumber metadata.

Input is NFKC-normalised first, so full-width digits, ``＋``, full-width hyphens and ideographic
spaces are read like their ASCII forms. National numbers are read in ``region`` (default ``CN``);
``00``/``86`` international prefixes are understood. Only digits, whitespace and ``+-.()/`` may
appear: letters (vanity numbers, extensions such as ``ext. 12`` or ``转 12``) are rejected, since
E.164 cannot carry them and silently dropping them would lose data.

>>> normalize("＋８６ １３８-００１３-８０００")
'+8613800138000'
>>> normalize("010-6552 9988")
'+861065529988'
>>> normalize("(650) 253-0000", region="US")
'+16502530000'
>>> format("+8613800138000")
'+86 138 0013 8000'
>>> format("+861065529988", style="national")
'010 6552 9988'
>>> number_type("13800138000")
<PhoneType.MOBILE: 'mobile'>
>>> is_valid("12345")
False
"""

from __future__ import annotations

import enum
import re
from typing import Final, Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from custrec import _text
from custrec.errors import InvalidPhone

__all__ = [
    "PhoneType",
    "compact",
    "format",
    "is_mobile",
    "is_valid",
    "normalize",
    "number_type",
    "validate",
]

# libphonenumber refuses inputs longer than 250 characters; refuse them before NFKC too.
_MAX_INPUT: Final = 250
# Decimal digits (``\d``: category Nd, as ``str.isdecimal``), whitespace (``\s``: as
# ``str.isspace``) and the punctuation ``+-.()/``.
_ALLOWED: Final = re.compile(r"[\d\s+\-.()/]*")
_NOT_TEXT: Final = "a phone number must be given as a string"

_STYLES: Final[dict[str, int]] = {
    "international": PhoneNumberFormat.INTERNATIONAL,
    "national": PhoneNumberFormat.NATIONAL,
    "e164": PhoneNumberFormat.E164,
}


class PhoneType(enum.StrEnum):
    """The kind of line a valid number belongs to."""

    MOBILE = "mobile"
    FIXED_LINE = "fixed_line"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"  # the numbering plan cannot tell (e.g. US)
    TOLL_FREE = "toll_free"
    VOIP = "voip"
    OTHER = "other"  # premium rate, shared cost, pager, UAN, voicemail, personal numbers


_TYPES: Final[dict[int, PhoneType]] = {
    PhoneNumberType.MOBILE: PhoneType.MOBILE,
    PhoneNumberType.FIXED_LINE: PhoneType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: PhoneType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.TOLL_FREE: PhoneType.TOLL_FREE,
    PhoneNumberType.VOIP: PhoneType.VOIP,
}


_REGION_CODES: dict[str, str] = {}  # region as given -> as known to libphonenumber


def _region(region: str) -> str:
    """Return ``region`` upper-cased, or raise ``ValueError`` if libphonenumber does not know it."""
    if type(region) is str:
        known = _REGION_CODES.get(region)
        if known is not None:
            return known
    if isinstance(region, str):
        code = region.strip().upper()
        if code in phonenumbers.SUPPORTED_REGIONS:
            if type(region) is str and len(_REGION_CODES) < 1024:
                _REGION_CODES[region] = code
            return code
    raise ValueError("region must be an ISO 3166 alpha-2 code known to phonenumbers")


def _invalid(message: str = "not a valid phone number") -> InvalidPhone:
    return InvalidPhone(message)


def _parse(raw: object, region: str) -> phonenumbers.PhoneNumber:
    """Parse ``raw`` into a valid libphonenumber ``PhoneNumber`` or raise ``InvalidPhone``."""
    code = _region(region)
    if not isinstance(raw, str):
        raise _invalid(_NOT_TEXT)
    if len(raw) > _MAX_INPUT:
        raise _invalid("too long to be a phone number")
    text = _text.nfkc(raw).strip()
    if not text:
        raise _invalid("empty phone number")
    if len(text) > _MAX_INPUT or not _ALLOWED.fullmatch(text):
        raise _invalid("a phone number has only digits, spaces and + - . ( ) /")
    try:
        number = phonenumbers.parse(text, code)
    except NumberParseException:
        raise _invalid() from None
    if not phonenumbers.is_valid_number(number):
        raise _invalid()
    return number


def compact(raw: str) -> str:
    """Return ``raw`` NFKC-normalised without whitespace, hyphens, dots or parentheses.

    Never raises for a ``str``; the result is not validated. Raises
    :class:`~custrec.errors.InvalidPhone` if ``raw`` is not a ``str``.

    >>> compact("（０１０）６５５２-９９８８")
    '01065529988'
    """
    if not isinstance(raw, str):
        raise _invalid(_NOT_TEXT)
    return _text.compact(raw, strip="-.()")


_CACHE_SIZE: Final = 16384
_cache: dict[tuple[str, str], tuple[str | None, str]] = {}


# The most common input of all, decided without libphonenumber's general parser: a Chinese mobile
# number in region CN, written as 11 ASCII digits (optionally after "+86", optionally grouped
# 3-4-4 by single spaces or hyphens). For these the parser's outcome is fixed: no national or
# carrier prefix applies (numbers starting 179 are left to it: "179xx" is a carrier prefix), the
# national number is the 11 digits and the E.164 form is "+86" and them; whether the number is
# valid is still libphonenumber's decision. A hypothesis test compares both paths.
_CN_MOBILE: Final = re.compile(r"(?:\+86[ -]?)?(1[3-9]\d)([ -]?)(\d{4})\2(\d{4})", re.ASCII)


def _cn_mobile(raw: str, code: str) -> tuple[str | None, str] | None:
    """``_e164``'s answer for a plain Chinese mobile number, ``None`` for any other input."""
    if code != "CN" or not raw.isascii():
        return None
    found = _CN_MOBILE.fullmatch(raw.strip())
    if found is None or found.group(1).startswith("179"):
        return None
    digits = found.group(1) + found.group(3) + found.group(4)
    if not _cn_mobile_pattern().fullmatch(digits):  # rare: let libphonenumber look at it whole
        number = phonenumbers.PhoneNumber(country_code=86, national_number=int(digits))
        if not phonenumbers.is_valid_number(number):
            return (None, "not a valid phone number")
    return (f"+86{digits}", "")


_CN_MOBILE_PATTERNS: list[re.Pattern[str]] = []


def _cn_mobile_pattern() -> re.Pattern[str]:
    """libphonenumber's own patterns for 11-digit numbers in CN's plan and for its mobiles, as
    one: a number matching both is a valid mobile number (what ``is_valid_number`` tests)."""
    if not _CN_MOBILE_PATTERNS:
        plan = phonenumbers.PhoneMetadata.metadata_for_region("CN")
        assert plan is not None
        general, mobile = plan.general_desc, plan.mobile
        assert general is not None and mobile is not None
        if 11 in general.possible_length and 11 in mobile.possible_length:
            both = f"(?=(?:{general.national_number_pattern})$)(?:{mobile.national_number_pattern})"
        else:  # no 11-digit mobiles any more: decide nothing here
            both = "(?!)"
        _CN_MOBILE_PATTERNS.append(re.compile(both))
    return _CN_MOBILE_PATTERNS[0]


def _e164(raw: str, code: str) -> tuple[str | None, str]:
    """Cached parse of a ``str``: ``(E.164, "")`` or ``(None, why it is invalid)``.

    Validation looks at the same number several times (normalise, check, duplicate check);
    libphonenumber's parse is the costly step, so its outcome is memoised. The E.164 form of a
    valid number is itself a valid number with the same E.164 form (libphonenumber reads back
    what it writes; ``test_phone.py`` checks it on every region's example numbers), so it is
    remembered as well: checking a number just normalised costs no second parse. The cache is
    emptied when full (safe without a lock: each step is one dict operation).
    """
    key = (raw, code)
    known = _cache.get(key)
    if known is not None:
        return known
    result = _cn_mobile(raw, code)
    if result is None:
        try:
            number = _parse(raw, code)
        except InvalidPhone as exc:
            result = (None, exc.message)
        else:
            result = (str(phonenumbers.format_number(number, PhoneNumberFormat.E164)), "")
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    _cache[key] = result
    if result[0] is not None:
        _cache[(result[0], code)] = result
    return result


def _clear_cache() -> None:
    """Forget every number parsed (for benchmarks that must parse each number)."""
    _cache.clear()


def normalize(raw: str, region: str = "CN") -> str:
    """Return ``raw`` as an E.164 string such as ``+8613800138000``.

    ``region`` is the ISO 3166 alpha-2 code used for numbers written without a country code.
    Raises :class:`~custrec.errors.InvalidPhone` (code ``phone.invalid``) if ``raw`` is not a
    ``str``, cannot be parsed or is not a valid number, and ``ValueError`` for an unknown
    ``region`` (checked first).
    """
    code = _region(region)
    if not isinstance(raw, str):
        raise _invalid(_NOT_TEXT)
    e164, why = _e164(raw, code)
    if e164 is None:
        raise _invalid(why)
    return e164


def validate(raw: str, region: str = "CN") -> str:
    """Return the E.164 form of a valid number: the same as :func:`normalize`.

    Raises :class:`~custrec.errors.InvalidPhone` or ``ValueError`` as :func:`normalize` does.
    """
    return normalize(raw, region)


def is_valid(raw: object, region: str = "CN") -> bool:
    """Return whether ``raw`` is a valid phone number; never raises for any ``raw``.

    Raises ``ValueError`` only for an unknown ``region``: that is a programming error, not bad
    data, and answering ``False`` for every number would hide it.
    """
    code = _region(region)
    return isinstance(raw, str) and _e164(raw, code)[0] is not None


def format(
    e164: str, *, style: Literal["international", "national", "e164"] = "international"
) -> str:
    """Return a valid number in a display ``style``: ``international`` (``+86 138 0013 8000``),
    ``national`` (``138 0013 8000``) or ``e164`` (``+8613800138000``).

    A number without a country code is read as Chinese. Raises
    :class:`~custrec.errors.InvalidPhone` for an invalid number and ``ValueError`` for an
    unknown ``style``.
    """
    if style not in _STYLES:
        raise ValueError("style must be 'international', 'national' or 'e164'")
    return str(phonenumbers.format_number(_parse(e164, "CN"), _STYLES[style]))


def number_type(raw: str, region: str = "CN") -> PhoneType:
    """Return the :class:`PhoneType` of a valid number.

    Raises :class:`~custrec.errors.InvalidPhone` or ``ValueError`` as :func:`normalize` does.
    """
    kind = phonenumbers.number_type(_parse(raw, region))
    return _TYPES.get(kind, PhoneType.OTHER)


def is_mobile(raw: object, region: str = "CN") -> bool:
    """Return whether ``raw`` is a valid mobile number; never raises for any ``raw``.

    Numbers whose plan cannot tell mobile from fixed line (``FIXED_LINE_OR_MOBILE``, as in the
    US) are not reported as mobile. Raises ``ValueError`` only for an unknown ``region``.
    """
    code = _region(region)
    try:
        return number_type(raw, code) is PhoneType.MOBILE  # type: ignore[arg-type]
    except InvalidPhone:
        return False
