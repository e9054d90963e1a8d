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
database's locale is. The consent, history, audit and change-feed tables refuse ``UPDATE``,
``DELETE`` and ``TRUNCATE`` with a trigger.

Concurrency (see :class:`PostgresStore` for the details): each session holds one pooled
connection and one explicit transaction, ``READ COMMITTED`` for writers and a ``REPEATABLE READ
READ ONLY`` snapshot for readers. Correctness never depends on the isolation level:
compare-and-set updates check the row count of ``UPDATE ... WHERE id = %s AND version = %s``,
per-customer ledger numbers are taken under a transaction-scoped advisory lock per customer, the
global audit sequence under one advisory lock per schema, and index keys looked up or written in
a write session under an advisory lock per key, taken in one global order (so that "look up,
then add if absent" is as safe as under SQLite's single writer; see
:mod:`custrec.backends._postgres.keylocks`). The change feed takes no lock at all: it is
read up to the oldest transaction still running (see
:class:`custrec.backends._postgres.workflow._ChangeTable`), so a long-running writing
transaction holds it back until it ends.

The schema and its migrations are in :mod:`custrec.backends._postgres.schema`, the tables in
:mod:`custrec.backends._postgres.customers`, :mod:`custrec.backends._postgres.tables`,
:mod:`custrec.backends._postgres.workflow` and :mod:`custrec.backends._postgres.documents`; what
every SQL backend shares is in :mod:`custrec.backends._sql`.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, ClassVar, Final

try:
    import psycopg
    import psycopg.errors
    from psycopg import conninfo as pg_conninfo
    from psycopg.pq import TransactionStatus
    from psycopg.rows import TupleRow
    from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolClosed, PoolTimeout
except ImportError as _missing:  # pragma: no cover - exercised in a subprocess by the tests
    _why = f"{_missing.name} is missing" if _missing.name else str(_missing)
    raise ImportError(
        f"custrec.backends.postgres needs psycopg 3, psycopg-pool and libpq ({_why}): "
        "pip install custrec[postgres], and psycopg[binary] or psycopg[c] for libpq (or install "
        "libpq on the system)"
    ) from _missing

from custrec.backends._postgres import dialect as _dialect
from custrec.backends._postgres import ending as _ending
from custrec.backends._postgres import pipelines as _pipelines
from custrec.backends._postgres.arguments import check_schema as _check_schema
from custrec.backends._postgres.arguments import check_seconds as _check_seconds
from custrec.backends._postgres.arguments import check_size as _check_size
from custrec.backends._postgres.borrowed import Borrowed as _Borrowed
from custrec.backends._postgres.borrowed import borrow as _borrow
from custrec.backends._postgres.borrowed import foreign_dumpers as _foreign_dumpers
from custrec.backends._postgres.borrowed import restore as _restore
from custrec.backends._postgres.borrowed import server_name as _server_name
from custrec.backends._postgres.customers import _CustomerTable
from custrec.backends._postgres.dialect import client_data_error, describe_connect, translate
from custrec.backends._postgres.documents import _DocumentTable
from custrec.backends._postgres.keylocks import KeyLocks
from custrec.backends._postgres.migrator import PostgresMigrator as _PostgresMigrator
from custrec.backends._postgres.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    PostgresMigration,
    lock_key,
    quote_ident,
)
from custrec.backends._postgres.tables import _SUMMARIES as _SUMMARIES  # for the tests
from custrec.backends._postgres.tables import (
    _ActivityTable,
    _AuditTable,
    _ConsentTable,
    _HistoryTable,
    _KeyTable,
    _MetaTable,
)
from custrec.backends._postgres.workflow import _ChangeTable, _WorkTable
from custrec.backends._sql.session import ACTIVE, SQLSession, enter_once, reads, writes
from custrec.errors import StorageError
from custrec.storage import Capabilities, Session, Store, WrappedKey
from custrec.storage.closing import run_close_hooks

__all__ = ["DEFAULT_SCHEMA", "MIGRATIONS", "SCHEMA_VERSION", "PostgresMigration", "PostgresStore"]

