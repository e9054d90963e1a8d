"""Another process holding a file's exclusive ``flock`` (the SQLite writer gate's lock), for the
gate's tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_HOLD = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "print('held', flush=True)\n"
    "sys.stdin.readline()\n"
)


def hold_flock_in_another_process(path: str) -> subprocess.Popen[str]:
    """A process that holds an exclusive flock on ``path`` until a line arrives on its stdin."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def let_go(holder: subprocess.Popen[str]) -> None:
    """End a holder made by :func:`hold_flock_in_another_process`."""
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    holder.wait(30)


@contextmanager
def held_elsewhere(path: str) -> Iterator[None]:
    """Another process holds an exclusive flock on ``path`` for the block."""
    holder = hold_flock_in_another_process(path)
    try:
        yield
    finally:
        let_go(holder)
