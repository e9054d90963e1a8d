"""MemoryStore's work rows and change feed under its copy-on-write states.

The due-time index, the id list and the per-customer lists of work rows are derived from the
``work`` table and must follow it in every state: the writer's copy (also after a rollback),
the spare it catches up at commit, and older states that readers held across commits (brought
up to date later, key by key). Random writes, commits, rollbacks and readers held across them
are checked against a plain model; every held reader must keep seeing its snapshot.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.backends import MemoryStore
from custrec.backends._memory_work import due_key
from custrec.storage import ChangeEvent, Session, WorkFilter, WorkRow

BOUND = 10.0  # seconds: a bound for a blocked store, never a wait for time to pass
T0 = datetime(2024, 3, 1, tzinfo=UTC)
IDS = ("w0", "w1", "w2", "w3", "w4", "w5")
CUSTOMERS = ("c0", "c1", "c2")
FAR = T0 + timedelta(days=365)


def row(work_id: str, customer: str, due: int | None, *, open_: bool = True) -> WorkRow:
    return WorkRow(
        id=work_id,
        kind="task" if work_id < "w3" else "case",
        customer_id=customer,
        status="open" if open_ else "done",
        open=open_,
        due_at=None if due is None else T0 + timedelta(hours=due),
        created_at=T0,
        updated_at=T0,
        payload=work_id.encode(),
    )


def view(session: Session) -> tuple[Any, ...]:
    """Everything the work table and the feed show (through indexes and scans)."""
    due = session.work.due(before=FAR, limit=100)
    by_customer = {c: session.work.query(where=WorkFilter(customer_id=c)) for c in CUSTOMERS}
    due_of = {c: session.work.due(before=FAR, where=WorkFilter(customer_id=c)) for c in CUSTOMERS}
    return (
        session.work.query(limit=100),
        due,
        by_customer,
        due_of,
        session.work.count(),
        session.changes.since(limit=1000),
    )


def expected(model: dict[str, WorkRow], feed: list[str]) -> tuple[Any, ...]:
    rows = [model[i] for i in sorted(model)]
    due = sorted(
        (r for r in rows if r.open and r.due_at is not None), key=lambda r: (r.due_at, r.id)
    )
    return (
        rows,
        due,
        {c: [r for r in rows if r.customer_id == c] for c in CUSTOMERS},
        {c: [r for r in due if r.customer_id == c] for c in CUSTOMERS},
        len(rows),
        feed,
    )


def same(seen: tuple[Any, ...], want: tuple[Any, ...]) -> None:
    *work, page = seen
    *model, feed = want
    assert work == model
    assert [e.kind for e in page.events] == feed
    assert page.cursor == str(len(feed))


class Reader:
    """A read-only transaction held open in its own thread."""

    def __init__(self, store: MemoryStore) -> None:
        self._asks: queue.Queue[Callable[[Session], Any] | None] = queue.Queue()
        self._answers: queue.Queue[tuple[bool, Any]] = queue.Queue()
        self._thread = threading.Thread(target=self._main, args=(store,), daemon=True)
        self._thread.start()
        self.first = self.ask(view)

    def _main(self, store: MemoryStore) -> None:
        with store.transaction(readonly=True) as session:
            while (work := self._asks.get()) is not None:
                try:
                    self._answers.put((True, work(session)))
                except BaseException as exc:  # handed to the caller
                    self._answers.put((False, exc))

    def ask(self, work: Callable[[Session], Any]) -> Any:
        self._asks.put(work)
        ok, value = self._answers.get(timeout=BOUND)
        if not ok:
            raise value
        return value

    def close(self) -> None:
        assert self.ask(view) == self.first, "a reader's snapshot changed"
        self._asks.put(None)
        self._thread.join(BOUND)
        assert not self._thread.is_alive()


def derived(state: Any) -> tuple[Any, ...]:
    """A state's derived structures as they are, and as its ``work`` table says they must be."""
    ids = sorted(state.work)
    keys = sorted(k for k in map(due_key, state.work.values()) if k is not None)
    by_customer: dict[str, list[str]] = {}
    for work_id in ids:
        by_customer.setdefault(state.work[work_id].customer_id, []).append(work_id)
    have = (
        list(state.work_ids.after(None)),
        list(state.work_due.after(None)),
        {c: list(v) for c, v in state.work_by_customer.items()},
    )
    return have, (ids, keys, by_customer)


write_op = st.one_of(
    st.tuples(
        st.just("put"),
        st.sampled_from(IDS),
        st.sampled_from(CUSTOMERS),
        st.one_of(st.none(), st.integers(0, 5)),
        st.booleans(),
    ),
    st.tuples(st.just("reassign"), st.sampled_from(CUSTOMERS), st.sampled_from(CUSTOMERS)),
    st.tuples(st.just("event"), st.integers(0, 9)),
)
step = st.tuples(st.lists(write_op, max_size=4), st.booleans(), st.booleans(), st.integers(0, 3))


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=12))
def test_work_indexes_and_feed_follow_every_state(
    steps: list[tuple[list[tuple[Any, ...]], bool, bool, int]],
) -> None:
    store = MemoryStore()
    model: dict[str, WorkRow] = {}
    feed: list[str] = []
    readers: list[Reader] = []
    try:
        for ops, commit, hold_reader, release in steps:
            if hold_reader:
                readers.append(Reader(store))
            pending, events = dict(model), list(feed)
            with store.transaction() as session:
                for op in ops:
                    if op[0] == "put":
                        _, work_id, customer, due, open_ = op
                        new = row(work_id, customer, due, open_=open_)
                        old = pending.get(work_id)
                        if old is None:
                            session.work.add(new)
                            pending[work_id] = attrs.evolve(new, version=1)
                        else:
                            session.work.update(new, expected_version=old.version)
                            pending[work_id] = attrs.evolve(new, version=old.version + 1)
                    elif op[0] == "reassign":
                        _, source, target = op
                        moved = session.work.reassign(source, target)
                        mine = [i for i, r in pending.items() if r.customer_id == source]
                        assert moved == (0 if source == target else len(mine))
                        if source != target:
                            for work_id in mine:
                                pending[work_id] = attrs.evolve(
                                    pending[work_id], customer_id=target
                                )
                    else:
                        kind = f"k.{op[1]}"
                        session.changes.append([ChangeEvent(at=T0, kind=kind, actor_id="a")])
                        events.append(kind)
                same(view(session), expected(pending, events))  # reads its own writes
                if commit:
                    session.commit()
                    model, feed = pending, events
            for _ in range(min(release, len(readers))):
                readers.pop(0).close()
            with store.transaction(readonly=True) as session:
                same(view(session), expected(model, feed))
            states = [store._committed, store._spare, *store._retired]
            for state in (s for s in states if s is not None):
                have, want = derived(state)
                assert have == want, "a state's work indexes do not follow its rows"
    finally:
        for reader in readers:
            reader.close()
        store.close()
    for state in (s for s in [store._committed, store._spare, *store._retired] if s):
        if not state.readers:
            have, want = derived(state)
            assert have == want
