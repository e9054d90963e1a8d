"""MemoryStore's aggregations over customer rows and activities (private; see
:mod:`custrec.backends.memory`): ``group_count``, ``count_by_period`` and ``buyers_by_period``.

The callers check the arguments and pass the rows their session sees, so these read the
session's own writes like every other read.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from custrec.storage.types import ActivityRow, CustomerFilter, CustomerRow, group_values

__all__ = ["buyers_by_period", "count_by_period", "group_count"]

Group = tuple[str | None, ...]


def group_count(rows: Iterable[CustomerRow], by: Sequence[str]) -> dict[Group, int]:
    """Count ``rows`` per group of the checked names ``by`` (see ``CustomerTable``)."""
    counts: Counter[Group] = Counter()
    for row in rows:
        counts.update(itertools.product(*(group_values(row, name) for name in by)))
    return dict(counts)


def _period(edges: Sequence[datetime], instant: datetime) -> int | None:
    """The index of the period holding ``instant``, or ``None`` outside the edges."""
    at = bisect.bisect_right(edges, instant) - 1
    return at if 0 <= at < len(edges) - 1 else None


def count_by_period(
    rows: Iterable[CustomerRow], edges: Sequence[datetime], field: str
) -> list[int]:
    """Count ``rows`` per period between the checked ``edges`` by their ``field``."""
    counts = [0] * (len(edges) - 1)
    for row in rows:
        at = _period(edges, getattr(row, field))
        if at is not None:
            counts[at] += 1
    return counts


def buyers_by_period(
    activities: Iterable[ActivityRow],
    customers: Mapping[str, CustomerRow],
    edges: Sequence[datetime],
    where: CustomerFilter | None,
) -> list[tuple[int, int]]:
    """Buyers and repeat buyers per period among ``activities`` (see ``ActivityTable``)."""
    purchases: list[Counter[str]] = [Counter() for _ in edges[1:]]
    for activity in activities:
        if activity.kind != "transaction" or activity.amount is None or activity.amount <= 0:
            continue
        at = _period(edges, activity.occurred_at)
        if at is None:
            continue
        if where is not None:
            row = customers.get(activity.customer_id)
            if row is None or not where.matches(row):
                continue
        purchases[at][activity.customer_id] += 1
    return [(len(c), sum(1 for n in c.values() if n >= 2)) for c in purchases]
