"""Specification of custrec.grading.stars: weighted stars on a hand-computed population."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from custrec.grading import STAR_LABELS, ActivitySummary, MixedCurrencies, StarPolicy
from custrec.grading._engine import Engine, forced, numpy_available

AS_OF = datetime(2024, 7, 1, tzinfo=UTC)


def buyer(customer_id: str, count: int, total: int, *, currency: str = "CNY") -> ActivitySummary:
    last = AS_OF - timedelta(days=3)
    return ActivitySummary(
        customer_id=customer_id,
        first_purchase_at=last,
        last_purchase_at=last,
        purchase_count=count,
        total_spent=Decimal(total),
        currency=currency,
    )


# totals sorted [0, 50, 100, 800, 5000]; counts sorted [0, 1, 1, 2, 10]; n = 5
POPULATION = [
    buyer("a", 10, 5000),
    buyer("b", 2, 800),
    buyer("c", 1, 100),
    buyer("d", 1, 50),
    ActivitySummary.empty("e"),
]


def stars(policy: StarPolicy) -> dict[str, tuple[str, float | None]]:
    fitted = policy.fit(POPULATION, as_of=AS_OF)
    return {
        s.customer_id: (g.label, g.score)
        for s in POPULATION
        for g in [fitted.grade(s, as_of=AS_OF)]
    }


def test_default_weights_hand_computed() -> None:
    # amount = #{total <= own} / 5, frequency = #{count <= own} / 5; combined = 0.6 a + 0.4 q
    # a: 1, 1 -> 1.0; b: 4/5, 4/5 -> 0.8 (exactly on the 5-star cut); c: 3/5, 3/5 -> 0.6;
    # d: 2/5, 3/5 -> 0.24 + 0.24 = 0.48; e: nothing bought -> 0, 0 -> 0
    assert stars(StarPolicy()) == {
        "a": ("5 stars", 1.0),
        "b": ("5 stars", 0.8),
        "c": ("4 stars", 0.6),
        "d": ("3 stars", 0.48),
        "e": ("1 star", 0.0),
    }


def test_potential_from_a_mapping_hand_computed() -> None:
    policy = StarPolicy(
        amount_weight=0.5,
        frequency_weight=0.3,
        potential_weight=0.2,
        potential={"c": 1.0, "e": 0.5},
    )
    # a: 0.5 + 0.3 + 0.2 * 0 (not in the mapping) = 0.8; b: 0.4 + 0.24 + 0 = 0.64;
    # c: 0.3 + 0.18 + 0.2 = 0.68; d: 0.2 + 0.18 = 0.38; e: 0.2 * 0.5 = 0.1
    assert stars(policy) == {
        "a": ("5 stars", 0.8),
        "b": ("4 stars", 0.64),
        "c": ("4 stars", 0.68),
        "d": ("2 stars", 0.38),
        "e": ("1 star", 0.1),
    }


def test_weights_are_normalised_by_their_sum() -> None:
    def repeat_buyer(summary: ActivitySummary) -> float:
        return 1.0 if summary.purchase_count >= 2 else 0.0

    policy = StarPolicy(
        amount_weight=2, frequency_weight=1, potential_weight=1, potential=repeat_buyer
    )
    assert policy.policy_id == (
        "stars:weights=amount:2,frequency:1,potential:1:cuts=0.2/0.4/0.6/0.8:potential=repeat_buyer"
    )
    # weights 0.5, 0.25, 0.25. b: 0.5 * 0.8 + 0.25 * 0.8 + 0.25 * 1 = 0.85
    # d: 0.5 * 0.4 + 0.25 * 0.6 + 0 = 0.35
    result = stars(policy)
    assert result["b"] == ("5 stars", 0.85)
    assert result["d"] == ("2 stars", 0.35)


def test_reasons_explain_each_contribution() -> None:
    policy = StarPolicy(
        amount_weight=0.5, frequency_weight=0.3, potential_weight=0.2, potential={"c": 1.0}
    )
    grade = policy.fit(POPULATION, as_of=AS_OF).grade(POPULATION[2], as_of=AS_OF)
    assert grade.reasons == (
        "amount: total_spent 100 (3 of 5 fitted customers spent no more) -> 0.6 x weight 0.5 = 0.3",
        "frequency: 1 purchase (3 of 5 fitted customers bought no more often) -> 0.6 "
        "x weight 0.3 = 0.18",
        "potential: 1 from mapping x weight 0.2 = 0.2",
        "combined 0.68 >= 0.6 (cut for 4 stars)",
        "combined 0.68 < 0.8 (cut for 5 stars)",
        "fitted as of 2024-07-01T00:00:00+00:00 on 5 customers",
    )
    assert grade.components == {
        "stars": 4,
        "amount": 0.6,
        "frequency": 0.6,
        "potential": 1.0,
        "combined": 0.68,
    }
    missing = policy.fit(POPULATION, as_of=AS_OF).grade(POPULATION[0], as_of=AS_OF)
    assert "potential: no entry in mapping -> 0" in missing.reasons


def test_custom_cuts_and_labels() -> None:
    policy = StarPolicy(cuts=(0.1, 0.3, 0.5, 0.9), labels=("★", "★★", "★★★", "★★★★", "★★★★★"))
    # a 1.0 -> 5; b 0.8 -> 4; c 0.6 -> 4; d 0.48 -> 3; e 0 -> 1
    assert {k: v[0] for k, v in stars(policy).items()} == {
        "a": "★★★★★",
        "b": "★★★★",
        "c": "★★★★",
        "d": "★★★",
        "e": "★",
    }
    assert StarPolicy().labels == STAR_LABELS


def test_outsiders_are_ranked_against_the_frozen_population() -> None:
    fitted = StarPolicy().fit(POPULATION, as_of=AS_OF)
    # total 900: #{<= 900} = 4 -> 0.8; count 5: #{<= 5} = 4 -> 0.8 -> 0.8
    assert fitted.grade(buyer("new", 5, 900), as_of=AS_OF).score == 0.8
    # refunded in full: amount 0; one purchase: #{<= 1} = 3 -> 0.6 * 0.4 = 0.24
    assert fitted.grade(buyer("new", 1, -10), as_of=AS_OF).score == 0.24


def test_a_potential_callable_must_stay_within_zero_and_one() -> None:
    def wild(summary: ActivitySummary) -> float:
        return 1.5

    fitted = StarPolicy(potential_weight=1, potential=wild).fit(POPULATION, as_of=AS_OF)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fitted.grade(POPULATION[0], as_of=AS_OF)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount_weight": -1}, ">= 0"),
        ({"amount_weight": 0, "frequency_weight": 0}, "positive"),
        ({"potential_weight": 0.2}, "needs a potential"),
        ({"potential": {"c": 1.0}}, "potential_weight is 0"),
        ({"potential_weight": 1, "potential": {"c": 1.5}}, r"\[0, 1\]"),
        ({"potential_name": "x"}, "needs a potential"),
        ({"potential_weight": 1, "potential": lambda s: 0.5}, "potential_name"),
        ({"cuts": (0.2, 0.4, 0.6)}, "need 4 cuts"),
        ({"cuts": (0.2, 0.4, 0.4, 0.8)}, "strictly increasing"),
        ({"cuts": (0, 0.4, 0.6, 0.8)}, r"\(0, 1\]"),
        ({"labels": ("1", "2", "3", "4")}, "need 5 labels"),
        ({"labels": ("1", "2", "3", "4", "4")}, "distinct"),
        ({"amount_weight": float("inf")}, "finite"),
    ],
)
def test_arguments_are_validated_eagerly(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StarPolicy(**kwargs)  # type: ignore[arg-type]


def test_wrong_types_are_rejected() -> None:
    with pytest.raises(TypeError):
        StarPolicy(amount_weight="0.5")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StarPolicy(potential_weight=1, potential=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StarPolicy(potential_weight=1, potential={1: 0.5})  # type: ignore[dict-item]


def test_fit_and_grade_checks() -> None:
    policy = StarPolicy()
    with pytest.raises(ValueError, match="empty"):
        policy.fit([], as_of=AS_OF)
    with pytest.raises(MixedCurrencies):
        policy.fit([buyer("a", 1, 1), buyer("b", 1, 1, currency="USD")], as_of=AS_OF)
    fitted = policy.fit(POPULATION, as_of=AS_OF)
    with pytest.raises(ValueError, match="timezone-aware"):
        fitted.grade(POPULATION[0], as_of=datetime(2024, 7, 1))
    later = fitted.grade(POPULATION[0], as_of=AS_OF + timedelta(days=1))
    assert later.reasons[-1] == "graded as of 2024-07-02T00:00:00+00:00"


@pytest.mark.parametrize("engine", ["python", "numpy"] if numpy_available() else ["python"])
def test_grading_the_fitted_totals_with_other_counts_ranks_the_new_counts(engine: Engine) -> None:
    population = [buyer("a", 10, 5000), buyer("b", 2, 800), buyer("c", 1, 100), buyer("d", 1, 50)]
    fitted = StarPolicy().fit(population, as_of=AS_OF)
    # The same totals in the same order; c now bought 10 times: frequency 4/4 instead of 2/4.
    changed = [buyer("c", 10, 100) if s.customer_id == "c" else s for s in population]
    with forced(engine):
        graded = fitted.grade_many(changed, as_of=AS_OF)
    assert list(graded) == [fitted.grade(s, as_of=AS_OF) for s in changed]
    assert graded[2].components["frequency"] == 1.0  # 0.6 * 2/4 + 0.4 * 4/4 = 0.7
    assert (graded[2].label, graded[2].score) == ("4 stars", 0.7)
