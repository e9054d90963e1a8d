"""RIC: China's resident identity card number (公民身份号码, GB 11643-1999).

An 18-character number: a six-digit address code, the birth date as ``YYYYMMDD``, a three-digit
sequence number (odd for men, even for women) and an ISO 7064 MOD 11-2 check character (a digit,
or ``X`` for ten). Cards issued before 1999 carry a 15-digit number (``YYMMDD`` birth date in the
1900s and no check character); :func:`validate` accepts those and returns the 18-digit form.

The address code is only checked for shape (six digits, the first not zero): division codes
change over time and a number keeps the code of the place where it was first issued.

>>> validate("11010519491231002x")
'11010519491231002X'
>>> validate("110105491231002")
'11010519491231002X'
>>> birth_date("11010519491231002X")
datetime.date(1949, 12, 31)
>>> sex("11010519491231002X")
<Gender.FEMALE: 'female'>
>>> validate("110105194912310021")
Traceback (most recent call last):
    ...
custrec.errors.InvalidIdentifier: the resident ID check character does not match
"""

from __future__ import annotations

import datetime as _dt
import string
import unicodedata
from typing import Final

from custrec import _text
from custrec.errors import InvalidIdentifier
from custrec.model.records import Gender

__all__ = [
    "birth_date",
    "calc_check_digit",
    "compact",
    "format",
    "is_valid",
    "sex",
    "to_18",
    "validate",
]

_WEIGHTS: Final = tuple(pow(2, 17 - i, 11) for i in range(17))  # W_i = 2^(18-i) mod 11
_CHECK_SYMBOLS: Final = "0123456789X"
_EARLIEST: Final = _dt.date(1880, 1, 1)
_MAX_INPUT: Final = 256
_ASCII_UPPER: Final = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_NOT_TEXT: Final = "a resident ID must be given as a string"


def _error(code: str, message: str) -> InvalidIdentifier:
    return InvalidIdentifier(message, code=f"ric.{code}")


def _is_ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def compact(number: str) -> str:
    """Return ``number`` NFKC-normalised, without whitespace or hyphens, ASCII letters upper-cased.

    Never raises for a ``str``; the result is not validated. Raises
    :class:`~custrec.errors.InvalidIdentifier` (code ``ric.format``) if ``number`` is not a
    ``str``.

    >>> compact("１１０１０５ １９４９１２３１ ００２ｘ")
    '11010519491231002X'
    """
    if not isinstance(number, str):
        raise _error("format", _NOT_TEXT)
    text = _text.compact(number, strip="-")
    if not text.isascii():
        # Removing spaces can leave combining marks next to a base letter: recompose them so
        # that compacting twice gives the same result.
        text = unicodedata.normalize("NFKC", text)
    return text.translate(_ASCII_UPPER)


def calc_check_digit(body: str) -> str:
    """Return the check character (``0``-``9`` or ``X``) for the first 17 digits of a number.

    Raises :class:`~custrec.errors.InvalidIdentifier` (code ``ric.format``) unless ``body`` is
    17 ASCII digits.

    >>> calc_check_digit("11010519491231002")
    'X'
    """
    if not (isinstance(body, str) and len(body) == 17 and _is_ascii_digits(body)):
        raise _error("format", "the resident ID body must be 17 digits")
    total = sum(int(digit) * weight for digit, weight in zip(body, _WEIGHTS, strict=True))
    return _CHECK_SYMBOLS[(12 - total % 11) % 11]


def _resolve_today(today: _dt.date | None) -> _dt.date:
    if today is None:
        return _dt.date.today()
    if isinstance(today, _dt.datetime):
        return today.date()
    return today


def _parse_birth_date(text: str, today: _dt.date) -> _dt.date:
    """Parse ``YYYYMMDD`` (ASCII digits already checked) and check its range."""
    try:
        born = _dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise _error("birth_date", "the resident ID birth date is not a calendar date") from None
    if born < _EARLIEST:
        raise _error("birth_date", "the resident ID birth date is before 1880")
    if born > today:
        raise _error("birth_date", "the resident ID birth date is in the future")
    return born


