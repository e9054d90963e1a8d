"""MemoryStore's ``work`` and ``changes`` tables (private; see :mod:`custrec.backends.memory`).

Work rows live in the keyed table ``work`` (id -> row); three derived structures follow every
change of it (:func:`reindex_work`, called by the store's ``_put`` and ``_sync``): ``work_ids``
(every id, sorted), ``work_by_customer`` (a customer's ids, a sorted tuple) and ``work_due``,
the due-time index: one key per open row with a ``due_at``, ``"<UTC instant>\\x00<id>"`` with
the instant as fixed-width ISO text, so that keys sort as ``(due_at, id)``. The change feed is
an append-only list, synced by prefix like the audit log; its cursor is the decimal position.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import attrs

from custrec.errors import DuplicateKey, NotFound, VersionConflict
from custrec.storage import checks
from custrec.storage.types import ChangeEvent, ChangePage, WorkFilter, WorkRow

if TYPE_CHECKING:
    from custrec.backends.memory import _MemorySession, _State

__all__ = ["MemoryChanges", "MemoryWork", "due_key", "reindex_work"]

_STAMP: Final = 26  # characters of a fixed-width ISO instant, "YYYY-MM-DDTHH:MM:SS.ffffff"


def _stamp(instant: datetime) -> str:
    """A checked instant as fixed-width text that sorts chronologically."""
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def due_key(row: WorkRow | None) -> str | None:
    """The row's key in the due-time index, or ``None`` when it is closed or has no due time."""
    if row is None or not row.open or row.due_at is None:
        return None
    return f"{_stamp(row.due_at)}\x00{row.id}"


def reindex_work(state: _State, work_id: str, old: WorkRow | None, new: WorkRow | None) -> None:
    """Bring the derived structures of ``state`` from row ``old`` to row ``new`` of
    ``work_id`` (``None``: absent); each is copied first if ``state`` does not own it."""
    if (old is None) != (new is None):
        state.own("work_ids")
        if new is None:
            state.work_ids.remove(work_id)
        else:
            state.work_ids.add(work_id)
    before, after = due_key(old), due_key(new)
    if before != after:
        state.own("work_due")
        if before is not None:
            state.work_due.remove(before)
        if after is not None:
            state.work_due.add(after)
    gone = None if old is None else old.customer_id
    came = None if new is None else new.customer_id
    if gone != came:
        state.own("work_by_customer")
        by_customer = state.work_by_customer
        if gone is not None:
            rest = tuple(i for i in by_customer[gone] if i != work_id)
            if rest:
                by_customer[gone] = rest
            else:
                del by_customer[gone]
        if came is not None:
            ids = by_customer.get(came, ())
            at = bisect.bisect_left(ids, work_id)
            by_customer[came] = (*ids[:at], work_id, *ids[at:])


