"""SQLite storage backend (stdlib :mod:`sqlite3`): the embedded default.

>>> store = SQLiteStore(":memory:")
>>> store.capabilities.persistent
False
>>> store.close()
"""

from __future__ import annotations

import builtins
import functools
import json
import math
import os
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Concatenate, Final, NamedTuple, ParamSpec, TypeVar

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

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "key_file_for"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T", bound="_Table")

_AMOUNT_SCALE: Final = 4
_AMOUNT_LIMIT: Final = 2**63  # amounts are stored as signed 64-bit integers
_CHUNK: Final = 500  # ids per IN (...) clause, well below SQLite's bound-variable limit
_SQL_INT_MAX: Final = 2**63 - 1  # the largest value SQLite binds as an INTEGER (LIMIT ?)
_MAX_IDLE: Final = 16  # idle connections kept in the pool
_SYNCHRONOUS: Final = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_PRAGMA_MAX: Final = 1 << 20  # cache_mib and checkpoint_pages: 1 TiB / 4 GiB is plenty
_BUSY_CODES: Final = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED (primary result codes)
_UNIQUE_NAMES: Final = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


# ---------------------------------------------------------------------------------------------
# Schema and migrations
# ---------------------------------------------------------------------------------------------


def _append_only(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        for verb in ("UPDATE", "DELETE")
    ]


_SCHEMA_V1: Final[tuple[str, ...]] = (
    """CREATE TABLE customers (
        pk INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL CHECK (version >= 1),
        payload BLOB NOT NULL,
        kind TEXT NOT NULL,
        stage TEXT NOT NULL,
        owner TEXT,
        team TEXT,
        grade TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX customers_kind ON customers (kind, id)",
    "CREATE INDEX customers_stage ON customers (stage, id)",
    "CREATE INDEX customers_owner ON customers (owner, id)",
    "CREATE INDEX customers_team ON customers (team, id)",
    "CREATE INDEX customers_grade ON customers (grade, id)",
    "CREATE INDEX customers_updated_at ON customers (updated_at)",
    """CREATE TABLE customer_tags (
        customer_pk INTEGER NOT NULL REFERENCES customers (pk) ON DELETE CASCADE,
        pos INTEGER NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (customer_pk, pos)
    ) WITHOUT ROWID""",
    "CREATE INDEX customer_tags_tag ON customer_tags (tag, customer_pk)",
    """CREATE TABLE customer_index (
        customer_pk INTEGER NOT NULL REFERENCES customers (pk) ON DELETE CASCADE,
        key TEXT NOT NULL,
        PRIMARY KEY (customer_pk, key)
    ) WITHOUT ROWID""",
    "CREATE INDEX customer_index_key ON customer_index (key, customer_pk)",
    """CREATE TABLE activities (
        pk INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        customer_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('transaction', 'interaction')),
        occurred_at TEXT NOT NULL,
        amount INTEGER,
        currency TEXT,
        payload BLOB NOT NULL
    )""",
    "CREATE INDEX activities_customer ON activities (customer_id, id)",
    # Covering index for summaries(): the GROUP BY walks it in order, no temporary b-tree.
    "CREATE INDEX activities_purchases ON activities "
    "(customer_id, currency, occurred_at, amount) WHERE kind = 'transaction'",
    """CREATE TABLE consents (
        pk INTEGER PRIMARY KEY,
        customer_id TEXT NOT NULL,
        seq INTEGER NOT NULL CHECK (seq >= 1),
        recorded_at TEXT NOT NULL,
        purpose TEXT NOT NULL,
        action TEXT NOT NULL,
        payload BLOB NOT NULL,
        UNIQUE (customer_id, seq)
    )""",
    *_append_only("consents"),
    """CREATE TABLE history (
        pk INTEGER PRIMARY KEY,
        customer_id TEXT NOT NULL,
        seq INTEGER NOT NULL CHECK (seq >= 1),
        at TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        action TEXT NOT NULL,
        path TEXT NOT NULL,
        reason TEXT,
        payload BLOB NOT NULL,
        UNIQUE (customer_id, seq)
    )""",
    *_append_only("history"),
    """CREATE TABLE audit (
        seq INTEGER PRIMARY KEY CHECK (seq >= 1),
        at TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        action TEXT NOT NULL,
        customer_id TEXT,
        fields TEXT NOT NULL,
        reason TEXT,
        outcome TEXT NOT NULL,
        chain BLOB NOT NULL
    )""",
    "CREATE INDEX audit_customer ON audit (customer_id, seq)",
    "CREATE INDEX audit_actor ON audit (actor_id, seq)",
    "CREATE INDEX audit_at ON audit (at)",
    *_append_only("audit"),
    """CREATE TABLE data_keys (
        pk INTEGER PRIMARY KEY,
        customer_id TEXT NOT NULL UNIQUE,
        master_key_id TEXT NOT NULL,
        wrapped BLOB NOT NULL,
        created_at TEXT NOT NULL
    )""",
)


def _statements(statements: Sequence[str]) -> Callable[[sqlite3.Connection], None]:
    """Make a migration step that runs ``statements`` one by one (inside the caller's BEGIN)."""

    def apply(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return apply


class Migration(NamedTuple):
    """One forward schema step: ``apply`` runs inside the opening transaction."""

    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


_INDEX_KEY_ID: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_TEXT_KEY: Final = b"\x00"
_TOKEN_KEY: Final = b"\x01"


def _pack_index_key(key: str) -> bytes:
    """The stored (BLOB) form of an index key.

    A blind-index token, ``kind:key-id:`` then 8-32 bytes of lowercase hex (the kind has no NUL
    character), keeps its head as text and its digest as raw bytes, half the width of the hex;
    any other key is its UTF-8 text. A tag byte tells them apart, so the packing is one-to-one.
    """
    head, colon, digest = key.rpartition(":")
    if colon and 16 <= len(digest) <= 64:
        kind, colon, key_id = head.rpartition(":")
        if colon and kind and "\x00" not in kind and _INDEX_KEY_ID.fullmatch(key_id):
            try:
                raw = bytes.fromhex(digest)
            except ValueError:
                raw = b""
            if raw.hex() == digest:  # lowercase hex only, nothing fromhex() would also accept
                return _TOKEN_KEY + head.encode("utf-8", "surrogatepass") + b":\x00" + raw
    return _TEXT_KEY + key.encode("utf-8", "surrogatepass")


def _unpack_index_key(stored: bytes) -> str:
    """Invert :func:`_pack_index_key`; ``StorageError`` for bytes it cannot have made."""
    tag, body = stored[:1], stored[1:]
    try:
        if tag == _TEXT_KEY:
            return body.decode("utf-8", "surrogatepass")
        if tag == _TOKEN_KEY:
            head, separator, digest = body.partition(b"\x00")
            if separator and digest:
                return head.decode("utf-8", "surrogatepass") + digest.hex()
    except UnicodeDecodeError:
        pass
    raise StorageError("customer_index holds a malformed key")


def _compact_index_keys(conn: sqlite3.Connection) -> None:
    """Schema 2: index keys become BLOBs (:func:`_pack_index_key`), so that the random
    blind-index tokens of an encrypted store take about half the index pages they took as hex
    text: fewer pages to cache, and fewer dirtied by each commit."""
    conn.create_function("custrec_pack_index_key", 1, _pack_index_key, deterministic=True)
    try:
        for statement in (
            """CREATE TABLE customer_index_v2 (
                customer_pk INTEGER NOT NULL REFERENCES customers (pk) ON DELETE CASCADE,
                key BLOB NOT NULL,
                PRIMARY KEY (customer_pk, key)
            ) WITHOUT ROWID""",
            "INSERT INTO customer_index_v2 (customer_pk, key) "
            "SELECT customer_pk, custrec_pack_index_key(key) FROM customer_index "
            "ORDER BY customer_pk",
            "DROP TABLE customer_index",
            "ALTER TABLE customer_index_v2 RENAME TO customer_index",
            "CREATE INDEX customer_index_key ON customer_index (key, customer_pk)",
        ):
            conn.execute(statement)
    finally:
        conn.create_function("custrec_pack_index_key", 1, None)


_TOMBSTONE_V1: Final = b'{"schema_version":1,"erased":'
_ALIAS_V1: Final = b'{"schema_version":1,"merged_into":'


def _row_state_and_meta(conn: sqlite3.Connection) -> None:
    """Schema 3: a stored row state (live, archived, restricted, erased, merged), the
    ``on_behalf_of`` column of the audit log, and the ``meta`` table.

    Rows written before it that hold an erasure tombstone or a merge alias (custrec's own
    payload formats of schema 1, recognised by their first bytes) are marked ``erased`` and
    ``merged``; every other row is ``live``.
    """
    states = ", ".join(f"'{state}'" for state in ROW_STATES)
    conn.execute(
        "ALTER TABLE customers ADD COLUMN state TEXT NOT NULL DEFAULT 'live' "
        f"CHECK (state IN ({states}))"
    )
    for state, prefix in (("erased", _TOMBSTONE_V1), ("merged", _ALIAS_V1)):
        conn.execute(
            "UPDATE customers SET state = ? WHERE substr(payload, 1, ?) = ?",
            (state, len(prefix), prefix),
        )
    conn.execute("CREATE INDEX customers_state ON customers (state, id)")
    conn.execute("ALTER TABLE audit ADD COLUMN on_behalf_of TEXT")
    conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _statements(_SCHEMA_V1)),
    Migration(2, "index keys stored as compact BLOBs", _compact_index_keys),
    Migration(3, "row state, audit on_behalf_of, meta table", _row_state_and_meta),
)
"""Every schema step, in order; append new ones, never edit or reorder published ones."""

