"""The writer gate: writers of one SQLite file take turns without SQLite's backoff sleeps.

SQLite's busy handler retries a locked database after sleeping 1, 2, 5, ... up to 100 ms, so a
writer that arrived early can keep sleeping through the moments the lock is free while later
arrivals take it: with a dozen busy writer processes some wait for seconds. Before ``BEGIN
IMMEDIATE`` every writer of a file therefore takes the file's gate: a thread lock (the writers
of this process, one at a time) and then an exclusive ``flock`` on
``<database>-writers.lock`` (the writers of every process). The holder keeps it until its
transaction ends, so SQLite's own lock is then free at once.

Waiting for the ``flock`` does not poll: when it is taken, a thread of the gate makes the
blocking ``flock`` call, which the kernel wakes as soon as the holder lets go, and the writer
waits on that thread with its timeout, asleep on a lock that the thread releases once it holds
the ``flock`` for it (one wake-up, and no lock shared with the thread to take again after it).
A writer whose wait ends otherwise (its timeout, or an exception such as a ``KeyboardInterrupt``)
leaves the call to finish; the gate then hands the lock to the next writer of this process, or
lets it go at once. The thread is started by the first writer that has to wait and then stays,
idle between waits, until the gate is closed: under contention nearly every write waits, and
starting a thread for each costed about 0.1 ms of CPU. On systems without ``fcntl`` (Windows)
only the thread lock applies.
"""

from __future__ import annotations

import os
import threading
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriterGate", "gate_path"]


def gate_path(database: str) -> str:
    """The lock file of the database at ``database``."""
    return database + "-writers.lock"


class WriterGate:
    """Take turns writing to the database at ``database`` (see the module docstring)."""

    def __init__(self, database: str) -> None:
        self._path = gate_path(database)
        self._fd: int | None = None
        self._fresh_state()

    def _fresh_state(self) -> None:
        self._thread_lock = threading.Lock()  # one writer of this process at a time
        self._mutex = threading.Lock()  # guards the fields below (never held while blocking)
        self._request = _locked()  # released: the waiting thread is asked to flock()
        self._handoff = _locked()  # released: the waiting thread got the flock for a writer
        self._pid = os.getpid()
        self._wanted = False  # a writer of this process waits for the flock
        self._held = False  # this process holds the flock
        self._waiter: threading.Thread | None = None  # makes the blocking flock() calls
        self._blocking = False  # ... and is asked to make one (or is in it)

    def _descriptor(self) -> int:
        """This process's descriptor of the lock file, opened on first use."""
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def _forget_parent(self) -> None:
        """In a forked child: the parent's descriptor would share its lock, and its locks'
        states and waiting thread are not the child's."""
        self._fd = None
        self._fresh_state()

    def acquire(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the gate; ``False`` when it stayed taken."""
        deadline = time.monotonic() + timeout
        if self._pid != os.getpid():
            self._forget_parent()
        if not self._thread_lock.acquire(timeout=timeout):
            return False
        try:
            if fcntl is None or self._take(deadline):  # no fcntl (Windows): the thread lock only
                return True
        except BaseException:
            self._thread_lock.release()
            raise
        self._thread_lock.release()
        return False

    def _take(self, deadline: float) -> bool:
        """Take the flock: at once when it is free, else through the waiting thread, asleep
        on the hand-off lock until the thread holds the flock for this writer.

        ``_held``, read under ``_mutex``, says whether this writer has the flock (no other
        writer of this process runs meanwhile: they wait for ``_thread_lock``); the hand-off
        lock only wakes the writer, so a release it did not consume (the writer left by its
        timeout or an exception just as the thread handed over) wakes the next one early, and
        that one goes back to sleep. Whatever ends the wait, an exception included (a
        ``KeyboardInterrupt`` while it sleeps or as it wakes), the process keeps no flock for a
        writer that left and no later wait blocks on a hand-off that will not come. (A signal
        between two other statements of the gate can still leave the flock held until this
        process writes again: Python runs handlers between any two bytecodes.)"""
        fd = self._descriptor()
        try:
            with self._mutex:
                # while the thread is in its flock() call, another call on the same descriptor
                # would not conflict with it: wait for that one instead
                if not self._blocking:
                    self._held = True  # before the call: an interruption after it unlocks
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        return True
                    except BlockingIOError:
                        self._held = False
                    self._ask_thread()
                self._wanted = True
            while True:
                woke = self._handoff.acquire(timeout=max(0.0, deadline - time.monotonic()))
                with self._mutex:
                    if self._held:  # the thread handed the flock over (and cleared _wanted)
                        return True
                    if not woke:
                        self._wanted = False  # the thread lets the flock go when it gets it
                        return False
        except BaseException:
            with self._mutex:
                if self._held:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    self._held = False
                self._wanted = False
            raise

    def _ask_thread(self) -> None:
        """Ask the waiting thread (under ``_mutex``) to block in ``flock``, starting it first
        when there is none (it waits for the request), so that a failure or an interruption
        while starting it leaves no request without a thread."""
        if self._waiter is None:
            waiter = threading.Thread(
                target=self._serve,
                args=(self._request,),
                name="custrec-sqlite-gate",
                daemon=True,
            )
            waiter.start()
            self._waiter = waiter
        self._blocking = True
        self._request.release()

    def _serve(self, request: threading.Lock) -> None:
        """The waiting thread: when asked (``request`` released), block in ``flock`` and hand
        the lock over, or let it go when no writer wants it any more; idle in between; end
        when the gate retires ``request`` (closing)."""
        while True:
            request.acquire()
            with self._mutex:
                fd = self._fd
                if self._request is not request or fd is None:
                    return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:  # the descriptor was closed
                with self._mutex:
                    if self._request is request:
                        self._retire()
                    self._blocking = False
                return
            with self._mutex:
                self._blocking = False
                handed = self._wanted
                if handed:
                    self._held = True
                    self._wanted = False
                else:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            if handed:
                try:
                    self._handoff.release()
                except RuntimeError:  # still released by a hand-off nobody took: it wakes too
                    pass

    def _retire(self) -> threading.Lock:
        """Let the waiting thread go (under ``_mutex``): a later wait starts another, with a
        request lock of its own; return the old thread's, to wake it."""
        retired, self._request, self._waiter = self._request, _locked(), None
        return retired

    def release(self) -> None:
        """Let the next writer in."""
        try:
            with self._mutex:
                try:
                    if fcntl is not None and self._held and self._pid == os.getpid():
                        assert self._fd is not None
                        fcntl.flock(self._fd, fcntl.LOCK_UN)
                finally:
                    self._held = False
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Close the lock file's descriptor unless a writer holds or awaits the gate (the file
        stays, empty; a later writer opens it again)."""
        if not self._thread_lock.acquire(blocking=False):
            return
        try:
            with self._mutex:
                if self._blocking or self._pid != os.getpid():
                    return
                if self._waiter is not None:  # idle: let it end
                    self._retire().release()
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
        finally:
            self._thread_lock.release()


def _locked() -> threading.Lock:
    """A new lock, already taken."""
    lock = threading.Lock()
    lock.acquire()
    return lock