_Conn = psycopg.Connection[TupleRow]
_Cursor = psycopg.Cursor[TupleRow]
_Params = Sequence[Any] | Mapping[str, Any] | None

DEFAULT_SCHEMA: Final = "custrec"
"""The schema used when none is given."""

_SAVEPOINT: Final = b"SAVEPOINT custrec_op"
_RELEASE: Final = b"RELEASE SAVEPOINT custrec_op"
_ROLLBACK_TO: Final = b"ROLLBACK TO SAVEPOINT custrec_op"
_NESTED: Final = 16
"""How many savepoints of finished write methods a transaction keeps before it releases one
per write method (releasing costs a statement; the transaction ends them all anyway)."""

# Names kept for callers and tests of this module.
_translate, _reads, _writes = translate, reads, writes


def _migrate(conn: _Conn, schema: str, where: str) -> None:
    """Bring ``schema`` up to date on ``conn`` (autocommit); ``MIGRATIONS`` is read at call
    time, so tests can swap it."""
    _PostgresMigrator(conn, schema, where).run(MIGRATIONS)


# ---------------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------------


class _PostgresSession(SQLSession[_Conn]):
    """One PostgreSQL transaction on one pooled connection; see :class:`custrec.storage.Session`.

    A write method's savepoint is sent together with its first statement, so that it costs no
    round trip, and is not released: the next write method's savepoint nests in it, and
    ``COMMIT`` ends them all (see :meth:`_close_operation`). A
    write method that runs before anything else was sent in the transaction needs no savepoint:
    if it fails, the transaction is rolled back and begun again, which leaves the session as
    it was just as well (the audit queue's one ``INSERT`` after a read costs one statement).

    On the store's own pool the ``BEGIN`` itself waits for the first statement and goes with it
    (``lazy``): a transaction costs no round trip of its own, one that sent nothing sends nothing
    to commit or roll back, and a connection found dead on the first statement (nothing has
    happened yet) is replaced, as when a transaction begins.
    """

    _label = "PostgresSession"
    _driver_errors: ClassVar[tuple[type[Exception], ...]] = (psycopg.Error,)

    def __init__(
        self,
        store: PostgresStore,
        conn: _Conn,
        *,
        readonly: bool,
        begin: bytes = b"",
        alone: bool = False,
        lazy: bool = False,
    ) -> None:
        super().__init__(store, conn, readonly=readonly)
        self._store: PostgresStore = store
        self._conn_returned = False  # the connection went back to the pool (see _reconnect)
        self._stale_conn: _Conn | None = None  # its prepared statements are lost: see _stale
        self._begin = begin  # the statement that opened the transaction
        self._unbegun = lazy  # ... is still to be sent, with the first statement
        # PostgresStore.statements(): no transaction, each statement commits on its own
        self._alone = alone
        self._sent = False  # ... and a statement has been sent (a dead connection is replaced
        # before the first only)
        self._fresh = bool(begin)  # nothing has been sent since it
        self._in_operation = False  # a write method is running
        self._bare = False  # ... as the transaction's first work, without a savepoint
        self._savepoint_sent = False  # ... and its savepoint has been established
        self._kept = 0  # savepoints of earlier write methods, not released (nested)
        self._cursors = itertools.count(1)
        # data keys read with their customers, for the next keys.get before a write
        self._read_keys: dict[str, WrappedKey] = {}
        self._key_locks = KeyLocks(store._index_lock_prefix, store._index_lock_key)
        self._key_locks_before = self._key_locks.save()  # ... when the write method began

    def _tables(
        self,
    ) -> tuple[
        _CustomerTable,
        _ActivityTable,
        _ConsentTable,
        _HistoryTable,
        _AuditTable,
        _KeyTable,
        _MetaTable,
    ]:
        return (
            _CustomerTable(self),
            _ActivityTable(self),
            _ConsentTable(self),
            _HistoryTable(self),
            _AuditTable(self),
            _KeyTable(self),
            _MetaTable(self),
        )

    def _workflow_tables(self) -> tuple[_WorkTable, _ChangeTable]:
        return _WorkTable(self), _ChangeTable(self)

    def _document_table(self) -> _DocumentTable:
        return _DocumentTable(self)

    def _end(self, statement: str) -> None:
        if (self._alone or self._unbegun) and (
            self._conn.pgconn.transaction_status == TransactionStatus.IDLE
        ):
            return  # every statement committed on its own, or nothing was sent
        self._conn.execute(statement.encode())

    def _open(self) -> bool:
        return self._conn.pgconn.transaction_status != TransactionStatus.IDLE

    def _healthy(self) -> bool:
        status = self._conn.pgconn.transaction_status
        if (self._alone or self._unbegun) and status == TransactionStatus.IDLE:
            return self._alive()
        return status == TransactionStatus.INTRANS

    def _alive(self) -> bool:
        return not (self._conn.broken or self._conn.closed)

    def _error(self, exc: Exception, context: str, *, committing: bool = False) -> Exception:
        assert isinstance(exc, psycopg.Error)
        if exc.sqlstate == _pipelines.LOST_STATEMENT:  # whatever lost it, the cache is wrong
            _pipelines.forget_prepared(self._conn)
            self._stale(self._conn)
        if client_data_error(exc):
            return ValueError(f"{context}: a value cannot be stored: {exc}")
        return translate(exc, context, conn=self._conn, committing=committing)

    def _execute(self, statements: Sequence[tuple[bytes, _Params]]) -> list[_Cursor]:
        """Execute statements in order, preceded by pending savepoint work, in one round trip."""
        if self._alone:
            return self._execute_alone(statements)
        control: list[bytes] = []
        self._fresh = False
        if self._in_operation and not self._savepoint_sent and not self._bare:
            if self._kept >= _NESTED:
                control.append(_RELEASE)  # the innermost: an earlier method's
                self._kept -= 1
            control.append(_SAVEPOINT)
            # From here on the savepoint may exist: a failure rolls back to it (or, if it does
            # not exist after all, marks the session failed).
            self._savepoint_sent = True
        if self._unbegun:
            return self._execute_first(statements, control)
        conn = self._conn
        if not control and len(statements) == 1:
            return [conn.execute(statements[0][0], statements[0][1])]
        batch = [(sql, None) for sql in control]
        return self._pipelined(conn, [*batch, *statements])[len(batch) :]

    def _execute_first(
        self, statements: Sequence[tuple[bytes, _Params]], control: Sequence[bytes] = ()
    ) -> list[_Cursor]:
        """The transaction's first statements, after its ``BEGIN``, in one round trip; a
        connection found dead (nothing has happened yet) is replaced."""
        for _ in range(self._store._max_size + 1):
            conn = self._conn
            batch = [(self._begin, None), *((sql, None) for sql in control)]
            try:
                cursors = self._pipelined(conn, [*batch, *statements])[len(batch) :]
            except psycopg.Error:
                if not (conn.broken or conn.closed):
                    self._unbegun = False
                    raise
                self._reconnect(conn)
                continue
            self._unbegun = False
            return cursors
        raise StorageError("no live PostgreSQL connection", retry_safe=True)

    def _pipelined(self, conn: _Conn, statements: Sequence[tuple[bytes, _Params]]) -> list[_Cursor]:
        """Every pipelined batch goes through here (see :mod:`.pipelines`)."""
        return _pipelines.run(conn, statements, self._stale)

    def _stale(self, conn: _Conn) -> None:
        """``conn`` lost prepared statements psycopg counts on: the session ends by closing it
        (the pool opens another); until then it runs unprepared."""
        self._stale_conn = conn

    def _finish(self, *, quiet: bool) -> bool:
        """As :meth:`SQLSession._finish`; a stale connection (see :meth:`_stale`) is closed."""
        try:
            return super()._finish(quiet=quiet)
        finally:
            if self._stale_conn is self._conn and not self._conn.closed:
                self._conn.close()

    def _reconnect(self, dead: _Conn) -> _Conn:
        """Give a dead connection back and take another (returned). While none is taken (the
        pool may time out) the session holds nothing, so its end does not give it back twice."""
        self._conn_returned = True
        self._conn = self._store._replace(dead)
        self._conn_returned = False
        return self._conn

    def _send_begin(self) -> None:
        """Send a lazy ``BEGIN`` now (for what is sent without :meth:`_execute`)."""
        if self._unbegun:
            self._execute_first([])

    def _execute_alone(self, statements: Sequence[tuple[bytes, _Params]]) -> list[_Cursor]:
        """Statements without a transaction (:meth:`PostgresStore.statements`): a write session
        sends one statement, which commits on its own (``write_alone``); a read's connection
        found dead on the first (nothing has happened yet) is replaced."""
        if not self._readonly and (self._sent or len(statements) != 1):
            raise StorageError(
                "a write session of PostgresStore.statements() sends one statement; use "
                "transaction() for more"
            )
        first, self._sent = not self._sent, True
        if not self._readonly:  # it commits on its own: never sent twice
            return _dialect.write_alone(self._conn, statements[0], first, self._reconnect)
        for _ in range(self._store._max_size + 1):
            conn = self._conn
            try:
                if len(statements) == 1:
                    return [conn.execute(statements[0][0], statements[0][1])]
                return self._pipelined(conn, statements)
            except psycopg.Error:
                if not (first and (conn.broken or conn.closed)):
                    raise
                self._reconnect(conn)
        raise StorageError("no live PostgreSQL connection", retry_safe=True)

    def then_one_write(self) -> bool:
        """A read session of :meth:`PostgresStore.statements` that has no snapshot open may
        send one statement that writes (it commits on its own), on the connection it holds:
        a read's audit entry. Return whether this session may (else it stays read-only)."""
        if not (self._alone and self._readonly and self._state == ACTIVE and self._alive()):
            return False
        if self._conn.pgconn.transaction_status != TransactionStatus.IDLE:
            return False  # a streaming read's snapshot is open
        self._readonly = self._sent = False
        return True

    def commit_with(self, events: Sequence[Any], entries: Sequence[Any]) -> list[int] | None:
        """Append ``events``, queue ``entries`` and commit, in one round trip (see
        :func:`custrec.backends._postgres.ending.commit_with`)."""
        return _ending.commit_with(self, events, entries)

    def _write_starts(self) -> None:
        self._read_keys.clear()  # a write may change a data key read with its customer

    def _open_operation(self) -> None:
        self._write_starts()
        self._key_locks_before = self._key_locks.save()
        if self._alone:  # one statement, undone by the server when it fails
            self._bare = self._savepoint_sent = self._in_operation = False
            return
        self._in_operation = True
        self._bare = self._fresh
        self._savepoint_sent = False

    def _close_operation(self) -> None:
        """A write method succeeded: its savepoint stays, nested, until the transaction ends
        (``ROLLBACK TO`` a name finds the newest savepoint of that name, the next method's);
        from :data:`_NESTED` kept savepoints on, the next write releases one first."""
        if self._savepoint_sent:
            self._kept += 1
        self._in_operation = False
        self._bare = False
        self._savepoint_sent = False

    def _undo_operation(self) -> None:
        self._in_operation = False
        if self._alone:
            self._key_locks.restore(self._key_locks_before)
            return
        if self._bare:  # start the transaction again (cheaper than a savepoint per write)
            self._bare = False
            self._restart()
            return
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
        self._key_locks.restore(self._key_locks_before)
        self._kept += 1  # ROLLBACK TO keeps the savepoint

    def _raw(self) -> _Conn:
        """The connection, for a statement sent without :meth:`_execute` (``COPY``)."""
        self._fresh = False
        if self._alone:
            self._snapshot()
        self._send_begin()
        return self._conn

    def _snapshot(self) -> None:
        """Without a transaction (:meth:`PostgresStore.statements`), what needs one (a server
        cursor, ``COPY``) opens a read-only snapshot first: the rest of the session reads in it."""
        if not self._readonly:
            raise StorageError(
                "a write session of PostgresStore.statements() sends one statement; use "
                "transaction() for more"
            )
        self._sent = True
        if self._conn.pgconn.transaction_status == TransactionStatus.IDLE:
            self._conn.execute(self._store._begin_statement(True))

    def _restart(self) -> None:
        """Roll the transaction back and begin it again (the first write method failed)."""
        conn = self._conn
        self._key_locks.clear()
        self._kept = 0
        if conn.broken or conn.closed:
            self._state = "failed"
            return
        try:
            if conn.pgconn.transaction_status != TransactionStatus.IDLE:
                conn.execute(b"ROLLBACK")
            if self._store._owns_pool:
                self._unbegun = True  # sent with the next statement
            else:
                conn.execute(self._begin)
        except psycopg.Error:
            self._state = "failed"
            return
        self._fresh = True

    def _audit_lock_statement(self) -> tuple[str, Sequence[Any]]:
        return "SELECT pg_advisory_xact_lock(%s)", (self._store._audit_key,)

    @contextmanager
    def _server_cursor(self) -> Iterator[psycopg.ServerCursor[TupleRow]]:
        self._fresh = False
        if self._alone:
            self._snapshot()
        self._send_begin()
        cursor = self._conn.cursor(name=f"custrec_cursor_{next(self._cursors)}")
        try:
            yield cursor
        finally:
            if not (self._conn.broken or self._conn.closed):
                with suppress(psycopg.Error):
                    cursor.close()


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------