SCHEMA_VERSION: Final = MIGRATIONS[-1].version
"""The schema version this code creates and understands."""


def _schema_version(conn: sqlite3.Connection, path: str) -> int | None:
    """Return the database's schema version, or ``None`` for an empty (new) database."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if has_table is None:
        others = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchone()[0]
        if others:
            raise StorageError(
                f"{path} is an SQLite database but not a custrec one (no schema_version table)"
            )
        return None
    found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")
    return int(found.fetchone()[0])


def _check_not_newer(current: int | None, latest: int, path: str) -> None:
    if current is not None and current > latest:
        raise StorageError(
            f"{path} has schema version {current}, newer than this custrec knows ({latest}); "
            "upgrade custrec to open it"
        )


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the schema up to date; concurrent openers serialise on ``BEGIN IMMEDIATE``.

    An up-to-date database is only read (so opening never waits for another process's write
    transaction); otherwise the version is checked again and every missing step applied under
    the write lock, in one transaction: all steps land or none.
    """
    migrations = MIGRATIONS  # read at call time so tests can substitute the list
    if [m.version for m in migrations] != list(range(1, len(migrations) + 1)):
        raise RuntimeError("custrec.backends.sqlite.MIGRATIONS must be numbered 1, 2, 3, ...")
    latest = len(migrations)
    current = _schema_version(conn, path)
    _check_not_newer(current, latest, path)
    if current == latest:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = _schema_version(conn, path)  # another process may have migrated meanwhile
        _check_not_newer(current, latest, path)
        if current is None:
            conn.execute(
                "CREATE TABLE schema_version ("
                "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            current = 0
        for migration in migrations[current:]:
            migration.apply(conn)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description, _encode_dt(datetime.now(UTC), "now")),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------


def _encode_dt(value: datetime, name: str) -> str:
    """UTC ISO 8601 with fixed-width microseconds: sorts as text, round-trips exactly."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (naive datetimes are refused)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{name} is out of the representable range in UTC") from exc
    return utc.isoformat(timespec="microseconds")


def _decode_dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _encode_amount(value: object, name: str = "amount") -> int | None:
    """Scale a Decimal by 10^4 to an exact integer; more than four decimal places is refused."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)  # exact; accepted for convenience
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{name} must be a finite number")
    units = int("".join(map(str, digits)) or "0")
    shift = exponent + _AMOUNT_SCALE
    if units and shift > 19:
        raise ValueError(f"{name} is too large to store")
    if shift >= 0:
        units *= int(10**shift)
    else:
        units, remainder = divmod(units, int(10**-shift))
        if remainder:
            raise ValueError(f"{name} has more than {_AMOUNT_SCALE} decimal places")
    if units >= _AMOUNT_LIMIT:
        raise ValueError(f"{name} is too large to store")
    return -units if sign else units


def _decode_amount(units: int) -> Decimal:
    return Decimal(units).scaleb(-_AMOUNT_SCALE)


def _positive_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    return limit


def _check_kind(kind: str) -> str:
    if kind not in ACTIVITY_KINDS:
        raise ValueError(f"activity kind must be one of {', '.join(ACTIVITY_KINDS)}, got {kind!r}")
    return kind


