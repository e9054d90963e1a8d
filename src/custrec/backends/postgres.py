"""PostgreSQL storage backend (psycopg 3 with a connection pool): for many application servers.

Install the extra first: ``pip install custrec[postgres]``. ::

    store = PostgresStore("postgresql://crm@db.internal/crm", schema="custrec", max_size=20)
    with store.transaction() as session:
        session.customers.add(row)
        session.commit()
    store.close()

Everything lives in one PostgreSQL schema (default ``custrec``), created and migrated by the
store itself: versioned, forward-only steps recorded in ``schema_version`` and applied under a
session-level advisory lock, so that any number of processes may start at once. Sealed payloads
are ``bytea``; index keys and tags have their own indexed tables; facets are indexed columns;
amounts are ``numeric(24,4)``; instants are ``timestamptz``. Every text column that takes part in
ordering uses the ``"C"`` collation, so ids sort by code point exactly as in Python whatever the
database's locale is. The consent, history and audit tables refuse ``UPDATE``, ``DELETE`` and
``TRUNCATE`` with a trigger.

Concurrency (see :class:`PostgresStore` for the details): each session holds one pooled
connection and one explicit transaction, ``READ COMMITTED`` for writers and a ``REPEATABLE READ
READ ONLY`` snapshot for readers. Correctness never depends on the isolation level:
compare-and-set updates check the row count of ``UPDATE ... WHERE id = %s AND version = %s``,
per-customer ledger numbers are taken under a transaction-scoped advisory lock per customer, the
global audit sequence under one advisory lock per schema, and index keys looked up or written in
a write session under advisory locks on hash buckets of the keys (so that "look up, then add if
absent" is as safe as under SQLite's single writer).
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import itertools
import json
import os
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Concatenate, Final, NamedTuple, ParamSpec, TypeVar

try:
    import psycopg
    import psycopg.errors
    from psycopg import conninfo as pg_conninfo
    from psycopg.pq import TransactionStatus
    from psycopg.rows import TupleRow
    from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout
except ImportError as _missing:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "custrec.backends.postgres needs psycopg 3 and psycopg-pool "
        f"({_missing.name or _missing} is missing): pip install custrec[postgres]"
    ) from _missing

from custrec.errors import DuplicateKey, NotFound, StorageError, VersionConflict
from custrec.grading import ActivitySummary
from custrec.storage import (
    ACTIVITY_KINDS,
    ROW_STATES,
    ActivityRow,
    AuditRecord,
    Capabilities,
    ConsentRecord,
    CustomerFilter,
    CustomerRow,
    HistoryRecord,
    Session,
    Store,
    WrappedKey,
    check_meta_name,
)

__all__ = ["DEFAULT_SCHEMA", "MIGRATIONS", "SCHEMA_VERSION", "Migration", "PostgresStore"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T", bound="_Table")

_Conn = psycopg.Connection[TupleRow]
_Cursor = psycopg.Cursor[TupleRow]
_Params = Sequence[Any] | Mapping[str, Any] | None

DEFAULT_SCHEMA: Final = "custrec"
"""The schema used when none is given."""

_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_AMOUNT_PLACES: Final = 4
# The protocol's bound (amounts and sums must fit a signed 64-bit count of 1/10000 units).
_AMOUNT_LIMIT: Final = Decimal(2**63).scaleb(-_AMOUNT_PLACES)
_BIGINT_MAX: Final = 2**63 - 1  # LIMIT takes a bigint; a larger limit means "all" anyway
_KEY_BUCKETS: Final = 256  # index-key lock buckets per schema (see _CustomerTable._key_locks)
_SUMMARY_FETCH: Final = 2000  # rows per FETCH from the server-side summaries cursor
_REFUSED_STATE: Final = "CR001"  # SQLSTATE raised by the append-only triggers
_LOST_STATES: Final = frozenset({"57P01", "57P02", "57P03"})  # admin/crash shutdown, starting
_RETRY_STATES: Final = {
    "40001": "a serialization failure",
    "40P01": "a deadlock",
    "55P03": "a lock wait timeout",
    "53300": "too many connections",
}
# Error classes whose primary message may quote a value (data exceptions): never repeated.
_QUOTING_CLASSES: Final = frozenset({"22"})


# ---------------------------------------------------------------------------------------------
# Schema and migrations
# ---------------------------------------------------------------------------------------------
# Statements are templates: "{s}" is replaced by the quoted schema name.
#
# The index-key and tag tables carry no foreign key to customers: the backend writes and deletes
# them in the same statements as their customer (data-modifying CTEs), and per-row foreign-key
# triggers would cost about 40 % of a bulk load. Activities, ledgers and keys may name customers
# without a row by design (see docs/backends.md, "Independent tables").


def _append_only(table: str) -> tuple[str, ...]:
    return (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {{s}}.{table} "
        "FOR EACH ROW EXECUTE FUNCTION {s}.refuse_change()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {{s}}.{table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse_change()",
    )


_SCHEMA_V1: Final[tuple[str, ...]] = (
    f"""CREATE FUNCTION {{s}}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the % table is append-only (% refused)', TG_TABLE_NAME, TG_OP
            USING ERRCODE = '{_REFUSED_STATE}';
    END
    $$""",
    """CREATE TABLE {s}.customers (
        id text COLLATE "C" PRIMARY KEY,
        version integer NOT NULL CHECK (version >= 1),
        payload bytea NOT NULL,
        kind text COLLATE "C" NOT NULL,
        stage text COLLATE "C" NOT NULL,
        owner text COLLATE "C",
        team text COLLATE "C",
        grade text COLLATE "C",
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    )""",
    "CREATE INDEX customers_kind ON {s}.customers (kind, id)",
    "CREATE INDEX customers_stage ON {s}.customers (stage, id)",
    "CREATE INDEX customers_owner ON {s}.customers (owner, id)",
    "CREATE INDEX customers_team ON {s}.customers (team, id)",
    "CREATE INDEX customers_grade ON {s}.customers (grade, id)",
    "CREATE INDEX customers_updated_at ON {s}.customers (updated_at)",
    """CREATE TABLE {s}.customer_index (
        customer_id text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        PRIMARY KEY (customer_id, key)
    )""",
    "CREATE INDEX customer_index_key ON {s}.customer_index (key, customer_id)",
    """CREATE TABLE {s}.customer_tags (
        customer_id text COLLATE "C" NOT NULL,
        pos integer NOT NULL CHECK (pos >= 0),
        tag text COLLATE "C" NOT NULL,
        PRIMARY KEY (customer_id, pos)
    )""",
    "CREATE INDEX customer_tags_tag ON {s}.customer_tags (tag, customer_id)",
    """CREATE TABLE {s}.activities (
        id text COLLATE "C" PRIMARY KEY,
        customer_id text COLLATE "C" NOT NULL,
        kind text COLLATE "C" NOT NULL CHECK (kind IN ('transaction', 'interaction')),
        occurred_at timestamptz NOT NULL,
        amount numeric(24, 4),
        currency text COLLATE "C",
        payload bytea NOT NULL,
        CHECK (kind <> 'transaction' OR (amount IS NOT NULL AND currency IS NOT NULL
            AND currency <> ''))
    )""",
    "CREATE INDEX activities_customer ON {s}.activities (customer_id, id)",
    # Covering index for summaries(): the GROUP BY walks it in (customer, currency) order.
    "CREATE INDEX activities_purchases ON {s}.activities (customer_id, currency, occurred_at) "
    "INCLUDE (amount) WHERE kind = 'transaction'",
    """CREATE TABLE {s}.consents (
        customer_id text COLLATE "C" NOT NULL,
        seq integer NOT NULL CHECK (seq >= 1),
        recorded_at timestamptz NOT NULL,
        purpose text NOT NULL,
        action text NOT NULL,
        payload bytea NOT NULL,
        PRIMARY KEY (customer_id, seq)
    )""",
    *_append_only("consents"),
    """CREATE TABLE {s}.history (
        customer_id text COLLATE "C" NOT NULL,
        seq integer NOT NULL CHECK (seq >= 1),
        at timestamptz NOT NULL,
        actor_id text NOT NULL,
        action text NOT NULL,
        path text NOT NULL,
        reason text,
        payload bytea NOT NULL,
        PRIMARY KEY (customer_id, seq)
    )""",
    *_append_only("history"),
    """CREATE TABLE {s}.audit (
        seq bigint PRIMARY KEY CHECK (seq >= 1),
        at timestamptz NOT NULL,
        actor_id text COLLATE "C" NOT NULL,
        action text NOT NULL,
        customer_id text COLLATE "C",
        fields text[] NOT NULL,
        reason text,
        outcome text NOT NULL,
        chain bytea NOT NULL
    )""",
    "CREATE INDEX audit_customer ON {s}.audit (customer_id, seq)",
    "CREATE INDEX audit_actor ON {s}.audit (actor_id, seq)",
    "CREATE INDEX audit_at ON {s}.audit (at)",
    *_append_only("audit"),
    """CREATE TABLE {s}.data_keys (
        customer_id text COLLATE "C" PRIMARY KEY,
        master_key_id text NOT NULL,
        wrapped bytea NOT NULL,
        created_at timestamptz NOT NULL
    )""",
)


class Migration(NamedTuple):
    """One forward schema step: SQL templates run in order inside the migrating transaction.

    ``{s}`` in a statement stands for the quoted schema name.
    """

    version: int
    description: str
    statements: tuple[str, ...]


_STATES: Final = ", ".join(f"'{state}'" for state in ROW_STATES)

# Schema 2: the stored row state, the audit log's on_behalf_of and the meta table. Rows written
# before it holding an erasure tombstone or a merge alias (custrec's schema-1 payload formats,
# recognised by their first bytes) are marked erased and merged; every other row is live.
_TOMBSTONE_V1: Final = b'{"schema_version":1,"erased":'
_ALIAS_V1: Final = b'{"schema_version":1,"merged_into":'


def _starts_with(prefix: bytes) -> str:
    return f"substring(payload FROM 1 FOR {len(prefix)}) = '\\x{prefix.hex()}'::bytea"


_SCHEMA_V2: Final[tuple[str, ...]] = (
    "ALTER TABLE {s}.customers ADD COLUMN state text COLLATE \"C\" NOT NULL DEFAULT 'live' "
    f"CHECK (state IN ({_STATES}))",
    "UPDATE {s}.customers SET state = 'erased' WHERE " + _starts_with(_TOMBSTONE_V1),
    "UPDATE {s}.customers SET state = 'merged' WHERE " + _starts_with(_ALIAS_V1),
    "CREATE INDEX customers_state ON {s}.customers (state, id)",
    "ALTER TABLE {s}.audit ADD COLUMN on_behalf_of text",
    'CREATE TABLE {s}.meta (name text COLLATE "C" PRIMARY KEY, value bytea NOT NULL)',
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _SCHEMA_V1),
    Migration(2, "row state, audit on_behalf_of, meta table", _SCHEMA_V2),
)
"""Every schema step, in order; append new ones, never edit or reorder published ones."""

SCHEMA_VERSION: Final = MIGRATIONS[-1].version
"""The schema version this code creates and understands."""


def _lock_key(*parts: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``parts`` (same in every process)."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _schema_version(conn: _Conn, schema: str, where: str) -> int | None:
    """Return the schema's version, or ``None`` when the schema is missing or empty."""
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL, "
        "(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        " WHERE n.nspname = %s)",
        (f"{_quote_ident(schema)}.schema_version", schema),
    ).fetchone()
    assert row is not None
    has_table, relations = bool(row[0]), int(row[1])
    if not has_table:
        if relations:
            raise StorageError(
                f"{where}: schema {schema!r} holds tables but is not a custrec schema "
                "(no schema_version table); choose another schema"
            )
        return None
    found = conn.execute(
        f"SELECT coalesce(max(version), 0) FROM {_quote_ident(schema)}.schema_version".encode()
    ).fetchone()
    assert found is not None
    return int(found[0])


