"""Writers of one SQLite file take turns through its gate (issue 18: no writer, and no read's
audit append, left sleeping in SQLite's busy handler while others take the lock).

The gate is a thread lock plus an exclusive ``flock`` on ``<database>-writers.lock``, held from
before ``BEGIN IMMEDIATE`` to the end of the transaction.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path

import pytest

from custrec.backends import SQLiteStore
from custrec.backends._sqlite.gate import WriterGate, gate_path
from custrec.errors import StorageError
from custrec.testing._support import customer

from ._flock import hold_flock_in_another_process, let_go

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")


def test_the_gate_file_is_private_and_sits_beside_the_database(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "crm.sqlite")
    with store.transaction() as session:
        session.customers.add(customer())
        session.commit()
    store.close()
    lock = Path(gate_path(str(tmp_path / "crm.sqlite")))
    assert lock.exists()
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert lock.read_bytes() == b""


def test_a_writer_of_another_process_holding_the_gate_makes_writers_fail_typed(
    tmp_path: Path,
) -> None:
    database = str(tmp_path / "crm.sqlite")
    SQLiteStore(database, busy_timeout=0.2).close()
    holder = hold_flock_in_another_process(gate_path(database))
    try:
        store = SQLiteStore(database, busy_timeout=0.2)
        with (
            pytest.raises(StorageError, match="busy") as info,
            store.transaction() as session,
        ):
            session.customers.add(customer())
        assert info.value.retry_safe
        with store.transaction(readonly=True) as session:  # readers never take the gate
            assert session.customers.count() == 0
    finally:
        let_go(holder)
    with store.transaction() as session:  # released when its holder ended
        session.customers.add(customer())
        session.commit()
    store.close()


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    gate = WriterGate(str(tmp_path / "db"))
    assert gate.acquire(1.0)
    entered = threading.Event()

    def second() -> None:
        assert gate.acquire(30.0)
        entered.set()
        gate.release()

    thread = threading.Thread(target=second)
    thread.start()
    assert not entered.is_set(), "the second writer entered while the first held the gate"
    assert gate.acquire(0.0) is False
    gate.release()
    thread.join(30)
    assert entered.is_set()
    gate.close()


def test_a_forked_child_does_not_share_its_parents_gate(tmp_path: Path) -> None:
    gate = WriterGate(str(tmp_path / "db"))
    assert gate.acquire(1.0)  # the parent holds it
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        gate._thread_lock = threading.Lock()  # the child's copy of a held thread lock
        os.write(writer, b"1" if gate.acquire(0.05) is False else b"0")
        os._exit(0)
    os.close(writer)
    answer = os.read(reader, 1)
    os.waitpid(pid, 0)
    gate.release()
    gate.close()
    assert answer == b"1", "the child took the gate its parent held"


def test_a_waiting_writer_gets_the_gate_when_the_other_process_lets_go(tmp_path: Path) -> None:
    """No polling: the gate's waiting thread is woken by the kernel; a writer that gave up
    leaves it waiting, and the next writer of the process is handed the lock."""
    database = str(tmp_path / "db")
    gate = WriterGate(database)
    holder = hold_flock_in_another_process(gate_path(database))
    outcome: list[bool] = []
    try:
        assert gate.acquire(0.05) is False  # gave up: the other process holds it
        waiting = threading.Thread(target=lambda: outcome.append(gate.acquire(30.0)))
        waiting.start()
    finally:
        let_go(holder)
    waiting.join(30)
    assert outcome == [True]
    gate.release()
    assert gate.acquire(0.0) is True  # free again, taken without waiting
    gate.release()
    gate.close()


def test_one_waiting_thread_serves_every_wait_until_the_gate_closes(tmp_path: Path) -> None:
    """The thread that blocks in ``flock`` is started by the first wait and reused by the
    next ones (starting one per wait cost CPU on every contended write); closing ends it."""
    database = str(tmp_path / "db")
    gate = WriterGate(database)
    waiters = []
    for _ in range(2):
        holder = hold_flock_in_another_process(gate_path(database))
        outcome: list[bool] = []
        try:
            waiting = threading.Thread(target=lambda out=outcome: out.append(gate.acquire(30.0)))
            waiting.start()
            while not gate._blocking:  # the waiting thread is in its flock() call
                threading.Event().wait(0.001)
            waiters.append(gate._waiter)
        finally:
            let_go(holder)
        waiting.join(30)
        assert outcome == [True]
        gate.release()
    assert waiters[0] is not None and waiters[0] is waiters[1]
    gate.close()
    waiters[0].join(30)
    assert not waiters[0].is_alive()
    assert gate.acquire(0.0) is True  # the descriptor is opened again
    gate.release()
    gate.close()
