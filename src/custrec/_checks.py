"""Argument checks, once: attrs-style validator factories, usable on fields and on arguments.

Each factory returns a validator ``(instance, attribute, value) -> None`` that raises
``TypeError`` for a value of the wrong type and ``ValueError`` for a wrong value, naming the
field or argument and never repeating the value. Use one on an attrs field
(``attrs.field(validator=positive_int())``) or on a function argument with :func:`check`:

>>> check("limit", 10, positive_int())
10
>>> check("limit", 0, positive_int())
Traceback (most recent call last):
...
ValueError: limit must be a positive integer
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from custrec._text import has_invalid_character

__all__ = [
    "Validator",
    "aware",
    "check",
    "non_empty_text",
    "optional",
    "positive_int",
    "storable_text",
]

_T = TypeVar("_T")

Validator = Callable[[Any, Any, Any], None]
"""An attrs-style validator: ``(instance, attribute, value) -> None``, raising when invalid."""


def _name(attribute: Any) -> str:
    return str(getattr(attribute, "name", attribute))


class _Named:
    """Stands in for an attrs attribute when a validator checks a function argument."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def check(name: str, value: _T, validator: Validator) -> _T:
    """Run ``validator`` on the argument ``name`` and return the value unchanged."""
    validator(None, _Named(name), value)
    return value


def positive_int(*, at_most: int | None = None) -> Validator:
    """An ``int`` (not a ``bool``) of at least 1, and at most ``at_most`` when given."""

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{_name(attribute)} must be a positive integer")
        if at_most is not None and value > at_most:
            raise ValueError(f"{_name(attribute)} must be at most {at_most}")

    return validate


def aware() -> Validator:
    """A timezone-aware ``datetime`` (``ValueError`` for a naive one or another type)."""

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{_name(attribute)} must be a timezone-aware datetime")

    return validate


def non_empty_text() -> Validator:
    """A ``str`` with something other than white space in it."""

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{_name(attribute)} must be a string")
        if not value.strip():
            raise ValueError(f"{_name(attribute)} must not be empty")

    return validate


def storable_text() -> Validator:
    """A ``str`` without lone surrogates or NUL characters (what storage can keep)."""

    def validate(_: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{_name(attribute)} must be a string")
        if has_invalid_character(value):
            raise ValueError(f"{_name(attribute)} must not hold a lone surrogate or NUL")

    return validate


def optional(validator: Validator) -> Validator:
    """``None``, or what ``validator`` accepts."""

    def validate(instance: Any, attribute: Any, value: Any) -> None:
        if value is not None:
            validator(instance, attribute, value)

    return validate
