"""Private: sorting exact amounts quickly in pure Python.

Comparing two ``Decimal`` values is several times slower than comparing two floats, so amounts are
sorted on their nearest floats first. ``float()`` is monotone (a smaller amount never gets a larger
float), so the result is the exact stable sort unless two different amounts share a float; that is
checked in one pass over neighbours, and only then are the amounts sorted themselves.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    getcontext,
    localcontext,
)
from itertools import accumulate, compress, islice, repeat
from operator import gt, le, mul, ne
from typing import Final

__all__ = [
    "MAX_SCALE",
    "counts_at_most",
    "int_order_statistics",
    "order_statistics",
    "plain_context",
    "scaled_amount",
    "scaled_integers",
    "sorted_amounts",
    "sorted_by_amount",
]

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


def order_statistics(
    values: Sequence[Decimal], ranks: Sequence[int], floats: Sequence[float] | None = None
) -> list[Decimal]:
    """``[sorted(values)[j] for j in ranks]`` (the very objects) without sorting the amounts.

    The floats (``floats``: ``float(v)`` for each value, when known) are sorted instead; the
    amounts sharing the float at rank j fill a run of ranks from the first position of that
    float, and only they are sorted (stably) to pick rank j.
    """
    if floats is None:
        floats = list(map(float, values))
    ordered = sorted(floats)
    wanted = {ordered[j] for j in ranks}
    near = list(compress(range(len(floats)), map(wanted.__contains__, floats)))  # one pass
    found: list[Decimal] = []
    for j in ranks:
        value = ordered[j]
        group = sorted(values[i] for i in near if floats[i] == value)  # stable: input order
        found.append(group[j - bisect_left(ordered, value)])
    return found


def int_order_statistics(values: Iterable[int], ranks: Sequence[int]) -> list[int]:
    """``[sorted(values)[j] for j in ranks]`` for integers, by counting equal values."""
    tally = Counter(values)
    distinct = sorted(tally)
    at_most = list(accumulate(map(tally.__getitem__, distinct)))  # how many are <= each
    return [distinct[bisect_right(at_most, j)] for j in ranks]


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


# --- amounts as integers ---------------------------------------------------------------------

MAX_SCALE: Final = 30
"""The most decimal places an amount may have for the integer kernels (more: the Decimal ones)."""

_EXACT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, rounding=ROUND_HALF_EVEN)
_WHOLE: Final = Context(  # _EXACT, and rounding to a whole number raises
    prec=MAX_PREC,
    Emax=MAX_EMAX,
    Emin=MIN_EMIN,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)
_TENS: Final = tuple(Decimal(10) ** k for k in range(MAX_SCALE + 1))


def plain_context() -> bool:
    """Whether the current ``Decimal`` context rounds as the integer kernels assume.

    The integer kernels reproduce exact sums, negations and quotients rounded to at least 25
    significant digits; a context with less precision, rounding toward -infinity (which turns
    ``-0`` into a signed zero) or trapping on rounding keeps the ``Decimal`` kernels.
    """
    context = getcontext()
    return (
        context.prec >= 25
        and context.rounding != ROUND_FLOOR
        and not context.traps[Inexact]
        and not context.traps[Rounded]
    )


def scaled_integers(
    amounts: Sequence[Decimal], scale: int | None = None
) -> tuple[list[int], int] | None:
    """``([a * 10**scale for a in amounts], scale)`` when every product is an integer.

    Without ``scale`` the smallest of 2 and the decimal places the amounts need is tried (at
    most :data:`MAX_SCALE`). ``None`` when no such scale exists. Integer keys order, compare and
    add exactly as the amounts do, and much faster.
    """
    k = 2 if scale is None else scale
    if not 0 <= k <= MAX_SCALE:
        return None
    factor = _TENS[k]
    try:
        # One pass, keeping no product: the products are exact, and one that is not a whole
        # number raises Inexact in to_integral_exact.
        with localcontext(_WHOLE) as context:
            return list(
                map(int, map(context.to_integral_exact, map(mul, amounts, repeat(factor))))
            ), k
    except Inexact:
        if scale is not None:
            return None
    with localcontext(_EXACT):
        products = list(map(mul, amounts, repeat(factor)))
    keys = list(map(int, products))
    # Some amounts have more than two decimals: the most any of them needs.
    needed = max(
        -_EXACT.normalize(amounts[i]).as_tuple().exponent  # type: ignore[operator]
        for i in compress(range(len(keys)), map(ne, products, keys))
    )
    return scaled_integers(amounts, needed) if needed > k else None


def scaled_amount(amount: Decimal | int, scale: int) -> Decimal:
    """``amount * 10**scale``, exactly."""
    return _EXACT.scaleb(Decimal(amount), scale)
