"""The match profiles of every stored customer, read for a batch clustering run.

:meth:`Records.every_customer` opens each stored customer fully (its data key read from the key
store one customer at a time, every field decrypted, the document structured into a
:class:`~custrec.model.records.Customer`). Clustering needs only the comparable facts, so
:func:`stored_profiles` reads a page of rows per short read-only unit of work, reads and
unwraps the page's data keys in one go (:meth:`~custrec.storage.codec.Sealer.preload`), opens
each payload and builds the profile and match keys straight from the document
(:func:`custrec.matching._profiles.document_profile`); a document it does not recognise is
structured and profiled as before. The profiles are exactly those of the full path
(tests/unit/matching/test_profiles.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from custrec.errors import Erased, StorageError
from custrec.matching._profiles import document_profile, profile_and_keys
from custrec.matching.keys import MatchKey
from custrec.matching.levels import MatchProfile
from custrec.model.records import Customer
from custrec.model.serialization import SCHEMA_VERSION
from custrec.services._records import Records, holds_customer
from custrec.services.context import Context
from custrec.storage import CustomerFilter

__all__ = ["stored_profiles"]

_EVERY: Final = CustomerFilter()


def stored_profiles(
    context: Context, records: Records, batch_size: int
) -> Iterator[tuple[MatchProfile, frozenset[MatchKey]]]:
    """``(profile, strong and blocking keys)`` of every stored customer, in id order; records
    whose data key is gone (a restored backup, an interrupted erasure) are left out."""
    after: str | None = None
    converter = context.converter
    while True:
        page: list[tuple[MatchProfile, frozenset[MatchKey]]] = []
        with context.unit(readonly=True) as unit:
            rows = unit.session.customers.query(where=_EVERY, after=after, limit=batch_size)
            held = [row for row in rows if holds_customer(row)]
            unit.sealer.preload([row.id for row in held])
            for row in held:
                try:
                    document = unit.sealer.open_record(
                        Customer, row.payload, customer_id=row.id, facts=records.row_facts(row)
                    )
                except Erased:
                    continue
                if "erased" in document:
                    continue
                if document.get("schema_version") != SCHEMA_VERSION:
                    raise StorageError(f"customer {row.id}: unsupported schema version")
                data = document.get("data")
                found = document_profile(data) if isinstance(data, dict) else None
                if found is None:
                    found = profile_and_keys(converter.structure(data, Customer))
                page.append(found)
        yield from page
        if len(rows) < batch_size:
            return
        after = rows[-1].id
