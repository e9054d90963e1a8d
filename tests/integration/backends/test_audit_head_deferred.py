"""The audit head is written at most every ``audit_head_interval`` seconds (issue 18).

Commits that follow each other closely move the head once: the first after a quiet spell is
written at once, the others wait in memory and are written by the next advance that is due, by a
timer, before anything reads the head (``verify``), when the store closes and at exit. Nothing
here waits on a guessed pause: the timer test waits on the recorded head itself.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry, SQLiteStore
from custrec.errors import AuditIntegrityWarning, StorageError
from custrec.security import Checkpoint
from custrec.security.keys import generate_key_file
from custrec.services import FileAuditHead, StoreAuditHead, _deferred_head
from custrec.services.audit_head import HEAD_INTERVAL
from custrec.storage import Store

ADMIN = Actor(id="admin", roles={"admin", "unmask"})
AUDITOR = Actor(id="aud", roles={"auditor"})
KEEPER = Actor(id="keeper", roles={"admin", "auditor"})
LONG = 60.0  # the longest interval, which no test outlives: what waits is written on demand


def person(n: int) -> dict[str, object]:
    return {"kind": "individual", "name": f"顾{n}", "contacts": [{"phones": [f"1350000{n:04d}"]}]}


class CountingHead:
    """An AuditHead in memory that counts its writes (and can be told to fail)."""

    def __init__(self) -> None:
        self.recorded: Checkpoint | None = None
        self.writes = 0
        self.fail = False

    def read(self) -> Checkpoint | None:
        return self.recorded

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        if self.fail:
            raise StorageError("the head's disk is gone")
        self.writes += 1
        if self.recorded is not None and self.recorded.seq >= checkpoint.seq:
            return True
        if self.recorded is not None and not extends(self.recorded):
            return False
        self.recorded = checkpoint
        return True

    def replace(self, checkpoint: Checkpoint) -> None:
        self.recorded = checkpoint


def keyed(store: Store, head: CountingHead, interval: float) -> Registry:
    return Registry(
        store, keyring=KeyRing.generate(), audit_head=head, audit_head_interval=interval
    )


def assert_head_names_the_newest_entry(path: Path) -> None:
    """The head in the key store beside the SQLite database ``path`` names its newest entry."""
    with SQLiteStore(path) as store:
        newest = newest_seq(store)
        assert store.key_store is not None
        recorded = StoreAuditHead(store.key_store).read()
    assert recorded is not None and recorded.seq == newest


def newest_seq(store: Store) -> int:
    with store.transaction(readonly=True) as session:
        last = session.audit.last()
    assert last is not None
    return last.seq


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened: Store
    if request.param == "memory":
        opened = MemoryStore()
    elif request.param == "sqlite":
        opened = SQLiteStore(tmp_path / "crm.sqlite")
    else:
        from custrec.backends.postgres import PostgresStore

        dsn = request.getfixturevalue("postgres_dsn")
        opened = PostgresStore(dsn, schema=request.getfixturevalue("postgres_schema"))
    yield opened
    opened.close()


def test_commits_within_the_interval_move_the_head_once(store: Store) -> None:
    head = CountingHead()
    registry = Registry(
        store, keyring=KeyRing.generate(), audit_head=head, audit_head_interval=LONG
    )
    first = registry.customers.intake(person(0), actor=ADMIN)
    assert head.writes == 1  # the first commit after a quiet spell: at once
    for n in range(1, 6):
        registry.customers.intake(person(n), actor=ADMIN)
        registry.customers.get(first.id, actor=ADMIN)
    registry.audit.trail(actor=AUDITOR, limit=1)  # (PostgreSQL: seals what is queued)
    assert head.writes == 1
    assert head.recorded is not None and head.recorded.seq < newest_seq(store)
    assert registry.audit.verify(actor=AUDITOR).ok  # reading the head writes what waited
    assert head.writes == 2


def test_an_interval_of_zero_writes_the_head_after_every_commit(store: Store) -> None:
    head = CountingHead()
    registry = keyed(store, head, 0)
    for n in range(4):
        registry.customers.intake(person(n), actor=ADMIN)
        registry.audit.trail(actor=AUDITOR, limit=1)  # (PostgreSQL: seals what is queued)
        assert head.recorded is not None and head.recorded.seq >= newest_seq(store) - 1


def test_the_timer_writes_what_waits_within_the_interval(store: Store) -> None:
    head = CountingHead()
    registry = Registry(
        store, keyring=KeyRing.generate(), audit_head=head, audit_head_interval=0.05
    )
    for n in range(5):
        registry.customers.intake(person(n), actor=ADMIN)
    newest = newest_seq(store)
    deadline = time.monotonic() + 30
    while head.recorded is None or head.recorded.seq < newest:  # the state the timer moves
        assert time.monotonic() < deadline, "the timer did not write the waiting head in 30 s"
        time.sleep(0.005)
    assert head.recorded.seq == newest


def test_entries_deleted_while_the_head_waits_are_reported_as_truncated(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite"
    with SQLiteStore(path) as store:
        registry = Registry(store, keyring=KeyRing.generate(), audit_head_interval=LONG)
        for n in range(5):
            registry.customers.intake(person(n), actor=ADMIN)
        with sqlite3.connect(path) as conn:  # an attacker with the database file
            conn.execute("DROP TRIGGER audit_no_delete")
            conn.execute("DELETE FROM audit WHERE seq > (SELECT max(seq) FROM audit) - 3")
        result = registry.audit.verify(actor=AUDITOR)
        assert not result.ok and result.problem == "truncated"


def test_closing_the_store_writes_the_waiting_head(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite"
    ring = KeyRing.generate()
    store = SQLiteStore(path)
    registry = Registry(store, keyring=ring, audit_head_interval=LONG)
    for n in range(4):
        registry.customers.intake(person(n), actor=ADMIN)
    store.close()
    assert_head_names_the_newest_entry(path)


def test_closing_any_builtin_store_writes_the_waiting_head(store: Store) -> None:
    head = CountingHead()
    registry = Registry(
        store, keyring=KeyRing.generate(), audit_head=head, audit_head_interval=LONG
    )
    for n in range(3):
        registry.customers.intake(person(n), actor=ADMIN)
    registry.audit.trail(actor=AUDITOR, limit=1)  # (PostgreSQL: seals what is queued)
    newest = newest_seq(store)
    assert head.recorded is not None and head.recorded.seq < newest
    store.close()
    assert head.recorded.seq == newest


def test_the_exit_of_the_process_writes_the_waiting_head(tmp_path: Path) -> None:
    path, keys = tmp_path / "crm.sqlite", tmp_path / "keys.json"
    generate_key_file(keys)
    script = textwrap.dedent(
        f"""
        from custrec import Actor, KeyRing, Registry, SQLiteStore
        ring = KeyRing.from_file({str(keys)!r})
        store = SQLiteStore({str(path)!r})  # never closed
        registry = Registry(store, keyring=ring, audit_head_interval={LONG})
        actor = Actor(id="admin", roles={{"admin"}})
        for n in range(4):
            phones = {{"phones": [f"135000{{n:05d}}"]}}
            record = {{"kind": "individual", "name": f"顾{{n}}", "contacts": [phones]}}
            registry.customers.intake(record, actor=actor)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, timeout=120)
    assert_head_names_the_newest_entry(path)


