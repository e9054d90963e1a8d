"""MemoryStore's read-only transactions are snapshots that wait for nobody.

A reader sees exactly the state committed when it began, for as long as it stays open: later
commits and a writer's uncommitted changes are invisible to every read, multi-call reads such
as keyset paging included. Readers begin while a writer is mid-transaction, and a writer
commits while readers are open. Writers still run one at a time and rollback undoes them.

Threads are ordered by queues and events only; every wait is bounded, so a backend that makes
a reader or a writer wait fails the test instead of hanging it.
"""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from custrec.backends import MemoryStore
from custrec.errors import NotFound, StorageError
from custrec.storage import Session
from custrec.storage.types import Capabilities
from custrec.testing._support import (
    activity,
    audit_entry,
    consent,
    customer,
    history_entry,
    minutes,
    wrapped_key,
)

BOUND = 10.0  # seconds: a bound for a blocked store, never a wait for time to pass

IDS = ("c0", "c1", "c2", "c3", "c4")
KEYS = ("k0", "k1", "k2")
ACTIVITY_IDS = ("a0", "a1", "a2", "a3")
META = ("m0", "m1")


class _Abort(Exception):
    """Raised inside a :class:`SessionThread`'s transaction block (see ``abort``)."""


_RAISE: Callable[[Session], Any] = lambda session: None  # noqa: E731 - a marker, never called


class SessionThread:
    """A thread holding one open transaction; :meth:`run` calls a function with its session
    in that thread and returns the result (or raises what it raised)."""

    def __init__(self, store: MemoryStore, *, readonly: bool) -> None:
        self._requests: queue.Queue[Callable[[Session], Any] | None] = queue.Queue()
        self._replies: queue.Queue[tuple[bool, Any]] = queue.Queue()
        self._thread = threading.Thread(
            target=self._main, args=(store, readonly), name="snapshot-session", daemon=True
        )
        self._thread.start()
        self._reply("the transaction did not begin: it waited for another one")

    def _main(self, store: MemoryStore, readonly: bool) -> None:
        try:
            with store.transaction(readonly=readonly) as session:
                self._replies.put((True, None))
                while (work := self._requests.get()) is not None:
                    if work is _RAISE:
                        raise _Abort
                    try:
                        self._replies.put((True, work(session)))
                    except BaseException as exc:  # handed to the caller of run
                        self._replies.put((False, exc))
        except _Abort:
            self._replies.put((True, None))
        except BaseException as exc:  # handed to the waiting caller
            self._replies.put((False, exc))

    def _reply(self, stuck: str) -> Any:
        try:
            ok, value = self._replies.get(timeout=BOUND)
        except queue.Empty:
            raise AssertionError(stuck) from None
        if not ok:
            raise value
        return value

    def run(self, work: Callable[[Session], Any]) -> Any:
        self._requests.put(work)
        return self._reply("the call did not finish: it waited for another transaction")

    def commit(self) -> None:
        self.run(lambda session: session.commit())

    def abort(self) -> None:
        """Raise an exception inside the transaction's block (which rolls it back)."""
        self._requests.put(_RAISE)
        self._reply("the transaction did not end")
        self.close()

    def close(self) -> None:
        """End the transaction (rolled back unless committed) and the thread."""
        self._requests.put(None)
        self._thread.join(BOUND)
        assert not self._thread.is_alive(), "the transaction did not end"


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    store = MemoryStore()
    yield store
    store.close()


@pytest.fixture
def sessions(store: MemoryStore) -> Iterator[Callable[..., SessionThread]]:
    """Open a transaction in its own thread (``readonly=True`` for a reader); all are closed
    after the test."""
    opened: list[SessionThread] = []

    def open_session(*, readonly: bool = True) -> SessionThread:
        opened.append(SessionThread(store, readonly=readonly))
        return opened[-1]

    yield open_session
    for session in reversed(opened):
        session.close()


def write(store: MemoryStore, work: Callable[[Session], object]) -> None:
    """Run ``work`` in a write transaction in its own thread and commit it."""
    writer = SessionThread(store, readonly=False)
    try:
        writer.run(work)
        writer.commit()
    finally:
        writer.close()


