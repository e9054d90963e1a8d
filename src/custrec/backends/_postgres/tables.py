"""PostgreSQL's tables: the shared methods of :mod:`custrec.backends._sql.tables` and
PostgreSQL's own statements: data-modifying CTEs for a customer and its index keys and tags,
``COPY`` bulk loads, advisory locks on index keys, ledgers and the audit log, and summaries read
through a server-side cursor."""

from __future__ import annotations

import builtins
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import psycopg
import psycopg.errors
from psycopg.rows import TupleRow

from custrec.backends._postgres.dialect import DIALECT
from custrec.backends._postgres.queue import NOT_QUEUED, QUEUE_COLUMNS, QUEUED, decode_queued
from custrec.backends._sql import rows as mapping
from custrec.backends._sql import tables
from custrec.backends._sql.session import reads, writes, writes_one_statement
from custrec.errors import DuplicateKey, StorageError
from custrec.grading import ActivitySummary
from custrec.storage import (
    ActivityRow,
    AuditClaim,
    AuditRecord,
    ConsentRecord,
    CustomerRow,
    HistoryRecord,
    QueuedAudit,
    WrappedKey,
    checks,
)

if TYPE_CHECKING:
    from custrec.backends.postgres import _PostgresSession


_Cursor = psycopg.Cursor[TupleRow]
_Params = Sequence[Any] | Mapping[str, Any] | None

_KEY_BUCKETS: Final = 256  # index-key lock buckets per schema (see _CustomerTable._key_locks)
_SUMMARY_FETCH: Final = 2000  # rows per FETCH from the server-side summaries cursor


def _repeated(ids: Sequence[str]) -> str | None:
    """Return the smallest id that occurs more than once in ``ids``, if any."""
    seen: set[str] = set()
    twice: set[str] = set()
    for item in ids:
        if item in seen:
            twice.add(item)
        seen.add(item)
    return min(twice) if twice else None


class _Table(tables.SQLTable):
    _d = DIALECT
    _session: _PostgresSession

    def _q(self, template: str) -> bytes:
        return self._session._store._render(template)

    def _exec(self, template: str, params: _Params = None) -> _Cursor:
        return self._session._execute([(self._q(template), params)])[0]

    def _exec_all(self, *statements: tuple[str, _Params]) -> list[_Cursor]:
        """Run statements in order in one round trip (pipelined); return their cursors."""
        return self._session._execute([(self._q(t), p) for t, p in statements])

    def _run(self, template: str, params: Sequence[Any] | None = None) -> _Cursor:
        return self._exec(template, params)

    def _run_all(self, *statements: tables.Statement) -> list[Any]:
        return self._exec_all(*statements)

    def _is_duplicate(self, exc: Exception) -> bool:
        return isinstance(exc, psycopg.errors.UniqueViolation)


_CUSTOMER_SELECT: Final = (
    "SELECT c.id, c.version, c.payload, c.kind, c.stage, c.owner, c.team, c.grade, "
    "c.created_at, c.updated_at, c.state, "
    "ARRAY(SELECT i.key FROM {s}.customer_index AS i WHERE i.customer_id = c.id), "
    "ARRAY(SELECT t.tag FROM {s}.customer_tags AS t WHERE t.customer_id = c.id ORDER BY t.pos) "
    "FROM {s}.customers AS c"
)

_CUSTOMER_INSERT: Final = (
    "WITH added AS ("
    " INSERT INTO {s}.customers (id, version, payload, kind, stage, owner, team, grade,"
    " created_at, updated_at, state) VALUES (%(id)s, 1, %(payload)s, %(kind)s, %(stage)s,"
    " %(owner)s, %(team)s, %(grade)s, %(created_at)s, %(updated_at)s, %(state)s) RETURNING id"
    "), keys AS ("
    " INSERT INTO {s}.customer_index (customer_id, key)"
    " SELECT a.id, k.key FROM added AS a, unnest(%(keys)s::text[]) AS k (key)"
    "), tags AS ("
    " INSERT INTO {s}.customer_tags (customer_id, pos, tag)"
    " SELECT a.id, t.pos - 1, t.tag FROM added AS a,"
    " unnest(%(tags)s::text[]) WITH ORDINALITY AS t (tag, pos)"
    ") SELECT count(*) FROM added"
)

