"""The documents contract's brute force, data and state machine (private; see
:mod:`custrec.testing._contracts.documents`).

:class:`Brute` answers every ``DocumentTable`` call over two plain dicts, by sorting and
filtering everything each time: the reference the property test and the state machine compare
a backend with. Every example works in a namespace of its own: its kinds and customer ids start
with a fresh id, so the rows of earlier examples (the store is shared) never show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any, ClassVar, Final

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from custrec.errors import DuplicateKey, NotFound, VersionConflict
from custrec.model.ids import new_id
from custrec.storage.protocols import DocumentTable, Session, Store
from custrec.storage.types import DocumentLink, DocumentRow
from custrec.testing._contracts.common import _CST, _is_utc
from custrec.testing._support import T0, reading

__all__ = [
    "Brute",
    "Example",
    "Reads",
    "compare_reads",
    "document",
    "examples",
    "link",
    "machine",
    "populate",
    "reads",
    "stored",
]

# Small pools in code-point order, so that rows collide, filters match and prefixes matter:
# kinds are the namespace plus an ending ("" prefixes the others; "-" sorts before "a"), and
# ("<ns>", "z") must come before ("<ns>-2", "B") in a customer's links: a pair, not joined text.
_KIND_ENDS: Final = ("", "-2", "a")
_IDS: Final = ("B", "a", "ab", "b", "z", "é", "中", "！", "𠀀")
_CUSTOMER_ENDS: Final = ("", "B", "a", "ab", "é", "！", "𠀀")
_TAGS: Final = (None, "", "t", "t2", "中")
_STATES: Final = (None, "", "pending", "sent")
_AFTERS: Final = ("", "A", "a", "aa", "c", "中", "\U0010ffff")
"""``after`` bounds besides the ids: between them, before and after every one."""
_CUSTOMER_AFTERS: Final = (*_CUSTOMER_ENDS, "A", "aa", "c", "\U0010ffff")
"""Endings of the customer ids a page of links starts after: ids, and between them."""
_INSTANTS: Final = (
    T0,
    T0 + timedelta(microseconds=1),
    (T0 + timedelta(microseconds=1)).astimezone(_CST),  # the same instant, in another zone
    T0 + timedelta(days=1, microseconds=999_999),
)
_ERRORS: Final = (NotFound, DuplicateKey, VersionConflict)


def document(document_id: str | None = None, **changes: Any) -> DocumentRow:
    """A valid disclosure at ``T0`` without a tag; its payload follows from its id."""
    document_id = document_id or new_id()
    row = DocumentRow(
        kind="disclosure",
        id=document_id,
        created_at=T0,
        updated_at=T0,
        payload=b"\x00document\xff" + document_id.encode(),
    )
    return attrs.evolve(row, **changes) if changes else row


def link(row: DocumentRow, customer_id: str, **changes: Any) -> DocumentLink:
    """A valid link of document ``row`` to a customer, without a state; its payload follows
    from the customer id."""
    line = DocumentLink(
        kind=row.kind,
        document_id=row.id,
        customer_id=customer_id,
        updated_at=T0,
        payload=b"\x00sealed\xff" + customer_id.encode(),
    )
    return attrs.evolve(line, **changes) if changes else line


def stored(row: Any, version: int = 1) -> Any:
    """A document or link as storage returns it: with ``version``."""
    return attrs.evolve(row, version=version)


class Brute:
    """The reference ``DocumentTable``: two dicts, scanned and sorted on every call. It takes
    valid arguments only and checks everything before it changes anything."""

    def __init__(self) -> None:
        self.documents: dict[tuple[str, str], DocumentRow] = {}
        self.link_rows: dict[tuple[str, str, str], DocumentLink] = {}

    def copy(self) -> Brute:
        twin = Brute()
        twin.documents, twin.link_rows = dict(self.documents), dict(self.link_rows)
        return twin

    def add(self, row: DocumentRow) -> int:
        if (row.kind, row.id) in self.documents:
            raise DuplicateKey("document")
        self.documents[row.kind, row.id] = stored(row)
        return 1

    def get(self, kind: str, document_id: str) -> DocumentRow:
        try:
            return self.documents[kind, document_id]
        except KeyError:
            raise NotFound("document") from None

    def get_many(self, kind: str, document_ids: Iterable[str]) -> list[DocumentRow]:
        found = {i: self.documents[kind, i] for i in document_ids if (kind, i) in self.documents}
        return [found[i] for i in sorted(found)]

    def update(self, row: DocumentRow, *, expected_version: int) -> int:
        current = self.get(row.kind, row.id)
        if current.version != expected_version:
            raise VersionConflict("document", expected=expected_version)
        self.documents[row.kind, row.id] = attrs.evolve(
            current,
            tag=row.tag,
            updated_at=row.updated_at,
            payload=row.payload,
            version=current.version + 1,
        )
        return current.version + 1

    def link(self, links: Sequence[DocumentLink]) -> int:
        keys = [(x.kind, x.document_id, x.customer_id) for x in links]
        if len(set(keys)) < len(keys) or any(key in self.link_rows for key in keys):
            raise DuplicateKey("link")
        for key, line in zip(keys, links, strict=True):
            self.link_rows[key] = stored(line)
        return len(keys)

    def get_link(self, kind: str, document_id: str, customer_id: str) -> DocumentLink:
        try:
            return self.link_rows[kind, document_id, customer_id]
        except KeyError:
            raise NotFound("link") from None

    def update_link(self, link: DocumentLink, *, expected_version: int) -> int:
        key = (link.kind, link.document_id, link.customer_id)
        current = self.get_link(*key)
        if current.version != expected_version:
            raise VersionConflict("link", expected=expected_version)
        self.link_rows[key] = attrs.evolve(
            current,
            state=link.state,
            updated_at=link.updated_at,
            payload=link.payload,
            version=current.version + 1,
        )
        return current.version + 1

    def listed(self, kind: str, tag: str | None, after: str | None) -> list[DocumentRow]:
        """Every page of ``list`` at once."""
        rows = (
            r
            for (k, i), r in self.documents.items()
            if k == kind and (tag is None or r.tag == tag) and (after is None or i > after)
        )
        return sorted(rows, key=lambda r: r.id)

    def linked(
        self, kind: str, document_id: str, state: str | None, after: str | None
    ) -> list[DocumentLink]:
        """Every page of ``links`` at once."""
        found = (
            x
            for (k, d, c), x in self.link_rows.items()
            if (k, d) == (kind, document_id)
            and (state is None or x.state == state)
            and (after is None or c > after)
        )
        return sorted(found, key=lambda x: x.customer_id)

    def links(
        self,
        kind: str,
        document_id: str,
        *,
        state: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[DocumentLink]:
        return self.linked(kind, document_id, state, after)[:limit]

    def count_links(self, kind: str, document_id: str, *, state: str | None = None) -> int:
        return len(self.linked(kind, document_id, state, None))

    def links_for(self, customer_id: str, *, kind: str | None = None) -> list[DocumentLink]:
        found = (
            x
            for (k, _, c), x in self.link_rows.items()
            if c == customer_id and (kind is None or k == kind)
        )
        return sorted(found, key=lambda x: (x.kind, x.document_id))

    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        if from_customer_id == to_customer_id:
            return 0
        moved = 0
        for line in self.links_for(from_customer_id):
            del self.link_rows[line.kind, line.document_id, from_customer_id]
            if (line.kind, line.document_id, to_customer_id) not in self.link_rows:
                self.link_rows[line.kind, line.document_id, to_customer_id] = attrs.evolve(
                    line, customer_id=to_customer_id
                )
                moved += 1
        return moved

    # last, so that ``list`` in the annotations above is the builtin
    def list(
        self, kind: str, *, tag: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[DocumentRow]:
        return self.listed(kind, tag, after)[:limit]


# -- the property test's data -----------------------------------------------------------------


@attrs.frozen
class Example:
    """Rows to write, by index into the pools (the namespace is added when written)."""

    documents: tuple[tuple[int, str, str | None, int, bytes], ...]  # kind, id, tag, at, payload
    links: tuple[tuple[int, int, str | None, int], ...]  # document pick, customer, state, instant
    retags: tuple[tuple[int, str | None], ...]  # document pick, new tag
    restates: tuple[tuple[int, str | None], ...]  # link pick, new state
    moves: tuple[tuple[int, int], ...]  # reassign: customer, customer


@attrs.frozen
class Reads:
    """What to read: filters, bounds and limits, by index into the pools."""

    tag: str | None
    after: str | None
    limit: int
    state: str | None
    customer_after: str | None  # the ending of a customer id (the namespace goes first)
    link_limit: int


def _indexes(pool: tuple[Any, ...]) -> st.SearchStrategy[int]:
    return st.integers(0, len(pool) - 1)


def examples() -> st.SearchStrategy[Example]:
    """Documents (unique by kind and id), links to them, later changes and merges."""
    rows = st.tuples(
        _indexes(_KIND_ENDS),
        st.sampled_from(_IDS),
        st.sampled_from(_TAGS),
        _indexes(_INSTANTS),
        st.binary(max_size=8),
    )
    lines = st.tuples(  # to the first few documents drawn, so that they have many links
        st.integers(0, 3), _indexes(_CUSTOMER_ENDS), st.sampled_from(_STATES), _indexes(_INSTANTS)
    )
    picks = st.integers(0, 99)
    return st.builds(
        Example,
        documents=st.lists(rows, min_size=1, max_size=12, unique_by=lambda r: r[:2]).map(tuple),
        links=st.lists(lines, min_size=2, max_size=20, unique_by=lambda x: x[:2]).map(tuple),
        retags=st.lists(st.tuples(picks, st.sampled_from(_TAGS)), max_size=3).map(tuple),
        restates=st.lists(st.tuples(picks, st.sampled_from(_STATES)), max_size=3).map(tuple),
        moves=st.lists(
            st.tuples(_indexes(_CUSTOMER_ENDS), _indexes(_CUSTOMER_ENDS)), max_size=2
        ).map(tuple),
    )


def reads() -> st.SearchStrategy[Reads]:
    return st.builds(
        Reads,
        tag=st.none() | st.sampled_from(_TAGS[1:]),
        after=st.none() | st.sampled_from((*_AFTERS, *_IDS)),
        limit=st.integers(1, 4),
        state=st.none() | st.sampled_from(_STATES[1:]),
        customer_after=st.none() | st.sampled_from(_CUSTOMER_AFTERS),
        link_limit=st.integers(1, 3),
    )


@attrs.frozen
class Space:
    """An example's namespace: its kinds and customer ids."""

    ns: str
    kinds: tuple[str, ...]
    customers: tuple[str, ...]

    @classmethod
    def fresh(cls) -> Space:
        ns = new_id()
        return cls(ns, tuple(ns + e for e in _KIND_ENDS), tuple(ns + e for e in _CUSTOMER_ENDS))


