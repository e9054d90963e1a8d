"""The SQLite writer gate under contention: how a waiting writer is handed the lock (issue 18).

When another process holds the gate, a writer waits for the gate's thread to get the ``flock``
for it, sleeping on one lock that the thread releases; whatever ends the wait (the timeout, the
hand-off or an exception), the process never keeps the ``flock`` for a writer that left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pytest

from custrec.backends._sqlite.gate import WriterGate, gate_path

from ._flock import held_elsewhere, hold_flock_in_another_process, let_go

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")

_TAKE_AND_LET_GO = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
    "try:\n"
    "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    "except BlockingIOError:\n"
    "    sys.exit(1)\n"
)


def free_for_other_processes(path: str) -> bool:
    """Whether another process can take the flock on ``path`` now."""
    taker = subprocess.run([sys.executable, "-c", _TAKE_AND_LET_GO, path], timeout=60)
    return taker.returncode == 0


def wait_until(condition: Callable[[], bool]) -> None:
    """Wait for a state of the gate (checked every millisecond, for at most about 30 s)."""
    for _ in range(30_000):
        if condition():
            return
        threading.Event().wait(0.001)
    raise AssertionError("the gate never reached the awaited state")


class Interrupted(Exception):
    pass


def test_a_writer_interrupted_while_waiting_leaves_the_flock_to_others(tmp_path: Path) -> None:
    """A signal handler that raises (a Ctrl-C, say) ends the wait; when the other process lets
    go, the gate's thread gets the flock for nobody and must let it go at once."""
    database = str(tmp_path / "db")
    gate = WriterGate(database)
    lock_file = gate_path(database)

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Interrupted

    def interrupt_the_wait() -> None:
        wait_until(lambda: gate._blocking and gate._wanted)
        os.kill(os.getpid(), signal.SIGUSR1)  # handled by the main thread, which waits

    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        with held_elsewhere(lock_file):
            sender = threading.Thread(target=interrupt_the_wait)
            sender.start()
            with pytest.raises(Interrupted):
                gate.acquire(60.0)
            sender.join(30)
        wait_until(lambda: not gate._blocking)  # the thread's flock() call has returned
        assert free_for_other_processes(lock_file)
        assert gate.acquire(1.0)  # and this process's writers still get it
        gate.release()
    finally:
        signal.signal(signal.SIGUSR1, previous)
        gate.close()


def test_writers_of_one_process_waiting_in_turn_are_each_handed_the_flock(
    tmp_path: Path,
) -> None:
    """Three threads wait while another process holds the gate; each gets it in turn (one
    hand-off each, or the flock taken at once once free), and afterwards nobody holds it."""
    database = str(tmp_path / "db")
    gate = WriterGate(database)
    lock_file = gate_path(database)
    inside = 0
    most_inside = 0
    entries: list[int] = []
    guard = threading.Lock()

    def writer(n: int) -> None:
        nonlocal inside, most_inside
        assert gate.acquire(60.0)
        with guard:
            inside += 1
            most_inside = max(most_inside, inside)
            entries.append(n)
        with guard:
            inside -= 1
        gate.release()

    with held_elsewhere(lock_file):
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        wait_until(lambda: gate._blocking and gate._wanted)
    for thread in threads:
        thread.join(60)
    assert sorted(entries) == [0, 1, 2]
    assert most_inside == 1
    assert not gate._blocking and not gate._held
    assert free_for_other_processes(lock_file)
    gate.close()


def test_a_writer_that_gives_up_as_the_flock_arrives_still_leaves_the_gate_consistent(
    tmp_path: Path,
) -> None:
    """Short waits that time out while the other process still holds the gate; then one that
    outlasts it. Every outcome is a clean ``True`` or ``False``, and the gate ends free."""
    database = str(tmp_path / "db")
    gate = WriterGate(database)
    lock_file = gate_path(database)
    with held_elsewhere(lock_file):
        assert [gate.acquire(0.01) for _ in range(5)] == [False] * 5
        outcome: list[bool] = []
        waiting = threading.Thread(target=lambda: outcome.append(gate.acquire(60.0)))
        waiting.start()
        wait_until(lambda: gate._wanted)
    waiting.join(60)
    assert outcome == [True]
    gate.release()
    assert gate.acquire(0.0)
    gate.release()
    assert free_for_other_processes(lock_file)
    gate.close()


def test_a_writer_interrupted_just_as_it_is_handed_the_flock_lets_it_go(tmp_path: Path) -> None:
    """The signal is pending while the writer sleeps (sent to another thread, it runs in the
    main thread at its next step): the handler raises right after the hand-off woke the
    writer. The writer must neither hang nor keep the flock (found by review: the code before
    blocked for ever on a second hand-off)."""
    database = str(tmp_path / "db")
    gate = WriterGate(database)
    lock_file = gate_path(database)
    outcome: list[str] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Interrupted

    def hand_over_with_a_signal_pending() -> None:
        wait_until(lambda: gate._blocking and gate._wanted)
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)  # pending, not delivered
        let_go(holder)  # the gate's thread gets the flock and hands it to the sleeping writer

    def writer() -> None:
        try:
            gate.acquire(60.0)
            outcome.append("acquired")
            gate.release()
        except Interrupted:
            outcome.append("interrupted")

    def hung(signum: int, frame: FrameType | None) -> None:
        raise AssertionError("the interrupted writer hung")

    main = threading.get_ident()
    done = threading.Event()

    def watchdog() -> None:  # a hang becomes a failure: lock waits end on a raising handler
        if not done.wait(30):
            signal.pthread_kill(main, signal.SIGUSR2)

    previous = signal.signal(signal.SIGUSR1, interrupt)
    previous_hung = signal.signal(signal.SIGUSR2, hung)
    holder = hold_flock_in_another_process(lock_file)
    try:
        sender = threading.Thread(target=hand_over_with_a_signal_pending)
        sender.start()
        threading.Thread(target=watchdog, daemon=True).start()
        writer()  # in the main thread, where signal handlers run
        done.set()
        sender.join(30)
        assert outcome in (["interrupted"], ["acquired"])
        wait_until(lambda: not gate._blocking)
        assert free_for_other_processes(lock_file)
        assert gate.acquire(1.0)  # this process's writers still get it
        gate.release()
    finally:
        done.set()
        signal.signal(signal.SIGUSR1, previous)
        signal.signal(signal.SIGUSR2, previous_hung)
        if holder.poll() is None:
            let_go(holder)
        gate.close()