def _check_not_newer(current: int | None, latest: int, schema: str, where: str) -> None:
    if current is not None and current > latest:
        raise StorageError(
            f"{where}: schema {schema!r} has version {current}, newer than this custrec knows "
            f"({latest}); upgrade custrec to use it"
        )


def _migrate(conn: _Conn, schema: str, where: str) -> None:
    """Bring ``schema`` up to date on ``conn`` (autocommit); safe when processes race.

    An up-to-date schema is only read. Otherwise a session-level advisory lock (one per schema
    name) serialises migrators, the version is read again under it, and every missing step is
    applied in one transaction: all steps land or none.
    """
    migrations = MIGRATIONS  # read at call time so tests can substitute the list
    if [m.version for m in migrations] != list(range(1, len(migrations) + 1)):
        raise RuntimeError("custrec.backends.postgres.MIGRATIONS must be numbered 1, 2, 3, ...")
    latest = len(migrations)
    current = _schema_version(conn, schema, where)
    _check_not_newer(current, latest, schema, where)
    if current == latest:
        return
    key = _lock_key("custrec", "migrate", schema)
    quoted = _quote_ident(schema)
    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        with conn.transaction():
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}".encode())
            current = _schema_version(conn, schema, where)  # another process may have won
            _check_not_newer(current, latest, schema, where)
            if current is None:
                conn.execute(
                    f"CREATE TABLE {quoted}.schema_version ("
                    "version integer PRIMARY KEY, description text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())".encode()
                )
                current = 0
            for migration in migrations[current:]:
                for statement in migration.statements:
                    conn.execute(statement.replace("{s}", quoted).encode())
                conn.execute(
                    f"INSERT INTO {quoted}.schema_version (version, description) "
                    "VALUES (%s, %s)".encode(),
                    (migration.version, migration.description),
                )
    finally:
        with suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def _instant(value: object, name: str) -> datetime:
    """Check an aware datetime and return it in UTC (``ValueError`` for naive ones)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (naive datetimes are refused)")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{name} is out of the representable range in UTC") from exc


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _amount(value: object, name: str = "amount") -> Decimal | None:
    """Check an amount: a Decimal (or whole int), finite, at most 4 places, within the bound."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    amount = Decimal(value)
    _sign, digits, exponent = amount.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{name} must be a finite number")
    extra = -_AMOUNT_PLACES - exponent
    if extra > 0 and any(digits[-extra:]):
        raise ValueError(f"{name} has more than {_AMOUNT_PLACES} decimal places")
    if abs(amount) >= _AMOUNT_LIMIT:
        raise ValueError(f"{name} is too large to store")
    return amount


