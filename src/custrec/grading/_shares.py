"""Private: Pareto value shares ``float(Decimal(p) / Decimal(total))`` from exact integer sums.

The prefix sums of a fitted population are exact integers (amounts scaled to integer keys). Each
share must be what dividing them as ``Decimal``\\ s in the current context and converting to a
float gives. That context rounds to at least 25 significant digits (:func:`~custrec.grading.
_order.plain_context`), so the Decimal quotient lies within a relative 1e-24 of the exact one, and
its float (``float(Decimal)`` rounds correctly) is the exact quotient's float, which ``p / total``
gives at once, unless a midpoint between two neighbouring floats lies that close to the exact
quotient. Those few positions (about three in 10**8 at random) are found exactly and divided
again as Decimals.

Finding them in pure Python: within one binade ``[2**(e-1), 2**e)`` the floats are the multiples
of ``ulp = 2**(e-53)``, so the quotient ``p / total`` is near a midpoint exactly when ``p`` is near
an odd multiple of ``total * ulp / 2``. ``math.remainder(p, total * ulp)`` is computed exactly (an
IEEE remainder always is), so one remainder per position decides it; a share that is a power of
two is divided again anyway. The shares rise along the non-negative totals and fall along the
negative ones; each run is cut into binades by bisection. This replaced two big-integer
divisions per position (three times slower).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import MutableSequence, Sequence
from decimal import Decimal
from itertools import compress, repeat
from math import frexp, ldexp, remainder
from operator import le, mul, ne, truediv
from typing import Final

__all__ = ["FLOAT_EXACT", "float_shares", "integer_shares", "redivide"]

FLOAT_EXACT: Final = 2**53
"""Integers below this in magnitude are exact as floats."""

# A Decimal quotient lies within a relative 1e-24 of the exact one, and a quotient of integers
# below 2**53 is below 2**53 units in the last place of its binade: within 2**53 * 1e-24 < 2**-26
# units of a midpoint, the Decimal may round to the other float.
_MARGIN: Final = 0.5 - 2.0**-26
_WIDE: Final = 10**24  # 1 / the relative margin around a share that its Decimal rounding stays in


def float_shares(prefix: Sequence[float], rising: int) -> list[float]:
    """``float(Decimal(int(p)) / Decimal(int(prefix[-1])))`` for each p in ``prefix``.

    Every value is a non-negative integer below 2**53 held as a float and the last one is
    positive; the values do not decrease up to index ``rising`` (exclusive) and do not increase
    from there on.
    """
    total = prefix[-1]
    shares = list(map(truediv, prefix, repeat(total)))
    unsure = _near_midpoints(prefix, shares, 0, rising, total)
    size = len(prefix)
    if rising < size:  # the falling part, reversed so that it rises
        tail = _near_midpoints(
            prefix[: rising - 1 : -1], shares[: rising - 1 : -1], 0, size - rising, total
        )
        unsure += [size - 1 - j for j in tail]
    redivide(shares, prefix, unsure)
    return shares


def _near_midpoints(
    prefix: Sequence[float], shares: Sequence[float], lo: int, hi: int, total: float
) -> list[int]:
    """The positions in ``lo..hi-1`` (where shares do not decrease) whose exact quotient
    ``prefix[p] / total`` may round to another float once rounded to 25 digits first."""
    unsure: list[int] = []
    start = bisect_right(shares, 0.0, lo, hi)  # a zero share is exact
    while start < hi:
        bottom = ldexp(0.5, frexp(shares[start])[1])  # the binade [bottom, 2 * bottom)
        end = bisect_left(shares, 2 * bottom, start, hi)
        # A share on the power of two itself may come from just below it, where the floats are
        # twice as dense and the midpoint is not on this binade's grid: divide it again. (Below
        # 2**53 no quotient comes that close to such a midpoint; this costs little and needs no
        # proof.)
        inside = bisect_right(shares, bottom, start, end)
        unsure += range(start, inside)
        modulus = total * ldexp(bottom, -52)  # total * ulp, exact
        found = map(abs, map(remainder, prefix[inside:end], repeat(modulus)))
        unsure += compress(range(inside, end), map(le, repeat(modulus * _MARGIN), found))
        start = end
    return unsure


def integer_shares(prefix: Sequence[int]) -> list[float]:
    """:func:`float_shares` for integers of any size (slower: big-integer divisions)."""
    total = prefix[-1]
    shares = list(map(truediv, prefix, repeat(total)))
    wide = total * _WIDE
    low = map(truediv, map(mul, prefix, repeat(_WIDE - 1)), repeat(wide))
    high = map(truediv, map(mul, prefix, repeat(_WIDE + 1)), repeat(wide))
    redivide(shares, prefix, list(compress(range(len(shares)), map(ne, low, high))))
    return shares


def redivide(
    shares: MutableSequence[float], prefix: Sequence[int] | Sequence[float], unsure: list[int]
) -> None:
    """Set ``shares[p]`` to the float of the Decimal quotient for each position in ``unsure``."""
    whole = Decimal(int(prefix[-1]))
    for p in unsure:
        shares[p] = float(Decimal(int(prefix[p])) / whole)
