"""PostgreSQL's statement rendering, stored values and error translation."""

from __future__ import annotations

import json
import select
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import psycopg
import psycopg.errors
from psycopg.rows import TupleRow

from custrec.backends._postgres.schema import REFUSED_STATE
from custrec.errors import DuplicateKey, StorageError
from custrec.storage.checks import check_amount

__all__ = [
    "DIALECT",
    "PostgresDialect",
    "client_data_error",
    "describe_connect",
    "text_array",
    "translate",
]

_Conn = psycopg.Connection[TupleRow]


def text_array(values: list[Any]) -> str | list[Any]:
    """A parameter cast to ``text[]`` in the statement: for plain strings and ``None``, the
    array's text form (each string quoted, ``\\`` and ``"`` escaped; ``None`` as ``NULL``),
    which PostgreSQL parses to the same array; psycopg's adaptation of a list costs about 10 us
    more a parameter. Anything else (a string subclass, another type) is left to psycopg as it
    is."""
    for value in values:
        if type(value) is not str and value is not None:
            return values
    return (
        "{"
        + ",".join(
            [
                "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                for v in values
            ]
        )
        + "}"
    )


_LOST_STATES: Final = frozenset({"57P01", "57P02", "57P03"})  # admin/crash shutdown, starting
_RETRY_STATES: Final = {
    "40001": "a serialization failure",
    "40P01": "a deadlock",
    "55P03": "a lock wait timeout",
    "53300": "too many connections",
    "26000": "a prepared statement lost by the connection",  # the session discards it
}
# Error classes whose primary message may quote a value (data exceptions): never repeated.
_QUOTING_CLASSES: Final = frozenset({"22"})


class PostgresDialect:
    """Instants as ``timestamptz``, amounts as ``numeric(24,4)``, field names as ``text[]``
    (sent as one JSON array per entry, since arrays of arrays must be rectangular)."""

    def instant(self, value: datetime) -> datetime:
        return value

    def read_instant(self, stored: Any) -> datetime:
        assert isinstance(stored, datetime)
        return stored.astimezone(UTC)

    def amount(self, value: Decimal | None) -> Decimal | None:
        return check_amount(value)

    def read_amount(self, stored: Any) -> Decimal:
        assert isinstance(stored, Decimal)
        return stored

    def fields(self, fields: tuple[str, ...]) -> str:
        return json.dumps(list(fields), ensure_ascii=False)

    def read_fields(self, stored: Any) -> tuple[str, ...]:
        return tuple(stored)


DIALECT: Final = PostgresDialect()


def _is_lost(exc: psycopg.Error, conn: _Conn | None) -> bool:
    """Whether ``exc`` means the connection is gone (the server ends an open transaction)."""
    state = exc.sqlstate
    if state is not None and (state.startswith("08") or state in _LOST_STATES):
        return True
    if conn is not None and (conn.broken or conn.closed):
        return True
    return state is None and isinstance(exc, psycopg.OperationalError)


def _describe(exc: psycopg.Error) -> str:
    """A safe description: SQLSTATE, class and (unless it may quote values) the message.

    Only the primary message is used, never ``DETAIL`` (which repeats key and row values); data
    exceptions (class 22) may quote input values, so their message is left out.
    """
    state = exc.sqlstate or "-----"
    name = type(exc).__name__
    primary = exc.diag.message_primary if exc.sqlstate else None
    if primary and state[:2] not in _QUOTING_CLASSES:
        return f"PostgreSQL error {state} ({name}): {primary}"
    return f"PostgreSQL error {state} ({name})"


def translate(
    exc: psycopg.Error, context: str, *, conn: _Conn | None = None, committing: bool = False
) -> StorageError:
    """Map a psycopg error to a custrec error (the caller chains it with ``raise ... from``).

    ``retry_safe`` is true when the server reported that the transaction did not commit and a
    fresh attempt may succeed (serialisation failure, deadlock, lock timeout, a prepared
    statement the connection lost, a connection lost before ``COMMIT`` was sent). A connection
    lost *during* ``COMMIT`` leaves the outcome unknown, so that is not retry-safe.
    """
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return DuplicateKey(context)
    state = exc.sqlstate
    if state in _RETRY_STATES:
        return StorageError(
            f"{context}: PostgreSQL reported {_RETRY_STATES[state]} ({state}); the transaction "
            "was rolled back, retry the unit of work",
            retry_safe=True,
        )
    if state == REFUSED_STATE:
        return StorageError(f"{context}: refused: {exc.diag.message_primary}")
    if state == "25006":  # read_only_sql_transaction
        return StorageError(f"{context}: writes are not allowed in a read-only session")
    if _is_lost(exc, conn):
        if committing:
            return StorageError(
                f"{context}: the connection to PostgreSQL was lost during COMMIT; the outcome "
                "is unknown, so check whether the unit of work landed before repeating it",
                retry_safe=False,
            )
        return StorageError(
            f"{context}: the connection to PostgreSQL was lost before commit; nothing was "
            "committed, retry the unit of work",
            retry_safe=True,
        )
    return StorageError(f"{context}: {_describe(exc)}")


def client_data_error(exc: psycopg.Error) -> bool:
    """A value psycopg cannot send (for example text with a NUL character): not a server error."""
    return isinstance(exc, psycopg.DataError) and exc.sqlstate is None


def describe_connect(exc: psycopg.Error) -> str:
    """The reason a connection attempt failed (libpq's text; it never includes the password)."""
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def closed_by_server(conn: _Conn) -> bool:
    """Whether an idle connection is known dead, or has something to read before anything was
    sent on it (a server that ends a connection says so, then closes it): one poll of its
    socket, no round trip."""
    if conn.broken or conn.closed:
        return True
    try:
        ready, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return True
    return bool(ready)


def write_alone(
    conn: _Conn,
    statement: tuple[bytes, Any],
    first: bool,
    replace: Callable[[_Conn], _Conn],
) -> list[psycopg.Cursor[TupleRow]]:
    """Send one statement that commits on its own (``PostgresStore.statements()``). A
    connection found closed by the server before it is sent is replaced (``replace(dead)``
    gives another); once sent, a lost connection leaves the outcome unknown (the server may
    have committed it and its reply been lost), so it is never sent again: ``StorageError``,
    not retry-safe (a second send would store a read's audit entry twice)."""
    if first and closed_by_server(conn):
        conn.close()  # so that the pool discards it
        conn = replace(conn)
    try:
        return [conn.execute(statement[0], statement[1])]
    except psycopg.Error as exc:
        if _is_lost(exc, conn):
            raise translate(
                exc, "a statement that commits on its own", conn=conn, committing=True
            ) from None
        raise