def _positive_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    return limit


def _check_kind(kind: str) -> str:
    if kind not in ACTIVITY_KINDS:
        raise ValueError(f"activity kind must be one of {', '.join(ACTIVITY_KINDS)}, got {kind!r}")
    return kind


def _repeated(ids: Sequence[str]) -> str | None:
    """Return the smallest id that occurs more than once in ``ids``, if any."""
    seen: set[str] = set()
    twice: set[str] = set()
    for item in ids:
        if item in seen:
            twice.add(item)
        seen.add(item)
    return min(twice) if twice else None


# ---------------------------------------------------------------------------------------------
# Error translation
# ---------------------------------------------------------------------------------------------


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


def _translate(
    exc: psycopg.Error, context: str, *, conn: _Conn | None = None, committing: bool = False
) -> StorageError:
    """Map a psycopg error to a custrec error (the caller chains it with ``raise ... from``).

    ``retry_safe`` is true when the server reported that the transaction did not commit and a
    fresh attempt may succeed (serialisation failure, deadlock, lock timeout, a connection lost
    before ``COMMIT`` was sent). A connection lost *during* ``COMMIT`` leaves the outcome
    unknown, so that is not retry-safe.
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
    if state == _REFUSED_STATE:
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


def _client_data_error(exc: psycopg.Error) -> bool:
    """A value psycopg cannot send (for example text with a NUL character): not a server error."""
    return isinstance(exc, psycopg.DataError) and exc.sqlstate is None


# ---------------------------------------------------------------------------------------------
# Sessions and tables
# ---------------------------------------------------------------------------------------------


def _operation(
    *, write: bool
) -> Callable[[Callable[Concatenate[_T, _P], _R]], Callable[Concatenate[_T, _P], _R]]:
    """Guard a table method: session state, read-only check, atomicity and error translation.

    A write method runs inside a savepoint, so a method that fails leaves the session exactly as
    it was (PostgreSQL would otherwise abort the whole transaction on the first error). The
    savepoint is sent together with the method's first statement, and released together with
    the next write's first statement (or by ``COMMIT``), so that it costs no round trip.
    """

    def decorate(method: Callable[Concatenate[_T, _P], _R]) -> Callable[Concatenate[_T, _P], _R]:
        @functools.wraps(method)
        def run(self: _T, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            session = self._session
            context = f"{self._name}.{method.__name__}"
            session._usable(write=write, what=context)
            try:
                if not write:
                    return method(self, *args, **kwargs)
                session._open_operation()
                try:
                    result = method(self, *args, **kwargs)
                except BaseException:
                    session._undo_operation()
                    raise
                session._close_operation()
                return result
            except psycopg.Error as exc:
                session._after_error(write=write)
                if _client_data_error(exc):
                    raise ValueError(f"{context}: a value cannot be stored: {exc}") from exc
                raise _translate(exc, context, conn=session._conn) from exc

        return run

    return decorate


_reads = _operation(write=False)
_writes = _operation(write=True)


class _Table:
    _name = "table"

    def __init__(self, session: _PostgresSession) -> None:
        self._session = session

    def _q(self, template: str) -> bytes:
        return self._session._store._render(template)

    def _exec(self, template: str, params: _Params = None) -> _Cursor:
        return self._session._execute([(self._q(template), params)])[0]

    def _exec_all(self, *statements: tuple[str, _Params]) -> list[_Cursor]:
        """Run statements in order in one round trip (pipelined); return their cursors."""
        return self._session._execute([(self._q(t), p) for t, p in statements])


_CUSTOMER_SELECT: Final = (
    "SELECT c.id, c.version, c.payload, c.kind, c.stage, c.owner, c.team, c.grade, "
    "c.created_at, c.updated_at, "
    "ARRAY(SELECT i.key FROM {s}.customer_index AS i WHERE i.customer_id = c.id), "
    "ARRAY(SELECT t.tag FROM {s}.customer_tags AS t WHERE t.customer_id = c.id ORDER BY t.pos), "
    "c.state FROM {s}.customers AS c"
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


class _CustomerTable(_Table):
    _name = "customers"

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _params(row: CustomerRow) -> dict[str, Any]:
        return {
            "id": row.id,
            "payload": bytes(row.payload),
            "kind": row.kind,
            "stage": row.stage,
            "owner": row.owner,
            "team": row.team,
            "grade": row.grade,
            "created_at": _instant(row.created_at, "created_at"),
            "updated_at": _instant(row.updated_at, "updated_at"),
            "state": row.state,
            "keys": sorted(row.index_keys),
            "tags": list(row.tags),
        }

    @staticmethod
    def _decode(r: Sequence[Any]) -> CustomerRow:
        return CustomerRow(
            id=r[0],
            version=r[1],
            payload=bytes(r[2]),
            kind=r[3],
            stage=r[4],
            owner=r[5],
            team=r[6],
            grade=r[7],
            created_at=_utc(r[8]),
            updated_at=_utc(r[9]),
            index_keys=frozenset(r[10]),
            tags=tuple(r[11]),
            state=r[12],
        )

    def _rows(self, template: str, params: Sequence[Any]) -> builtins.list[CustomerRow]:
        return [self._decode(r) for r in self._exec(template, params)]

    @staticmethod
    def _where(where: CustomerFilter | None, after: str | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if where is not None:
            for column in ("kind", "stage", "state", "owner", "team", "grade"):
                value = getattr(where, column)
                if value is not None:
                    clauses.append(f"c.{column} = %s")
                    params.append(value)
            if where.tag is not None:
                clauses.append(
                    "EXISTS (SELECT 1 FROM {s}.customer_tags AS t "
                    "WHERE t.customer_id = c.id AND t.tag = %s)"
                )
                params.append(where.tag)
            if where.updated_after is not None:
                clauses.append("c.updated_at > %s")
                params.append(_instant(where.updated_after, "updated_after"))
            if where.updated_before is not None:
                clauses.append("c.updated_at < %s")
                params.append(_instant(where.updated_before, "updated_before"))
        if after is not None:
            clauses.append("c.id > %s")
            params.append(after)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def _refuse_cas(self, customer_id: str, expected_version: int) -> StorageError:
        found = self._exec(
            "SELECT version FROM {s}.customers WHERE id = %s", (customer_id,)
        ).fetchone()
        if found is None:
            return NotFound(f"customer {customer_id}")
        return VersionConflict(
            f"customer {customer_id}", expected=expected_version, actual=int(found[0])
        )

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

    @_writes
    def add(self, row: CustomerRow) -> int:
        params = self._params(row)
        try:
            self._with_key_locks(params["keys"], (_CUSTOMER_INSERT, params))
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateKey(f"customer {row.id}") from exc
        return 1

    @_writes
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

    @_reads
    def get(self, customer_id: str) -> CustomerRow:
        rows = self._rows(_CUSTOMER_SELECT + " WHERE c.id = %s", (customer_id,))
        if not rows:
            raise NotFound(f"customer {customer_id}")
        return rows[0]

    @_reads
    def get_many(self, customer_ids: Iterable[str]) -> builtins.list[CustomerRow]:
        ids = list(dict.fromkeys(customer_ids))
        if not ids:
            return []
        return self._rows(_CUSTOMER_SELECT + " WHERE c.id = ANY (%s::text[]) ORDER BY c.id", (ids,))

    @_writes
    def update(self, row: CustomerRow, *, expected_version: int) -> int:
        """Compare-and-set in the ``UPDATE`` itself; index keys and tags are replaced."""
        params = self._params(row)  # created_at is ignored, but must still be a valid instant
        params["expected"] = expected_version
        (cursor,) = self._with_key_locks(params["keys"], (_CUSTOMER_UPDATE, params))
        found = cursor.fetchone()
        if found is None or int(found[0]) != 1:
            raise self._refuse_cas(row.id, expected_version)
        return expected_version + 1

    @_writes
    def delete(self, customer_id: str, *, expected_version: int) -> None:
        """Compare-and-set delete; the index keys and tags go in the same statement."""
        found = self._exec(_CUSTOMER_DELETE, (customer_id, expected_version)).fetchone()
        if found is None or int(found[0]) != 1:
            raise self._refuse_cas(customer_id, expected_version)

    @_reads
    def lookup(self, index_key: str) -> builtins.list[str]:
        """Ids carrying ``index_key``; in a write session the key stays locked (see _key_locks)."""
        (cursor,) = self._with_key_locks(
            [index_key],
            (
                "SELECT customer_id FROM {s}.customer_index WHERE key = %s ORDER BY customer_id",
                (index_key,),
            ),
        )
        return [r[0] for r in cursor]

    @_reads
    def lookup_many(
        self, index_keys: Iterable[str], *, limit: int | None = None
    ) -> dict[str, builtins.list[str]]:
        """As :meth:`lookup` for many keys at once (locks taken in one statement).

        With ``limit``, a ``LATERAL`` subquery per key reads the first ``limit`` entries of
        ``customer_index_key (key, customer_id)`` in order and stops: a key's posting list is
        never read past the cap.
        """
        if limit is not None:
            _positive_limit(limit)
        keys = list(dict.fromkeys(index_keys))
        found: dict[str, list[str]] = {}
        if not keys:
            return found
        if limit is None:
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
                (keys, min(limit, _BIGINT_MAX)),
            )
        (cursor,) = self._with_key_locks(keys, statement)
        for key, customer_id in cursor:
            found.setdefault(key, []).append(customer_id)
        return found

    @_reads
    def query(
        self,
        *,
        where: CustomerFilter | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> builtins.list[CustomerRow]:
        _positive_limit(limit)
        clause, params = self._where(where, after)
        return self._rows(_CUSTOMER_SELECT + clause + " ORDER BY c.id LIMIT %s", [*params, limit])

    @_reads
    def count(self, *, where: CustomerFilter | None = None) -> int:
        clause, params = self._where(where, None)
        found = self._exec("SELECT count(*) FROM {s}.customers AS c" + clause, params).fetchone()
        assert found is not None
        return int(found[0])


_ACTIVITY_COLUMNS: Final = "id, customer_id, kind, occurred_at, amount, currency, payload"
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


class _ActivityTable(_Table):
    _name = "activities"

    @staticmethod
    def _encode(row: ActivityRow) -> tuple[Any, ...]:
        _check_kind(row.kind)
        occurred_at = _instant(row.occurred_at, "occurred_at")
        amount = _amount(row.amount)
        if row.kind == "transaction" and (amount is None or not row.currency):
            raise ValueError("a transaction needs an amount and a currency")
        return (
            row.id,
            row.customer_id,
            row.kind,
            occurred_at,
            amount,
            row.currency,
            bytes(row.payload),
        )

    @staticmethod
    def _decode(r: Sequence[Any]) -> ActivityRow:
        return ActivityRow(
            id=r[0],
            customer_id=r[1],
            kind=r[2],
            occurred_at=_utc(r[3]),
            amount=r[4],
            currency=r[5],
            payload=bytes(r[6]),
        )

    @_writes
    def add(self, row: ActivityRow) -> None:
        params = self._encode(row)
        try:
            self._exec(
                "INSERT INTO {s}.activities (" + _ACTIVITY_COLUMNS + ") "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                params,
            )
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateKey(f"activity {row.id}") from exc

    @_writes
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

    @_reads
    def list_for(
        self,
        customer_id: str,
        *,
        kind: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> builtins.list[ActivityRow]:
        _positive_limit(limit)
        sql = "SELECT " + _ACTIVITY_COLUMNS + " FROM {s}.activities WHERE customer_id = %s"
        params: list[Any] = [customer_id]
        if kind is not None:
            sql += " AND kind = %s"
            params.append(_check_kind(kind))
        if after is not None:
            sql += " AND id > %s"
            params.append(after)
        sql += " ORDER BY id LIMIT %s"
        params.append(limit)
        return [self._decode(r) for r in self._exec(sql, params)]

    @_writes
    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        if from_customer_id == to_customer_id:
            return 0
        cursor = self._exec(
            "UPDATE {s}.activities SET customer_id = %s WHERE customer_id = %s",
            (to_customer_id, from_customer_id),
        )
        return cursor.rowcount

    @_reads
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
        _positive_limit(limit)
        params = {"as_of": _instant(as_of, "as_of"), "after": after or ""}
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
                    found.append(self._summary(customer_id, currency, first, last, count, total))
                batch = min(max(limit - customers + 1, 100), _SUMMARY_FETCH)
        return found

    @staticmethod
    def _summary(
        customer_id: str, currency: str, first: datetime, last: datetime, count: int, total: Decimal
    ) -> ActivitySummary:
        if abs(total) >= _AMOUNT_LIMIT:
            raise StorageError(
                f"activities.summaries: the total of customer {customer_id} in {currency} "
                "exceeds the supported range of amounts"
            )
        return ActivitySummary(
            customer_id=customer_id,
            currency=currency,
            first_purchase_at=_utc(first),
            last_purchase_at=_utc(last),
            purchase_count=int(count),
            total_spent=total,
        )


class _LedgerTable(_Table):
    """Shared plumbing of the per-customer numbered ledgers (consents, history)."""

    def _lock_statement(self, customer_ids: Iterable[str]) -> tuple[str, list[int]]:
        """One statement taking the ledgers' advisory locks, in key order (no deadlock cycles)."""
        keys = sorted({self._session._store._ledger_key(self._name, c) for c in customer_ids})
        calls = ", ".join("pg_advisory_xact_lock(%s)" for _ in keys)
        return f"SELECT {calls}", keys