def read(store: MemoryStore, work: Callable[[Session], Any]) -> Any:
    """Run ``work`` in a fresh read-only transaction in its own thread."""
    reader = SessionThread(store, readonly=True)
    try:
        return reader.run(work)
    finally:
        reader.close()


# --------------------------------------------------------------------------- what a reader sees


def all_customers(session: Session) -> list[Any]:
    """Every customer, read two per call by keyset paging."""
    rows, after = [], None
    while page := session.customers.query(after=after, limit=2):
        rows += page
        after = page[-1].id
    return rows


def all_audit(session: Session) -> list[Any]:
    """The whole audit log, read two entries per call."""
    entries: list[Any] = []
    while page := session.audit.read(after_seq=entries[-1].seq if entries else 0, limit=2):
        entries += page
    return entries


def all_activities(session: Session, customer_id: str) -> list[Any]:
    """A customer's activities, read one per call."""
    rows: list[Any] = []
    while page := session.activities.list_for(
        customer_id, after=rows[-1].id if rows else None, limit=1
    ):
        rows += page
    return rows


def observe(session: Session) -> dict[str, Any]:
    """Everything a session can see of the ids, keys and names these tests use."""

    def version(customer_id: str) -> int | None:
        try:
            return session.customers.get(customer_id).version
        except NotFound:
            return None

    def key(customer_id: str) -> bytes | None:
        try:
            return session.keys.get(customer_id).wrapped
        except NotFound:
            return None

    last = session.audit.last()
    return {
        "customers": [
            (r.id, r.version, r.payload, sorted(r.index_keys)) for r in all_customers(session)
        ],
        "get": {c: version(c) for c in IDS},
        "count": session.customers.count(),
        "lookup": {k: session.customers.lookup(k) for k in KEYS},
        "lookup_many": session.customers.lookup_many(KEYS, limit=2),
        "activities": {c: [(a.id, a.payload) for a in all_activities(session, c)] for c in IDS},
        "history": {c: [(h.seq, h.payload) for h in session.history.list_for(c)] for c in IDS},
        "consents": {c: [(r.seq, r.payload) for r in session.consents.list_for(c)] for c in IDS},
        "audit": [(e.seq, e.reason) for e in all_audit(session)],
        "last": None if last is None else (last.seq, last.reason),
        "keys": [(k.customer_id, k.wrapped) for k in session.keys.list(limit=1000)],
        "key": {c: key(c) for c in IDS},
        "meta": {m: session.meta.get(m) for m in META},
    }


@attrs.define
class Model:
    """A brute-force model of what the store holds (only what :func:`observe` reads)."""

    customers: dict[str, tuple[int, bytes, frozenset[str]]] = attrs.Factory(dict)
    activities: dict[str, tuple[str, bytes]] = attrs.Factory(dict)
    history: dict[str, list[bytes]] = attrs.Factory(dict)
    consents: dict[str, list[bytes]] = attrs.Factory(dict)
    audit: list[str] = attrs.Factory(list)
    keys: dict[str, bytes] = attrs.Factory(dict)
    meta: dict[str, bytes] = attrs.Factory(dict)

    def expected(self) -> dict[str, Any]:
        """What :func:`observe` returns on a store holding this."""
        rows = sorted(self.customers.items())

        def ids_under(key: str) -> list[str]:
            return [c for c, (_, _, keys) in rows if key in keys]

        def ledger(entries: list[bytes]) -> list[tuple[int, bytes]]:
            return list(enumerate(entries, start=1))

        seqs = list(enumerate(self.audit, start=1))
        return {
            "customers": [(c, v, p, sorted(keys)) for c, (v, p, keys) in rows],
            "get": {c: self.customers[c][0] if c in self.customers else None for c in IDS},
            "count": len(rows),
            "lookup": {k: ids_under(k) for k in KEYS},
            "lookup_many": {k: ids_under(k)[:2] for k in KEYS if ids_under(k)},
            "activities": {
                c: [(a, p) for a, (owner, p) in sorted(self.activities.items()) if owner == c]
                for c in IDS
            },
            "history": {c: ledger(self.history.get(c, [])) for c in IDS},
            "consents": {c: ledger(self.consents.get(c, [])) for c in IDS},
            "audit": seqs,
            "last": seqs[-1] if seqs else None,
            "keys": sorted(self.keys.items()),
            "key": {c: self.keys.get(c) for c in IDS},
            "meta": {m: self.meta.get(m) for m in META},
        }


