"""The work table and the change feed: their columns, row mapping and the SQL every dialect
shares (private; see :mod:`custrec.backends._sql`).

Lists by due time read one of the partial indexes over open rows with a ``due_at`` (named in
each dialect's schema): ``(kind, due_at, id)``, ``(assignee, kind, due_at, id)`` and
``(team, kind, due_at, id)``. Every query names a kind, so that the index gives the rows in
``(due_at, id)`` order: a filter without one runs once per kind of :data:`WORK_KINDS` and the
pages are merged (each reads at most ``limit`` rows). A customer's rows are read through
``(customer_id, id)`` and sorted: a customer has few.
"""

from __future__ import annotations

import builtins
import heapq
import itertools
from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Final

import attrs

from custrec.backends._sql.dialect import Dialect
from custrec.backends._sql.session import reads, writes_one_statement
from custrec.backends._sql.tables import SQLTable
from custrec.errors import NotFound, StorageError, VersionConflict
from custrec.storage import checks
from custrec.storage.types import WORK_KINDS, ChangeEvent, WorkFilter, WorkRow

__all__ = [
    "CHANGE_COLUMNS",
    "WORK_COLUMNS",
    "ChangeTableBase",
    "WorkTableBase",
    "change_event",
    "work_row",
]

WORK_COLUMNS: Final = (
    "id, kind, customer_id, version, status, open, assignee, team, due_at, breached, "
    "created_at, updated_at, payload"
)
WORK_MARKS: Final = ", ".join(["%s"] * 13)
CHANGE_COLUMNS: Final = "at, kind, customer_id, record_id, fields, actor_id"
"""A change event's columns but ``seq`` (which the database assigns), in insert order."""

_FACETS: Final = ("kind", "status", "customer_id", "assignee", "team", "open", "breached")


def work_row(r: Sequence[Any], d: Dialect) -> WorkRow:
    """A work row from :data:`WORK_COLUMNS`."""
    return WorkRow(
        id=r[0],
        kind=r[1],
        customer_id=r[2],
        version=int(r[3]),
        status=r[4],
        open=bool(r[5]),
        assignee=r[6],
        team=r[7],
        due_at=None if r[8] is None else d.read_instant(r[8]),
        breached=bool(r[9]),
        created_at=d.read_instant(r[10]),
        updated_at=d.read_instant(r[11]),
        payload=bytes(r[12]),
    )


def change_event(r: Sequence[Any], d: Dialect) -> ChangeEvent:
    """A change event from ``seq`` and :data:`CHANGE_COLUMNS`."""
    return ChangeEvent(
        seq=int(r[0]),
        at=d.read_instant(r[1]),
        kind=r[2],
        customer_id=r[3],
        record_id=r[4],
        fields=d.read_fields(r[5]),
        actor_id=r[6],
    )


def _conditions(where: WorkFilter | None, skip: str = "") -> tuple[list[str], list[Any]]:
    """``column = %s`` for each condition of ``where`` (but ``skip``) and the values."""
    clauses: list[str] = []
    params: list[Any] = []
    if where is not None:
        for column in _FACETS:
            value = getattr(where, column)
            if value is not None and column != skip:
                clauses.append(f"{column} = %s")
                params.append(value)
    return clauses, params


def _due_order(row: WorkRow) -> tuple[datetime, str]:
    assert row.due_at is not None
    return row.due_at, row.id