def _commit_in_a_child(path: str, keys: str) -> None:
    store = SQLiteStore(path)  # never closed: the child returns normally
    registry = Registry(store, keyring=KeyRing.from_file(keys), audit_head_interval=LONG)
    for n in range(4):
        registry.customers.intake(person(10 + n), actor=ADMIN)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_multiprocessing_child_writes_its_waiting_head_when_it_returns(
    tmp_path: Path, method: str
) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    path, keys = tmp_path / "crm.sqlite", tmp_path / "keys.json"
    generate_key_file(keys)
    child = multiprocessing.get_context(method).Process(
        target=_commit_in_a_child, args=(str(path), str(keys))
    )
    child.start()
    child.join(120)
    assert child.exitcode == 0
    assert_head_names_the_newest_entry(path)


def _exit_quietly() -> None:
    pass


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="POSIX fork")
def test_a_forked_child_leaves_its_parents_waiting_head_to_the_parent(tmp_path: Path) -> None:
    head_path = tmp_path / "head.json"
    with SQLiteStore(tmp_path / "crm.sqlite") as store:
        registry = Registry(
            store, keyring=KeyRing.generate(), audit_head=head_path, audit_head_interval=LONG
        )
        for n in range(3):
            registry.customers.intake(person(n), actor=ADMIN)
        before = FileAuditHead(head_path).read()
        assert before is not None and before.seq < newest_seq(store)
        child = multiprocessing.get_context("fork").Process(target=_exit_quietly)
        child.start()
        child.join(120)
        assert child.exitcode == 0
        after_child = FileAuditHead(head_path).read()
        assert after_child is not None and after_child.seq == before.seq
        newest = newest_seq(store)
    recorded = FileAuditHead(head_path).read()  # the parent wrote it when its store closed
    assert recorded is not None and recorded.seq == newest


