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
    "descending_prefix",
    "first_at_least",
    "fits_float",
    "fits_int64",
    "floats",
    "int64_column",
    "ints",
    "order_statistics",
    "scatter_ranks",
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


def order_statistics(
    values: Sequence[Decimal], ranks: Sequence[int], known: Sequence[float] | None = None
) -> list[Decimal]:
    """``[sorted(values)[j] for j in ranks]`` without sorting the amounts themselves
    (``known``: the floats of the values, when known)."""
    value_floats = floats(values) if known is None else np.array(known, dtype=np.float64)
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


def fits_float(values: Sequence[int] | Sequence[float] | IntArray) -> bool:
    """Whether every value (an integer) lies in 0..2**53-1 (exact as a float64)."""
    if isinstance(values, np.ndarray):
        return not values.size or (int(values.min()) >= 0 and int(values.max()) < _FLOAT_LIMIT)
    return not values or (min(values) >= 0 and max(values) < _FLOAT_LIMIT)


def descending_prefix(keys: Sequence[int], order: Sequence[int]) -> tuple[IntArray, IntArray, int]:
    """``sorted(order, key=keys.__getitem__, reverse=True)`` (stable) as an array, the sums of
    the first p keys in that order for p in 0..n, and how many keys are negative.

    The caller keeps the sum of the keys' absolute values below 2**62, so every sum is exact.
    """
    size = len(keys)
    index = np.arange(size) if isinstance(order, range) else np.asarray(order, dtype=np.int64)
    values = np.fromiter(keys, np.int64, size)
    negatives = int(np.count_nonzero(values < 0))
    values = values[index]
    perm = np.argsort(-values, kind="stable")
    prefix = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values[perm], out=prefix[1:])
    return index[perm], prefix, negatives


def first_at_least(ascending: IntArray, cuts: Sequence[int]) -> tuple[int, ...]:
    """``bisect_left(ascending, cut)`` for each cut (ints in int64 range)."""
    found = np.searchsorted(ascending, np.array(cuts, dtype=np.int64), "left")
    return tuple(found.tolist())


def _split(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Dekker's split: ``high + low == values`` exactly, each half with at most 26 bits."""
    scaled = values * 134217729.0  # 2**27 + 1
    high = scaled - (scaled - values)
    return high, values - high


def shares(
    prefix: Sequence[int] | Sequence[float] | IntArray, total: int
) -> tuple[FloatArray, list[int]]:
    """``prefix[p] / total`` rounded to the nearest float, and the positions to check again.

    Every value is a non-negative integer below 2**53 and ``total`` is positive, so the float
    division is the exact quotient correctly rounded. A quotient rounded first to 25 or more
    decimal digits (as ``Decimal`` division does) and then to a float can land on another float
    only if the exact quotient lies within a relative 1e-24 of the midpoint between two floats;
    positions that close (far fewer than one in a billion at random) are returned to be divided
    as Decimals.
    """
    before = np.asarray(prefix, dtype=np.float64)
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
    return quotient, unsure


def scatter_ranks(
    order: Sequence[int] | IntArray,
    boundaries: Sequence[int],
    labels: Sequence[str],
    scores: Sequence[float] | FloatArray,
) -> tuple[list[str], list[float]]:
    """The label and score of each rank p at index ``order[p]``: rank p has the label
    ``labels[bisect_right(boundaries, p)]`` and the score ``scores[p]`` (which may run one
    longer)."""
    index = np.asarray(order, dtype=np.int64)
    size = len(index)
    ranks = np.arange(size, dtype=np.int64)
    codes = np.empty(size, dtype=np.int64)
    codes[index] = np.searchsorted(np.array(boundaries, dtype=np.int64), ranks, "right")
    values = np.empty(size, dtype=np.float64)
    values[index] = np.asarray(scores, dtype=np.float64)[:size]
    result: list[float] = values.tolist()
    return take(labels, codes), result


def int64_column(values: Sequence[int]) -> IntArray | None:
    """``values`` as an int64 array when every value lies strictly inside +-2**62, else None."""
    try:
        column = np.fromiter(values, np.int64, len(values))
    except OverflowError:
        return None
    if column.size and not (column.min() > -_INT64_LIMIT and column.max() < _INT64_LIMIT):
        return None
    return column


def sorted_with_ranks(values: Sequence[int] | IntArray) -> tuple[IntArray, IntArray]:
    """``sorted(values)`` for int64 values, and for each value in input order how many values
    are at most it (0 for a value that is not positive)."""
    column = np.asarray(values, dtype=np.int64)
    size = len(column)
    if size and column.min() >= 0 and column.max() <= 4 * size:  # small counts: count them
        tally = np.bincount(column)
        at_most = np.cumsum(tally)
        at_most[0] = 0  # 0 is not positive
        return np.repeat(np.arange(len(tally), dtype=np.int64), tally), at_most[column]
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