class WorkTableBase(SQLTable):
    """Cases and tasks: everything but the bulk ``add_many``."""

    _name = "work"
    _open_rows: ClassVar[str]
    """The condition of the partial due-time indexes, word for word (a planner matches it)."""
    _open_breached: ClassVar[str]
    """The condition of the partial indexes of open breached rows, word for word."""

    def _encode(self, row: WorkRow, version: int = 1) -> tuple[Any, ...]:
        """The row's parameters in :data:`WORK_COLUMNS` order, checked."""
        row = checks.check_work(row)
        d = self._d
        return (
            row.id,
            row.kind,
            row.customer_id,
            version,
            row.status,
            row.open,
            row.assignee,
            row.team,
            None if row.due_at is None else d.instant(row.due_at),
            row.breached,
            d.instant(row.created_at),
            d.instant(row.updated_at),
            bytes(row.payload),
        )

    def _row_lock(self) -> str:
        """A clause locking the row a write session reads by id (none by default)."""
        return ""

    def _due_index(self, where: WorkFilter | None) -> str:
        """What follows ``FROM work`` in :meth:`due` (a dialect may name the index to use)."""
        return ""

    def _breached_index(self, where: WorkFilter) -> str:
        """What follows ``FROM work`` in :meth:`query` of open breached rows."""
        return ""

    def _rows(self, template: str, params: Sequence[Any]) -> builtins.list[WorkRow]:
        return [work_row(r, self._d) for r in self._run(template, params)]

    @abstractmethod
    def add_many(self, rows: Sequence[WorkRow], *, skip_existing: bool = False) -> int:
        """Insert many rows (see :class:`custrec.storage.WorkTable`)."""

    @writes_one_statement
    def add(self, row: WorkRow) -> int:
        self._insert(
            f"INSERT INTO {{s}}.work ({WORK_COLUMNS}) VALUES ({WORK_MARKS})",
            self._encode(row),
            f"work {row.id}",
        )
        return 1

    @reads
    def get(self, work_id: str) -> WorkRow:
        checks.check_text(work_id, "work_id")
        found = self._rows(
            f"SELECT {WORK_COLUMNS} FROM {{s}}.work WHERE id = %s" + self._row_lock(), (work_id,)
        )
        if not found:
            raise NotFound(f"work {work_id}")
        return found[0]

    def _refuse_cas(self, work_id: str, expected_version: int) -> StorageError:
        found = self._run("SELECT version FROM {s}.work WHERE id = %s", (work_id,)).fetchone()
        if found is None:
            return NotFound(f"work {work_id}")
        return VersionConflict(f"work {work_id}", expected=expected_version, actual=int(found[0]))

    @writes_one_statement
    def update(self, row: WorkRow, *, expected_version: int) -> int:
        """Compare-and-set in the ``UPDATE`` itself; ``kind`` and ``created_at`` stay."""
        params = self._encode(row)
        expected = checks.version(expected_version)
        cursor = self._run(
            "UPDATE {s}.work SET customer_id = %s, status = %s, open = %s, assignee = %s,"
            " team = %s, due_at = %s, breached = %s, updated_at = %s, payload = %s,"
            " version = version + 1 WHERE id = %s AND version = %s",
            (*params[2:3], *params[4:10], *params[11:], row.id, expected),
        )
        if cursor.rowcount != 1:
            raise self._refuse_cas(row.id, expected_version)
        return expected_version + 1

    @reads
    def query(
        self, *, where: WorkFilter | None = None, after: str | None = None, limit: int = 100
    ) -> builtins.list[WorkRow]:
        limit = checks.bounded(limit)
        checks.check_work_filter(where, after)
        using = ""
        if (
            where is not None
            and where.open is True
            and where.breached is True
            and where.customer_id is None
        ):  # the open breached cases: their partial indexes, named by their condition
            clauses, params = _conditions(attrs.evolve(where, open=None, breached=None))
            clauses.insert(0, self._open_breached)
            using = self._breached_index(where)
        else:
            clauses, params = _conditions(where)
        if after is not None:
            clauses.append("id > %s")
            params.append(after)
        found = " WHERE " + " AND ".join(clauses) if clauses else ""
        return self._rows(
            f"SELECT {WORK_COLUMNS} FROM {{s}}.work{using}{found} ORDER BY id LIMIT %s",
            [*params, limit],
        )

    @reads
    def due(
        self,
        *,
        before: datetime,
        where: WorkFilter | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> builtins.list[WorkRow]:
        limit = checks.bounded(limit)
        stop = self._d.instant(checks.check_instant(before, "before"))
        checks.check_work_filter(where)
        start = checks.check_due_after(after)
        if where is not None and where.open is False:
            return []
        clauses, params = _conditions(where, skip="open")
        clauses[:0] = [self._open_rows, "due_at < %s"]
        params[:0] = [stop]
        if start is not None:
            clauses.append("(due_at, id) > (%s, %s)")
            params += [self._d.instant(start[0]), start[1]]
        if where is None or (where.kind is None and where.customer_id is None):
            kinds = [[*params, kind] for kind in WORK_KINDS]
            clauses.append("kind = %s")
        else:
            kinds = [params]
        sql = (
            f"SELECT {WORK_COLUMNS} FROM {{s}}.work{self._due_index(where)}"
            f" WHERE {' AND '.join(clauses)} ORDER BY due_at, id LIMIT %s"
        )
        pages = [self._rows(sql, [*p, limit]) for p in kinds]
        if len(pages) == 1:
            return pages[0]
        merged = heapq.merge(*pages, key=_due_order)
        return list(itertools.islice(merged, limit))

    @reads
    def count(self, *, where: WorkFilter | None = None) -> int:
        checks.check_work_filter(where)
        clauses, params = _conditions(where)
        found = " WHERE " + " AND ".join(clauses) if clauses else ""
        row = self._run(f"SELECT count(*) FROM {{s}}.work{found}", params).fetchone()
        return int(row[0])

    @writes_one_statement
    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        checks.check_texts((from_customer_id, to_customer_id), "customer_id")
        if from_customer_id == to_customer_id:
            return 0
        cursor = self._run(
            "UPDATE {s}.work SET customer_id = %s WHERE customer_id = %s",
            (to_customer_id, from_customer_id),
        )
        return cursor.rowcount


class ChangeTableBase(SQLTable):
    """The change feed: the events' checked parameters (``append`` and ``since`` are each
    dialect's own)."""

    _name = "changes"

    def _encode(self, events: Sequence[ChangeEvent]) -> builtins.list[tuple[Any, ...]]:
        """The events' parameters in :data:`CHANGE_COLUMNS` order."""
        checked = [checks.check_change(event) for event in events]
        return [
            (
                self._d.instant(e.at),
                e.kind,
                e.customer_id,
                e.record_id,
                self._d.fields(tuple(e.fields)),
                e.actor_id,
            )
            for e in checked
        ]
