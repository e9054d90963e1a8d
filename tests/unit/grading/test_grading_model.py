"""Specification of custrec.grading.model: Grade, the protocols and grade_all()."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime
from decimal import Decimal

import pytest

import custrec.grading as grading
from custrec.grading import (
    ActivitySummary,
    ChurnPolicy,
    FittablePolicy,
    FittedParetoPolicy,
    FittedPolicy,
    FittedRFMPolicy,
    FittedStarPolicy,
    Grade,
    GradingPolicy,
    ParetoPolicy,
    RFMPolicy,
    StarPolicy,
    ThresholdPolicy,
    grade_all,
)

AS_OF = datetime(2024, 7, 1, tzinfo=UTC)


def make_grade(**changes: object) -> Grade:
    fields: dict[str, object] = {
        "label": "A",
        "score": 0.5,
        "components": {"R": 5, "F": 4, "M": 3},
        "reasons": ["because"],
        "policy_id": "test:v1",
        "as_of": AS_OF,
    }
    return Grade(**(fields | changes))  # type: ignore[arg-type]


def test_components_compare_equal_to_a_plain_dict_and_are_read_only() -> None:
    g = make_grade()
    assert g.components == {"R": 5, "F": 4, "M": 3}
    assert {"R": 5, "F": 4, "M": 3} == g.components  # noqa: SIM300 - dict on the left on purpose
    assert g.components != {"R": 5}
    with pytest.raises(TypeError):
        g.components["R"] = 1  # type: ignore[index]


def test_components_are_copied_so_later_changes_do_not_leak_in() -> None:
    source: dict[str, int | float | str] = {"R": 5}
    g = make_grade(components=source)
    source["R"] = 1
    assert g.components == {"R": 5}


def test_grades_are_hashable_picklable_and_copyable() -> None:
    g = make_grade()
    assert hash(g) == hash(make_grade())
    assert pickle.loads(pickle.dumps(g)) == g
    assert copy.deepcopy(g) == g


def test_reasons_become_a_tuple() -> None:
    assert make_grade(reasons=["x", "y"]).reasons == ("x", "y")
    assert make_grade(reasons="single").reasons == ("single",)


def test_grade_rejects_a_naive_as_of() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_grade(as_of=datetime(2024, 7, 1))


def test_explain_lists_label_policy_and_reasons() -> None:
    text = make_grade(reasons=["first", "second"]).explain()
    assert text.splitlines() == [
        "A (test:v1, as of 2024-07-01T00:00:00+00:00)",
        "- first",
        "- second",
    ]


def test_builtin_policies_satisfy_the_protocols() -> None:
    # Static checks: mypy verifies these assignments when it checks the tests.
    summaries = [
        ActivitySummary(
            customer_id="c-1",
            first_purchase_at=AS_OF,
            last_purchase_at=AS_OF,
            purchase_count=1,
            total_spent=Decimal(1),
        )
    ]
    plain: list[GradingPolicy] = [
        ThresholdPolicy("purchase_count", (5, 1), ("often", "sometimes", "never")),
        ChurnPolicy(),
    ]
    fittable_rfm: FittablePolicy[FittedRFMPolicy] = RFMPolicy()
    fittable_pareto: FittablePolicy[FittedParetoPolicy] = ParetoPolicy(basis="value")
    fittable_stars: FittablePolicy[FittedStarPolicy] = StarPolicy()
    fitted: list[FittedPolicy] = [
        fittable_rfm.fit(summaries, as_of=AS_OF),
        fittable_pareto.fit(summaries, as_of=AS_OF),
        fittable_stars.fit(summaries, as_of=AS_OF),
    ]
    for policy in [*plain, *fitted]:
        grade = policy.grade(summaries[0], as_of=AS_OF)
        assert grade.policy_id == policy.policy_id
        assert grade.as_of == AS_OF
        assert grade.reasons
    for f in fitted:
        assert f.population_size == 1
        assert f.fitted_as_of == AS_OF


def test_grade_all_keys_grades_by_customer_and_rejects_repeats() -> None:
    policy = ThresholdPolicy("purchase_count", (1,), ("buyer", "prospect"))
    summaries = [ActivitySummary.empty("c-2"), ActivitySummary.empty("c-1")]
    grades = grade_all(policy, summaries, as_of=AS_OF)
    assert list(grades) == ["c-2", "c-1"]
    assert {g.label for g in grades.values()} == {"prospect"}
    with pytest.raises(ValueError, match="twice"):
        grade_all(policy, [*summaries, ActivitySummary.empty("c-1")], as_of=AS_OF)


def test_every_public_name_is_exported() -> None:
    for name in grading.__all__:
        assert hasattr(grading, name), name
    assert {"GradingPolicy", "Grade", "ActivitySummary", "ThresholdPolicy", "ParetoPolicy"} <= set(
        grading.__all__
    )
    assert {"RFMPolicy", "StarPolicy"} <= set(grading.__all__)


@pytest.mark.parametrize(
    "policy",
    [
        ThresholdPolicy("total_spent", (10,), ("big", "small")),
        ThresholdPolicy("recency_days", (30,), ("recent", "not recent")),
        ChurnPolicy(k=3),
    ],
)
def test_naive_as_of_is_rejected_by_plain_policies(policy: GradingPolicy) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        policy.grade(ActivitySummary.empty("c-1"), as_of=datetime(2024, 7, 1))