class PostgresStore:
    """A :class:`~custrec.storage.Store` on PostgreSQL (psycopg 3 and psycopg-pool).

    ``dsn`` is a libpq connection string or URI (``"postgresql://user@host/db"``); it is never
    repeated in messages or ``repr()`` (it may hold a password). Opening connects once, creates
    ``schema`` (default ``"custrec"``, a plain lower-case identifier) if needed and brings it up
    to date; a schema written by a newer custrec, or one holding foreign tables, is refused with
    ``StorageError``, and so is a server that cannot be reached. To take connections from a pool
    the application already has instead of opening one, use :meth:`from_pool`.

    Threads and processes: sessions take connections from a ``psycopg_pool.ConnectionPool`` of
    ``min_size`` to ``max_size`` connections; a session holds its connection until it ends, so
    at most ``max_size`` sessions of one store run at once and the next waits up to ``timeout``
    seconds, then fails with ``StorageError(retry_safe=True)``. A session must not be shared
    between threads, and one thread may hold one session of a store at a time (nesting raises
    ``StorageError``). Every process opens its own store (a store used after ``fork`` starts a
    fresh pool in the child and never touches the parent's connections); any number of
    processes and machines may share one database.

    Isolation: write sessions are ``READ COMMITTED`` transactions, read-only sessions
    ``REPEATABLE READ READ ONLY`` snapshots (:meth:`statements`: no transaction at all).
    Writers never rely on the isolation level:
    compare-and-set updates check row counts; per-customer consent and history numbers are
    assigned under a transaction-scoped advisory lock per customer; the global audit sequence
    under one advisory lock per schema, taken by ``audit.append`` and, in write sessions, by
    ``audit.last`` (so that reading the last entry and appending after it is atomic). A
    deadlock or serialisation failure raises ``StorageError(retry_safe=True)``; so does a
    connection lost before ``COMMIT``, while one lost during ``COMMIT`` is not retry-safe (the
    outcome is unknown).

    Change feed: writers append events without any lock, and ``changes.since`` returns only
    events of transactions older than the oldest transaction still running, ordered by
    transaction id, so that no event committed late is ever skipped. So a transaction that has
    written anything holds the feed back from its first write until it ends, whatever it
    wrote and in whichever database of the server (a forgotten prepared transaction too):
    events committed meanwhile reach readers only then. Keep writing transactions short.
    Events of one transaction come together; transactions that overlapped come in the order of
    their first writes, not necessarily of their commits.
    """

    _pool: ConnectionPool[_Conn]

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
        schema = _check_schema(DEFAULT_SCHEMA if schema is None else schema)
        self._min_size = _check_size("min_size", min_size, 0)
        self._max_size = _check_size("max_size", max_size, 1)
        if self._max_size < self._min_size:
            raise ValueError("max_size must be at least min_size")
        self._init_state(schema, _check_seconds("timeout", timeout), owns_pool=True)
        connect_seconds = _check_seconds("connect_timeout", connect_timeout)
        if not isinstance(application_name, str):
            raise TypeError("application_name must be a string")
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
        self._open_and_migrate()
        self._pool = self._new_pool()

    @classmethod
    def from_pool(
        cls,
        pool: ConnectionPool[Any],
        *,
        schema: str | None = None,
        timeout: float | None = None,
    ) -> PostgresStore:
        """A store whose sessions borrow connections from the application's own ``pool``.

        ``pool`` is an open, synchronous ``psycopg_pool.ConnectionPool`` (or
        ``NullConnectionPool``) of any settings: for each session custrec takes a connection,
        switches it to autocommit with tuple rows and cursors that read with psycopg's own
        loaders, opens its own ``BEGIN ISOLATION LEVEL ...`` transaction with
        ``SET LOCAL TIME ZONE 'UTC'``, and at the end puts the connection's settings back
        before returning it, idle, to the pool.
        Opening borrows one connection to create or migrate ``schema``, as the constructor
        does. ``timeout`` bounds the wait for a connection and for the audit log's lock
        (default: the pool's ``timeout``).

        The pool stays the application's: :meth:`close` leaves it open, and the application
        closes it after the store. A store on a borrowed pool cannot follow a ``fork()`` (the
        pool is the parent's): open one in each process. Raises ``TypeError`` for anything but
        a ``ConnectionPool`` (an ``AsyncConnectionPool`` included), and ``StorageError`` for a
        closed pool, one whose connection is not usable (not a ``psycopg.Connection``, inside a
        transaction, not using the ``UTF8`` client encoding, or sending ``str``, ``bytes``,
        numbers or datetimes through dumpers of its own), an unreachable server or a schema
        that cannot be opened.
        """
        if isinstance(pool, AsyncConnectionPool):
            raise TypeError(
                "custrec's PostgresStore is synchronous: pass a psycopg_pool.ConnectionPool, "
                "not an AsyncConnectionPool"
            )
        if not isinstance(pool, ConnectionPool):
            raise TypeError(
                "pool must be a psycopg_pool.ConnectionPool (an ORM's own pool cannot be shared)"
            )
        schema = _check_schema(DEFAULT_SCHEMA if schema is None else schema)
        seconds = _check_seconds("timeout", pool.timeout if timeout is None else timeout)
        store = cls.__new__(cls)
        store._init_state(schema, seconds, owns_pool=False)
        store._min_size, store._max_size = pool.min_size, pool.max_size
        store._where = f"the application's pool {pool.name!r}"
        store._connect_args, store._dsn = {}, ""
        store._pool = pool
        store._adopt(pool)
        return store

    def _init_state(self, schema: str, timeout: float, *, owns_pool: bool) -> None:
        self._schema = schema
        self._quoted_schema = quote_ident(schema)
        self._timeout = timeout
        self._owns_pool = owns_pool
        self._audit_key = lock_key("custrec", schema, "audit")
        self._index_lock_prefix = "\x00".join(("custrec", schema, "index", "")).encode()
        self._index_lock_key = lock_key("custrec", schema, "index-keys")
        self._ledger_prefix = ("custrec", schema)
        self._sql: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._closed = False
        self._pid = os.getpid()
        self._orphans: list[ConnectionPool[_Conn]] = []  # inherited over fork: never touched

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
    def owns_pool(self) -> bool:
        """Whether :meth:`close` closes the connection pool: ``False`` for :meth:`from_pool`."""
        return self._owns_pool

    @property
    def capabilities(self) -> Capabilities:
        """Shared by processes and machines, and persistent."""
        return Capabilities(
            multiprocess=True, persistent=True, concurrent_reads=True, concurrent_writes=True
        )

    # -- connections ------------------------------------------------------------------------

    def _open_and_migrate(self) -> None:
        where = f"opening PostgreSQL at {self._where}"
        try:
            conn = psycopg.connect(self._dsn, **self._connect_args)
        except psycopg.Error as exc:
            raise StorageError(f"{where}: cannot connect: {describe_connect(exc)}") from exc
        try:
            _migrate(conn, self._schema, where)
        except psycopg.Error as exc:
            raise _translate(exc, where, conn=conn) from exc
        finally:
            conn.close()

    def _adopt(self, pool: ConnectionPool[_Conn]) -> None:
        """Check a connection of the application's pool and migrate the schema on it."""
        where = f"opening PostgreSQL on {self._where}"
        try:
            conn = pool.getconn(timeout=self._timeout)
        except PoolClosed as exc:
            raise StorageError(f"{where}: the pool is closed; open it first") from exc
        except PoolTimeout as exc:
            raise StorageError(
                f"{where}: no connection became available within {self._timeout:g} s",
                retry_safe=True,
            ) from exc
        try:
            if not isinstance(conn, psycopg.Connection):
                raise StorageError(f"{where}: the pool's connections are not psycopg.Connection")
            if conn.broken or conn.closed:
                raise StorageError(f"{where}: the pool handed out a closed connection")
            self._where = _server_name(conn)
            where = f"opening PostgreSQL at {self._where} on the application's pool"
            if conn.pgconn.transaction_status != TransactionStatus.IDLE:
                raise StorageError(f"{where}: the pool handed out a connection in a transaction")
            encoding = conn.info.parameter_status("client_encoding")
            if encoding != "UTF8":
                raise StorageError(
                    f"{where}: the pool's connections use the client encoding {encoding!r}; "
                    "custrec needs UTF8"
                )
            foreign = _foreign_dumpers(conn)
            if foreign:
                raise StorageError(
                    f"{where}: the pool's connections adapt {', '.join(sorted(set(foreign)))} "
                    "with dumpers of their own; custrec needs psycopg's"
                )
            saved = _borrow(conn)
            try:
                _migrate(conn, self._schema, where)
            except psycopg.Error as exc:
                raise _translate(exc, where, conn=conn) from exc
            finally:
                if conn.pgconn.transaction_status != TransactionStatus.IDLE:
                    with suppress(psycopg.Error):
                        conn.execute(b"ROLLBACK")
                _restore(conn, saved)
        finally:
            with suppress(psycopg.Error, PoolClosed):
                pool.putconn(conn)

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
        return lock_key(*self._ledger_prefix, table, customer_id)

    def _current_pool(self) -> ConnectionPool[_Conn]:
        with self._lock:
            if self._closed:
                raise StorageError("the store is closed")
            if os.getpid() != self._pid:  # forked: the parent's connections are not ours
                if not self._owns_pool:
                    raise StorageError(
                        "this store borrows a pool of the process it was opened in; after "
                        "fork() open another one over this process's pool (from_pool)"
                    )
                self._orphans.append(self._pool)
                self._pool = self._new_pool()
                self._pid = os.getpid()
            return self._pool

    def _begin_statement(self, readonly: bool) -> bytes:
        """What opens a session's transaction."""
        statement = (
            b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            if readonly
            else b"BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
        )
        if not self._owns_pool:  # the application's connections keep their own time zone
            statement += b"; SET LOCAL TIME ZONE 'UTC'"
        return statement

    def _begin(self, readonly: bool) -> tuple[ConnectionPool[_Conn], _Conn, _Borrowed | None]:
        """Take a pooled connection and open a transaction on it.

        A connection that turns out to be dead (the server restarted, an idle connection was
        cut) is discarded and another one tried: nothing has happened yet, so that is safe. A
        borrowed connection gets custrec's settings first (see :meth:`from_pool`).
        """
        statement = self._begin_statement(readonly)
        last_error: psycopg.Error | None = None
        for _ in range(self._max_size + 1):
            pool, conn = self._take()
            saved = None
            try:
                if not self._owns_pool:
                    saved = _borrow(conn)
                conn.execute(statement)
            except psycopg.Error as exc:
                dead = conn.broken or conn.closed
                self._give_back(pool, conn, saved)
                if not dead:
                    raise _translate(exc, "begin", conn=conn) from exc
                last_error = exc
                continue
            return pool, conn, saved
        assert last_error is not None
        raise _translate(last_error, "begin") from last_error

    def _take(self) -> tuple[ConnectionPool[_Conn], _Conn]:
        """A pooled connection (nothing sent on it yet)."""
        pool = self._current_pool()
        try:
            return pool, pool.getconn(timeout=self._timeout)
        except PoolTimeout as exc:
            raise StorageError(
                f"no PostgreSQL connection became available within {self._timeout:g} s "
                f"(max_size={self._max_size}, server {self._where}); retry later",
                retry_safe=True,
            ) from exc
        except PoolClosed as exc:
            if self._owns_pool:
                raise StorageError("the store is closed") from exc
            raise StorageError(f"the application's pool is closed ({self._where})") from exc

    def _replace(self, dead: _Conn) -> _Conn:
        """Give a dead connection back (the pool discards it) and take another."""
        self._give_back(self._current_pool(), dead)
        return self._take()[1]

    def _give_back(
        self, pool: ConnectionPool[_Conn], conn: _Conn, saved: _Borrowed | None = None
    ) -> None:
        """Return a connection; the pool discards broken ones and rolls back stray transactions."""
        if pool in self._orphans:  # pragma: no cover - a fork happened during the session
            return
        if not (conn.broken or conn.closed):
            with suppress(psycopg.Error):
                if conn.pgconn.transaction_status != TransactionStatus.IDLE:
                    conn.execute(b"ROLLBACK")
            if conn.pgconn.transaction_status != TransactionStatus.IDLE:
                conn.close()
        if saved is not None:
            _restore(conn, saved)
        with suppress(psycopg.Error, PoolClosed):
            pool.putconn(conn)

    # -- protocol ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[_PostgresSession]:
        """Open a unit of work on a pooled connection (see :class:`PostgresStore`).

        Raises ``StorageError`` if this thread already has a session of this store open, and
        ``StorageError(retry_safe=True)`` if no connection is free within ``timeout``.
        """
        enter_once(self._local)
        try:
            lazy = self._owns_pool  # BEGIN goes with the first statement
            if lazy:
                (pool, conn), saved = self._take(), None
            else:
                pool, conn, saved = self._begin(readonly)
            session = _PostgresSession(
                self, conn, readonly=readonly, begin=self._begin_statement(readonly), lazy=lazy
            )
            try:
                try:
                    yield session
                except BaseException:
                    session._finish(quiet=True)
                    raise
                session._finish(quiet=False)
            finally:
                if not session._conn_returned:
                    self._give_back(pool, session._conn, saved)
        finally:
            self._local.active = False

    @contextmanager
    def statements(self, *, readonly: bool = True) -> Iterator[Session]:
        """A session without a transaction, for work of a single statement (fewer round trips
        and server work than ``BEGIN``, the statement, ``COMMIT``).

        Each statement reads its own snapshot, or commits (durably) on its own when it returns:
        a read session whose statements need one snapshot, and any work of more than one
        write, belong in :meth:`transaction`. A write session sends one statement (a second
        raises ``StorageError``); ``commit()`` and ``rollback()`` change nothing. A server-side
        cursor (a streaming read) opens a read-only snapshot for the rest of the session. On
        the application's pool (:meth:`from_pool`) this is :meth:`transaction` (its
        connections keep their own time zone outside custrec's transactions).
        """
        if not self._owns_pool:
            with self.transaction(readonly=readonly) as session:
                yield session
            return
        enter_once(self._local)
        try:
            pool, conn = self._take()
            session = _PostgresSession(self, conn, readonly=readonly, alone=True)
            try:
                try:
                    yield session
                except BaseException:
                    session._finish(quiet=True)
                    raise
                session._finish(quiet=False)
            finally:
                if not session._conn_returned:
                    self._give_back(pool, session._conn)
        finally:
            self._local.active = False

    def close(self) -> None:
        """Close the pool, unless it is the application's (:meth:`from_pool`); idempotent.
        Later use raises ``StorageError``.

        Connections held by sessions still open elsewhere close when those sessions end (or,
        borrowed, go back to the application's pool); their further operations raise
        ``StorageError``.
        """
        run_close_hooks(self)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pool = self._pool
        if self._owns_pool and os.getpid() == self._pid:
            with suppress(psycopg.Error):
                pool.close(timeout=5.0)


if TYPE_CHECKING:  # static conformance check: mypy verifies the structural match

    def _conforms(store: PostgresStore, session: _PostgresSession) -> tuple[Store, Session]:
        return store, session
