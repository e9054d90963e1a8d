"""Specification of custrec.grading.pareto: ABC analysis on small hand-computed populations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.grading import (
    ActivitySummary,
    FittedParetoPolicy,
    MixedCurrencies,
    ParetoPolicy,
)
from custrec.grading._engine import Engine, forced, numpy_available

AS_OF = datetime(2024, 7, 1, tzinfo=UTC)


def buyer(customer_id: str, total: str | int, *, currency: str = "CNY") -> ActivitySummary:
    last = AS_OF - timedelta(days=1)
    return ActivitySummary(
        customer_id=customer_id,
        first_purchase_at=last,
        last_purchase_at=last,
        purchase_count=1,
        total_spent=Decimal(total),
        currency=currency,
    )


# Sorted by total desc, ties by id: a 500, b 300, c 100, d 100, e 0 (prospect), f 0 (a purchase
# refunded in full). Total value: 500 + 300 + 100 + 100 + 0 + 0 = 1000.
POPULATION = [
    buyer("d", 100),
    buyer("f", 0),
    buyer("b", 300),
    ActivitySummary.empty("e"),
    buyer("a", 500),
    buyer("c", 100),
]


def labels(fitted: FittedParetoPolicy, population: list[ActivitySummary]) -> dict[str, str]:
    return {s.customer_id: fitted.grade(s, as_of=AS_OF).label for s in population}


def test_value_basis_hand_computed() -> None:
    fitted = ParetoPolicy(basis="value").fit(POPULATION, as_of=AS_OF)
    grades = {s.customer_id: fitted.grade(s, as_of=AS_OF) for s in POPULATION}
    # value before each customer / 1000:
    # a: 0 -> 0.0 (A); b: 500 -> 0.5 (A); c: 500+300 -> 0.8 (not < 0.80: B);
    # d: 900 -> 0.9 (B); e: 1000 -> 1.0 (C); f: 1000 -> 1.0 (C)
    assert {cid: g.label for cid, g in grades.items()} == {
        "a": "A",
        "b": "A",
        "c": "B",
        "d": "B",
        "e": "C",
        "f": "C",
    }
    assert {cid: g.score for cid, g in grades.items()} == {
        "a": 0.0,
        "b": 0.5,
        "c": 0.8,
        "d": 0.9,
        "e": 1.0,
        "f": 1.0,
    }
    assert grades["c"].components == {"rank": 3, "share_before": 0.8, "value_share": 0.1}
    assert grades["f"].components == {"rank": 6, "share_before": 1.0, "value_share": 0.0}
    assert fitted.population_size == 6
    assert fitted.total_value == Decimal(1000)
    assert fitted.class_sizes == {"A": 2, "B": 2, "C": 2}


def test_value_basis_reasons_cite_breakpoints_and_population() -> None:
    fitted = ParetoPolicy(basis="value").fit(POPULATION, as_of=AS_OF)
    reasons = fitted.grade(buyer("c", 100), as_of=AS_OF).reasons
    assert reasons == (
        "rank 3: 2 of the 6 fitted customers sort before it "
        "(total_spent 100; descending, ties by customer id)",
        "share of value before it: 800 / 1000",
        "share before 0.8 >= 0.8 (breakpoint for A)",
        "share before 0.8 < 0.95 (breakpoint for B)",
        "fitted as of 2024-07-01T00:00:00+00:00 on 6 customers (total value 1000 CNY): "
        "A = ranks 1-2 (total_spent >= 300); B = ranks 3-4 (total_spent >= 100); C = ranks 5-6",
    )


def test_customers_basis_hand_computed() -> None:
    # 20 customers with distinct totals 20, 19, ..., 1: share before = rank index / 20.
    population = [buyer(f"c{v:02d}", v) for v in range(1, 21)]
    fitted = ParetoPolicy(basis="customers").fit(population, as_of=AS_OF)
    by_rank = sorted(
        (fitted.grade(s, as_of=AS_OF) for s in population),
        key=lambda g: g.components["rank"],
    )
    # index 0..15: share 0..0.75 < 0.80 -> A; 16, 17, 18: 0.80, 0.85, 0.90 -> B; 19: 0.95 -> C
    assert [g.label for g in by_rank] == ["A"] * 16 + ["B"] * 3 + ["C"]
    assert [g.score for g in by_rank][15:] == [0.75, 0.8, 0.85, 0.9, 0.95]
    assert fitted.class_sizes == {"A": 16, "B": 3, "C": 1}
    assert "share of customers before it: 19 / 20" in by_rank[-1].reasons


def test_the_basis_changes_the_answer() -> None:
    # one whale and nine minnows: by value only the whale is A; by customers 8 of 10 are A.
    population = [buyer("whale", 9100), *(buyer(f"m{i}", 100) for i in range(9))]
    by_value = ParetoPolicy(basis="value").fit(population, as_of=AS_OF)
    by_customers = ParetoPolicy(basis="customers").fit(population, as_of=AS_OF)
    # value: whale 0 -> A; m0: 9100/10000 = 0.91 -> B; m1: 0.92, m2: 0.93, m3: 0.94 -> B;
    # m4: 0.95 -> C ... m8: 0.99 -> C
    assert by_value.class_sizes == {"A": 1, "B": 4, "C": 5}
    # customers: indexes 0..7 < 0.8*10 -> A; 8, 9 -> 0.8, 0.9 -> B
    assert by_customers.class_sizes == {"A": 8, "B": 2, "C": 0}


def test_ties_are_broken_by_customer_id() -> None:
    population = [buyer("b", 100), buyer("a", 100), buyer("c", 100), buyer("d", 100)]
    fitted = ParetoPolicy(basis="value").fit(population, as_of=AS_OF)
    ranks = {s.customer_id: fitted.grade(s, as_of=AS_OF).components["rank"] for s in population}
    assert ranks == {"a": 1, "b": 2, "c": 3, "d": 4}
    # shares before: 0, 0.25, 0.5, 0.75 -> all A (equal totals do not mean equal classes here)
    assert set(labels(fitted, population).values()) == {"A"}


def test_a_single_customer_is_a() -> None:
    fitted = ParetoPolicy(basis="value").fit([buyer("solo", 10)], as_of=AS_OF)
    grade = fitted.grade(buyer("solo", 10), as_of=AS_OF)
    assert (grade.label, grade.score) == ("A", 0.0)
    fitted = ParetoPolicy(basis="customers").fit([buyer("solo", 10)], as_of=AS_OF)
    assert fitted.grade(buyer("solo", 10), as_of=AS_OF).label == "A"


def test_all_zero_population_is_all_c_by_value_and_ranked_by_id_by_customers() -> None:
    population = [ActivitySummary.empty(cid) for cid in ("z", "y", "x")]
    by_value = ParetoPolicy(basis="value").fit(population, as_of=AS_OF)
    grades = [by_value.grade(s, as_of=AS_OF) for s in population]
    assert {g.label for g in grades} == {"C"}
    assert {g.score for g in grades} == {1.0}
    assert any("no positive value" in reason for reason in grades[0].reasons)
    assert by_value.class_sizes == {"A": 0, "B": 0, "C": 3}
    # customers basis: x, y, z -> shares 0, 1/3, 2/3 -> all A
    by_customers = ParetoPolicy(basis="customers").fit(population, as_of=AS_OF)
    assert labels(by_customers, population) == {"x": "A", "y": "A", "z": "A"}


def test_a_single_zero_value_customer_is_c_by_value() -> None:
    fitted = ParetoPolicy(basis="value").fit([ActivitySummary.empty("p")], as_of=AS_OF)
    assert fitted.grade(ActivitySummary.empty("p"), as_of=AS_OF).label == "C"


def test_negative_totals_lower_the_total_value() -> None:
    # a 600, b 300, c 200, d -100: total value 600 + 300 + 200 - 100 = 1000
    # shares before: a 0 -> A; b 600/1000 = 0.6 -> A; c 900/1000 = 0.9 -> B;
    # d 1100/1000 = 1.1 -> C
    population = [buyer("a", 600), buyer("b", 300), buyer("c", 200), buyer("d", -100)]
    fitted = ParetoPolicy(basis="value").fit(population, as_of=AS_OF)
    assert fitted.total_value == Decimal(1000)
    assert labels(fitted, population) == {"a": "A", "b": "A", "c": "B", "d": "C"}
    assert [fitted.grade(s, as_of=AS_OF).score for s in population] == [0.0, 0.6, 0.9, 1.1]


def test_a_population_without_positive_total_value_is_all_in_the_last_class() -> None:
    # a 100, b -500, c -900: total value -1300 is not positive -> every share is taken as 1
    population = [buyer("a", 100), buyer("b", -500), buyer("c", -900)]
    fitted = ParetoPolicy(basis="value").fit(population, as_of=AS_OF)
    assert fitted.total_value == Decimal(-1300)
    assert labels(fitted, population) == {"a": "C", "b": "C", "c": "C"}
    ranks = [fitted.grade(s, as_of=AS_OF).components["rank"] for s in population]
    assert ranks == [1, 2, 3]


def test_customers_outside_the_population_are_placed_by_total_then_id() -> None:
    fitted = ParetoPolicy(basis="value").fit(POPULATION, as_of=AS_OF)
    # 2000 sorts before everyone: nothing before it -> A, rank 1
    whale = fitted.grade(buyer("new", 2000), as_of=AS_OF)
    assert (whale.label, whale.score, whale.components["rank"]) == ("A", 0.0, 1)
    # total 300, id "aa" < "b": only a (500) before it -> 0.5 -> A
    assert fitted.grade(buyer("aa", 300), as_of=AS_OF).score == 0.5
    # total 300, id "bb" > "b": a and b before it -> 0.8 -> B
    late = fitted.grade(buyer("bb", 300), as_of=AS_OF)
    assert (late.label, late.score, late.components["rank"]) == ("B", 0.8, 3)
    # value share is measured against the fitted total value, unchanged by the newcomer
    assert late.components["value_share"] == 0.3
    # nothing bought -> C
    assert fitted.grade(ActivitySummary.empty("p"), as_of=AS_OF).label == "C"
    # customers basis: "zz" with 1 sorts after c, d (100) and before e (0): 4 before it of 6
    by_customers = ParetoPolicy(basis="customers").fit(POPULATION, as_of=AS_OF)
    placed = by_customers.grade(buyer("zz", 1), as_of=AS_OF)
    assert (placed.components["rank"], placed.label) == (5, "A")  # 4 / 6 = 0.667 < 0.8
    assert by_customers.grade(buyer("zzz", -1000), as_of=AS_OF).score == 1.0  # 6 / 6


def test_a_member_with_changed_figures_is_placed_by_its_new_figures() -> None:
    fitted = ParetoPolicy(basis="value").fit(POPULATION, as_of=AS_OF)
    # "a" now has 50: its fitted entry (500) and b, c, d sort before it -> 1000 / 1000
    assert fitted.grade(buyer("a", 50), as_of=AS_OF).score == 1.0


def test_custom_breakpoints_and_labels() -> None:
    policy = ParetoPolicy(basis="value", breakpoints=(0.5, 0.8, 0.95), labels=["A", "B", "C", "D"])
    assert policy.labels == ("A", "B", "C", "D")
    with pytest.raises(TypeError, match="not a string"):
        ParetoPolicy(basis="value", labels="ABC")
    assert policy.policy_id == "pareto:basis=value:breakpoints=0.5/0.8/0.95:labels=A/B/C/D"
    fitted = policy.fit(POPULATION, as_of=AS_OF)
    # shares before: a 0 -> A, b 0.5 -> B, c 0.8 -> C, d 0.9 -> C, e, f 1.0 -> D
    assert labels(fitted, POPULATION) == {
        "a": "A",
        "b": "B",
        "c": "C",
        "d": "C",
        "e": "D",
        "f": "D",
    }


def test_grading_at_another_as_of_is_allowed_and_explained() -> None:
    fitted = ParetoPolicy(basis="value").fit(POPULATION, as_of=AS_OF)
    later = AS_OF + timedelta(days=30)
    grade = fitted.grade(buyer("a", 500), as_of=later)
    assert grade.as_of == later
    assert grade.label == "A"
    assert grade.reasons[-1] == (
        "graded as of 2024-07-31T00:00:00+00:00 against the population fitted as of "
        "2024-07-01T00:00:00+00:00"
    )


# ----------------------------------------------------------------------------- validation


def test_basis_is_required() -> None:
    with pytest.raises(TypeError):
        ParetoPolicy()  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"basis": "revenue"}, "basis must be"),
        ({"basis": "value", "breakpoints": ()}, "must not be empty"),
        ({"basis": "value", "breakpoints": (0.95, 0.8)}, "strictly increasing"),
        ({"basis": "value", "breakpoints": (0.8, 0.8)}, "strictly increasing"),
        ({"basis": "value", "breakpoints": (0, 0.8)}, r"\(0, 1\]"),
        ({"basis": "value", "breakpoints": (0.8, 1.2)}, r"\(0, 1\]"),
        ({"basis": "value", "labels": ("A", "B")}, "3 labels"),
        ({"basis": "value", "labels": ("A", "A", "B")}, "distinct"),
    ],
)
def test_arguments_are_validated_eagerly(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ParetoPolicy(**kwargs)  # type: ignore[arg-type]


def test_fit_rejects_bad_populations() -> None:
    policy = ParetoPolicy(basis="value")
    with pytest.raises(ValueError, match="empty"):
        policy.fit([], as_of=AS_OF)
    with pytest.raises(ValueError, match="twice"):
        policy.fit([buyer("a", 1), buyer("a", 2)], as_of=AS_OF)
    with pytest.raises(ValueError, match="timezone-aware"):
        policy.fit([buyer("a", 1)], as_of=datetime(2024, 7, 1))
    with pytest.raises(ValueError, match="after as_of"):
        policy.fit([buyer("a", 1)], as_of=AS_OF - timedelta(days=2))
    with pytest.raises(MixedCurrencies):
        policy.fit([buyer("a", 1), buyer("b", 1, currency="USD")], as_of=AS_OF)


def test_grade_rejects_another_currency_and_naive_as_of() -> None:
    fitted = ParetoPolicy(basis="value").fit(POPULATION, as_of=AS_OF)
    with pytest.raises(MixedCurrencies):
        fitted.grade(buyer("x", 1, currency="EUR"), as_of=AS_OF)
    with pytest.raises(ValueError, match="timezone-aware"):
        fitted.grade(buyer("x", 1), as_of=datetime(2024, 7, 1))


# ----------------------------------------------------------------------------- properties

totals = st.lists(
    st.tuples(st.integers(min_value=0, max_value=30), st.integers(min_value=-500, max_value=5000)),
    min_size=1,
    max_size=40,
    unique_by=lambda pair: pair[0],
)


def population_of(pairs: list[tuple[int, int]]) -> list[ActivitySummary]:
    return [
        buyer(f"c{key:02d}", total) if total else ActivitySummary.empty(f"c{key:02d}")
        for key, total in pairs
    ]


@given(totals, st.sampled_from(["value", "customers"]))
def test_labels_and_scores_are_monotone_along_the_sorted_order(
    pairs: list[tuple[int, int]], basis: str
) -> None:
    population = population_of(pairs)
    fitted = ParetoPolicy(basis=basis).fit(population, as_of=AS_OF)  # type: ignore[arg-type]
    ordered = sorted(population, key=lambda s: (-s.total_spent, s.customer_id))
    grades = [fitted.grade(s, as_of=AS_OF) for s in ordered]
    assert [g.components["rank"] for g in grades] == list(range(1, len(ordered) + 1))
    order = {"A": 0, "B": 1, "C": 2}
    classes = [order[g.label] for g in grades]
    assert classes == sorted(classes)
    # shares before only rise while totals are non-negative (negative totals sort last and
    # pull the running sum down again, but their shares stay >= 1)
    scores = [g.score for g, s in zip(grades, ordered, strict=True) if s.total_spent >= 0]
    assert scores == sorted(scores)  # type: ignore[type-var]


@given(totals)
def test_value_basis_matches_a_brute_force_definition(pairs: list[tuple[int, int]]) -> None:
    population = population_of(pairs)
    fitted = ParetoPolicy(basis="value").fit(population, as_of=AS_OF)
    ordered = sorted(population, key=lambda s: (-s.total_spent, s.customer_id))
    total = sum((s.total_spent for s in ordered), Decimal(0))
    before = Decimal(0)
    for s in ordered:
        share = before / total if total > 0 else Decimal(1)
        expected = "A" if share < Decimal("0.8") else "B" if share < Decimal("0.95") else "C"
        assert fitted.grade(s, as_of=AS_OF).label == expected
        before += s.total_spent


@given(totals, st.integers(min_value=-600, max_value=6000), st.integers(0, 31))
def test_newcomers_fall_between_their_neighbours(
    pairs: list[tuple[int, int]], total: int, key: int
) -> None:
    population = population_of(pairs)
    fitted = ParetoPolicy(basis="value").fit(population, as_of=AS_OF)
    newcomer = buyer(f"c{key:02d}x", total) if total else ActivitySummary.empty(f"c{key:02d}x")
    rank = fitted.grade(newcomer, as_of=AS_OF).components["rank"]
    before = [
        s
        for s in population
        if (-s.total_spent, s.customer_id) < (-newcomer.total_spent, newcomer.customer_id)
    ]
    assert rank == len(before) + 1


@pytest.mark.parametrize("engine", ["python", "numpy"] if numpy_available() else ["python"])
def test_grading_the_fitted_population_after_a_change_places_the_changed_customer(
    engine: Engine,
) -> None:
    fitted = ParetoPolicy(basis="value").fit(POPULATION, as_of=AS_OF)
    # Same ids in the same order, but d now spent 600: it sorts first, before a.
    changed = [buyer("d", 600) if s.customer_id == "d" else s for s in POPULATION]
    with forced(engine):
        as_fitted = fitted.grade_many(POPULATION, as_of=AS_OF)
        graded = fitted.grade_many(changed, as_of=AS_OF)
    assert list(as_fitted) == [fitted.grade(s, as_of=AS_OF) for s in POPULATION]
    assert list(graded) == [fitted.grade(s, as_of=AS_OF) for s in changed]
    d = graded[0]
    assert (d.label, d.score, d.components["rank"]) == ("A", 0.0, 1)