def test_a_head_that_cannot_be_written_warns_when_it_is_due(store: Store) -> None:
    head = CountingHead()
    registry = Registry(
        store, keyring=KeyRing.generate(), audit_head=head, audit_head_interval=LONG
    )
    registry.customers.intake(person(0), actor=ADMIN)
    registry.customers.intake(person(1), actor=ADMIN)  # waits
    head.fail = True
    with pytest.warns(RuntimeWarning, match="audit head could not be advanced"):
        assert registry.audit.verify(actor=AUDITOR).ok  # against the head written before
    head.fail = False  # the next write covers what failed
    before = newest_seq(store)  # the first verification's own entry included
    assert registry.audit.verify(actor=AUDITOR).ok
    assert head.recorded is not None and head.recorded.seq == before


@pytest.mark.filterwarnings("ignore::custrec.errors.AuditIntegrityWarning")  # the refusals
def test_a_log_cut_below_the_recorded_head_while_an_advance_waits_never_verifies(
    tmp_path: Path,
) -> None:
    path = tmp_path / "crm.sqlite"
    head = CountingHead()
    with SQLiteStore(path) as store:
        registry = keyed(store, head, LONG)
        registry.customers.intake(person(0), actor=ADMIN)
        recorded = head.recorded
        assert recorded is not None
        registry.customers.intake(person(1), actor=ADMIN)  # waits
        with sqlite3.connect(path) as conn:  # the recorded head's entry goes, and more
            conn.execute("DROP TRIGGER audit_no_delete")
            conn.execute("DELETE FROM audit WHERE seq >= ?", (recorded.seq,))
        for n in range(2, 5):
            registry.customers.intake(person(n), actor=ADMIN)  # the log grows again
        results = [registry.audit.verify(actor=AUDITOR) for _ in range(3)]
    assert all(r.problem in {"truncated", "checkpoint_mismatch"} for r in results)


@pytest.mark.parametrize("interval", [-0.1, 60.5, float("nan"), float("inf")])
def test_an_interval_outside_zero_to_sixty_seconds_is_refused(interval: float) -> None:
    with pytest.raises(ValueError, match="audit_head_interval"):
        Registry(MemoryStore(), keyring=KeyRing.generate(), audit_head_interval=interval)


@pytest.mark.parametrize("interval", ["0.05", True, None])
def test_an_interval_that_is_not_a_number_is_refused(interval: object) -> None:
    with pytest.raises(TypeError, match="audit_head_interval"):
        Registry(MemoryStore(), keyring=KeyRing.generate(), audit_head_interval=interval)  # type: ignore[arg-type]


