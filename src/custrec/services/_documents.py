"""Compliance documents inside a unit of work, written once: JSON payloads for documents,
payloads sealed under the customer's data key for their per-customer links.

A document (a recipient, a disclosure, an incident, a sampling batch) concerns many customers
and is not tied to one data key, so its payload is plain JSON that holds no customer data. What
a document says about one customer (that they were disclosed, which notice they were sent, how
their record was checked) is a link whose payload is sealed like a history value: erasing the
customer shreds it, and a merge seals it again under the survivor's key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import attrs

from custrec._checks import check, storable_text
from custrec.errors import Erased, NotFound
from custrec.services.context import Unit
from custrec.storage import DocumentLink, DocumentRow

__all__ = ["KEEP_FIRST", "Documents", "OpenedLink"]

KEEP_FIRST: Final[Mapping[str, tuple[str, ...]]] = {
    "disclosure": ("disclosed", "excluded"),
    "incident": ("notified", "unreachable", "pending", "dropped"),
    "sampling": ("checked", "pending"),
}
"""Per document kind, the link states in the order a merge keeps them when both merged
customers have a link to one document (what must not be lost first)."""


def _dumps(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _field(kind: str, document_id: str) -> str:
    return f"document:{kind}:{document_id}"


@attrs.frozen
class OpenedLink:
    """A link and its opened payload (``None`` when the customer was erased)."""

    link: DocumentLink
    data: Mapping[str, Any] | None


class Documents:
    """Store, read and page compliance documents and their links in a unit of work."""

    @staticmethod
    def add(
        unit: Unit,
        kind: str,
        document_id: str,
        data: Mapping[str, Any],
        *,
        now: datetime,
        tag: str | None = None,
    ) -> DocumentRow:
        """Insert a new document (``DuplicateKey`` if it exists) and return its row."""
        row = DocumentRow(
            kind=kind,
            id=document_id,
            tag=tag,
            created_at=now,
            updated_at=now,
            payload=_dumps(data),
        )
        version = unit.session.documents.add(row)
        return attrs.evolve(row, version=version)

    @staticmethod
    def find(unit: Unit, kind: str, document_id: str) -> DocumentRow | None:
        """The stored document, or ``None``."""
        try:
            return unit.session.documents.get(kind, document_id)
        except NotFound:
            return None

    @staticmethod
    def get(unit: Unit, kind: str, document_id: object, *, what: str) -> DocumentRow:
        """The stored document named by a caller's ``document_id`` (checked: text without NUL,
        ``TypeError``/``ValueError``); ``NotFound`` naming ``what`` ("incident",
        "sampling batch") when there is none."""
        name = check(f"{what} id", document_id, storable_text())
        assert isinstance(name, str)
        row = Documents.find(unit, kind, name) if name else None
        if row is None:
            raise NotFound(f"no {what} {name[:64]!r}")
        return row

    @staticmethod
    def data(row: DocumentRow) -> dict[str, Any]:
        """A document's payload as JSON data."""
        data = json.loads(row.payload)
        assert isinstance(data, dict)
        return data

    @staticmethod
    def replace(
        unit: Unit,
        row: DocumentRow,
        data: Mapping[str, Any],
        *,
        now: datetime,
        tag: str | None = None,
    ) -> DocumentRow:
        """Store a new payload (and tag) for a document read in this unit (compare-and-set
        on the version it had: ``VersionConflict`` when another writer changed it)."""
        new = attrs.evolve(row, tag=tag, updated_at=now, payload=_dumps(data))
        version = unit.session.documents.update(new, expected_version=row.version)
        return attrs.evolve(new, version=version)

    @staticmethod
    def every(
        unit: Unit, kind: str, *, tag: str | None = None, page: int = 500
    ) -> Iterator[DocumentRow]:
        """Every document of ``kind`` (with ``tag``), by id, read ``page`` at a time."""
        after: str | None = None
        while True:
            rows = unit.session.documents.list(kind, tag=tag, after=after, limit=page)
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1].id

    # ---------------------------------------------------------------------------- links

    @staticmethod
    def sealed_link(
        unit: Unit,
        kind: str,
        document_id: str,
        customer_id: str,
        data: Mapping[str, Any],
        *,
        now: datetime,
        state: str | None = None,
    ) -> DocumentLink:
        """A new link, its payload sealed under the customer's data key."""
        payload = unit.sealer.seal_value(
            dict(data), customer_id=customer_id, field=_field(kind, document_id)
        )
        return DocumentLink(
            kind=kind,
            document_id=document_id,
            customer_id=customer_id,
            state=state,
            updated_at=now,
            payload=payload,
        )

    @staticmethod
    def link(unit: Unit, links: Sequence[DocumentLink]) -> None:
        """Insert new links (``DuplicateKey`` when one exists)."""
        if links:
            unit.session.documents.link(links)

    @staticmethod
    def open(unit: Unit, link: DocumentLink) -> OpenedLink:
        """A link with its payload opened (``data`` is ``None`` when the customer's key is
        gone). An empty payload is a link that records nothing yet (a sampled record not
        checked): it opens as ``{}`` without the customer's key."""
        if not link.payload:
            return OpenedLink(link, {})
        try:
            data = unit.sealer.open_value(
                link.payload,
                customer_id=link.customer_id,
                field=_field(link.kind, link.document_id),
            )
        except Erased:
            return OpenedLink(link, None)
        assert isinstance(data, dict)
        return OpenedLink(link, data)

    @staticmethod
    def relink(
        unit: Unit,
        link: DocumentLink,
        data: Mapping[str, Any],
        *,
        now: datetime,
        state: str | None,
    ) -> DocumentLink:
        """Store a new payload and state for a link read in this unit (compare-and-set)."""
        new = attrs.evolve(
            Documents.sealed_link(
                unit,
                link.kind,
                link.document_id,
                link.customer_id,
                data,
                now=now,
                state=state,
            ),
            version=link.version,
        )
        version = unit.session.documents.update_link(new, expected_version=link.version)
        return attrs.evolve(new, version=version)

    @staticmethod
    def links(
        unit: Unit, kind: str, document_id: str, *, state: str | None = None, page: int = 500
    ) -> Iterator[DocumentLink]:
        """Every link of one document (in ``state``), by customer id, ``page`` at a time."""
        after: str | None = None
        while True:
            rows = unit.session.documents.links(
                kind, document_id, state=state, after=after, limit=page
            )
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1].customer_id

    @staticmethod
    def move(unit: Unit, from_customer_id: str, to_customer_id: str, now: datetime) -> int:
        """Move a merged customer's links to the survivor, sealed again under its key.

        Where a document already names the survivor, the two entries become one: the state
        that must not be lost wins (:data:`KEEP_FIRST`: disclosed over excluded, notified over
        pending, checked over pending), its data kept, the other entry's data and state kept
        under ``merged``. Returns how many links moved."""
        table = unit.session.documents
        theirs = [Documents.open(unit, link) for link in table.links_for(from_customer_id)]
        clashes: list[tuple[OpenedLink, OpenedLink]] = []
        for item in theirs:
            try:
                held = table.get_link(item.link.kind, item.link.document_id, to_customer_id)
            except NotFound:
                continue
            clashes.append((item, Documents.open(unit, held)))
        moved = table.reassign(from_customer_id, to_customer_id)
        clashing = {(m.link.kind, m.link.document_id) for _, m in clashes}
        for item in theirs:
            key = (item.link.kind, item.link.document_id)
            if key in clashing:
                continue
            link = table.get_link(item.link.kind, item.link.document_id, to_customer_id)
            Documents.relink(
                unit, link, item.data if item.data is not None else {}, now=now, state=link.state
            )
        for other, mine in clashes:
            order = KEEP_FIRST.get(mine.link.kind, ())

            def rank(state: str | None, order: tuple[str, ...] = order) -> int:
                return order.index(state) if state in order else len(order)

            first = rank(other.link.state) < rank(mine.link.state)
            keep, drop = (other, mine) if first else (mine, other)
            data = dict(keep.data or {})
            data["merged"] = [
                *data.get("merged", ()),
                {"state": drop.link.state, "data": drop.data},
            ]
            Documents.relink(unit, mine.link, data, now=now, state=keep.link.state)
        return moved
