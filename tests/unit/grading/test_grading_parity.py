"""The fast fit and grade paths (pure Python and numpy) against the pre-optimisation reference.

``_oracle`` holds the RFM, Pareto and star code as it was before issue 16. On random populations
(ties, all-equal values, zero and negative spend, prospects, Decimal amounts with many digits and
equal amounts written with different exponents, tiny and large populations, quantile edges) the
fitted cut points, every grade (label, score, components, reasons) and the batch ``grade_many``
must be exactly the reference's, on every engine.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import custrec.grading
from custrec.grading import (
    ActivitySummary,
    FittedParetoPolicy,
    FittedRFMPolicy,
    FittedStarPolicy,
    Grades,
    ParetoPolicy,
    RFMPolicy,
    StarPolicy,
)
from custrec.grading import _engine as engine_module
from custrec.grading._engine import Engine, forced, numpy_available
from custrec.grading._order import scaled_amount

from ._oracle import pareto as oracle_pareto
from ._oracle import rfm as oracle_rfm
from ._oracle import stars as oracle_stars

AS_OF = datetime(2024, 7, 1, tzinfo=UTC)
LATER = AS_OF + timedelta(days=40, hours=5)

ENGINES: list[Engine] = ["python", "numpy"] if numpy_available() else ["python"]

# Amounts: cents, equal values with other exponents, many digits (beyond 28 significant
# digits: negation and sums round in the Decimal context), zero and negative.
AMOUNTS = st.one_of(
    st.integers(-5_000, 200_000).map(lambda cents: Decimal(cents).scaleb(-2)),
    st.sampled_from(["0", "0.00", "-0", "10", "10.0", "10.000", "1E+1", "99.99", "-20.5"]).map(
        Decimal
    ),
    st.decimals(
        min_value=Decimal("-1e6"), max_value=Decimal("1e9"), allow_nan=False, places=None
    ).filter(lambda d: d.is_finite()),
    st.builds(
        lambda whole, digits: Decimal(f"{whole}.{digits}"),
        st.integers(0, 10**6),
        st.text("0123456789", min_size=14, max_size=40),
    ),
    # Huge and tiny exponents: beyond the integer kernels' scale or their exact sums.
    st.builds(
        lambda digits, exponent: Decimal(digits).scaleb(exponent),
        st.integers(-(10**6), 10**6),
        st.integers(-40, 40),
    ),
)


@st.composite
def summaries(draw: st.DrawFn, *, max_size: int = 40) -> list[ActivitySummary]:
    """A population: unique ids (shuffled), some prospects, ties likely."""
    size = draw(st.integers(1, max_size))
    pool_days = draw(st.lists(st.integers(0, 800), min_size=1, max_size=4))
    pool_amounts = draw(st.lists(AMOUNTS, min_size=1, max_size=5))
    ids = draw(st.permutations([f"c{i:03d}" for i in range(size)]))
    population = []
    for customer_id in ids:
        if draw(st.integers(0, 9)) == 0:
            population.append(ActivitySummary.empty(customer_id))
            continue
        days = draw(st.one_of(st.sampled_from(pool_days), st.integers(0, 800)))
        seconds = draw(st.integers(0, 86_399))
        count = draw(st.one_of(st.sampled_from([1, 2, 3]), st.integers(1, 50)))
        amount = draw(st.one_of(st.sampled_from(pool_amounts), AMOUNTS))
        last = AS_OF - timedelta(days=days, seconds=seconds)
        population.append(
            ActivitySummary(
                customer_id=customer_id,
                first_purchase_at=last - timedelta(days=draw(st.integers(0, 30))),
                last_purchase_at=last,
                purchase_count=count,
                total_spent=amount,
            )
        )
    return population


def outsiders(population: Sequence[ActivitySummary]) -> list[ActivitySummary]:
    """Summaries graded without being fitted: a new customer and changed members."""
    last = AS_OF - timedelta(days=3)
    new = [
        ActivitySummary(
            customer_id="zz-new",
            first_purchase_at=last,
            last_purchase_at=last,
            purchase_count=4,
            total_spent=Decimal("123.45"),
        ),
        ActivitySummary.empty("aa-prospect"),
    ]
    changed = [
        ActivitySummary(
            customer_id=s.customer_id,
            first_purchase_at=last,
            last_purchase_at=last,
            purchase_count=s.purchase_count + 1,
            total_spent=s.total_spent + Decimal("0.5"),
        )
        for s in population[:3]
    ]
    return new + changed


def exact_texts(values: Sequence[Any]) -> list[str]:
    """Values with their exact representation (``Decimal('10.0')`` is not ``Decimal('10')``)."""
    return [repr(v) for v in values]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with forced(request.param):
        yield request.param


def check_grades(
    fitted: Any, reference: Any, population: Sequence[ActivitySummary], as_of: datetime
) -> None:
    """Every grade, one by one and in a batch, equals the reference's grade."""
    graded = [*population, *outsiders(population)]
    expected = [reference.grade(s, as_of=as_of) for s in graded]
    assert [fitted.grade(s, as_of=as_of) for s in graded] == expected
    batch = fitted.grade_many(graded, as_of=as_of)
    assert isinstance(batch, Grades)
    assert len(batch) == len(expected)
    assert list(batch.labels) == [g.label for g in expected]
    assert list(batch.scores) == [g.score for g in expected]
    assert all(
        type(score) is type(g.score) for score, g in zip(batch.scores, expected, strict=True)
    )
    assert list(batch) == expected
    assert batch[-1] == expected[-1]
    assert batch[1:3] == expected[1:3]
    assert batch.customer_ids == tuple(s.customer_id for s in graded)
    # The fitted population itself, in its input order (the usual fit-then-grade call).
    own = fitted.grade_many(population, as_of=as_of)
    assert list(own.labels) == [g.label for g in expected[: len(population)]]
    assert list(own.scores) == [g.score for g in expected[: len(population)]]
    assert list(own) == expected[: len(population)]


