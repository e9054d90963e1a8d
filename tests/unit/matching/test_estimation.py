"""Estimating m, u and the prior from the data: EM by hand, u from random pairs, estimate()."""

from __future__ import annotations

import json

import pytest

from custrec.matching import Weights, estimate, profile
from custrec.matching.estimation import Pattern, candidate_pairs, em, pattern, u_from_pairs
from custrec.testing.synthetic import labelled_customers
from custrec.validation import parse_customer

SAME: Pattern = (("birth_date", 0), ("gender", 0))
DIFFERENT: Pattern = (("birth_date", 1), ("gender", 1))
START_M = {"birth_date": (0.8, 0.2), "gender": (0.8, 0.2)}
START_U = {"birth_date": (0.2, 0.8), "gender": (0.2, 0.8)}


def test_one_em_iteration_by_hand() -> None:
    # E-step, λ = 1/2 (prior odds 1): a pair agreeing on both fields has odds (0.8/0.2)² = 16,
    # p = 16/17; a pair disagreeing on both has odds (0.2/0.8)² = 1/16, p = 1/17.
    # M-step: λ = (2·16/17 + 2·1/17) / 4 = 1/2; m(same) = 2·16/17 / (2·16/17 + 2·1/17) = 16/17.
    m, u, lam, runs = em({SAME: 2, DIFFERENT: 2}, START_M, START_U, 0.5, max_iterations=1)
    assert runs == 1
    assert lam == pytest.approx(0.5)
    assert m["birth_date"] == pytest.approx((16 / 17, 1 / 17))
    assert m["gender"] == pytest.approx((16 / 17, 1 / 17))
    assert u == START_U  # u fixed (from random pairs)


def test_two_em_iterations_by_hand() -> None:
    # Second E-step with m(same) = 16/17, m(different) = 1/17, λ = 1/2:
    # agreeing pair: odds ((16/17)/0.2)² = (80/17)² = 6400/289, p = 6400/6689;
    # disagreeing pair: odds ((1/17)/0.8)² = (5/68)² = 25/4624, p = 25/4649.
    p_same, p_diff = 6400 / 6689, 25 / 4649
    m, _, lam, runs = em(
        {SAME: 2, DIFFERENT: 2}, START_M, START_U, 0.5, max_iterations=2, tolerance=0
    )
    assert runs == 2
    assert lam == pytest.approx((2 * p_same + 2 * p_diff) / 4)
    assert m["birth_date"][0] == pytest.approx(p_same / (p_same + p_diff))


def test_em_may_re_estimate_u_too() -> None:
    # first iteration, 1 - p: 1/17 for the agreeing pairs, 16/17 for the others:
    # u(same) = 2·1/17 / (2·1/17 + 2·16/17) = 1/17
    _, u, _, _ = em({SAME: 2, DIFFERENT: 2}, START_M, START_U, 0.5, max_iterations=1, fix_u=False)
    assert u["birth_date"] == pytest.approx((1 / 17, 16 / 17))


def test_em_stops_when_nothing_moves() -> None:
    *_, runs = em({SAME: 2, DIFFERENT: 2}, START_M, START_U, 0.5, max_iterations=500)
    assert 2 < runs < 500


def test_u_counts_levels_with_half_a_pair_for_the_unseen() -> None:
    u = u_from_pairs([(("gender", 1),), (("gender", 1),), (("gender", 0),), ()])
    # gender: 1 same, 2 different -> (1 + 0.5) / (3 + 1), (2 + 0.5) / (3 + 1)
    assert u["gender"] == pytest.approx((1.5 / 4, 2.5 / 4))
    assert u["birth_date"] == pytest.approx((0.5, 0.5))


@pytest.fixture(scope="module")
def population() -> list[object]:
    out = []
    for n, labelled in enumerate(labelled_customers(1500, seed=3)):
        record = parse_customer({**labelled.data, "id": f"r{n:05d}"}).record
        assert record is not None
        out.append(profile(record))
    return out


def test_estimate_learns_weights_that_separate_matches(population: list[object]) -> None:
    weights = estimate(population, random_pairs=20_000)  # type: ignore[arg-type]
    assert weights.population == 1500
    assert 0 < weights.prior < 0.01
    assert weights.weight("name", 0) > 5 > weights.weight("name", 3)
    assert weights.weight("birth_date", 0) > 0 > weights.weight("birth_date", 1)
    again = Weights.from_dict(json.loads(json.dumps(weights.to_dict())))
    assert again == weights
    assert estimate(population, random_pairs=20_000) == weights  # type: ignore[arg-type]


def test_candidate_pairs_share_a_blocking_value(population: list[object]) -> None:
    pairs = candidate_pairs(population, cap=50)  # type: ignore[arg-type]
    assert pairs and all(i < j for i, j in pairs)
    for i, j in list(pairs)[:200]:
        a, b = population[i], population[j]
        assert pattern(a, b)  # type: ignore[arg-type]


def test_estimate_refuses_a_population_it_cannot_learn_from() -> None:
    with pytest.raises(ValueError, match="at least two profiles"):
        estimate([])
    with pytest.raises(ValueError, match="start_prior"):
        estimate([], start_prior=1.0)
