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
import re
import string
import unicodedata
from typing import Final

from custrec import _text
from custrec.errors import InvalidIdentifier
from custrec.model.records import Gender
from custrec.validation._ascii import compact_ascii

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

_CHECK_SYMBOLS: Final = "0123456789X"
_EARLIEST: Final = _dt.date(1880, 1, 1)
_MAX_INPUT: Final = 256
_ASCII_UPPER: Final = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_NOT_TEXT: Final = "a resident ID must be given as a string"
# A compact 18-character number of the right shape (what ``_shape_problem`` accepts).
_WELL_FORMED_18: Final = re.compile(r"[1-9][0-9]{16}[0-9X]")

_LENGTH_MESSAGE: Final = "a resident ID has 18 characters (15 for old cards)"
_NOT_A_DATE: Final = "the resident ID birth date is not a calendar date"
_CHECKSUM_MESSAGE: Final = "the resident ID check character does not match"

_Problem = tuple[str, str]  # (code without the "ric." prefix, message)


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
    if number.isascii():
        return compact_ascii(number)
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
    return _check_symbol(body)


def _check_symbol(body: str) -> str:
    """The check character of 17 ASCII digits.

    The weighted sum S = sum(d_i * W_i), W_i = 2^(18-i) mod 11 (i = 1..17), is modulo 11
    twice the 17 digits read as a base-13 number (13 = 2 mod 11): ``int`` does the sum in C.
    """
    return _CHECK_SYMBOLS[(12 - 2 * int(body, 13)) % 11]


def _resolve_today(today: _dt.date | None) -> _dt.date:
    if today is None:
        return _dt.date.today()
    if isinstance(today, _dt.datetime):
        return today.date()
    return today


def _birth_date(text: str, today: _dt.date | None) -> _dt.date | _Problem:
    """Parse ``YYYYMMDD`` (ASCII digits already checked) and check its range."""
    ymd = int(text)
    year, month, day = ymd // 10000, ymd // 100 % 100, ymd % 100
    if year < 1 or not 1 <= month <= 12 or not 1 <= day <= 31:  # date() would refuse them
        return "birth_date", _NOT_A_DATE
    if day <= 28:  # every month has 28 days: date() cannot refuse
        born = _dt.date(year, month, day)
    else:
        try:
            born = _dt.date(year, month, day)
        except ValueError:
            return "birth_date", _NOT_A_DATE
    if born < _EARLIEST:
        return "birth_date", "the resident ID birth date is before 1880"
    if born > _resolve_today(today):
        return "birth_date", "the resident ID birth date is in the future"
    return born


def _shape_problem(value: str) -> _Problem | None:
    if len(value) == 18:
        if not (_is_ascii_digits(value[:17]) and value[17] in _CHECK_SYMBOLS):
            return "format", "a resident ID is 17 digits and a digit or X"
    elif len(value) == 15:
        if not _is_ascii_digits(value):
            return "format", "a 15-digit resident ID has digits only"
    else:
        return "length", _LENGTH_MESSAGE
    if value[0] == "0":
        return "format", "a resident ID address code does not start with 0"
    return None


def _check(number: object, today: _dt.date | None) -> tuple[str, _dt.date] | _Problem:
    """The 18-character form and the birth date of a valid number, or the problem
    :func:`validate` raises (``(code, message)``)."""
    if type(number) is str and _WELL_FORMED_18.fullmatch(number):
        value = number  # compact already: compacting it would change nothing
    else:
        if not isinstance(number, str):
            return "format", _NOT_TEXT
        if len(number) > _MAX_INPUT:
            return "length", _LENGTH_MESSAGE
        value = compact(number)
        if not _WELL_FORMED_18.fullmatch(value):
            problem = _shape_problem(value)
            if problem is not None:
                return problem
        if len(value) == 15:
            value = f"{value[:6]}19{value[6:]}"
            born = _birth_date(value[6:14], today)
            if isinstance(born, tuple):
                return born
            return value + _check_symbol(value), born
    born = _birth_date(value[6:14], today)
    if isinstance(born, tuple):
        return born
    if _check_symbol(value[:17]) != value[17]:
        return "checksum", _CHECKSUM_MESSAGE
    return value, born


def _validate(number: object, today: _dt.date | None) -> tuple[str, _dt.date]:
    """Return the 18-character form and the birth date of a valid number."""
    result = _check(number, today)
    if isinstance(result[1], str):
        raise _error(*result)
    return result


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
    if type(number) is str and _WELL_FORMED_18.fullmatch(number):
        # Only whether there is a problem matters here, not which comes first: the cheap
        # checksum before the birth date (which may need today's date).
        if _check_symbol(number[:17]) != number[17]:
            return False
        return not isinstance(_birth_date(number[6:14], today), tuple)
    return not isinstance(_check(number, today)[1], str)


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
