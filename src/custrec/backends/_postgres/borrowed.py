"""A connection borrowed from the application's pool (:meth:`PostgresStore.from_pool`): the
settings custrec's statements need, put back when the connection is returned (private)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple

import psycopg
from psycopg.adapt import AdaptersMap, PyFormat
from psycopg.pq import Format
from psycopg.rows import TupleRow, tuple_row

__all__ = ["Borrowed", "borrow", "foreign_dumpers", "restore", "server_name"]

_Conn = psycopg.Connection[TupleRow]

# What custrec reads and writes: a borrowed connection's cursors read these types with psycopg's
# own loaders, whatever the application registered (Django loads timestamptz in its time zone).
_READ_TYPES: Final = ("bool", "bytea", "int2", "int4", "int8", "numeric", "float8", "oid")
_READ_TYPES_TEXT: Final = ("text", "varchar", "name", "timestamptz", "date")
_WRITTEN: Final = (str, bytes, int, bool, Decimal, datetime)


def _default_loaders() -> tuple[tuple[int, Format, Any], ...]:
    found = []
    for name in _READ_TYPES + _READ_TYPES_TEXT:
        info = psycopg.adapters.types[name]
        for oid in (info.oid, info.array_oid):  # the type and its arrays
            for fmt in (Format.TEXT, Format.BINARY):
                loader = psycopg.adapters.get_loader(oid, fmt)
                if loader is not None:
                    found.append((oid, fmt, loader))
    return tuple(found)


_LOADERS: Final = _default_loaders()


def _own_loaders(adapters: AdaptersMap) -> None:
    """Put psycopg's loaders back where the application's connection has others."""
    for oid, fmt, loader in _LOADERS:
        if adapters.get_loader(oid, fmt) is not loader:
            adapters.register_loader(oid, loader)


class _BorrowedCursor(psycopg.Cursor[TupleRow]):
    """A cursor of a borrowed connection, reading with psycopg's loaders."""

    def __init__(self, connection: _Conn, *, row_factory: Any = None) -> None:
        super().__init__(connection, row_factory=row_factory)
        _own_loaders(self.adapters)


class _BorrowedServerCursor(psycopg.ServerCursor[TupleRow]):
    """A server-side cursor of a borrowed connection, reading with psycopg's loaders."""

    def __init__(self, connection: _Conn, name: str, **options: Any) -> None:
        super().__init__(connection, name, **options)
        _own_loaders(self.adapters)


def foreign_dumpers(conn: _Conn) -> list[str]:
    """The Python types custrec writes that ``conn`` would not dump as psycopg does."""
    return [
        kind.__name__
        for kind in _WRITTEN
        for fmt in (PyFormat.TEXT, PyFormat.BINARY)
        if conn.adapters.get_dumper(kind, fmt) is not psycopg.adapters.get_dumper(kind, fmt)
    ]


class Borrowed(NamedTuple):
    """The settings of a connection of the application's pool, put back when custrec returns it."""

    autocommit: bool
    row_factory: Any
    cursor_factory: Any
    server_cursor_factory: Any


def borrow(conn: _Conn) -> Borrowed:
    """Give a borrowed (idle) connection the settings custrec's statements need."""
    saved = Borrowed(
        conn.autocommit, conn.row_factory, conn.cursor_factory, conn.server_cursor_factory
    )
    conn.autocommit = True  # custrec sends BEGIN ... with its own isolation level
    conn.row_factory = tuple_row
    conn.cursor_factory = _BorrowedCursor
    conn.server_cursor_factory = _BorrowedServerCursor
    return saved


def restore(conn: _Conn, saved: Borrowed) -> None:
    """Put a borrowed connection's settings back (it is idle, or closed and discarded)."""
    conn.row_factory = saved.row_factory
    conn.cursor_factory = saved.cursor_factory
    conn.server_cursor_factory = saved.server_cursor_factory
    if not (conn.broken or conn.closed) and conn.autocommit != saved.autocommit:
        try:
            conn.autocommit = saved.autocommit
        except psycopg.Error:
            conn.close()  # cannot be handed back as it came: the pool discards it


def server_name(conn: _Conn) -> str:
    info = conn.info
    host = "local socket" if not info.host or info.host.startswith("/") else info.host
    return f"{host}:{info.port}/{info.dbname}"
