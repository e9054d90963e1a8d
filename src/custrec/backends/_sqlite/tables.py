"""SQLite's tables: the shared methods of :mod:`custrec.backends._sql.tables` and SQLite's own
statements for bulk loads, index keys and tags (child tables keyed by the customer's ``pk``),
ledger numbering and summaries."""

from __future__ import annotations

import builtins
import itertools
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from custrec.backends._sql import rows as mapping
from custrec.backends._sql import tables
from custrec.backends._sql.aggregates import facet_rows, kept_states, period_args, period_edges
from custrec.backends._sql.dialect import Cursor
from custrec.backends._sql.filters import Link, also, customer_where
from custrec.backends._sql.session import reads, writes
from custrec.backends._sqlite import pairs
from custrec.backends._sqlite.dialect import DIALECT, encode_dt, is_unique_violation
from custrec.backends._sqlite.schema import pack_index_key, packed_index_rows, unpack_index_key
from custrec.errors import DuplicateKey
from custrec.grading import ActivitySummary
from custrec.storage import (
    ActivityRow,
    AuditRecord,
    ConsentRecord,
    CustomerFilter,
    CustomerRow,
    HistoryRecord,
    WrappedKey,
    checks,
)

if TYPE_CHECKING:
    from custrec.backends.sqlite import _SQLiteSession


_I = TypeVar("_I")

_CHUNK: Final = 500  # ids per IN (...) clause, well below SQLite's bound-variable limit
_CUSTOMER_COLUMNS: Final = (
    "c.pk, c.id, c.version, c.payload, c.kind, c.stage, c.owner, c.team, c.grade, "
    "c.created_at, c.updated_at, c.state"
)


LINK: Final = Link("customer_pk", "c.pk")
"""Index keys, tags and facets name their customer by its ``pk``."""


def _customer_where(
    where: CustomerFilter | None, after: str | None, *, paged: bool = False
) -> tuple[str, list[Any]]:
    """The shared clause; a filter that keeps only states other than ``'live'`` also says
    ``c.state <> 'live'``, which lets SQLite use the partial ``customers_state`` index (it
    holds only the rows that are not live)."""
    clause, params = customer_where(where, after, link=LINK, dialect=DIALECT, paged=paged)
    if where is not None and (
        (where.state is not None and where.state != "live")
        or (where.states and "live" not in where.states)
    ):
        clause += " AND c.state <> 'live'"
    return clause, params


_STAGE_STATE: Final = "c.stage >= ''"
"""The condition of the partial index ``customers_stage_state`` (schema 10), which every row
meets (a stage is text): SQLite uses the index only for a statement that repeats it, so that
it takes no other statement's plan (it would otherwise be chosen for any equality on the stage,
before a narrower owner or team, say)."""


def _stage_and_state(where: CustomerFilter | None, by: tuple[str, ...]) -> bool:
    """Whether ``customers_stage_state`` serves a count under ``where`` grouped by ``by``: the
    groupings and conditions are all on the stage and the state, and one of them is on the
    state (``customers_stage`` alone serves the stage), unless it keeps only rows that are
    not live and no stage narrows it (the partial ``customers_state`` holds those rows)."""
    if not all(name in ("stage", "state") for name in by):
        return False
    where = CustomerFilter() if where is None else where
    if attrs.evolve(where, stage=None, state=None, states=None) != CustomerFilter():
        return False
    if (where.state is not None and where.state != "live") or (
        where.states is not None and "live" not in where.states
    ):
        return where.stage is not None
    return where.state is not None or where.states is not None or "state" in by


def _bucket(column: str, stored: Sequence[int], low: int, high: int) -> str:
    """The period of ``column`` (known to be in ``[stored[low], stored[high])``): a binary
    search written as nested ``CASE`` expressions, ``log2(len(stored))`` deep."""
    if high - low == 1:
        return str(low)
    middle = (low + high) // 2
    below = _bucket(column, stored, low, middle)
    above = _bucket(column, stored, middle, high)
    return f"CASE WHEN {column} < {int(stored[middle])} THEN {below} ELSE {above} END"


