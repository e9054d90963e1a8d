"""PostgreSQL's tables: the shared methods of :mod:`custrec.backends._sql.tables` and
PostgreSQL's own statements: ``COPY`` bulk loads, advisory locks on ledgers and the audit log,
summaries read through a server-side cursor and buyers per period (the customer table is in
:mod:`custrec.backends._postgres.customers`)."""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import psycopg
import psycopg.errors
from psycopg.rows import TupleRow

from custrec.backends._postgres.dialect import DIALECT, text_array
from custrec.backends._postgres.queue import NOT_QUEUED, QUEUE_COLUMNS, QUEUED, decode_queued
from custrec.backends._sql import rows as mapping
from custrec.backends._sql import tables
from custrec.backends._sql.aggregates import period_edges
from custrec.backends._sql.filters import Link, also, customer_where
from custrec.backends._sql.session import reads, writes, writes_one_statement
from custrec.errors import DuplicateKey, StorageError
from custrec.grading import ActivitySummary
from custrec.storage import (
    ActivityRow,
    AuditClaim,
    AuditRecord,
    ConsentRecord,
    CustomerFilter,
    HistoryRecord,
    QueuedAudit,
    WrappedKey,
    checks,
)

if TYPE_CHECKING:
    from custrec.backends.postgres import _PostgresSession


_Cursor = psycopg.Cursor[TupleRow]
_Params = Sequence[Any] | Mapping[str, Any] | None

LINK: Final = Link("customer_id", "c.id")
"""Index keys, tags and facets name their customer by its id."""

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
        conn = self._session._raw()
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

    @reads
    def buyers_by_period(
        self, edges: Sequence[datetime], *, where: CustomerFilter | None = None
    ) -> builtins.list[tuple[int, int]]:
        """Purchases per (period, customer) from the ``activities_bought`` index range between
        the first and the last edge, then buyers and repeat buyers per period: one statement."""
        stored = period_edges(edges, DIALECT)
        test = ""
        params: list[Any] = []
        if where is not None:
            clause, params = customer_where(where, None, link=LINK, dialect=DIALECT)
            test = (
                " AND EXISTS (SELECT 1 FROM {s}.customers AS c"
                f" WHERE c.id = a.customer_id{also(clause)})"
            )
        found = [(0, 0)] * (len(stored) - 1)
        for bucket, buyers, repeat in self._exec(
            "SELECT b, count(*), count(*) FILTER (WHERE n > 1) FROM ("
            " SELECT width_bucket(a.occurred_at, %s::timestamptz[]) AS b, count(*) AS n"
            " FROM {s}.activities AS a"
            " WHERE a.kind = 'transaction' AND a.amount > 0"
            f" AND a.occurred_at >= %s AND a.occurred_at < %s{test}"
            " GROUP BY 1, a.customer_id"
            ") AS bought GROUP BY b",
            [stored, stored[0], stored[-1], *params],
        ):
            found[bucket - 1] = (int(buyers), int(repeat))
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
        # one statement after the locks: each customer's entries get max(seq) + 1, + 2, ... in
        # the order given (the statement's snapshot is taken once the locks are held)
        _, inserted = self._exec_all(
            self._lock_statement(customer_ids),
            (
                "INSERT INTO {s}.history (" + _HISTORY_COLUMNS + ") "
                "SELECT u.customer_id, coalesce((SELECT max(h.seq) FROM {s}.history AS h"
                " WHERE h.customer_id = u.customer_id), 0)"
                " + row_number() OVER (PARTITION BY u.customer_id ORDER BY u.ord),"
                " u.at, u.actor_id, u.action, u.path, u.reason, u.payload"
                " FROM unnest(%s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::text[],"
                " %s::text[], %s::bytea[]) WITH ORDINALITY"
                " AS u (customer_id, at, actor_id, action, path, reason, payload, ord)"
                " RETURNING customer_id, seq",
                (
                    [r.customer_id for r in records],
                    instants,
                    [r.actor_id for r in records],
                    [r.action for r in records],
                    [r.path for r in records],
                    [r.reason for r in records],
                    [bytes(r.payload) for r in records],
                ),
            ),
        )
        next_seq: dict[str, int] = {}
        for customer_id, seq in inserted:
            found = next_seq.get(customer_id)
            next_seq[customer_id] = int(seq) if found is None else min(found, int(seq))
        seqs: list[int] = []
        for record in records:
            seqs.append(next_seq[record.customer_id])
            next_seq[record.customer_id] += 1
        return seqs


