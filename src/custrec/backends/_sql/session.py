"""The session life cycle and the operation decorator, written once for every SQL dialect.

A session is ``active`` until it ends as ``committed`` or ``rolled back``; it becomes ``failed``
when a commit or the undoing of a failed write did not work, and ``aborted`` when the database
ended its transaction by itself. Only an active session is usable.

Every table method runs through :func:`operation`: it checks that the session is usable (and
writable, for writes), runs a write inside a savepoint so that a failed write leaves the session
as it was, and translates driver errors into :mod:`custrec.errors`.
"""

from __future__ import annotations

import functools
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Concatenate, Final, Generic, ParamSpec, Protocol, TypeVar

from custrec.errors import StorageError
from custrec.storage.protocols import (
    ActivityTable,
    AuditTable,
    ChangeTable,
    ConsentTable,
    CustomerTable,
    DocumentTable,
    HistoryTable,
    KeyTable,
    MetaTable,
    WorkTable,
)

__all__ = [
    "ACTIVE",
    "SQLSession",
    "enter_once",
    "operation",
    "reads",
    "writes",
    "writes_one_statement",
]

ACTIVE: Final = "active"

_P = ParamSpec("_P")
_R = TypeVar("_R")
_C = TypeVar("_C")


class _Store(Protocol):
    _closed: bool


class _Table(Protocol):
    _name: ClassVar[str]

    @property
    def _session(self) -> SQLSession[Any]: ...


_T = TypeVar("_T", bound=_Table)


class SQLSession(ABC, Generic[_C]):
    """One database transaction on one connection ``_C``; see :class:`custrec.storage.Session`.

    A dialect says how to end a transaction, whether one is open and healthy, how to run a write
    in a savepoint and how to translate its driver's errors.
    """

    _label: ClassVar[str] = "SQLSession"
    _aborted: ClassVar[str] = "the transaction was aborted; start again"
    _driver_errors: ClassVar[tuple[type[Exception], ...]] = ()
    _atomic_statements: ClassVar[bool] = False
    """Whether the database undoes a failed statement by itself, so that a write of one
    statement needs no savepoint."""

    def __init__(self, store: _Store, conn: _C, *, readonly: bool) -> None:
        self._store = store
        self._conn = conn
        self._readonly = readonly
        self._state = ACTIVE
        self._unguarded = False  # inside all_or_nothing(): write methods take no savepoint
        tables = self._tables()
        self._customers: CustomerTable = tables[0]
        self._activities: ActivityTable = tables[1]
        self._consents: ConsentTable = tables[2]
        self._history: HistoryTable = tables[3]
        self._audit: AuditTable = tables[4]
        self._keys: KeyTable = tables[5]
        self._meta: MetaTable = tables[6]
        self._workflow: tuple[WorkTable, ChangeTable] | None = None  # made on first use
        self._documents: DocumentTable | None = None  # made on first use

    def __repr__(self) -> str:
        mode = "read-only" if self._readonly else "read-write"
        return f"<{self._label} {mode} {self._state}>"

    @contextmanager
    def all_or_nothing(self) -> Iterator[None]:
        """Within this block a write method takes no savepoint of its own, and one that fails
        leaves the session aborted (only a rollback is left) instead of as it was before the
        call. For bulk writes whose caller gives the whole transaction up on any error: inside
        a savepoint the database copies each page a write changes before changing it (on
        SQLite into a temporary file once it is larger than 64 KiB), which a batch of thousands
        of rows into a large store pays for page by page."""
        previous, self._unguarded = self._unguarded, True
        try:
            yield
        finally:
            self._unguarded = previous

    @contextmanager
    def with_savepoints(self) -> Iterator[None]:
        """Within this block (inside :meth:`all_or_nothing`) write methods take their
        savepoints again: for an attempt whose failure the caller recovers from."""
        previous, self._unguarded = self._unguarded, False
        try:
            yield
        finally:
            self._unguarded = previous

    def _write_starts(self) -> None:
        """A write method starts without a savepoint (inside :meth:`all_or_nothing`): what a
        dialect must forget before any write (a cache of rows the write may change)."""

    @property
    def readonly(self) -> bool:
        """Whether this session refuses writes."""
        return self._readonly

    @property
    def customers(self) -> CustomerTable:
        return self._customers

    @property
    def activities(self) -> ActivityTable:
        return self._activities

    @property
    def consents(self) -> ConsentTable:
        return self._consents

    @property
    def history(self) -> HistoryTable:
        return self._history

    @property
    def audit(self) -> AuditTable:
        return self._audit

    @property
    def keys(self) -> KeyTable:
        return self._keys

    @property
    def meta(self) -> MetaTable:
        return self._meta

    @property
    def work(self) -> WorkTable:
        if self._workflow is None:
            self._workflow = self._workflow_tables()
        return self._workflow[0]

    @property
    def changes(self) -> ChangeTable:
        if self._workflow is None:
            self._workflow = self._workflow_tables()
        return self._workflow[1]

    @property
    def documents(self) -> DocumentTable:
        if self._documents is None:
            self._documents = self._document_table()
        return self._documents

    # -- what a dialect provides ------------------------------------------------------------

    @abstractmethod
    def _tables(
        self,
    ) -> tuple[
        CustomerTable, ActivityTable, ConsentTable, HistoryTable, AuditTable, KeyTable, MetaTable
    ]:
        """This session's customers, activities, consents, history, audit, keys and meta."""

    @abstractmethod
    def _workflow_tables(self) -> tuple[WorkTable, ChangeTable]:
        """This session's work table and change feed (made on first use)."""

    @abstractmethod
    def _document_table(self) -> DocumentTable:
        """This session's documents table (made on first use)."""

    @abstractmethod
    def _end(self, statement: str) -> None:
        """Send ``COMMIT`` or ``ROLLBACK``."""

    @abstractmethod
    def _open(self) -> bool:
        """Whether a transaction (healthy or not) is open on the connection."""

    @abstractmethod
    def _healthy(self) -> bool:
        """Whether the transaction is open and usable."""

    def _alive(self) -> bool:
        """Whether the connection can still be talked to."""
        return True

    @abstractmethod
    def _error(self, exc: Exception, context: str, *, committing: bool = False) -> Exception:
        """The custrec error for driver error ``exc`` (raised ``from`` it)."""

    @abstractmethod
    def _open_operation(self) -> None:
        """A write method starts: establish (or arrange) its savepoint."""

    @abstractmethod
    def _close_operation(self) -> None:
        """The write method succeeded: release (or arrange to release) its savepoint."""

    @abstractmethod
    def _undo_operation(self) -> None:
        """The write method failed: roll back to its savepoint; never raises (``failed`` when
        that is impossible, since the session may hold a partial write)."""

    def _committed(self) -> None:
        """Called after a successful commit."""

    # -- the life cycle ---------------------------------------------------------------------

    def _usable(self, *, write: bool = False, what: str = "session") -> _C:
        """Return the connection if the session may run ``what``; ``StorageError`` otherwise."""
        if self._state != ACTIVE:
            raise StorageError(f"{what}: the session is {self._state}; open a new transaction")
        if self._store._closed:
            raise StorageError(f"{what}: the store is closed")
        if write and self._readonly:
            raise StorageError(f"{what}: writes are not allowed in a read-only session")
        if not self._healthy():
            self._state = "aborted"
            raise StorageError(f"{what}: {self._aborted}")
        return self._conn

    def _after_error(self) -> None:
        """After a driver error: a transaction the database ended cannot be used any more."""
        if self._state == ACTIVE and not self._healthy():
            self._state = "aborted" if self._alive() else "failed"

    def commit(self) -> None:
        """Commit; on failure the transaction is rolled back and ``StorageError`` raised."""
        self._usable(what="commit")
        try:
            self._end("COMMIT")
        except self._driver_errors as exc:
            self._state = "failed"
            self._discard()
            raise self._error(exc, "commit", committing=True) from exc
        self._state = "committed"
        self._committed()

    def rollback(self) -> None:
        """Discard the session's writes; a no-op once the session is finished."""
        if self._state != ACTIVE:
            return
        self._state = "rolled back"
        self._roll_back()

    def _roll_back(self) -> None:
        try:
            if self._open():
                self._end("ROLLBACK")
        except self._driver_errors as exc:
            raise self._error(exc, "rollback") from exc

    def _discard(self) -> bool:
        """Roll back if still in a transaction, never raising; return whether that worked."""
        if not self._alive():
            return False
        try:
            if self._open():
                self._end("ROLLBACK")
        except self._driver_errors:
            return False
        return not self._open()

    def _finish(self, *, quiet: bool) -> bool:
        """End the session as its ``with`` block closes (roll back unless committed); tell
        whether the connection is clean for reuse. ``quiet``: never raise."""
        if self._state == ACTIVE:
            self._state = "rolled back"
            if quiet:
                return self._discard()
            self._roll_back()
        return not self._open() or self._discard()