def seed(session: Session) -> None:
    """Two customers with index entries, an activity, ledgers, audit entries, keys and meta."""
    session.customers.add(customer("c0", payload=b"zero", index_keys={"k0", "k1"}))
    session.customers.add(customer("c2", payload=b"two", index_keys={"k1"}))
    session.activities.add(activity("c0", "a0", payload=b"first order"))
    session.history.append([history_entry("c0", payload=b"created")])
    session.consents.append(consent("c0", payload=b"granted"))
    session.audit.append([audit_entry("c0", reason="seed 1"), audit_entry(reason="seed 2")])
    session.keys.put(wrapped_key("c0", wrapped=b"key zero"))
    session.keys.put(wrapped_key("c2", wrapped=b"key two"))
    session.meta.put("m0", b"meta zero")


SEEDED = Model(
    customers={"c0": (1, b"zero", frozenset({"k0", "k1"})), "c2": (1, b"two", frozenset({"k1"}))},
    activities={"a0": ("c0", b"first order")},
    history={"c0": [b"created"]},
    consents={"c0": [b"granted"]},
    audit=["seed 1", "seed 2"],
    keys={"c0": b"key zero", "c2": b"key two"},
    meta={"m0": b"meta zero"},
)


def change_everything(session: Session) -> None:
    """Update c0 (moving it between index keys), delete c2, add c1 and c3, and write to every
    other table."""
    c0 = session.customers.get("c0")
    session.customers.update(
        attrs.evolve(c0, payload=b"zero v2", index_keys={"k1", "k2"}, updated_at=minutes(1)),
        expected_version=c0.version,
    )
    session.customers.delete("c2", expected_version=1)
    session.customers.add(customer("c1", payload=b"one", index_keys={"k0"}))
    session.customers.add(customer("c3", payload=b"three", index_keys={"k2"}))
    session.activities.add(activity("c1", "a1", payload=b"second order"))
    session.activities.reassign("c0", "c1")
    session.history.append([history_entry("c0", payload=b"updated")])
    session.consents.append(consent("c1", payload=b"granted too"))
    session.audit.append([audit_entry("c0", reason="changed")])
    session.keys.replace(wrapped_key("c0", wrapped=b"key zero v2"))
    session.keys.delete("c2")
    session.keys.put(wrapped_key("c1", wrapped=b"key one"))
    session.meta.put("m0", b"meta zero v2")
    session.meta.put("m1", b"meta one")


CHANGED = Model(
    customers={
        "c0": (2, b"zero v2", frozenset({"k1", "k2"})),
        "c1": (1, b"one", frozenset({"k0"})),
        "c3": (1, b"three", frozenset({"k2"})),
    },
    activities={"a0": ("c1", b"first order"), "a1": ("c1", b"second order")},
    history={"c0": [b"created", b"updated"]},
    consents={"c0": [b"granted"], "c1": [b"granted too"]},
    audit=["seed 1", "seed 2", "changed"],
    keys={"c0": b"key zero v2", "c1": b"key one"},
    meta={"m0": b"meta zero v2", "m1": b"meta one"},
)


# ------------------------------------------------------------------------------- the contract


def test_memory_store_declares_concurrent_reads(store: MemoryStore) -> None:
    assert store.capabilities == Capabilities(
        multiprocess=False, persistent=False, concurrent_reads=True
    )


def test_the_models_describe_what_the_store_shows(store: MemoryStore) -> None:
    assert read(store, observe) == Model().expected()
    write(store, seed)
    assert read(store, observe) == SEEDED.expected()
    write(store, change_everything)
    assert read(store, observe) == CHANGED.expected()


def test_a_reader_open_across_a_commit_keeps_its_snapshot(
    store: MemoryStore, sessions: Callable[..., SessionThread]
) -> None:
    write(store, seed)
    reader = sessions()
    assert reader.run(observe) == SEEDED.expected()

    write(store, change_everything)  # commits while the reader is open

    assert reader.run(observe) == SEEDED.expected()
    assert reader.run(lambda s: s.customers.get("c2").payload) == b"two"
    assert reader.run(lambda s: s.keys.get("c2").wrapped) == b"key two"
    assert reader.run(lambda s: s.audit.last().reason) == "seed 2"
    assert read(store, observe) == CHANGED.expected()


