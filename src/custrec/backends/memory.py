"""MemoryStore: a real, thread-safe, in-process backend.

It keeps every rule of the storage protocol and is the reference model the conformance kit
compares other backends with. Data lives as long as the object does.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from decimal import Decimal

import attrs

from custrec.errors import DuplicateKey, NotFound, StorageError, VersionConflict
from custrec.grading import ActivitySummary
from custrec.storage import checks
from custrec.storage.types import (
    ActivityRow,
    AuditRecord,
    Capabilities,
    ConsentRecord,
    CustomerFilter,
    CustomerRow,
    HistoryRecord,
    WrappedKey,
    check_meta_name,
)

__all__ = ["MemoryStore"]

_Undo = Callable[[], object]


class _State:
    """All tables of one MemoryStore."""

    def __init__(self) -> None:
        self.customers: dict[str, CustomerRow] = {}
        self.customer_ids: list[str] = []  # sorted, for keyset pagination
        self.index: defaultdict[str, set[str]] = defaultdict(set)
        self.activities: dict[str, ActivityRow] = {}
        self.activities_by_customer: defaultdict[str, set[str]] = defaultdict(set)
        self.consents: defaultdict[str, list[ConsentRecord]] = defaultdict(list)
        self.history: defaultdict[str, list[HistoryRecord]] = defaultdict(list)
        self.audit: list[AuditRecord] = []
        self.keys: dict[str, WrappedKey] = {}
        self.meta: dict[str, bytes] = {}


class _Tables:
    """Shared plumbing: the session's state, its undo log and its open/readonly checks."""

    def __init__(self, session: _MemorySession) -> None:
        self._session = session

    @property
    def _state(self) -> _State:
        return self._session.state

    def _write(self, undo: _Undo) -> None:
        self._session.record_undo(undo)

    def _check_open(self, *, write: bool = False) -> None:
        self._session.check_open(write=write)


class _Customers(_Tables):
    def _insert(self, row: CustomerRow) -> None:
        st = self._state
        stored = attrs.evolve(row, version=1)
        st.customers[row.id] = stored
        bisect.insort(st.customer_ids, row.id)
        for key in row.index_keys:
            st.index[key].add(row.id)

        def undo() -> None:
            del st.customers[row.id]
            st.customer_ids.remove(row.id)
            for key in row.index_keys:
                st.index[key].discard(row.id)
                if not st.index[key]:
                    del st.index[key]

        self._write(undo)

    def add(self, row: CustomerRow) -> int:
        self._check_open(write=True)
        checks.check_customer(row)
        if row.id in self._state.customers:
            raise DuplicateKey(f"customer {row.id}")
        self._insert(row)
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
        added = 0
        for row in rows:
            if row.id in self._state.customers:
                continue
            self._insert(row)
            added += 1
        return added

    def get(self, customer_id: str) -> CustomerRow:
        self._check_open()
        checks.check_text(customer_id, "customer_id")
        try:
            return self._state.customers[customer_id]
        except KeyError:
            raise NotFound(f"customer {customer_id}") from None

    def get_many(self, customer_ids: Iterable[str]) -> list[CustomerRow]:
        self._check_open()
        ids = set(customer_ids)
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

    def _replace(self, old: CustomerRow, new: CustomerRow | None) -> None:
        st = self._state
        for key in old.index_keys:
            st.index[key].discard(old.id)
            if not st.index[key]:
                del st.index[key]
        if new is None:
            del st.customers[old.id]
            st.customer_ids.remove(old.id)
        else:
            st.customers[old.id] = new
            for key in new.index_keys:
                st.index[key].add(new.id)

    def update(self, row: CustomerRow, *, expected_version: int) -> int:
        self._check_open(write=True)
        checks.check_customer(row)
        current = self._current(row.id, expected_version)
        new = attrs.evolve(row, version=current.version + 1, created_at=current.created_at)
        self._replace(current, new)

        def undo() -> None:
            self._replace(new, None)
            self._state.customers[current.id] = current
            bisect.insort(self._state.customer_ids, current.id)
            for key in current.index_keys:
                self._state.index[key].add(current.id)

        self._write(undo)
        return new.version

    def delete(self, customer_id: str, *, expected_version: int) -> None:
        self._check_open(write=True)
        current = self._current(customer_id, expected_version)
        self._replace(current, None)

        def undo() -> None:
            st = self._state
            st.customers[current.id] = current
            bisect.insort(st.customer_ids, current.id)
            for key in current.index_keys:
                st.index[key].add(current.id)

        self._write(undo)

    def lookup(self, index_key: str) -> list[str]:
        self._check_open()
        checks.check_text(index_key, "index key")
        return sorted(self._state.index.get(index_key, ()))

    def lookup_many(
        self, index_keys: Iterable[str], *, limit: int | None = None
    ) -> dict[str, list[str]]:
        self._check_open()
        if limit is not None:
            checks.check_limit(limit)
        keys = set(index_keys)
        checks.check_texts(keys, "index key")
        found: dict[str, list[str]] = {}
        for key in keys:
            ids = self._state.index.get(key)
            if ids:
                found[key] = sorted(ids)[:limit]
        return found

    def _matching(self, where: CustomerFilter | None, after: str | None) -> Iterator[CustomerRow]:
        checks.check_filter(where, after)
        st = self._state
        start = 0 if after is None else bisect.bisect_right(st.customer_ids, after)
        for customer_id in st.customer_ids[start:]:
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
        return sum(1 for _ in self._matching(where, None))