def _check_shape(value: str) -> None:
    if len(value) == 18:
        if not (_is_ascii_digits(value[:17]) and value[17] in _CHECK_SYMBOLS):
            raise _error("format", "a resident ID is 17 digits and a digit or X")
    elif len(value) == 15:
        if not _is_ascii_digits(value):
            raise _error("format", "a 15-digit resident ID has digits only")
    else:
        raise _error("length", "a resident ID has 18 characters (15 for old cards)")
    if value[0] == "0":
        raise _error("format", "a resident ID address code does not start with 0")


def _validate(number: object, today: _dt.date | None) -> tuple[str, _dt.date]:
    """Return the 18-character form and the birth date of a valid number."""
    if not isinstance(number, str):
        raise _error("format", _NOT_TEXT)
    if len(number) > _MAX_INPUT:
        raise _error("length", "a resident ID has 18 characters (15 for old cards)")
    value = compact(number)
    _check_shape(value)
    if len(value) == 15:
        value = f"{value[:6]}19{value[6:]}"
        born = _parse_birth_date(value[6:14], _resolve_today(today))
        return value + calc_check_digit(value), born
    born = _parse_birth_date(value[6:14], _resolve_today(today))
    if calc_check_digit(value[:17]) != value[17]:
        raise _error("checksum", "the resident ID check character does not match")
    return value, born


def validate(number: str, *, today: _dt.date | None = None) -> str:
    """Return the 18-character form of a valid resident ID number.

    A 15-digit number is converted to 18 digits. ``today`` (default: the current date) is the
    latest acceptable birth date. Raises :class:`~custrec.errors.InvalidIdentifier` with code,
    checked in this order: ``ric.length`` (neither 18 nor 15 characters after compacting),
    ``ric.format`` (a non-digit, an address code starting with 0, or ``number`` not a ``str``),
    ``ric.birth_date`` (not a calendar date, before 1880-01-01 or after ``today``) and
    ``ric.checksum`` (wrong check character).
    """
    return _validate(number, today)[0]


def is_valid(number: object, *, today: _dt.date | None = None) -> bool:
    """Return whether ``number`` is a valid resident ID number; never raises for any ``number``."""
    try:
        _validate(number, today)
    except InvalidIdentifier:
        return False
    return True


def to_18(number: str) -> str:
    """Return the 18-digit form of a legacy 15-digit (or an 18-character) resident ID number.

    Raises :class:`~custrec.errors.InvalidIdentifier` as :func:`validate` does (``ric.length``,
    ``ric.format`` or ``ric.birth_date`` for a bad 15-digit number).

    >>> to_18("110105491231002")
    '11010519491231002X'
    """
    return _validate(number, None)[0]


def format(number: str) -> str:
    """Return the display form of ``number``: its compact form.

    The result is not validated; never raises for a ``str``. Raises
    :class:`~custrec.errors.InvalidIdentifier` (code ``ric.format``) if ``number`` is not a
    ``str``.
    """
    return compact(number)


def birth_date(number: str, *, today: _dt.date | None = None) -> _dt.date:
    """Return the birth date encoded in a valid resident ID number.

    Raises :class:`~custrec.errors.InvalidIdentifier` as :func:`validate` does.
    """
    return _validate(number, today)[1]


def sex(number: str, *, today: _dt.date | None = None) -> Gender:
    """Return ``Gender.MALE`` or ``Gender.FEMALE`` from the sequence number's parity.

    Raises :class:`~custrec.errors.InvalidIdentifier` as :func:`validate` does.
    """
    value = _validate(number, today)[0]
    return Gender.MALE if int(value[16]) % 2 else Gender.FEMALE
