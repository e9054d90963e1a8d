"""MemoryStore: a real, thread-safe, in-process backend.

It keeps every rule of the storage protocol and is the reference model the conformance kit
compares other backends with. Data lives as long as the object does.
"""

from __future__ import annotations

import bisect
import copy
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import cast

import attrs

from custrec.backends import _memory_documents as _documents
from custrec.backends import _memory_facets as _facets
from custrec.backends._memory_sorted import SortedIds as _SortedIds
from custrec.backends._memory_work import MemoryChanges, MemoryWork, reindex_work
from custrec.errors import DuplicateKey, NotFound, StorageError, VersionConflict
from custrec.grading import ActivitySummary
from custrec.storage import checks
from custrec.storage.closing import run_close_hooks
from custrec.storage.types import (
    ActivityRow,
    AuditRecord,
    Capabilities,
    ChangeEvent,
    ConsentRecord,
    CustomerFilter,
    CustomerRow,
    HistoryRecord,
    WorkRow,
    WrappedKey,
    check_meta_name,
)

__all__ = ["MemoryStore"]

_NO_KEYS: frozenset[str] = frozenset()
_KEEP_RETIRED = 4  # older committed states kept for reuse as the writers' spare


_CUSTOMER_TABLES = ("customers", "customer_ids", "index")
_CUSTOMER_SET = frozenset(_CUSTOMER_TABLES)
_TABLES = (
    "customers",
    "customer_ids",
    "index",
    "activities",
    "activities_by_customer",
    "consents",
    "history",
    "audit",
    "keys",
    "meta",
    "work",
    "work_ids",
    "work_due",
    "work_by_customer",
    "changes",
    *_documents.DOCUMENT_TABLES,
)


class _State:
    """One copy of every table: the committed state, an older one that readers still hold or
    that waits as the writers' spare, or the writer's working copy.

    Inner values (the id lists of the index and of each customer's activities and work rows,
    sorted; the ledgers) are tuples, so copies share them. ``customer_ids``, ``work_ids``,
    ``work_due`` and ``work_by_customer`` follow ``customers`` and ``work`` (see ``_put``).
    ``owned`` names the tables no other state shares: only those may be changed in place
    (``own`` copies a shared one first). ``readers`` counts open read-only sessions (under the
    store's gate); ``dirty`` names, per table, the keys where this retired state may differ
    from the committed one.
    """

    def __init__(self) -> None:
        self.customers: dict[str, CustomerRow] = {}
        self.customer_ids = _SortedIds()
        self.index: dict[str, tuple[str, ...]] = {}
        self.activities: dict[str, ActivityRow] = {}
        self.activities_by_customer: dict[str, tuple[str, ...]] = {}
        self.consents: dict[str, tuple[ConsentRecord, ...]] = {}
        self.history: dict[str, tuple[HistoryRecord, ...]] = {}
        self.audit: list[AuditRecord] = []
        self.keys: dict[str, WrappedKey] = {}
        self.meta: dict[str, bytes] = {}
        self.work: dict[str, WorkRow] = {}
        self.work_ids = _SortedIds()
        self.work_due = _SortedIds()  # see custrec.backends._memory_work
        self.work_by_customer: dict[str, tuple[str, ...]] = {}
        self.changes: list[ChangeEvent] = []
        self.documents = _documents.DocumentRows()  # see custrec.backends._memory_documents
        self.document_links = _documents.LinkRows()
        self.owned: set[str] = set(_TABLES)
        self.readers = 0
        self.dirty: defaultdict[str, set[str]] = defaultdict(set)

    def clone(self) -> _State:
        """A new state sharing every table with this one (neither owns them any more)."""
        twin = copy.copy(self)
        twin.owned, twin.readers, twin.dirty = set(), 0, defaultdict(set)
        self.owned = set()
        return twin

    def own(self, *tables: str) -> None:
        """Copy each of ``tables`` this state does not own yet."""
        for table in tables:
            if table not in self.owned:
                setattr(self, table, getattr(self, table).copy())
                self.owned.add(table)


