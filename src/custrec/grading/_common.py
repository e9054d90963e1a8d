"""Private helpers shared by the grading modules: argument checks and number formatting."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

__all__ = [
    "FrozenMap",
    "callable_name",
    "exact",
    "fmt_compared",
    "fmt_fraction",
    "fmt_number",
    "instant",
]

K = TypeVar("K")
V = TypeVar("V")

Number = int | float | Decimal | Fraction


class FrozenMap(Mapping[K, V]):
    """A read-only, hashable, picklable mapping; equal to a ``dict`` with the same items."""

    __slots__ = ("_data",)

    _data: dict[K, V]

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        object.__setattr__(self, "_data", dict(items or {}))

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return repr(self._data)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._data,))


def exact(value: object, name: str) -> Fraction:
    """Convert a finite real number to an exact ``Fraction``; floats go through their shortest repr.

    ``0.8`` therefore becomes exactly ``4/5``, as the caller meant, not the nearest binary float.
    Raises ``TypeError`` for non-numbers (``bool`` included) and ``ValueError`` for NaN/infinity.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | Fraction):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if isinstance(value, int | Fraction):
        return Fraction(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{name} must be finite, got {value}")
    return Fraction(str(value))


def fmt_number(value: object) -> str:
    """Format a number for a human-readable reason: exact for ``Decimal`` and ``int``."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Fraction):
        return fmt_fraction(value)
    if isinstance(value, float):
        return format(value, ".10g")
    return str(value)


def fmt_fraction(value: Fraction, digits: int = 4) -> str:
    """Format a fraction with at most ``digits`` decimals, trailing zeros removed (``0.8``)."""
    text = format(float(value), f".{digits}f").rstrip("0").rstrip(".")
    return text if text not in {"", "-0"} else "0"


def fmt_compared(value: Fraction, other: str) -> str:
    """Like :func:`fmt_fraction`, but more digits when rounding would read as ``other``.

    Used in reasons such as ``combined 0.59999 < 0.6``, which must never print as ``0.6 < 0.6``.
    """
    text = fmt_fraction(value)
    if text == other and value != Fraction(other):
        return fmt_fraction(value, 15)
    return text


def instant(value: datetime) -> str:
    """ISO 8601 text of an instant, for reasons."""
    return value.isoformat()


def callable_name(fn: Callable[..., object], given: str | None, what: str) -> str:
    """A stable name for a user callable, used in ``policy_id``.

    ``given`` wins; otherwise the function's ``__name__``. Lambdas have no useful name, so they
    need an explicit one (``ValueError``).
    """
    if given is not None:
        if not isinstance(given, str) or not given:
            raise ValueError(f"{what}_name must be a non-empty string")
        return given
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or name == "<lambda>":
        raise ValueError(
            f"cannot derive a stable name for the {what} callable; pass {what}_name=... "
            "(it becomes part of policy_id)"
        )
    return name