def test_keyset_paging_in_a_reader_is_not_disturbed_by_commits(
    store: MemoryStore, sessions: Callable[..., SessionThread]
) -> None:
    write(store, lambda s: s.customers.add_many([customer(c) for c in ("b", "d", "f", "h")]))
    write(store, lambda s: s.audit.append([audit_entry(reason=r) for r in "wxyz"]))
    reader = sessions()
    first = reader.run(lambda s: [r.id for r in s.customers.query(limit=2)])
    log = reader.run(lambda s: [e.reason for e in s.audit.read(limit=2)])

    def reshuffle(session: Session) -> None:
        session.customers.add_many([customer(c) for c in ("a", "c", "e", "g")])
        session.customers.delete("f", expected_version=1)
        session.audit.append([audit_entry(reason="later")])

    write(store, reshuffle)
    rest = reader.run(lambda s: [r.id for r in s.customers.query(after=first[-1], limit=10)])
    more = reader.run(lambda s: [e.reason for e in s.audit.read(after_seq=2, limit=10)])
    assert first + rest == ["b", "d", "f", "h"]
    assert log + more == ["w", "x", "y", "z"]
    assert reader.run(lambda s: s.customers.count()) == 4


def test_a_reader_that_begins_mid_write_neither_waits_nor_sees_the_changes(
    store: MemoryStore, sessions: Callable[..., SessionThread]
) -> None:
    write(store, seed)
    before = sessions()  # began before the writer
    writer = sessions(readonly=False)
    writer.run(change_everything)  # added, updated and deleted rows; not committed
    assert writer.run(observe) == CHANGED.expected()  # the writer reads its own writes

    during = sessions()  # begins at once although the writer is mid-transaction
    assert during.run(observe) == SEEDED.expected()
    assert before.run(observe) == SEEDED.expected()

    writer.commit()
    assert during.run(observe) == SEEDED.expected()  # still its snapshot
    assert before.run(observe) == SEEDED.expected()
    assert sessions().run(observe) == CHANGED.expected()


def test_a_writer_commits_while_readers_of_several_states_are_open(
    store: MemoryStore, sessions: Callable[..., SessionThread]
) -> None:
    empty = sessions()
    write(store, seed)
    seeded = sessions()
    write(store, change_everything)
    changed = sessions()
    write(store, lambda s: s.meta.put("m1", b"third"))
    write(store, lambda s: s.customers.add(customer("c4", index_keys={"k0"})))

    assert empty.run(observe) == Model().expected()
    assert seeded.run(observe) == SEEDED.expected()
    assert changed.run(observe) == CHANGED.expected()
    latest = read(store, observe)
    assert latest["meta"]["m1"] == b"third"
    assert latest["lookup"]["k0"] == ["c1", "c4"]


def test_after_a_long_reader_a_writer_copies_shared_tables_before_changing_them(
    store: MemoryStore, sessions: Callable[..., SessionThread]
) -> None:
    write(store, seed)
    long = sessions()  # held across the next commits
    write(store, lambda s: s.customers.add(customer("c4")))
    write(store, lambda s: s.customers.add(customer("c5")))  # starts from a copy-on-write twin
    current = sessions()
    expected = current.run(observe)
    writer = sessions(readonly=False)
    writer.run(change_everything)  # writes to the tables the twin still shares, too

    assert current.run(observe) == expected
    writer.commit()
    assert current.run(observe) == expected
    assert long.run(observe) == SEEDED.expected()


def test_readers_do_not_wait_for_each_other(
    store: MemoryStore, sessions: Callable[..., SessionThread]
) -> None:
    write(store, seed)
    readers = [sessions() for _ in range(4)]
    assert all(r.run(observe) == SEEDED.expected() for r in readers)


