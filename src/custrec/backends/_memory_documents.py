"""MemoryStore's ``documents`` table (private; see :mod:`custrec.backends.memory`).

A state holds two keyed tables: ``documents`` (``"<kind>\\0<id>"`` -> row) and
``document_links`` (``"<kind>\\0<document id>\\0<customer id>"`` -> link), their parts joined
by NUL. Text never holds NUL, the lowest code point, so joined keys sort exactly as the tuples
they join (``("ab", "z")`` before ``("abc", "a")``). Each table is a :class:`DocumentRows` or
:class:`LinkRows`: a dict that keeps its sorted indexes in step on every ``__setitem__`` and
``pop``, so the store's generic key-by-key writes, syncs and copy-on-write copies (``get``,
``pop``, ``[key] = row``, ``copy``) maintain them with no hook:

- documents: every key (a kind's documents by id) and ``"<kind>\\0<tag>\\0<id>"`` for tagged rows;
- links: every key (a document's links by customer id),
  ``"<kind>\\0<document id>\\0<state>\\0<customer id>"`` for links with a state, and
  ``"<customer id>\\0<kind>\\0<document id>"`` (a customer's links by ``(kind, document_id)``).

A list walks its index from the first key after ``prefix + after`` and stops at the first key
outside the prefix: it reads only the rows it returns and those its filter skips.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar, Final, Generic, Self, TypeVar

import attrs

from custrec.backends._memory_sorted import SortedIds
from custrec.errors import DuplicateKey, NotFound, VersionConflict
from custrec.storage import checks
from custrec.storage.types import DocumentLink, DocumentRow

if TYPE_CHECKING:
    from custrec.backends.memory import _MemorySession, _State

__all__ = ["DOCUMENT_TABLES", "DocumentRows", "LinkRows", "MemoryDocuments"]

DOCUMENT_TABLES: Final = ("documents", "document_links")
"""The state tables this module keeps."""

_SEP: Final = "\x00"

R = TypeVar("R", DocumentRow, DocumentLink)


def _joined(*parts: str) -> str:
    return _SEP.join(parts)


def _walk(index: SortedIds, prefix: str, after: str | None) -> Iterator[str]:
    """The rest of the keys of ``index`` that start with ``prefix`` (which ends with NUL) and
    whose remainder is greater than ``after``, in order."""
    for key in index.after(prefix if after is None else prefix + after):
        if not key.startswith(prefix):
            return
        yield key[len(prefix) :]


class _Indexed(Generic[R]):
    """A keyed table (key -> row) with sorted index keys that follow every change."""

    _INDEXES: ClassVar[int] = 0

    def __init__(self) -> None:
        self._rows: dict[str, R] = {}
        self.indexes: tuple[SortedIds, ...] = tuple(SortedIds() for _ in range(self._INDEXES))

    @staticmethod
    def _entries(key: str, row: R) -> tuple[str | None, ...]:
        """The row's key in each index (``None``: not in that one)."""
        raise NotImplementedError

    def _reindex(self, key: str, old: R | None, new: R | None) -> None:
        before = (None,) * self._INDEXES if old is None else self._entries(key, old)
        after = (None,) * self._INDEXES if new is None else self._entries(key, new)
        for index, gone, came in zip(self.indexes, before, after, strict=True):
            if gone != came:
                if gone is not None:
                    index.remove(gone)
                if came is not None:
                    index.add(came)

    def get(self, key: str) -> R | None:
        return self._rows.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, key: str) -> R:
        return self._rows[key]

    def __setitem__(self, key: str, row: R) -> None:
        old = self._rows.get(key)
        self._rows[key] = row
        if old is not row:
            self._reindex(key, old, row)

    def pop(self, key: str, default: R | None = None) -> R | None:
        old = self._rows.pop(key, None)
        if old is None:
            return default
        self._reindex(key, old, None)
        return old

    def copy(self) -> Self:
        twin = type(self)()
        twin._rows = self._rows.copy()
        twin.indexes = tuple(index.copy() for index in self.indexes)
        return twin