def _pick(keys: Iterable[Any], at: int) -> Any:
    ordered = sorted(keys)
    return ordered[at % len(ordered)] if ordered else None


def populate(store: Store, data: Example) -> tuple[Space, Brute]:
    """Write ``data`` in a fresh namespace (documents and links, then changes, then merges,
    one unit of work each) and return the namespace and the brute force holding the same."""
    space, brute = Space.fresh(), Brute()
    rows = [
        document(
            i,
            kind=space.kinds[k],
            tag=t,
            created_at=_INSTANTS[at],
            updated_at=_INSTANTS[-1 - at],
            payload=p,
        )
        for k, i, t, at, p in data.documents
    ]
    for row in rows:
        brute.add(row)
    lines = []
    for pick, c, state, at in data.links if rows else ():
        row = rows[pick % len(rows)]
        line = link(row, space.customers[c], state=state, updated_at=_INSTANTS[at])
        if (line.kind, line.document_id, line.customer_id) not in brute.link_rows:
            brute.link([line])
            lines.append(line)
    with store.transaction() as s:
        for row in rows:
            s.documents.add(row)
        s.documents.link(lines)
        s.commit()
    with store.transaction() as s:
        for pick, tag in data.retags:
            key = _pick(brute.documents, pick)
            if key is not None:
                retagged = attrs.evolve(brute.documents[key], tag=tag, updated_at=_INSTANTS[3])
                version = brute.documents[key].version
                assert s.documents.update(retagged, expected_version=version) == version + 1
                brute.update(retagged, expected_version=version)
        for pick, state in data.restates:
            key = _pick(brute.link_rows, pick)
            if key is not None:
                version = brute.link_rows[key].version
                restated = attrs.evolve(brute.link_rows[key], state=state, payload=b"changed")
                assert s.documents.update_link(restated, expected_version=version) == version + 1
                brute.update_link(restated, expected_version=version)
        s.commit()
    with store.transaction() as s:
        for source, target in data.moves:
            loser, survivor = space.customers[source], space.customers[target]
            assert s.documents.reassign(loser, survivor) == brute.reassign(loser, survivor)
        s.commit()
    return space, brute


