"""Checks of PostgresStore's arguments (schema name, pool sizes, timeouts)."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["check_schema", "check_seconds", "check_size"]

_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def check_schema(schema: object) -> str:
    """``schema`` as a plain lower-case identifier not starting with ``pg_`` (``ValueError``)."""
    if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(
            "schema must be a lower-case identifier (letters, digits, underscores; at most "
            "63 characters, not starting with a digit)"
        )
    if schema.startswith("pg_"):
        raise ValueError("schema names starting with 'pg_' are reserved by PostgreSQL")
    return schema


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
