"""The kernels behind the faster Pareto, star and RFM batch paths, against straightforward code.

Each kernel is compared with the plain definition it replaces (a Decimal division, ``sorted``,
``bisect_right``) on random inputs with ties, zeros, equal amounts, single values and values
next to rounding boundaries; the policies built on them are compared with the pre-optimisation
reference in test_grading_parity.py, and a few populations chosen for these paths are added
here.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from decimal import (
    ROUND_05UP,
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
    getcontext,
    localcontext,
)
from fractions import Fraction
from itertools import accumulate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.grading import ActivitySummary
from custrec.grading._engine import Engine, forced, numpy_available
from custrec.grading._order import int_order_statistics, order_statistics, scaled_integers
from custrec.grading._shares import _near_midpoints, float_shares, integer_shares
from custrec.grading.pareto import _scatter
from custrec.grading.stars import _sorted_with_table, _weighted_ranks

from .test_grading_parity import check_pareto, check_rfm, check_stars

ENGINES: list[Engine] = ["python", "numpy"] if numpy_available() else ["python"]
AS_OF = datetime(2024, 7, 1, tzinfo=UTC)
ROUNDINGS = [
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_HALF_DOWN,
    ROUND_UP,
    ROUND_DOWN,
    ROUND_CEILING,
    ROUND_05UP,
]


def reference_shares(prefix: list[int]) -> list[float]:
    whole = Decimal(prefix[-1])
    return [float(Decimal(p) / whole) for p in prefix]


def rising_end(prefix: list[int]) -> int:
    """Where a prefix that rises and then falls stops rising (as fit() knows it)."""
    end = 1
    while end < len(prefix) and prefix[end] >= prefix[end - 1]:
        end += 1
    return end


def next_to_midpoints(share: float) -> list[tuple[int, int]]:
    """(p, total) below 2**53 whose quotient is the closest such fraction to the midpoints
    around ``share``, or exactly on one."""
    found = []
    for neighbour in (math.nextafter(share, math.inf), math.nextafter(share, 0.0)):
        midpoint = (Fraction(share) + Fraction(neighbour)) / 2
        for close in (midpoint.limit_denominator(2**53 - 1), midpoint):
            if close.numerator < 2**53 and close.denominator < 2**53:
                found.append((close.numerator, close.denominator))
    return found


# --- Pareto shares -----------------------------------------------------------------------------

SHARE_FLOATS = st.one_of(
    st.floats(min_value=2.0**-50, max_value=4.0, allow_nan=False),
    st.integers(-50, 2).map(lambda k: 2.0**k),  # powers of two: the floats below are denser
    st.sampled_from([0.8, 0.95, 1 / 3, 2 / 3, 0.1, 0.5, 1.0]),
)


@pytest.mark.parametrize("rounding", ROUNDINGS)
@settings(max_examples=150, deadline=None)
@given(share=SHARE_FLOATS)
def test_pure_shares_next_to_a_midpoint_are_the_decimal_quotients(
    rounding: str, share: float
) -> None:
    for p, total in next_to_midpoints(share):
        prefix = [0, p, total]  # p > total: a falling part, as after negative totals
        rising = rising_end(prefix)
        with localcontext(prec=25, rounding=rounding):
            assert float_shares(list(map(float, prefix)), rising) == reference_shares(prefix)
        # The detector flags every quotient that close to a midpoint.
        midpoint_near = any(
            abs(Fraction(p, total) - m) <= Fraction(p, total) * Fraction(1, 10**24)
            for m in _midpoints(Fraction(p, total))
        )
        if midpoint_near and rising == 3:
            assert 1 in _near_midpoints(
                [0.0, float(p), float(total)], [0.0, p / total, 1.0], 0, 3, float(total)
            )


def _midpoints(value: Fraction) -> list[Fraction]:
    share = float(value)
    return [
        (Fraction(share) + Fraction(math.nextafter(share, direction))) / 2
        for direction in (math.inf, 0.0)
    ]


PREFIX_PARTS = st.lists(
    st.one_of(
        st.integers(0, 10**6),
        st.integers(0, 2**40),
        st.just(0),
        st.sampled_from([1, 2, 4, 2**20, 2**30]),
    ),
    min_size=0,
    max_size=40,
)


@pytest.mark.parametrize("rounding", [ROUND_HALF_EVEN, ROUND_UP, ROUND_DOWN])
@settings(max_examples=200, deadline=None)
@given(
    rises=PREFIX_PARTS,
    falls=st.lists(st.integers(1, 2**30), max_size=10),
    repeated=st.booleans(),
)
def test_pure_shares_of_a_rising_then_falling_prefix(
    rounding: str, rises: list[int], falls: list[int], repeated: bool
) -> None:
    if repeated:  # equal amounts: the prefix climbs in equal steps
        rises = rises[:1] * len(rises)
    prefix = list(accumulate(rises, initial=0))
    for fall in falls:  # negative totals sort last and make the prefix fall again
        if prefix[-1] - fall <= 0:
            break
        prefix.append(prefix[-1] - fall)
    if prefix[-1] <= 0 or max(prefix) >= 2**53:
        return
    with localcontext(prec=28, rounding=rounding):
        expected = reference_shares(prefix)
        assert float_shares(list(map(float, prefix)), rising_end(prefix)) == expected
        assert integer_shares(prefix) == expected


def test_a_single_customer_and_all_equal_shares() -> None:
    assert float_shares([0.0, 5.0], 2) == [0.0, 1.0]
    assert float_shares([0.0, 3.0, 6.0, 9.0], 4) == reference_shares([0, 3, 6, 9])
    assert float_shares([0.0, 0.0, 0.0, 7.0], 4) == [0.0, 0.0, 0.0, 1.0]


# --- order statistics ----------------------------------------------------------------------------

AMOUNTS = st.one_of(
    st.integers(-5_000, 200_000).map(lambda cents: Decimal(cents).scaleb(-2)),
    st.sampled_from(["0", "0.00", "-0", "10", "10.0", "10.000", "1E+1", "1E+400", "-1E+400"]).map(
        Decimal
    ),
    st.integers(-30, 30).map(lambda k: 1 + Decimal(k).scaleb(-24)),  # equal floats
)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(AMOUNTS, min_size=1, max_size=60), data=st.data())
def test_order_statistics_are_the_very_objects_sorted_would_give(
    values: list[Decimal], data: st.DataObject
) -> None:
    ranks = data.draw(st.lists(st.integers(0, len(values) - 1), min_size=1, max_size=6))
    expected = [sorted(values)[j] for j in ranks]
    found = order_statistics(values, ranks)
    assert all(a is b for a, b in zip(found, expected, strict=True))
    assert order_statistics(values, ranks, [float(v) for v in values]) == expected


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.integers(-(2**70), 2**70) | st.integers(0, 5), min_size=1, max_size=60))
def test_integer_order_statistics(values: list[int]) -> None:
    ranks = [0, len(values) // 2, len(values) - 1]
    assert int_order_statistics(values, ranks) == [sorted(values)[j] for j in ranks]


# --- star ranks ----------------------------------------------------------------------------------


def reference_ranks(fitted: list[int], values: list[int], weight: int) -> list[int]:
    return [weight * bisect_right(fitted, v) if v > 0 else 0 for v in values]


@pytest.mark.parametrize("weight", [0, 1, 3])
@settings(max_examples=200, deadline=None)
@given(
    fitted=st.lists(st.integers(-5, 40) | st.integers(-(2**60), 2**60), min_size=1, max_size=50),
    others=st.lists(st.integers(-10, 50), max_size=10),
)
def test_weighted_ranks_are_bisections(weight: int, fitted: list[int], others: list[int]) -> None:
    ordered, table = _sorted_with_table(fitted, weight)
    assert list(ordered) == sorted(fitted)
    assert table.weight == weight
    # The fitted values themselves (the table answers all), then values it lacks as well.
    assert _weighted_ranks(ordered, table.table, fitted, weight) == reference_ranks(
        sorted(fitted), fitted, weight
    )
    asked = [*others, *fitted]
    assert _weighted_ranks(ordered, table.table, asked, weight) == reference_ranks(
        sorted(fitted), asked, weight
    )


# --- Pareto: writing the ranks back in input order ---------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 40),
    seed=st.integers(0, 10**6),
    boundaries=st.lists(st.integers(0, 45), min_size=1, max_size=4).map(sorted),
)
def test_scatter_writes_each_rank_at_its_input_index(
    size: int, seed: int, boundaries: list[int]
) -> None:
    order = list(range(size))
    random.Random(seed).shuffle(order)
    labels = [f"L{k}" for k in range(len(boundaries) + 1)]
    scores = [p / size for p in range(size + 1)]
    by_label, by_score = _scatter(order, boundaries, labels, scores)
    for p, index in enumerate(order):
        assert by_label[index] == labels[bisect_right(boundaries, p)]
        assert by_score[index] == scores[p]
    if numpy_available():
        from custrec.grading import _numeric

        assert _numeric.scatter_ranks(order, boundaries, labels, scores) == (by_label, by_score)


# --- the numpy kernels ---------------------------------------------------------------------------

needs_numpy = pytest.mark.skipif(not numpy_available(), reason="needs the numeric extra")


@needs_numpy
@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.integers(-50, 50) | st.integers(-(2**40), 2**40), max_size=50))
def test_numpy_descending_prefix(keys: list[int]) -> None:
    from custrec.grading import _numeric

    order = sorted(range(len(keys)), key=keys.__getitem__, reverse=True)
    index, prefix, negatives = _numeric.descending_prefix(keys, range(len(keys)))
    assert index.tolist() == order
    assert prefix.tolist() == list(accumulate((keys[i] for i in order), initial=0))
    assert negatives == sum(k < 0 for k in keys)
    cuts = [-5, 0, 7, 2**41]
    rising = sorted(prefix.tolist())
    assert _numeric.first_at_least(_numeric.ints(rising, len(rising)), cuts) == tuple(
        sum(v < cut for v in rising) for cut in cuts
    )


@needs_numpy
@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.integers(0, 30) | st.integers(-(2**61), 2**61), max_size=60))
def test_numpy_sorted_with_ranks(values: list[int]) -> None:
    from custrec.grading import _numeric

    column = _numeric.int64_column(values)
    assert column is not None
    ordered, ranks = _numeric.sorted_with_ranks(column)
    assert ordered.tolist() == sorted(values)
    assert ranks.tolist() == [bisect_right(sorted(values), v) if v > 0 else 0 for v in values]


@needs_numpy
def test_numpy_columns_refuse_values_beyond_int64_sums() -> None:
    from custrec.grading import _numeric

    assert _numeric.int64_column([]) is not None
    assert _numeric.int64_column([2**62 - 1, -(2**62) + 1]) is not None
    assert _numeric.int64_column([2**62]) is None
    assert _numeric.int64_column([-(2**62)]) is None
    assert _numeric.int64_column([2**70]) is None


# --- the integer keys ----------------------------------------------------------------------------


def test_integer_keys_leave_the_callers_context_alone() -> None:
    context = getcontext()
    context.clear_flags()
    assert scaled_integers([Decimal("1.005"), Decimal("2")]) == ([1005, 2000], 3)
    assert scaled_integers([Decimal("1.005")], 2) is None
    assert not any(context.flags.values())


# --- whole populations on the fast paths -------------------------------------------------------


def summary(customer_id: str, total: str, count: int = 1, days: int = 3) -> ActivitySummary:
    last = AS_OF - timedelta(days=days)
    return ActivitySummary(
        customer_id=customer_id,
        first_purchase_at=last,
        last_purchase_at=last,
        purchase_count=count,
        total_spent=Decimal(total),
    )


POPULATIONS = {
    "single customer": [summary("a", "12.34")],
    "single prospect": [ActivitySummary.empty("a")],
    "all equal": [summary(f"c{i:02d}", "10.00") for i in range(30)],
    "all zero": [summary(f"c{i:02d}", "0.00") for i in range(5)],
    "equal amounts written differently": [
        summary(f"c{i:02d}", text) for i, text in enumerate(["10", "10.0", "10.00", "1E+1"] * 4)
    ],
    # shares exactly on powers of two and on the breakpoints
    "powers of two": [summary(f"c{i:02d}", str(2**i)) for i in range(12)],
    "on the breakpoints": [summary("a", "80"), summary("b", "15"), summary("c", "5")],
    "refunds": [summary(f"c{i:02d}", str(v)) for i, v in enumerate([100, 50, -20, -30, 0, 7])],
    "mostly refunds": [summary("a", "5"), summary("b", "-1"), summary("c", "-3.5")],
    "many digits": [summary(f"c{i}", f"0.{'3' * (20 + i)}") for i in range(6)],
    "mixed prospects": [
        *(summary(f"b{i:02d}", f"{i * 7 % 13}.{i % 100:02d}", 1 + i % 4, i) for i in range(20)),
        *(ActivitySummary.empty(f"p{i:02d}") for i in range(5)),
    ],
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", POPULATIONS)
def test_chosen_populations_match_the_reference(engine: Engine, name: str) -> None:
    population = POPULATIONS[name]
    with forced(engine):
        check_pareto(population, "value", (0.8, 0.95))
        check_pareto(population, "customers", (0.5, 1.0))
        check_stars(population, (0.6, 0.4, 0.0))
        check_stars(population, (0.0, 1.0, 0.0))
        if any(s.has_purchases for s in population):
            check_rfm(population, 5)
