"""Order-preserving text encodings for facet values (pure, no dependencies).

Facets are stored as ``"<name>=<value>"`` text and every backend compares them in Unicode
code-point order, so a range over numbers or instants becomes a text range once the values are
written with an encoding whose text order is their natural order:
``FacetCondition(at_least="amount=" + encode_number(10), below="amount=" + encode_number(100))``.
Every encoding here is ASCII, never contains NUL or ``=``, and has one text per value (equal
values, such as ``Decimal("1.0")`` and ``1``, encode equally), so ``any_of`` works too.

**Numbers** (:func:`encode_number`). A finite value ``x`` other than zero is written in
scientific form ``± d1.d2…dn × 10**e`` with ``d1 != 0`` and no trailing zero digit (so one
value has one form); ``e`` is the *adjusted exponent* and must satisfy ``|e| < 10**6``. The text
is a sign class, then the exponent, then the digits:

- the class is ``n`` for negative values, ``o`` for zero (the whole text) and ``p`` for
  positive values: ``n < o < p``;
- the exponent ``E(e)`` is a length letter then the decimal digits of ``|e|``: for ``e >= 0``
  the letter is ``a``..``f`` for 1..6 digits; for ``e < 0`` it is ``Z``..``U`` for 1..6 digits
  and the digits are complemented (``d -> 9 - d``). Upper case sorts before lower case, a longer
  exponent gets a later letter (or an earlier one when negative), and complemented digits
  reverse the order of equally long negative exponents, so ``E`` is increasing. It is also
  self-delimiting (the letter gives the length), so two texts with different exponents differ
  inside the exponent and the digits are only compared when the exponents are equal;
- a positive value is ``p + E(e) + d1…dn``. For equal exponents, digit strings compare as the
  values do: when one is a prefix of the other, the longer has a further non-zero digit, so it
  is both the longer text and the larger value;
- a negative value is ``n + E(-e) + complement(d1…dn) + "~"``: ``E(-e)`` decreases as the
  magnitude's exponent grows, complemented digits reverse the order of magnitudes, and the
  terminator ``~`` (above every digit) makes ``-1.2`` (``…87~``) sort after ``-1.25``
  (``…874~``), whose magnitude is larger.

>>> [encode_number(Decimal(v)) for v in ("-12.5", "-1", "-0.05", "0", "0.05", "1", "12.5", "1E+2")]
['nZ8874~', 'na08~', 'na24~', 'o', 'pZ75', 'pa01', 'pa1125', 'pa21']
>>> decode_number("pa1125")
Decimal('12.5')

**Instants and dates** are fixed-width, zero-padded ISO 8601 text, whose text order is time
order: :func:`encode_instant` writes the UTC instant with microseconds
(``"2026-03-01T08:00:00.000000Z"``), :func:`encode_date` a calendar date (``"2026-03-01"``).

**Ranges over a prefix**: :func:`upper_bound` gives the exclusive end of "every text starting
with a prefix", so ``at_least="grade="``, ``below=upper_bound("grade=")`` selects every facet
named ``grade``.

Decoders accept only the texts their encoder produces (``ValueError`` for any other text).
Error messages never repeat the value.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Final

from custrec._checks import check, integer, require_aware

__all__ = [
    "MAX_EXPONENT",
    "decode_date",
    "decode_instant",
    "decode_number",
    "encode_date",
    "encode_instant",
    "encode_number",
    "upper_bound",
]

MAX_EXPONENT: Final = 999_999
"""The largest ``|adjusted exponent|`` :func:`encode_number` accepts: ``10**-999999 <= |x| <
10**1000000`` for a value other than zero."""

_NEGATIVE: Final = "n"
_ZERO: Final = "o"
_POSITIVE: Final = "p"
_TERMINATOR: Final = "~"  # ends a negative value's digits; above every digit
_MAX_EXPONENT_DIGITS: Final = len(str(MAX_EXPONENT))  # 6: letters a..f and Z..U
_COMPLEMENT: Final = str.maketrans("0123456789", "9876543210")
_ASCII_DIGITS: Final = re.compile(r"[0-9]+")
# Below this adjusted exponent a whole number decodes without an exponent (Decimal('100'), not
# Decimal('1E+2')): up to 28 digits, the default context's precision.
_PLAIN_INTEGER_BELOW: Final = 28


def _digits_of(text: str) -> bool:
    return _ASCII_DIGITS.fullmatch(text) is not None


def _encode_exponent(exponent: int) -> str:
    digits = str(abs(exponent))
    if exponent >= 0:
        return chr(ord("a") + len(digits) - 1) + digits
    return chr(ord("Z") - len(digits) + 1) + digits.translate(_COMPLEMENT)


def _decode_exponent(text: str, start: int) -> tuple[int, int]:
    """Read an exponent at ``text[start:]``; return it and the index after it."""
    letter = text[start : start + 1]
    if "a" <= letter <= chr(ord("a") + _MAX_EXPONENT_DIGITS - 1):
        length, negative = ord(letter) - ord("a") + 1, False
    elif chr(ord("Z") - _MAX_EXPONENT_DIGITS + 1) <= letter <= "Z":
        length, negative = ord("Z") - ord(letter) + 1, True
    else:
        raise ValueError("not an encoded number (bad exponent)")
    end = start + 1 + length
    digits = text[start + 1 : end]
    if len(digits) != length or not _digits_of(digits):
        raise ValueError("not an encoded number (bad exponent)")
    if negative:
        digits = digits.translate(_COMPLEMENT)
    if (length > 1 and digits[0] == "0") or (negative and digits == "0"):
        raise ValueError("not an encoded number (exponent not in its shortest form)")
    return (-int(digits) if negative else int(digits)), end


def encode_number(value: int | Decimal) -> str:
    """Encode a finite ``int`` or ``Decimal`` as text whose code-point order is numeric order.

    Numerically equal values encode equally (``Decimal("-0")`` and ``0`` too). ``TypeError`` for
    another type (``bool`` and ``float`` included), ``ValueError`` for NaN, an infinity or an
    adjusted exponent beyond :data:`MAX_EXPONENT`.

    >>> encode_number(Decimal("1.50")) == encode_number(Decimal("1.5"))
    True
    >>> encode_number(-3) < encode_number(Decimal("-2.99")) < encode_number(0)
    True
    """
    if not isinstance(value, Decimal):
        try:
            check("value", value, integer())  # an int, not a bool
        except TypeError:
            kind = type(value).__name__
            raise TypeError(f"value must be an int or a Decimal, not {kind}") from None
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError("value must be a finite number (not NaN or an infinity)")
    if number.is_zero():
        return _ZERO
    sign, digit_tuple, _ = number.as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent = number.adjusted()
    if abs(exponent) > MAX_EXPONENT:
        raise ValueError(f"value's decimal exponent must be within ±{MAX_EXPONENT}")
    if not sign:
        return _POSITIVE + _encode_exponent(exponent) + digits
    return _NEGATIVE + _encode_exponent(-exponent) + digits.translate(_COMPLEMENT) + _TERMINATOR


def decode_number(text: str) -> Decimal:
    """Return the number :func:`encode_number` wrote as ``text``.

    The result equals the encoded value numerically, in its shortest form without trailing
    zeros (``Decimal('12.5')``; a whole number of up to 28 digits is written without an
    exponent, ``Decimal('100')``). ``ValueError`` for a text no value encodes to.

    >>> decode_number(encode_number(Decimal("-0.0500")))
    Decimal('-0.05')
    >>> decode_number(encode_number(100))
    Decimal('100')
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    if text == _ZERO:
        return Decimal(0)
    sign = text[:1]
    if sign not in (_POSITIVE, _NEGATIVE) or not text.isascii():
        raise ValueError("not an encoded number")
    exponent, start = _decode_exponent(text, 1)
    if sign == _POSITIVE:
        digits = text[start:]
    else:
        if not text.endswith(_TERMINATOR):
            raise ValueError("not an encoded number (no terminator)")
        digits = text[start:-1].translate(_COMPLEMENT)
        exponent = -exponent
    if not _digits_of(digits) or digits[0] == "0" or digits[-1] == "0":
        raise ValueError("not an encoded number (bad digits)")
    places = exponent - (len(digits) - 1)  # the exponent of the last digit
    if places > 0 and exponent < _PLAIN_INTEGER_BELOW:
        digits, places = digits + "0" * places, 0
    return Decimal((int(sign == _NEGATIVE), tuple(map(int, digits)), places))


