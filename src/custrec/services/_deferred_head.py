"""The audit head written at most every ``audit_head_interval`` seconds (see ``docs/security.md``).

A write of the head is a write transaction on the key store (or an ``fsync`` of a head file).
:class:`DeferredHead` wraps the registry's :class:`~custrec.services.audit_head.AuditHead`: the
first advance after a quiet spell is written at once; those that follow within the interval wait
in memory and are written together, by the next advance that is due or by a timer thread at most
one interval later; reading the head, closing the store (:mod:`custrec.storage.closing`) and the
end of the process (``atexit``, and a ``multiprocessing`` child's exit) write what waits first.

What waits is checked when it is written as the synchronous head would have checked each advance,
and more: the log must still hold, unchanged, the recorded head's entry *and* the entry of every
checkpoint that waited, each read again (:meth:`LogCheck.first_lost`, one read transaction). So a
log cut while checkpoints waited and grown again is caught: the first checkpoint whose entry
is gone is kept beside the head as evidence (``verify`` reports ``entry_lost`` until
``reset_head``), the head moves onto it when it is above the recorded head (never back), and
the advance is refused with an
:class:`~custrec.errors.AuditIntegrityWarning`. These reads are made before the head's own lock
is taken, so the timer thread never holds the key store while it waits for the data store.

The timer thread never warns: what it could not write, or refused, is warned in the next thread
that advances, reads or closes the head, so ``warnings.filterwarnings("error", ...)`` in the
application still turns a refusal into an exception where the application sees it.
"""

from __future__ import annotations