def test_by_default_the_head_is_written_after_every_commit(store: Store) -> None:
    assert HEAD_INTERVAL == 0
    head = CountingHead()
    registry = Registry(store, keyring=KeyRing.generate(), audit_head=head)
    for n in range(3):
        registry.customers.intake(person(n), actor=ADMIN)
        registry.audit.trail(actor=AUDITOR, limit=1)  # (PostgreSQL: seals what is queued)
        assert head.recorded is not None and head.recorded.seq >= newest_seq(store) - 1


def test_reading_the_head_writes_what_every_registry_of_the_process_deferred(
    tmp_path: Path,
) -> None:
    path, ring = tmp_path / "crm.sqlite", KeyRing.generate()
    with SQLiteStore(path) as one_store, SQLiteStore(path) as two_store:
        one = Registry(one_store, keyring=ring, audit_head_interval=LONG)
        two = Registry(two_store, keyring=ring, audit_head_interval=LONG)
        for n in range(3):
            one.customers.intake(person(n), actor=ADMIN)  # the last two wait in `one`
        newest = newest_seq(one_store)
        checkpoint = two.audit.checkpoint(actor=AUDITOR)  # reads the head: `one` writes first
        assert checkpoint.seq >= newest
        assert two_store.key_store is not None
        recorded = StoreAuditHead(two_store.key_store).read()
        assert recorded is not None and recorded.seq >= newest


def test_replacing_the_head_keeps_a_newer_waiting_checkpoint(store: Store) -> None:
    head = CountingHead()
    registry = keyed(store, head, LONG)
    registry.customers.intake(person(0), actor=ADMIN)
    older = head.recorded
    assert older is not None
    registry.customers.intake(person(1), actor=ADMIN)  # waits
    registry._context.head.replace(older)  # type: ignore[union-attr]  # an older replacement
    assert registry.audit.verify(actor=AUDITOR).ok
    assert head.recorded is not None and head.recorded.seq > older.seq


def test_a_log_cut_above_the_recorded_head_and_grown_again_while_checkpoints_wait_never_verifies(
    tmp_path: Path,
) -> None:
    path = tmp_path / "crm.sqlite"
    with SQLiteStore(path) as store:
        registry = Registry(store, keyring=KeyRing.generate(), audit_head_interval=LONG)
        first = registry.customers.intake(person(0), actor=ADMIN)  # written at once: seq 1
        registry.customers.get(first.id, actor=ADMIN)  # waits
        registry.customers.get(first.id, actor=ADMIN)  # waits
        with sqlite3.connect(path) as conn:  # cut above the recorded head only
            conn.execute("DROP TRIGGER audit_no_delete")
            conn.execute("DELETE FROM audit WHERE seq > 1")
        for n in range(1, 5):  # the log outgrows the cut; the newest checkpoint follows it
            registry.customers.intake(person(n), actor=ADMIN)
        with pytest.warns(AuditIntegrityWarning):
            result = registry.audit.verify(actor=AUDITOR)
        assert not result.ok and result.problem in {"truncated", "checkpoint_mismatch"}


