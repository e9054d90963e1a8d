"""Argument checks, once: attrs-style validator factories, usable on fields and on arguments.

Each factory returns a validator ``(instance, attribute, value) -> None`` that raises
``TypeError`` for a value of the wrong type and ``ValueError`` for a wrong value, naming the
field or argument and never repeating the value. A ``bool`` is never an integer or a number.
Use one on an attrs field (``attrs.field(validator=positive_int())``) or on a function argument
with :func:`check`, which returns the value:

>>> check("limit", 10, positive_int())
10
>>> check("limit", 0, positive_int())
Traceback (most recent call last):
...
ValueError: limit must be a positive integer
>>> check("limit", True, positive_int())
Traceback (most recent call last):
...
TypeError: limit must be a positive integer, not bool
>>> check("bins", 1, int_range(2))
Traceback (most recent call last):
...
ValueError: bins must be an integer of at least 2
>>> check("n", -1, int_range(0))
Traceback (most recent call last):
...
ValueError: n must be a non-negative integer
>>> check("r", 6, int_range(1, 5))
Traceback (most recent call last):
...
ValueError: r must be an integer from 1 to 5

:func:`require_aware` is the typed form of ``check(name, value, aware())`` for a value not yet
known to be a ``datetime``:

>>> from datetime import UTC, datetime
>>> require_aware(datetime(2025, 1, 1, tzinfo=UTC), "as_of").year
2025
>>> require_aware(datetime(2025, 1, 1), "as_of")
Traceback (most recent call last):
...
ValueError: as_of must be timezone-aware (a naive datetime is ambiguous)
"""

from __future__ import annotations

import enum
import math
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Final, TypeVar

from custrec._text import has_invalid_character

__all__ = [
    "Validator",
    "aware",
    "calendar_date",
    "check",
    "flag",
    "int_range",
    "integer",
    "is_aware",
    "max_length",
    "member_of",
    "non_empty_text",
    "number_range",
    "optional",
    "positive_int",
    "positive_number",
    "printable_text",
    "require_aware",
    "single_line",
    "storable_text",
    "unique_items",
]

_T = TypeVar("_T")

Validator = Callable[[Any, Any, Any], None]
"""An attrs-style validator: ``(instance, attribute, value) -> None``, raising when invalid."""


def _name(attribute: Any) -> str:
    return str(getattr(attribute, "name", attribute))


def _type(value: object) -> str:
    return type(value).__name__


class _Named:
    """Stands in for an attrs attribute when a validator checks a function argument."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def check(name: str, value: _T, validator: Validator) -> _T:
    """Run ``validator`` on the argument ``name`` and return the value unchanged."""
    validator(None, _Named(name), value)
    return value


# ------------------------------------------------------------------------------ instants


def require_aware(value: object, name: str) -> datetime:
    """Return ``value`` if it is a timezone-aware ``datetime`` (see :func:`aware`); raise otherwise.

    ``TypeError`` for a non-datetime (a ``date`` included), ``ValueError`` for a naive datetime.
    """
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a timezone-aware datetime, not {_type(value)}")
    if value.utcoffset() is None:  # also when tzinfo is None
        raise ValueError(f"{name} must be timezone-aware (a naive datetime is ambiguous)")
    return value


def is_aware(value: object) -> bool:
    """Whether ``value`` is a timezone-aware ``datetime`` (for a check that reports instead of
    raising)."""
    return isinstance(value, datetime) and value.utcoffset() is not None


def aware() -> Validator:
    """A timezone-aware ``datetime``: ``TypeError`` for another type (a ``date`` too),
    ``ValueError`` for a naive datetime.

    >>> from datetime import datetime
    >>> check("at", datetime(2025, 1, 1), aware())
    Traceback (most recent call last):
    ...
    ValueError: at must be timezone-aware (a naive datetime is ambiguous)
    """

    def validate(_: Any, attribute: Any, value: Any) -> None:
        require_aware(value, _name(attribute))

    return validate


def calendar_date() -> Validator:
    """A calendar ``date`` that is not a ``datetime`` (``TypeError`` otherwise).

    >>> from datetime import date, datetime
    >>> check("born", date(2000, 1, 31), calendar_date())
    datetime.date(2000, 1, 31)
    >>> check("born", datetime(2000, 1, 31), calendar_date())
    Traceback (most recent call last):
    ...
    TypeError: born must be a date, not datetime
    """

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"{_name(attribute)} must be a date, not {_type(value)}")

    return validate


# ------------------------------------------------------------------------------- numbers


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer() -> Validator:
    """Any ``int`` (not a ``bool``; ``TypeError`` otherwise)."""

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not _is_int(value):
            raise TypeError(f"{_name(attribute)} must be an integer, not {_type(value)}")

    return validate


def positive_int(*, at_most: int | None = None) -> Validator:
    """An ``int`` (not a ``bool``) of at least 1, and at most ``at_most`` when given.

    ``TypeError`` for another type, ``ValueError`` for zero, a negative or too large an int.
    """

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not _is_int(value):
            raise TypeError(f"{_name(attribute)} must be a positive integer, not {_type(value)}")
        if value <= 0:
            raise ValueError(f"{_name(attribute)} must be a positive integer")
        if at_most is not None and value > at_most:
            raise ValueError(f"{_name(attribute)} must be at most {at_most}")

    return validate


def int_range(minimum: int, maximum: int | None = None) -> Validator:
    """An ``int`` (not a ``bool``) from ``minimum`` up to ``maximum`` (inclusive; no upper bound
    when ``None``): ``int_range(0)`` is a count, ``int_range(2)`` at least two, ``int_range(1, 5)``
    a score. ``TypeError`` for another type, ``ValueError`` outside the range.
    """
    if maximum is None:
        wrong = (
            "must be a non-negative integer"
            if minimum == 0
            else f"must be an integer of at least {minimum}"
        )
    else:
        wrong = f"must be an integer from {minimum} to {maximum}"

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not _is_int(value):
            raise TypeError(f"{_name(attribute)} must be an integer, not {_type(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError(f"{_name(attribute)} {wrong}")

    return validate


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number_range(minimum: float, maximum: float) -> Validator:
    """An ``int`` or ``float`` (not a ``bool``) from ``minimum`` to ``maximum`` inclusive (so not
    NaN). ``TypeError`` for another type, ``ValueError`` outside the range.

    >>> check("share", 0.25, number_range(0, 1))
    0.25
    >>> check("share", 1.5, number_range(0, 1))
    Traceback (most recent call last):
    ...
    ValueError: share must be a number from 0 to 1
    """

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not _is_real(value):
            raise TypeError(f"{_name(attribute)} must be a number, not {_type(value)}")
        if not minimum <= value <= maximum:
            raise ValueError(f"{_name(attribute)} must be a number from {minimum} to {maximum}")

    return validate


def positive_number() -> Validator:
    """A finite ``int`` or ``float`` (not a ``bool``) above zero.

    ``TypeError`` for another type, ``ValueError`` for zero, a negative, NaN or an infinity.
    """

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not _is_real(value):
            raise TypeError(f"{_name(attribute)} must be a number, not {_type(value)}")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{_name(attribute)} must be a positive, finite number")

    return validate


# ---------------------------------------------------------------------------------- text


def non_empty_text() -> Validator:
    """A ``str`` with something other than white space in it.

    >>> check("title", " ", non_empty_text())
    Traceback (most recent call last):
    ...
    ValueError: title must not be blank
    """

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{_name(attribute)} must be a string, not {_type(value)}")
        if not value.strip():
            raise ValueError(f"{_name(attribute)} must not be blank")

    return validate


def storable_text() -> Validator:
    """A ``str`` without lone surrogates or NUL characters (what storage can keep)."""

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{_name(attribute)} must be a string, not {_type(value)}")
        if has_invalid_character(value):
            raise ValueError(f"{_name(attribute)} must not hold a lone surrogate or NUL")

    return validate


_BIDI: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Bidirectional embeddings, overrides and isolates: they reorder what follows them on a line."""