@pytest.mark.parametrize("how", ["rollback", "exception", "leaving the block"])
def test_rollback_with_readers_open_leaves_every_reader_consistent(
    store: MemoryStore, sessions: Callable[..., SessionThread], how: str
) -> None:
    write(store, seed)
    before = sessions()
    writer = sessions(readonly=False)
    writer.run(change_everything)
    during = sessions()
    if how == "rollback":
        writer.run(lambda s: s.rollback())
        writer.close()
    elif how == "exception":
        writer.abort()
    else:
        writer.close()

    assert before.run(observe) == SEEDED.expected()
    assert during.run(observe) == SEEDED.expected()
    assert read(store, observe) == SEEDED.expected()
    write(store, change_everything)  # the next writer starts from the committed state
    assert read(store, observe) == CHANGED.expected()
    assert before.run(observe) == SEEDED.expected()


def test_an_exception_inside_the_block_rolls_back(store: MemoryStore) -> None:
    with store.transaction() as session:
        seed(session)
        session.commit()

    def failing() -> None:
        with store.transaction() as session:
            change_everything(session)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing()
    with store.transaction(readonly=True) as session:
        assert observe(session) == SEEDED.expected()


def test_writers_still_run_one_at_a_time(
    store: MemoryStore, sessions: Callable[..., SessionThread]
) -> None:
    first = sessions(readonly=False)
    first.run(lambda s: s.customers.add(customer("c0")))
    began = threading.Event()
    done: list[BaseException | None] = []

    def second_writer() -> None:
        try:
            with store.transaction() as session:
                began.set()
                session.customers.add(customer("c1"))
                session.commit()
            done.append(None)
        except BaseException as exc:  # reported below
            began.set()
            done.append(exc)

    other = threading.Thread(target=second_writer)
    other.start()
    reader = sessions()  # the queue of writers does not hold up a reader
    assert reader.run(observe)["get"] == Model().expected()["get"]
    assert not began.is_set()  # still waiting for the first writer
    first.commit()
    first.close()
    other.join(BOUND)
    assert done == [None]
    assert read(store, lambda s: s.customers.count()) == 2


