"""The table methods whose SQL is the same in every dialect, and the hooks dialects fill in.

Statements here are templates (``{s}.`` before a table, ``%s`` for a parameter) that a dialect's
``_run`` renders and executes. What differs (bulk loads, ledger numbering, locks, how customers'
index keys and tags are read) stays in the dialect's subclasses.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from custrec.backends._sql import aggregates, rows
from custrec.backends._sql.dialect import Cursor, Dialect
from custrec.backends._sql.filters import Link, customer_where
from custrec.backends._sql.session import SQLSession, reads, writes, writes_one_statement
from custrec.errors import DuplicateKey, NotFound, StorageError, VersionConflict
from custrec.storage import (
    ActivityRow,
    AuditRecord,
    ConsentRecord,
    CustomerFilter,
    CustomerRow,
    HistoryRecord,
    WrappedKey,
    check_meta_name,
    checks,
)

__all__ = [
    "ActivityTableBase",
    "AuditTableBase",
    "ConsentTableBase",
    "CustomerTableBase",
    "HistoryTableBase",
    "KeyTableBase",
    "MetaTableBase",
    "SQLTable",
    "Statement",
]

Statement = tuple[str, Sequence[Any] | None]
"""A statement template and its parameters."""


class SQLTable(ABC):
    """A table of one session: runs templates through the dialect."""

    _name: ClassVar[str] = "table"
    _d: ClassVar[Dialect]

    def __init__(self, session: SQLSession[Any]) -> None:
        self._session = session

    @abstractmethod
    def _run(self, template: str, params: Sequence[Any] | None = None) -> Cursor:
        """Render and execute one statement."""

    def _run_all(self, *statements: Statement) -> list[Cursor]:
        """Execute statements in order (a dialect may send them in one round trip)."""
        return [self._run(template, params) for template, params in statements]

    def _insert(self, template: str, params: Sequence[Any], what: str) -> Cursor:
        """Run an ``INSERT``; a unique violation becomes ``DuplicateKey(what)``."""
        try:
            return self._run(template, params)
        except self._session._driver_errors as exc:
            if self._is_duplicate(exc):
                raise DuplicateKey(what) from exc
            raise

    @abstractmethod
    def _is_duplicate(self, exc: Exception) -> bool:
        """Whether driver error ``exc`` is a unique violation."""


class CustomerTableBase(SQLTable):
    """Customers: gets, filtered pages, counts and the compare-and-set refusal."""

    _name = "customers"
    _select: ClassVar[str]
    """``SELECT`` of a customer's columns ``FROM {s}.customers AS c`` (see :meth:`_rows`)."""
    _link: ClassVar[Link]
    """How the child tables (index keys, tags, facets) name their customer ``c``."""
    _facet_pairs: ClassVar[bool] = True
    """Whether a grouping by a pair of facet names (or of a facet name and one of
    :attr:`_pair_columns`) is counted facet-first (:meth:`_pair_groups`, see
    :mod:`custrec.backends._sql.aggregates`) when the filter allows it."""
    _pair_columns: ClassVar[frozenset[str]] = frozenset()
    """The columns that may pair with a facet name in a facet-first count."""

    @abstractmethod
    def _rows(self, template: str, params: Sequence[Any]) -> builtins.list[CustomerRow]:
        """Customers selected by ``template`` (which extends :attr:`_select`), in its order."""

    def _refuse_cas(self, customer_id: str, expected_version: int) -> StorageError:
        found = self._run(
            "SELECT version FROM {s}.customers WHERE id = %s", (customer_id,)
        ).fetchone()
        if found is None:
            return NotFound(f"customer {customer_id}")
        return VersionConflict(
            f"customer {customer_id}", expected=expected_version, actual=int(found[0])
        )

    def _where(
        self, where: CustomerFilter | None, after: str | None, *, paged: bool = True
    ) -> tuple[str, list[Any]]:
        """The ``WHERE`` clause over ``customers AS c``: for a page in id order, or with
        ``paged=False`` for a count or an aggregate (see :mod:`custrec.backends._sql.filters`)."""
        return customer_where(where, after, link=self._link, dialect=self._d, paged=paged)

    def _count_where(
        self, where: CustomerFilter | None, by: tuple[str, ...] = ()
    ) -> tuple[str, list[Any]]:
        """The ``WHERE`` clause of a count (``by`` empty) or of a ``group_count`` by the checked
        names ``by`` (a dialect may add a condition that lets it use an index)."""
        return self._where(where, None, paged=False)

    def _row_lock(self) -> str:
        """A clause that locks the row a write session reads by id, until the session ends
        (none by default: a backend with one writer at a time needs none)."""
        return ""

    def _group_scan(self, where: CustomerFilter | None) -> str:
        """What follows ``customers AS c`` in a ``group_count`` that joins a child table (none
        by default: the planner chooses)."""
        return ""

    @reads
    def get(self, customer_id: str) -> CustomerRow:
        checks.check_text(customer_id, "customer_id")
        found = self._rows(self._select + " WHERE c.id = %s" + self._row_lock(), (customer_id,))
        if not found:
            raise NotFound(f"customer {customer_id}")
        return found[0]

    @reads
    def query(
        self,
        *,
        where: CustomerFilter | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> builtins.list[CustomerRow]:
        limit = checks.bounded(limit)
        clause, params = self._where(where, after)
        return self._rows(self._select + clause + " ORDER BY c.id LIMIT %s", [*params, limit])

    @reads
    def count(self, *, where: CustomerFilter | None = None) -> int:
        clause, params = self._count_where(where)
        found = self._run("SELECT count(*) FROM {s}.customers AS c" + clause, params).fetchone()
        return int(found[0])

    @reads
    def group_count(
        self, by: Sequence[str], *, where: CustomerFilter | None = None
    ) -> dict[tuple[str | None, ...], int]:
        """Facet-first where it serves, else one ``GROUP BY`` over the customers (see
        :mod:`custrec.backends._sql.aggregates`)."""
        names = checks.check_group_by(by)
        clause, params = self._count_where(where, names)
        left_out = aggregates.facet_first(
            names, where, pairs=self._facet_pairs, columns=self._pair_columns
        )
        if left_out is None:
            return self._joined_groups(names, where, clause, params)
        found = Counter(self._facet_groups(names))
        if left_out:
            hidden = aggregates.without(left_out)
            found.subtract(self._joined_groups(names, hidden, *self._count_where(hidden, names)))
        return {key: count for key, count in found.items() if count > 0}

    def _joined_groups(
        self, names: tuple[str, ...], where: CustomerFilter | None, clause: str, params: list[Any]
    ) -> dict[tuple[str | None, ...], int]:
        """The ``GROUP BY`` over the customers that ``clause`` keeps, a child table joined per
        tag or facet name."""
        scan = self._group_scan(where)
        groups = aggregates.group_statement(names, clause, params, self._link, joined_scan=scan)
        return aggregates.group_counts(self._run(groups.template, groups.params), groups.cuts)

    def _facet_groups(self, names: tuple[str, ...]) -> dict[tuple[str | None, ...], int]:
        """The groups of one facet name (from the facet index) or of a pair
        (:meth:`_pair_groups`) over every row."""
        total = int(self._run(aggregates.TOTAL).fetchone()[0])
        if len(names) == 2:
            return self._pair_groups(names, total)
        name = names[0]
        counts = aggregates.name_counts(name, self._run(*aggregates.name_statement(name)))
        return aggregates.one_name(counts, total)

    def _pair_groups(self, names: tuple[str, ...], total: int) -> dict[tuple[str | None, ...], int]:
        """The groups of a pair over all ``total`` rows: the joined statement by default (a
        dialect may count it otherwise)."""
        return self._joined_groups(names, None, *self._count_where(None, names))

    @abstractmethod
    def count_by_period(
        self,
        edges: Sequence[datetime],
        *,
        field: str = "created_at",
        where: CustomerFilter | None = None,
    ) -> builtins.list[int]:
        """Count rows per period (see :class:`custrec.storage.CustomerTable`)."""


class ActivityTableBase(SQLTable):
    """Activities: single inserts, a customer's list and reassignment."""

    _name = "activities"

    def _encode(self, row: ActivityRow) -> tuple[Any, ...]:
        """The row's parameters in :data:`rows.ACTIVITY_COLUMNS` order, checked."""
        row = checks.check_activity(row) or row
        return (
            row.id,
            row.customer_id,
            row.kind,
            self._d.instant(checks.check_instant(row.occurred_at, "occurred_at")),
            self._d.amount(row.amount),
            row.currency,
            bytes(row.payload),
        )

    @writes
    def add(self, row: ActivityRow) -> None:
        self._insert(
            f"INSERT INTO {{s}}.activities ({rows.ACTIVITY_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            self._encode(row),
            f"activity {row.id}",
        )

    @reads
    def list_for(
        self,
        customer_id: str,
        *,
        kind: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> builtins.list[ActivityRow]:
        limit = checks.bounded(limit)
        checks.check_text(customer_id, "customer_id")
        checks.check_optional_text(after, "after")
        sql = f"SELECT {rows.ACTIVITY_COLUMNS} FROM {{s}}.activities WHERE customer_id = %s"
        params: list[Any] = [customer_id]
        if kind is not None:
            sql += " AND kind = %s"
            params.append(checks.check_kind(kind))
        if after is not None:
            sql += " AND id > %s"
            params.append(after)
        sql += " ORDER BY id LIMIT %s"
        params.append(limit)
        return [rows.activity_row(r, self._d) for r in self._run(sql, params)]

    @writes
    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        checks.check_texts((from_customer_id, to_customer_id), "customer_id")
        if from_customer_id == to_customer_id:
            return 0
        cursor = self._run(
            "UPDATE {s}.activities SET customer_id = %s WHERE customer_id = %s",
            (to_customer_id, from_customer_id),
        )
        return cursor.rowcount

    def _summaries_args(self, as_of: datetime, after: str | None, limit: int) -> tuple[Any, int]:
        """Checked ``summaries`` arguments: the stored ``as_of`` and the bound limit."""
        limit = checks.bounded(limit)
        checks.check_optional_text(after, "after")
        return self._d.instant(checks.check_instant(as_of, "as_of")), limit


class _Ledger(SQLTable):
    """A per-customer numbered ledger's list (consents, history)."""

    _columns: ClassVar[str]

    def _list(self, customer_id: str, after_seq: int) -> Cursor:
        checks.check_text(customer_id, "customer_id")
        after, _ = checks.seq_window(after_seq)
        return self._run(
            f"SELECT {self._columns} FROM {{s}}.{self._name} "
            "WHERE customer_id = %s AND seq > %s ORDER BY seq",
            (customer_id, after),
        )


class ConsentTableBase(_Ledger):
    """Consents: a customer's events."""

    _name = "consents"
    _columns = rows.CONSENT_COLUMNS

    @reads
    def list_for(self, customer_id: str, *, after_seq: int = 0) -> builtins.list[ConsentRecord]:
        return [rows.consent_record(r, self._d) for r in self._list(customer_id, after_seq)]


class HistoryTableBase(_Ledger):
    """History: a customer's entries."""

    _name = "history"
    _columns = rows.HISTORY_COLUMNS

    @reads
    def list_for(self, customer_id: str, *, after_seq: int = 0) -> builtins.list[HistoryRecord]:
        return [rows.history_record(r, self._d) for r in self._list(customer_id, after_seq)]


class AuditTableBase(SQLTable):
    """The audit log: filtered reads from either end and the last entry."""

    _name = "audit"

    def _encode(self, records: Sequence[AuditRecord]) -> builtins.list[tuple[Any, ...]]:
        """The entries' parameters in :data:`rows.AUDIT_COLUMNS` order without ``seq``."""
        for r in records:
            checks.check_audit(r)
        return [
            (
                self._d.instant(checks.check_instant(r.at, "at")),
                r.actor_id,
                r.action,
                r.customer_id,
                self._d.fields(tuple(r.fields)),
                r.reason,
                r.outcome,
                bytes(r.chain),
                r.on_behalf_of,
            )
            for r in records
        ]

    def _last_locks(self) -> builtins.list[Statement]:
        """Statements to run before reading the last entry (locks a writer holds after it)."""
        return []

    @reads
    def read(
        self,
        *,
        after_seq: int = 0,
        limit: int = 1000,
        customer_id: str | None = None,
        actor_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_seq: int | None = None,
        newest_first: bool = False,
    ) -> builtins.list[AuditRecord]:
        limit = checks.bounded(limit)
        after, before = checks.seq_window(after_seq, before_seq)
        sql = f"SELECT {rows.AUDIT_COLUMNS} FROM {{s}}.audit WHERE seq > %s"
        params: list[Any] = [after]
        if before is not None:
            sql += " AND seq < %s"
            params.append(before)
        for column, value in (("customer_id", customer_id), ("actor_id", actor_id)):
            if value is not None:
                sql += f" AND {column} = %s"
                params.append(checks.check_text(value, column))
        for name, operator, bound in (("since", ">=", since), ("until", "<", until)):
            if bound is not None:
                sql += f" AND at {operator} %s"
                params.append(self._d.instant(checks.check_instant(bound, name)))
        sql += " ORDER BY seq DESC LIMIT %s" if newest_first else " ORDER BY seq LIMIT %s"
        params.append(limit)
        return [rows.audit_record(r, self._d) for r in self._run(sql, params)]

    @reads
    def last(self) -> AuditRecord | None:
        found = self._run_all(
            *self._last_locks(),
            (f"SELECT {rows.AUDIT_COLUMNS} FROM {{s}}.audit ORDER BY seq DESC LIMIT 1", None),
        )[-1].fetchone()
        return None if found is None else rows.audit_record(found, self._d)


class KeyTableBase(SQLTable):
    """Wrapped data keys: everything but the bulk ``put_many``."""

    _name = "keys"

    def _encode(self, key: WrappedKey) -> tuple[Any, ...]:
        """The key's parameters in :data:`rows.KEY_COLUMNS` order, checked."""
        checks.check_key(key)
        created_at = self._d.instant(checks.check_instant(key.created_at, "created_at"))
        return (key.customer_id, key.master_key_id, bytes(key.wrapped), created_at)

    def _deleted(self) -> None:
        """Called when ``delete`` removed a key (before the commit)."""

    @writes_one_statement
    def put(self, key: WrappedKey) -> None:
        self._insert(
            f"INSERT INTO {{s}}.data_keys ({rows.KEY_COLUMNS}) VALUES (%s, %s, %s, %s)",
            self._encode(key),
            f"data key of customer {key.customer_id}",
        )

    @reads
    def get(self, customer_id: str) -> WrappedKey:
        checks.check_text(customer_id, "customer_id")
        found = self._run(
            f"SELECT {rows.KEY_COLUMNS} FROM {{s}}.data_keys WHERE customer_id = %s",
            (customer_id,),
        ).fetchone()
        if found is None:
            raise NotFound(f"data key of customer {customer_id}")
        return rows.wrapped_key(found, self._d)

    @writes
    def replace(self, key: WrappedKey) -> None:
        customer_id, master_key_id, wrapped, created_at = self._encode(key)
        cursor = self._run(
            "UPDATE {s}.data_keys SET master_key_id = %s, wrapped = %s, created_at = %s "
            "WHERE customer_id = %s",
            (master_key_id, wrapped, created_at, customer_id),
        )
        if cursor.rowcount != 1:
            raise NotFound(f"data key of customer {key.customer_id}")

    @writes
    def delete(self, customer_id: str) -> bool:
        checks.check_text(customer_id, "customer_id")
        cursor = self._run("DELETE FROM {s}.data_keys WHERE customer_id = %s", (customer_id,))
        if cursor.rowcount > 0:
            self._deleted()
        return cursor.rowcount > 0

    @reads
    def list(self, *, after: str | None = None, limit: int = 1000) -> builtins.list[WrappedKey]:
        limit = checks.bounded(limit)
        sql = f"SELECT {rows.KEY_COLUMNS} FROM {{s}}.data_keys"
        params: list[Any] = []
        if after is not None:
            sql += " WHERE customer_id > %s"
            params.append(checks.check_text(after, "after"))
        sql += " ORDER BY customer_id LIMIT %s"
        params.append(limit)
        return [rows.wrapped_key(r, self._d) for r in self._run(sql, params)]


class MetaTableBase(SQLTable):
    """Named values about the store."""

    _name = "meta"

    @reads
    def get(self, name: str) -> bytes | None:
        found = self._run(
            "SELECT value FROM {s}.meta WHERE name = %s", (check_meta_name(name),)
        ).fetchone()
        return None if found is None else bytes(found[0])

    @writes_one_statement
    def put(self, name: str, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError("meta values must be bytes")
        self._run(
            "INSERT INTO {s}.meta (name, value) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (check_meta_name(name), bytes(value)),
        )