# ------------------------------------------------------------------------------ instants, dates

_INSTANT: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{6})Z"
)
_DATE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def encode_instant(dt: datetime) -> str:
    """Encode an aware ``datetime`` as fixed-width UTC text with microseconds.

    Equal instants encode equally whatever their time zone, and text order is time order.
    ``TypeError`` for a non-datetime, ``ValueError`` for a naive one or for an instant whose
    UTC year is outside 1..9999.

    >>> from datetime import timedelta, timezone
    >>> encode_instant(datetime(2026, 3, 1, 16, 0, tzinfo=timezone(timedelta(hours=8))))
    '2026-03-01T08:00:00.000000Z'
    """
    require_aware(dt, "dt")
    try:
        utc = dt.astimezone(UTC)
    except OverflowError:
        raise ValueError("dt must be an instant within the years 1..9999 in UTC") from None
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}Z"
    )


def decode_instant(text: str) -> datetime:
    """Return the instant :func:`encode_instant` wrote as ``text``, as a UTC ``datetime``.

    >>> decode_instant("2026-03-01T08:00:00.000000Z")
    datetime.datetime(2026, 3, 1, 8, 0, tzinfo=datetime.timezone.utc)
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    match = _INSTANT.fullmatch(text)
    if match is None:
        raise ValueError("not an encoded instant")
    year, month, day, hour, minute, second, micro = map(int, match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError:
        raise ValueError("not an encoded instant (no such date or time)") from None


def encode_date(d: date) -> str:
    """Encode a calendar date as ``YYYY-MM-DD``; ``TypeError`` for a ``datetime`` or another type.

    >>> encode_date(date(987, 6, 5))
    '0987-06-05'
    """
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"d must be a date, not {type(d).__name__}")
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def decode_date(text: str) -> date:
    """Return the date :func:`encode_date` wrote as ``text``.

    >>> decode_date("2026-03-01")
    datetime.date(2026, 3, 1)
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError("not an encoded date")
    year, month, day = map(int, match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError("not an encoded date (no such date)") from None


# ------------------------------------------------------------------------------ prefix ranges

_MAX_CODE_POINT: Final = 0x10FFFF
_SURROGATES: Final = range(0xD800, 0xE000)


def upper_bound(prefix: str) -> str:
    """Return the smallest text above every text that starts with ``prefix``.

    A storable text ``t`` starts with ``prefix`` exactly when ``prefix <= t <
    upper_bound(prefix)``. The last code point is incremented; trailing U+10FFFF are dropped
    first, and the surrogates (never in storable text) are skipped. ``ValueError`` for an empty
    prefix or one made only of U+10FFFF, which no text bounds.

    >>> upper_bound("grade=")
    'grade>'
    >>> upper_bound("a\\U0010ffff")
    'b'
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be str, not {type(prefix).__name__}")
    rest = prefix.rstrip(chr(_MAX_CODE_POINT))
    if not rest:
        raise ValueError("prefix must contain a code point below U+10FFFF")
    following = ord(rest[-1]) + 1
    if following in _SURROGATES:
        following = _SURROGATES.stop
    return rest[:-1] + chr(following)