_CONSENT_COLUMNS: Final = "customer_id, seq, recorded_at, purpose, action, payload"


class _ConsentTable(_LedgerTable):
    _name = "consents"

    @_writes
    def append(self, record: ConsentRecord) -> int:
        """Number the event ``max(seq) + 1`` under the customer's ledger lock."""
        recorded_at = _instant(record.recorded_at, "recorded_at")
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

    @_reads
    def list_for(self, customer_id: str, *, after_seq: int = 0) -> builtins.list[ConsentRecord]:
        return [
            ConsentRecord(
                customer_id=r[0],
                seq=r[1],
                recorded_at=_utc(r[2]),
                purpose=r[3],
                action=r[4],
                payload=bytes(r[5]),
            )
            for r in self._exec(
                "SELECT " + _CONSENT_COLUMNS + " FROM {s}.consents "
                "WHERE customer_id = %s AND seq > %s ORDER BY seq",
                (customer_id, after_seq),
            )
        ]

    @_writes
    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        """Copy the source's events, in order, after the target's last one (new seqs)."""
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


_HISTORY_COLUMNS: Final = "customer_id, seq, at, actor_id, action, path, reason, payload"


class _HistoryTable(_LedgerTable):
    _name = "history"

    @_writes
    def append(self, records: Sequence[HistoryRecord]) -> builtins.list[int]:
        """Number entries per customer under the customers' ledger locks; all or none."""
        instants = [_instant(r.at, "at") for r in records]
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

    @_reads
    def list_for(self, customer_id: str, *, after_seq: int = 0) -> builtins.list[HistoryRecord]:
        return [
            HistoryRecord(
                customer_id=r[0],
                seq=r[1],
                at=_utc(r[2]),
                actor_id=r[3],
                action=r[4],
                path=r[5],
                reason=r[6],
                payload=bytes(r[7]),
            )
            for r in self._exec(
                "SELECT " + _HISTORY_COLUMNS + " FROM {s}.history "
                "WHERE customer_id = %s AND seq > %s ORDER BY seq",
                (customer_id, after_seq),
            )
        ]


