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
    "descending_order",
    "fits_float",
    "fits_int64",
    "floats",
    "ints",
    "order_statistics",
    "scatter",
    "shares",
    "sorted_decimals",
    "sorted_with_ranks",
    "stable_order",
    "star_numerators",
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


# --- integer keys (amounts scaled to integers, exact) ------------------------------------------

_INT64_LIMIT = 2**62  # keys and their negations, sums of two, stay inside int64
_FLOAT_LIMIT = 2**53  # integers below this are exact float64 values


def fits_int64(keys: Sequence[int]) -> bool:
    """Whether every key lies strictly inside +-2**62."""
    return not keys or (min(keys) > -_INT64_LIMIT and max(keys) < _INT64_LIMIT)


def fits_float(values: Sequence[int]) -> bool:
    """Whether every value is a non-negative integer below 2**53 (exact as a float64)."""
    return not values or (min(values) >= 0 and max(values) < _FLOAT_LIMIT)


def descending_order(keys: Sequence[int], order: Sequence[int]) -> tuple[list[int], list[int]]:
    """``sorted(order, key=keys.__getitem__, reverse=True)`` (stable) for int64 keys, and the
    keys in that order."""
    index = np.asarray(order, dtype=np.int64)
    values = np.fromiter(keys, np.int64, len(keys))[index]
    perm = np.argsort(-values, kind="stable")
    result: list[int] = index[perm].tolist()
    ordered: list[int] = values[perm].tolist()
    return result, ordered


def _split(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Dekker's split: ``high + low == values`` exactly, each half with at most 26 bits."""
    scaled = values * 134217729.0  # 2**27 + 1
    high = scaled - (scaled - values)
    return high, values - high


def shares(prefix: Sequence[int], total: int) -> tuple[list[float], list[int]]:
    """``prefix[p] / total`` rounded to the nearest float, and the positions to check again.

    Every value is a non-negative integer below 2**53 and ``total`` is positive, so the float
    division is the exact quotient correctly rounded. A quotient rounded first to 25 or more
    decimal digits (as ``Decimal`` division does) and then to a float can land on another float
    only if the exact quotient lies within a relative 1e-24 of the midpoint between two floats;
    positions that close (far fewer than one in a billion at random) are returned to be divided
    as Decimals.
    """
    before = np.fromiter(prefix, np.float64, len(prefix))
    whole = float(total)
    quotient = before / whole
    # residual = before - quotient * whole, exactly (Dekker's product; Sterbenz for the rest)
    product = quotient * whole
    qh, ql = _split(quotient)
    wh, wl = _split(np.array([whole]))
    error = ((qh * wh[0] - product) + qh * wl[0] + ql * wh[0]) + ql * wl[0]
    residual = (before - product) - error
    # Distance from the exact quotient (scaled by whole) to the nearest midpoint between floats.
    gap = np.spacing(quotient)
    below = (residual < 0) & (np.frexp(quotient)[0] == 0.5)  # a power of two: half gap below
    half = np.where(below, gap / 4, gap / 2) * whole
    distance = half - np.abs(residual)
    unsure = np.flatnonzero((distance <= half * 1e-6) & (before != 0)).tolist()
    result: list[float] = quotient.tolist()
    return result, unsure


def scatter(order: Sequence[int], values: Sequence[Any]) -> list[Any]:
    """``result[order[p]] = values[p]`` for every p in ``range(len(order))``."""
    column = np.empty(len(order), dtype=object)
    column[np.asarray(order, dtype=np.int64)] = values[: len(order)]
    result: list[Any] = column.tolist()
    return result


def sorted_with_ranks(values: Sequence[int]) -> tuple[IntArray, IntArray]:
    """``sorted(values)`` for int64 values, and for each value in input order how many values
    are at most it (0 for a value that is not positive)."""
    column = np.fromiter(values, np.int64, len(values))
    perm = np.argsort(column, kind="stable")
    ordered = column[perm]
    ranks = np.empty_like(column)
    # The queries are sorted, so this search walks the array once.
    ranks[perm] = np.where(ordered > 0, np.searchsorted(ordered, ordered, "right"), 0)
    return ordered, ranks


def star_numerators(
    ordered_totals: IntArray,
    ordered_counts: IntArray,
    totals: Sequence[int],
    counts: Sequence[int],
    amount_weight: int,
    frequency_weight: int,
) -> IntArray:
    """``amount_rank * amount_weight + frequency_rank * frequency_weight`` for each summary.

    A rank is how many fitted values (``ordered_*``, ascending) are at most the summary's, or 0
    when the summary's value is not positive. All int64; the caller keeps the result in range.
    """
    asked = np.fromiter(totals, np.int64, len(totals))
    amounts = np.where(asked > 0, np.searchsorted(ordered_totals, asked, "right"), 0)
    asked = np.fromiter(counts, np.int64, len(counts))
    frequencies = np.where(asked > 0, np.searchsorted(ordered_counts, asked, "right"), 0)
    result: IntArray = amounts.astype(np.int64) * amount_weight + frequencies * frequency_weight
    return result
