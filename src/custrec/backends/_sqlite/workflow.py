"""SQLite's work table and change feed: the shared statements of
:mod:`custrec.backends._sql.workflow`, bulk inserts, and a feed whose ``seq`` order is the
commit order (one writer at a time), read with a decimal cursor."""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Sequence
from typing import Final

from custrec.backends._sql import workflow
from custrec.backends._sql.session import reads, writes
from custrec.backends._sqlite.dialect import DIALECT, is_unique_violation
from custrec.backends._sqlite.tables import _chunks, _marks, _Table
from custrec.errors import DuplicateKey
from custrec.storage import checks
from custrec.storage.types import ChangeEvent, ChangePage, WorkFilter, WorkRow

__all__ = ["_ChangeTable", "_WorkTable"]

_INSERT_WORK: Final = f"INSERT INTO work ({workflow.WORK_COLUMNS}) VALUES ({', '.join('?' * 13)})"
_INSERT_CHANGE: Final = f"INSERT INTO changes ({workflow.CHANGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"


class _WorkTable(_Table, workflow.WorkTableBase):
    _open_rows = "open = 1 AND due_at IS NOT NULL"
    _open_breached = "open = 1 AND breached = 1"

    def _breached_index(self, where: WorkFilter) -> str:
        for column in ("assignee", "team"):
            if getattr(where, column) is not None:
                return f" INDEXED BY work_breached_{column}"
        return " INDEXED BY work_breached"

    def _due_index(self, where: WorkFilter | None) -> str:
        """The index ``due`` reads, named: without statistics SQLite may prefer the kind's
        index to a narrower one (a customer's rows, an assignee's, a team's), or leave the
        narrower one when a page starts after a ``(due_at, id)`` pair."""
        if where is not None:
            if where.customer_id is not None:
                return " INDEXED BY work_customer"
            for column in ("assignee", "team"):
                if getattr(where, column) is not None:
                    return f" INDEXED BY work_due_{column}"
        return " INDEXED BY work_due"

    @writes
    def add_many(self, rows: Sequence[WorkRow], *, skip_existing: bool = False) -> int:
        """One ``executemany``; without ``skip_existing`` an existing or repeated id is found
        first, so nothing half-lands."""
        encoded = [self._encode(row) for row in rows]
        if not encoded:
            return 0
        if skip_existing:
            cursor = self._conn.executemany(_INSERT_WORK + " ON CONFLICT (id) DO NOTHING", encoded)
            return int(cursor.rowcount)
        ids = [params[0] for params in encoded]
        existing: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(ids))):
            sql = f"SELECT id FROM work WHERE id IN ({_marks(len(chunk))})"
            existing.update(r[0] for r in self._conn.execute(sql, tuple(chunk)))
        if existing:
            raise DuplicateKey(f"work {min(existing)}")
        try:
            cursor = self._conn.executemany(_INSERT_WORK, encoded)
        except sqlite3.IntegrityError as exc:
            if is_unique_violation(exc):
                raise DuplicateKey("work (an id twice in the batch)") from exc
            raise
        return int(cursor.rowcount)


class _ChangeTable(_Table, workflow.ChangeTableBase):
    @writes
    def append(self, events: Sequence[ChangeEvent]) -> builtins.list[int]:
        """One ``executemany``: the writer holds the database's write lock, so the rows of one
        statement take consecutive numbers, ending at ``last_insert_rowid()``."""
        rows = self._encode(events)
        if not rows:
            return []
        if len(rows) == 1:  # one change (an interactive write): its rowid, without a SELECT
            seq = self._conn.execute(_INSERT_CHANGE, rows[0]).lastrowid
            assert seq is not None
            return [int(seq)]
        self._conn.executemany(_INSERT_CHANGE, rows)
        last = int(self._conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        return list(range(last - len(rows) + 1, last + 1))

    @reads
    def since(self, cursor: str | None = None, *, limit: int = 1000) -> ChangePage:
        """The events after the cursor's ``seq``, by ``seq``; the cursor is the last one's."""
        limit = checks.bounded(limit)
        after = checks.check_decimal_cursor(cursor)
        if (
            after
            and self._conn.execute("SELECT 1 FROM changes WHERE seq = ?", (after,)).fetchone()
            is None
        ):
            # a cursor names the last event a reader saw, which the feed never loses
            raise ValueError(f"not a change-feed cursor of this store: {cursor!r:.40}")
        found = self._conn.execute(
            f"SELECT seq, {workflow.CHANGE_COLUMNS} FROM changes WHERE seq > ? ORDER BY seq "
            "LIMIT ?",
            (after, limit),
        )
        events = tuple(workflow.change_event(r, DIALECT) for r in found)
        return ChangePage(events=events, cursor=str(events[-1].seq if events else after))
