"""What an SQL dialect decides: how statements are rendered and values stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

__all__ = ["Cursor", "Dialect"]


class Cursor(Protocol):
    """What the shared code uses of a DB-API cursor."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


class Dialect(Protocol):
    """Statement rendering and value encoding of one SQL dialect."""

    def instant(self, value: datetime) -> Any:
        """The stored form of a checked UTC instant."""
        ...

    def read_instant(self, stored: Any) -> datetime:
        """An aware UTC datetime from its stored form."""
        ...

    def amount(self, value: Decimal | None) -> Any:
        """The stored form of a checked amount."""
        ...

    def read_amount(self, stored: Any) -> Decimal:
        """A ``Decimal`` from an amount's (or a sum's) stored form."""
        ...

    def fields(self, fields: tuple[str, ...]) -> Any:
        """The stored form of an audit entry's field names."""
        ...

    def read_fields(self, stored: Any) -> tuple[str, ...]:
        """Field names from their stored form."""
        ...