def operation(
    *, write: bool, single_statement: bool = False
) -> Callable[[Callable[Concatenate[_T, _P], _R]], Callable[Concatenate[_T, _P], _R]]:
    """Guard a table method: session state, read-only check, atomicity and error translation.

    A write method runs inside a savepoint, so a method that fails leaves the session exactly as
    it was before the call (``history.append`` is all or none, say). A method that writes with
    one statement (``single_statement``) needs none where the database undoes a failed statement
    by itself (``_atomic_statements``), and none runs in :meth:`SQLSession.all_or_nothing`.
    """

    def decorate(method: Callable[Concatenate[_T, _P], _R]) -> Callable[Concatenate[_T, _P], _R]:
        @functools.wraps(method)
        def run(self: _T, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            session = self._session
            context = f"{self._name}.{method.__name__}"
            session._usable(write=write, what=context)
            try:
                if not write or (single_statement and session._atomic_statements):
                    return method(self, *args, **kwargs)
                if session._unguarded:  # all_or_nothing(): a failure gives the session up
                    session._write_starts()
                    try:
                        return method(self, *args, **kwargs)
                    except BaseException:
                        if session._state == ACTIVE:
                            session._state = "aborted"
                        raise
                session._open_operation()
                try:
                    result = method(self, *args, **kwargs)
                except BaseException:
                    session._undo_operation()
                    raise
                session._close_operation()
                return result
            except session._driver_errors as exc:
                session._after_error()
                raise session._error(exc, context) from exc

        return run

    return decorate


reads = operation(write=False)
writes = operation(write=True)
writes_one_statement = operation(write=True, single_statement=True)


def enter_once(local: threading.local) -> None:
    """Mark this thread as holding a session of the store whose ``local`` this is; raise
    ``StorageError`` if it already holds one (nesting is refused per store instance)."""
    if getattr(local, "active", False):
        raise StorageError(
            "this thread already has a transaction open on this store; "
            "nested transactions are not supported"
        )
    local.active = True
