"""Where the signed head of the audit chain is kept, outside the audited store.

After commits that appended audit entries the registry records a checkpoint of the newest
entry as the *head* (:class:`AuditHead`): in the key store (:class:`StoreAuditHead`, the default
when the registry has one) or in a file (:class:`FileAuditHead`), at most every
:data:`HEAD_INTERVAL` seconds (:class:`DeferredHead`). Verification checks the log against it,
so deleting the newest entries is detected.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, Protocol, cast

from custrec.errors import AuditIntegrityWarning, StorageError
from custrec.security import Checkpoint
from custrec.storage import AuditQueue, Session, Store
from custrec.storage.closing import on_close

try:  # POSIX: serialise processes advancing one file head
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "HEAD_INTERVAL",
    "META_HEAD",
    "AuditHead",
    "FileAuditHead",
    "StoreAuditHead",
    "audit_head_for",
    "deferred",
]

META_HEAD: Final = "custrec.audit_head"
"""The ``meta`` name of the head in a key store."""

HEAD_INTERVAL: Final = 0.05
"""Seconds a registry waits at most before it records the head after a commit, by default
(``Registry(audit_head_interval=...)``): commits that follow each other within it move the head
once. ``0`` records it after every commit."""


class AuditHead(Protocol):
    """Where the registry keeps the signed head of its audit chain, outside the audited store.

    After every commit that appended audit entries the registry calls :meth:`advance` with a
    checkpoint of the newest entry; ``registry.audit.verify`` checks the log against
    :meth:`read`, so deleting the newest entries is detected. ``advance`` never moves the head
    backwards (concurrent writers may call it out of order) nor onto a log that lost the
    head's entry (so a truncated log that grows again is still caught).
    """

    def read(self) -> Checkpoint | None:
        """The newest head recorded, or ``None``."""
        ...

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        """Record ``checkpoint`` as the head, atomically against other writers: do nothing when
        the recorded head is at the same or a later entry; refuse (return ``False``, record
        nothing) when ``extends(recorded head)`` says the log no longer holds the recorded
        head's entry unchanged; otherwise record it and return ``True``."""
        ...

    def replace(self, checkpoint: Checkpoint) -> None:
        """Record ``checkpoint`` whatever the recorded head (after a restore, on purpose)."""
        ...


class FileAuditHead:
    """An :class:`AuditHead` in a JSON file (``Checkpoint.to_dict``), replaced atomically and
    created with mode 0600; concurrent processes serialise on an advisory lock (POSIX)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)

    def __repr__(self) -> str:
        return f"FileAuditHead({str(self._path)!r})"

    @property
    def path(self) -> Path:
        """The head file."""
        return self._path

    def read(self) -> Checkpoint | None:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read the audit head {self._path}: {exc.strerror}") from None
        return _checkpoint_from_json(text.encode(), str(self._path))

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        with self._locked():
            current = self.read()
            if current is not None and current.seq >= checkpoint.seq:
                return True
            if current is not None and not extends(current):
                return False
            self._write(checkpoint)
            return True

    def replace(self, checkpoint: Checkpoint) -> None:
        with self._locked():
            self._write(checkpoint)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._path.with_name(self._path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _write(self, checkpoint: Checkpoint) -> None:
        temporary = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(out, json.dumps(checkpoint.to_dict()).encode())
            os.fsync(out)
        finally:
            os.close(out)
        os.replace(temporary, self._path)


class StoreAuditHead:
    """The head in a key store's ``meta`` table (the default with a separate key store)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def read(self) -> Checkpoint | None:
        with self._store.transaction(readonly=True) as session:
            value = session.meta.get(META_HEAD)
        return None if value is None else _checkpoint_from_json(value, "the key store")

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        with self._store.transaction() as session:
            _one_at_a_time(self._store, session)
            value = session.meta.get(META_HEAD)
            current = None if value is None else _checkpoint_from_json(value, "the key store")
            if current is not None and current.seq >= checkpoint.seq:
                return True
            if current is not None and not extends(current):
                return False
            session.meta.put(META_HEAD, json.dumps(checkpoint.to_dict()).encode())
            session.commit()
        return True

    def replace(self, checkpoint: Checkpoint) -> None:
        with self._store.transaction() as session:
            _one_at_a_time(self._store, session)
            session.meta.put(META_HEAD, json.dumps(checkpoint.to_dict()).encode())
            session.commit()