def _check_pages(
    read: Callable[[str | None, int], Sequence[Any]],
    key: Callable[[Any], str],
    after: str | None,
    limit: int,
    want: Sequence[Any],
) -> None:
    """Read page after page from ``after`` on, each from the last key of the one before:
    every page is the next ``limit`` rows of ``want``, until an empty one."""
    start, at = after, 0
    while page := read(start, limit):
        assert list(page) == list(want[at : at + limit]), f"the page after {start!r}, limit {limit}"
        at += len(page)
        start = key(page[-1])
    assert at == len(want), f"the pages ended after {at} of {len(want)} rows"


def compare_reads(session: Session, space: Space, brute: Brute, wanted: Reads) -> None:
    """Page ``list`` of every kind and ``links`` of every document (and of a missing one) with
    the filters, bounds and limits of ``wanted``, count every document's links and read every
    customer's links (of any kind and of each): all as ``brute`` says, instants in UTC."""
    docs = session.documents
    for kind in space.kinds:

        def listing(after: str | None, limit: int, kind: str = kind) -> list[DocumentRow]:
            page = docs.list(kind, tag=wanted.tag, after=after, limit=limit)
            assert all(_is_utc(r.created_at) and _is_utc(r.updated_at) for r in page)
            return page

        want = brute.listed(kind, wanted.tag, wanted.after)
        _check_pages(listing, lambda r: r.id, wanted.after, wanted.limit, want)
        asked = [*_IDS, *_AFTERS, *_IDS[:2]]  # with missing ids, and some twice
        assert docs.get_many(kind, asked) == brute.get_many(kind, asked)
    after = None if wanted.customer_after is None else space.ns + wanted.customer_after
    for kind, document_id in [*sorted(brute.documents), (space.kinds[0], "missing")]:

        def linking(
            start: str | None, limit: int, kind: str = kind, document_id: str = document_id
        ) -> list[DocumentLink]:
            page = docs.links(kind, document_id, state=wanted.state, after=start, limit=limit)
            assert all(_is_utc(x.updated_at) for x in page)
            return page

        want_links = brute.linked(kind, document_id, wanted.state, after)
        _check_pages(linking, lambda x: x.customer_id, after, wanted.link_limit, want_links)
        assert docs.count_links(kind, document_id, state=wanted.state) == len(
            brute.linked(kind, document_id, wanted.state, None)
        )
    for customer in space.customers:
        for kind_or_none in (None, *space.kinds):
            assert docs.links_for(customer, kind=kind_or_none) == brute.links_for(
                customer, kind=kind_or_none
            )