import atexit
import heapq
import hmac
import multiprocessing
import multiprocessing.util
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Final, cast

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
    it then) answers for its own sequence number without a read, but only when the head is
    written right after that unit (:meth:`__call__`); a deferred write reads every entry it
    checks (:meth:`first_lost`)."""

    def __init__(self, store: Store, previous: AuditRecord | None) -> None:
        self._store = store
        self._previous = previous

    def __call__(self, head: Checkpoint) -> bool:
        previous = self._previous
        if previous is not None and previous.seq == head.seq:
            return _same(previous, head)
        return self.first_lost([head]) is None

    def first_lost(self, checkpoints: Sequence[Checkpoint]) -> Checkpoint | None:
        """The first of ``checkpoints`` (in their order) whose entry the log does not hold now
        with the same chain value, or ``None``; one read transaction."""
        with self._store.transaction(readonly=True) as session:
            for checkpoint in checkpoints:
                entry = session.audit.read(after_seq=checkpoint.seq - 1, limit=1)
                if not (entry and _same(entry[0], checkpoint)):
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
        elif not _same(checkpoint, self.newest):  # two chains at one seq: the log was cut
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
        self._advanced = -interval  # time.monotonic() of the last advance
        self._scheduled = False  # with the process's timer
        self._closed = False
        self._refused = False  # by the timer, not yet warned of
        self._failure: Exception | None = None  # the timer's, not yet warned of
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
            now = self._advanced = time.monotonic()
            if (
                not (self._closed or _exiting)
                and now - self._written < self.interval
                and len(waiting.others) < MAX_WAITING
                and self._schedule(self._written + self.interval)
            ):
                return True
            self._written = now
            self._waiting = None
        return self._write(waiting)

    def _schedule(self, due: float) -> bool:
        """Under ``_cond``: have the timer fire at ``due`` (unless it will already); ``False``
        when its thread cannot be started (then what waits is written at once)."""
        if not self._scheduled:
            try:
                _TIMER.schedule(self, due)
            except RuntimeError:  # no thread can be started (a limit, or the interpreter ends)
                return False
            self._scheduled = True
        return True

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

    def _write(self, waiting: _Waiting, *, waited: bool = False) -> bool:
        """Record what waited; ``False`` (refused) when the log lost an entry it names: the
        first such checkpoint is then kept as evidence beside the head (``record_lost``:
        ``verify`` reports ``entry_lost`` until ``reset_head``), and becomes the head when it
        is above the recorded one (the head never moves back).

        An advance written as it is made goes as the synchronous head writes it. What
        ``waited`` has the recorded head read first, then its entry and every entry the
        waiting checkpoints name read from the log again (one read transaction), all before
        the head's lock is taken (the timer thread must never hold the key store while it
        waits for the data store)."""
        if not waiting.others and not waited:
            return self.inner.advance(waiting.newest, extends=waiting.check)
        first_lost = getattr(waiting.check, "first_lost", None)

        def holds(checkpoint: Checkpoint) -> bool:  # read again, never from what was known
            if callable(first_lost):
                return first_lost([checkpoint]) is None
            return waiting.check(checkpoint)

        recorded = self.inner.read()
        names = sorted([*waiting.others, waiting.newest], key=lambda c: c.seq)
        if recorded is not None and recorded.seq <= waiting.newest.seq:  # (two chains at one
            names.insert(0, recorded)  # seq say the log was cut)
        if callable(first_lost):
            lost = first_lost(names)
        else:
            lost = next((c for c in names if not waiting.check(c)), None)

        def extends(head: Checkpoint) -> bool:  # checked just before, unless it moved since
            return (recorded is not None and _same(recorded, head)) or holds(head)

        if lost is None:
            return self.inner.advance(waiting.newest, extends=extends)
        if lost is not recorded:
            self.record_lost(lost)  # verify() reports it until reset_head, whatever the log
            if recorded is None or lost.seq > recorded.seq:  # the head names the lost entry
                self.inner.advance(lost, extends=extends)
        return False

    def record_lost(self, checkpoint: Checkpoint) -> None:
        """Keep ``checkpoint`` beside the head as evidence of a lost entry (when the head can)."""
        record_lost = getattr(self.inner, "record_lost", None)
        if callable(record_lost):
            record_lost(checkpoint)

    def lost(self) -> Checkpoint | None:
        """The evidence of a lost entry kept beside the head, or ``None``."""
        lost = getattr(self.inner, "lost", None)
        return cast(Checkpoint | None, lost()) if callable(lost) else None

    def _write_warning(self, waiting: _Waiting, stacklevel: int) -> None:
        try:
            moved = self._write(waiting, waited=True)
        except (StorageError, OSError) as exc:
            head_failed(exc, stacklevel + 1)
            return
        if not moved:
            head_refused(stacklevel + 1)

    def _report(self, stacklevel: int) -> None:
        """Warn, in the calling thread, of what the timer refused or could not write."""
        if not (self._refused or self._failure is not None):
            return
        with self._cond:
            refused, failure = self._refused, self._failure
            self._refused, self._failure = False, None
        if refused:
            head_refused(stacklevel + 1)
        if failure is not None:
            head_failed(failure, stacklevel + 1)

    def _fire(self) -> None:
        """In the timer thread, when this head is due: write what waits (if it is due still);
        keep what it refused or could not write for the next caller to warn of."""
        with self._cond:
            self._scheduled = False
            waiting = self._waiting
            if waiting is None or self._closed:  # written meanwhile, or close() writes it
                return
            # while commits keep coming, the next one that is due writes (in its own thread:
            # a second thread writing meanwhile costs both a GIL hand-off at every SQLite
            # call); the timer writes once they have paused for half an interval, at most one
            # interval after the newest commit that waits
            due = max(self._written + self.interval, self._advanced + self.interval / 2)
            if time.monotonic() < due:
                _TIMER.schedule(self, due)  # (the timer's own thread: it runs)
                self._scheduled = True
                return
            self._written = time.monotonic()
            self._waiting, self._writing = None, waiting
        failure: Exception | None = None
        try:
            moved = self._write(waiting, waited=True)
        except Exception as exc:  # never let the timer thread die
            moved, failure = False, exc
        with self._cond:
            if self._writing is waiting:
                self._writing = None
            if not moved and not self._closed:  # else close() wrote it again, and warned
                if failure is None:
                    self._refused = True
                else:
                    self._failure = failure

    def _after_fork(self) -> None:
        """In a forked child: the parent writes what waited; the child starts afresh."""
        self._cond = threading.Condition()
        self._waiting = self._writing = None
        self._scheduled = self._refused = False
        self._failure = None


class _Timer:
    """The one thread of a process that writes deferred heads when they are due. It holds a
    head until then (a registry dropped meanwhile still has what waits written, at most one
    interval later) and ends after a second idle."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._due: list[tuple[float, int, DeferredHead]] = []
        self._count = 0
        self._thread: threading.Thread | None = None

    def schedule(self, head: DeferredHead, due: float) -> None:
        """Call ``head._fire()`` at ``due`` (``time.monotonic()``), from the timer thread."""
        _exit_in_child()
        with self._lock:
            if self._thread is None:  # a thread that cannot start changes nothing (it raises)
                thread = threading.Thread(target=self._run, name="custrec-audit-head", daemon=True)
                thread.start()
                self._thread = thread
            self._count += 1
            heapq.heappush(self._due, (due, self._count, head))
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                idle_since = time.monotonic()
                while True:
                    now = time.monotonic()
                    if self._due and self._due[0][0] <= now:
                        head = heapq.heappop(self._due)[2]
                        break
                    if not self._due and now - idle_since >= 1.0:
                        self._thread = None
                        return
                    self._lock.wait(self._due[0][0] - now if self._due else 1.0)
            head._fire()
            del head

    def after_fork(self) -> None:
        self._lock = threading.Condition()
        self._due = []
        self._thread = None


_TIMER: Final = _Timer()


def deferred(head: AuditHead | None, interval: float, *stores: Store | None) -> AuditHead | None:
    """``head`` written at most every ``interval`` seconds (a :class:`DeferredHead` that writes
    what waits when one of ``stores`` closes); with ``0`` after every commit, and its reads
    still write what the other registries of the process deferred."""
    check("audit_head_interval", interval, number_range(0, 60))
    if head is None:
        return None
    wrapped = DeferredHead(head, float(interval))
    for store in stores:
        if store is not None:
            on_close(store, wrapped.close)
    return wrapped


_live: weakref.WeakSet[DeferredHead] = weakref.WeakSet()


_exiting = False  # the process's exit handler has run: every later advance is written at once


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
    _TIMER.after_fork()
    for head in list(_live):
        head._after_fork()


_exit_pid: int | None = None  # the multiprocessing child that will write at its end


def _exit_in_child() -> None:
    """In a ``multiprocessing`` child (which ends with ``os._exit``, skipping ``atexit``), once:
    write what waits when its target returns."""
    global _exit_pid
    if _exit_pid != os.getpid() and multiprocessing.parent_process() is not None:
        _exit_pid = os.getpid()
        multiprocessing.util.Finalize(None, _at_exit, exitpriority=10)


def _at_exit() -> None:
    """At the interpreter's exit: write what waits, and from now on every advance at once (an
    exit handler registered earlier, which runs later, may still commit)."""
    global _exiting
    _exiting = True
    _flush_live()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)
