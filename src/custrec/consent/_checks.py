"""A private converter shared by the consent modules (argument checks: ``custrec._checks``)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["str_tuple"]


def str_tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    """attrs converter: one string becomes a 1-tuple, any other iterable a tuple."""
    if isinstance(value, str):
        return (value,)
    return tuple(value)