def _put(state: _State, table: str, key: str, value: object) -> None:
    """Set (``None``: remove) one key of a keyed table of a state the caller owns outright; a
    customer also enters or leaves the sorted ids, a work row its indexes."""
    if table not in state.owned:
        state.own(table)
    values = getattr(state, table)
    if table == "work":
        reindex_work(state, key, values.get(key), cast("WorkRow | None", value))
    if table == "customers" and (value is None) == (key in values):
        state.own("customer_ids")
        if value is None:
            state.customer_ids.remove(key)
        else:
            state.customer_ids.add(key)
    if value is None:
        values.pop(key, None)
    else:
        values[key] = value


def _sync(target: _State, source: _State, dirty: Mapping[str, set[str]]) -> None:
    """Make ``target`` equal ``source``, given the keys where they may differ (and the audit
    log and change feed, of which one is a prefix of the other)."""
    owned = target.owned
    for table, keys in dirty.items():
        if table not in owned:
            target.own(table)
        values, wanted = getattr(target, table), getattr(source, table)
        if table == "customers":
            if "customer_ids" not in owned:
                target.own("customer_ids")
            ids = target.customer_ids
            for key in keys:
                value = wanted.get(key)
                if value is None:
                    if values.pop(key, None) is not None:
                        ids.remove(key)
                else:
                    if key not in values:
                        ids.add(key)
                    values[key] = value
        else:
            work = table == "work"
            for key in keys:
                value = wanted.get(key)
                if work and values.get(key) is not value:
                    reindex_work(target, key, values.get(key), value)
                if value is None:
                    values.pop(key, None)
                else:
                    values[key] = value
    for log in ("audit", "changes"):
        have, want = len(getattr(target, log)), len(getattr(source, log))
        if have != want:
            target.own(log)
            entries = getattr(target, log)
            if have > want:
                del entries[want:]
            else:
                entries.extend(getattr(source, log)[have:])


def _joined(ids: tuple[str, ...], more: Collection[str]) -> tuple[str, ...]:
    """The sorted ``ids`` with ``more`` (none of them in ``ids``) added."""
    if len(more) == 1:
        (new,) = more
        at = bisect.bisect_left(ids, new)
        return (*ids[:at], new, *ids[at:])
    return tuple(sorted((*ids, *more)))


def _without(ids: tuple[str, ...], gone: Collection[str]) -> tuple[str, ...]:
    return tuple(i for i in ids if i not in gone)


class _Tables:
    """Shared plumbing: the session's state, its writes and its open/readonly checks."""

    def __init__(self, session: _MemorySession) -> None:
        self._session = session

    @property
    def _state(self) -> _State:
        return self._session.state

    def _put(self, table: str, key: str, value: object) -> None:
        """Write one key (``None``: remove it) and note it for the next sync."""
        self._session.write(table, key, value)

    def _check_open(self, *, write: bool = False) -> None:
        self._session.check_open(write=write)