# Compare-and-set in one statement: the children change only when the UPDATE matched. The
# deletions and insertions touch disjoint rows, so they can share the statement's snapshot.
_CUSTOMER_UPDATE: Final = (
    "WITH changed AS ("
    " UPDATE {s}.customers SET payload = %(payload)s, kind = %(kind)s, stage = %(stage)s,"
    " owner = %(owner)s, team = %(team)s, grade = %(grade)s, updated_at = %(updated_at)s,"
    " state = %(state)s, version = version + 1 WHERE id = %(id)s AND version = %(expected)s"
    " RETURNING id"
    "), old_keys AS ("
    " DELETE FROM {s}.customer_index WHERE customer_id IN (SELECT id FROM changed)"
    " AND key <> ALL (%(keys)s::text[])"
    "), new_keys AS ("
    " INSERT INTO {s}.customer_index (customer_id, key)"
    " SELECT c.id, k.key FROM changed AS c, unnest(%(keys)s::text[]) AS k (key)"
    " ON CONFLICT DO NOTHING"
    "), old_tags AS ("
    " DELETE FROM {s}.customer_tags WHERE customer_id IN (SELECT id FROM changed)"
    " AND pos >= cardinality(%(tags)s::text[])"
    "), new_tags AS ("
    " INSERT INTO {s}.customer_tags (customer_id, pos, tag)"
    " SELECT c.id, t.pos - 1, t.tag FROM changed AS c,"
    " unnest(%(tags)s::text[]) WITH ORDINALITY AS t (tag, pos)"
    " ON CONFLICT (customer_id, pos) DO UPDATE SET tag = excluded.tag"
    ") SELECT count(*) FROM changed"
)

_CUSTOMER_DELETE: Final = (
    "WITH gone AS ("
    " DELETE FROM {s}.customers WHERE id = %s AND version = %s RETURNING id"
    "), keys AS ("
    " DELETE FROM {s}.customer_index WHERE customer_id IN (SELECT id FROM gone)"
    "), tags AS ("
    " DELETE FROM {s}.customer_tags WHERE customer_id IN (SELECT id FROM gone)"
    ") SELECT count(*) FROM gone"
)

_CUSTOMER_STAGE: Final = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS custrec_stage_customers ("
    ' ord integer NOT NULL, id text COLLATE "C" NOT NULL, payload bytea NOT NULL,'
    " kind text NOT NULL, stage text NOT NULL, owner text, team text, grade text,"
    " created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, state text NOT NULL,"
    " keys text[] NOT NULL, tags text[] NOT NULL"
    ") ON COMMIT DELETE ROWS"
)

# skip_existing: the first occurrence of each id wins; existing ids are skipped by ON CONFLICT,
# so a concurrent import of the same rows cannot make this fail. Children only for new rows.
_CUSTOMER_MERGE: Final = (
    "WITH src AS ("
    " SELECT DISTINCT ON (id) * FROM pg_temp.custrec_stage_customers ORDER BY id, ord"
    "), added AS ("
    " INSERT INTO {s}.customers (id, version, payload, kind, stage, owner, team, grade,"
    " created_at, updated_at, state)"
    " SELECT id, 1, payload, kind, stage, owner, team, grade, created_at, updated_at, state"
    " FROM src ORDER BY ord ON CONFLICT (id) DO NOTHING RETURNING id"
    "), keys AS ("
    " INSERT INTO {s}.customer_index (customer_id, key)"
    " SELECT s.id, k.key FROM src AS s JOIN added AS a ON a.id = s.id,"
    " unnest(s.keys) AS k (key)"
    "), tags AS ("
    " INSERT INTO {s}.customer_tags (customer_id, pos, tag)"
    " SELECT s.id, t.pos - 1, t.tag FROM src AS s JOIN added AS a ON a.id = s.id,"
    " unnest(s.tags) WITH ORDINALITY AS t (tag, pos)"
    ") SELECT count(*) FROM added"
)

_CUSTOMER_COPY_TYPES: Final = (
    "text",
    "int4",
    "bytea",
    "text",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
    "timestamptz",
    "text",
)


_CUSTOMER_STAGE_TYPES: Final = [
    "int4",
    *(t for i, t in enumerate(_CUSTOMER_COPY_TYPES) if i != 1),  # no version column
    "text[]",
    "text[]",
]


