"""Pipelined batches on PostgreSQL, and psycopg's prepared statements when one fails.

psycopg prepares a statement on its sixth run on a connection (``prepare_threshold``, 5 by
default; an application's pool may choose 0) and, in a pipeline, counts it prepared as soon as
its ``Parse`` is queued. When a statement of a batch fails, the server skips the rest of the
batch, that ``Parse`` included: psycopg's cache then names a statement the server never
prepared, every later run of it on that connection fails with SQLSTATE 26000 ("prepared
statement ... does not exist"), and a ``ROLLBACK`` sent as a statement clears the cache only the
first time psycopg sees one. So :func:`run` switches prepared statements off on a connection
where a batch failed before its last statement (``prepare_threshold = None``: the rest of the
session runs unprepared) and reports it, and the session discards the connection when it ends
(see :meth:`custrec.backends.postgres._PostgresSession._stale`). A batch whose last statement is
the one that failed skipped nothing and leaves the connection as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import TupleRow

__all__ = ["LOST_STATEMENT", "forget_prepared", "run"]

_Conn = psycopg.Connection[TupleRow]
_Cursor = psycopg.Cursor[TupleRow]
_Params = Sequence[Any] | Mapping[str, Any] | None

LOST_STATEMENT = "26000"
"""SQLSTATE invalid_sql_statement_name: a prepared statement the connection's cache names is not
on the server (a skipped ``Parse``, or a ``DEALLOCATE`` sent behind psycopg's back)."""


def forget_prepared(conn: _Conn) -> None:
    """Never use ``conn``'s prepared statements again (its cache cannot be trusted)."""
    if not conn.closed:
        conn.prepare_threshold = None


def run(
    conn: _Conn, statements: Sequence[tuple[bytes, _Params]], stale: Callable[[_Conn], None]
) -> list[_Cursor]:
    """Execute ``statements`` in order in one pipeline (one round trip; one each where libpq
    is older than 14); return their cursors. When one fails
    before the last, ``conn``'s prepared statements are forgotten and ``stale(conn)`` is called
    before the error propagates."""
    if not psycopg.Pipeline.is_supported():  # pragma: no cover - libpq older than 14
        return [conn.execute(sql, params) for sql, params in statements]  # one round trip each
    cursors: list[_Cursor] = []
    try:
        with conn.pipeline():
            for sql, params in statements:
                cursors.append(conn.execute(sql, params))
    except psycopg.Error:
        # Every result has been read by now: a cursor without one failed or was skipped. When
        # a send raised, its statement (after all of ``cursors``) may have been queued.
        sent = cursors if len(cursors) < len(statements) else cursors[:-1]
        if any(cursor.pgresult is None for cursor in sent):
            forget_prepared(conn)
            stale(conn)
        raise
    return cursors
