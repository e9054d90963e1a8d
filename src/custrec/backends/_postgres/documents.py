"""PostgreSQL's documents table: the shared statements of :mod:`custrec.backends._sql.documents`,
a batch of links checked and inserted with one statement each (``unnest`` of arrays), and rows
read by key locked in a write session.

Every text column of ``documents`` and ``document_links`` uses the ``"C"`` collation, so ids
order by code point; the arrays a batch sends are cast to it too, so that they compare with the
columns without a collation conflict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from custrec.backends._postgres.tables import _Table
from custrec.backends._sql import documents
from custrec.backends._sql.documents import LinkKey

__all__ = ["_DocumentTable"]

_EXISTING: Final = (
    "SELECT l.kind, l.document_id, l.customer_id FROM {s}.document_links AS l"
    " JOIN unnest(%s::text[], %s::text[], %s::text[]) AS u (kind, document_id, customer_id)"
    ' ON l.kind = u.kind COLLATE "C" AND l.document_id = u.document_id COLLATE "C"'
    ' AND l.customer_id = u.customer_id COLLATE "C"'
    " ORDER BY l.kind, l.document_id, l.customer_id LIMIT 1"
)

_INSERT: Final = (
    f"INSERT INTO {{s}}.document_links ({documents.LINK_COLUMNS}) "
    "SELECT u.kind, u.document_id, u.customer_id, 1, u.state, u.updated_at, u.payload"
    " FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[],"
    "  %s::bytea[]) WITH ORDINALITY AS u (kind, document_id, customer_id, state, updated_at,"
    "  payload, ord)"
    " ORDER BY u.ord"
)


class _DocumentTable(_Table, documents.DocumentTableBase):
    def _row_lock(self) -> str:
        """In a write session, ``FOR UPDATE``: what the session read stays true until it
        commits, so a read-modify-write of one document or link waits for a concurrent one."""
        return "" if self._session._readonly else " FOR UPDATE"

    def _existing_link(self, keys: Sequence[LinkKey]) -> LinkKey | None:
        """One statement: the batch's keys joined to the primary key."""
        columns = [list(c) for c in zip(*keys, strict=True)]
        found = self._exec(_EXISTING, columns).fetchone()
        return None if found is None else (found[0], found[1], found[2])

    def _insert_links(self, encoded: Sequence[tuple[Any, ...]]) -> int:
        columns = [list(c) for i, c in enumerate(zip(*encoded, strict=True)) if i != 3]
        return self._exec(_INSERT, columns).rowcount
