"""Private argument checks shared by the consent modules (attrs validators and plain helpers)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, TypeVar

import attrs

__all__ = [
    "aware",
    "enum_member",
    "non_empty_text",
    "optional_aware",
    "optional_text",
    "require_aware",
    "require_date",
    "str_tuple",
    "unique_items",
]

E = TypeVar("E", bound=enum.Enum)


def require_aware(value: object, name: str) -> datetime:
    """Return ``value`` if it is a timezone-aware ``datetime``; raise otherwise.

    ``TypeError`` for a non-datetime (a ``date`` included), ``ValueError`` for a naive datetime.
    """
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a timezone-aware datetime, not {type(value).__name__}")
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (a naive datetime is ambiguous)")
    return value


def require_date(value: object, name: str) -> date:
    """Return ``value`` if it is a calendar ``date`` (not a ``datetime``); raise ``TypeError``."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a date, not {type(value).__name__}")
    return value


def enum_member(value: object, cls: type[E], name: str) -> E:
    """Return ``value`` if it is a member of ``cls``; raise ``TypeError`` otherwise."""
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, not {type(value).__name__}")
    return value


def aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: a timezone-aware ``datetime``."""
    require_aware(value, attribute.name)


def optional_aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: ``None`` or a timezone-aware ``datetime``."""
    if value is not None:
        require_aware(value, attribute.name)


def non_empty_text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: a string that is not blank."""
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be blank")


def optional_text(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: ``None`` or a string that is not blank."""
    if value is not None:
        non_empty_text(instance, attribute, value)


def unique_items(_: object, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    """attrs validator: a tuple without repeated items."""
    if len(set(value)) != len(value):
        raise ValueError(f"{attribute.name} must not repeat an item")


def str_tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    """attrs converter: one string becomes a 1-tuple, any other iterable a tuple."""
    if isinstance(value, str):
        return (value,)
    return tuple(value)
