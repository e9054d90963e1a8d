"""The audit head written at most every ``audit_head_interval`` seconds (see ``docs/security.md``).

A write of the head is a write transaction on the key store (or an ``fsync`` of a head file).
:class:`DeferredHead` wraps the registry's :class:`~custrec.services.audit_head.AuditHead`: the
first advance after a quiet spell is written at once; those that follow within the interval wait
in memory and are written together, by the next advance that is due or by a timer thread at most
one interval later; reading the head, closing the store (:mod:`custrec.storage.closing`) and the
end of the process (``atexit``, and a ``multiprocessing`` child's exit) write what waits first.

What waits is checked when it is written as the synchronous head would have checked each advance,
and more: the log must still hold, unchanged, the recorded head's entry *and* the entry of every
checkpoint that waited (:class:`LogCheck`, one read transaction). So a log cut above the recorded
head and grown again while checkpoints waited is caught: the head is moved onto the first
checkpoint whose entry is gone (``verify`` then reports it) and the advance is refused with an
:class:`~custrec.errors.AuditIntegrityWarning`. These reads are made before the head's own lock
is taken, so the timer thread never holds the key store while it waits for the data store.

The timer thread never warns: what it could not write, or refused, is warned in the next thread
that advances, reads or closes the head, so ``warnings.filterwarnings("error", ...)`` in the
application still turns a refusal into an exception where the application sees it.
"""

from __future__ import annotations

import atexit
import hmac
import multiprocessing.util
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Final

from custrec._checks import check, number_range
from custrec.errors import StorageError
from custrec.security import Checkpoint
from custrec.services.audit_head import AuditHead, head_failed, head_refused
from custrec.storage import AuditRecord, Store
from custrec.storage.closing import on_close

__all__ = ["DeferredHead", "LogCheck", "deferred"]

MAX_WAITING: Final = 512
"""Checkpoints that may wait at most; one more writes them at once (a bound on memory)."""


def _same(one: Checkpoint | AuditRecord, other: Checkpoint) -> bool:
    return one.seq == other.seq and hmac.compare_digest(bytes(one.chain), bytes(other.chain))


class LogCheck:
    """The ``extends`` of one advance: whether the log still holds a checkpoint's entry with the
    same chain value. ``previous`` (the entry the advance's unit was appended after, as it read
    it then) answers for its own sequence number without a read."""

    def __init__(self, store: Store, previous: AuditRecord | None) -> None:
        self._store = store
        self._previous = previous

    def __call__(self, head: Checkpoint) -> bool:
        return self.first_lost([head]) is None

    def first_lost(self, checkpoints: Sequence[Checkpoint]) -> Checkpoint | None:
        """The first of ``checkpoints`` (in their order) whose entry the log no longer holds
        unchanged, or ``None``; at most one read transaction."""
        previous = self._previous
        needed = [c for c in checkpoints if previous is None or previous.seq != c.seq]
        found: dict[int, bool] = {}
        if needed:
            with self._store.transaction(readonly=True) as session:
                for checkpoint in needed:
                    entry = session.audit.read(after_seq=checkpoint.seq - 1, limit=1)
                    found[checkpoint.seq] = bool(entry) and _same(entry[0], checkpoint)
        for checkpoint in checkpoints:
            held = found.get(checkpoint.seq)
            if held is None:  # the unit's own previous entry
                held = previous is not None and _same(previous, checkpoint)
            if not held:
                return checkpoint
        return None


class _Waiting:
    """What waits: the newest checkpoint with its check, and every other that waited with it."""

    __slots__ = ("check", "newest", "others")

    def __init__(self, newest: Checkpoint, check: Callable[[Checkpoint], bool]) -> None:
        self.newest = newest
        self.check = check
        self.others: list[Checkpoint] = []

    def add(self, checkpoint: Checkpoint, check: Callable[[Checkpoint], bool]) -> None:
        if checkpoint.seq > self.newest.seq:
            self.others.append(self.newest)
            self.newest, self.check = checkpoint, check
        elif checkpoint.seq < self.newest.seq:
            self.others.append(checkpoint)