class _Activities(_Tables):
    def _insert(self, row: ActivityRow) -> None:
        st = self._state
        st.activities[row.id] = row
        st.activities_by_customer[row.customer_id].add(row.id)

        def undo() -> None:
            del st.activities[row.id]
            st.activities_by_customer[row.customer_id].discard(row.id)

        self._write(undo)

    def add(self, row: ActivityRow) -> None:
        self._check_open(write=True)
        row = checks.check_activity(row) or row
        if row.id in self._state.activities:
            raise DuplicateKey(f"activity {row.id}")
        self._insert(row)

    def add_many(self, rows: Sequence[ActivityRow], *, skip_existing: bool = False) -> int:
        self._check_open(write=True)
        rows = [checks.check_activity(row) or row for row in rows]
        if not skip_existing:
            seen: set[str] = set()
            for row in rows:
                if row.id in self._state.activities or row.id in seen:
                    raise DuplicateKey(f"activity {row.id}")
                seen.add(row.id)
        added = 0
        for row in rows:
            if row.id not in self._state.activities:
                self._insert(row)
                added += 1
        return added

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
        ids = sorted(st.activities_by_customer.get(customer_id, ()))
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
        moved = sorted(st.activities_by_customer.get(from_customer_id, ()))
        if from_customer_id == to_customer_id or not moved:
            return 0
        originals = [st.activities[i] for i in moved]
        for row in originals:
            st.activities[row.id] = attrs.evolve(row, customer_id=to_customer_id)
            st.activities_by_customer[from_customer_id].discard(row.id)
            st.activities_by_customer[to_customer_id].add(row.id)

        def undo() -> None:
            for row in originals:
                st.activities[row.id] = row
                st.activities_by_customer[to_customer_id].discard(row.id)
                st.activities_by_customer[from_customer_id].add(row.id)

        self._write(undo)
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