class _Customers(_Tables):
    # the hot paths write the three customer tables directly rather than through _put

    def _set(
        self, customer_id: str, row: CustomerRow | None, old: frozenset[str], new: frozenset[str]
    ) -> None:
        """Store ``row`` (``None``: delete the customer) and move its id from the index keys
        ``old`` to ``new``."""
        session = self._session
        state = session.state
        if not state.owned >= _CUSTOMER_SET:
            state.own(*_CUSTOMER_TABLES)
        customers, index, touched = state.customers, state.index, session.dirty["index"]
        if row is None:
            del customers[customer_id]
            state.customer_ids.remove(customer_id)
        else:
            if customer_id not in customers:
                state.customer_ids.add(customer_id)
            customers[customer_id] = row
        session.dirty["customers"].add(customer_id)
        for key in old:
            if key not in new:
                rest = _without(index[key], (customer_id,))
                if rest:
                    index[key] = rest
                else:
                    del index[key]
                touched.add(key)
        for key in new:
            if key not in old:
                ids = index.get(key)
                index[key] = (customer_id,) if ids is None else _joined(ids, (customer_id,))
                touched.add(key)

    def _insert(self, rows: Iterable[CustomerRow]) -> int:
        session = self._session
        state = session.state
        state.own(*_CUSTOMER_TABLES)
        customers, index, touched = state.customers, state.index, session.dirty["customers"]
        joined: defaultdict[str, set[str]] = defaultdict(set)  # index key -> ids, one copy each
        added = 0
        for row in rows:
            if row.id not in customers:
                customers[row.id] = attrs.evolve(row, version=1)
                state.customer_ids.add(row.id)
                touched.add(row.id)
                for key in row.index_keys:
                    joined[key].add(row.id)
                added += 1
        for key, ids in joined.items():
            index[key] = _joined(index.get(key, ()), ids)
        session.dirty["index"].update(joined)
        return added

    def add(self, row: CustomerRow) -> int:
        self._check_open(write=True)
        checks.check_customer(row)
        if row.id in self._state.customers:
            raise DuplicateKey(f"customer {row.id}")
        self._set(row.id, attrs.evolve(row, version=1), _NO_KEYS, row.index_keys)
        return 1

    def add_many(self, rows: Sequence[CustomerRow], *, skip_existing: bool = False) -> int:
        self._check_open(write=True)
        for row in rows:
            checks.check_customer(row)
        seen: set[str] = set()
        if not skip_existing:
            for row in rows:
                if row.id in self._state.customers or row.id in seen:
                    raise DuplicateKey(f"customer {row.id}")
                seen.add(row.id)
        return self._insert(rows)

    def get(self, customer_id: str) -> CustomerRow:
        self._check_open()
        checks.check_text(customer_id, "customer_id")
        try:
            return self._state.customers[customer_id]
        except KeyError:
            raise NotFound(f"customer {customer_id}") from None

    def get_many(self, customer_ids: Iterable[str]) -> list[CustomerRow]:
        self._check_open()
        ids = set(checks.text_items(customer_ids, "customer_id"))
        checks.check_texts(ids, "customer_id")
        rows = {self._state.customers.get(i) for i in ids}
        return sorted((r for r in rows if r is not None), key=lambda r: r.id)

    def _current(self, customer_id: str, expected_version: int) -> CustomerRow:
        checks.check_text(customer_id, "customer_id")
        checks.version(expected_version)
        current = self._state.customers.get(customer_id)
        if current is None:
            raise NotFound(f"customer {customer_id}")
        if current.version != expected_version:
            raise VersionConflict(
                f"customer {customer_id}", expected=expected_version, actual=current.version
            )
        return current

    def update(self, row: CustomerRow, *, expected_version: int) -> int:
        self._check_open(write=True)
        checks.check_customer(row)
        current = self._current(row.id, expected_version)
        new = attrs.evolve(row, version=current.version + 1, created_at=current.created_at)
        self._set(row.id, new, current.index_keys, new.index_keys)
        return new.version

    def delete(self, customer_id: str, *, expected_version: int) -> None:
        self._check_open(write=True)
        current = self._current(customer_id, expected_version)
        self._set(customer_id, None, current.index_keys, _NO_KEYS)

    def lookup(self, index_key: str) -> list[str]:
        self._check_open()
        checks.check_text(index_key, "index key")
        return list(self._state.index.get(index_key, ()))

    def lookup_many(
        self, index_keys: Iterable[str], *, limit: int | None = None
    ) -> dict[str, list[str]]:
        self._check_open()
        if limit is not None:
            checks.check_limit(limit)
        keys = set(checks.text_items(index_keys, "index key"))
        checks.check_texts(keys, "index key")
        found: dict[str, list[str]] = {}
        for key in keys:
            ids = self._state.index.get(key)
            if ids:
                found[key] = list(ids[:limit])
        return found

    def _matching(self, where: CustomerFilter | None, after: str | None) -> Iterator[CustomerRow]:
        checks.check_filter(where, after)
        st = self._state
        for customer_id in st.customer_ids.after(after):
            row = st.customers[customer_id]
            if where is None or where.matches(row):
                yield row

    def query(
        self,
        *,
        where: CustomerFilter | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[CustomerRow]:
        self._check_open()
        checks.check_limit(limit)
        rows: list[CustomerRow] = []
        for row in self._matching(where, after):
            rows.append(row)
            if len(rows) >= limit:
                break
        return rows

    def count(self, *, where: CustomerFilter | None = None) -> int:
        self._check_open()
        if where is None:
            return len(self._state.customers)
        return sum(1 for _ in self._matching(where, None))

    def group_count(
        self, by: Sequence[str], *, where: CustomerFilter | None = None
    ) -> dict[tuple[str | None, ...], int]:
        self._check_open()
        return _facets.group_count(self._matching(where, None), checks.check_group_by(by))

    def count_by_period(
        self,
        edges: Sequence[datetime],
        *,
        field: str = "created_at",
        where: CustomerFilter | None = None,
    ) -> list[int]:
        self._check_open()
        bounds, name = checks.check_edges(edges), checks.check_period_field(field)
        return _facets.count_by_period(self._matching(where, None), bounds, name)


class _Activities(_Tables):
    def _link(self, customer_id: str, add: Collection[str], drop: Collection[str]) -> None:
        """Add ``add`` to and remove ``drop`` from the activity ids of ``customer_id``."""
        ids = self._state.activities_by_customer.get(customer_id, ())
        ids = _joined(_without(ids, drop), add) if add else _without(ids, drop)
        self._put("activities_by_customer", customer_id, ids or None)

    def _insert(self, rows: Iterable[ActivityRow]) -> int:
        joined: defaultdict[str, set[str]] = defaultdict(set)  # customer id -> new activity ids
        for row in rows:
            if row.id not in self._state.activities:
                self._put("activities", row.id, row)
                joined[row.customer_id].add(row.id)
        for customer_id, ids in joined.items():
            self._link(customer_id, ids, ())
        return sum(map(len, joined.values()))

    def add(self, row: ActivityRow) -> None:
        self._check_open(write=True)
        row = checks.check_activity(row) or row
        if row.id in self._state.activities:
            raise DuplicateKey(f"activity {row.id}")
        self._insert((row,))

    def add_many(self, rows: Sequence[ActivityRow], *, skip_existing: bool = False) -> int:
        self._check_open(write=True)
        rows = [checks.check_activity(row) or row for row in rows]
        if not skip_existing:
            seen: set[str] = set()
            for row in rows:
                if row.id in self._state.activities or row.id in seen:
                    raise DuplicateKey(f"activity {row.id}")
                seen.add(row.id)
        return self._insert(rows)

    def list_for(
        self,
        customer_id: str,
        *,
        kind: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[ActivityRow]:
        self._check_open()
        checks.check_limit(limit)
        checks.check_text(customer_id, "customer_id")
        checks.check_optional_text(after, "after")
        if kind is not None:
            checks.check_kind(kind)
        st = self._state
        ids = st.activities_by_customer.get(customer_id, ())
        rows = [
            st.activities[i]
            for i in ids
            if (after is None or i > after) and (kind is None or st.activities[i].kind == kind)
        ]
        return rows[:limit]

    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        self._check_open(write=True)
        checks.check_texts((from_customer_id, to_customer_id), "customer_id")
        st = self._state
        moved = st.activities_by_customer.get(from_customer_id, ())
        if from_customer_id == to_customer_id or not moved:
            return 0
        for activity_id in moved:
            row = st.activities[activity_id]
            self._put("activities", activity_id, attrs.evolve(row, customer_id=to_customer_id))
        self._link(from_customer_id, (), moved)
        self._link(to_customer_id, moved, ())
        return len(moved)

    def summaries(
        self,
        *,
        as_of: datetime,
        after: str | None = None,
        limit: int = 1000,
    ) -> list[ActivitySummary]:
        self._check_open()
        checks.check_limit(limit)
        checks.check_instant(as_of, "as_of")
        checks.check_optional_text(after, "after")
        groups: dict[tuple[str, str], list[ActivityRow]] = defaultdict(list)
        for row in self._state.activities.values():
            if (
                row.kind == "transaction"
                and row.occurred_at <= as_of
                and (after is None or row.customer_id > after)
            ):
                groups[(row.customer_id, row.currency or "")].append(row)
        customers = sorted({customer for customer, _ in groups})[:limit]
        wanted = set(customers)
        result: list[ActivitySummary] = []
        for (customer_id, currency), rows in sorted(groups.items()):
            if customer_id not in wanted:
                continue
            result.append(
                ActivitySummary(
                    customer_id=customer_id,
                    first_purchase_at=min(r.occurred_at for r in rows),
                    last_purchase_at=max(r.occurred_at for r in rows),
                    purchase_count=len(rows),
                    total_spent=checks.check_total(
                        sum((Decimal(r.amount or 0) for r in rows), Decimal(0)),
                        customer_id,
                        currency,
                    ),
                    currency=currency,
                )
            )
        return result

    def buyers_by_period(
        self, edges: Sequence[datetime], *, where: CustomerFilter | None = None
    ) -> list[tuple[int, int]]:
        self._check_open()
        bounds = checks.check_edges(edges)
        checks.check_filter(where)
        st = self._state
        return _facets.buyers_by_period(st.activities.values(), st.customers, bounds, where)


class _Consents(_Tables):
    def _append(self, record: ConsentRecord) -> int:
        checks.check_consent(record)
        ledger = self._state.consents.get(record.customer_id, ())
        seq = len(ledger) + 1
        self._put("consents", record.customer_id, (*ledger, attrs.evolve(record, seq=seq)))
        return seq

    def append(self, record: ConsentRecord) -> int:
        self._check_open(write=True)
        return self._append(record)

    def list_for(self, customer_id: str, *, after_seq: int = 0) -> list[ConsentRecord]:
        self._check_open()
        checks.check_text(customer_id, "customer_id")
        checks.check_seq(after_seq, "after_seq")
        return [r for r in self._state.consents.get(customer_id, ()) if r.seq > after_seq]

    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        self._check_open(write=True)
        checks.check_texts((from_customer_id, to_customer_id), "customer_id")
        if from_customer_id == to_customer_id:
            return 0
        source = list(self._state.consents.get(from_customer_id, ()))
        for record in source:
            self._append(attrs.evolve(record, customer_id=to_customer_id))
        return len(source)


class _History(_Tables):
    def append(self, records: Sequence[HistoryRecord]) -> list[int]:
        self._check_open(write=True)
        for record in records:
            checks.check_history(record)
        seqs: list[int] = []
        for record in records:
            ledger = self._state.history.get(record.customer_id, ())
            seq = len(ledger) + 1
            self._put("history", record.customer_id, (*ledger, attrs.evolve(record, seq=seq)))
            seqs.append(seq)
        return seqs

    def list_for(self, customer_id: str, *, after_seq: int = 0) -> list[HistoryRecord]:
        self._check_open()
        checks.check_text(customer_id, "customer_id")
        checks.check_seq(after_seq, "after_seq")
        return [r for r in self._state.history.get(customer_id, ()) if r.seq > after_seq]


class _Audit(_Tables):
    def append(self, records: Sequence[AuditRecord]) -> list[int]:
        self._check_open(write=True)
        for record in records:
            checks.check_audit(record)
        self._state.own("audit")
        log = self._state.audit
        seqs: list[int] = []
        for record in records:
            seq = len(log) + 1
            log.append(attrs.evolve(record, seq=seq))
            seqs.append(seq)
        return seqs

    def read(
        self,
        *,
        after_seq: int = 0,
        limit: int = 1000,
        customer_id: str | None = None,
        actor_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_seq: int | None = None,
        newest_first: bool = False,
    ) -> list[AuditRecord]:
        self._check_open()
        checks.check_limit(limit)
        checks.check_seq(after_seq, "after_seq")
        if before_seq is not None:
            checks.check_seq(before_seq, "before_seq")
        checks.check_optional_text(customer_id, "customer_id")
        checks.check_optional_text(actor_id, "actor_id")
        for name, value in (("since", since), ("until", until)):
            if value is not None:
                checks.check_instant(value, name)
        log = self._state.audit
        end = len(log) if before_seq is None else max(min(before_seq - 1, len(log)), 0)
        window = log[max(after_seq, 0) : end]
        found: list[AuditRecord] = []
        for record in reversed(window) if newest_first else window:
            if (
                (customer_id is None or record.customer_id == customer_id)
                and (actor_id is None or record.actor_id == actor_id)
                and (since is None or record.at >= since)
                and (until is None or record.at < until)
            ):
                found.append(record)
                if len(found) >= limit:
                    break
        return found

    def last(self) -> AuditRecord | None:
        self._check_open()
        return self._state.audit[-1] if self._state.audit else None


class _Keys(_Tables):
    def put(self, key: WrappedKey) -> None:
        self._check_open(write=True)
        checks.check_key(key)
        if key.customer_id in self._state.keys:
            raise DuplicateKey(f"data key of customer {key.customer_id}")
        self._put("keys", key.customer_id, key)

    def put_many(self, keys: Sequence[WrappedKey]) -> None:
        self._check_open(write=True)
        batch = list(keys)
        for key in batch:  # check everything first: a refused batch changes nothing
            checks.check_key(key)
        stored = self._state.keys
        seen: set[str] = set()
        for key in batch:
            if key.customer_id in seen:
                raise DuplicateKey(f"data key of customer {key.customer_id} (twice in the batch)")
            if key.customer_id in stored:
                raise DuplicateKey(f"data key of customer {key.customer_id}")
            seen.add(key.customer_id)
        for key in batch:
            self._put("keys", key.customer_id, key)

    def get(self, customer_id: str) -> WrappedKey:
        self._check_open()
        checks.check_text(customer_id, "customer_id")
        try:
            return self._state.keys[customer_id]
        except KeyError:
            raise NotFound(f"data key of customer {customer_id}") from None

    def replace(self, key: WrappedKey) -> None:
        self._check_open(write=True)
        checks.check_key(key)
        if key.customer_id not in self._state.keys:
            raise NotFound(f"data key of customer {key.customer_id}")
        self._put("keys", key.customer_id, key)

    def delete(self, customer_id: str) -> bool:
        self._check_open(write=True)
        checks.check_text(customer_id, "customer_id")
        if customer_id not in self._state.keys:
            return False
        self._put("keys", customer_id, None)
        return True

    def list(self, *, after: str | None = None, limit: int = 1000) -> list[WrappedKey]:
        self._check_open()
        checks.check_limit(limit)
        checks.check_optional_text(after, "after")
        ids = sorted(i for i in self._state.keys if after is None or i > after)[:limit]
        return [self._state.keys[i] for i in ids]


class _Meta(_Tables):
    def get(self, name: str) -> bytes | None:
        self._check_open()
        check_meta_name(name)
        return self._state.meta.get(name)

    def put(self, name: str, value: bytes) -> None:
        self._check_open(write=True)
        check_meta_name(name)
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError("meta values must be bytes")
        self._put("meta", name, bytes(value))


class _MemorySession:
    """A unit of work on one state: a reader's snapshot, or the writer's private copy."""

    def __init__(
        self, state: _State, *, readonly: bool, end: Callable[[_MemorySession, bool], None]
    ) -> None:
        self.state = state
        self.readonly = readonly
        self.finished = False
        self.dirty: defaultdict[str, set[str]] = defaultdict(set)  # keys this writer changed
        self._end = end

    @cached_property
    def customers(self) -> _Customers:
        return _Customers(self)

    @cached_property
    def activities(self) -> _Activities:
        return _Activities(self)

    @cached_property
    def consents(self) -> _Consents:
        return _Consents(self)

    @cached_property
    def history(self) -> _History:
        return _History(self)

    @cached_property
    def audit(self) -> _Audit:
        return _Audit(self)

    @cached_property
    def keys(self) -> _Keys:
        return _Keys(self)

    @cached_property
    def meta(self) -> _Meta:
        return _Meta(self)

    @cached_property
    def work(self) -> MemoryWork:
        return MemoryWork(self)

    @cached_property
    def changes(self) -> MemoryChanges:
        return MemoryChanges(self)

    @cached_property
    def documents(self) -> _documents.MemoryDocuments:
        return _documents.MemoryDocuments(self)

    def write(self, table: str, key: str, value: object) -> None:
        """Write one key of a keyed table (``None``: remove it) and note it for the next sync."""
        self.dirty[table].add(key)
        _put(self.state, table, key, value)

    def check_open(self, *, write: bool = False) -> None:
        if self.finished:
            raise StorageError("the session is finished (committed or rolled back)")
        if write and self.readonly:
            raise StorageError("this session is read-only")

    def commit(self) -> None:
        self.check_open()
        self.finished = True
        self._end(self, True)

    def rollback(self) -> None:
        if not self.finished:
            self.finished = True
            self._end(self, False)


class MemoryStore:
    """An in-memory backend: thread-safe, snapshot-isolated, not persistent.

    Writers run one at a time; a thread that opens a second transaction (of either kind) while
    its first is open gets ``StorageError``. A read-only transaction waits for nobody and sees
    exactly the state committed when it began, for as long as it lasts; a writer commits while
    readers are open, and rollback discards everything the writer did.

    How, and what it costs: the writer changes a private copy of the tables and publishes it at
    commit; readers only see published states, which are never changed. The state published
    before becomes the next writer's copy as soon as no reader holds it, brought up to date key
    by key. So with no reader held across a commit a write costs O(size of the change), paid
    twice (in the transaction, and when the spare copy catches up at commit), and the store
    keeps two copies of its top-level tables (the rows, id lists and ledgers in them are
    shared). When every older copy is still held by a reader that began before a commit, the
    writer starts from a copy-on-write twin of the committed state: its first write to each
    table copies that table (O(table size)), and the old copy, once free, copies the tables it
    catches up on once more. A snapshot keeps what it saw (deleted rows and data keys included)
    until it ends; a free older copy drops it at the next commit.
    """

    def __init__(self) -> None:
        self._committed = _State()
        self._spare: _State | None = _State()  # equals the committed state; no reader has it
        self._retired: list[_State] = []  # older committed states that readers held
        self._gate = threading.Lock()  # the committed state and reader counts; held for O(1)
        self._lock = threading.Lock()  # one writer at a time; it alone uses _spare, _retired
        self._owner = threading.local()
        self._closed = False

    @property
    def _state(self) -> _State:
        """The committed state, for tests that edit it directly (no transaction open): the
        writers' copies are dropped, so the next writer starts from it."""
        with self._lock:
            self._spare, self._retired = None, []
        return self._committed

    @property
    def capabilities(self) -> Capabilities:
        """In-process only, not persistent; readers see snapshots and never wait."""
        return Capabilities(multiprocess=False, persistent=False, concurrent_reads=True)

    @contextmanager
    def _transaction(self, readonly: bool) -> Iterator[_MemorySession]:
        if self._closed:
            raise StorageError("the store is closed")
        if getattr(self._owner, "active", False):
            raise StorageError(
                "a transaction is already open in this thread; nesting is not supported"
            )
        if readonly:
            with self._gate:
                state = self._committed
                state.readers += 1
            session = _MemorySession(state, readonly=True, end=self._end_read)
            self._owner.active = True
            try:
                yield session
            finally:
                session.rollback()
                self._owner.active = False
            return
        with self._lock:
            self._owner.active = True
            try:
                if self._spare is None and self._retired:
                    self._recycle()
                state, self._spare = self._spare or self._committed.clone(), None
                session = _MemorySession(state, readonly=False, end=self._end_write)
                try:
                    yield session
                finally:
                    session.rollback()
            finally:
                self._owner.active = False

    def _end_read(self, session: _MemorySession, _committed: bool) -> None:
        with self._gate:
            session.state.readers -= 1

    def _end_write(self, session: _MemorySession, committed: bool) -> None:
        """Publish the writer's state, or bring it back to the committed one (write lock held)."""
        state = session.state
        if not committed:
            _sync(state, self._committed, session.dirty)
            self._spare = state
        else:
            with self._gate:
                previous, self._committed = self._committed, state
                held = previous.readers > 0
            for older in self._retired:
                for table, keys in session.dirty.items():
                    older.dirty[table] |= keys
            if held:
                previous.dirty = session.dirty
                self._retired = [*self._retired[1 - _KEEP_RETIRED :], previous]
            else:
                _sync(previous, state, session.dirty)
                self._spare = previous
        if self._retired:
            self._recycle()

    def _recycle(self) -> None:
        """Drop the older states no reader holds any more; without a spare, bring one of them
        up to date as the spare (write lock held)."""
        with self._gate:
            free = [s for s in self._retired if not s.readers]
            self._retired = [s for s in self._retired if s.readers]
        if free and self._spare is None:
            spare = min(free, key=lambda s: sum(map(len, s.dirty.values())))
            _sync(spare, self._committed, spare.dirty)
            spare.dirty = defaultdict(set)
            self._spare = spare

    def transaction(self, *, readonly: bool = False) -> AbstractContextManager[_MemorySession]:
        """Open a unit of work (see :class:`custrec.storage.Store`)."""
        return self._transaction(readonly)

    def close(self) -> None:
        """Mark the store closed; later transactions raise ``StorageError``."""
        run_close_hooks(self)
        self._closed = True

    def __repr__(self) -> str:
        return f"MemoryStore(customers={len(self._committed.customers)})"