def check_rfm(population: list[ActivitySummary], bins: int) -> None:
    if all(s.last_purchase_at is None for s in population):
        with pytest.raises(ValueError, match="no customer in the population has purchases"):
            RFMPolicy(bins=bins).fit(population, as_of=AS_OF)
        return
    fitted = RFMPolicy(bins=bins).fit(population, as_of=AS_OF)
    reference = oracle_rfm.RFMPolicy(bins=bins).fit(population, as_of=AS_OF)
    assert isinstance(fitted, FittedRFMPolicy)
    assert fitted.recency_cuts == reference.recency_cuts
    assert fitted.frequency_cuts == reference.frequency_cuts
    assert exact_texts(fitted.monetary_cuts) == exact_texts(reference.monetary_cuts)
    assert (fitted.population_size, fitted.currency) == (
        reference.population_size,
        reference.currency,
    )
    for at in (AS_OF, LATER):
        check_grades(fitted, reference, population, at)


def check_pareto(population: list[ActivitySummary], basis: Any, points: tuple[float, ...]) -> None:
    labels = tuple(f"L{i}" for i in range(len(points) + 1))
    fitted = ParetoPolicy(basis=basis, breakpoints=points, labels=labels).fit(
        population, as_of=AS_OF
    )
    reference = oracle_pareto.ParetoPolicy(basis=basis, breakpoints=points, labels=labels).fit(
        population, as_of=AS_OF
    )
    assert isinstance(fitted, FittedParetoPolicy)
    assert repr(fitted.total_value) == repr(reference.total_value)
    totals, ids = fitted._in_rank_order()
    assert exact_texts([-t for t in totals]) == exact_texts(reference._negated_totals)
    assert ids == reference._ids
    if basis == "value":  # the reference kept no prefix for the customers basis
        assert exact_texts(fitted._decimal_prefix()) == exact_texts(reference._prefix)
    assert fitted._boundaries == reference._boundaries
    assert fitted.class_sizes == reference.class_sizes
    for at in (AS_OF, LATER):
        check_grades(fitted, reference, population, at)


def check_stars(population: list[ActivitySummary], weights: tuple[float, float, float]) -> None:
    potential = {s.customer_id: 0.5 for s in population[::2]} if weights[2] else None
    kwargs: dict[str, Any] = {
        "amount_weight": weights[0],
        "frequency_weight": weights[1],
        "potential_weight": weights[2],
        "potential": potential,
    }
    fitted = StarPolicy(**kwargs).fit(population, as_of=AS_OF)
    reference = oracle_stars.StarPolicy(**kwargs).fit(population, as_of=AS_OF)
    assert isinstance(fitted, FittedStarPolicy)
    if fitted._scale is None:
        assert exact_texts(fitted._totals) == exact_texts(reference._totals)
    else:  # kept as integers: amount * 10**scale
        assert [scaled_amount(k, -fitted._scale) for k in fitted._totals] == list(reference._totals)
    assert fitted._counts == reference._counts
    for at in (AS_OF, LATER):
        check_grades(fitted, reference, population, at)


WEIGHTS = st.sampled_from([(0.6, 0.4, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.3, 0.3, 0.4)])
BREAKPOINTS = st.sampled_from([(0.8, 0.95), (0.5,), (0.2, 0.4, 0.6, 0.8), (1.0,), (0.1, 1.0)])


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=60, deadline=None)
@given(population=summaries(), bins=st.integers(2, 7))
def test_rfm_matches_the_reference(
    engine: Engine, population: list[ActivitySummary], bins: int
) -> None:
    with forced(engine):
        check_rfm(population, bins)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=60, deadline=None)