def _chunks(items: Sequence[_R], size: int = _CHUNK) -> Iterator[Sequence[_R]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


# ---------------------------------------------------------------------------------------------
# Error translation
# ---------------------------------------------------------------------------------------------


def _is_unique_violation(exc: sqlite3.Error) -> bool:
    if not isinstance(exc, sqlite3.IntegrityError):
        return False
    name = getattr(exc, "sqlite_errorname", None)
    if name is not None:
        return name in _UNIQUE_NAMES
    return str(exc).startswith("UNIQUE constraint failed")


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _BUSY_CODES:
        return True
    text = str(exc)
    return "database is locked" in text or "database table is locked" in text


def _translate(exc: sqlite3.Error, context: str) -> StorageError:
    """Map a driver error to a custrec error (the caller chains it with ``raise ... from``).

    SQLite's messages name tables, columns and constraints, never bound values, so they are
    safe to repeat.
    """
    if _is_unique_violation(exc):
        return DuplicateKey(context)
    if _is_busy(exc):
        return StorageError(
            f"{context}: the database is busy ({exc}); retry the unit of work", retry_safe=True
        )
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return StorageError(f"{context}: SQLite error {name}: {exc}")


# ---------------------------------------------------------------------------------------------
# Sessions and tables
# ---------------------------------------------------------------------------------------------


def _operation(
    *, write: bool, single_statement: bool = False
) -> Callable[[Callable[Concatenate[_T, _P], _R]], Callable[Concatenate[_T, _P], _R]]:
    """Guard a table method: session state, read-only check, atomicity and error translation.

    Write methods run inside a savepoint, so a method that fails leaves the session exactly as
    it was before the call (for example ``history.append`` is all or none). A method that
    writes with one statement (``single_statement``) needs none: SQLite undoes a failed
    statement by itself, and the savepoint would cost two more statements per call.
    """

    def decorate(method: Callable[Concatenate[_T, _P], _R]) -> Callable[Concatenate[_T, _P], _R]:
        @functools.wraps(method)
        def run(self: _T, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            session = self._session
            context = f"{self._name}.{method.__name__}"
            conn = session._usable(write=write, what=context)
            try:
                if not write or single_statement:
                    return method(self, *args, **kwargs)
                conn.execute("SAVEPOINT custrec_op")
                try:
                    result = method(self, *args, **kwargs)
                except BaseException:
                    session._undo_operation()
                    raise
                conn.execute("RELEASE custrec_op")
                return result
            except sqlite3.Error as exc:
                session._after_error()
                raise _translate(exc, context) from exc

        return run

    return decorate


_reads = _operation(write=False)
_writes = _operation(write=True)
_writes_one_statement = _operation(write=True, single_statement=True)


class _Table:
    _name = "table"

    def __init__(self, session: _SQLiteSession) -> None:
        self._session = session

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._session._conn


_CUSTOMER_COLUMNS: Final = (
    "c.pk, c.id, c.version, c.payload, c.kind, c.stage, c.owner, c.team, c.grade, "
    "c.created_at, c.updated_at, c.state"
)


class _CustomerTable(_Table):
    _name = "customers"

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _facets(row: CustomerRow) -> tuple[Any, ...]:
        return (
            bytes(row.payload),
            row.kind,
            row.stage,
            row.owner,
            row.team,
            row.grade,
            _encode_dt(row.updated_at, "updated_at"),
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
            [(pk, _pack_index_key(key)) for pk, row in items for key in row.index_keys],
        )
        self._conn.executemany(
            "INSERT INTO customer_tags (customer_pk, pos, tag) VALUES (?, ?, ?)",
            [(pk, pos, tag) for pk, row in items for pos, tag in enumerate(row.tags)],
        )

    def _rows(self, sql: str, params: Sequence[Any]) -> list[CustomerRow]:
        raw = self._conn.execute(sql, tuple(params)).fetchall()
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
                keys[pk].add(_unpack_index_key(key))
            for pk, tag in self._conn.execute(
                f"SELECT customer_pk, tag FROM customer_tags WHERE customer_pk IN ({marks}) "
                "ORDER BY customer_pk, pos",
                tuple(chunk),
            ):
                tags[pk].append(tag)
        return [
            CustomerRow(
                id=r[1],
                version=r[2],
                payload=bytes(r[3]),
                index_keys=frozenset(keys[r[0]]),
                kind=r[4],
                stage=r[5],
                owner=r[6],
                team=r[7],
                grade=r[8],
                tags=tuple(tags[r[0]]),
                created_at=_decode_dt(r[9]),
                updated_at=_decode_dt(r[10]),
                state=r[11],
            )
            for r in raw
        ]

    @staticmethod
    def _where(where: CustomerFilter | None, after: str | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if where is not None:
            for column in ("kind", "stage", "state", "owner", "team", "grade"):
                value = getattr(where, column)
                if value is not None:
                    clauses.append(f"c.{column} = ?")
                    params.append(value)
            if where.tag is not None:
                clauses.append(
                    "EXISTS (SELECT 1 FROM customer_tags AS t "
                    "WHERE t.customer_pk = c.pk AND t.tag = ?)"
                )
                params.append(where.tag)
            if where.updated_after is not None:
                clauses.append("c.updated_at > ?")
                params.append(_encode_dt(where.updated_after, "updated_after"))
            if where.updated_before is not None:
                clauses.append("c.updated_at < ?")
                params.append(_encode_dt(where.updated_before, "updated_before"))
        if after is not None:
            clauses.append("c.id > ?")
            params.append(after)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def _refuse_cas(self, customer_id: str, expected_version: int) -> StorageError:
        found = self._conn.execute(
            "SELECT version FROM customers WHERE id = ?", (customer_id,)
        ).fetchone()
        if found is None:
            return NotFound(f"customer {customer_id}")
        return VersionConflict(
            f"customer {customer_id}", expected=expected_version, actual=int(found[0])
        )

    # -- protocol ---------------------------------------------------------------------------

    @_writes
    def add(self, row: CustomerRow) -> int:
        params = (row.id, _encode_dt(row.created_at, "created_at"), *self._facets(row))
        try:
            cursor = self._conn.execute(
                "INSERT INTO customers (id, created_at, payload, kind, stage, owner, team, grade, "
                "updated_at, state, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                params,
            )
        except sqlite3.IntegrityError as exc:
            if _is_unique_violation(exc):
                raise DuplicateKey(f"customer {row.id}") from exc
            raise
        pk = cursor.lastrowid
        assert pk is not None
        self._write_children([(pk, row)])
        return 1

    @_writes
    def add_many(self, rows: Sequence[CustomerRow], *, skip_existing: bool = False) -> int:
        """Insert with one ``executemany``; existing ids are found first, so nothing half-lands."""
        encoded = [
            (row.id, _encode_dt(row.created_at, "created_at"), *self._facets(row)) for row in rows
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
        inserted = cursor.rowcount
        kept_ids = [ids[i] for i in keep]
        pk_of: dict[str, int] = {}
        for chunk in _chunks(kept_ids):
            sql = f"SELECT id, pk FROM customers WHERE id IN ({_marks(len(chunk))})"
            pk_of.update((r[0], r[1]) for r in self._conn.execute(sql, tuple(chunk)))
        self._write_children([(pk_of[rows[i].id], rows[i]) for i in keep])
        return inserted

    @_reads
    def get(self, customer_id: str) -> CustomerRow:
        rows = self._rows(
            f"SELECT {_CUSTOMER_COLUMNS} FROM customers AS c WHERE c.id = ?", (customer_id,)
        )
        if not rows:
            raise NotFound(f"customer {customer_id}")
        return rows[0]

    @_reads
    def get_many(self, customer_ids: Iterable[str]) -> builtins.list[CustomerRow]:
        ids = list(dict.fromkeys(customer_ids))
        found: list[CustomerRow] = []
        for chunk in _chunks(ids):
            found.extend(
                self._rows(
                    f"SELECT {_CUSTOMER_COLUMNS} FROM customers AS c "
                    f"WHERE c.id IN ({_marks(len(chunk))})",
                    chunk,
                )
            )
        found.sort(key=lambda row: row.id)
        return found

    @_writes
    def update(self, row: CustomerRow, *, expected_version: int) -> int:
        """Compare-and-set in the ``UPDATE`` itself; index keys and tags are replaced."""
        _encode_dt(row.created_at, "created_at")  # ignored, but must still be a valid instant
        facets = self._facets(row)
        cursor = self._conn.execute(
            "UPDATE customers SET payload = ?, kind = ?, stage = ?, owner = ?, team = ?, "
            "grade = ?, updated_at = ?, state = ?, version = version + 1 "
            "WHERE id = ? AND version = ?",
            (*facets, row.id, expected_version),
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

    @_writes
    def delete(self, customer_id: str, *, expected_version: int) -> None:
        cursor = self._conn.execute(
            "DELETE FROM customers WHERE id = ? AND version = ?", (customer_id, expected_version)
        )  # index keys and tags go with it (ON DELETE CASCADE)
        if cursor.rowcount != 1:
            raise self._refuse_cas(customer_id, expected_version)
        self._session._shred = True

    @_reads
    def lookup(self, index_key: str) -> builtins.list[str]:
        return [
            r[0]
            for r in self._conn.execute(
                "SELECT c.id FROM customer_index AS i JOIN customers AS c ON c.pk = i.customer_pk "
                "WHERE i.key = ? ORDER BY c.id",
                (_pack_index_key(index_key),),
            )
        ]

    @_reads
    def lookup_many(
        self, index_keys: Iterable[str], *, limit: int | None = None
    ) -> dict[str, builtins.list[str]]:
        """Batched ``IN (...)`` lookups; with ``limit``, one capped index range per key.

        With a limit, a key's first ``limit`` postings in ``customer_index_key`` order (the
        oldest rows) are read from the covering index and nothing more, so a key shared by
        100,000 customers costs as little as one shared by ten; their ids come back sorted.
        """
        if limit is not None:
            _positive_limit(limit)
        keys = list(dict.fromkeys(index_keys))
        found: dict[str, list[str]] = {}
        if limit is not None:
            bound = min(limit, _SQL_INT_MAX)  # more than any table holds; binds as INTEGER
            for key in keys:
                ids = [
                    r[0]
                    for r in self._conn.execute(
                        "SELECT c.id FROM (SELECT customer_pk FROM customer_index "
                        "WHERE key = ? ORDER BY customer_pk LIMIT ?) AS i "
                        "JOIN customers AS c ON c.pk = i.customer_pk",
                        (_pack_index_key(key), bound),
                    )
                ]
                if ids:
                    found[key] = sorted(ids)
            return found
        packed = {_pack_index_key(key): key for key in keys}
        for chunk in _chunks(list(packed)):
            for stored, customer_id in self._conn.execute(
                "SELECT i.key, c.id FROM customer_index AS i "
                "JOIN customers AS c ON c.pk = i.customer_pk "
                f"WHERE i.key IN ({_marks(len(chunk))}) ORDER BY i.key, c.id",
                tuple(chunk),
            ):
                found.setdefault(packed[stored], []).append(customer_id)
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
        return self._rows(
            f"SELECT {_CUSTOMER_COLUMNS} FROM customers AS c{clause} ORDER BY c.id LIMIT ?",
            [*params, limit],
        )

    @_reads
    def count(self, *, where: CustomerFilter | None = None) -> int:
        clause, params = self._where(where, None)
        return int(
            self._conn.execute(f"SELECT count(*) FROM customers AS c{clause}", params).fetchone()[0]
        )


_ACTIVITY_COLUMNS: Final = "id, customer_id, kind, occurred_at, amount, currency, payload"


class _ActivityTable(_Table):
    _name = "activities"

    @staticmethod
    def _encode(row: ActivityRow) -> tuple[Any, ...]:
        _check_kind(row.kind)
        if row.kind == "transaction" and (row.amount is None or not row.currency):
            raise ValueError("a transaction needs an amount and a currency")
        return (
            row.id,
            row.customer_id,
            row.kind,
            _encode_dt(row.occurred_at, "occurred_at"),
            _encode_amount(row.amount),
            row.currency,
            bytes(row.payload),
        )

    @staticmethod
    def _decode(r: sqlite3.Row | tuple[Any, ...]) -> ActivityRow:
        return ActivityRow(
            id=r[0],
            customer_id=r[1],
            kind=r[2],
            occurred_at=_decode_dt(r[3]),
            amount=None if r[4] is None else _decode_amount(r[4]),
            currency=r[5],
            payload=bytes(r[6]),
        )

    @_writes
    def add(self, row: ActivityRow) -> None:
        params = self._encode(row)
        try:
            self._conn.execute(
                f"INSERT INTO activities ({_ACTIVITY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                params,
            )
        except sqlite3.IntegrityError as exc:
            if _is_unique_violation(exc):
                raise DuplicateKey(f"activity {row.id}") from exc
            raise

    @_writes
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
            f"INSERT INTO activities ({_ACTIVITY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            [params for params in encoded if params[0] not in existing],
        )
        return cursor.rowcount

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
        sql = f"SELECT {_ACTIVITY_COLUMNS} FROM activities WHERE customer_id = ?"
        params: list[Any] = [customer_id]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(_check_kind(kind))
        if after is not None:
            sql += " AND id > ?"
            params.append(after)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        return [self._decode(r) for r in self._conn.execute(sql, params)]

    @_writes
    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        if from_customer_id == to_customer_id:
            return 0
        cursor = self._conn.execute(
            "UPDATE activities SET customer_id = ? WHERE customer_id = ?",
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
        _positive_limit(limit)
        cutoff = _encode_dt(as_of, "as_of")
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
        return [
            ActivitySummary(
                customer_id=customer_id,
                currency=currency,
                first_purchase_at=_decode_dt(first),
                last_purchase_at=_decode_dt(last),
                purchase_count=int(count),
                total_spent=_decode_amount(total),
            )
            for customer_id, currency, first, last, count, total in self._conn.execute(
                sql, [*picked_params, limit, cutoff]
            )
        ]


class _ConsentTable(_Table):
    _name = "consents"

    def _next_seq(self, customer_id: str) -> int:
        row = self._conn.execute(
            "SELECT coalesce(max(seq), 0) FROM consents WHERE customer_id = ?", (customer_id,)
        ).fetchone()
        return int(row[0]) + 1

    def _insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._conn.executemany(
            "INSERT INTO consents (customer_id, seq, recorded_at, purpose, action, payload) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )

    @_writes
    def append(self, record: ConsentRecord) -> int:
        recorded_at = _encode_dt(record.recorded_at, "recorded_at")
        seq = self._next_seq(record.customer_id)
        self._insert(
            [
                (
                    record.customer_id,
                    seq,
                    recorded_at,
                    record.purpose,
                    record.action,
                    bytes(record.payload),
                )
            ]
        )
        return seq

    @_reads
    def list_for(self, customer_id: str, *, after_seq: int = 0) -> builtins.list[ConsentRecord]:
        return [
            ConsentRecord(
                customer_id=r[0],
                seq=r[1],
                recorded_at=_decode_dt(r[2]),
                purpose=r[3],
                action=r[4],
                payload=bytes(r[5]),
            )
            for r in self._conn.execute(
                "SELECT customer_id, seq, recorded_at, purpose, action, payload FROM consents "
                "WHERE customer_id = ? AND seq > ? ORDER BY seq",
                (customer_id, after_seq),
            )
        ]

    @_writes
    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        """Copy the source's events, in order, after the target's last one (new seqs)."""
        if from_customer_id == to_customer_id:
            return 0
        source = self._conn.execute(
            "SELECT recorded_at, purpose, action, payload FROM consents "
            "WHERE customer_id = ? ORDER BY seq",
            (from_customer_id,),
        ).fetchall()
        base = self._next_seq(to_customer_id)
        self._insert([(to_customer_id, base + i, *r) for i, r in enumerate(source)])
        return len(source)


class _HistoryTable(_Table):
    _name = "history"

    @_writes
    def append(self, records: Sequence[HistoryRecord]) -> builtins.list[int]:
        encoded = [_encode_dt(r.at, "at") for r in records]
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

    @_reads
    def list_for(self, customer_id: str, *, after_seq: int = 0) -> builtins.list[HistoryRecord]:
        return [
            HistoryRecord(
                customer_id=r[0],
                seq=r[1],
                at=_decode_dt(r[2]),
                actor_id=r[3],
                action=r[4],
                path=r[5],
                reason=r[6],
                payload=bytes(r[7]),
            )
            for r in self._conn.execute(
                "SELECT customer_id, seq, at, actor_id, action, path, reason, payload "
                "FROM history WHERE customer_id = ? AND seq > ? ORDER BY seq",
                (customer_id, after_seq),
            )
        ]


_AUDIT_COLUMNS: Final = (
    "seq, at, actor_id, action, customer_id, fields, reason, outcome, chain, on_behalf_of"
)


class _AuditTable(_Table):
    _name = "audit"

    @staticmethod
    def _decode(r: tuple[Any, ...]) -> AuditRecord:
        return AuditRecord(
            seq=r[0],
            at=_decode_dt(r[1]),
            actor_id=r[2],
            action=r[3],
            customer_id=r[4],
            fields=tuple(json.loads(r[5])),
            reason=r[6],
            outcome=r[7],
            chain=bytes(r[8]),
            on_behalf_of=r[9],
        )

    @_writes
    def append(self, records: Sequence[AuditRecord]) -> builtins.list[int]:
        encoded = [
            (
                _encode_dt(r.at, "at"),
                r.actor_id,
                r.action,
                r.customer_id,
                json.dumps(list(r.fields), ensure_ascii=False),
                r.reason,
                r.outcome,
                bytes(r.chain),
                r.on_behalf_of,
            )
            for r in records
        ]
        first = int(self._conn.execute("SELECT coalesce(max(seq), 0) FROM audit").fetchone()[0]) + 1
        seqs = list(range(first, first + len(encoded)))
        self._conn.executemany(
            f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(seq, *params) for seq, params in zip(seqs, encoded, strict=True)],
        )
        return seqs

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
        sql = f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE seq > ?"
        params: list[Any] = [min(after_seq, _SQL_INT_MAX)]
        if before_seq is not None:
            sql += " AND seq < ?"
            params.append(min(before_seq, _SQL_INT_MAX))
        if customer_id is not None:
            sql += " AND customer_id = ?"
            params.append(customer_id)
        if actor_id is not None:
            sql += " AND actor_id = ?"
            params.append(actor_id)
        if since is not None:
            sql += " AND at >= ?"
            params.append(_encode_dt(since, "since"))
        if until is not None:
            sql += " AND at < ?"
            params.append(_encode_dt(until, "until"))
        sql += " ORDER BY seq DESC LIMIT ?" if newest_first else " ORDER BY seq LIMIT ?"
        params.append(min(limit, _SQL_INT_MAX))
        return [self._decode(r) for r in self._conn.execute(sql, params)]

    @_reads
    def last(self) -> AuditRecord | None:
        row = self._conn.execute(
            f"SELECT {_AUDIT_COLUMNS} FROM audit ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return None if row is None else self._decode(row)


class _KeyTable(_Table):
    _name = "keys"

    @_writes_one_statement
    def put(self, key: WrappedKey) -> None:
        try:
            self._conn.execute(
                "INSERT INTO data_keys (customer_id, master_key_id, wrapped, created_at) "
                "VALUES (?, ?, ?, ?)",
                (
                    key.customer_id,
                    key.master_key_id,
                    bytes(key.wrapped),
                    _encode_dt(key.created_at, "created_at"),
                ),
            )
        except sqlite3.IntegrityError as exc:
            if _is_unique_violation(exc):
                raise DuplicateKey(f"data key of customer {key.customer_id}") from exc
            raise

    @_writes
    def put_many(self, keys: Sequence[WrappedKey]) -> None:
        """One ``executemany``; a duplicate raises ``DuplicateKey`` and nothing stays."""
        rows = [
            (
                key.customer_id,
                key.master_key_id,
                bytes(key.wrapped),
                _encode_dt(key.created_at, "created_at"),
            )
            for key in keys
        ]
        if not rows:
            return
        ids = [row[0] for row in rows]
        repeated = [cid for cid, n in Counter(ids).items() if n > 1]
        if repeated:
            raise DuplicateKey(f"data key of customer {min(repeated)} (twice in the batch)")
        cursor = self._conn.executemany(
            "INSERT INTO data_keys (customer_id, master_key_id, wrapped, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (customer_id) DO NOTHING",
            rows,
        )
        if cursor.rowcount != len(rows):  # the savepoint undoes the rows that did go in
            ours = {row[0]: row[2] for row in rows}
            taken: list[str] = []
            for chunk in _chunks(ids):
                marks = _marks(len(chunk))
                sql = f"SELECT customer_id, wrapped FROM data_keys WHERE customer_id IN ({marks})"
                found = self._conn.execute(sql, tuple(chunk))
                taken.extend(r[0] for r in found if bytes(r[1]) != ours[r[0]])
            raise DuplicateKey(f"data key of customer {min(taken, default=ids[0])}")

    @_reads
    def get(self, customer_id: str) -> WrappedKey:
        row = self._conn.execute(
            "SELECT customer_id, master_key_id, wrapped, created_at FROM data_keys "
            "WHERE customer_id = ?",
            (customer_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"data key of customer {customer_id}")
        return self._decode(row)

    @staticmethod
    def _decode(r: tuple[Any, ...]) -> WrappedKey:
        return WrappedKey(
            customer_id=r[0], master_key_id=r[1], wrapped=bytes(r[2]), created_at=_decode_dt(r[3])
        )

    @_writes
    def replace(self, key: WrappedKey) -> None:
        cursor = self._conn.execute(
            "UPDATE data_keys SET master_key_id = ?, wrapped = ?, created_at = ? "
            "WHERE customer_id = ?",
            (
                key.master_key_id,
                bytes(key.wrapped),
                _encode_dt(key.created_at, "created_at"),
                key.customer_id,
            ),
        )
        if cursor.rowcount != 1:
            raise NotFound(f"data key of customer {key.customer_id}")

    @_writes
    def delete(self, customer_id: str) -> bool:
        """Delete the key; ``secure_delete`` is on, so its bytes are overwritten in the file."""
        cursor = self._conn.execute("DELETE FROM data_keys WHERE customer_id = ?", (customer_id,))
        if cursor.rowcount > 0:  # leave no copy of it in the write-ahead log after the commit
            self._session._shred = True
        return cursor.rowcount > 0

    @_reads
    def list(self, *, after: str | None = None, limit: int = 1000) -> builtins.list[WrappedKey]:
        _positive_limit(limit)
        sql = "SELECT customer_id, master_key_id, wrapped, created_at FROM data_keys"
        params: list[Any] = []
        if after is not None:
            sql += " WHERE customer_id > ?"
            params.append(after)
        sql += " ORDER BY customer_id LIMIT ?"
        params.append(limit)
        return [self._decode(r) for r in self._conn.execute(sql, params)]


class _MetaTable(_Table):
    _name = "meta"

    @_reads
    def get(self, name: str) -> bytes | None:
        found = self._conn.execute(
            "SELECT value FROM meta WHERE name = ?", (check_meta_name(name),)
        ).fetchone()
        return None if found is None else bytes(found[0])

    @_writes_one_statement
    def put(self, name: str, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError("meta values must be bytes")
        self._conn.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (check_meta_name(name), bytes(value)),
        )


_ACTIVE: Final = "active"


class _SQLiteSession:
    """One SQLite transaction on one connection; see :class:`custrec.storage.Session`."""

    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection, *, readonly: bool) -> None:
        self._store = store
        self._conn = conn
        self._readonly = readonly
        self._state = _ACTIVE
        self._customers = _CustomerTable(self)
        self._activities = _ActivityTable(self)
        self._consents = _ConsentTable(self)
        self._history = _HistoryTable(self)
        self._audit = _AuditTable(self)
        self._keys = _KeyTable(self)
        self._meta = _MetaTable(self)
        self._shred = False  # deleted a data key or erased a row: truncate the WAL on commit

    def __repr__(self) -> str:
        mode = "read-only" if self._readonly else "read-write"
        return f"<SQLiteSession {mode} {self._state}>"

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

    def _usable(self, *, write: bool = False, what: str = "session") -> sqlite3.Connection:
        if self._state != _ACTIVE:
            raise StorageError(f"{what}: the session is {self._state}; open a new transaction")
        if self._store._closed:
            raise StorageError(f"{what}: the store is closed")
        if write and self._readonly:
            raise StorageError(f"{what}: writes are not allowed in a read-only session")
        if not self._conn.in_transaction:  # SQLite rolled back on its own (disk full, I/O error)
            self._state = "aborted"
            raise StorageError(f"{what}: the transaction was aborted by SQLite; start again")
        return self._conn

    def _undo_operation(self) -> None:
        """Roll back to the savepoint of the failed write method; never raises.

        If that is impossible the session is marked failed, since it may hold a partial write.
        """
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK TO custrec_op")
                self._conn.execute("RELEASE custrec_op")
        except sqlite3.Error:
            self._state = "failed"

    def _after_error(self) -> None:
        """After a driver error: if SQLite ended the transaction itself, the session is dead."""
        if not self._conn.in_transaction:
            self._state = "aborted"

    def commit(self) -> None:
        """Commit; on failure the transaction is rolled back and ``StorageError`` raised."""
        conn = self._usable(what="commit")
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._state = "failed"
            self._discard()
            raise _translate(exc, "commit") from exc
        self._state = "committed"
        if self._shred or self._store._shred_pending:
            self._store._truncate_wal(conn, wait=self._shred)

    def rollback(self) -> None:
        """Discard the session's writes; a no-op once the session is finished."""
        if self._state != _ACTIVE:
            return
        self._state = "rolled back"
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise _translate(exc, "rollback") from exc

    def _discard(self) -> bool:
        """Roll back if still in a transaction, never raising; return whether that worked."""
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            return False
        return True

    def _finish(self, *, quiet: bool) -> bool:
        """End the session as its ``with`` block closes; tell whether the connection is reusable."""
        if self._state == _ACTIVE:
            self._state = "rolled back"
            if quiet:
                return self._discard()
            try:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                raise _translate(exc, "rollback") from exc
        return not self._conn.in_transaction or self._discard()


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------


class SQLiteStore:
    """A :class:`~custrec.storage.Store` on an SQLite database file (stdlib :mod:`sqlite3`).

    Opening creates the file if needed and brings its schema up to date (forward-only
    migrations, tracked in a ``schema_version`` table); a file written by a newer custrec is
    refused with ``StorageError``. The database runs in WAL mode with foreign keys and
    ``secure_delete`` on, the given ``busy_timeout`` (seconds) and ``synchronous`` level
    (``"NORMAL"``: a committed session survives an application crash and, in WAL mode, stays
    consistent after power loss though its last commits may roll back; use ``"FULL"`` to make
    every commit survive power loss).

    ``cache_mib`` is each connection's page cache in MiB (default 64; SQLite's own default is
    2): an index of blind-index tokens takes writes at random places, and a cache that holds
    the index's pages saves re-reading them. ``checkpoint_pages`` is how many pages the WAL
    may hold before a commit copies them back into the database (default 10,000, about 40 MB;
    SQLite's default is 1,000): a page changed by many commits in between is copied once.
    Memory is taken only as pages are used.

    Threads and processes: each session takes a connection from a small pool (opened lazily;
    a connection serves one session at a time, so no two threads share one). Write sessions
    begin with ``BEGIN IMMEDIATE``: writers queue for SQLite's single write lock for up to
    ``busy_timeout`` and then fail with ``StorageError(retry_safe=True)``; readers never block
    and see a snapshot. Any number of processes on one machine may open the same file (not over
    a network file system). A session must not be shared between threads, and one thread may
    hold one session of a store at a time: nesting raises ``StorageError``.

    ``":memory:"`` keeps the database in this process only: one connection shared by all
    sessions of this store instance, which run one at a time (others wait up to
    ``busy_timeout``); it is not persistent and not multiprocess.

    **Key store.** Crypto-shredding needs the wrapped data keys kept apart from the data that
    gets backed up, so by default (``key_file=True``) they live in a second SQLite file beside
    the database, named after it: ``customers.sqlite`` keeps its keys in
    ``customers.keys.sqlite`` (``key_file_for()`` gives the name). :attr:`key_store` opens it
    on first use; a :class:`~custrec.registry.Registry` uses it for data keys, the erasure
    journal and the head of the audit chain. Pass a path to put it elsewhere, or
    ``key_file=False`` to keep the keys in this file (then any backup of it holds the keys).
    Both files are created with mode 0600, and so are their ``-wal`` and ``-shm`` files.

    **Erasure on disk.** ``secure_delete`` overwrites deleted rows in the database file; after a
    session that deleted a data key or erased a customer row commits, the store also checkpoints
    the write-ahead log and truncates it to zero bytes (``wal_checkpoint(TRUNCATE)``), so no
    earlier page holding the key survives in the ``-wal`` file. If another connection's reader
    holds an old snapshot, the truncation waits up to 2 seconds and is otherwise retried after
    every later commit and on :meth:`close` (:attr:`wal_truncation_pending` tells).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 30.0,
        synchronous: str = "NORMAL",
        cache_mib: int = 64,
        checkpoint_pages: int = 10_000,
        key_file: str | os.PathLike[str] | bool = True,
    ) -> None:
        raw = os.fspath(path)
        if raw == "":
            raise ValueError("path must not be empty (use ':memory:' for an in-memory database)")
        if not isinstance(key_file, bool):
            key_file = os.fspath(key_file)
            if key_file in ("", ":memory:") or os.path.abspath(key_file) == os.path.abspath(raw):
                raise ValueError("key_file must be a file path other than the database's")
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, int | float):
            raise TypeError("busy_timeout must be a number of seconds")
        if not math.isfinite(busy_timeout) or busy_timeout < 0:
            raise ValueError("busy_timeout must be a finite, non-negative number of seconds")
        if not isinstance(synchronous, str) or synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(sorted(_SYNCHRONOUS))}")
        for name, value in (("cache_mib", cache_mib), ("checkpoint_pages", checkpoint_pages)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer")
            if not 1 <= value <= _PRAGMA_MAX:
                raise ValueError(f"{name} must be between 1 and {_PRAGMA_MAX}")
        self._cache_mib = cache_mib
        self._checkpoint_pages = checkpoint_pages
        self._memory = raw == ":memory:"
        self._path = raw if self._memory else os.path.abspath(raw)
        self._busy_timeout = float(busy_timeout)
        self._synchronous = synchronous.upper()
        self._lock = threading.Lock()  # guards the pool fields below
        self._idle: list[sqlite3.Connection] = []
        self._opened: list[sqlite3.Connection] = []
        self._orphans: list[sqlite3.Connection] = []  # inherited over fork: never touched again
        self._pid = os.getpid()
        self._closed = False
        self._local = threading.local()
        self._memory_lock = threading.Lock()  # ":memory:" only: one session at a time
        self._shred_pending = False  # a WAL truncation after an erasure still to be done
        self._key_file: str | None
        if key_file is False:
            self._key_file = None
        elif key_file is True:
            self._key_file = raw if self._memory else key_file_for(self._path)
        else:
            self._key_file = os.path.abspath(key_file)
        self._key_store: SQLiteStore | None = None
        if not self._memory:
            _create_private(self._path)
        conn = self._connect()
        try:
            _migrate(conn, self._path)
        except sqlite3.Error as exc:
            conn.close()
            raise _translate(exc, f"opening {self._path}") from exc
        except BaseException:
            conn.close()
            raise
        self._opened.append(conn)
        self._idle.append(conn)

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<SQLiteStore {self._path!r}{state}>"

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def path(self) -> str:
        """The absolute path of the database file, or ``":memory:"``."""
        return self._path

    @property
    def capabilities(self) -> Capabilities:
        durable = not self._memory
        return Capabilities(multiprocess=durable, persistent=durable)

    @property
    def key_file(self) -> str | None:
        """The path of the key store's file (``":memory:"`` for an in-memory store), or
        ``None`` when the keys live in this file."""
        return self._key_file

    @property
    def key_store(self) -> SQLiteStore | None:
        """The store holding this database's data keys (opened, and created with mode 0600,
        on first use), or ``None`` when they live in this file (``key_file=False``)."""
        return self.open_key_store(create=True)

    def open_key_store(self, *, create: bool = True) -> SQLiteStore | None:
        """The key store (see :attr:`key_store`); with ``create=False`` a key file that does
        not exist is not made: ``NotFound`` is raised instead."""
        if self._key_file is None:
            return None
        with self._lock:
            if self._closed:
                raise StorageError("the store is closed")
            missing = not self._memory and not os.path.exists(self._key_file)
            if self._key_store is None and not create and missing:
                raise NotFound(f"key store {self._key_file}")
            if self._key_store is None:
                self._key_store = SQLiteStore(
                    self._key_file,
                    busy_timeout=self._busy_timeout,
                    synchronous=self._synchronous,
                    cache_mib=min(self._cache_mib, 8),
                    key_file=False,
                )
            return self._key_store

    @property
    def wal_truncation_pending(self) -> bool:
        """Whether a write-ahead-log truncation after an erasure is still to be done, in this
        file or its key store's (another connection held an old snapshot); it is retried after
        each commit and on close."""
        key_store = self._key_store
        return self._shred_pending or (key_store is not None and key_store._shred_pending)

    def _truncate_wal(self, conn: sqlite3.Connection, *, wait: bool) -> None:
        """Checkpoint the WAL into the database and truncate it to zero bytes.

        ``wait``: wait up to 2 seconds (at most ``busy_timeout``) for readers of older
        snapshots; otherwise try once. Never raises: a truncation that cannot be done now stays
        pending.
        """
        if self._memory:
            self._shred_pending = False
            return
        normal = round(self._busy_timeout * 1000)
        try:
            conn.execute(f"PRAGMA busy_timeout = {min(normal, 2000) if wait else 0}")
            try:
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                conn.execute(f"PRAGMA busy_timeout = {normal}")
        except sqlite3.Error:
            busy = 1
        self._shred_pending = bool(busy)

    # -- connections ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        where = f"opening {self._path}"
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout,
                isolation_level=None,  # autocommit: we issue BEGIN / COMMIT ourselves
                check_same_thread=False,  # pooled: used by one session (thread) at a time
            )
        except sqlite3.Error as exc:
            raise _translate(exc, where) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {round(self._busy_timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute(f"PRAGMA cache_size = {-1024 * self._cache_mib}")  # negative: KiB
            if not self._memory:
                conn.execute(f"PRAGMA wal_autocheckpoint = {self._checkpoint_pages}")
                mode = self._enable_wal(conn)
                if mode != "wal":
                    raise StorageError(f"{where}: cannot use WAL journal mode (got {mode!r})")
        except sqlite3.Error as exc:
            conn.close()
            raise _translate(exc, where) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> str:
        """Switch to WAL and return the journal mode now in force.

        Switching a new file can fail with "database is locked" at once, without consulting the
        busy handler, while another process switches it too; so retry until ``busy_timeout``.
        """
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.001
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _acquire(self) -> sqlite3.Connection:
        if self._memory:
            if not self._memory_lock.acquire(timeout=self._busy_timeout):
                raise StorageError(
                    "the in-memory store stayed busy for longer than busy_timeout; retry",
                    retry_safe=True,
                )
            if self._closed:
                self._memory_lock.release()
                raise StorageError("the store is closed")
            return self._opened[0]
        with self._lock:
            if self._closed:
                raise StorageError("the store is closed")
            if os.getpid() != self._pid:  # forked: the parent's connections are not ours
                self._orphans.extend(self._opened)
                self._opened, self._idle, self._pid = [], [], os.getpid()
            if self._idle:
                return self._idle.pop()
        conn = self._connect()
        with self._lock:
            if not self._is_closed():  # close() may have run while we were connecting
                self._opened.append(conn)
                return conn
        conn.close()
        raise StorageError("the store is closed")

    def _release(self, conn: sqlite3.Connection, *, reusable: bool) -> None:
        if self._memory:
            try:
                if self._closed:
                    self._close_quietly(conn)
            finally:
                self._memory_lock.release()
            return
        with self._lock:
            keep = reusable and not self._closed and len(self._idle) < _MAX_IDLE
            if conn not in self._opened:  # orphaned by a fork meanwhile
                return
            if keep:
                self._idle.append(conn)
                return
            self._opened.remove(conn)
        self._close_quietly(conn)

    def _is_closed(self) -> bool:
        return self._closed

    @staticmethod
    def _close_quietly(conn: sqlite3.Connection) -> None:
        with suppress(sqlite3.Error):
            conn.close()

    # -- protocol ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[_SQLiteSession]:
        """Open a unit of work: ``BEGIN IMMEDIATE`` for writers, a deferred ``BEGIN`` for readers.

        Raises ``StorageError`` if this thread already has a session of this store open, and
        ``StorageError(retry_safe=True)`` if the write lock is not free within ``busy_timeout``.
        """
        if getattr(self._local, "active", False):
            raise StorageError(
                "this thread already has a transaction open on this store; "
                "nested transactions are not supported"
            )
        conn = self._acquire()
        self._local.active = True
        reusable = True
        try:
            try:
                conn.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                reusable = not conn.in_transaction
                raise _translate(exc, "begin") from exc
            session = _SQLiteSession(self, conn, readonly=readonly)
            try:
                yield session
            except BaseException:
                reusable = session._finish(quiet=True)
                raise
            reusable = False
            reusable = session._finish(quiet=False)
        finally:
            self._local.active = False
            self._release(conn, reusable=reusable)

    def close(self) -> None:
        """Close every connection this store opened; idempotent. Later use raises ``StorageError``.

        Connections held by sessions still open elsewhere close when those sessions end; their
        further operations raise ``StorageError``.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            key_store, self._key_store = self._key_store, None
            if self._memory:
                idle = []
            else:
                idle, self._idle = self._idle, []
                for conn in idle:
                    self._opened.remove(conn)
        if self._shred_pending and idle:
            self._truncate_wal(idle[0], wait=True)
        for conn in idle:
            self._close_quietly(conn)
        if key_store is not None:
            key_store.close()
        if self._memory and self._memory_lock.acquire(blocking=False):
            try:
                self._close_quietly(self._opened[0])
            finally:
                self._memory_lock.release()


def key_file_for(path: str | os.PathLike[str]) -> str:
    """The default key-store file of the database at ``path``: ``customers.sqlite`` ->
    ``customers.keys.sqlite`` (``db`` -> ``db.keys``), in the same directory."""
    base, suffix = os.path.splitext(os.path.abspath(os.fspath(path)))
    return f"{base}.keys{suffix}"


def _create_private(path: str) -> None:
    """Create an empty database file with mode 0600 (SQLite gives its ``-wal`` and ``-shm``
    files the same mode); an existing file is left as it is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StorageError(f"cannot create {path}: {exc.strerror}") from None
    os.close(fd)


if TYPE_CHECKING:  # static conformance check: mypy verifies the structural match

    def _conforms(store: SQLiteStore, session: _SQLiteSession) -> tuple[Store, Session]:
        return store, session