class _CustomerTable(_Table, tables.CustomerTableBase):
    def _row_lock(self) -> str:
        """In a write session, ``FOR UPDATE``: what the session read stays true until it
        commits, so a read-modify-write of one customer waits for a concurrent one instead of
        failing its compare-and-set."""
        return "" if self._session._readonly else " FOR UPDATE OF c"

    _select = _CUSTOMER_SELECT
    _tag_of = "t.customer_id = c.id"

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _params(row: CustomerRow) -> dict[str, Any]:
        checks.check_customer(row)
        return {
            "id": row.id,
            "payload": bytes(row.payload),
            "kind": row.kind,
            "stage": row.stage,
            "owner": row.owner,
            "team": row.team,
            "grade": row.grade,
            "created_at": checks.check_instant(row.created_at, "created_at"),
            "updated_at": checks.check_instant(row.updated_at, "updated_at"),
            "state": row.state,
            "keys": sorted(row.index_keys),
            "tags": list(row.tags),
        }

    def _rows(self, template: str, params: Sequence[Any]) -> builtins.list[CustomerRow]:
        return [
            mapping.customer_row(r, r[11], r[12], DIALECT) for r in self._exec(template, params)
        ]

    def _key_locks(self, keys: Iterable[str]) -> tuple[str, _Params] | None:
        """The statement locking ``keys`` (by hash bucket) until the session ends, or ``None``.

        Every write session that adds index keys, and every index lookup in a write session,
        takes these locks first (in bucket order, in one statement). So a write session that
        looked a key up can rely on the answer until it ends: no other session can add that key
        to a customer meanwhile (it waits), and a session that added it earlier had committed
        before the lookup read. This is what makes "look up, then add if absent" (the registry's
        duplicate check) as safe as under SQLite's single writer. Read-only sessions take none.
        """
        store = self._session._store
        buckets = sorted({zlib.crc32(k.encode()) % _KEY_BUCKETS for k in keys})
        if not buckets:
            return None
        calls = ", ".join("pg_advisory_xact_lock(%s)" for _ in buckets)
        return f"SELECT {calls}", [store._bucket_keys[b] for b in buckets]

    def _with_key_locks(
        self, keys: Iterable[str], *statements: tuple[str, _Params]
    ) -> list[_Cursor]:
        """Run ``statements`` after the key locks (pipelined); return their cursors only."""
        lock = None if self._session._readonly else self._key_locks(keys)
        if lock is None:
            return self._exec_all(*statements)
        return self._exec_all(lock, *statements)[1:]

    def _existing(self, ids: Sequence[str], keys: Iterable[str]) -> str | None:
        """Take the key locks for ``keys``; return the smallest of ``ids`` already stored."""
        (cursor,) = self._with_key_locks(
            keys, ("SELECT min(id) FROM {s}.customers WHERE id = ANY (%s::text[])", (list(ids),))
        )
        found = cursor.fetchone()
        return None if found is None else found[0]

    # -- protocol ---------------------------------------------------------------------------

    @writes
    def add(self, row: CustomerRow) -> int:
        params = self._params(row)
        try:
            self._with_key_locks(params["keys"], (_CUSTOMER_INSERT, params))
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateKey(f"customer {row.id}") from exc
        return 1

    @writes
    def add_many(self, rows: Sequence[CustomerRow], *, skip_existing: bool = False) -> int:
        """Bulk insert through ``COPY``.

        Without ``skip_existing`` the batch is checked for repeated and existing ids first and
        then copied straight into the tables. With it, rows are copied into a temporary table
        and merged with ``INSERT ... ON CONFLICT DO NOTHING``, which also tolerates a concurrent
        import of the same ids.
        """
        encoded = [self._params(row) for row in rows]
        if not encoded:
            return 0
        if skip_existing:
            return self._merge(encoded)
        ids = [p["id"] for p in encoded]
        repeated = _repeated(ids)
        if repeated is not None:
            raise DuplicateKey(f"customer {repeated} (twice in the batch)")
        existing = self._existing(ids, [k for p in encoded for k in p["keys"]])
        if existing is not None:
            raise DuplicateKey(f"customer {existing}")
        cursor = self._session._conn.cursor()
        try:
            with cursor.copy(
                self._q(
                    "COPY {s}.customers (id, version, payload, kind, stage, owner, team, grade,"
                    " created_at, updated_at, state) FROM STDIN (FORMAT BINARY)"
                )
            ) as copy:
                copy.set_types(list(_CUSTOMER_COPY_TYPES))
                for p in encoded:
                    copy.write_row(
                        (
                            p["id"],
                            1,
                            p["payload"],
                            p["kind"],
                            p["stage"],
                            p["owner"],
                            p["team"],
                            p["grade"],
                            p["created_at"],
                            p["updated_at"],
                            p["state"],
                        )
                    )
            with cursor.copy(
                self._q("COPY {s}.customer_index (customer_id, key) FROM STDIN (FORMAT BINARY)")
            ) as copy:
                copy.set_types(["text", "text"])
                for p in encoded:
                    for key in p["keys"]:
                        copy.write_row((p["id"], key))
            with cursor.copy(
                self._q("COPY {s}.customer_tags (customer_id, pos, tag) FROM STDIN (FORMAT BINARY)")
            ) as copy:
                copy.set_types(["text", "int4", "text"])
                for p in encoded:
                    for pos, tag in enumerate(p["tags"]):
                        copy.write_row((p["id"], pos, tag))
        except psycopg.errors.UniqueViolation as exc:  # a concurrent insert of the same id
            raise DuplicateKey("customer (inserted concurrently by another session)") from exc
        finally:
            cursor.close()
        return len(encoded)

    def _merge(self, encoded: Sequence[dict[str, Any]]) -> int:
        self._with_key_locks(
            [k for p in encoded for k in p["keys"]],
            (_CUSTOMER_STAGE, None),
            ("TRUNCATE pg_temp.custrec_stage_customers", None),
        )
        with (
            self._session._conn.cursor() as cursor,
            cursor.copy(
                "COPY pg_temp.custrec_stage_customers (ord, id, payload, kind, stage, owner, team,"
                " grade, created_at, updated_at, state, keys, tags) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(_CUSTOMER_STAGE_TYPES)
            for ord_, p in enumerate(encoded):
                copy.write_row(
                    (
                        ord_,
                        p["id"],
                        p["payload"],
                        p["kind"],
                        p["stage"],
                        p["owner"],
                        p["team"],
                        p["grade"],
                        p["created_at"],
                        p["updated_at"],
                        p["state"],
                        p["keys"],
                        p["tags"],
                    )
                )
        found = self._exec(_CUSTOMER_MERGE).fetchone()
        assert found is not None
        return int(found[0])

    @reads
    def get_many(self, customer_ids: Iterable[str]) -> builtins.list[CustomerRow]:
        ids = list(dict.fromkeys(customer_ids))
        checks.check_texts(ids, "customer_id")
        if not ids:
            return []
        return self._rows(_CUSTOMER_SELECT + " WHERE c.id = ANY (%s::text[]) ORDER BY c.id", (ids,))

    @writes
    def update(self, row: CustomerRow, *, expected_version: int) -> int:
        """Compare-and-set in the ``UPDATE`` itself; index keys and tags are replaced."""
        params = self._params(row)  # created_at is ignored, but must still be a valid instant
        params["expected"] = checks.version(expected_version)
        (cursor,) = self._with_key_locks(params["keys"], (_CUSTOMER_UPDATE, params))
        found = cursor.fetchone()
        if found is None or int(found[0]) != 1:
            raise self._refuse_cas(row.id, expected_version)
        return expected_version + 1

    @writes
    def delete(self, customer_id: str, *, expected_version: int) -> None:
        """Compare-and-set delete; the index keys and tags go in the same statement."""
        checks.check_text(customer_id, "customer_id")
        found = self._exec(
            _CUSTOMER_DELETE, (customer_id, checks.version(expected_version))
        ).fetchone()
        if found is None or int(found[0]) != 1:
            raise self._refuse_cas(customer_id, expected_version)

    @reads
    def lookup(self, index_key: str) -> builtins.list[str]:
        """Ids carrying ``index_key``; in a write session the key stays locked (see _key_locks)."""
        checks.check_text(index_key, "index key")
        (cursor,) = self._with_key_locks(
            [index_key],
            (
                "SELECT customer_id FROM {s}.customer_index WHERE key = %s ORDER BY customer_id",
                (index_key,),
            ),
        )
        return [r[0] for r in cursor]

    @reads
    def lookup_many(
        self, index_keys: Iterable[str], *, limit: int | None = None
    ) -> dict[str, builtins.list[str]]:
        """As :meth:`lookup` for many keys at once (locks taken in one statement).

        With ``limit``, a ``LATERAL`` subquery per key reads the first ``limit`` entries of
        ``customer_index_key (key, customer_id)`` in order and stops: a key's posting list is
        never read past the cap.
        """
        bound = None if limit is None else checks.bounded(limit)
        keys = list(dict.fromkeys(index_keys))
        checks.check_texts(keys, "index key")
        found: dict[str, list[str]] = {}
        if not keys:
            return found
        if bound is None:
            statement: tuple[str, _Params] = (
                "SELECT key, customer_id FROM {s}.customer_index WHERE key = ANY (%s::text[]) "
                "ORDER BY key, customer_id",
                (keys,),
            )
        else:
            statement = (
                "SELECT k.key, i.customer_id FROM unnest(%s::text[]) AS k (key) "
                "CROSS JOIN LATERAL (SELECT customer_id FROM {s}.customer_index "
                "WHERE key = k.key ORDER BY customer_id LIMIT %s::bigint) AS i "
                "ORDER BY k.key, i.customer_id",
                (keys, bound),
            )
        (cursor,) = self._with_key_locks(keys, statement)
        for key, customer_id in cursor:
            found.setdefault(key, []).append(customer_id)
        return found


_ACTIVITY_COLUMNS: Final = mapping.ACTIVITY_COLUMNS
_ACTIVITY_COPY_TYPES: Final = ("text", "text", "text", "timestamptz", "numeric", "text", "bytea")

_ACTIVITY_STAGE: Final = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS custrec_stage_activities ("
    ' ord integer NOT NULL, id text COLLATE "C" NOT NULL, customer_id text NOT NULL,'
    " kind text NOT NULL, occurred_at timestamptz NOT NULL, amount numeric, currency text,"
    " payload bytea NOT NULL"
    ") ON COMMIT DELETE ROWS"
)

_ACTIVITY_MERGE: Final = (
    "INSERT INTO {s}.activities (" + _ACTIVITY_COLUMNS + ") "
    "SELECT " + _ACTIVITY_COLUMNS + " FROM ("
    " SELECT DISTINCT ON (id) * FROM pg_temp.custrec_stage_activities ORDER BY id, ord"
    ") AS src ORDER BY ord ON CONFLICT (id) DO NOTHING"
)

# One GROUP BY, read through a server-side cursor that stops after `limit` customers. Declared
# as a cursor, the query is planned for a fast start: an ordered walk of the covering partial
# index activities_purchases feeding a GroupAggregate, with no sort or hash of the table, so the
# server only computes the groups that are fetched (even before the table was ever analysed).
_SUMMARIES: Final = (
    "SELECT customer_id, currency, min(occurred_at), max(occurred_at), count(*), sum(amount)"
    " FROM {s}.activities"
    " WHERE kind = 'transaction' AND occurred_at <= %(as_of)s AND customer_id > %(after)s"
    " GROUP BY customer_id, currency"
    " ORDER BY customer_id, currency"
)


class _ActivityTable(_Table, tables.ActivityTableBase):
    @writes
    def add_many(self, rows: Sequence[ActivityRow], *, skip_existing: bool = False) -> int:
        """Bulk insert through ``COPY`` (as :meth:`_CustomerTable.add_many`)."""
        encoded = [self._encode(row) for row in rows]
        if not encoded:
            return 0
        conn = self._session._conn
        if skip_existing:
            self._exec_all(
                (_ACTIVITY_STAGE, None), ("TRUNCATE pg_temp.custrec_stage_activities", None)
            )
            with (
                conn.cursor() as cursor,
                cursor.copy(
                    "COPY pg_temp.custrec_stage_activities (ord, " + _ACTIVITY_COLUMNS + ") "
                    "FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types(["int4", *_ACTIVITY_COPY_TYPES])
                for ord_, params in enumerate(encoded):
                    copy.write_row((ord_, *params))
            return self._exec(_ACTIVITY_MERGE).rowcount
        ids = [params[0] for params in encoded]
        repeated = _repeated(ids)
        if repeated is not None:
            raise DuplicateKey(f"activity {repeated} (twice in the batch)")
        found = self._exec(
            "SELECT min(id) FROM {s}.activities WHERE id = ANY (%s::text[])", (ids,)
        ).fetchone()
        if found is not None and found[0] is not None:
            raise DuplicateKey(f"activity {found[0]}")
        try:
            with (
                conn.cursor() as cursor,
                cursor.copy(
                    self._q(
                        "COPY {s}.activities (" + _ACTIVITY_COLUMNS + ") FROM STDIN (FORMAT BINARY)"
                    )
                ) as copy,
            ):
                copy.set_types(list(_ACTIVITY_COPY_TYPES))
                for params in encoded:
                    copy.write_row(params)
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateKey("activity (inserted concurrently by another session)") from exc
        return len(encoded)

    @reads
    def summaries(
        self,
        *,
        as_of: datetime,
        after: str | None = None,
        limit: int = 1000,
    ) -> builtins.list[ActivitySummary]:
        """Computed by the server and read through a server-side cursor, in batches.

        Raises ``StorageError`` when a total exceeds the protocol's bound on amounts.
        """
        as_of_utc, limit = self._summaries_args(as_of, after, limit)
        params = {"as_of": as_of_utc, "after": after or ""}
        found: list[ActivitySummary] = []
        customers = 0
        current: str | None = None
        with self._session._server_cursor() as cursor:
            cursor.execute(self._q(_SUMMARIES), params)
            # Every customer has at least one row, so limit + 1 rows may already reach the first
            # customer beyond the page; later fetches ask for what is still missing.
            batch = min(limit + 1, _SUMMARY_FETCH)
            while rows := cursor.fetchmany(batch):
                for customer_id, currency, first, last, count, total in rows:
                    if customer_id != current:
                        if customers == limit:
                            return found
                        current = customer_id
                        customers += 1
                    found.append(
                        mapping.summary((customer_id, currency, first, last, count, total), DIALECT)
                    )
                batch = min(max(limit - customers + 1, 100), _SUMMARY_FETCH)
        return found


class _LedgerTable(_Table):
    """Shared plumbing of the per-customer numbered ledgers (consents, history)."""

    def _lock_statement(self, customer_ids: Iterable[str]) -> tuple[str, list[int]]:
        """One statement taking the ledgers' advisory locks, in key order (no deadlock cycles)."""
        keys = sorted({self._session._store._ledger_key(self._name, c) for c in customer_ids})
        calls = ", ".join("pg_advisory_xact_lock(%s)" for _ in keys)
        return f"SELECT {calls}", keys


_CONSENT_COLUMNS: Final = mapping.CONSENT_COLUMNS


class _ConsentTable(_LedgerTable, tables.ConsentTableBase):
    @writes
    def append(self, record: ConsentRecord) -> int:
        """Number the event ``max(seq) + 1`` under the customer's ledger lock."""
        checks.check_consent(record)
        recorded_at = checks.check_instant(record.recorded_at, "recorded_at")
        _, inserted = self._exec_all(
            self._lock_statement([record.customer_id]),
            (
                "INSERT INTO {s}.consents (" + _CONSENT_COLUMNS + ") "
                "SELECT %(c)s, coalesce(max(seq), 0) + 1, %(at)s, %(purpose)s, %(action)s,"
                " %(payload)s FROM {s}.consents WHERE customer_id = %(c)s RETURNING seq",
                {
                    "c": record.customer_id,
                    "at": recorded_at,
                    "purpose": record.purpose,
                    "action": record.action,
                    "payload": bytes(record.payload),
                },
            ),
        )
        found = inserted.fetchone()
        assert found is not None
        return int(found[0])

    @writes
    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        """Copy the source's events, in order, after the target's last one (new seqs)."""
        checks.check_texts((from_customer_id, to_customer_id), "customer_id")
        if from_customer_id == to_customer_id:
            return 0
        _, copied = self._exec_all(
            self._lock_statement([from_customer_id, to_customer_id]),
            (
                "INSERT INTO {s}.consents (" + _CONSENT_COLUMNS + ") "
                "SELECT %(to)s, base.n + row_number() OVER (ORDER BY e.seq), e.recorded_at,"
                " e.purpose, e.action, e.payload FROM {s}.consents AS e,"
                " (SELECT coalesce(max(seq), 0) AS n FROM {s}.consents"
                "  WHERE customer_id = %(to)s) AS base"
                " WHERE e.customer_id = %(from)s",
                {"from": from_customer_id, "to": to_customer_id},
            ),
        )
        return copied.rowcount


_HISTORY_COLUMNS: Final = mapping.HISTORY_COLUMNS


class _HistoryTable(_LedgerTable, tables.HistoryTableBase):
    @writes
    def append(self, records: Sequence[HistoryRecord]) -> builtins.list[int]:
        """Number entries per customer under the customers' ledger locks; all or none."""
        for record in records:
            checks.check_history(record)
        instants = [checks.check_instant(r.at, "at") for r in records]
        if not records:
            return []
        customer_ids = sorted({r.customer_id for r in records})
        _, latest = self._exec_all(
            self._lock_statement(customer_ids),
            (
                "SELECT customer_id, max(seq) FROM {s}.history "
                "WHERE customer_id = ANY (%s::text[]) GROUP BY customer_id",
                (customer_ids,),
            ),
        )
        next_seq = dict.fromkeys(customer_ids, 1)
        for customer_id, seq in latest:
            next_seq[customer_id] = int(seq) + 1
        seqs: list[int] = []
        for record in records:
            seqs.append(next_seq[record.customer_id])
            next_seq[record.customer_id] += 1
        self._exec(
            "INSERT INTO {s}.history (" + _HISTORY_COLUMNS + ") "
            "SELECT * FROM unnest(%s::text[], %s::integer[], %s::timestamptz[], %s::text[],"
            " %s::text[], %s::text[], %s::text[], %s::bytea[])",
            (
                [r.customer_id for r in records],
                seqs,
                instants,
                [r.actor_id for r in records],
                [r.action for r in records],
                [r.path for r in records],
                [r.reason for r in records],
                [bytes(r.payload) for r in records],
            ),
        )
        return seqs


_AUDIT_COLUMNS: Final = mapping.AUDIT_COLUMNS


class _AuditTable(_Table, tables.AuditTableBase):
    def _last_locks(self) -> builtins.list[tables.Statement]:
        """In a write session, the audit lock: the registry reads ``last()`` and then appends
        entries chained to it in the same session; holding the lock from the read on makes that
        pair atomic against other sessions (it is held until the session ends)."""
        return [] if self._session._readonly else [self._session._audit_lock_statement()]

    @writes
    def append(self, records: Sequence[AuditRecord]) -> builtins.list[int]:
        """Number entries ``max(seq) + 1, ...`` under the schema's audit lock; all or none.

        The lock is transaction-scoped: no other session can append (or, in a write session,
        read ``last()``) until this one ends, so sequence numbers are dense and in commit order.
        """
        encoded = self._encode(records)  # rows of at, actor_id, ..., on_behalf_of
        if not encoded:
            return []
        _, inserted = self._exec_all(
            self._session._audit_lock_statement(),
            (
                "INSERT INTO {s}.audit (" + _AUDIT_COLUMNS + ") "
                "SELECT base.n + u.ord, u.at, u.actor_id, u.action, u.customer_id,"
                " ARRAY(SELECT f.name FROM jsonb_array_elements_text(u.fields)"
                "  WITH ORDINALITY AS f (name, pos) ORDER BY f.pos),"
                " u.reason, u.outcome, u.chain, u.on_behalf_of"
                " FROM (SELECT coalesce(max(seq), 0) AS n FROM {s}.audit) AS base,"
                " unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[],"
                "  %s::text[]::jsonb[], %s::text[], %s::text[], %s::bytea[], %s::text[])"
                "  WITH ORDINALITY AS u (at, actor_id, action, customer_id, fields, reason,"
                "  outcome, chain, on_behalf_of, ord)"
                " RETURNING seq",
                [list(column) for column in zip(*encoded, strict=True)],
            ),
        )
        return sorted(int(r[0]) for r in inserted)

    # -- the queue (capabilities.concurrent_writes) ------------------------------------------

    @writes_one_statement
    def enqueue(self, records: Iterable[AuditRecord]) -> builtins.list[int]:
        """One ``INSERT`` into the queue; no lock, so enqueuers never wait for each other."""
        encoded = self._encode(list(records))
        if not encoded:
            return []
        inserted = self._exec(
            "INSERT INTO {s}.audit_queue (" + QUEUE_COLUMNS + ") "
            "SELECT u.at, u.actor_id, u.action, u.customer_id,"
            " ARRAY(SELECT f.name FROM jsonb_array_elements_text(u.fields)"
            "  WITH ORDINALITY AS f (name, pos) ORDER BY f.pos),"
            " u.reason, u.outcome, u.chain, u.on_behalf_of"
            " FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[],"
            "  %s::text[]::jsonb[], %s::text[], %s::text[], %s::bytea[], %s::text[])"
            "  WITH ORDINALITY AS u (at, actor_id, action, customer_id, fields, reason,"
            "  outcome, chain, on_behalf_of, ord)"
            " ORDER BY u.ord RETURNING ticket",
            [list(column) for column in zip(*encoded, strict=True)],
        )
        return sorted(int(r[0]) for r in inserted.fetchall())

    @reads
    def queued(self, *, limit: int = 1000) -> builtins.list[QueuedAudit]:
        limit = checks.bounded(limit)
        return decode_queued(self._exec(QUEUED, (limit,)).fetchall())

    @writes
    def claim(self, *, limit: int = 1000, wait: bool = True) -> AuditClaim | None:
        """The lock, the last entry and the queue's head in one round trip (pipelined); with
        ``wait=False`` the reads run whatever the lock's answer and are ignored when busy."""
        limit = checks.bounded(limit)
        if not isinstance(wait, bool):
            raise TypeError("wait must be True or False")
        key = self._session._store._audit_key
        bound = max(1, round(self._session._store._timeout * 1000))  # milliseconds
        # waiting is bounded by the store's timeout: any role on the database can take an
        # advisory lock, and an audit read must not hang behind one for ever
        locking: builtins.list[tuple[str, Any]] = (
            [
                (
                    f"SET LOCAL lock_timeout = {bound}",
                    None,
                ),
                ("SELECT pg_advisory_xact_lock(%s) IS NULL", (key,)),
                ("SET LOCAL lock_timeout TO DEFAULT", None),
            ]
            if wait
            else [("SELECT pg_try_advisory_xact_lock(%s)", (key,))]
        )
        *cursors, last, queued = self._exec_all(
            *locking,
            (f"SELECT {mapping.AUDIT_COLUMNS} FROM {{s}}.audit ORDER BY seq DESC LIMIT 1", None),
            (QUEUED, (limit,)),
        )
        got = cursors[0] if not wait else cursors[1]
        answer = got.fetchone()
        if not wait and not (answer and answer[0]):
            return None
        found = last.fetchone()
        return AuditClaim(
            last=None if found is None else mapping.audit_record(found, DIALECT),
            queued=tuple(decode_queued(queued.fetchall())),
        )

    @writes
    def seal(self, records: Iterable[AuditRecord], tickets: Iterable[int]) -> None:
        """Insert the numbered entries and delete the tickets in one round trip (the session
        holds the lock since :meth:`claim`); a ticket already gone raises after both and the
        savepoint undoes them."""
        records = list(records)
        wanted = sorted({checks.check_seq(t, "ticket") for t in tickets})
        if wanted and (wanted[0] < 1 or wanted[-1] > checks.INT64_MAX):
            raise StorageError(NOT_QUEUED)
        encoded = self._encode(records)
        seqs = [checks.check_seq(r.seq, "seq") for r in records]
        if any(not 1 <= seq <= checks.INT64_MAX for seq in seqs):
            raise ValueError("a sealed entry's seq must be between 1 and 2**63 - 1")
        if seqs and seqs != list(range(seqs[0], seqs[0] + len(seqs))):
            raise ValueError("the sealed entries' seqs must be consecutive")
        key = self._session._store._audit_key
        _, last = self._exec_all(  # held since claim(); taken here if it was not
            ("SELECT pg_advisory_xact_lock(%s)", (key,)),
            ("SELECT coalesce(max(seq), 0) FROM {s}.audit", None),
        )
        found = last.fetchone()
        if seqs and (found is None or int(found[0]) + 1 != seqs[0]):
            raise StorageError("the sealed entries do not follow the log's last entry")
        insert = (
            "INSERT INTO {s}.audit (" + _AUDIT_COLUMNS + ") "
            "SELECT u.seq, u.at, u.actor_id, u.action, u.customer_id,"
            " ARRAY(SELECT f.name FROM jsonb_array_elements_text(u.fields)"
            "  WITH ORDINALITY AS f (name, pos) ORDER BY f.pos),"
            " u.reason, u.outcome, u.chain, u.on_behalf_of"
            " FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[], %s::text[],"
            "  %s::text[], %s::text[]::jsonb[], %s::text[], %s::text[], %s::bytea[],"
            "  %s::text[]) AS u (seq, at, actor_id, action, customer_id, fields, reason,"
            "  outcome, chain, on_behalf_of)",
            [seqs, *(list(column) for column in zip(*encoded, strict=True))],
        )
        if not wanted:  # nothing queued to remove: the entries alone
            if encoded:
                self._exec(*insert)
            return
        statements = [insert] if encoded else []
        *_, removed = self._exec_all(
            *statements,
            (
                "DELETE FROM {s}.audit_queue WHERE ticket = ANY(%s::bigint[]) RETURNING ticket",
                (wanted,),
            ),
        )
        if len(removed.fetchall()) != len(wanted):
            raise StorageError(NOT_QUEUED)


_KEY_COLUMNS: Final = mapping.KEY_COLUMNS
_KEY_DETAIL: Final = re.compile(r"\(customer_id\)=\((.*)\) already exists")


class _KeyTable(_Table, tables.KeyTableBase):
    @writes
    def put_many(self, keys: Sequence[WrappedKey]) -> None:
        """One ``INSERT ... SELECT FROM unnest(...)``; a duplicate refuses the whole batch."""
        batch = list(keys)
        instants = [self._encode(k)[3] for k in batch]
        if not batch:
            return
        ids = [k.customer_id for k in batch]
        repeated = _repeated(ids)
        if repeated is not None:
            raise DuplicateKey(f"data key of customer {repeated} (twice in the batch)")
        try:
            self._exec(
                "INSERT INTO {s}.data_keys (" + _KEY_COLUMNS + ") "
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::bytea[], %s::timestamptz[])",
                (
                    ids,
                    [k.master_key_id for k in batch],
                    [bytes(k.wrapped) for k in batch],
                    instants,
                ),
            )
        except psycopg.errors.UniqueViolation as exc:
            # the detail reads "Key (customer_id)=(<id>) already exists."
            found = _KEY_DETAIL.search(exc.diag.message_detail or "")
            who = found.group(1) if found else "in the batch"
            raise DuplicateKey(f"data key of customer {who}") from exc


class _MetaTable(_Table, tables.MetaTableBase):
    pass