@given(
    population=summaries(),
    basis=st.sampled_from(["value", "customers"]),
    points=BREAKPOINTS,
)
def test_pareto_matches_the_reference(
    engine: Engine, population: list[ActivitySummary], basis: str, points: tuple[float, ...]
) -> None:
    with forced(engine):
        check_pareto(population, basis, points)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=60, deadline=None)
@given(population=summaries(), weights=WEIGHTS)
def test_stars_match_the_reference(
    engine: Engine, population: list[ActivitySummary], weights: tuple[float, float, float]
) -> None:
    with forced(engine):
        check_stars(population, weights)


def large_population(
    size: int, seed: int, amount: Callable[[random.Random], Decimal]
) -> list[ActivitySummary]:
    rng = random.Random(seed)
    result = []
    for i in range(size):
        if rng.random() < 0.05:
            result.append(ActivitySummary.empty(f"p{i:06d}"))
            continue
        last = AS_OF - timedelta(days=rng.randrange(400), seconds=rng.randrange(86_400))
        result.append(
            ActivitySummary(
                customer_id=f"c{rng.randrange(10**9):09d}-{i}",
                first_purchase_at=last,
                last_purchase_at=last,
                purchase_count=1 + int(rng.expovariate(0.3)),
                total_spent=amount(rng),
            )
        )
    return result


LARGE = [
    ("cents", lambda rng: Decimal(int(rng.paretovariate(1.2) * 5_000) - 500).scaleb(-2)),
    ("few values", lambda rng: Decimal(rng.choice(["0", "10", "10.0", "10.00", "25.5", "-3"]))),
    ("many digits", lambda rng: Decimal(f"{rng.randrange(100)}.{rng.randrange(10**35):035d}")),
    # Distinct amounts that round to the same float (1.0 or 2.0): floats alone cannot order them.
    ("float ties", lambda rng: rng.choice([1, 2]) + Decimal(rng.randrange(-50, 50)).scaleb(-25)),
    ("mills", lambda rng: Decimal(rng.randrange(-2_000, 10**7)).scaleb(-3)),
    ("refunds", lambda rng: Decimal(rng.randrange(-(10**6), 10**5)).scaleb(-2)),
    ("huge", lambda rng: Decimal(rng.randrange(1, 10**6)).scaleb(rng.randrange(20, 40))),
    ("tiny", lambda rng: Decimal(rng.randrange(1, 10**6)).scaleb(-rng.randrange(20, 40))),
]


@pytest.mark.parametrize(("name", "amount"), LARGE, ids=[name for name, _ in LARGE])
def test_large_populations_match_the_reference(
    engine: Engine, name: str, amount: Callable[[random.Random], Decimal]
) -> None:
    population = large_population(2_500, 16, amount)
    check_rfm(population, 5)
    check_rfm(population, 4)
    check_pareto(population, "value", (0.8, 0.95))
    check_pareto(population, "customers", (0.8, 0.95))
    check_stars(population, (0.6, 0.4, 0.0))


def late(customer_id: str) -> ActivitySummary:
    at = AS_OF + timedelta(seconds=1)
    return ActivitySummary(
        customer_id=customer_id,
        first_purchase_at=at,
        last_purchase_at=at,
        purchase_count=1,
        total_spent=Decimal(1),
    )


def usd(customer_id: str) -> ActivitySummary:
    return ActivitySummary(
        customer_id=customer_id,
        first_purchase_at=AS_OF,
        last_purchase_at=AS_OF,
        purchase_count=1,
        total_spent=Decimal(2),
        currency="USD",
    )


BAD_POPULATIONS = {
    "duplicate": lambda base: [*base, base[0]],
    "late": lambda base: [*base, late("zz-late")],
    "mixed": lambda base: [*base, usd("zz-usd")],
    "late before mixed": lambda base: [*base, late("zz-late"), usd("zz-usd")],
    "mixed before duplicate": lambda base: [*base, usd("zz-usd"), base[1]],
}
POLICIES = {
    "rfm": (RFMPolicy(), oracle_rfm.RFMPolicy()),
    "pareto": (ParetoPolicy(basis="value"), oracle_pareto.ParetoPolicy(basis="value")),
    "stars": (StarPolicy(), oracle_stars.StarPolicy()),
}


def raised(call: Callable[[], object]) -> tuple[type[BaseException], str]:
    with pytest.raises(ValueError, match=r".") as info:  # MixedCurrencies is a ValueError
        call()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("bad", BAD_POPULATIONS)
