"""The documents table: its columns, row mapping and the SQL every dialect shares (private;
see :mod:`custrec.backends._sql`).

Two tables, named in each dialect's schema: ``documents``, keyed by ``(kind, id)`` with an index
``(kind, tag, id)``, and ``document_links``, keyed by ``(kind, document_id, customer_id)`` with
indexes ``(kind, document_id, state, customer_id)`` and ``(customer_id, kind, document_id)``.
So every list is one range of one index, in the order it returns: a kind's documents (by id),
those with a tag, a document's links (by customer id), those in a state, and a customer's links
(by kind and document id); a count of a document's links reads its range of the state index.

Compare-and-set is in the ``UPDATE`` itself (``... AND version = %s``, then the row count);
the refusal reads the stored version to tell ``NotFound`` from ``VersionConflict``. A batch of
links is checked for repeats and existing links before anything is written, and written in one
step that a unique violation undoes whole (the operation's savepoint).
"""

from __future__ import annotations

import builtins
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from typing import Any, Final

from custrec.backends._sql.dialect import Dialect
from custrec.backends._sql.session import reads, writes, writes_one_statement
from custrec.backends._sql.tables import SQLTable
from custrec.errors import DuplicateKey, NotFound, StorageError, VersionConflict
from custrec.storage import checks
from custrec.storage.types import DocumentLink, DocumentRow

__all__ = [
    "DOCUMENT_COLUMNS",
    "LINK_COLUMNS",
    "DocumentTableBase",
    "LinkKey",
    "document_link",
    "document_row",
    "link_name",
]

DOCUMENT_COLUMNS: Final = "kind, id, version, tag, created_at, updated_at, payload"
LINK_COLUMNS: Final = "kind, document_id, customer_id, version, state, updated_at, payload"
_MARKS: Final = ", ".join(["%s"] * 7)
_CHUNK: Final = 500  # ids per IN (...): the existing-link check, get_many

LinkKey = tuple[str, str, str]
"""A link's key: ``(kind, document_id, customer_id)``."""


def document_row(r: Sequence[Any], d: Dialect) -> DocumentRow:
    """A document from :data:`DOCUMENT_COLUMNS`."""
    return DocumentRow(
        kind=r[0],
        id=r[1],
        version=int(r[2]),
        tag=r[3],
        created_at=d.read_instant(r[4]),
        updated_at=d.read_instant(r[5]),
        payload=bytes(r[6]),
    )


def document_link(r: Sequence[Any], d: Dialect) -> DocumentLink:
    """A link from :data:`LINK_COLUMNS`."""
    return DocumentLink(
        kind=r[0],
        document_id=r[1],
        customer_id=r[2],
        version=int(r[3]),
        state=r[4],
        updated_at=d.read_instant(r[5]),
        payload=bytes(r[6]),
    )


def link_name(key: Sequence[str]) -> str:
    """How errors name a link (ids only: documents hold nothing personal, ids are opaque)."""
    return f"link of document {key[0]} {key[1]} to customer {key[2]}"


def _repeated(keys: Sequence[LinkKey]) -> LinkKey | None:
    """The smallest key that occurs more than once in ``keys``, if any."""
    seen: set[LinkKey] = set()
    twice: set[LinkKey] = set()
    for key in keys:
        (twice if key in seen else seen).add(key)
    return min(twice) if twice else None


def _by_document(keys: Sequence[LinkKey]) -> Iterator[tuple[str, str, list[str]]]:
    """``(kind, document_id, [customer ids])`` per document of ``keys``, ids sorted."""
    for (kind, document_id), group in groupby(sorted(keys), key=lambda k: (k[0], k[1])):
        yield kind, document_id, [key[2] for key in group]


