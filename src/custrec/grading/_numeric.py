"""Private: numpy kernels for the batch paths (the ``numeric`` extra). Imported only when used.

Amounts stay exact. A ``Decimal`` is converted to its nearest float, which is monotone: a smaller
float means a smaller amount. Where two floats are equal the amounts may still differ (many digits),
so every comparison that floats cannot decide is made again on the ``Decimal`` values.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from decimal import Decimal
from itertools import islice
from operator import eq, ge, lt
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "count_le",
    "floats",
    "ints",
    "order_statistics",
    "sorted_decimals",
    "stable_order",
    "take",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def floats(values: Sequence[Decimal]) -> FloatArray:
    """The nearest float of each value (monotone in the value)."""
    return np.fromiter(map(float, values), np.float64, len(values))


def ints(values: Any, size: int) -> IntArray:
    """An int64 array from an iterable of ``size`` Python ints."""
    return np.fromiter(values, np.int64, size)


def take(table: Sequence[Any], index: IntArray) -> list[Any]:
    """``[table[i] for i in index]``."""
    column = np.empty(len(table), dtype=object)
    column[:] = list(table)
    result: list[Any] = column[index].tolist()
    return result


def _ordered(values: Sequence[Decimal], order: Sequence[int]) -> tuple[list[int], list[Decimal]]:
    """``sorted(order, key=values.__getitem__)`` (stable) and the values in that order.

    Sorted on the floats; where neighbouring floats tie but the amounts differ, the run of equal
    floats is sorted again on the amounts.
    """
    index = np.asarray(order, dtype=np.int64)
    keyed = floats(values)[index]
    perm = np.argsort(keyed, kind="stable")
    ordered = keyed[perm]
    result: list[int] = index[perm].tolist()
    found = list(map(values.__getitem__, result))
    if len(found) < 2:
        return result, found
    ties = ordered[1:] == ordered[:-1]
    if not ties.any():
        return result, found
    same = np.fromiter(map(eq, found, islice(found, 1, None)), bool, len(found) - 1)
    done = -1
    for i in np.flatnonzero(ties & ~same).tolist():
        if i < done:
            continue
        start = int(np.searchsorted(ordered, ordered[i], "left"))
        done = int(np.searchsorted(ordered, ordered[i], "right"))
        result[start:done] = sorted(result[start:done], key=values.__getitem__)
        found[start:done] = map(values.__getitem__, result[start:done])
    return result, found


def stable_order(values: Sequence[Decimal], order: Sequence[int]) -> list[int]:
    """``sorted(order, key=values.__getitem__)`` (stable)."""
    return _ordered(values, order)[0]


def sorted_decimals(values: Sequence[Decimal]) -> list[Decimal]:
    """``sorted(values)`` (stable)."""
    return _ordered(values, range(len(values)))[1]


def order_statistics(values: Sequence[Decimal], ranks: Sequence[int]) -> list[Decimal]:
    """``[sorted(values)[j] for j in ranks]`` without sorting the amounts themselves."""
    value_floats = floats(values)
    ordered = np.sort(value_floats)
    found: list[Decimal] = []
    for j in ranks:
        value = ordered[j]
        start = int(np.searchsorted(ordered, value, "left"))
        group = [values[i] for i in np.flatnonzero(value_floats == value).tolist()]
        found.append(sorted(group)[j - start])
    return found


def count_le(
    reference: Sequence[Decimal],
    reference_floats: FloatArray,
    values: Sequence[Decimal],
    value_floats: FloatArray,
) -> IntArray:
    """``[bisect_right(reference, v) for v in values]`` for an ascending ``reference``."""
    lo = np.searchsorted(reference_floats, value_floats, "left")
    hi = np.searchsorted(reference_floats, value_floats, "right")
    result: IntArray = hi.astype(np.int64)
    undecided = np.flatnonzero(hi > lo)
    if undecided.size == 0:
        return result
    # Inside reference[lo:hi] every float equals the value's: compare the amounts.
    size = int(undecided.size)
    starts, ends = lo[undecided], hi[undecided]
    asked = [values[i] for i in undecided.tolist()]
    top = np.fromiter(map(ge, asked, (reference[e - 1] for e in ends.tolist())), bool, size)
    bottom = np.fromiter(map(lt, asked, (reference[s] for s in starts.tolist())), bool, size)
    counts = np.where(top, ends, starts)
    for k in np.flatnonzero(~(top | bottom)).tolist():
        counts[k] = bisect_right(reference, asked[k], int(starts[k]), int(ends[k]))
    result[undecided] = counts
    return result