# -- the state machine --------------------------------------------------------------------------

_VERSION_SHIFTS: Final = (0, 0, 0, 1, -1)  # mostly right, sometimes stale or ahead
_OPERATIONS: Final = st.one_of(
    st.tuples(
        st.just("add"),
        _indexes(_KIND_ENDS),
        st.sampled_from(_IDS[:5]),
        st.sampled_from(_TAGS),
        _indexes(_INSTANTS),
    ),
    st.tuples(
        st.just("update"),
        _indexes(_KIND_ENDS),
        st.sampled_from(_IDS[:5]),
        st.sampled_from(_TAGS),
        st.sampled_from(_VERSION_SHIFTS),
    ),
    st.tuples(
        st.just("link"),
        st.lists(
            st.tuples(st.integers(0, 99), _indexes(_CUSTOMER_ENDS[:4]), st.sampled_from(_STATES)),
            max_size=3,
        ),
    ),
    st.tuples(
        st.just("update_link"),
        st.integers(0, 99),
        st.booleans(),  # an existing link (or a missing one)
        st.sampled_from(_STATES),
        st.sampled_from(_VERSION_SHIFTS),
    ),
    st.tuples(st.just("reassign"), _indexes(_CUSTOMER_ENDS[:4]), _indexes(_CUSTOMER_ENDS[:4])),
)


class _Abandon(Exception):
    """Raised inside a unit of work to check that an exception rolls it back."""


