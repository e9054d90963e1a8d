"""Private: sorting exact amounts quickly in pure Python.

Comparing two ``Decimal`` values is several times slower than comparing two floats, so amounts are
sorted on their nearest floats first. ``float()`` is monotone (a smaller amount never gets a larger
float), so the result is the exact stable sort unless two different amounts share a float; that is
checked in one pass over neighbours, and only then are the amounts sorted themselves.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from decimal import Decimal
from itertools import compress, islice, repeat
from operator import gt, le
from typing import Final

__all__ = ["counts_at_most", "sorted_amounts", "sorted_by_amount"]

_BELOW_ALL: Final = Decimal("-Infinity")


def _ascending(values: Sequence[Decimal]) -> bool:
    return all(map(le, values, islice(values, 1, None)))


def sorted_amounts(values: Sequence[Decimal]) -> list[Decimal]:
    """``sorted(values)``: equal to it element by element (stable, so the same objects)."""
    # A non-decreasing arrangement that keeps equal amounts in input order is unique, and equal
    # amounts have equal floats, which a stable sort keeps in input order.
    result = sorted(values, key=float)
    return result if _ascending(result) else sorted(values)


def sorted_by_amount(amounts: Sequence[Decimal], order: Sequence[int]) -> list[int]:
    """``sorted(order, key=amounts.__getitem__)`` (stable)."""
    keys = list(map(float, amounts))
    result = sorted(order, key=keys.__getitem__)
    if _ascending(list(map(amounts.__getitem__, result))):
        return result
    return sorted(order, key=amounts.__getitem__)


def counts_at_most(ordered: Sequence[Decimal], values: Iterable[Decimal]) -> list[int]:
    """``[bisect_right(ordered, v) for v in values]`` for an ascending ``ordered``."""
    values = list(values)
    keys = list(map(float, ordered))
    asked = list(map(float, values))
    # How many floats are at most each float: one pass for the floats present, then bisect.
    right = dict(zip(keys, range(1, len(keys) + 1), strict=True))
    found: list[int] = list(map(right.get, asked, repeat(-1)))
    for i in [i for i, count in enumerate(found) if count < 0]:
        found[i] = bisect_right(keys, asked[i])
    # The floats count every amount whose float is at most the value's. Only amounts sharing the
    # value's float can exceed it, and the largest counted one sits just before the count.
    before = (_BELOW_ALL, *ordered)
    for i in compress(range(len(values)), map(gt, map(before.__getitem__, found), values)):
        found[i] = bisect_right(ordered, values[i], 0, found[i])
    return found
