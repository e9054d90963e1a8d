"""SQLite storage backend (stdlib :mod:`sqlite3`): the embedded default.

>>> store = SQLiteStore(":memory:")
>>> store.capabilities.persistent
False
>>> store.close()

The schema and its migrations are in :mod:`custrec.backends._sqlite.schema`, the tables in
:mod:`custrec.backends._sqlite.tables`, :mod:`custrec.backends._sqlite.workflow` and
:mod:`custrec.backends._sqlite.documents`; what every SQL backend shares is in
:mod:`custrec.backends._sql`.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar, Final, TypeVar

from custrec.backends._sql.migrations import Migrator
from custrec.backends._sql.session import SQLSession, enter_once, operation
from custrec.backends._sqlite.backup import DatabaseCopy, copy_database
from custrec.backends._sqlite.dialect import is_busy, translate
from custrec.backends._sqlite.documents import _DocumentTable
from custrec.backends._sqlite.gate import WriterGate
from custrec.backends._sqlite.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    SQLiteMigration,
    pack_index_key,
    unpack_index_key,
)
from custrec.backends._sqlite.tables import (
    _ActivityTable,
    _AuditTable,
    _ConsentTable,
    _CustomerTable,
    _HistoryTable,
    _KeyTable,
    _MetaTable,
)
from custrec.backends._sqlite.workflow import _ChangeTable, _WorkTable
from custrec.errors import BackupError, NotFound, StorageError
from custrec.storage import Capabilities, Session, Store
from custrec.storage.closing import run_close_hooks

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "DatabaseCopy",
    "SQLiteMigration",
    "SQLiteStore",
    "key_file_for",
]

_MAX_IDLE: Final = 16  # idle connections kept in the pool
_SYNCHRONOUS: Final = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_PRAGMA_MAX: Final = 1 << 20  # cache_mib and checkpoint_pages: 1 TiB / 4 GiB is plenty

# Names kept for callers and tests of this module.
_translate = translate
_pack_index_key = pack_index_key
_unpack_index_key = unpack_index_key
_writes = operation(write=True)
_T = TypeVar("_T")


# ---------------------------------------------------------------------------------------------
# Migrations
# ---------------------------------------------------------------------------------------------


class _SQLiteMigrator(Migrator[SQLiteMigration]):
    """Concurrent openers serialise on ``BEGIN IMMEDIATE``."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        super().__init__(path, "custrec.backends.sqlite.MIGRATIONS")
        self._conn = conn

    def current(self) -> int | None:
        conn = self._conn
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if has_table is None:
            others = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).fetchone()[0]
            if others:
                raise StorageError(
                    f"{self.where} is an SQLite database but not a custrec one "
                    "(no schema_version table)"
                )
            return None
        found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")
        return int(found.fetchone()[0])

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` transaction with foreign-key enforcement off, as SQLite's
        procedure for rebuilding a table asks (dropping an old parent table must not cascade);
        every foreign key is checked before the commit."""
        conn = self._conn
        conn.execute("PRAGMA foreign_keys = OFF")  # only outside a transaction does it apply
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise StorageError(f"{self.where}: a migration step broke a foreign key")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.execute("PRAGMA foreign_keys = ON")

    def create_version_table(self) -> None:
        self._conn.execute(
            "CREATE TABLE schema_version ("
            "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )

    def apply(self, migration: SQLiteMigration) -> None:
        migration.apply(self._conn)
        self._conn.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
            (
                migration.version,
                migration.description,
                datetime.now(UTC).isoformat(timespec="microseconds"),
            ),
        )

    def newer_message(self, current: int, latest: int) -> str:
        return (
            f"{self.where} has schema version {current}, newer than this custrec knows "
            f"({latest}); upgrade custrec to open it"
        )


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the schema up to date (``MIGRATIONS`` is read at call time, so tests can swap it)."""
    _SQLiteMigrator(conn, path).run(MIGRATIONS)


# ---------------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------------


class _SQLiteSession(SQLSession[sqlite3.Connection]):
    """One SQLite transaction on one connection; see :class:`custrec.storage.Session`."""

    _label = "SQLiteSession"
    _aborted = "the transaction was aborted by SQLite; start again"
    _driver_errors: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)
    _atomic_statements = True  # SQLite undoes a failed statement by itself

    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection, *, readonly: bool) -> None:
        super().__init__(store, conn, readonly=readonly)
        self._sqlite_store = store
        self._shred = False  # deleted a data key or erased a row: truncate the WAL on commit

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
        self._conn.execute(statement)

    def _open(self) -> bool:
        return self._conn.in_transaction

    def _healthy(self) -> bool:
        return self._conn.in_transaction  # SQLite may roll back on its own (disk full, I/O error)

    def _error(self, exc: Exception, context: str, *, committing: bool = False) -> Exception:
        assert isinstance(exc, sqlite3.Error)
        return translate(exc, context)

    def _open_operation(self) -> None:
        self._conn.execute("SAVEPOINT custrec_op")

    def _close_operation(self) -> None:
        self._conn.execute("RELEASE custrec_op")

    def _undo_operation(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK TO custrec_op")
                self._conn.execute("RELEASE custrec_op")
        except sqlite3.Error:
            self._state = "failed"

    def _committed(self) -> None:
        store = self._sqlite_store
        if self._shred or store._shred_pending:
            store._truncate_wal(self._conn, wait=self._shred)


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

    Threads and processes: each session takes a connection from a small pool (opened lazily; a
    connection serves one session at a time, so no two threads share one). Write sessions begin with
    ``BEGIN IMMEDIATE``: writers queue for SQLite's single write lock for up to ``busy_timeout`` and
    then fail with ``StorageError(retry_safe=True)``; readers never block and see a snapshot.
    Writers of a file take turns through a gate before that (a thread lock and an exclusive
    ``flock`` on ``<database>-writers.lock``, mode 0600, waited for in the kernel), so that none is
    left sleeping in SQLite's busy handler, whose retries back off to 100 ms, while later arrivals
    take the lock. Any number of processes on one machine may open the same file (not over a network
    file system). A session must not be shared between threads, and one thread may hold one session
    of a store at a time: nesting raises ``StorageError``.

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
        # writers of a file take turns through its gate (see custrec.backends._sqlite.gate)
        self._gate = None if self._memory else WriterGate(self._path)
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
        return Capabilities(multiprocess=durable, persistent=durable, concurrent_reads=durable)

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
                if not is_busy(exc) or time.monotonic() >= deadline:
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
        enter_once(self._local)
        gate = None if readonly else self._gate
        if gate is not None and not gate.acquire(self._busy_timeout):
            self._local.active = False
            raise StorageError(
                f"the database stayed busy for longer than busy_timeout "
                f"({self._busy_timeout:g} s): other writers held it; retry",
                retry_safe=True,
            )
        try:
            conn = self._acquire()
        except BaseException:
            self._local.active = False
            if gate is not None:
                gate.release()
            raise
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
            try:
                self._release(conn, reusable=reusable)
            finally:
                if gate is not None:
                    gate.release()

    def copy_to(
        self,
        target: str | os.PathLike[str],
        *,
        inspect: Callable[[Session], _T],
        overwrite: bool = False,
    ) -> tuple[DatabaseCopy, _T]:
        """Copy this database, online, into the file ``target``; return the copy's facts and
        what ``inspect`` read.

        The copy is the snapshot of one read transaction, taken with SQLite's backup API while
        writers go on (in WAL mode they do not wait for it); ``inspect`` runs first in that same
        transaction, so what it reads (the newest audit entry, say) describes the copy exactly.
        The copy is one self-contained file (rollback-journal mode) with mode 0600, written
        beside ``target`` and moved in place when complete; an existing ``target`` is refused
        with :class:`~custrec.errors.BackupError` unless ``overwrite``. Only this file is
        copied, never the key store (copy that store by itself). ``StorageError`` for an
        in-memory database.
        """
        if self._memory:
            raise StorageError("an in-memory database has no file to copy")
        path = os.path.abspath(os.fspath(target))
        if path == self._key_file:
            raise BackupError(f"{path} is this database's key store")
        with self.transaction(readonly=True) as session:
            seen = inspect(session)
            copied = copy_database(session._conn, path, overwrite=overwrite, source=self._path)
        return copied, seen

    def close(self) -> None:
        """Close every connection this store opened; idempotent. Later use raises ``StorageError``.

        Connections held by sessions still open elsewhere close when those sessions end; their
        further operations raise ``StorageError``.
        """
        run_close_hooks(self)
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
        if self._gate is not None:
            self._gate.close()
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