@pytest.mark.parametrize(
    ("outer", "inner"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_one_transaction_per_thread_readers_included(
    store: MemoryStore, outer: bool, inner: bool
) -> None:
    with store.transaction(readonly=outer):
        nested = store.transaction(readonly=inner)
        with pytest.raises(StorageError, match="nesting"):
            nested.__enter__()
    with store.transaction(readonly=inner):
        pass  # the thread is free again


def test_a_finished_reader_refuses_further_reads(store: MemoryStore) -> None:
    with store.transaction(readonly=True) as session:
        session.rollback()
        with pytest.raises(StorageError, match="finished"):
            session.customers.count()


# ----------------------------------------------------------------- random interleavings


class Interleavings(RuleBasedStateMachine):
    """Random writes (adds, updates, deletes, ledger and audit appends, keys, meta), commits
    and rollbacks, with readers opened at random points (also while a writer is open): every
    reader always sees exactly the model's state at the moment it began."""

    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore()
        self.committed = Model()
        self.writer: SessionThread | None = None
        self.pending = Model()
        self.readers: list[tuple[SessionThread, dict[str, Any]]] = []
        self.serial = 0

    def _write(self, work: Callable[[Session], object]) -> None:
        assert self.writer is not None
        self.writer.run(work)

    @precondition(lambda self: self.writer is None)
    @rule()
    def begin(self) -> None:
        self.writer = SessionThread(self.store, readonly=False)
        self.pending = copy.deepcopy(self.committed)

    @precondition(lambda self: self.writer is not None)
    @rule(customer_id=st.sampled_from(IDS), keys=st.frozensets(st.sampled_from(KEYS)))
    def put_customer(self, customer_id: str, keys: frozenset[str]) -> None:
        self.serial += 1
        payload = f"p{self.serial}".encode()
        old = self.pending.customers.get(customer_id)
        if old is None:
            row = customer(customer_id, payload=payload, index_keys=keys)
            self._write(lambda s: s.customers.add(row))
            self.pending.customers[customer_id] = (1, payload, keys)
        else:
            version = old[0]

            def update(session: Session) -> None:
                row = session.customers.get(customer_id)
                changed = attrs.evolve(row, payload=payload, index_keys=keys)
                session.customers.update(changed, expected_version=version)

            self._write(update)
            self.pending.customers[customer_id] = (version + 1, payload, keys)

    @precondition(lambda self: self.writer is not None)
    @rule(customer_id=st.sampled_from(IDS))
    def delete_customer(self, customer_id: str) -> None:
        old = self.pending.customers.pop(customer_id, None)
        if old is not None:
            self._write(lambda s: s.customers.delete(customer_id, expected_version=old[0]))

    @precondition(lambda self: self.writer is not None)
    @rule(activity_id=st.sampled_from(ACTIVITY_IDS), customer_id=st.sampled_from(IDS))
    def add_activity(self, activity_id: str, customer_id: str) -> None:
        if activity_id not in self.pending.activities:
            payload = activity_id.encode()
            row = activity(customer_id, activity_id, payload=payload)
            self._write(lambda s: s.activities.add(row))
            self.pending.activities[activity_id] = (customer_id, payload)

    @precondition(lambda self: self.writer is not None)
    @rule(customer_id=st.sampled_from(IDS), count=st.integers(1, 2))
    def append_ledgers(self, customer_id: str, count: int) -> None:
        self.serial += 1
        payloads = [f"h{self.serial}.{i}".encode() for i in range(count)]
        entries = [history_entry(customer_id, payload=p) for p in payloads]

        def append(session: Session) -> None:
            session.history.append(entries)
            session.consents.append(consent(customer_id, payload=payloads[0]))

        self._write(append)
        self.pending.history.setdefault(customer_id, []).extend(payloads)
        self.pending.consents.setdefault(customer_id, []).append(payloads[0])

    @precondition(lambda self: self.writer is not None)
    @rule(count=st.integers(1, 3))
    def append_audit(self, count: int) -> None:
        self.serial += 1
        reasons = [f"r{self.serial}.{i}" for i in range(count)]
        entries = [audit_entry(reason=r) for r in reasons]
        self._write(lambda s: s.audit.append(entries))
        self.pending.audit.extend(reasons)

    @precondition(lambda self: self.writer is not None)
    @rule(customer_id=st.sampled_from(IDS), name=st.sampled_from(META))
    def keys_and_meta(self, customer_id: str, name: str) -> None:
        self.serial += 1
        value = f"v{self.serial}".encode()
        if customer_id in self.pending.keys:
            self._write(lambda s: s.keys.delete(customer_id))
            del self.pending.keys[customer_id]
        else:
            key = wrapped_key(customer_id, wrapped=value)
            self._write(lambda s: s.keys.put(key))
            self.pending.keys[customer_id] = value
        self._write(lambda s: s.meta.put(name, value))
        self.pending.meta[name] = value

    @precondition(lambda self: self.writer is not None)
    @rule()
    def commit(self) -> None:
        assert self.writer is not None
        self.writer.commit()
        self.writer.close()
        self.writer = None
        self.committed = self.pending

    @precondition(lambda self: self.writer is not None)
    @rule()
    def roll_back(self) -> None:
        assert self.writer is not None
        self.writer.close()  # leaves without commit
        self.writer = None

    @precondition(lambda self: len(self.readers) < 4)
    @rule()
    def open_reader(self) -> None:
        reader = SessionThread(self.store, readonly=True)
        self.readers.append((reader, self.committed.expected()))

    @precondition(lambda self: bool(self.readers))
    @rule(data=st.data())
    def check_and_close_reader(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.readers) - 1))
        reader, snapshot = self.readers.pop(index)
        assert reader.run(observe) == snapshot
        reader.close()

    @precondition(lambda self: bool(self.readers))
    @rule(data=st.data())
    def check_reader(self, data: st.DataObject) -> None:
        reader, snapshot = data.draw(st.sampled_from(self.readers))
        assert reader.run(observe) == snapshot

    @invariant()
    def a_writer_reads_its_own_writes(self) -> None:
        if self.writer is not None and self.serial % 3 == 0:
            assert self.writer.run(observe) == self.pending.expected()

    def teardown(self) -> None:
        if self.writer is not None:
            self.writer.close()
        for reader, snapshot in self.readers:
            assert reader.run(observe) == snapshot
            reader.close()
        assert read(self.store, observe) == self.committed.expected()
        self.store.close()


Interleavings.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None, database=None
)
TestInterleavings = Interleavings.TestCase
