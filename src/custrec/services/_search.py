"""Name search through blind indexes (``registry.customers.search``)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from custrec.matching.names import query_keys
from custrec.model.records import Customer
from custrec.security import Actor
from custrec.services._records import Records
from custrec.services.context import Context
from custrec.storage import CustomerFilter

__all__ = ["search_names"]

_STEP: Final = 200  # rows read per step while filling a page


def search_names(
    context: Context,
    records: Records,
    text: str,
    *,
    actor: Actor,
    after: str | None,
    limit: int,
    now: datetime,
    where: CustomerFilter,
) -> list[Customer]:
    """Up to ``limit`` customers after ``after`` (by id) whose name keys match ``text`` and
    that ``actor`` may read, opened and audited in one read unit, with one
    ``customer.search`` entry for the search itself (its text is never recorded)."""
    keys = query_keys(text)
    tokens = {token for key in sorted(keys) for token in context.codec.lookup_keys(key)}
    with context.read_unit() as unit:
        posted = unit.session.customers.lookup_many(sorted(tokens)) if tokens else {}
        ids = sorted({i for found in posted.values() for i in found if after is None or i > after})
        shown: list[Customer] = []
        start = 0
        while len(shown) < limit and start < len(ids):
            rows = [
                row
                for row in unit.session.customers.get_many(ids[start : start + _STEP])
                if where.matches(row)
            ]
            start += _STEP
            readable = records.readable(actor, rows)[: limit - len(shown)]
            shown.extend(records.read_and_audit(unit, actor, readable, now))
        unit.audit(
            actor,
            "customer.search",
            at=now,
            fields=["name"],
            reason=f"{len(keys)} keys, {len(shown)} found",
        )
        unit.commit()
    return shown