def _checkpoint_from_json(value: bytes, where: str) -> Checkpoint:
    try:
        return Checkpoint.from_dict(json.loads(value))
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise StorageError(f"the audit head in {where} is malformed: {exc}") from None


def _one_at_a_time(store: Store, session: Session) -> None:
    """On a key store whose writers run in parallel, hold its audit log's lock for the rest of
    the session, so that two heads advancing at once cannot interleave their read and write
    (the head would move backwards). Elsewhere the write session is already alone."""
    if store.capabilities.concurrent_writes:
        cast(AuditQueue, session.audit).claim(limit=1)


def audit_head_for(
    given: AuditHead | str | os.PathLike[str] | None, key_store: Store | None
) -> AuditHead | None:
    """The audit head a registry keeps: ``given`` (a path or an :class:`AuditHead`), or by
    default the key store's (none without a key store)."""
    if given is None:
        return StoreAuditHead(key_store) if key_store is not None else None
    if isinstance(given, str | os.PathLike):
        return FileAuditHead(given)
    if not (callable(getattr(given, "read", None)) and callable(getattr(given, "advance", None))):
        raise TypeError("audit_head must be a path or an AuditHead (read() and advance())")
    return given


def deferred(head: AuditHead | None, interval: float, *stores: Store | None) -> AuditHead | None:
    """``head`` written at most every ``interval`` seconds (:class:`DeferredHead`, flushed
    when one of ``stores`` closes), or as it is when ``interval`` is ``0`` or there is no head."""
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        raise TypeError("audit_head_interval must be a number of seconds")
    if not 0 <= interval <= 60:
        raise ValueError("audit_head_interval must be between 0 and 60 seconds")
    if head is None or interval == 0:
        return head
    wrapped = DeferredHead(head, float(interval))
    for store in stores:
        if store is not None:
            on_close(store, wrapped.close)
    return wrapped


def head_refused(stacklevel: int) -> None:
    """Warn that the head was not moved: the log no longer holds the entry it names."""
    warnings.warn(
        "custrec: the audit log no longer holds the entry its head names (entries were "
        "deleted or altered, or the store was restored from a backup); the head stays "
        "there and verify() reports it: after investigating, acknowledge with "
        "registry.audit.reset_head()",
        AuditIntegrityWarning,
        stacklevel + 1,
    )


def head_failed(exc: Exception, stacklevel: int) -> None:
    """Warn that the head could not be written (the data is committed either way)."""
    warnings.warn(
        f"custrec: the audit head could not be advanced ({exc})", RuntimeWarning, stacklevel + 1
    )


_Advance = tuple[Checkpoint, Callable[[Checkpoint], bool]]


