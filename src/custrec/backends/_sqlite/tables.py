"""SQLite's tables: the shared methods of :mod:`custrec.backends._sql.tables` and SQLite's own
statements for bulk loads, index keys and tags (child tables keyed by the customer's ``pk``),
ledger numbering and summaries."""

from __future__ import annotations

import builtins
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

from custrec.backends._sql import rows as mapping
from custrec.backends._sql import tables
from custrec.backends._sql.dialect import Cursor
from custrec.backends._sql.session import reads, writes
from custrec.backends._sqlite.dialect import DIALECT, encode_dt, is_unique_violation
from custrec.backends._sqlite.schema import pack_index_key, unpack_index_key
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
    _tag_of = "t.customer_pk = c.pk"

    def _where(self, where: CustomerFilter | None, after: str | None) -> tuple[str, list[Any]]:
        """The shared clause; a filter on a state other than ``'live'`` also says
        ``c.state <> 'live'``, which lets SQLite use the partial ``customers_state`` index
        (it holds only the rows that are not live)."""
        clause, params = super()._where(where, after)
        if where is not None and where.state is not None and where.state != "live":
            clause += " AND c.state <> 'live'"
        return clause, params

    @staticmethod
    def _facets(row: CustomerRow) -> tuple[Any, ...]:
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

    def _write_children(self, items: Sequence[tuple[int, CustomerRow]]) -> None:
        self._conn.executemany(
            "INSERT INTO customer_index (customer_pk, key) VALUES (?, ?)",
            [(pk, pack_index_key(key)) for pk, row in items for key in row.index_keys],
        )
        self._conn.executemany(
            "INSERT INTO customer_tags (customer_pk, pos, tag) VALUES (?, ?, ?)",
            [(pk, pos, tag) for pk, row in items for pos, tag in enumerate(row.tags)],
        )

    def _rows(self, template: str, params: Sequence[Any]) -> builtins.list[CustomerRow]:
        raw = self._run(template, tuple(params)).fetchall()
        if not raw:
            return []
        pks = [r[0] for r in raw]
        keys: dict[int, set[str]] = {pk: set() for pk in pks}
        tags: dict[int, list[str]] = {pk: [] for pk in pks}
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
        return [mapping.customer_row(r[1:], keys[r[0]], tags[r[0]], DIALECT) for r in raw]

    # -- protocol ---------------------------------------------------------------------------

    @writes
    def add(self, row: CustomerRow) -> int:
        params = (row.id, encode_dt(row.created_at, "created_at"), *self._facets(row))
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
            (row.id, encode_dt(row.created_at, "created_at"), *self._facets(row)) for row in rows
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
        cursor = self._conn.executemany(
            "INSERT INTO customers (id, created_at, payload, kind, stage, owner, team, grade, "
            "updated_at, state, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) "
            "ON CONFLICT (id) DO NOTHING",
            [encoded[i] for i in keep],
        )
        inserted: int = cursor.rowcount
        kept_ids = [ids[i] for i in keep]
        pk_of: dict[str, int] = {}
        for chunk in _chunks(kept_ids):
            sql = f"SELECT id, pk FROM customers WHERE id IN ({_marks(len(chunk))})"
            pk_of.update((r[0], r[1]) for r in self._conn.execute(sql, tuple(chunk)))
        self._write_children([(pk_of[rows[i].id], rows[i]) for i in keep])
        return inserted

    @reads
    def get_many(self, customer_ids: Iterable[str]) -> builtins.list[CustomerRow]:
        ids = list(dict.fromkeys(customer_ids))
        checks.check_texts(ids, "customer_id")
        found: list[CustomerRow] = []
        for chunk in _chunks(ids):
            found.extend(self._rows(f"{self._select} WHERE c.id IN ({_marks(len(chunk))})", chunk))
        found.sort(key=lambda row: row.id)
        return found

    @writes
    def update(self, row: CustomerRow, *, expected_version: int) -> int:
        """Compare-and-set in the ``UPDATE`` itself; index keys and tags are replaced."""
        encode_dt(row.created_at, "created_at")  # ignored, but must still be a valid instant
        facets = self._facets(row)
        cursor = self._conn.execute(
            "UPDATE customers SET payload = ?, kind = ?, stage = ?, owner = ?, team = ?, "
            "grade = ?, updated_at = ?, state = ?, version = version + 1 "
            "WHERE id = ? AND version = ?",
            (*facets, row.id, checks.version(expected_version)),
        )
        if cursor.rowcount != 1:
            raise self._refuse_cas(row.id, expected_version)
        if row.state == "erased":  # an erasure: leave no old copy in the write-ahead log
            self._session._shred = True
        pk = self._conn.execute("SELECT pk FROM customers WHERE id = ?", (row.id,)).fetchone()[0]
        self._conn.execute("DELETE FROM customer_index WHERE customer_pk = ?", (pk,))
        self._conn.execute("DELETE FROM customer_tags WHERE customer_pk = ?", (pk,))
        self._write_children([(pk, row)])
        return expected_version + 1

    @writes
    def delete(self, customer_id: str, *, expected_version: int) -> None:
        checks.check_text(customer_id, "customer_id")
        cursor = self._conn.execute(
            "DELETE FROM customers WHERE id = ? AND version = ?",
            (customer_id, checks.version(expected_version)),
        )  # index keys and tags go with it (ON DELETE CASCADE)
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
        keys = list(dict.fromkeys(index_keys))
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
        next_seq: dict[str, int] = {}
        seqs: list[int] = []
        for record in records:
            if record.customer_id not in next_seq:
                row = self._conn.execute(
                    "SELECT coalesce(max(seq), 0) FROM history WHERE customer_id = ?",
                    (record.customer_id,),
                ).fetchone()
                next_seq[record.customer_id] = int(row[0]) + 1
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
