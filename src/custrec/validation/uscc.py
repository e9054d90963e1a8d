"""USCC: China's unified social credit code (统一社会信用代码, GB 32100-2015).

Every legal person and other organisation registered in China has one 18-character code, drawn
from a 31-symbol alphabet (the digits and the capital letters except I, O, S, V and Z):

====================  =========================================================================
position              meaning
====================  =========================================================================
1                     registration authority (``1``-``9``, ``A``, ``N`` or ``Y``; ``9`` is
                      industry and commerce / market regulation)
2                     organisation type within that authority
3-8                   administrative division code of the registering office (digits)
9-17                  organisation code body (the GB 11714 organisation code)
18                    check character, ISO 7064 MOD 31-3
====================  =========================================================================

>>> validate("91110000600037341L")
'91110000600037341L'
>>> validate(" 9111 0000-6000 3734 1l ")
'91110000600037341L'
>>> is_valid("91110000600037341M")
False
>>> validate("91110000600037341M")
Traceback (most recent call last):
    ...
custrec.errors.InvalidIdentifier: the USCC check character does not match
>>> division_code("91110000600037341L"), registration_authority("91110000600037341L")
('110000', '9')
>>> calc_check_digit("91110000600037341")
'L'
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Final

from custrec import _text
from custrec.errors import InvalidIdentifier
from custrec.validation._ascii import compact_ascii

__all__ = [
    "ALPHABET",
    "calc_check_digit",
    "compact",
    "division_code",
    "format",
    "is_valid",
    "organization_code",
    "registration_authority",
    "validate",
]

ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 symbols a USCC is written in; a symbol's value is its index."""

_VALUES: Final = {symbol: value for value, symbol in enumerate(ALPHABET)}
_AUTHORITIES: Final = frozenset("123456789ANY")
_WEIGHTS: Final = tuple(pow(3, i, 31) for i in range(17))  # W_i = 3^(i-1) mod 31, i = 1..17
_LENGTH: Final = 18
# Longer inputs cannot compact to 18 characters in any realistic way; refuse them before NFKC.
_MAX_INPUT: Final = 256
_ASCII_UPPER: Final = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_NOT_TEXT: Final = "a USCC must be given as a string"
# A compact, well-formed code: the shape ``_structure_problem`` accepts, written as one pattern.
_WELL_FORMED: Final = re.compile(r"[1-9ANY][0-9A-HJ-NP-RTUW-Y][0-9]{6}[0-9A-HJ-NP-RTUW-Y]{10}")
_SYMBOLS: Final = re.compile(r"[0-9A-HJ-NP-RTUW-Y]*")
# Each symbol as the base-34 digit of its value (0-9, then A-U for 10-30).
_BASE_34: Final = bytes.maketrans(ALPHABET.encode(), b"0123456789ABCDEFGHIJKLMNOPQRSTU")

_LENGTH_MESSAGE: Final = "a USCC has 18 characters"
_ALPHABET_MESSAGE: Final = "a USCC uses only digits and capital letters except I, O, S, V, Z"
_AUTHORITY_MESSAGE: Final = "the USCC registration authority code is not 1-9, A, N or Y"
_DIVISION_MESSAGE: Final = "the USCC administrative division code must be six digits"
_CHECKSUM_MESSAGE: Final = "the USCC check character does not match"


def _error(code: str, message: str) -> InvalidIdentifier:
    return InvalidIdentifier(message, code=f"uscc.{code}")


