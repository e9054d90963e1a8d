"""MemoryStore's documents table under its copy-on-write states.

The documents and their links carry sorted indexes (a kind's documents by id and by tag, a
document's links by customer and by state, a customer's links by kind and document) that must
follow the rows in every state: the writer's copy (also after a rollback), the spare it catches
up at commit, and older states that readers held across commits (brought up to date later, key
by key). Random writes, commits, rollbacks and readers held across them are checked against a
plain model; every held reader must keep seeing its snapshot.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.backends import MemoryStore
from custrec.storage import DocumentLink, DocumentRow, Session

BOUND = 10.0  # seconds: a bound for a blocked store, never a wait for time to pass
T0 = datetime(2024, 3, 1, tzinfo=UTC)
KINDS = ("d", "d2")  # "d" is a prefix of "d2"
IDS = ("1", "12", "2")
CUSTOMERS = ("c", "c1", "c2")
TAGS = (None, "t", "u")
STATES = (None, "pending", "sent")

Model = tuple[dict[tuple[str, str], DocumentRow], dict[tuple[str, str, str], DocumentLink]]


def document(kind: str, document_id: str, tag: str | None) -> DocumentRow:
    return DocumentRow(
        kind=kind, id=document_id, tag=tag, created_at=T0, updated_at=T0, payload=b"d"
    )


def link(kind: str, document_id: str, customer: str, state: str | None) -> DocumentLink:
    return DocumentLink(
        kind=kind,
        document_id=document_id,
        customer_id=customer,
        state=state,
        updated_at=T0,
        payload=customer.encode(),
    )


def view(session: Session) -> tuple[Any, ...]:
    """Everything the documents table shows, through each of its indexes."""
    docs = session.documents
    return (
        {(k, t): docs.list(k, tag=t) for k in KINDS for t in TAGS},
        {
            (k, i, s): (docs.links(k, i, state=s), docs.count_links(k, i, state=s))
            for k in KINDS
            for i in IDS
            for s in STATES
        },
        {(c, k): docs.links_for(c, kind=k) for c in CUSTOMERS for k in (None, *KINDS)},
    )


def expected(model: Model) -> tuple[Any, ...]:
    documents, links = model
    rows = [documents[key] for key in sorted(documents)]
    found = [links[key] for key in sorted(links)]

    def of(kind: str, document_id: str, state: str | None) -> list[DocumentLink]:
        return [
            x
            for x in found
            if (x.kind, x.document_id) == (kind, document_id) and state in (None, x.state)
        ]

    return (
        {
            (k, t): [r for r in rows if r.kind == k and t in (None, r.tag)]
            for k in KINDS
            for t in TAGS
        },
        {(k, i, s): (of(k, i, s), len(of(k, i, s))) for k in KINDS for i in IDS for s in STATES},
        {
            (c, k): sorted(
                (x for x in found if x.customer_id == c and k in (None, x.kind)),
                key=lambda x: (x.kind, x.document_id),
            )
            for c in CUSTOMERS
            for k in (None, *KINDS)
        },
    )


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
    """A state's indexes as they are, and as its rows say they must be."""
    documents = [state.documents[key] for key in state.documents._rows]
    links = [state.document_links[key] for key in state.document_links._rows]
    have = tuple(
        list(i.after(None)) for i in (*state.documents.indexes, *state.document_links.indexes)
    )
    want = (
        sorted(f"{d.kind}\0{d.id}" for d in documents),
        sorted(f"{d.kind}\0{d.tag}\0{d.id}" for d in documents if d.tag is not None),
        sorted(f"{x.kind}\0{x.document_id}\0{x.customer_id}" for x in links),
        sorted(
            f"{x.kind}\0{x.document_id}\0{x.state}\0{x.customer_id}"
            for x in links
            if x.state is not None
        ),
        sorted(f"{x.customer_id}\0{x.kind}\0{x.document_id}" for x in links),
    )
    return have, want


write_op = st.one_of(
    st.tuples(
        st.just("document"), st.sampled_from(KINDS), st.sampled_from(IDS), st.sampled_from(TAGS)
    ),
    st.tuples(
        st.just("link"),
        st.sampled_from(KINDS),
        st.sampled_from(IDS),
        st.sampled_from(CUSTOMERS),
        st.sampled_from(STATES),
    ),
    st.tuples(st.just("reassign"), st.sampled_from(CUSTOMERS), st.sampled_from(CUSTOMERS)),
)
step = st.tuples(st.lists(write_op, max_size=5), st.booleans(), st.booleans(), st.integers(0, 3))


def apply(session: Session, op: tuple[Any, ...], model: Model) -> None:
    """Apply one write to the session and to ``model`` (changed in place)."""
    documents, links = model
    if op[0] == "document":
        _, kind, document_id, tag = op
        new, old = document(kind, document_id, tag), documents.get((kind, document_id))
        if old is None:
            session.documents.add(new)
            documents[kind, document_id] = attrs.evolve(new, version=1)
        else:
            version = session.documents.update(new, expected_version=old.version)
            documents[kind, document_id] = attrs.evolve(old, tag=tag, version=version)
    elif op[0] == "link":
        _, kind, document_id, customer, state = op
        new, stale = (
            link(kind, document_id, customer, state),
            links.get((kind, document_id, customer)),
        )
        if stale is None:
            assert session.documents.link([new]) == 1
            links[kind, document_id, customer] = attrs.evolve(new, version=1)
        else:
            version = session.documents.update_link(new, expected_version=stale.version)
            links[kind, document_id, customer] = attrs.evolve(new, version=version)
    else:
        _, source, target = op
        mine = [key for key in sorted(links) if key[2] == source]
        moved = 0
        if source != target:
            for kind, document_id, _ in mine:
                old = links.pop((kind, document_id, source))
                if (kind, document_id, target) not in links:
                    links[kind, document_id, target] = attrs.evolve(old, customer_id=target)
                    moved += 1
        assert session.documents.reassign(source, target) == moved


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=12))
def test_document_indexes_follow_every_state(
    steps: list[tuple[list[tuple[Any, ...]], bool, bool, int]],
) -> None:
    store = MemoryStore()
    model: Model = ({}, {})
    readers: list[Reader] = []
    try:
        for ops, commit, hold_reader, release in steps:
            if hold_reader:
                readers.append(Reader(store))
            pending: Model = (dict(model[0]), dict(model[1]))
            with store.transaction() as session:
                for op in ops:
                    apply(session, op, pending)
                assert view(session) == expected(pending)  # reads its own writes
                if commit:
                    session.commit()
                    model = pending
            for _ in range(min(release, len(readers))):
                readers.pop(0).close()
            with store.transaction(readonly=True) as session:
                assert view(session) == expected(model)
            states = [store._committed, store._spare, *store._retired]
            for state in (s for s in states if s is not None):
                have, want = derived(state)
                assert have == want, "a state's document indexes do not follow its rows"
    finally:
        for reader in readers:
            reader.close()
        store.close()
    for state in (s for s in [store._committed, store._spare, *store._retired] if s):
        if not state.readers:
            have, want = derived(state)
            assert have == want