_AUDIT_COLUMNS: Final = mapping.AUDIT_COLUMNS
_TEXT_COLUMNS: Final = frozenset({1, 2, 3, 4, 5, 6, 8})  # of an encoded entry: cast to text[]


def _audit_columns(encoded: Sequence[tuple[Any, ...]]) -> builtins.list[Any]:
    """Encoded entries as one array parameter per column; the text columns (``fields`` as
    its JSON text) in the array's text form (:func:`text_array`)."""
    return [
        text_array(list(column)) if index in _TEXT_COLUMNS else list(column)
        for index, column in enumerate(zip(*encoded, strict=True))
    ]


class _AuditTable(_Table, tables.AuditTableBase):
    def __init__(self, session: _PostgresSession) -> None:
        super().__init__(session)
        # The log's last seq as this session knows it while it holds the log's lock (taken by
        # claim() and held until the session ends), or None: seal() then needs neither to
        # take the lock again nor to read the last seq back.
        self._tail: int | None = None

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
                _audit_columns(encoded),
            ),
        )
        seqs = sorted(int(r[0]) for r in inserted)
        self._tail = seqs[-1] if seqs else self._tail  # the lock is held from here on
        return seqs

    # -- the queue (capabilities.concurrent_writes) ------------------------------------------

    @writes_one_statement
    def enqueue(self, records: Iterable[AuditRecord]) -> builtins.list[int]:
        """One ``INSERT`` into the queue; no lock, so enqueuers never wait for each other."""
        statement = self._queue_statement(list(records))
        if statement is None:
            return []
        return sorted(int(r[0]) for r in self._exec(*statement).fetchall())

    def _queue_statement(self, records: Sequence[AuditRecord]) -> tuple[str, _Params] | None:
        """The ``INSERT`` queueing ``records`` (``RETURNING ticket``), or ``None`` for none."""
        encoded = self._encode(records)
        if not encoded:
            return None
        if len(encoded) == 1:  # a read's entry: plain values, no arrays to build
            params = list(encoded[0])
            params[4] = text_array(list(records[0].fields))  # text[] as it is stored
            return (
                "INSERT INTO {s}.audit_queue (" + QUEUE_COLUMNS + ") "
                "VALUES (%s, %s, %s, %s, %s::text[], %s, %s, %s, %s) RETURNING ticket",
                params,
            )
        return (
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
            _audit_columns(encoded),
        )

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
        self._tail = 0 if found is None else int(found[0])  # seq is the first column
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
        tail = self._tail  # known while the lock is held since claim() (or an append)
        if tail is None:  # take the lock here and read the last seq under it
            key = self._session._store._audit_key
            _, last = self._exec_all(
                ("SELECT pg_advisory_xact_lock(%s)", (key,)),
                ("SELECT coalesce(max(seq), 0) FROM {s}.audit", None),
            )
            found = last.fetchone()
            tail = None if found is None else int(found[0])
            self._tail = tail
        if seqs and (tail is None or tail + 1 != seqs[0]):
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
            [seqs, *_audit_columns(encoded)],
        )
        if not wanted:  # nothing queued to remove: the entries alone
            if encoded:
                self._exec(*insert)
                self._tail = seqs[-1]
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
        if seqs:
            self._tail = seqs[-1]


_KEY_COLUMNS: Final = mapping.KEY_COLUMNS
_KEY_DETAIL: Final = re.compile(r"\(customer_id\)=\((.*)\) already exists")


class _KeyTable(_Table, tables.KeyTableBase):
    @reads
    def get(self, customer_id: str) -> WrappedKey:
        """A key read with its customer in this session, and no write since, comes from there."""
        found = self._session._read_keys.pop(customer_id, None)
        if found is not None:
            return found
        return super().get(customer_id)

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