def compact(number: str) -> str:
    """Return ``number`` NFKC-normalised, without whitespace or hyphens, ASCII letters upper-cased.

    Never raises for a ``str``; the result is not validated. Raises
    :class:`~custrec.errors.InvalidIdentifier` (code ``uscc.format``) if ``number`` is not a
    ``str``.

    >>> compact("９１１１ ００００-６０００３７３４１ｌ")
    '91110000600037341L'
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


def _structure_problem(value: str) -> tuple[str, str] | None:
    """The ``(code, message)`` of the first structural problem of a compact ``value``, if any."""
    if len(value) != _LENGTH:
        return "length", _LENGTH_MESSAGE
    if not _SYMBOLS.fullmatch(value):
        return "format", _ALPHABET_MESSAGE
    if value[0] not in _AUTHORITIES:
        return "format", _AUTHORITY_MESSAGE
    if not value[2:8].isdigit():
        return "format", _DIVISION_MESSAGE
    return None


def _check_value(body: str) -> int:
    """The check value of the first 17 symbols of ``body`` (all of :data:`ALPHABET`).

    The weighted sum S = sum(v_i * 3^i) mod 31 is the value of the 17 symbols read backwards as
    a base-34 number, modulo 31, since 34 = 3 (mod 31): ``int`` does the sum in C.
    """
    return -int(body[16::-1].encode("ascii").translate(_BASE_34), 34) % 31  # 31 - S, 31 as 0


def _check(number: object) -> str | tuple[str, str]:
    """The compact form of a valid USCC, or the ``(code, message)`` :func:`validate` raises."""
    if type(number) is str and _WELL_FORMED.fullmatch(number):
        value = number  # compact already: compacting it would change nothing
    else:
        if not isinstance(number, str):
            return "format", _NOT_TEXT
        if len(number) > _MAX_INPUT:
            return "length", _LENGTH_MESSAGE
        value = compact(number)
        if not _WELL_FORMED.fullmatch(value):
            problem = _structure_problem(value)
            if problem is not None:
                return problem
    if ALPHABET[_check_value(value)] != value[17]:
        return "checksum", _CHECKSUM_MESSAGE
    return value


def calc_check_digit(body: str) -> str:
    """Return the check character for the first 17 characters of a USCC.

    Raises :class:`~custrec.errors.InvalidIdentifier` (code ``uscc.format``) unless ``body`` is
    17 symbols of :data:`ALPHABET`.
    """
    if not (isinstance(body, str) and len(body) == _LENGTH - 1 and all(s in _VALUES for s in body)):
        raise _error("format", "the USCC body must be 17 symbols of the USCC alphabet")
    return ALPHABET[_check_value(body)]


def validate(number: str) -> str:
    """Return the compact form of a valid USCC.

    Raises :class:`~custrec.errors.InvalidIdentifier` with code ``uscc.length`` (not 18
    characters after compacting), ``uscc.format`` (a symbol outside the alphabet, a bad
    registration authority, a non-digit in the division code, or ``number`` not a ``str``) or
    ``uscc.checksum`` (wrong check character).
    """
    result = _check(number)
    if isinstance(result, tuple):
        raise _error(*result)
    return result


def is_valid(number: object) -> bool:
    """Return whether ``number`` is a valid USCC; never raises, whatever ``number`` is."""
    return not isinstance(_check(number), tuple)


def format(number: str) -> str:
    """Return the display form of ``number``: its compact 18 characters.

    The result is not validated; never raises for a ``str``. Raises
    :class:`~custrec.errors.InvalidIdentifier` (code ``uscc.format``) if ``number`` is not a
    ``str``.
    """
    return compact(number)


def registration_authority(number: str) -> str:
    """Return the registration authority code (position 1) of a valid USCC.

    Raises :class:`~custrec.errors.InvalidIdentifier` as :func:`validate` does.
    """
    return validate(number)[0]


def division_code(number: str) -> str:
    """Return the six-digit administrative division code (positions 3-8) of a valid USCC.

    Raises :class:`~custrec.errors.InvalidIdentifier` as :func:`validate` does.
    """
    return validate(number)[2:8]


def organization_code(number: str) -> str:
    """Return the nine-character organisation code (positions 9-17) of a valid USCC.

    Raises :class:`~custrec.errors.InvalidIdentifier` as :func:`validate` does.
    """
    return validate(number)[8:17]
