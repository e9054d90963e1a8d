"""Private argument checks for the retention modules (attrs validators and plain helpers)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import attrs

from custrec.errors import RetentionError

__all__ = [
    "RetentionError",
    "aware",
    "each",
    "non_empty_text",
    "optional_aware",
    "optional_date",
    "require_aware",
    "to_tuple",
    "unique_items",
]


def require_aware(value: object, name: str) -> datetime:
    """Return ``value`` if it is a timezone-aware ``datetime``; raise otherwise.

    ``TypeError`` for a non-datetime (a ``date`` included), ``ValueError`` for a naive datetime.
    """
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a timezone-aware datetime, not {type(value).__name__}")
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (a naive datetime is ambiguous)")
    return value


def aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: a timezone-aware ``datetime``."""
    require_aware(value, attribute.name)


def optional_aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: ``None`` or a timezone-aware ``datetime``."""
    if value is not None:
        require_aware(value, attribute.name)


def optional_date(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: ``None`` or a calendar ``date`` (not a ``datetime``)."""
    if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
        raise TypeError(f"{attribute.name} must be a date, not {type(value).__name__}")


def non_empty_text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: a string that is not blank."""
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be blank")


def unique_items(_: object, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    """attrs validator: a tuple without repeated items."""
    if len(set(value)) != len(value):
        raise ValueError(f"{attribute.name} must not repeat an item")


def each(cls: type) -> Any:
    """attrs validator: a tuple whose items are all instances of ``cls``."""
    return attrs.validators.deep_iterable(
        member_validator=attrs.validators.instance_of(cls),
        iterable_validator=attrs.validators.instance_of(tuple),
    )


def to_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    """attrs converter: any iterable (a string counts as one item) to a tuple."""
    if isinstance(value, str):
        return (value,)
    return tuple(value)