_AUDIT_COLUMNS: Final = (
    "seq, at, actor_id, action, customer_id, fields, reason, outcome, chain, on_behalf_of"
)


class _AuditTable(_Table):
    _name = "audit"

    @staticmethod
    def _decode(r: Sequence[Any]) -> AuditRecord:
        return AuditRecord(
            seq=int(r[0]),
            at=_utc(r[1]),
            actor_id=r[2],
            action=r[3],
            customer_id=r[4],
            fields=tuple(r[5]),
            reason=r[6],
            outcome=r[7],
            chain=bytes(r[8]),
            on_behalf_of=r[9],
        )

    @_writes
    def append(self, records: Sequence[AuditRecord]) -> builtins.list[int]:
        """Number entries ``max(seq) + 1, ...`` under the schema's audit lock; all or none.

        The lock is transaction-scoped: no other session can append (or, in a write session,
        read ``last()``) until this one ends, so sequence numbers are dense and in commit order.
        """
        instants = [_instant(r.at, "at") for r in records]
        if not records:
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
                (
                    instants,
                    [r.actor_id for r in records],
                    [r.action for r in records],
                    [r.customer_id for r in records],
                    # fields per entry as a JSON array: arrays of arrays must be rectangular
                    [json.dumps(list(r.fields), ensure_ascii=False) for r in records],
                    [r.reason for r in records],
                    [r.outcome for r in records],
                    [bytes(r.chain) for r in records],
                    [r.on_behalf_of for r in records],
                ),
            ),
        )
        return sorted(int(r[0]) for r in inserted)

    @_reads
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
        _positive_limit(limit)
        sql = "SELECT " + _AUDIT_COLUMNS + " FROM {s}.audit WHERE seq > %s"
        params: list[Any] = [min(after_seq, _BIGINT_MAX)]
        if before_seq is not None:
            sql += " AND seq < %s"
            params.append(min(before_seq, _BIGINT_MAX))
        if customer_id is not None:
            sql += " AND customer_id = %s"
            params.append(customer_id)
        if actor_id is not None:
            sql += " AND actor_id = %s"
            params.append(actor_id)
        if since is not None:
            sql += " AND at >= %s"
            params.append(_instant(since, "since"))
        if until is not None:
            sql += " AND at < %s"
            params.append(_instant(until, "until"))
        sql += " ORDER BY seq DESC LIMIT %s" if newest_first else " ORDER BY seq LIMIT %s"
        params.append(min(limit, _BIGINT_MAX))
        return [self._decode(r) for r in self._exec(sql, params)]

    @_reads
    def last(self) -> AuditRecord | None:
        """Return the newest entry; in a write session, take the audit lock first.

        The registry reads ``last()`` and then appends entries chained to it in the same
        session; holding the lock from the read on makes that pair atomic against other
        sessions (it is held until the session ends). Read-only sessions take no lock.
        """
        statements: list[tuple[str, _Params]] = []
        if not self._session._readonly:
            statements.append(self._session._audit_lock_statement())
        statements.append(
            ("SELECT " + _AUDIT_COLUMNS + " FROM {s}.audit ORDER BY seq DESC LIMIT 1", None)
        )
        row = self._exec_all(*statements)[-1].fetchone()
        return None if row is None else self._decode(row)


