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

With ``reopen`` (a picklable callable that opens the same registry: the same store, the same
key source), opening and profiling is shared with a second process
(:mod:`custrec.services._profile_worker`): this process reads the pages of rows, opens every
other page itself and hands the others, sealed payloads and non-personal facts only, to the
worker, which opens them with keys it reads from the key source itself. The profiles come back
in page order, so the stream is the same as in one process.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Final

from custrec.errors import Erased, StorageError
from custrec.matching._profiles import document_profile, profile_and_keys
from custrec.matching.keys import MatchKey
from custrec.matching.levels import MatchProfile
from custrec.model.records import Customer
from custrec.model.serialization import SCHEMA_VERSION
from custrec.services._records import Records, holds_customer
from custrec.services.context import Context, Unit
from custrec.storage import CustomerFilter

__all__ = ["Page", "Profiled", "open_page", "stored_profiles"]

_EVERY: Final = CustomerFilter()
_MINE: Final = 2  # this process opens one page in _MINE (it also reads rows and spills)
_AHEAD: Final = 2  # pages handed to the worker and not yet taken back

Page = list[tuple[str, bytes, dict[str, Any]]]
"""Rows to open: ``(customer id, sealed payload, the row's facts)``."""
Profiled = tuple[MatchProfile, frozenset[MatchKey]]


def open_page(unit: Unit, converter: Any, page: Page) -> tuple[list[Profiled], list[str]]:
    """The profiles of a page's customers, in page order, and the ids left out because their
    data key is gone (erased) or the document says so."""
    unit.sealer.preload([cid for cid, _, _ in page])
    found: list[Profiled] = []
    gone: list[str] = []
    for cid, payload, facts in page:
        try:
            document = unit.sealer.open_record(Customer, payload, customer_id=cid, facts=facts)
        except Erased:
            gone.append(cid)
            continue
        if "erased" in document:
            gone.append(cid)
            continue
        if document.get("schema_version") != SCHEMA_VERSION:
            raise StorageError(f"customer {cid}: unsupported schema version")
        data = document.get("data")
        profiled = document_profile(data) if isinstance(data, dict) else None
        if profiled is None:
            profiled = profile_and_keys(converter.structure(data, Customer))
        found.append(profiled)
    return found, gone


def stored_profiles(
    context: Context,
    records: Records,
    batch_size: int,
    reopen: Callable[[], Any] | None = None,
) -> Iterator[Profiled]:
    """``(profile, strong and blocking keys)`` of every stored customer, in id order; records
    whose data key is gone (a restored backup, an interrupted erasure) are left out. With
    ``reopen``, a second process opens every other page (see the module docstring)."""
    if reopen is None:
        yield from _one_process(context, records, batch_size)
    else:
        yield from _two_processes(context, records, batch_size, reopen)


def _one_process(context: Context, records: Records, batch_size: int) -> Iterator[Profiled]:
    after: str | None = None
    while True:
        with context.unit(readonly=True) as unit:
            rows = unit.session.customers.query(where=_EVERY, after=after, limit=batch_size)
            page = [(r.id, r.payload, records.row_facts(r)) for r in rows if holds_customer(r)]
            found, _ = open_page(unit, context.converter, page)
        yield from found
        if len(rows) < batch_size:
            return
        after = rows[-1].id


def _pages(context: Context, records: Records, batch_size: int) -> Iterator[Page]:
    after: str | None = None
    while True:
        with context.unit(readonly=True) as unit:
            rows = unit.session.customers.query(where=_EVERY, after=after, limit=batch_size)
        yield [(r.id, r.payload, records.row_facts(r)) for r in rows if holds_customer(r)]
        if len(rows) < batch_size:
            return
        after = rows[-1].id


def _two_processes(
    context: Context, records: Records, batch_size: int, reopen: Callable[[], Any]
) -> Iterator[Profiled]:
    from custrec.services._profile_worker import ProfileWorker  # spawns only when asked

    pages = _pages(context, records, batch_size)
    queue: deque[tuple[Page, bool]] = deque()  # (page, opened by the worker)
    with ProfileWorker(reopen) as worker:
        ahead = 0
        number = 0
        exhausted = False
        while True:
            while not exhausted and ahead < _AHEAD:
                page = next(pages, None)
                if page is None:
                    exhausted = True
                    break
                theirs = number % _MINE != 0
                number += 1
                if theirs:
                    worker.send(page)
                    ahead += 1
                queue.append((page, theirs))
            if not queue:
                return
            page, theirs = queue.popleft()
            if theirs:
                found, gone = worker.receive()
                ahead -= 1
                if gone:  # left out by the worker: opened here too, so that a worker with
                    # other keys, or on another store, cannot silently drop customers
                    again = [row for row in page if row[0] in set(gone)]
                    with context.unit(readonly=True) as unit:
                        extra, _ = open_page(unit, context.converter, again)
                    if extra:
                        raise StorageError(
                            f"a clustering worker could not open {len(extra)} customer(s) "
                            "this process opens: reopen must open the same store with the "
                            "same keys"
                        )
            else:
                with context.unit(readonly=True) as unit:
                    found, _ = open_page(unit, context.converter, page)
            yield from found
