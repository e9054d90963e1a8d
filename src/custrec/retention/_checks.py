"""Private attrs helpers for the retention modules (argument checks: ``custrec._checks``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

__all__ = ["each", "to_tuple"]


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
