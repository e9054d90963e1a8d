"""The exact integer kernels behind Pareto and star grading, against plain Decimal arithmetic.

Amounts become integer keys (amount * 10**scale) when every amount allows it; Pareto shares are
the float of the Decimal quotient, computed from the exact integer quotient and re-divided as
Decimals only near a rounding boundary between two floats. Which path a fit takes is pinned
here too, so the parity tests (test_grading_parity.py) are known to cover both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, localcontext
from fractions import Fraction
from itertools import accumulate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.grading import ActivitySummary, ParetoPolicy, StarPolicy
from custrec.grading._engine import Engine, forced, numpy_available
from custrec.grading._order import plain_context, scaled_amount, scaled_integers
from custrec.grading.pareto import _shares_of_integers

AT = datetime(2024, 7, 1, tzinfo=UTC)
ENGINES: list[Engine] = ["python", "numpy"] if numpy_available() else ["python"]

DECIMALS = st.builds(
    lambda digits, exponent: Decimal(digits).scaleb(exponent),
    st.integers(-(10**12), 10**12),
    st.integers(-35, 12),
) | st.sampled_from(["0", "-0", "0.00", "10", "10.0", "1E+1", "-20.5", "0.001"]).map(Decimal)


def summary(customer_id: str, total: str) -> ActivitySummary:
    return ActivitySummary(
        customer_id=customer_id,
        first_purchase_at=AT,
        last_purchase_at=AT,
        purchase_count=1,
        total_spent=Decimal(total),
    )


@settings(max_examples=300, deadline=None)
@given(amounts=st.lists(DECIMALS, max_size=30))
def test_scaled_integers_are_the_amounts_times_a_power_of_ten(amounts: list[Decimal]) -> None:
    fractions = [Fraction(a) for a in amounts]
    found = scaled_integers(amounts)
    # the fewest decimals that make every amount whole, but at least 2
    needed = max([2, *map(_places, fractions)])
    if needed > 30:
        assert found is None
        return
    assert found is not None
    keys, scale = found
    assert scale == needed
    assert keys == [f * 10**scale for f in fractions]
    assert [scaled_amount(k, -scale) for k in keys] == amounts
    # The same amounts at a coarser scale do not fit; at a finer one they do.
    if scale > 2:
        assert scaled_integers(amounts, scale - 1) is None
    assert scaled_integers(amounts, min(scale + 1, 30)) is not None or scale == 30


def _places(value: Fraction) -> int:
    """How many decimals ``value`` needs (it is a decimal fraction)."""
    places = 0
    while (value * 10**places).denominator != 1:
        places += 1
    return places


def test_scaled_integers_refuses_more_than_thirty_decimals() -> None:
    assert scaled_integers([Decimal("1E-30"), Decimal(5)]) == ([1, 5 * 10**30], 30)
    assert scaled_integers([Decimal("1E-31")]) is None
    assert scaled_integers([Decimal("0.125")], 2) is None


def test_the_integer_kernels_need_a_context_that_rounds_to_enough_digits() -> None:
    assert plain_context()
    with localcontext(prec=20):
        assert not plain_context()
    with localcontext() as context:
        context.traps[__import__("decimal").Inexact] = True
        assert not plain_context()


def share_reference(prefix: list[int]) -> list[float]:
    whole = Decimal(prefix[-1])
    return [float(Decimal(p) / whole) for p in prefix]


@pytest.mark.parametrize("numeric", [False, True] if numpy_available() else [False])
@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.integers(0, 10**15), min_size=1, max_size=40))
def test_shares_are_the_floats_of_the_decimal_quotients(numeric: bool, values: list[int]) -> None:
    prefix = list(accumulate(values, initial=0))
    if prefix[-1] == 0:
        return
    assert _shares_of_integers(prefix, numeric) == share_reference(prefix)


def test_a_quotient_on_a_midpoint_between_floats_rounds_as_its_decimal_does() -> None:
    # (2**53 + 1) / 2**54 lies exactly halfway between 0.5 and the next float: the float
    # division rounds it to 0.5 (ties to even), the 28-digit Decimal quotient lies just above
    # the midpoint and so becomes the next float.
    prefix = [0, 2**53 + 1, 2**54]
    assert (2**53 + 1) / 2**54 == 0.5
    assert share_reference(prefix)[1] > 0.5
    assert _shares_of_integers(prefix, False) == share_reference(prefix)


@pytest.mark.skipif(not numpy_available(), reason="needs the numeric extra")
def test_the_numpy_shares_flag_quotients_next_to_a_midpoint() -> None:
    from custrec.grading import _numeric

    # The closest fractions below 2**53 to midpoints between floats (1/3 is none: a control).
    for midpoint in (Fraction(2**53 + 1, 2**54), Fraction(3 * 2**52 + 1, 2**55), Fraction(1, 3)):
        close = midpoint.limit_denominator(2**53 - 1)
        prefix = [0, close.numerator, close.denominator]
        _, unsure = _numeric.shares(prefix, close.denominator)
        if close != midpoint and abs(close - midpoint) < midpoint * Fraction(1, 10**24):
            assert 1 in unsure
        assert _shares_of_integers(prefix, True) == share_reference(prefix)


@pytest.mark.parametrize("engine", ENGINES)
def test_pareto_takes_the_integer_path_only_when_it_is_exact(engine: Engine) -> None:
    policy = ParetoPolicy(basis="value")
    cases = {
        "cents": (["700.00", "200.5", "60", "-40"], True),
        "mills": (["0.125", "3"], True),
        "tiny": (["1E-31", "3"], False),  # more than 30 decimals
        "huge": (["1E+27", "1E+27"], False),  # sums beyond 28 digits round in Decimal
    }
    with forced(engine):
        for name, (totals, integers) in cases.items():
            population = [summary(f"c{i}", t) for i, t in enumerate(totals)]
            fitted = policy.fit(population, as_of=AT)
            assert (fitted._prefix_keys is not None) is integers, name
            with localcontext(prec=20):  # a coarser context keeps the Decimal kernels
                assert policy.fit(population, as_of=AT)._prefix_keys is None


@pytest.mark.parametrize("engine", ENGINES)
def test_stars_keep_integer_totals_when_every_amount_allows_it(engine: Engine) -> None:
    policy = StarPolicy()
    with forced(engine):
        cents = policy.fit([summary("a", "10.5"), summary("b", "-3")], as_of=AT)
        assert (cents._scale, cents._totals) == (2, (-300, 1050))
        tiny = policy.fit([summary("a", "1E-40"), summary("b", "2")], as_of=AT)
        assert tiny._scale is None
        # graded amounts finer than the fitted scale are still ranked exactly
        grades = cents.grade_many([summary("c", "10.499"), summary("d", "10.501")], as_of=AT)
        assert [g.components["amount"] for g in grades] == [0.5, 1.0]
        assert [g.components["amount"] for g in grades] == [
            cents.grade(summary(c, t), as_of=AT).components["amount"]
            for c, t in (("c", "10.499"), ("d", "10.501"))
        ]


@pytest.mark.parametrize("engine", ENGINES)
def test_pareto_scores_follow_the_decimal_context_of_each_call(engine: Engine) -> None:
    # 1/3 and 2/3 of the value: a 5-digit context rounds the quotients before the float.
    population = [summary("a", "200"), summary("b", "100"), summary("c", "0.00")]
    fitted = ParetoPolicy(basis="value").fit(population, as_of=AT)
    with forced(engine):
        exact = fitted.grade_many(population, as_of=AT).scores
        with localcontext(prec=5):
            coarse = fitted.grade_many(population, as_of=AT).scores
            assert list(coarse) == [fitted.grade(s, as_of=AT).score for s in population]
        again = fitted.grade_many(population, as_of=AT).scores
    assert exact == again == (0.0, 2 / 3, 1.0)
    assert coarse == (0.0, 0.66667, 1.0)
