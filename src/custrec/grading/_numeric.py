"""Private: numpy kernels for the batch paths (the ``numeric`` extra). Imported only when used.

Amounts stay exact. A ``Decimal`` is converted to its nearest float, which is monotone: a smaller
float means a smaller amount. Where two floats are equal the amounts may still differ (many digits),
so every comparison that floats cannot decide is made again on the ``Decimal`` values.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from decimal import Decimal
from operator import ge, lt
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["count_le", "floats", "ints", "order_statistics", "sorted_decimals", "take"]

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


def sorted_decimals(values: Sequence[Decimal], value_floats: FloatArray) -> list[Decimal]:
    """``sorted(values)`` (stable), sorted on the floats and fixed up where they tie."""
    order = np.argsort(value_floats, kind="stable")
    result = [values[i] for i in order.tolist()]
    ordered = value_floats[order]
    ties = np.flatnonzero(ordered[1:] == ordered[:-1])
    if ties.size == 0:
        return result
    # Runs of equal floats: in input order now; re-sort those whose amounts differ.
    left = ties.tolist()
    same = map(Decimal.__eq__, (result[i] for i in left), (result[i + 1] for i in left))
    unequal = [i for i, equal in zip(left, same, strict=True) if not equal]
    if not unequal:
        return result
    sorted_f = ordered
    for i in unequal:
        value = sorted_f[i]
        start = int(np.searchsorted(sorted_f, value, "left"))
        end = int(np.searchsorted(sorted_f, value, "right"))
        result[start:end] = sorted(result[start:end])
    return result


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
