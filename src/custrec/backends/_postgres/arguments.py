"""Checks of PostgresStore's numeric arguments (pool sizes, timeouts)."""

from __future__ import annotations

__all__ = ["check_seconds", "check_size"]


def check_size(name: str, value: object, minimum: int) -> int:
    """``value`` as a count of at least ``minimum`` (``TypeError``/``ValueError`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return value


def check_seconds(name: str, value: object) -> float:
    """``value`` as a positive, finite number of seconds (``TypeError``/``ValueError``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive, finite number of seconds")
    return float(value)