class _Consents(_Tables):
    def _append(self, record: ConsentRecord) -> int:
        checks.check_consent(record)
        ledger = self._state.consents[record.customer_id]
        seq = len(ledger) + 1
        ledger.append(attrs.evolve(record, seq=seq))
        self._write(lambda: ledger.pop())
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
            ledger = self._state.history[record.customer_id]
            seq = len(ledger) + 1
            ledger.append(attrs.evolve(record, seq=seq))
            self._write(ledger.pop)
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
        log = self._state.audit
        seqs: list[int] = []
        for record in records:
            seq = len(log) + 1
            log.append(attrs.evolve(record, seq=seq))
            self._write(lambda: log.pop())
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
        keys = self._state.keys
        if key.customer_id in keys:
            raise DuplicateKey(f"data key of customer {key.customer_id}")
        keys[key.customer_id] = key
        self._write(lambda: keys.pop(key.customer_id))

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
            stored[key.customer_id] = key

        def undo() -> None:
            for added in batch:
                stored.pop(added.customer_id, None)

        self._write(undo)

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
        keys = self._state.keys
        old = keys.get(key.customer_id)
        if old is None:
            raise NotFound(f"data key of customer {key.customer_id}")
        keys[key.customer_id] = key

        def undo() -> None:
            keys[old.customer_id] = old

        self._write(undo)

    def delete(self, customer_id: str) -> bool:
        self._check_open(write=True)
        checks.check_text(customer_id, "customer_id")
        keys = self._state.keys
        old = keys.pop(customer_id, None)
        if old is None:
            return False

        def undo() -> None:
            keys[old.customer_id] = old

        self._write(undo)
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
        meta = self._state.meta
        old = meta.get(name)
        meta[name] = bytes(value)

        def undo() -> None:
            if old is None:
                meta.pop(name, None)
            else:
                meta[name] = old

        self._write(undo)


class _MemorySession:
    """A unit of work: writes apply at once and are undone on rollback."""

    def __init__(self, state: _State, *, readonly: bool) -> None:
        self.state = state
        self.readonly = readonly
        self.finished = False
        self._undo: list[_Undo] = []
        self._customers = _Customers(self)
        self._activities = _Activities(self)
        self._consents = _Consents(self)
        self._history = _History(self)
        self._audit = _Audit(self)
        self._keys = _Keys(self)
        self._meta = _Meta(self)

    @property
    def customers(self) -> _Customers:
        return self._customers

    @property
    def activities(self) -> _Activities:
        return self._activities

    @property
    def consents(self) -> _Consents:
        return self._consents

    @property
    def history(self) -> _History:
        return self._history

    @property
    def audit(self) -> _Audit:
        return self._audit

    @property
    def keys(self) -> _Keys:
        return self._keys

    @property
    def meta(self) -> _Meta:
        return self._meta

    def check_open(self, *, write: bool = False) -> None:
        if self.finished:
            raise StorageError("the session is finished (committed or rolled back)")
        if write and self.readonly:
            raise StorageError("this session is read-only")

    def record_undo(self, undo: _Undo) -> None:
        self._undo.append(undo)

    def commit(self) -> None:
        self.check_open()
        self._undo.clear()
        self.finished = True

    def rollback(self) -> None:
        if self.finished:
            return
        while self._undo:
            self._undo.pop()()
        self.finished = True


class MemoryStore:
    """An in-memory backend: thread-safe, serialisable, not persistent.

    Transactions are serialised by one lock (one open unit of work at a time across threads, as
    SQLite allows one writer); a thread that opens a second transaction while its first is open
    gets ``StorageError``. Rollback undoes every write of the session. Records are immutable, so
    what a reader gets can never change under it.
    """

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.Lock()
        self._owner = threading.local()
        self._closed = False

    @property
    def capabilities(self) -> Capabilities:
        """In-process only, not persistent."""
        return Capabilities(multiprocess=False, persistent=False)

    @contextmanager
    def _transaction(self, readonly: bool) -> Iterator[_MemorySession]:
        if self._closed:
            raise StorageError("the store is closed")
        if getattr(self._owner, "active", False):
            raise StorageError(
                "a transaction is already open in this thread; nesting is not supported"
            )
        with self._lock:
            self._owner.active = True
            session = _MemorySession(self._state, readonly=readonly)
            try:
                yield session
            finally:
                session.rollback()
                self._owner.active = False

    def transaction(self, *, readonly: bool = False) -> AbstractContextManager[_MemorySession]:
        """Open a unit of work (see :class:`custrec.storage.Store`)."""
        return self._transaction(readonly)

    def close(self) -> None:
        """Mark the store closed; later transactions raise ``StorageError``."""
        self._closed = True

    def __repr__(self) -> str:
        return f"MemoryStore(customers={len(self._state.customers)})"