def test_errors_match_the_reference(engine: Engine, policy: str, bad: str) -> None:
    base = large_population(50, 3, LARGE[0][1])
    population = BAD_POPULATIONS[bad](base)
    fast, reference = POLICIES[policy]
    assert raised(lambda: fast.fit(population, as_of=AS_OF)) == raised(
        lambda: reference.fit(population, as_of=AS_OF)
    )
    # Grading raises what grade() raises for the first offending summary.
    fitted = fast.fit(base, as_of=AS_OF)
    graded = [s for s in population if s is not base[0] or bad != "duplicate"]
    if bad == "duplicate":
        assert len(fitted.grade_many(population, as_of=AS_OF)) == len(population)
        return
    first_error = None
    for summary in graded:
        try:
            fitted.grade(summary, as_of=AS_OF)
        except ValueError as exc:
            first_error = (type(exc), str(exc))
            break
    assert raised(lambda: fitted.grade_many(graded, as_of=AS_OF)) == first_error


def test_naive_as_of_is_refused_by_grade_many(engine: Engine) -> None:
    base = large_population(10, 4, LARGE[0][1])
    fitted = RFMPolicy().fit(base, as_of=AS_OF)
    with pytest.raises(ValueError, match="timezone-aware"):
        fitted.grade_many(base, as_of=datetime(2024, 7, 1))


def test_only_the_numpy_kernels_import_numpy_at_module_level() -> None:
    """The core imports without the numeric extra: numpy is imported inside functions only."""
    package = Path(custrec.grading.__file__).parent
    for path in sorted(package.glob("*.py")):
        if path.name == "_numeric.py":
            continue
        for node in ast.parse(path.read_text("utf-8")).body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(alias.name for alias in node.names)]
            assert not any(n.split(".")[0] == "numpy" or n == "_numeric" for n in names), path


def test_the_core_works_without_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "_available", False)
    assert not numpy_available()
    assert not engine_module.use_numpy(10**6)
    with pytest.raises(RuntimeError, match="numeric extra"), forced("numpy"):
        pass
    population = large_population(3_000, 5, LARGE[0][1])
    for policy, reference in POLICIES.values():
        grades = policy.fit(population, as_of=AS_OF).grade_many(population, as_of=AS_OF)
        expected = reference.fit(population, as_of=AS_OF)
        assert list(grades.labels) == [expected.grade(s, as_of=AS_OF).label for s in population]


@pytest.mark.skipif(not numpy_available(), reason="needs the numeric extra")
def test_forcing_an_engine() -> None:
    with forced("python"), pytest.raises(ValueError, match="unknown engine"), forced("x"):  # type: ignore[arg-type]
        pass


AMOUNT_LISTS = st.lists(
    st.one_of(
        AMOUNTS,
        st.integers(-30, 30).map(lambda k: 1 + Decimal(k).scaleb(-24)),
        st.sampled_from(["1", "1.0", "1.00", "-0", "0", "1E+400", "-1E+400"]).map(Decimal),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(values=AMOUNT_LISTS, queries=AMOUNT_LISTS)
def test_pure_python_amount_kernels_are_exact(
    values: list[Decimal], queries: list[Decimal]
) -> None:
    from bisect import bisect_right

    from custrec.grading import _order

    ordered = _order.sorted_amounts(values)
    assert exact_texts(ordered) == exact_texts(sorted(values))
    order = list(range(len(values)))
    random.Random(len(values)).shuffle(order)
    assert _order.sorted_by_amount(values, order) == sorted(order, key=values.__getitem__)
    asked = [*queries, *values]
    assert _order.counts_at_most(ordered, asked) == [bisect_right(ordered, v) for v in asked]


@pytest.mark.skipif(not numpy_available(), reason="needs the numeric extra")
@settings(max_examples=200, deadline=None)
@given(
    values=AMOUNT_LISTS,
    queries=st.lists(
        st.one_of(AMOUNTS, st.integers(-30, 30).map(lambda k: 1 + Decimal(k).scaleb(-24))),
        max_size=20,
    ),
)
def test_numpy_kernels_order_amounts_exactly(values: list[Decimal], queries: list[Decimal]) -> None:
    from bisect import bisect_right

    from custrec.grading import _numeric

    ordered = _numeric.sorted_decimals(values)
    assert exact_texts(ordered) == exact_texts(sorted(values))
    order = list(range(len(values)))
    random.Random(len(values)).shuffle(order)
    assert _numeric.stable_order(values, order) == sorted(order, key=values.__getitem__)
    ranks = [j for j in (0, len(values) // 3, len(values) - 1) if values]
    assert exact_texts(_numeric.order_statistics(values, ranks)) == exact_texts(
        [sorted(values)[j] for j in ranks]
    )
    asked = [*queries, *values]
    counted = _numeric.count_le(ordered, _numeric.floats(ordered), asked, _numeric.floats(asked))
    assert counted.tolist() == [bisect_right(ordered, v) for v in asked]