def _breaks_a_line(char: str) -> bool:
    """A control character, a line or paragraph separator, or a format character (bidi
    controls, zero-width spaces, a byte order mark) but the zero-width joiner and non-joiner
    that Persian and Indic names need."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cf") and char not in "\u200c\u200d"


def single_line() -> Validator:
    """A ``str`` without control, format or line-break characters (a name, a contact: text
    printed one per line, where a line feed, a terminal escape or a bidi override would forge
    or reorder a line).

    >>> check("name", "A\\nB", single_line())
    Traceback (most recent call last):
    ...
    ValueError: name must be one line without control or format characters
    """

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{_name(attribute)} must be a string, not {_type(value)}")
        if not value.isprintable() and any(_breaks_a_line(c) for c in value):
            raise ValueError(
                f"{_name(attribute)} must be one line without control or format characters"
            )

    return validate


def printable_text() -> Validator:
    """A ``str`` whose only control characters are line feeds and tabs, without bidi controls
    (a note of several lines, with no terminal escape, carriage return or override to change
    what was printed)."""

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{_name(attribute)} must be a string, not {_type(value)}")
        if any(
            (unicodedata.category(c) in ("Cc", "Zl", "Zp") and c not in "\n\t") or c in _BIDI
            for c in value
        ):
            raise ValueError(
                f"{_name(attribute)} must not hold control characters other than line feeds "
                "and tabs, or bidi controls"
            )

    return validate


def flag() -> Validator:
    """``True`` or ``False`` (not a number or a string that reads as one).

    >>> check("allow_masked", 1, flag())
    Traceback (most recent call last):
    ...
    TypeError: allow_masked must be True or False, not int
    """

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if value is not True and value is not False:
            raise TypeError(f"{_name(attribute)} must be True or False, not {_type(value)}")

    return validate


def max_length(limit: int) -> Validator:
    """A ``str`` of at most ``limit`` characters (the value is never repeated).

    >>> check("note", "x" * 5, max_length(4))
    Traceback (most recent call last):
    ...
    ValueError: note must be at most 4 characters long
    """

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{_name(attribute)} must be a string, not {_type(value)}")
        if len(value) > limit:
            raise ValueError(f"{_name(attribute)} must be at most {limit} characters long")

    return validate


# ------------------------------------------------------------------------- other values


def member_of(enum_cls: type[enum.Enum]) -> Validator:
    """A member of ``enum_cls`` (``TypeError`` otherwise: no conversion from its value).

    >>> class Colour(enum.Enum):
    ...     RED = "red"
    >>> check("colour", "red", member_of(Colour))
    Traceback (most recent call last):
    ...
    TypeError: colour must be a Colour, not str
    """

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, enum_cls):
            raise TypeError(f"{_name(attribute)} must be a {enum_cls.__name__}, not {_type(value)}")

    return validate


def unique_items() -> Validator:
    """A collection of hashable items without a repeat (``ValueError`` for one).

    >>> check("purposes", ("a", "b", "a"), unique_items())
    Traceback (most recent call last):
    ...
    ValueError: purposes must not repeat an item
    """

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if len(set(value)) != len(value):
            raise ValueError(f"{_name(attribute)} must not repeat an item")

    return validate


def optional(validator: Validator) -> Validator:
    """``None``, or what ``validator`` accepts."""

    def validate(instance: Any, attribute: Any, value: Any) -> None:
        if value is not None:
            validator(instance, attribute, value)

    return validate