def test_a_single_threaded_program_on_an_in_memory_sqlite_store_never_waits_for_the_timer() -> None:
    store = SQLiteStore(":memory:", busy_timeout=5.0)
    registry = Registry(store, keyring=KeyRing.generate(), audit_head_interval=0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a head the timer could not write would warn
        for n in range(150):  # the timer writes between units, while the next one runs
            registry.customers.intake(person(n), actor=ADMIN)
        assert registry.audit.verify(actor=AUDITOR).ok
    store.close()


def test_a_refusal_found_by_the_timer_is_raised_in_the_applications_thread(
    tmp_path: Path,
) -> None:
    died: list[str] = []
    hook, threading.excepthook = threading.excepthook, lambda a: died.append(str(a.exc_type))
    try:
        path = tmp_path / "crm.sqlite"
        with SQLiteStore(path) as store:
            registry = Registry(store, keyring=KeyRing.generate(), audit_head_interval=2.0)
            registry.customers.intake(person(0), actor=ADMIN)  # written at once
            with sqlite3.connect(path) as conn:
                conn.execute("DROP TRIGGER audit_no_delete")
                conn.execute("DELETE FROM audit")
            for n in (1, 2):  # wait, past the recorded head's seq: the timer refuses them
                registry.customers.intake(person(n), actor=ADMIN)
            head = registry._context.head
            assert isinstance(head, _deferred_head.DeferredHead)
            deadline = time.monotonic() + 30
            while not head._refused:  # the state the timer leaves for the next caller
                assert time.monotonic() < deadline, "the timer did not write in 30 s"
                time.sleep(0.005)
            with warnings.catch_warnings():
                warnings.simplefilter("error", AuditIntegrityWarning)
                with pytest.raises(AuditIntegrityWarning):
                    registry.customers.intake(person(3), actor=ADMIN)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AuditIntegrityWarning)
                store.close()
    finally:
        threading.excepthook = hook
    assert died == []


def test_a_head_that_cannot_be_written_when_the_store_closes_warns(store: Store) -> None:
    head = CountingHead()
    registry = keyed(store, head, LONG)
    registry.customers.intake(person(0), actor=ADMIN)
    registry.customers.intake(person(1), actor=ADMIN)  # waits
    registry.audit.trail(actor=AUDITOR, limit=1)  # (PostgreSQL: seals what is queued)
    head.fail = True
    with pytest.warns(RuntimeWarning, match="audit head could not be advanced"):
        store.close()


def test_one_head_that_fails_at_exit_does_not_keep_the_others_waiting() -> None:
    class Broken(CountingHead):
        def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
            raise ValueError("a bug in a custom head")

    bad, good = Broken(), CountingHead()
    stores = [MemoryStore(), MemoryStore()]
    one, two = keyed(stores[0], bad, LONG), keyed(stores[1], good, LONG)
    bad.advance = CountingHead().advance  # type: ignore[method-assign]  # the first write works
    one.customers.intake(person(0), actor=ADMIN)
    del bad.advance  # type: ignore[attr-defined]
    one.customers.intake(person(1), actor=ADMIN)  # waits, and will fail
    for n in range(2):
        two.customers.intake(person(n), actor=ADMIN)
    with pytest.warns(RuntimeWarning, match="could not be written"):
        _deferred_head._flush_live()  # what the interpreter's exit runs
    assert good.recorded is not None and good.recorded.seq == newest_seq(stores[1])


def test_an_interval_is_checked_without_a_keyring_too() -> None:
    with pytest.raises(ValueError, match="interval"):
        Registry(MemoryStore(), audit_head_interval=-5)


@pytest.mark.parametrize("interval", [0, LONG])
def test_another_writers_head_moving_past_entries_cut_while_they_wait_never_verifies(
    tmp_path: Path, interval: float
) -> None:
    path, ring = tmp_path / "crm.sqlite", KeyRing.generate()
    with SQLiteStore(path) as one_store, SQLiteStore(path) as two_store:
        one = Registry(one_store, keyring=ring, audit_head_interval=interval)
        two = Registry(two_store, keyring=ring, audit_head_interval=0)  # another process
        first = one.customers.intake(person(0), actor=ADMIN)  # written at once
        cut = newest_seq(one_store)
        one.customers.get(first.id, actor=ADMIN)  # (with an interval) these wait
        one.customers.get(first.id, actor=ADMIN)
        with sqlite3.connect(path) as conn:  # the attacker cuts what waited
            conn.execute("DROP TRIGGER audit_no_delete")
            conn.execute("DELETE FROM audit WHERE seq > ?", (cut,))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AuditIntegrityWarning)
            for n in range(1, 4):  # the other writer's commits grow the log past the cut
                two.customers.intake(person(n), actor=ADMIN)
            results = [two.audit.verify(actor=AUDITOR), one.audit.verify(actor=AUDITOR)]
            one.customers.intake(person(9), actor=ADMIN)
            results.append(two.audit.verify(actor=AUDITOR))
    assert [r.ok for r in results] == [False, False, False]