class _DocumentMachine(RuleBasedStateMachine):
    """Units of work of random writes, on the backend and on a brute force."""

    backend: ClassVar[Store]

    def __init__(self) -> None:
        super().__init__()
        self.space = Space.fresh()
        self.brute = Brute()

    def _call(self, op: tuple[Any, ...], brute: Brute) -> Callable[[DocumentTable], object]:
        """The operation ``op`` as a call on a table, its arguments resolved against the
        current state of ``brute`` (the version to expect, the document to link)."""
        kinds, customers = self.space.kinds, self.space.customers
        name = op[0]
        if name == "add":
            _, k, document_id, tag, at = op
            row = document(document_id, kind=kinds[k], tag=tag, updated_at=_INSTANTS[at])
            return lambda t: t.add(row)
        if name == "update":
            _, k, document_id, tag, shift = op
            current = brute.documents.get((kinds[k], document_id))
            version = (1 if current is None else current.version) + shift
            row = document(document_id, kind=kinds[k], tag=tag, updated_at=_INSTANTS[3])
            return lambda t: t.update(attrs.evolve(row, payload=b"v"), expected_version=version)
        if name == "link":
            rows = [brute.documents[key] for key in sorted(brute.documents)]
            lines = [
                link(rows[pick % len(rows)], customers[c], state=state)
                for pick, c, state in (op[1] if rows else ())
            ]
            return lambda t: t.link(lines)
        if name == "update_link":
            _, pick, existing, state, shift = op
            key = _pick(brute.link_rows, pick) if existing else None
            if key is None:
                key = (kinds[0], "missing", customers[0])
            old = brute.link_rows.get(key)
            version = (1 if old is None else old.version) + shift
            line = DocumentLink(
                kind=key[0],
                document_id=key[1],
                customer_id=key[2],
                state=state,
                updated_at=_INSTANTS[2],
                payload=bytes([pick]),
            )
            return lambda t: t.update_link(line, expected_version=version)
        _, source, target = op
        return lambda t: t.reassign(customers[source], customers[target])

    def _view(
        self, table: DocumentTable, brute: Brute
    ) -> tuple[list[DocumentRow], list[DocumentLink], list[DocumentLink]]:
        """Everything this namespace holds, through every list: its documents by kind, its
        links by customer and by document (every document ``brute`` holds)."""
        rows = [row for kind in self.space.kinds for row in table.list(kind)]
        mine = [x for customer in self.space.customers for x in table.links_for(customer)]
        linked = [x for k, d in sorted(brute.documents) for x in table.links(k, d)]
        return rows, mine, linked

    @rule(
        operations=st.lists(_OPERATIONS, min_size=1, max_size=5),
        end=st.sampled_from(("commit", "commit", "rollback", "exception")),
    )
    def unit_of_work(self, operations: list[tuple[Any, ...]], end: str) -> None:
        pending = self.brute.copy()
        try:
            with self.backend.transaction() as session:
                for op in operations:
                    call = self._call(op, pending)
                    want, got = _outcome(call, pending), _outcome(call, session.documents)
                    assert got == want, f"{op[0]}: got {got}, the model says {want}"
                assert self._view(session.documents, pending) == self._view(pending, pending)
                if end == "commit":
                    session.commit()
                    self.brute = pending
                elif end == "rollback":
                    session.rollback()
                else:
                    raise _Abandon
        except _Abandon:
            pass

    @invariant()
    def the_store_shows_what_the_model_holds(self) -> None:
        with reading(self.backend) as session:
            rows, mine, linked = self._view(session.documents, self.brute)
        assert (rows, mine, linked) == self._view(self.brute, self.brute)
        assert all(_is_utc(r.created_at) and _is_utc(r.updated_at) for r in rows)
        assert all(_is_utc(x.updated_at) for x in (*mine, *linked))


def _outcome(call: Callable[[DocumentTable], object], table: DocumentTable) -> tuple[str, object]:
    try:
        return "returned", call(table)
    except _ERRORS as exc:
        return "raised", next(kind for kind in _ERRORS if isinstance(exc, kind)).__name__


def machine(store: Store) -> type[RuleBasedStateMachine]:
    """The state machine class, bound to ``store``."""
    return type("DocumentMachine", (_DocumentMachine,), {"backend": store})