def _periods(stored: Sequence[int]) -> str:
    """A ``VALUES`` list of ``(i, lo, hi)``, one row per period of the checked ``stored``
    edges (integers, written into the statement: a bound parameter each could pass SQLite's
    limit on variables)."""
    return ", ".join(
        f"({i}, {int(lo)}, {int(hi)})" for i, (lo, hi) in enumerate(itertools.pairwise(stored))
    )


def _chunks(items: Sequence[_I], size: int = _CHUNK) -> Iterator[Sequence[_I]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


class _Table(tables.SQLTable):
    _d = DIALECT
    _session: _SQLiteSession

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._session._conn

    def _run(self, template: str, params: Sequence[Any] | None = None) -> Cursor:
        return self._session._conn.execute(
            DIALECT.render(template), () if params is None else params
        )

    def _is_duplicate(self, exc: Exception) -> bool:
        return is_unique_violation(exc)


class _CustomerTable(_Table, tables.CustomerTableBase):
    _select = f"SELECT {_CUSTOMER_COLUMNS} FROM customers AS c"
    _link = LINK
    _pair_columns = pairs.PAIR_COLUMNS

    def _where(
        self, where: CustomerFilter | None, after: str | None, *, paged: bool = True
    ) -> tuple[str, list[Any]]:
        return _customer_where(where, after, paged=paged)

    def _count_where(
        self, where: CustomerFilter | None, by: tuple[str, ...] = ()
    ) -> tuple[str, list[Any]]:
        """Names ``customers_stage_state`` (by its condition) where it serves: a count by
        stage that keeps some states reads that index alone."""
        clause, params = _customer_where(where, None)
        if _stage_and_state(where, by):
            clause += f" AND {_STAGE_STATE}" if clause else f" WHERE {_STAGE_STATE}"
        return clause, params

    def _group_scan(self, where: CustomerFilter | None) -> str:
        """With no condition an index serves, the customers are read in ``pk`` order (the
        table itself), so that the joined child tables, keyed by ``(customer_pk, ...)``, are
        read in order too; SQLite would otherwise walk its smallest index, in another order,
        and seek each customer's children at random. States that leave out the live rows are
        read through the partial ``customers_state`` index (few rows: those a facet-first
        count subtracts, say)."""
        kept = kept_states(where)
        return " NOT INDEXED" if kept is not None and "live" in kept else ""

    def _pair_groups(self, names: tuple[str, ...], total: int) -> dict[tuple[str | None, ...], int]:
        """Counted from one index range per value, without a sort (see
        :mod:`custrec.backends._sqlite.pairs`): a facet name is keyed by ``pk`` (the one with
        fewer values of two) and the other grouping streamed; by the joined statement when a
        grouping has too many values."""
        run = self._conn.execute
        first, second = (
            pairs.column_grouping(name, run)
            if name in pairs.PAIR_COLUMNS
            else pairs.facet_grouping(name, run)
            for name in names
        )
        if first is None or second is None:
            return super()._pair_groups(names, total)
        if names[0] in pairs.PAIR_COLUMNS or names[1] in pairs.PAIR_COLUMNS:
            keyed_first = names[1] in pairs.PAIR_COLUMNS  # the facet name, the column streamed
        else:
            keyed_first = len(first.values) <= len(second.values)
        low, high = self._conn.execute(
            "SELECT (SELECT min(pk) FROM customers), (SELECT max(pk) FROM customers)"
        ).fetchone()
        keyed, streamed = (first, second) if keyed_first else (second, first)
        codes = pairs.code_table(low, high, len(keyed.values) + 1)
        found = pairs.count_pair(keyed, streamed, total, codes)
        if keyed_first:
            return {(mine, theirs): count for (theirs, mine), count in found.items()}
        return found

    @staticmethod
    def _plain_columns(row: CustomerRow) -> tuple[Any, ...]:
        """The checked row's columns from ``payload`` to ``state`` (``updated_at`` encoded)."""
        checks.check_customer(row)
        return (
            bytes(row.payload),
            row.kind,
            row.stage,
            row.owner,
            row.team,
            row.grade,
            encode_dt(row.updated_at, "updated_at"),
            row.state,
        )

    def _existing(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(ids):
            sql = f"SELECT id FROM customers WHERE id IN ({_marks(len(chunk))})"
            found.update(r[0] for r in self._conn.execute(sql, tuple(chunk)))
        return found

    def _write_children(
        self, items: Sequence[tuple[int, CustomerRow]], *, replace: bool = False
    ) -> None:
        """Insert the rows' index keys, tags and facets (``replace``: instead of those they
        had)."""
        if replace:
            pks = [(pk,) for pk, _ in items]
            self._conn.executemany("DELETE FROM customer_index WHERE customer_pk = ?", pks)
            self._conn.executemany("DELETE FROM customer_tags WHERE customer_pk = ?", pks)
        self._conn.executemany(
            "INSERT INTO customer_index (customer_pk, key) VALUES (?, ?)",
            packed_index_rows([(pk, row.index_keys) for pk, row in items]),
        )
        self._conn.executemany(
            "INSERT INTO customer_tags (customer_pk, pos, tag) VALUES (?, ?, ?)",
            [(pk, pos, tag) for pk, row in items for pos, tag in enumerate(row.tags)],
        )
        self._write_facets(items, replace=replace)

    def _write_facets(
        self, items: Sequence[tuple[int, CustomerRow]], *, replace: bool = False
    ) -> None:
        """Insert the rows' facets (``replace``: after deleting those they had)."""
        if replace:
            self._conn.executemany(
                "DELETE FROM customer_facets WHERE customer_pk = ?", [(pk,) for pk, _ in items]
            )
        facets = [(pk, *stored) for pk, row in items for stored in facet_rows(row.facets)]
        if facets:
            self._conn.executemany(
                "INSERT INTO customer_facets (customer_pk, facet, first_of_name) VALUES (?, ?, ?)",
                facets,
            )

    def _read_facets(self, pks: Sequence[int], into: dict[int, list[str]]) -> None:
        marks = _marks(len(pks))
        for pk, facet in self._conn.execute(
            f"SELECT customer_pk, facet FROM customer_facets WHERE customer_pk IN ({marks})",
            tuple(pks),
        ):
            into[pk].append(facet)

    def _rows(self, template: str, params: Sequence[Any]) -> builtins.list[CustomerRow]:
        raw = self._run(template, tuple(params)).fetchall()
        if not raw:
            return []
        pks = [r[0] for r in raw]
        keys: dict[int, set[str]] = {pk: set() for pk in pks}
        tags: dict[int, list[str]] = {pk: [] for pk in pks}
        facets: dict[int, list[str]] = {pk: [] for pk in pks}
        for chunk in _chunks(pks):
            marks = _marks(len(chunk))
            for pk, key in self._conn.execute(
                f"SELECT customer_pk, key FROM customer_index WHERE customer_pk IN ({marks})",
                tuple(chunk),
            ):
                keys[pk].add(unpack_index_key(key))
            for pk, tag in self._conn.execute(
                f"SELECT customer_pk, tag FROM customer_tags WHERE customer_pk IN ({marks}) "
                "ORDER BY customer_pk, pos",
                tuple(chunk),
            ):
                tags[pk].append(tag)
            self._read_facets(chunk, facets)
        return [
            mapping.customer_row(r[1:], keys[r[0]], tags[r[0]], facets[r[0]], DIALECT) for r in raw
        ]

    # -- protocol ---------------------------------------------------------------------------

    @writes
    def add(self, row: CustomerRow) -> int:
        params = (row.id, encode_dt(row.created_at, "created_at"), *self._plain_columns(row))
        cursor = self._insert(
            "INSERT INTO customers (id, created_at, payload, kind, stage, owner, team, grade, "
            "updated_at, state, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            params,
            f"customer {row.id}",
        )
        pk = cursor.lastrowid  # type: ignore[attr-defined]
        assert pk is not None
        self._write_children([(pk, row)])
        return 1

    @writes
    def add_many(self, rows: Sequence[CustomerRow], *, skip_existing: bool = False) -> int:
        """Insert with one ``executemany``; existing ids are found first, so nothing half-lands."""
        encoded = [
            (row.id, encode_dt(row.created_at, "created_at"), *self._plain_columns(row))
            for row in rows
        ]
        if not rows:
            return 0
        ids = [row.id for row in rows]
        existing = self._existing(list(dict.fromkeys(ids)))
        if skip_existing:
            seen = set(existing)
            keep: list[int] = []
            for i, customer_id in enumerate(ids):
                if customer_id not in seen:
                    seen.add(customer_id)
                    keep.append(i)
        else:
            if existing:
                raise DuplicateKey(f"customer {min(existing)}")
            repeated = [cid for cid, n in Counter(ids).items() if n > 1]
            if repeated:
                raise DuplicateKey(f"customer {min(repeated)} (twice in the batch)")
            keep = list(range(len(rows)))
        if not keep:
            return 0
        # every kept id is new (looked up above, in this write transaction), so each row gets
        # the next pk in turn, given here rather than read back id by id after the insert
        (last,) = self._conn.execute("SELECT coalesce(max(pk), 0) FROM customers").fetchone()
        pks = range(int(last) + 1, int(last) + 1 + len(keep))
        cursor = self._conn.executemany(
            "INSERT INTO customers (pk, id, created_at, payload, kind, stage, owner, team, "
            "grade, updated_at, state, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            [(pk, *encoded[i]) for pk, i in zip(pks, keep, strict=True)],
        )
        inserted: int = cursor.rowcount
        self._write_children([(pk, rows[i]) for pk, i in zip(pks, keep, strict=True)])
        return inserted

    @reads
    def get_many(self, customer_ids: Iterable[str]) -> builtins.list[CustomerRow]:
        ids = list(dict.fromkeys(checks.text_items(customer_ids, "customer_id")))
        checks.check_texts(ids, "customer_id")
        found: list[CustomerRow] = []
        for chunk in _chunks(ids):
            found.extend(self._rows(f"{self._select} WHERE c.id IN ({_marks(len(chunk))})", chunk))
        found.sort(key=lambda row: row.id)
        return found

    @writes
    def update(self, row: CustomerRow, *, expected_version: int) -> int:
        """Compare-and-set in the ``UPDATE`` itself; index keys, tags and facets are replaced."""
        encode_dt(row.created_at, "created_at")  # ignored, but must still be a valid instant
        columns = self._plain_columns(row)
        cursor = self._conn.execute(
            "UPDATE customers SET payload = ?, kind = ?, stage = ?, owner = ?, team = ?, "
            "grade = ?, updated_at = ?, state = ?, version = version + 1 "
            "WHERE id = ? AND version = ?",
            (*columns, row.id, checks.version(expected_version)),
        )
        if cursor.rowcount != 1:
            raise self._refuse_cas(row.id, expected_version)
        if row.state == "erased":  # an erasure: leave no old copy in the write-ahead log
            self._session._shred = True
        pk = self._conn.execute("SELECT pk FROM customers WHERE id = ?", (row.id,)).fetchone()[0]
        self._write_children([(pk, row)], replace=True)
        return expected_version + 1

    @writes
    def delete(self, customer_id: str, *, expected_version: int) -> None:
        checks.check_text(customer_id, "customer_id")
        cursor = self._conn.execute(
            "DELETE FROM customers WHERE id = ? AND version = ?",
            (customer_id, checks.version(expected_version)),
        )  # index keys, tags and facets go with it (ON DELETE CASCADE)
        if cursor.rowcount != 1:
            raise self._refuse_cas(customer_id, expected_version)
        self._session._shred = True

    @reads
    def lookup(self, index_key: str) -> builtins.list[str]:
        checks.check_text(index_key, "index key")
        return [
            r[0]
            for r in self._conn.execute(
                "SELECT c.id FROM customer_index AS i JOIN customers AS c ON c.pk = i.customer_pk "
                "WHERE i.key = ? ORDER BY c.id",
                (pack_index_key(index_key),),
            )
        ]

    @reads
    def lookup_many(
        self, index_keys: Iterable[str], *, limit: int | None = None
    ) -> dict[str, builtins.list[str]]:
        """Batched ``IN (...)`` lookups; with ``limit``, one capped index range per key.

        With a limit, a key's first ``limit`` postings in ``customer_index_key`` order (the
        oldest rows) are read from the covering index and nothing more, so a key shared by
        100,000 customers costs as little as one shared by ten; their ids come back sorted.
        """
        bound = None if limit is None else checks.bounded(limit)
        keys = list(dict.fromkeys(checks.text_items(index_keys, "index key")))
        checks.check_texts(keys, "index key")
        found: dict[str, list[str]] = {}
        if bound is not None:
            for key in keys:
                ids = [
                    r[0]
                    for r in self._conn.execute(
                        "SELECT c.id FROM (SELECT customer_pk FROM customer_index "
                        "WHERE key = ? ORDER BY customer_pk LIMIT ?) AS i "
                        "JOIN customers AS c ON c.pk = i.customer_pk",
                        (pack_index_key(key), bound),
                    )
                ]
                if ids:
                    found[key] = sorted(ids)
            return found
        packed = {pack_index_key(key): key for key in keys}
        for chunk in _chunks(list(packed)):
            for stored, customer_id in self._conn.execute(
                "SELECT i.key, c.id FROM customer_index AS i "
                "JOIN customers AS c ON c.pk = i.customer_pk "
                f"WHERE i.key IN ({_marks(len(chunk))}) ORDER BY i.key, c.id",
                tuple(chunk),
            ):
                found.setdefault(packed[stored], []).append(customer_id)
        return found

    @reads
    def count_by_period(
        self,
        edges: Sequence[datetime],
        *,
        field: str = "created_at",
        where: CustomerFilter | None = None,
    ) -> builtins.list[int]:
        """Without conditions, one index range count per period (``customers_created_at`` or
        ``customers_updated_at``). With conditions, the same when the periods span few of the
        rows (each row in range is then read through the index); otherwise one pass over
        the rows the conditions select, each placed in its period by a binary search written
        into the statement (reading the rows of a wide span in index order would seek each
        at random)."""
        stored, column = period_args(edges, field, DIALECT)
        clause, params = self._where(where, None, paged=False)
        if clause and self._spans_many(column, stored[0], stored[-1]):
            found = [0] * (len(stored) - 1)
            template = DIALECT.render(
                f"SELECT {{bucket}}, count(*) FROM customers AS c"
                f" WHERE +c.{column} >= %s AND +c.{column} < %s{also(clause)} GROUP BY 1"
            )
            sql = template.replace("{bucket}", _bucket(f"c.{column}", stored, 0, len(found)))
            for period, count in self._conn.execute(sql, [stored[0], stored[-1], *params]):
                found[period] = int(count)
            return found
        template = DIALECT.render(
            f"SELECT (SELECT count(*) FROM customers AS c"
            f" WHERE c.{column} >= p.lo AND c.{column} < p.hi{also(clause)})"
            " FROM periods AS p ORDER BY p.i"
        )
        sql = f"WITH periods (i, lo, hi) AS (VALUES {_periods(stored)}) {template}"
        return [int(r[0]) for r in self._conn.execute(sql, params)]

    def _spans_many(self, column: str, low: int, high: int) -> bool:
        """Whether more than one row in ten has ``low <= column < high`` (two index counts)."""
        inside = self._conn.execute(
            f"SELECT count(*) FROM customers WHERE {column} >= ? AND {column} < ?", (low, high)
        ).fetchone()[0]
        return bool(
            inside * 10 > self._conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        )


class _ActivityTable(_Table, tables.ActivityTableBase):
    @writes
    def add_many(self, rows: Sequence[ActivityRow], *, skip_existing: bool = False) -> int:
        encoded = [self._encode(row) for row in rows]
        if not rows:
            return 0
        ids = [row.id for row in rows]
        existing: set[str] = set()
        unique_ids = list(dict.fromkeys(ids))
        for chunk in _chunks(unique_ids):
            sql = f"SELECT id FROM activities WHERE id IN ({_marks(len(chunk))})"
            existing.update(r[0] for r in self._conn.execute(sql, tuple(chunk)))
        if not skip_existing:
            if existing:
                raise DuplicateKey(f"activity {min(existing)}")
            if len(unique_ids) != len(ids):
                repeated = min(i for i, n in Counter(ids).items() if n > 1)
                raise DuplicateKey(f"activity {repeated} (twice in the batch)")
        cursor = self._conn.executemany(
            f"INSERT INTO activities ({mapping.ACTIVITY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            [params for params in encoded if params[0] not in existing],
        )
        return int(cursor.rowcount)

    @reads
    def summaries(
        self, *, as_of: datetime, after: str | None = None, limit: int = 1000
    ) -> builtins.list[ActivitySummary]:
        cutoff, limit = self._summaries_args(as_of, after, limit)
        after_clause = "" if after is None else " AND customer_id > ?"
        picked_params: list[Any] = [cutoff] if after is None else [cutoff, after]
        sql = (
            "WITH picked AS ("
            " SELECT DISTINCT customer_id FROM activities"
            f" WHERE kind = 'transaction' AND occurred_at <= ?{after_clause}"
            " ORDER BY customer_id LIMIT ?"
            ") "
            "SELECT a.customer_id, a.currency, min(a.occurred_at), max(a.occurred_at),"
            " count(*), sum(a.amount)"
            " FROM activities AS a JOIN picked AS p ON p.customer_id = a.customer_id"
            " WHERE a.kind = 'transaction' AND a.occurred_at <= ?"
            " GROUP BY a.customer_id, a.currency"
            " ORDER BY a.customer_id, a.currency"
        )
        found = self._conn.execute(sql, [*picked_params, limit, cutoff])
        return [mapping.summary(r, DIALECT) for r in found]

    @reads
    def buyers_by_period(
        self, edges: Sequence[datetime], *, where: CustomerFilter | None = None
    ) -> builtins.list[tuple[int, int]]:
        """Purchases per (period, customer), then buyers and repeat buyers per period: one
        statement.

        Without ``where``, the purchases are read from the ``activities_bought`` index ranges.
        With it, when the periods span few of the purchases, the same, each purchase's
        customer looked up; when they span many, the customers that ``where`` selects are read
        first and then their purchases (by customer id), each placed in its period by a binary
        search written into the statement: looking up a customer per purchase would seek at
        random.
        """
        stored = period_edges(edges, DIALECT)
        found = [(0, 0)] * (len(stored) - 1)
        test = ""
        params: list[Any] = []
        if where is not None:
            clause, params = _customer_where(where, None)
            if self._spans_many(stored[0], stored[-1]):
                template = DIALECT.render(
                    "SELECT b, count(*), sum(n > 1) FROM ("
                    " SELECT {bucket} AS b, count(*) AS n FROM customers AS c"
                    " CROSS JOIN activities AS a ON a.customer_id = c.id"  # c first
                    " WHERE a.kind = 'transaction' AND a.amount > 0"
                    f" AND +a.occurred_at >= %s AND +a.occurred_at < %s{also(clause)}"
                    " GROUP BY c.pk, b"
                    ") GROUP BY b"
                )
                bucket = _bucket("a.occurred_at", stored, 0, len(found))
                sql = template.replace("{bucket}", bucket)
                for i, buyers, repeat in self._conn.execute(sql, [stored[0], stored[-1], *params]):
                    found[i] = (int(buyers), int(repeat))
                return found
            test = (
                " AND EXISTS (SELECT 1 FROM customers AS c"
                f" WHERE c.id = a.customer_id{also(clause)})"
            )
        template = DIALECT.render(
            ", bought (i, n) AS ("
            " SELECT p.i, count(*) FROM periods AS p CROSS JOIN activities AS a"
            " WHERE a.occurred_at >= p.lo AND a.occurred_at < p.hi"
            f" AND a.kind = 'transaction' AND a.amount > 0{test}"
            " GROUP BY p.i, a.customer_id"
            ") SELECT i, count(*), sum(n > 1) FROM bought GROUP BY i"
        )
        sql = f"WITH periods (i, lo, hi) AS (VALUES {_periods(stored)}){template}"
        for i, buyers, repeat in self._conn.execute(sql, params):
            found[i] = (int(buyers), int(repeat))
        return found

    def _spans_many(self, low: int, high: int) -> bool:
        """Whether more than one purchase in ten has ``low <= occurred_at < high``."""
        bought = "SELECT count(*) FROM activities WHERE kind = 'transaction' AND amount > 0"
        inside = self._conn.execute(
            f"{bought} AND occurred_at >= ? AND occurred_at < ?", (low, high)
        ).fetchone()[0]
        return bool(inside * 10 > self._conn.execute(bought).fetchone()[0])


class _ConsentTable(_Table, tables.ConsentTableBase):
    def _next_seq(self, customer_id: str) -> int:
        row = self._conn.execute(
            "SELECT coalesce(max(seq), 0) FROM consents WHERE customer_id = ?", (customer_id,)
        ).fetchone()
        return int(row[0]) + 1

    def _append_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._conn.executemany(
            "INSERT INTO consents (customer_id, seq, recorded_at, purpose, action, payload) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )

    @writes
    def append(self, record: ConsentRecord) -> int:
        checks.check_consent(record)
        recorded_at = encode_dt(record.recorded_at, "recorded_at")
        seq = self._next_seq(record.customer_id)
        payload = bytes(record.payload)
        self._append_rows(
            [(record.customer_id, seq, recorded_at, record.purpose, record.action, payload)]
        )
        return seq

    @writes
    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        """Copy the source's events, in order, after the target's last one (new seqs)."""
        checks.check_texts((from_customer_id, to_customer_id), "customer_id")
        if from_customer_id == to_customer_id:
            return 0
        source = self._conn.execute(
            "SELECT recorded_at, purpose, action, payload FROM consents "
            "WHERE customer_id = ? ORDER BY seq",
            (from_customer_id,),
        ).fetchall()
        base = self._next_seq(to_customer_id)
        self._append_rows([(to_customer_id, base + i, *r) for i, r in enumerate(source)])
        return len(source)


class _HistoryTable(_Table, tables.HistoryTableBase):
    @writes
    def append(self, records: Sequence[HistoryRecord]) -> builtins.list[int]:
        for record in records:
            checks.check_history(record)
        encoded = [encode_dt(r.at, "at") for r in records]
        next_seq = self._next_seqs(list(dict.fromkeys(r.customer_id for r in records)))
        seqs: list[int] = []
        for record in records:
            seqs.append(next_seq[record.customer_id])
            next_seq[record.customer_id] += 1
        self._conn.executemany(
            "INSERT INTO history (customer_id, seq, at, actor_id, action, path, reason, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (r.customer_id, seq, at, r.actor_id, r.action, r.path, r.reason, bytes(r.payload))
                for r, seq, at in zip(records, seqs, encoded, strict=True)
            ],
        )
        return seqs

    def _next_seqs(self, customer_ids: Sequence[str]) -> dict[str, int]:
        """The next history seq of each customer (1 for one without history): one statement
        per chunk of customers, not one per customer."""
        found = dict.fromkeys(customer_ids, 1)
        for chunk in _chunks(customer_ids):
            rows = self._conn.execute(
                "SELECT customer_id, max(seq) FROM history "
                f"WHERE customer_id IN ({_marks(len(chunk))}) GROUP BY customer_id",
                tuple(chunk),
            )
            for customer_id, last in rows:
                found[customer_id] = int(last) + 1
        return found


class _AuditTable(_Table, tables.AuditTableBase):
    @writes
    def append(self, records: Sequence[AuditRecord]) -> builtins.list[int]:
        encoded = self._encode(records)
        first = int(self._conn.execute("SELECT coalesce(max(seq), 0) FROM audit").fetchone()[0]) + 1
        seqs = list(range(first, first + len(encoded)))
        self._conn.executemany(
            f"INSERT INTO audit ({mapping.AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(seq, *params) for seq, params in zip(seqs, encoded, strict=True)],
        )
        return seqs


class _KeyTable(_Table, tables.KeyTableBase):
    @reads
    def get_many(self, customer_ids: Sequence[str]) -> dict[str, WrappedKey]:
        """The keys stored for those of ``customer_ids`` that have one, one statement per
        chunk of ids (a bulk intake asks for thousands, nearly all without a key)."""
        ids = list(dict.fromkeys(customer_ids))
        for customer_id in ids:
            checks.check_text(customer_id, "customer_id")
        found: dict[str, WrappedKey] = {}
        for chunk in _chunks(ids):
            sql = (
                f"SELECT {mapping.KEY_COLUMNS} FROM data_keys "
                f"WHERE customer_id IN ({_marks(len(chunk))})"
            )
            for row in self._conn.execute(sql, tuple(chunk)):
                key = mapping.wrapped_key(row, DIALECT)
                found[key.customer_id] = key
        return found

    def _deleted(self) -> None:
        """``secure_delete`` overwrote the key in the file; leave no copy of it in the
        write-ahead log after the commit either."""
        self._session._shred = True

    @writes
    def put_many(self, keys: Sequence[WrappedKey]) -> None:
        """One ``executemany``; a duplicate raises ``DuplicateKey`` and nothing stays."""
        encoded = [self._encode(key) for key in keys]
        if not encoded:
            return
        ids = [row[0] for row in encoded]
        repeated = [cid for cid, n in Counter(ids).items() if n > 1]
        if repeated:
            raise DuplicateKey(f"data key of customer {min(repeated)} (twice in the batch)")
        cursor = self._conn.executemany(
            f"INSERT INTO data_keys ({mapping.KEY_COLUMNS}) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (customer_id) DO NOTHING",
            encoded,
        )
        if cursor.rowcount != len(encoded):  # the savepoint undoes the rows that did go in
            ours = {row[0]: row[2] for row in encoded}
            taken: list[str] = []
            for chunk in _chunks(ids):
                marks = _marks(len(chunk))
                sql = f"SELECT customer_id, wrapped FROM data_keys WHERE customer_id IN ({marks})"
                found = self._conn.execute(sql, tuple(chunk))
                taken.extend(r[0] for r in found if bytes(r[1]) != ours[r[0]])
            raise DuplicateKey(f"data key of customer {min(taken, default=ids[0])}")


class _MetaTable(_Table, tables.MetaTableBase):
    pass