class DocumentTableBase(SQLTable):
    """Compliance documents and their links: everything but the bulk insert of links."""

    _name = "documents"

    # -- what a dialect may change ----------------------------------------------------------

    def _row_lock(self) -> str:
        """A clause locking the row a write session reads by key (none by default: a backend
        with one writer at a time needs none)."""
        return ""

    def _list_index(self, tag: str | None) -> str:
        """What follows ``FROM documents`` in :meth:`list` (a dialect may name the index)."""
        return ""

    def _links_index(self, state: str | None) -> str:
        """What follows ``FROM document_links`` in :meth:`links`."""
        return ""

    def _customer_index(self) -> str:
        """What follows ``FROM document_links`` in :meth:`links_for`."""
        return ""

    @abstractmethod
    def _insert_links(self, encoded: Sequence[tuple[Any, ...]]) -> int:
        """Insert checked links (:data:`LINK_COLUMNS` order, version 1, no key repeated or
        stored) in one step; return how many."""

    def _existing_link(self, keys: Sequence[LinkKey]) -> LinkKey | None:
        """The smallest of ``keys`` (distinct) that is stored already, if any: a statement per
        document and 500 of its customer ids, each id a seek of the primary key."""
        for kind, document_id, customer_ids in _by_document(keys):
            for start in range(0, len(customer_ids), _CHUNK):
                chunk = customer_ids[start : start + _CHUNK]
                found = self._run(
                    "SELECT min(customer_id) FROM {s}.document_links"
                    " WHERE kind = %s AND document_id = %s"
                    f" AND customer_id IN ({', '.join(['%s'] * len(chunk))})",
                    (kind, document_id, *chunk),
                ).fetchone()
                if found is not None and found[0] is not None:
                    return kind, document_id, found[0]
        return None

    # -- encoding and refusals --------------------------------------------------------------

    def _encode(self, row: DocumentRow) -> tuple[Any, ...]:
        """The checked row's parameters in :data:`DOCUMENT_COLUMNS` order, version 1."""
        row = checks.check_document(row)
        d = self._d
        return (
            row.kind,
            row.id,
            1,
            row.tag,
            d.instant(row.created_at),
            d.instant(row.updated_at),
            bytes(row.payload),
        )

    def _encode_link(self, link: DocumentLink) -> tuple[Any, ...]:
        """The checked link's parameters in :data:`LINK_COLUMNS` order, version 1."""
        link = checks.check_link(link)
        return (
            link.kind,
            link.document_id,
            link.customer_id,
            1,
            link.state,
            self._d.instant(link.updated_at),
            bytes(link.payload),
        )

    def _refuse(
        self, what: str, template: str, key: Sequence[str], expected_version: int
    ) -> StorageError:
        found = self._run(template, key).fetchone()
        if found is None:
            return NotFound(what)
        return VersionConflict(what, expected=expected_version, actual=int(found[0]))

    # -- documents --------------------------------------------------------------------------

    @writes_one_statement
    def add(self, row: DocumentRow) -> int:
        self._insert(
            f"INSERT INTO {{s}}.documents ({DOCUMENT_COLUMNS}) VALUES ({_MARKS})",
            self._encode(row),
            f"document {row.kind} {row.id}",
        )
        return 1

    @reads
    def get(self, kind: str, document_id: str) -> DocumentRow:
        checks.check_text(kind, "kind")
        checks.check_text(document_id, "document_id")
        found = self._run(
            f"SELECT {DOCUMENT_COLUMNS} FROM {{s}}.documents WHERE kind = %s AND id = %s"
            + self._row_lock(),
            (kind, document_id),
        ).fetchone()
        if found is None:
            raise NotFound(f"document {kind} {document_id}")
        return document_row(found, self._d)

    @reads
    def get_many(self, kind: str, document_ids: Iterable[str]) -> builtins.list[DocumentRow]:
        """500 ids a statement, each a seek of the primary key."""
        checks.check_text(kind, "kind")
        ids = checks.text_items(document_ids, "document_id")
        wanted = sorted({checks.check_text(i, "document_id") for i in ids})
        found: builtins.list[DocumentRow] = []
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows = self._run(
                f"SELECT {DOCUMENT_COLUMNS} FROM {{s}}.documents WHERE kind = %s"
                f" AND id IN ({', '.join(['%s'] * len(chunk))})",
                (kind, *chunk),
            )
            found.extend(document_row(r, self._d) for r in rows)
        found.sort(key=lambda row: row.id)  # code-point order, whatever the collation
        return found

    @writes_one_statement
    def update(self, row: DocumentRow, *, expected_version: int) -> int:
        """Compare-and-set in the ``UPDATE`` itself; ``created_at`` stays."""
        params = self._encode(row)
        expected = checks.version(expected_version)
        cursor = self._run(
            "UPDATE {s}.documents SET tag = %s, updated_at = %s, payload = %s,"
            " version = version + 1 WHERE kind = %s AND id = %s AND version = %s",
            (params[3], params[5], params[6], row.kind, row.id, expected),
        )
        if cursor.rowcount != 1:
            raise self._refuse(
                f"document {row.kind} {row.id}",
                "SELECT version FROM {s}.documents WHERE kind = %s AND id = %s",
                (row.kind, row.id),
                expected_version,
            )
        return expected_version + 1

    @reads
    def list(
        self,
        kind: str,
        *,
        tag: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> builtins.list[DocumentRow]:
        limit = checks.bounded(limit)
        checks.check_text(kind, "kind")
        checks.check_optional_text(tag, "tag")
        checks.check_optional_text(after, "after")
        sql = (
            f"SELECT {DOCUMENT_COLUMNS} FROM {{s}}.documents{self._list_index(tag)} WHERE kind = %s"
        )
        params: builtins.list[Any] = [kind]
        if tag is not None:
            sql += " AND tag = %s"
            params.append(tag)
        if after is not None:
            sql += " AND id > %s"
            params.append(after)
        params.append(limit)
        found = self._run(sql + " ORDER BY id LIMIT %s", params)
        return [document_row(r, self._d) for r in found]

    # -- links ------------------------------------------------------------------------------

    @writes
    def link(self, links: Sequence[DocumentLink]) -> int:
        encoded = [self._encode_link(link) for link in links]
        if not encoded:
            return 0
        keys: builtins.list[LinkKey] = [(p[0], p[1], p[2]) for p in encoded]
        repeated = _repeated(keys)
        if repeated is not None:
            raise DuplicateKey(f"{link_name(repeated)} (twice in the batch)")
        existing = self._existing_link(keys)
        if existing is not None:
            raise DuplicateKey(link_name(existing))
        try:
            return self._insert_links(encoded)
        except self._session._driver_errors as exc:
            if self._is_duplicate(exc):  # inserted by another session meanwhile
                raise DuplicateKey("document link (inserted concurrently)") from exc
            raise

    @reads
    def get_link(self, kind: str, document_id: str, customer_id: str) -> DocumentLink:
        key = (kind, document_id, customer_id)
        for value, name in zip(key, ("kind", "document_id", "customer_id"), strict=True):
            checks.check_text(value, name)
        found = self._run(
            f"SELECT {LINK_COLUMNS} FROM {{s}}.document_links"
            " WHERE kind = %s AND document_id = %s AND customer_id = %s" + self._row_lock(),
            key,
        ).fetchone()
        if found is None:
            raise NotFound(link_name(key))
        return document_link(found, self._d)

    @writes_one_statement
    def update_link(self, link: DocumentLink, *, expected_version: int) -> int:
        """Compare-and-set in the ``UPDATE`` itself."""
        params = self._encode_link(link)
        expected = checks.version(expected_version)
        key = params[:3]
        cursor = self._run(
            "UPDATE {s}.document_links SET state = %s, updated_at = %s, payload = %s,"
            " version = version + 1"
            " WHERE kind = %s AND document_id = %s AND customer_id = %s AND version = %s",
            (*params[4:], *key, expected),
        )
        if cursor.rowcount != 1:
            raise self._refuse(
                link_name(key),
                "SELECT version FROM {s}.document_links"
                " WHERE kind = %s AND document_id = %s AND customer_id = %s",
                key,
                expected_version,
            )
        return expected_version + 1

    @reads
    def links(
        self,
        kind: str,
        document_id: str,
        *,
        state: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> builtins.list[DocumentLink]:
        limit = checks.bounded(limit)
        checks.check_text(kind, "kind")
        checks.check_text(document_id, "document_id")
        checks.check_optional_text(state, "state")
        checks.check_optional_text(after, "after")
        sql = (
            f"SELECT {LINK_COLUMNS} FROM {{s}}.document_links{self._links_index(state)}"
            " WHERE kind = %s AND document_id = %s"
        )
        params: builtins.list[Any] = [kind, document_id]
        if state is not None:
            sql += " AND state = %s"
            params.append(state)
        if after is not None:
            sql += " AND customer_id > %s"
            params.append(after)
        params.append(limit)
        found = self._run(sql + " ORDER BY customer_id LIMIT %s", params)
        return [document_link(r, self._d) for r in found]

    @reads
    def count_links(self, kind: str, document_id: str, *, state: str | None = None) -> int:
        checks.check_text(kind, "kind")
        checks.check_text(document_id, "document_id")
        checks.check_optional_text(state, "state")
        sql = "SELECT count(*) FROM {s}.document_links WHERE kind = %s AND document_id = %s"
        params: builtins.list[Any] = [kind, document_id]
        if state is not None:
            sql += " AND state = %s"
            params.append(state)
        return int(self._run(sql, params).fetchone()[0])

    @reads
    def links_for(
        self, customer_id: str, *, kind: str | None = None
    ) -> builtins.list[DocumentLink]:
        checks.check_text(customer_id, "customer_id")
        checks.check_optional_text(kind, "kind")
        sql = (
            f"SELECT {LINK_COLUMNS} FROM {{s}}.document_links{self._customer_index()}"
            " WHERE customer_id = %s"
        )
        params: builtins.list[Any] = [customer_id]
        if kind is not None:
            sql += " AND kind = %s"
            params.append(kind)
        found = self._run(sql + " ORDER BY kind, document_id", params)
        return [document_link(r, self._d) for r in found]

    @writes
    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        """Two statements: drop the links whose document links the target already, then move
        the rest (their versions, states and instants unchanged)."""
        checks.check_texts((from_customer_id, to_customer_id), "customer_id")
        if from_customer_id == to_customer_id:
            return 0
        try:
            _, moved = self._run_all(
                (
                    "DELETE FROM {s}.document_links WHERE customer_id = %s"
                    " AND (kind, document_id) IN (SELECT kind, document_id"
                    " FROM {s}.document_links WHERE customer_id = %s)",
                    (from_customer_id, to_customer_id),
                ),
                (
                    "UPDATE {s}.document_links SET customer_id = %s WHERE customer_id = %s",
                    (to_customer_id, from_customer_id),
                ),
            )
        except self._session._driver_errors as exc:
            if self._is_duplicate(exc):  # a writer in parallel linked the target meanwhile
                raise StorageError(
                    "documents.reassign: another session linked the target customer meanwhile;"
                    " retry the unit of work",
                    retry_safe=True,
                ) from exc
            raise
        return moved.rowcount
