"""SQLite's statement rendering, stored values and error translation."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from custrec.errors import DuplicateKey, StorageError
from custrec.storage.checks import AMOUNT_PLACES, check_amount, check_instant

__all__ = ["DIALECT", "SQLiteDialect", "encode_dt", "is_busy", "is_unique_violation", "translate"]

_BUSY_CODES: Final = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED (primary result codes)
_UNIQUE_NAMES: Final = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def encode_dt(value: datetime, name: str) -> int:
    """A checked instant as stored: integer microseconds since 1970-01-01 UTC (sorts as
    numbers, round-trips exactly, reads back as UTC)."""
    if type(value) is datetime and value.tzinfo is UTC:  # checked already: aware, in UTC
        return (value - _EPOCH) // _MICROSECOND
    return (check_instant(value, name) - _EPOCH) // _MICROSECOND


class SQLiteDialect:
    """Instants as integer microseconds since 1970 UTC, amounts as integers of 1/10000 units,
    field names as JSON."""

    def __init__(self) -> None:
        self._sql: dict[str, str] = {}

    def render(self, template: str) -> str:
        """A shared template as SQLite SQL: no schema prefix, ``?`` parameters (cached)."""
        found = self._sql.get(template)
        if found is None:
            found = self._sql[template] = template.replace("{s}.", "").replace("%s", "?")
        return found

    def instant(self, value: datetime) -> int:
        return (value - _EPOCH) // _MICROSECOND

    def read_instant(self, stored: Any) -> datetime:
        return _EPOCH + timedelta(microseconds=stored)

    def amount(self, value: Decimal | None) -> int | None:
        """A checked amount scaled to an exact integer (``None`` passes)."""
        amount = check_amount(value)
        return None if amount is None else int(amount.scaleb(AMOUNT_PLACES))

    def read_amount(self, stored: Any) -> Decimal:
        return Decimal(stored).scaleb(-AMOUNT_PLACES)

    def fields(self, fields: tuple[str, ...]) -> str:
        if not fields:  # most entries (every intake's): json.dumps([]) without the encoder
            return "[]"
        return json.dumps(list(fields), ensure_ascii=False)

    def read_fields(self, stored: Any) -> tuple[str, ...]:
        return tuple(json.loads(stored))


DIALECT: Final = SQLiteDialect()


def is_unique_violation(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's unique or primary-key constraint violation."""
    if not isinstance(exc, sqlite3.IntegrityError):
        return False
    name = getattr(exc, "sqlite_errorname", None)
    if name is not None:
        return name in _UNIQUE_NAMES
    return str(exc).startswith("UNIQUE constraint failed")


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` means the database is locked by another connection."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _BUSY_CODES:
        return True
    text = str(exc)
    return "database is locked" in text or "database table is locked" in text


def translate(exc: sqlite3.Error, context: str) -> StorageError:
    """Map a driver error to a custrec error (the caller chains it with ``raise ... from``).

    SQLite's messages name tables, columns and constraints, never bound values, so they are
    safe to repeat.
    """
    if is_unique_violation(exc):
        return DuplicateKey(context)
    if is_busy(exc):
        return StorageError(
            f"{context}: the database is busy ({exc}); retry the unit of work", retry_safe=True
        )
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return StorageError(f"{context}: SQLite error {name}: {exc}")
