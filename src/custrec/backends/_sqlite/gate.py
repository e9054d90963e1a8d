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
waits on that thread with its timeout. A writer that gives up leaves the call to finish; the
gate then hands the lock to the next writer of this process, or lets it go at once. The thread
is started by the first writer that has to wait and then stays, idle between waits, until the
gate is closed: under contention nearly every write waits, and starting a thread for each
costed about 0.1 ms of CPU. On systems without ``fcntl`` (Windows) only the thread lock
applies.
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
        self._thread_lock = threading.Lock()  # one writer of this process at a time
        self._state = threading.Condition()
        self._fd: int | None = None
        self._pid = os.getpid()
        self._wanted = False  # a writer of this process waits for the flock
        self._held = False  # this process holds the flock
        self._waiter: threading.Thread | None = None  # makes the blocking flock() calls
        self._blocking = False  # ... and is asked to make one (or is in it)
        self._stop = False  # ... and should end once idle (the gate is closing)

    def _descriptor(self) -> int:
        """This process's descriptor of the lock file, opened on first use."""
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def _forget_parent(self) -> None:
        """In a forked child: the parent's descriptor would share its lock, and its locks'
        states and waiting thread are not the child's."""
        self._thread_lock = threading.Lock()
        self._state = threading.Condition()
        self._fd = None
        self._wanted = self._held = self._blocking = self._stop = False
        self._waiter = None
        self._pid = os.getpid()

    def acquire(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the gate; ``False`` when it stayed taken."""
        deadline = time.monotonic() + timeout
        if self._pid != os.getpid():
            self._forget_parent()
        if not self._thread_lock.acquire(timeout=timeout):
            return False
        if fcntl is None:  # pragma: no cover - Windows
            return True
        try:
            if self._take(deadline):
                return True
        except BaseException:
            self._thread_lock.release()
            raise
        self._thread_lock.release()
        return False

    def _take(self, deadline: float) -> bool:
        fd = self._descriptor()
        with self._state:
            # while the thread is in its flock() call, another call on the same descriptor
            # would not conflict with it: wait for that one instead
            if not self._blocking:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    self._held = True
                    return True
                except BlockingIOError:
                    pass
                self._blocking = True
                if self._waiter is None:
                    self._stop = False
                    self._waiter = threading.Thread(
                        target=self._serve, name="custrec-sqlite-gate", daemon=True
                    )
                    self._waiter.start()
                else:
                    self._state.notify_all()  # wake the idle thread
            self._wanted = True
            got = self._state.wait_for(lambda: self._held, timeout=deadline - time.monotonic())
            self._wanted = False
            return got

    def _serve(self) -> None:
        """The waiting thread: when asked, block in ``flock`` and hand the lock over (or let
        it go when no writer wants it any more); idle in between; end when the gate closes."""
        while True:
            with self._state:
                self._state.wait_for(lambda: self._blocking or self._stop)
                fd = self._fd
                if not self._blocking or fd is None:
                    self._waiter = None
                    self._blocking = False
                    self._state.notify_all()
                    return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:  # the descriptor was closed
                with self._state:
                    self._waiter = None
                    self._blocking = False
                    self._state.notify_all()
                return
            with self._state:
                self._blocking = False
                if self._wanted:
                    self._held = True
                    self._state.notify_all()
                else:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def release(self) -> None:
        """Let the next writer in."""
        try:
            with self._state:
                if fcntl is not None and self._held and self._pid == os.getpid():
                    assert self._fd is not None
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                self._held = False
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Close the lock file's descriptor unless a writer holds or awaits the gate (the file
        stays, empty; a later writer opens it again)."""
        if not self._thread_lock.acquire(blocking=False):
            return
        try:
            with self._state:
                if self._blocking or self._pid != os.getpid():
                    return
                if self._waiter is not None:  # idle: let it end
                    self._stop = True
                    self._state.notify_all()
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
        finally:
            self._thread_lock.release()
