"""SQLite's documents table: the shared statements of :mod:`custrec.backends._sql.documents`
and a batch of links inserted with one ``executemany``.

``documents`` is a rowid table (a document's payload may be large) whose primary key
``(kind, id)`` and index ``documents_tag (kind, tag, id)`` lead to the row; ``document_links``
is kept ``WITHOUT ROWID`` in its primary key's order, ``(kind, document_id, customer_id)``, so a
document's links are read straight from it. Text compares with SQLite's default ``BINARY``
collation: UTF-8 bytes, which order as code points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from custrec.backends._sql import documents
from custrec.backends._sqlite.tables import _Table

__all__ = ["_DocumentTable"]

_INSERT_LINK: Final = (
    f"INSERT INTO document_links ({documents.LINK_COLUMNS}) VALUES ({', '.join('?' * 7)})"
)


class _DocumentTable(_Table, documents.DocumentTableBase):
    def _list_index(self, tag: str | None) -> str:
        """A tag's documents through ``documents_tag``, named: both it and the primary key
        give the kind's documents in id order, and SQLite may take the wider one (it does so
        for links, below)."""
        return "" if tag is None else " INDEXED BY documents_tag"

    def _links_index(self, state: str | None) -> str:
        """The links in a state through ``document_links_state``: SQLite would otherwise walk
        the document's whole range of the primary key, which is in customer-id order too, and
        test each state."""
        return "" if state is None else " INDEXED BY document_links_state"

    def _customer_index(self) -> str:
        """A customer's links through ``document_links_customer``, also with a kind: SQLite
        would otherwise walk the kind's whole range of the primary key, which is in the order
        asked for, and test each customer id."""
        return " INDEXED BY document_links_customer"

    def _insert_links(self, encoded: Sequence[tuple[Any, ...]]) -> int:
        return int(self._conn.executemany(_INSERT_LINK, encoded).rowcount)
