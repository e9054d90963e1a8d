"""PostgreSQL's work table and change feed (private; see :mod:`custrec.backends.postgres`).

Work rows are a plain table: compare-and-set updates check the row count of ``UPDATE ... WHERE
id = %s AND version = %s``, and a write session locks a row it reads by id (``FOR UPDATE``) so
that a read-modify-write waits for a concurrent one instead of failing. Lists by due time read
the partial indexes over open rows (see :mod:`custrec.backends._sql.workflow`).
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence
from typing import Final

import psycopg.errors

from custrec.backends._postgres.dialect import DIALECT
from custrec.backends._postgres.tables import _repeated, _Table
from custrec.backends._sql import workflow
from custrec.backends._sql.session import reads, writes, writes_one_statement
from custrec.errors import DuplicateKey
from custrec.storage import checks
from custrec.storage.types import ChangeEvent, ChangePage, WorkRow

__all__ = ["_ChangeTable", "_WorkTable"]

_XID_MAX: Final = 2**64 - 1
_CURSOR: Final = re.compile(r"(0|[1-9][0-9]{0,19})\.(0|[1-9][0-9]{0,18})")

_WORK_INSERT: Final = (
    f"INSERT INTO {{s}}.work ({workflow.WORK_COLUMNS}) "
    "SELECT u.id, u.kind, u.customer_id, 1, u.status, u.open, u.assignee, u.team, u.due_at,"
    " u.breached, u.created_at, u.updated_at, u.payload"
    " FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::boolean[], %s::text[],"
    "  %s::text[], %s::timestamptz[], %s::boolean[], %s::timestamptz[], %s::timestamptz[],"
    "  %s::bytea[]) WITH ORDINALITY AS u (id, kind, customer_id, status, open, assignee, team,"
    "  due_at, breached, created_at, updated_at, payload, ord)"
    " ORDER BY u.ord"
)

_CHANGE_INSERT: Final = (
    f"INSERT INTO {{s}}.changes ({workflow.CHANGE_COLUMNS}) "
    "SELECT u.at, u.kind, u.customer_id, u.record_id,"
    " ARRAY(SELECT f.name FROM jsonb_array_elements_text(u.fields)"
    "  WITH ORDINALITY AS f (name, pos) ORDER BY f.pos), u.actor_id"
    " FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[]::jsonb[],"
    "  %s::text[]) WITH ORDINALITY AS u (at, kind, customer_id, record_id, fields, actor_id, ord)"
    " ORDER BY u.ord RETURNING seq"
)

# Only events of transactions that have ended: every transaction with an xid below the
# snapshot's xmin has, and every one still running (or yet to begin) has an xid at or above it.
_SINCE: Final = (
    f"SELECT seq, {workflow.CHANGE_COLUMNS}, xid::text FROM {{s}}.changes"
    " WHERE xid < pg_snapshot_xmin(pg_current_snapshot())"
)
_HELD: Final = "SELECT 1 FROM {s}.changes WHERE xid = %s::text::xid8 AND seq = %s"
_SINCE_START: Final = _SINCE + " ORDER BY xid, seq LIMIT %s"
_SINCE_AFTER: Final = _SINCE + " AND (xid, seq) > (%s::text::xid8, %s) ORDER BY xid, seq LIMIT %s"


def _cursor(cursor: object) -> tuple[int, int] | None:
    """The ``(xid, seq)`` a cursor names (``None`` for none); ``ValueError`` for text this
    backend does not make."""
    if cursor is None:
        return None
    found = _CURSOR.fullmatch(cursor) if isinstance(cursor, str) else None
    if found is None:
        raise ValueError(f"not a change-feed cursor of this store: {cursor!r:.40}")
    xid, seq = int(found[1]), int(found[2])
    if xid > _XID_MAX or seq > checks.INT64_MAX:
        raise ValueError(f"not a change-feed cursor of this store: {cursor!r:.40}")
    return xid, seq


class _WorkTable(_Table, workflow.WorkTableBase):
    _open_rows = "open AND due_at IS NOT NULL"
    _open_breached = "open AND breached"

    def _row_lock(self) -> str:
        """In a write session, ``FOR UPDATE``: what the session read stays true until it
        commits, so a read-modify-write of one row waits for a concurrent one."""
        return "" if self._session._readonly else " FOR UPDATE"

    @writes
    def add_many(self, rows: Sequence[WorkRow], *, skip_existing: bool = False) -> int:
        """One ``INSERT ... SELECT FROM unnest(...)``; with ``skip_existing`` the first row of
        an id wins and existing ids are skipped (``ON CONFLICT DO NOTHING``), which also
        tolerates a concurrent insert of the same ids."""
        encoded = [self._encode(row) for row in rows]
        if not encoded:
            return 0
        columns = [list(c) for i, c in enumerate(zip(*encoded, strict=True)) if i != 3]
        if skip_existing:
            return self._exec(_WORK_INSERT + " ON CONFLICT (id) DO NOTHING", columns).rowcount
        repeated = _repeated(columns[0])
        if repeated is not None:
            raise DuplicateKey(f"work {repeated} (twice in the batch)")
        found = self._exec(
            "SELECT min(id) FROM {s}.work WHERE id = ANY (%s::text[])", (columns[0],)
        ).fetchone()
        if found is not None and found[0] is not None:
            raise DuplicateKey(f"work {found[0]}")
        try:
            return self._exec(_WORK_INSERT, columns).rowcount
        except psycopg.errors.UniqueViolation as exc:  # inserted concurrently meanwhile
            raise DuplicateKey("work (inserted concurrently by another session)") from exc


class _ChangeTable(_Table, workflow.ChangeTableBase):
    """The change feed on a backend whose writers run in parallel.

    ``seq`` comes from an identity column, so it is unique but, across sessions, not in commit
    order. Each event also keeps the id of the transaction that wrote it (``xid``, the column's
    default ``pg_current_xact_id()``), and :meth:`since` returns only events of transactions
    older than the oldest one still running (``xid < pg_snapshot_xmin(pg_current_snapshot())``),
    in ``(xid, seq)`` order, after the cursor ``"<xid>.<seq>"`` of the last event returned. All
    of them have ended; a transaction still running, or one that begins later, has an xid at
    or above that bound, so its events come after the cursor once it commits: none is skipped
    or repeated. One transaction's events come together, in append order; a transaction that
    began after another committed comes after it; two that ran at the same time come in the
    order of their xids (the order in which they first wrote), not necessarily of their
    commits.

    The price: a transaction that has written anything, anywhere on the server (any database,
    or a prepared transaction not yet committed), holds the feed back from its first write
    until it ends: events committed meanwhile by other sessions wait, however long it runs.
    Keep writing transactions short; read-only sessions hold nothing back.
    """

    @writes_one_statement
    def append(self, events: Sequence[ChangeEvent]) -> builtins.list[int]:
        statement = self._append_statement(events)
        if statement is None:
            return []
        return sorted(int(r[0]) for r in self._exec(*statement).fetchall())

    def _append_statement(
        self, events: Sequence[ChangeEvent]
    ) -> tuple[str, builtins.list[builtins.list[object]]] | None:
        """The ``INSERT`` appending ``events`` (``RETURNING`` their numbers), or ``None``."""
        encoded = self._encode(events)
        if not encoded:
            return None
        return _CHANGE_INSERT, [list(c) for c in zip(*encoded, strict=True)]

    @reads
    def since(self, cursor: str | None = None, *, limit: int = 1000) -> ChangePage:
        limit = checks.bounded(limit)
        start = _cursor(cursor)
        if start is None:
            rows = self._exec(_SINCE_START, (limit,)).fetchall()
        else:
            if start != (0, 0) and self._exec(_HELD, (str(start[0]), start[1])).fetchone() is None:
                # a cursor names the last event a reader saw, which the feed never loses
                raise ValueError(f"not a change-feed cursor of this store: {cursor!r:.40}")
            rows = self._exec(_SINCE_AFTER, (str(start[0]), start[1], limit)).fetchall()
        events = tuple(workflow.change_event(r, DIALECT) for r in rows)
        if rows:
            return ChangePage(events=events, cursor=f"{rows[-1][-1]}.{rows[-1][0]}")
        return ChangePage(events=(), cursor="0.0" if start is None else f"{start[0]}.{start[1]}")
