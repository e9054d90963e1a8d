"""The writer gate: writers of one SQLite file take turns without SQLite's backoff sleeps.

SQLite's busy handler retries a locked database after sleeping 1, 2, 5, ... up to 100 ms, so a
writer that arrived early can keep sleeping through the moments the lock is free while later
arrivals take it: with a dozen busy writer processes some wait for seconds. Before ``BEGIN
IMMEDIATE`` every writer of a file therefore takes the file's gate: a thread lock (the writers
of this process) and then an exclusive ``flock`` on ``<database>-writers.lock`` (the writers of
every process), polled every millisecond or two. The holder keeps it until its transaction
ends, so SQLite's own lock is then free at once. On systems without ``fcntl`` (Windows) only
the thread lock applies.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Final

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriterGate", "gate_path"]

_FIRST_PAUSE: Final = 0.0002
_LONGEST_PAUSE: Final = 0.001


def gate_path(database: str) -> str:
    """The lock file of the database at ``database``."""
    return database + "-writers.lock"


class WriterGate:
    """Take turns writing to the database at ``database`` (see the module docstring)."""

    def __init__(self, database: str) -> None:
        self._path = gate_path(database)
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = os.getpid()

    def _descriptor(self) -> int:
        """This process's descriptor of the lock file (reopened after a fork: a descriptor
        shared with the parent would share its lock)."""
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the gate; ``False`` when it stayed taken."""
        deadline = time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=timeout):
            return False
        if fcntl is None:  # pragma: no cover - Windows
            return True
        try:
            fd = self._descriptor()
            pause = _FIRST_PAUSE
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    pass
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._thread_lock.release()
                    return False
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, _LONGEST_PAUSE)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        """Let the next writer in."""
        try:
            if fcntl is not None and self._fd is not None and self._pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Close the lock file's descriptor unless a writer holds the gate (the file stays,
        empty; a later writer opens it again)."""
        if not self._thread_lock.acquire(blocking=False):
            return
        try:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None
        finally:
            self._thread_lock.release()