class DocumentRows(_Indexed[DocumentRow]):
    """``documents``: by ``(kind, id)``; by ``(kind, tag, id)`` for tagged rows."""

    _INDEXES = 2

    @staticmethod
    def _entries(key: str, row: DocumentRow) -> tuple[str | None, ...]:
        return key, None if row.tag is None else _joined(row.kind, row.tag, row.id)


class LinkRows(_Indexed[DocumentLink]):
    """``document_links``: by ``(kind, document_id, customer_id)``; by ``(kind, document_id,
    state, customer_id)`` for links with a state; by ``(customer_id, kind, document_id)``."""

    _INDEXES = 3

    @staticmethod
    def _entries(key: str, row: DocumentLink) -> tuple[str | None, ...]:
        kind, document, customer = row.kind, row.document_id, row.customer_id
        state = None if row.state is None else _joined(kind, document, row.state, customer)
        return key, state, _joined(customer, kind, document)


class MemoryDocuments:
    """``session.documents``: see :class:`custrec.storage.DocumentTable`."""

    def __init__(self, session: _MemorySession) -> None:
        self._session = session

    @property
    def _state(self) -> _State:
        return self._session.state

    # -- documents ----------------------------------------------------------------------------

    def add(self, row: DocumentRow) -> int:
        self._session.check_open(write=True)
        row = checks.check_document(row)
        key = _joined(row.kind, row.id)
        if key in self._state.documents:
            raise DuplicateKey(f"document {row.kind} {row.id}")
        self._session.write("documents", key, attrs.evolve(row, version=1))
        return 1

    def get(self, kind: str, document_id: str) -> DocumentRow:
        self._session.check_open()
        checks.check_text(kind, "kind")
        checks.check_text(document_id, "document_id")
        row = self._state.documents.get(_joined(kind, document_id))
        if row is None:
            raise NotFound(f"document {kind} {document_id}")
        return row

    def get_many(self, kind: str, document_ids: Iterable[str]) -> list[DocumentRow]:
        self._session.check_open()
        checks.check_text(kind, "kind")
        ids = checks.text_items(document_ids, "document_id")
        wanted = sorted({checks.check_text(i, "document_id") for i in ids})
        rows = self._state.documents
        return [row for i in wanted if (row := rows.get(_joined(kind, i))) is not None]

    def update(self, row: DocumentRow, *, expected_version: int) -> int:
        self._session.check_open(write=True)
        row = checks.check_document(row)
        checks.version(expected_version)
        key = _joined(row.kind, row.id)
        current = self._state.documents.get(key)
        if current is None:
            raise NotFound(f"document {row.kind} {row.id}")
        if current.version != expected_version:
            raise VersionConflict(
                f"document {row.kind} {row.id}", expected=expected_version, actual=current.version
            )
        new = attrs.evolve(
            current,
            tag=row.tag,
            updated_at=row.updated_at,
            payload=row.payload,
            version=current.version + 1,
        )
        self._session.write("documents", key, new)
        return new.version

    # -- links --------------------------------------------------------------------------------

    def link(self, links: Sequence[DocumentLink]) -> int:
        self._session.check_open(write=True)
        batch = [checks.check_link(link) for link in links]
        stored = self._state.document_links
        keys: dict[str, DocumentLink] = {}
        for link in batch:
            key = _joined(link.kind, link.document_id, link.customer_id)
            if key in keys or key in stored:
                raise DuplicateKey(
                    f"link of document {link.kind} {link.document_id} to customer "
                    f"{link.customer_id}" + (" (twice in the batch)" if key in keys else "")
                )
            keys[key] = link
        for key, link in keys.items():
            self._session.write("document_links", key, attrs.evolve(link, version=1))
        return len(keys)

    def get_link(self, kind: str, document_id: str, customer_id: str) -> DocumentLink:
        self._session.check_open()
        checks.check_text(kind, "kind")
        checks.check_text(document_id, "document_id")
        checks.check_text(customer_id, "customer_id")
        link = self._state.document_links.get(_joined(kind, document_id, customer_id))
        if link is None:
            raise NotFound(f"link of document {kind} {document_id} to customer {customer_id}")
        return link

    def update_link(self, link: DocumentLink, *, expected_version: int) -> int:
        self._session.check_open(write=True)
        link = checks.check_link(link)
        checks.version(expected_version)
        key = _joined(link.kind, link.document_id, link.customer_id)
        what = f"link of document {link.kind} {link.document_id} to customer {link.customer_id}"
        current = self._state.document_links.get(key)
        if current is None:
            raise NotFound(what)
        if current.version != expected_version:
            raise VersionConflict(what, expected=expected_version, actual=current.version)
        new = attrs.evolve(
            current,
            state=link.state,
            updated_at=link.updated_at,
            payload=link.payload,
            version=current.version + 1,
        )
        self._session.write("document_links", key, new)
        return new.version

    def _customers(
        self, kind: str, document_id: str, state: str | None, after: str | None
    ) -> Iterator[str]:
        """The customer ids of a document's links (in ``state``), greater than ``after``."""
        by_key, by_state, _by_customer = self._state.document_links.indexes
        if state is None:
            return _walk(by_key, _joined(kind, document_id, ""), after)
        return _walk(by_state, _joined(kind, document_id, state, ""), after)

    def links(
        self,
        kind: str,
        document_id: str,
        *,
        state: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[DocumentLink]:
        self._session.check_open()
        limit = checks.bounded(limit)
        checks.check_text(kind, "kind")
        checks.check_text(document_id, "document_id")
        checks.check_optional_text(state, "state")
        checks.check_optional_text(after, "after")
        links = self._state.document_links
        customers = itertools.islice(self._customers(kind, document_id, state, after), limit)
        return [links[_joined(kind, document_id, c)] for c in customers]

    def count_links(self, kind: str, document_id: str, *, state: str | None = None) -> int:
        self._session.check_open()
        checks.check_text(kind, "kind")
        checks.check_text(document_id, "document_id")
        checks.check_optional_text(state, "state")
        return sum(1 for _ in self._customers(kind, document_id, state, None))

    def _of(self, customer_id: str, kind: str | None) -> list[DocumentLink]:
        """Every link of one customer (of ``kind``), by ``(kind, document_id)``."""
        links = self._state.document_links
        _by_key, _by_state, by_customer = links.indexes
        if kind is None:
            found = [rest.split(_SEP) for rest in _walk(by_customer, customer_id + _SEP, None)]
        else:
            found = [[kind, d] for d in _walk(by_customer, _joined(customer_id, kind, ""), None)]
        return [links[_joined(k, d, customer_id)] for k, d in found]

    def links_for(self, customer_id: str, *, kind: str | None = None) -> list[DocumentLink]:
        self._session.check_open()
        checks.check_text(customer_id, "customer_id")
        checks.check_optional_text(kind, "kind")
        return self._of(customer_id, kind)

    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        self._session.check_open(write=True)
        checks.check_texts((from_customer_id, to_customer_id), "customer_id")
        if from_customer_id == to_customer_id:
            return 0
        write, moved = self._session.write, 0
        for link in self._of(from_customer_id, None):
            kind, document = link.kind, link.document_id
            write("document_links", _joined(kind, document, from_customer_id), None)
            target = _joined(kind, document, to_customer_id)
            if target not in self._state.document_links:  # else the survivor's link stays
                write("document_links", target, attrs.evolve(link, customer_id=to_customer_id))
                moved += 1
        return moved

    # -- last, so that ``list`` in the annotations above is the builtin -------------------------

    def list(
        self,
        kind: str,
        *,
        tag: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[DocumentRow]:
        self._session.check_open()
        limit = checks.bounded(limit)
        checks.check_text(kind, "kind")
        checks.check_optional_text(tag, "tag")
        checks.check_optional_text(after, "after")
        rows = self._state.documents
        by_id, by_tag = rows.indexes
        if tag is None:
            ids = _walk(by_id, _joined(kind, ""), after)
        else:
            ids = _walk(by_tag, _joined(kind, tag, ""), after)
        return [rows[_joined(kind, i)] for i in itertools.islice(ids, limit)]