class _LateAdvances:
    """Stands in for threads preempted between their commit and their head's advance: the
    advances of the sequence numbers in ``hold`` are passed on only at :meth:`release`."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.hold: set[int] = set()
        self.held: list[tuple[Checkpoint, Callable[[Checkpoint], bool]]] = []

    def read(self) -> Checkpoint | None:
        return self.inner.read()  # type: ignore[attr-defined, no-any-return]

    def replace(self, checkpoint: Checkpoint) -> None:
        self.inner.replace(checkpoint)  # type: ignore[attr-defined]

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        if checkpoint.seq in self.hold:
            self.held.append((checkpoint, extends))
            return True
        return self.inner.advance(checkpoint, extends=extends)  # type: ignore[attr-defined, no-any-return]

    def release(self) -> None:
        for checkpoint, extends in self.held:
            self.inner.advance(checkpoint, extends=extends)  # type: ignore[attr-defined]
        self.held = []


@pytest.mark.filterwarnings("ignore::custrec.errors.AuditIntegrityWarning")
@pytest.mark.parametrize("interval", [0, LONG])
def test_a_cut_entry_and_its_regrown_successor_at_one_seq_never_verify(
    tmp_path: Path, interval: float
) -> None:
    path = tmp_path / "crm.sqlite"
    with SQLiteStore(path) as store:
        registry = Registry(store, keyring=KeyRing.generate(), audit_head_interval=interval)
        late = _LateAdvances(registry._context.head)
        registry._context.head = late  # type: ignore[assignment]
        first = registry.customers.intake(person(0), actor=ADMIN)
        cut = newest_seq(store)
        registry.customers.get(first.id, actor=ADMIN)  # cut + 1 and cut + 2 (waiting)
        registry.customers.get(first.id, actor=ADMIN)
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TRIGGER audit_no_delete")
            conn.execute("DELETE FROM audit WHERE seq > ?", (cut,))
        late.hold = {cut + 1, cut + 2}
        for _ in range(3):  # cut + 1 and cut + 2 again (their advances late), then cut + 3
            registry.customers.get(first.id, actor=ADMIN)
        late.hold = set()
        late.release()
        registry.customers.get(first.id, actor=ADMIN)
        assert not registry.audit.verify(actor=AUDITOR).ok


CHILD = """
import multiprocessing
import sys


def work(path, keys):
    from custrec import Actor, KeyRing, Registry, SQLiteStore  # imported in the child only

    ring = KeyRing.from_file(keys)
    registry = Registry(SQLiteStore(path), keyring=ring, audit_head_interval=60)
    for n in range(4):
        phones = {"phones": [f"1350000{n:04d}"]}
        record = {"kind": "individual", "name": f"顾{n}", "contacts": [phones]}
        registry.customers.intake(record, actor=Actor(id="admin", roles={"admin"}))


if __name__ == "__main__":
    child = multiprocessing.get_context(sys.argv[1]).Process(target=work, args=sys.argv[2:])
    child.start()
    child.join(120)
    sys.exit(child.exitcode)