def _merged(older: _Waiting, newer: _Waiting | None) -> _Waiting:
    """One :class:`_Waiting` with the checkpoints of both."""
    merged = _Waiting(older.newest, older.check)
    merged.others = list(older.others)
    if newer is not None:
        merged.others += newer.others
        merged.add(newer.newest, newer.check)
    return merged


class DeferredHead:
    """An :class:`~custrec.services.audit_head.AuditHead` written at most every ``interval``
    seconds (see the module docs). :meth:`read` first writes what waits in every deferred head
    of the process; :meth:`replace` forgets what waits up to the replacement; :meth:`close` (run
    when the store closes) writes what waits and makes every later advance write at once."""

    def __init__(self, inner: AuditHead, interval: float) -> None:
        self.inner = inner
        self.interval = interval
        self._cond = threading.Condition()
        self._waiting: _Waiting | None = None
        self._writing: _Waiting | None = None  # what the timer thread is writing
        self._written = -interval  # time.monotonic() of the last write begun
        self._thread: threading.Thread | None = None
        self._closed = False
        self._unreported: list[Exception | None] = []  # the timer's failures (None: refused)
        _live.add(self)

    def __repr__(self) -> str:
        return f"DeferredHead({self.inner!r}, interval={self.interval})"

    def read(self) -> Checkpoint | None:
        _flush_live()  # every registry of this process: another may share the head's store
        return self.inner.read()

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        self._report(3)
        with self._cond:
            waiting = self._waiting
            if waiting is None:
                waiting = self._waiting = _Waiting(checkpoint, extends)
            else:
                waiting.add(checkpoint, extends)
            now = time.monotonic()
            if (
                not self._closed
                and now - self._written < self.interval
                and len(waiting.others) < MAX_WAITING
            ):
                self._arm()
                return True
            self._written = now
            self._waiting = None
        return self._write(waiting)

    def replace(self, checkpoint: Checkpoint) -> None:
        self.inner.replace(checkpoint)
        with self._cond:
            if self._waiting is not None and self._waiting.newest.seq <= checkpoint.seq:
                self._waiting = None

    def flush(self) -> None:
        """Write what waits now, in this thread; warn as the registry does when it cannot be
        written or the log lost an entry it names (also for what the timer could not write)."""
        self._report(3)
        with self._cond:
            waiting, self._waiting = self._waiting, None
            if self._writing is not None:  # written again here: its store may be closing
                waiting = _merged(self._writing, waiting)
            if waiting is None:
                return
            self._written = time.monotonic()
        self._write_warning(waiting, 3)

    def close(self) -> None:
        """Write what waits; from now on every advance is written at once (the store closes)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.flush()

    def _write(self, waiting: _Waiting, *, timer: bool = False) -> bool:
        """Record what waited; ``False`` (refused) when the log lost an entry it names, after
        moving the head onto the first lost checkpoint above the recorded head. One advance
        alone in a caller's thread is written as the synchronous head writes it; otherwise the
        log is read before the head's lock is taken."""
        if not waiting.others and not timer:
            return self.inner.advance(waiting.newest, extends=waiting.check)
        recorded = self.inner.read()
        names = sorted(waiting.others, key=lambda c: c.seq)
        if recorded is not None and recorded.seq < waiting.newest.seq:
            names.insert(0, recorded)
        first_lost = getattr(waiting.check, "first_lost", None)
        if callable(first_lost):
            lost = first_lost(names)
        else:
            lost = next((c for c in names if not waiting.check(c)), None)

        def extends(head: Checkpoint) -> bool:  # checked just before unless it moved since
            return (recorded is not None and _same(recorded, head)) or waiting.check(head)

        if lost is None:
            return self.inner.advance(waiting.newest, extends=extends)
        if lost is not recorded:  # the head names the cut entry: verify() reports it
            self.inner.advance(lost, extends=extends)
        return False

    def _write_warning(self, waiting: _Waiting, stacklevel: int) -> None:
        try:
            moved = self._write(waiting)
        except (StorageError, OSError) as exc:
            head_failed(exc, stacklevel + 1)
            return
        if not moved:
            head_refused(stacklevel + 1)

    def _report(self, stacklevel: int) -> None:
        """Warn, in the calling thread, of what the timer could not write or refused."""
        if not self._unreported:
            return
        with self._cond:
            unreported, self._unreported = self._unreported, []
        for failure in unreported[-2:]:  # the newest of each kind is enough
            if failure is None:
                head_refused(stacklevel + 1)
            else:
                head_failed(failure, stacklevel + 1)

    def _arm(self) -> None:
        """Under ``_cond``: wake the timer thread, started when there is none."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=_timer, args=(weakref.ref(self),), name="custrec-audit-head", daemon=True
            )
            self._thread.start()
        self._cond.notify_all()

    def _due(self) -> _Waiting | None:
        """Under ``_cond``, in the timer thread: wait until what waits is due and take it;
        ``None`` (the thread ends; the next waiting advance starts another) when nothing has
        waited for a second, or the head is closed (:meth:`close` writes what waits)."""
        while not self._closed:
            waiting = self._waiting
            if waiting is not None:
                wait = self._written + self.interval - time.monotonic()
                if wait <= 0:
                    self._written = time.monotonic()
                    self._waiting = None
                    self._writing = waiting
                    return waiting
                self._cond.wait(wait)
                continue
            self._cond.wait(1.0)
            if self._waiting is None:
                break
        if self._thread is threading.current_thread():
            self._thread = None
        return None

    def _run_once(self, waiting: _Waiting) -> None:
        """In the timer thread: write what was due; keep any failure for a caller to warn of."""
        outcome: Exception | None = None
        try:
            moved = self._write(waiting, timer=True)
        except Exception as exc:  # never let the thread die with a traceback
            moved, outcome = False, exc
        with self._cond:
            if self._writing is waiting:
                self._writing = None
            if not moved and not self._closed:  # else close() wrote it again, and warned
                self._unreported.append(outcome)

    def _after_fork(self) -> None:
        """In a forked child: the parent writes what waited; the child starts afresh."""
        self._cond = threading.Condition()
        self._waiting = None
        self._writing = None
        self._thread = None
        self._unreported = []


def _timer(reference: weakref.ref[DeferredHead]) -> None:
    """The timer thread of a :class:`DeferredHead`: write what waits when it is due; end when
    the head is idle, closed or gone."""
    while True:
        head = reference()
        if head is None:
            return
        with head._cond:
            waiting = head._due()
        if waiting is None:
            return
        head._run_once(waiting)
        del head, waiting


def deferred(head: AuditHead | None, interval: float, *stores: Store | None) -> AuditHead | None:
    """``head`` written at most every ``interval`` seconds (a :class:`DeferredHead` that writes
    what waits when one of ``stores`` closes), or ``head`` itself when ``interval`` is ``0``."""
    check("audit_head_interval", interval, number_range(0, 60))
    if head is None or interval == 0:
        return head
    wrapped = DeferredHead(head, float(interval))
    for store in stores:
        if store is not None:
            on_close(store, wrapped.close)
    return wrapped


_live: weakref.WeakSet[DeferredHead] = weakref.WeakSet()


def _flush_live() -> None:
    """Write what waits in every deferred head of this process; one that fails only warns."""
    for head in list(_live):
        try:
            head.flush()
        except Exception as exc:  # another registry's head must still be written
            warnings.warn(
                f"custrec: an audit head could not be written ({type(exc).__name__})",
                RuntimeWarning,
                2,
            )


def _forked() -> None:
    for head in list(_live):
        head._after_fork()


def _child_exits(_: object) -> None:
    """In a ``multiprocessing`` child (which ends with ``os._exit``, skipping ``atexit``):
    write what waits when it exits normally."""
    multiprocessing.util.Finalize(None, _flush_live, exitpriority=10)


class _Anchor:
    """Kept alive for ``multiprocessing.util.register_after_fork`` (it holds it weakly)."""


_ANCHOR: Final = _Anchor()
atexit.register(_flush_live)
multiprocessing.util.register_after_fork(_ANCHOR, _child_exits)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)