_KEY_COLUMNS: Final = "customer_id, master_key_id, wrapped, created_at"
_KEY_DETAIL: Final = re.compile(r"\(customer_id\)=\((.*)\) already exists")


class _KeyTable(_Table):
    _name = "keys"

    @staticmethod
    def _decode(r: Sequence[Any]) -> WrappedKey:
        return WrappedKey(
            customer_id=r[0], master_key_id=r[1], wrapped=bytes(r[2]), created_at=_utc(r[3])
        )

    @_writes
    def put(self, key: WrappedKey) -> None:
        params = (
            key.customer_id,
            key.master_key_id,
            bytes(key.wrapped),
            _instant(key.created_at, "created_at"),
        )
        try:
            self._exec(
                "INSERT INTO {s}.data_keys (" + _KEY_COLUMNS + ") VALUES (%s, %s, %s, %s)", params
            )
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateKey(f"data key of customer {key.customer_id}") from exc

    @_writes
    def put_many(self, keys: Sequence[WrappedKey]) -> None:
        """One ``INSERT ... SELECT FROM unnest(...)``; a duplicate refuses the whole batch."""
        batch = list(keys)
        instants = [_instant(k.created_at, "created_at") for k in batch]
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

    @_reads
    def get(self, customer_id: str) -> WrappedKey:
        row = self._exec(
            "SELECT " + _KEY_COLUMNS + " FROM {s}.data_keys WHERE customer_id = %s",
            (customer_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"data key of customer {customer_id}")
        return self._decode(row)

    @_writes
    def replace(self, key: WrappedKey) -> None:
        cursor = self._exec(
            "UPDATE {s}.data_keys SET master_key_id = %s, wrapped = %s, created_at = %s "
            "WHERE customer_id = %s",
            (
                key.master_key_id,
                bytes(key.wrapped),
                _instant(key.created_at, "created_at"),
                key.customer_id,
            ),
        )
        if cursor.rowcount != 1:
            raise NotFound(f"data key of customer {key.customer_id}")

    @_writes
    def delete(self, customer_id: str) -> bool:
        """Delete the key row.

        PostgreSQL keeps the dead row version until (auto)vacuum reclaims it, and WAL archives
        and backups keep it as long as they are retained; see docs/postgres.md.
        """
        cursor = self._exec("DELETE FROM {s}.data_keys WHERE customer_id = %s", (customer_id,))
        return cursor.rowcount > 0

    @_reads
    def list(self, *, after: str | None = None, limit: int = 1000) -> builtins.list[WrappedKey]:
        _positive_limit(limit)
        sql = "SELECT " + _KEY_COLUMNS + " FROM {s}.data_keys"
        params: list[Any] = []
        if after is not None:
            sql += " WHERE customer_id > %s"
            params.append(after)
        sql += " ORDER BY customer_id LIMIT %s"
        params.append(limit)
        return [self._decode(r) for r in self._exec(sql, params)]


class _MetaTable(_Table):
    _name = "meta"

    @_reads
    def get(self, name: str) -> bytes | None:
        found = self._exec(
            "SELECT value FROM {s}.meta WHERE name = %s", (check_meta_name(name),)
        ).fetchone()
        return None if found is None else bytes(found[0])

    @_writes
    def put(self, name: str, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError("meta values must be bytes")
        self._exec(
            "INSERT INTO {s}.meta (name, value) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (check_meta_name(name), bytes(value)),
        )


_ACTIVE: Final = "active"
_SAVEPOINT: Final = b"SAVEPOINT custrec_op"
_RELEASE: Final = b"RELEASE SAVEPOINT custrec_op"
_ROLLBACK_TO: Final = b"ROLLBACK TO SAVEPOINT custrec_op"


class _PostgresSession:
    """One PostgreSQL transaction on one pooled connection; see :class:`custrec.storage.Session`."""

    def __init__(self, store: PostgresStore, conn: _Conn, *, readonly: bool) -> None:
        self._store = store
        self._conn = conn
        self._readonly = readonly
        self._state = _ACTIVE
        # Savepoint bookkeeping for write operations (see _operation):
        self._in_operation = False  # a write method is running
        self._savepoint_sent = False  # ... and its savepoint has been established
        self._release_pending = False  # a savepoint of an earlier operation is not released yet
        self._cursors = itertools.count(1)
        self._customers = _CustomerTable(self)
        self._activities = _ActivityTable(self)
        self._consents = _ConsentTable(self)
        self._history = _HistoryTable(self)
        self._audit = _AuditTable(self)
        self._keys = _KeyTable(self)
        self._meta = _MetaTable(self)

    def __repr__(self) -> str:
        mode = "read-only" if self._readonly else "read-write"
        return f"<PostgresSession {mode} {self._state}>"

    @property
    def readonly(self) -> bool:
        """Whether this session refuses writes."""
        return self._readonly

    @property
    def customers(self) -> _CustomerTable:
        return self._customers

    @property
    def activities(self) -> _ActivityTable:
        return self._activities

    @property
    def consents(self) -> _ConsentTable:
        return self._consents

    @property
    def history(self) -> _HistoryTable:
        return self._history

    @property
    def audit(self) -> _AuditTable:
        return self._audit

    @property
    def keys(self) -> _KeyTable:
        return self._keys

    @property
    def meta(self) -> _MetaTable:
        return self._meta

    # -- plumbing ---------------------------------------------------------------------------

    def _usable(self, *, write: bool = False, what: str = "session") -> _Conn:
        if self._state != _ACTIVE:
            raise StorageError(f"{what}: the session is {self._state}; open a new transaction")
        if self._store._closed:
            raise StorageError(f"{what}: the store is closed")
        if write and self._readonly:
            raise StorageError(f"{what}: writes are not allowed in a read-only session")
        if self._conn.info.transaction_status != TransactionStatus.INTRANS:
            self._state = "aborted"
            raise StorageError(f"{what}: the transaction was aborted; start again")
        return self._conn

    def _execute(self, statements: Sequence[tuple[bytes, _Params]]) -> list[_Cursor]:
        """Execute statements in order, preceded by pending savepoint work, in one round trip."""
        control: list[bytes] = []
        if self._in_operation and not self._savepoint_sent:
            if self._release_pending:
                control.append(_RELEASE)
            control.append(_SAVEPOINT)
            # From here on the savepoint may exist: a failure rolls back to it (or, if it does
            # not exist after all, marks the session failed).
            self._savepoint_sent = True
            self._release_pending = False
        conn = self._conn
        if not control and len(statements) == 1:
            return [conn.execute(statements[0][0], statements[0][1])]
        if psycopg.Pipeline.is_supported():
            with conn.pipeline():
                for sql in control:
                    conn.execute(sql)
                return [conn.execute(sql, params) for sql, params in statements]
        for sql in control:  # pragma: no cover - libpq older than 14: one round trip each
            conn.execute(sql)
        return [conn.execute(sql, params) for sql, params in statements]  # pragma: no cover

    def _open_operation(self) -> None:
        self._in_operation = True
        self._savepoint_sent = False

    def _close_operation(self) -> None:
        """A write method succeeded: its savepoint is released with the next write (or COMMIT)."""
        if self._savepoint_sent:
            self._release_pending = True
        self._in_operation = False
        self._savepoint_sent = False

    def _undo_operation(self) -> None:
        """Roll back to the failed write method's savepoint; never raises.

        If that is impossible the session is marked failed, since it may hold a partial write.
        """
        self._in_operation = False
        if not self._savepoint_sent:
            return  # nothing reached the server (an argument was refused)
        self._savepoint_sent = False
        conn = self._conn
        if conn.broken or conn.closed:
            self._state = "failed"
            return
        try:
            conn.execute(_ROLLBACK_TO)
        except psycopg.Error:
            self._state = "failed"
            return
        self._release_pending = True

    def _after_error(self, *, write: bool) -> None:
        """After a driver error: a transaction PostgreSQL aborted cannot be used any more."""
        if self._state != _ACTIVE:
            return
        conn = self._conn
        if conn.broken or conn.closed:
            self._state = "failed"
        elif conn.info.transaction_status != TransactionStatus.INTRANS:
            self._state = "aborted"

    def _audit_lock_statement(self) -> tuple[str, Sequence[Any]]:
        return "SELECT pg_advisory_xact_lock(%s)", (self._store._audit_key,)

    @contextmanager
    def _server_cursor(self) -> Iterator[psycopg.ServerCursor[TupleRow]]:
        cursor = self._conn.cursor(name=f"custrec_cursor_{next(self._cursors)}")
        try:
            yield cursor
        finally:
            if not (self._conn.broken or self._conn.closed):
                with suppress(psycopg.Error):
                    cursor.close()

    # -- protocol ---------------------------------------------------------------------------

    def commit(self) -> None:
        """Commit; on failure the transaction is rolled back and ``StorageError`` raised.

        A connection lost while committing raises ``StorageError(retry_safe=False)``: whether
        the commit landed is unknown.
        """
        conn = self._usable(what="commit")
        try:
            conn.execute(b"COMMIT")
        except psycopg.Error as exc:
            self._state = "failed"
            self._discard()
            raise _translate(exc, "commit", conn=conn, committing=True) from exc
        self._state = "committed"

    def rollback(self) -> None:
        """Discard the session's writes; a no-op once the session is finished."""
        if self._state != _ACTIVE:
            return
        self._state = "rolled back"
        try:
            if self._conn.info.transaction_status != TransactionStatus.IDLE:
                self._conn.execute(b"ROLLBACK")
        except psycopg.Error as exc:
            raise _translate(exc, "rollback", conn=self._conn) from exc

    def _discard(self) -> bool:
        """Roll back if still in a transaction, never raising; return whether that worked."""
        conn = self._conn
        if conn.broken or conn.closed:
            return False
        try:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.execute(b"ROLLBACK")
        except psycopg.Error:
            return False
        return conn.info.transaction_status == TransactionStatus.IDLE

    def _finish(self, *, quiet: bool) -> None:
        """End the session as its ``with`` block closes (roll back unless committed)."""
        if self._state == _ACTIVE:
            self._state = "rolled back"
            if quiet:
                self._discard()
                return
            try:
                if self._conn.info.transaction_status != TransactionStatus.IDLE:
                    self._conn.execute(b"ROLLBACK")
            except psycopg.Error as exc:
                raise _translate(exc, "rollback", conn=self._conn) from exc
        else:
            self._discard()


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------


def _check_size(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return value


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive, finite number of seconds")
    return float(value)


class PostgresStore:
    """A :class:`~custrec.storage.Store` on PostgreSQL (psycopg 3 and psycopg-pool).

    ``dsn`` is a libpq connection string or URI (``"postgresql://user@host/db"``); it is never
    repeated in messages or ``repr()`` (it may hold a password). Opening connects once, creates
    ``schema`` (default ``"custrec"``, a plain lower-case identifier) if needed and brings it up
    to date; a schema written by a newer custrec, or one holding foreign tables, is refused with
    ``StorageError``, and so is a server that cannot be reached.

    Threads and processes: sessions take connections from a ``psycopg_pool.ConnectionPool`` of
    ``min_size`` to ``max_size`` connections; a session holds its connection until it ends, so
    at most ``max_size`` sessions of one store run at once and the next waits up to ``timeout``
    seconds, then fails with ``StorageError(retry_safe=True)``. A session must not be shared
    between threads, and one thread may hold one session of a store at a time (nesting raises
    ``StorageError``). Every process opens its own store (a store used after ``fork`` starts a
    fresh pool in the child and never touches the parent's connections); any number of
    processes and machines may share one database.

    Isolation: write sessions are ``READ COMMITTED`` transactions, read-only sessions
    ``REPEATABLE READ READ ONLY`` snapshots. Writers never rely on the isolation level:
    compare-and-set updates check row counts; per-customer consent and history numbers are
    assigned under a transaction-scoped advisory lock per customer; the global audit sequence
    under one advisory lock per schema, taken by ``audit.append`` and, in write sessions, by
    ``audit.last`` (so that reading the last entry and appending after it is atomic). A
    deadlock or serialisation failure raises ``StorageError(retry_safe=True)``; so does a
    connection lost before ``COMMIT``, while one lost during ``COMMIT`` is not retry-safe (the
    outcome is unknown).
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        schema: str | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        application_name: str = "custrec",
    ) -> None:
        if not isinstance(dsn, str) or not dsn.strip():
            raise ValueError("dsn must be a non-empty PostgreSQL connection string")
        try:
            params = pg_conninfo.conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            raise ValueError("dsn is not a valid PostgreSQL connection string") from None
        schema = DEFAULT_SCHEMA if schema is None else schema
        if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(
                "schema must be a lower-case identifier (letters, digits, underscores; at most "
                "63 characters, not starting with a digit)"
            )
        if schema.startswith("pg_"):
            raise ValueError("schema names starting with 'pg_' are reserved by PostgreSQL")
        self._min_size = _check_size("min_size", min_size, 0)
        self._max_size = _check_size("max_size", max_size, 1)
        if self._max_size < self._min_size:
            raise ValueError("max_size must be at least min_size")
        self._timeout = _check_seconds("timeout", timeout)
        connect_seconds = _check_seconds("connect_timeout", connect_timeout)
        if not isinstance(application_name, str):
            raise TypeError("application_name must be a string")
        self._schema = schema
        self._quoted_schema = _quote_ident(schema)
        host = params.get("host") or params.get("hostaddr") or "local socket"
        port = f":{params['port']}" if params.get("port") else ""
        database = params.get("dbname") or params.get("user") or "default database"
        self._where = f"{host}{port}/{database}"
        self._connect_args: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in params:
            self._connect_args["connect_timeout"] = max(1, round(connect_seconds))
        if "application_name" not in params and application_name:
            self._connect_args["application_name"] = application_name
        self._dsn = dsn
        self._audit_key = _lock_key("custrec", schema, "audit")
        self._bucket_keys = tuple(
            _lock_key("custrec", schema, "index", str(b)) for b in range(_KEY_BUCKETS)
        )
        self._ledger_prefix = ("custrec", schema)
        self._sql: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._closed = False
        self._pid = os.getpid()
        self._orphans: list[ConnectionPool[_Conn]] = []  # inherited over fork: never touched
        self._open_and_migrate()
        self._pool = self._new_pool()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<PostgresStore {self._where} schema={self._schema!r}{state}>"

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding this store's tables."""
        return self._schema

    @property
    def capabilities(self) -> Capabilities:
        """Shared by processes and machines, and persistent."""
        return Capabilities(multiprocess=True, persistent=True)

    # -- connections ------------------------------------------------------------------------

    def _open_and_migrate(self) -> None:
        where = f"opening PostgreSQL at {self._where}"
        try:
            conn = psycopg.connect(self._dsn, **self._connect_args)
        except psycopg.Error as exc:
            raise StorageError(f"{where}: cannot connect: {_describe_connect(exc)}") from exc
        try:
            _migrate(conn, self._schema, where)
        except psycopg.Error as exc:
            raise _translate(exc, where, conn=conn) from exc
        finally:
            conn.close()

    def _configure(self, conn: _Conn) -> None:
        conn.execute(b"SET TIME ZONE 'UTC'")

    def _new_pool(self) -> ConnectionPool[_Conn]:
        return ConnectionPool(
            self._dsn,
            min_size=self._min_size,
            max_size=self._max_size,
            kwargs=dict(self._connect_args),
            configure=self._configure,
            timeout=self._timeout,
            name=f"custrec-{self._schema}",
            open=True,
        )

    def _render(self, template: str) -> bytes:
        """The SQL of ``template`` for this store's schema (cached)."""
        found = self._sql.get(template)
        if found is None:
            found = template.replace("{s}", self._quoted_schema).encode()
            self._sql[template] = found
        return found

    def _ledger_key(self, table: str, customer_id: str) -> int:
        return _lock_key(*self._ledger_prefix, table, customer_id)

    def _current_pool(self) -> ConnectionPool[_Conn]:
        with self._lock:
            if self._closed:
                raise StorageError("the store is closed")
            if os.getpid() != self._pid:  # forked: the parent's connections are not ours
                self._orphans.append(self._pool)
                self._pool = self._new_pool()
                self._pid = os.getpid()
            return self._pool

    def _begin(self, readonly: bool) -> tuple[ConnectionPool[_Conn], _Conn]:
        """Take a pooled connection and open a transaction on it.

        A connection that turns out to be dead (the server restarted, an idle connection was
        cut) is discarded and another one tried: nothing has happened yet, so that is safe.
        """
        statement = (
            b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            if readonly
            else b"BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
        )
        last_error: psycopg.Error | None = None
        for _ in range(self._max_size + 1):
            pool = self._current_pool()
            try:
                conn = pool.getconn()
            except PoolTimeout as exc:
                raise StorageError(
                    f"no PostgreSQL connection became available within {self._timeout:g} s "
                    f"(max_size={self._max_size}, server {self._where}); retry later",
                    retry_safe=True,
                ) from exc
            except PoolClosed as exc:
                raise StorageError("the store is closed") from exc
            try:
                conn.execute(statement)
            except psycopg.Error as exc:
                dead = conn.broken or conn.closed
                self._give_back(pool, conn)
                if not dead:
                    raise _translate(exc, "begin", conn=conn) from exc
                last_error = exc
                continue
            return pool, conn
        assert last_error is not None
        raise _translate(last_error, "begin") from last_error

    def _give_back(self, pool: ConnectionPool[_Conn], conn: _Conn) -> None:
        """Return a connection; the pool discards broken ones and rolls back stray transactions."""
        if pool in self._orphans:  # pragma: no cover - a fork happened during the session
            return
        if not (conn.broken or conn.closed):
            with suppress(psycopg.Error):
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.execute(b"ROLLBACK")
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.close()
        with suppress(psycopg.Error, PoolClosed):
            pool.putconn(conn)

    # -- protocol ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[_PostgresSession]:
        """Open a unit of work on a pooled connection (see :class:`PostgresStore`).

        Raises ``StorageError`` if this thread already has a session of this store open, and
        ``StorageError(retry_safe=True)`` if no connection is free within ``timeout``.
        """
        if getattr(self._local, "active", False):
            raise StorageError(
                "this thread already has a transaction open on this store; "
                "nested transactions are not supported"
            )
        self._local.active = True
        try:
            pool, conn = self._begin(readonly)
            try:
                session = _PostgresSession(self, conn, readonly=readonly)
                try:
                    yield session
                except BaseException:
                    session._finish(quiet=True)
                    raise
                session._finish(quiet=False)
            finally:
                self._give_back(pool, conn)
        finally:
            self._local.active = False

    def close(self) -> None:
        """Close the pool; idempotent. Later use raises ``StorageError``.

        Connections held by sessions still open elsewhere close when those sessions end; their
        further operations raise ``StorageError``.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pool = self._pool
        if os.getpid() == self._pid:
            with suppress(psycopg.Error):
                pool.close(timeout=5.0)


def _describe_connect(exc: psycopg.Error) -> str:
    """The reason a connection attempt failed (libpq's text; it never includes the password)."""
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


if TYPE_CHECKING:  # static conformance check: mypy verifies the structural match

    def _conforms(store: PostgresStore, session: _PostgresSession) -> tuple[Store, Session]:
        return store, session