"""


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_a_child_importing_custrec_only_itself_writes_its_waiting_head_when_it_returns(
    tmp_path: Path, method: str
) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    script, path, keys = tmp_path / "child.py", tmp_path / "crm.sqlite", tmp_path / "keys.json"
    script.write_text(CHILD, encoding="utf-8")
    generate_key_file(keys)
    subprocess.run(
        [sys.executable, str(script), method, str(path), str(keys)],
        check=True,
        cwd=tmp_path,
        timeout=180,
    )
    assert_head_names_the_newest_entry(path)


def test_many_registries_share_one_timer_thread_which_lets_them_go_once_written() -> None:
    import gc
    import weakref

    before = threading.active_count()
    heads, counting, stores = [], [], []
    for n in range(50):
        head, store = CountingHead(), MemoryStore()
        registry = keyed(store, head, 0.05)
        registry.customers.intake(person(2 * n), actor=ADMIN)
        registry.customers.intake(person(2 * n + 1), actor=ADMIN)  # waits: the timer writes it
        heads.append(weakref.ref(registry._context.head))
        counting.append(head)
        stores.append(store)
        del registry
    assert threading.active_count() <= before + 1
    deadline = time.monotonic() + 30
    for head, store in zip(counting, stores, strict=True):  # dropped, and still written
        while head.recorded is None or head.recorded.seq < newest_seq(store):
            assert time.monotonic() < deadline, "the timer did not write a dropped registry's head"
            time.sleep(0.005)
    gc.collect()
    assert [h for h in heads if h() is not None] == []


@pytest.mark.parametrize("interval", [0.05, 0])
def test_an_entry_altered_for_a_moment_below_another_writers_head_never_rolls_the_head_back(
    tmp_path: Path, interval: float
) -> None:
    path, keys, ring = tmp_path / "crm.sqlite", tmp_path / "keys.sqlite", KeyRing.generate()
    with (
        SQLiteStore(path) as one_store,
        SQLiteStore(keys) as one_keys,
        SQLiteStore(path) as two_store,
        SQLiteStore(keys) as two_keys,
    ):
        one = Registry(one_store, keyring=ring, key_store=one_keys, audit_head_interval=LONG)
        two = Registry(two_store, keyring=ring, key_store=two_keys, audit_head_interval=0)
        first = one.customers.intake(person(0), actor=ADMIN)  # written at once
        one.customers.get(first.id, actor=ADMIN)  # waits
        waiting = newest_seq(one_store)
        two.customers.get(first.id, actor=ADMIN)  # another writer's head moves past it
        conn = sqlite3.connect(path, isolation_level=None)  # the attacker, database file only
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("DROP TRIGGER audit_no_delete")
        (chain,) = conn.execute("SELECT chain FROM audit WHERE seq = ?", (waiting,)).fetchone()
        conn.execute("UPDATE audit SET chain = ? WHERE seq = ?", (bytes(len(chain)), waiting))
        with pytest.warns(AuditIntegrityWarning):
            one._context.head.read()  # type: ignore[union-attr]  # the waiting head is written
        conn.execute("UPDATE audit SET chain = ? WHERE seq = ?", (chain, waiting))  # put back
        conn.execute("DELETE FROM audit WHERE seq > ?", (waiting,))  # the cut to hide
        conn.close()
    with SQLiteStore(path) as store, SQLiteStore(keys) as key_store:  # an auditor, later
        auditor = Registry(store, keyring=ring, key_store=key_store, audit_head_interval=interval)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AuditIntegrityWarning)
            result = auditor.audit.verify(actor=AUDITOR)
            assert not result.ok
            assert result.problem in {"entry_lost", "truncated", "checkpoint_mismatch"}
            auditor.audit.reset_head(actor=KEEPER, reason="investigated: ticket 7")
        assert auditor.audit.verify(actor=AUDITOR).ok  # acknowledged: the evidence is gone


def test_evidence_of_a_lost_entry_is_kept_beside_a_file_head_until_reset(tmp_path: Path) -> None:
    path, head_path, ring = tmp_path / "crm.sqlite", tmp_path / "head.json", KeyRing.generate()
    with SQLiteStore(path) as store:
        registry = Registry(store, keyring=ring, audit_head=head_path, audit_head_interval=LONG)
        first = registry.customers.intake(person(0), actor=ADMIN)
        registry.customers.get(first.id, actor=ADMIN)  # waits
        registry.customers.get(first.id, actor=ADMIN)  # waits
        waiting = newest_seq(store)
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TRIGGER audit_no_delete")
            conn.execute("DELETE FROM audit WHERE seq >= ?", (waiting,))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AuditIntegrityWarning)
            assert registry.audit.verify(actor=AUDITOR).problem in {"entry_lost", "truncated"}
        lost = FileAuditHead(head_path).lost()
        assert lost is not None and lost.seq == waiting
        assert stat.S_IMODE(os.stat(str(head_path) + ".lost").st_mode) == 0o600
        registry.audit.reset_head(actor=KEEPER, reason="investigated: ticket 8")
        assert FileAuditHead(head_path).lost() is None
        assert registry.audit.verify(actor=AUDITOR).ok


def test_a_timer_that_cannot_start_leaves_the_head_written_at_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(_deferred_head.threading.Thread, "start", refuse)
    monkeypatch.setattr(_deferred_head, "_TIMER", _deferred_head._Timer())  # no thread yet
    head = CountingHead()
    registry = keyed(store, head, LONG)
    for n in range(3):
        registry.customers.intake(person(n), actor=ADMIN)  # never raises
    registry.audit.trail(actor=AUDITOR, limit=1)  # (PostgreSQL: seals what is queued)
    assert head.recorded is not None and head.recorded.seq == newest_seq(store)


def test_commits_made_by_a_later_exit_handler_are_written_at_once(tmp_path: Path) -> None:
    path, keys = tmp_path / "crm.sqlite", tmp_path / "keys.json"
    generate_key_file(keys)
    script = textwrap.dedent(
        f"""
        import atexit

        state = {{}}


        def on_exit():  # registered before custrec is imported: it runs after custrec's
            for _ in range(3):
                state["registry"].customers.get(state["id"], actor=state["actor"])


        atexit.register(on_exit)
        from custrec import Actor, KeyRing, Registry, SQLiteStore

        state["actor"] = Actor(id="admin", roles={{"admin"}})
        state["registry"] = Registry(
            SQLiteStore({str(path)!r}),
            keyring=KeyRing.from_file({str(keys)!r}),
            audit_head_interval={LONG},
        )
        phones = {{"phones": ["13500000001"]}}
        record = {{"kind": "individual", "name": "顾一", "contacts": [phones]}}
        state["id"] = state["registry"].customers.intake(record, actor=state["actor"]).id
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, timeout=120)
    assert_head_names_the_newest_entry(path)