class MemoryWork:
    """``session.work``: see :class:`custrec.storage.WorkTable`."""

    def __init__(self, session: _MemorySession) -> None:
        self._session = session

    @property
    def _state(self) -> _State:
        return self._session.state

    def _insert(self, rows: Iterable[WorkRow]) -> int:
        added = 0
        for row in rows:
            if row.id not in self._state.work:
                self._session.write("work", row.id, attrs.evolve(row, version=1))
                added += 1
        return added

    def add(self, row: WorkRow) -> int:
        self._session.check_open(write=True)
        row = checks.check_work(row)
        if row.id in self._state.work:
            raise DuplicateKey(f"work {row.id}")
        self._insert((row,))
        return 1

    def add_many(self, rows: Sequence[WorkRow], *, skip_existing: bool = False) -> int:
        self._session.check_open(write=True)
        checked = [checks.check_work(row) for row in rows]
        if not skip_existing:
            seen: set[str] = set()
            for row in checked:
                if row.id in self._state.work or row.id in seen:
                    raise DuplicateKey(f"work {row.id}")
                seen.add(row.id)
        return self._insert(checked)

    def get(self, work_id: str) -> WorkRow:
        self._session.check_open()
        checks.check_text(work_id, "work_id")
        try:
            return self._state.work[work_id]
        except KeyError:
            raise NotFound(f"work {work_id}") from None

    def update(self, row: WorkRow, *, expected_version: int) -> int:
        self._session.check_open(write=True)
        row = checks.check_work(row)
        checks.version(expected_version)
        current = self._state.work.get(row.id)
        if current is None:
            raise NotFound(f"work {row.id}")
        if current.version != expected_version:
            raise VersionConflict(
                f"work {row.id}", expected=expected_version, actual=current.version
            )
        new = attrs.evolve(
            row, version=current.version + 1, kind=current.kind, created_at=current.created_at
        )
        self._session.write("work", row.id, new)
        return new.version

    def _matching(self, where: WorkFilter | None, after: str | None) -> Iterator[WorkRow]:
        checks.check_work_filter(where, after)
        st = self._state
        ids: Iterable[str]
        if where is not None and where.customer_id is not None:
            mine = st.work_by_customer.get(where.customer_id, ())
            ids = mine[bisect.bisect_right(mine, after) :] if after is not None else mine
        else:
            ids = st.work_ids.after(after)
        for work_id in ids:
            row = st.work[work_id]
            if where is None or where.matches(row):
                yield row

    def query(
        self, *, where: WorkFilter | None = None, after: str | None = None, limit: int = 100
    ) -> list[WorkRow]:
        self._session.check_open()
        limit = checks.bounded(limit)  # islice takes no stop beyond sys.maxsize
        return list(itertools.islice(self._matching(where, after), limit))

    def due(
        self,
        *,
        before: datetime,
        where: WorkFilter | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> list[WorkRow]:
        self._session.check_open()
        checks.check_limit(limit)
        stop = _stamp(checks.check_instant(before, "before"))
        checks.check_work_filter(where)
        start = checks.check_due_after(after)
        if where is not None and where.open is False:
            return []
        st = self._state
        first = None if start is None else f"{_stamp(start[0])}\x00{start[1]}"
        if where is not None and where.customer_id is not None:  # a customer's few rows
            mine = (st.work[i] for i in st.work_by_customer.get(where.customer_id, ()))
            keys: Iterable[str] = sorted(
                key
                for key in map(due_key, mine)
                if key is not None and (first is None or key > first)
            )
        else:
            keys = st.work_due.after(first)
        found: list[WorkRow] = []
        for key in keys:
            if key[:_STAMP] >= stop:
                break
            row = st.work[key[_STAMP + 1 :]]
            if where is None or where.matches(row):
                found.append(row)
                if len(found) >= limit:
                    break
        return found

    def count(self, *, where: WorkFilter | None = None) -> int:
        self._session.check_open()
        if where is None:
            return len(self._state.work)
        return sum(1 for _ in self._matching(where, None))

    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        self._session.check_open(write=True)
        checks.check_texts((from_customer_id, to_customer_id), "customer_id")
        if from_customer_id == to_customer_id:
            return 0
        st = self._state
        moved = st.work_by_customer.get(from_customer_id, ())
        for work_id in moved:
            self._session.write(
                "work", work_id, attrs.evolve(st.work[work_id], customer_id=to_customer_id)
            )
        return len(moved)


class MemoryChanges:
    """``session.changes``: see :class:`custrec.storage.ChangeTable`. Writers take turns, so
    the list's order is the commit order; the cursor is the number of events read."""

    def __init__(self, session: _MemorySession) -> None:
        self._session = session

    def append(self, events: Sequence[ChangeEvent]) -> list[int]:
        self._session.check_open(write=True)
        checked = [checks.check_change(event) for event in events]
        state = self._session.state
        state.own("changes")
        first = len(state.changes) + 1
        state.changes.extend(attrs.evolve(e, seq=first + i) for i, e in enumerate(checked))
        return list(range(first, first + len(checked)))

    def since(self, cursor: str | None = None, *, limit: int = 1000) -> ChangePage:
        self._session.check_open()
        checks.check_limit(limit)
        position = checks.check_decimal_cursor(cursor)
        if position > len(self._session.state.changes):  # past the end: not from this feed
            raise ValueError(f"not a change-feed cursor of this store: {cursor!r:.40}")
        events = tuple(self._session.state.changes[position : position + limit])
        return ChangePage(events=events, cursor=str(position + len(events)))
