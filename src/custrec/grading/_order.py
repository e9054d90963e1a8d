"""Private: sorting exact amounts quickly in pure Python.

Comparing two ``Decimal`` values is several times slower than comparing two floats, so amounts are
sorted on their nearest floats first. ``float()`` is monotone (a smaller amount never gets a larger
float), so the result is the exact stable sort unless two different amounts share a float; that is
checked in one pass over neighbours, and only then are the amounts sorted themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from itertools import islice
from operator import le

__all__ = ["sorted_amounts", "sorted_by_amount"]


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