class _ThreadRecordingHead(CountingHead):
    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        self.threads.append(threading.current_thread().name)
        return super().advance(checkpoint, extends=extends)


def test_while_commits_keep_coming_the_committing_thread_writes_the_head() -> None:
    # A specification of who writes, not a regression test of the GIL hand-offs it avoids: the
    # code before also let the committing thread win here; the context switches the timer's
    # wake-ups cost are measured by benchmarks/bench_load.py (docs/performance.md).
    head, store = _ThreadRecordingHead(), MemoryStore()
    registry = keyed(store, head, 0.1)
    first = registry.customers.intake(person(0), actor=ADMIN)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:  # a busy spell: a commit every millisecond or so
        registry.customers.get(first.id, actor=ADMIN)
    busy = list(head.threads)
    assert busy.count("MainThread") >= 5
    assert busy.count("custrec-audit-head") <= 2  # (only when this machine paused the loop)
    newest = newest_seq(store)
    deadline = time.monotonic() + 30
    while head.recorded is None or head.recorded.seq < newest:  # then the commits pause
        assert time.monotonic() < deadline, "the timer did not write after the spell"
        time.sleep(0.005)
    assert head.threads[-1] == "custrec-audit-head"


@pytest.mark.parametrize("content", [b"\xff\xfe garbage", b"{not json", b"[" * 100_000])
def test_a_corrupt_head_or_evidence_file_is_a_storage_error(tmp_path: Path, content: bytes) -> None:
    head_path = tmp_path / "head.json"
    for path in (head_path, tmp_path / "head.json.lost"):
        path.write_bytes(content)
    with pytest.raises(StorageError, match="malformed"):
        FileAuditHead(head_path).read()
    with pytest.raises(StorageError, match="malformed"):
        FileAuditHead(head_path).lost()