class DeferredHead:
    """An :class:`AuditHead` that records the newest checkpoint at most every ``interval``
    seconds: the first advance after a quiet spell is written at once; those that follow
    within ``interval`` wait in memory and are written together, by the next advance due or
    by a timer thread, at most ``interval`` later. :meth:`read` and :meth:`replace` write what
    waits first, and so do closing the store (:func:`custrec.storage.closing.run_close_hooks`)
    and the interpreter's exit. A process that dies meanwhile leaves the head behind by what
    waited (see ``docs/security.md``).

    Of the advances that waited, the newest is written, checked by its own ``extends`` exactly
    as it would have been at once: whether the log still holds the recorded head's entry.
    """

    def __init__(self, inner: AuditHead, interval: float) -> None:
        self.inner = inner
        self.interval = interval
        self._cond = threading.Condition()
        self._pending: _Advance | None = None
        self._written = -interval  # time.monotonic() of the last write begun
        self._thread: threading.Thread | None = None
        self._closed = False
        _live.add(self)

    def __repr__(self) -> str:
        return f"DeferredHead({self.inner!r}, interval={self.interval})"

    def read(self) -> Checkpoint | None:
        self.flush()
        return self.inner.read()

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        with self._cond:
            pending = self._pending
            if pending is None or checkpoint.seq > pending[0].seq:
                # the newest advance with its own check: an older one's ``extends`` may know
                # the recorded head's entry from before the log was cut (and the newest
                # checkpoint then names an entry of the log grown again)
                pending = (checkpoint, extends)
            self._pending = pending
            now = time.monotonic()
            if not self._closed and now - self._written < self.interval:
                self._arm()
                return True
            self._written = now
        return self._write(pending)

    def replace(self, checkpoint: Checkpoint) -> None:
        with self._cond:
            self._pending = None
        self.inner.replace(checkpoint)

    def flush(self) -> None:
        """Write the checkpoint that waits, if any, now (in this thread); warn as the
        registry does when it cannot be written or the log lost the head's entry."""
        with self._cond:
            pending = self._pending
            if pending is None:
                return
            self._written = time.monotonic()
        self._write_warning(pending, 3)

    def close(self) -> None:
        """Write what waits, and from now on write every advance at once (the store is
        closing)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.flush()

    def _write(self, pending: _Advance) -> bool:
        """Record ``pending``, then forget it unless a newer checkpoint came meanwhile (also
        when the write raised: the next advance covers it)."""
        try:
            return self.inner.advance(pending[0], extends=pending[1])
        finally:
            with self._cond:
                if self._pending is not None and self._pending[0].seq <= pending[0].seq:
                    self._pending = None

    def _write_warning(self, pending: _Advance, stacklevel: int) -> None:
        try:
            moved = self._write(pending)
        except (StorageError, OSError) as exc:
            if not self._closed:  # else close() wrote it (or warned) already
                head_failed(exc, stacklevel + 1)
            return
        if not moved:
            head_refused(stacklevel + 1)

    def _arm(self) -> None:
        """Start the timer thread, under ``_cond`` (once a process; again after a fork)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=_timer, args=(weakref.ref(self),), name="custrec-audit-head", daemon=True
            )
            self._thread.start()
        self._cond.notify_all()

    def _due(self) -> _Advance | None:
        """Under ``_cond``, in the timer thread: wait until a waiting checkpoint is due and
        return it; ``None`` (the thread ends, and the next waiting advance starts another)
        when nothing has waited for a second or the head is closed with nothing waiting."""
        while True:
            if self._pending is not None:
                wait = self._written + self.interval - time.monotonic()
                if self._closed:  # close() writes it
                    break
                if wait <= 0:
                    self._written = time.monotonic()
                    return self._pending
                self._cond.wait(wait)
                continue
            if not self._closed:
                self._cond.wait(1.0)
            if self._pending is None:
                break
        if self._thread is threading.current_thread():
            self._thread = None
        return None

    def _after_fork(self) -> None:
        """In a forked child: the parent writes what waited; the child starts afresh."""
        self._cond = threading.Condition()
        self._pending = None
        self._thread = None


def _timer(reference: weakref.ref[DeferredHead]) -> None:
    """The timer thread of a :class:`DeferredHead`: write each waiting checkpoint when due;
    end when the head is closed or gone."""
    while True:
        head = reference()
        if head is None:
            return
        with head._cond:
            pending = head._due()
        if pending is None:
            return
        head._write_warning(pending, 1)
        del head, pending


_live: weakref.WeakSet[DeferredHead] = weakref.WeakSet()


def _flush_live() -> None:
    for head in list(_live):
        head.flush()


def _forked() -> None:
    for head in list(_live):
        head._after_fork()


atexit.register(_flush_live)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)
