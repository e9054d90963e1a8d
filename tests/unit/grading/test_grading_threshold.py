"""Specification of custrec.grading.threshold: ThresholdPolicy and abcd_by_amount()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from custrec.grading import (
    ABCD_LABELS,
    ActivitySummary,
    MixedCurrencies,
    ThresholdPolicy,
    abcd_by_amount,
    metric_value,
)

AS_OF = datetime(2024, 7, 1, tzinfo=UTC)


def buyer(
    total: str = "100",
    *,
    count: int = 1,
    days: int = 0,
    currency: str = "CNY",
    customer_id: str = "c-1",
) -> ActivitySummary:
    last = AS_OF - timedelta(days=days)
    return ActivitySummary(
        customer_id=customer_id,
        first_purchase_at=last,
        last_purchase_at=last,
        purchase_count=count,
        total_spent=Decimal(total),
        currency=currency,
    )


# ------------------------------------------------------------------------------- A/B/C/D tiers


@pytest.mark.parametrize(
    ("total", "label"),
    [
        ("120000", "A"),
        ("100000", "A"),  # on the cut, inclusive by default
        ("99999.99", "B"),
        ("20000", "B"),
        ("19999.99", "C"),
        ("0.01", "C"),
        ("0.00", "D"),
        ("-50", "D"),  # refunded more than bought
    ],
)
def test_abcd_by_amount_tiers(total: str, label: str) -> None:
    policy = abcd_by_amount(a=100_000, b=20_000)
    assert policy.grade(buyer(total), as_of=AS_OF).label == label


def test_abcd_prospects_without_purchases_are_d() -> None:
    grade = abcd_by_amount(a=100_000, b=20_000).grade(ActivitySummary.empty("p-1"), as_of=AS_OF)
    assert grade.label == "D"
    assert grade.reasons == ("total_spent 0 < 0.01 (cut for C)",)


def test_abcd_reasons_cite_the_cuts() -> None:
    policy = abcd_by_amount(a=100_000, b=20_000)
    assert policy.grade(buyer("120000"), as_of=AS_OF).reasons == (
        "total_spent 120000 >= 100000 (cut for A)",
    )
    assert policy.grade(buyer("50000"), as_of=AS_OF).reasons == (
        "total_spent 50000 >= 20000 (cut for B)",
        "total_spent 50000 < 100000 (cut for A)",
    )


def test_abcd_configuration() -> None:
    policy = abcd_by_amount(a=Decimal(500), b=100, c=10, currency="USD", inclusive=False)
    assert policy.labels == ABCD_LABELS == ("A", "B", "C", "D")
    assert policy.policy_id == "threshold:total_spent>500/100/10:A/B/C/D:USD"
    assert policy.grade(buyer("500", currency="USD"), as_of=AS_OF).label == "B"
    with pytest.raises(ValueError, match="strictly descending"):
        abcd_by_amount(a=100, b=200)


def test_amount_tiers_reject_another_currency() -> None:
    policy = abcd_by_amount(a=100, b=10)
    with pytest.raises(MixedCurrencies):
        policy.grade(buyer("1000", currency="USD"), as_of=AS_OF)
    # a prospect has no amount, so its currency is irrelevant
    assert policy.grade(ActivitySummary.empty("p", currency="USD"), as_of=AS_OF).label == "D"


# ------------------------------------------------------------------------- boundary inclusion


@pytest.mark.parametrize(
    ("inclusive", "value", "label"),
    [
        (True, 10, "high"),
        (True, 9, "low"),
        (False, 10, "low"),
        (False, 11, "high"),
    ],
)
def test_boundary_inclusion_higher_is_better(inclusive: bool, value: int, label: str) -> None:
    policy = ThresholdPolicy("purchase_count", (10,), ("high", "low"), inclusive=inclusive)
    assert policy.grade(buyer(count=value), as_of=AS_OF).label == label


@pytest.mark.parametrize(
    ("inclusive", "days", "label"),
    [
        (True, 30, "active"),
        (True, 31, "cooling"),
        (False, 30, "cooling"),
        (False, 29, "active"),
        (True, 90, "cooling"),
        (True, 91, "dormant"),
        (False, 90, "dormant"),
    ],
)
def test_boundary_inclusion_for_recency(inclusive: bool, days: int, label: str) -> None:
    policy = ThresholdPolicy(
        "recency_days", (30, 90), ("active", "cooling", "dormant"), inclusive=inclusive
    )
    assert policy.grade(buyer(days=days), as_of=AS_OF).label == label


def test_recency_reasons_and_components() -> None:
    policy = ThresholdPolicy("recency_days", (30, 90), ("active", "cooling", "dormant"))
    assert policy.policy_id == "threshold:recency_days<=30/90:active/cooling/dormant"
    grade = policy.grade(buyer(days=45), as_of=AS_OF)
    assert grade.label == "cooling"
    assert grade.reasons == (
        "recency_days 45 <= 90 (cut for cooling)",
        "recency_days 45 > 30 (cut for active)",
    )
    assert grade.components == {"metric": "recency_days", "value": 45, "tier": 2}
    assert grade.score == 45.0


def test_recency_of_a_prospect_is_undefined_and_fails_every_cut() -> None:
    policy = ThresholdPolicy("recency_days", (30,), ("active", "inactive"))
    grade = policy.grade(ActivitySummary.empty("p"), as_of=AS_OF)
    assert grade.label == "inactive"
    assert grade.score is None
    assert grade.components == {"metric": "recency_days", "value": "undefined", "tier": 2}
    assert grade.reasons == ("recency_days undefined (no purchases): fails every cut",)


def test_higher_is_better_can_be_overridden() -> None:
    policy = ThresholdPolicy(
        "purchase_count", (1, 3), ("rare", "regular", "frequent"), higher_is_better=False
    )
    assert [policy.grade(buyer(count=c), as_of=AS_OF).label for c in (1, 2, 3, 4)] == [
        "rare",
        "regular",
        "regular",
        "frequent",
    ]


# ----------------------------------------------------------------------------- custom metrics


def average_order(summary: ActivitySummary, as_of: datetime) -> Decimal | None:
    if summary.purchase_count == 0:
        return None
    return summary.total_spent / summary.purchase_count


def test_callable_metric_is_named_by_its_function() -> None:
    policy = ThresholdPolicy(average_order, (Decimal(500),), ("premium", "standard"))
    assert policy.policy_id == "threshold:average_order>=500:premium/standard"
    grade = policy.grade(buyer("3000", count=4), as_of=AS_OF)
    assert grade.label == "premium"
    assert grade.reasons == ("average_order 750 >= 500 (cut for premium)",)
    assert grade.components == {"metric": "average_order", "value": "750", "tier": 1}
    none = policy.grade(ActivitySummary.empty("p"), as_of=AS_OF)
    assert none.label == "standard"


def test_lambda_metric_needs_a_name() -> None:
    with pytest.raises(ValueError, match="metric_name"):
        ThresholdPolicy(lambda s, at: s.purchase_count, (1,), ("a", "b"))
    named = ThresholdPolicy(
        lambda s, at: s.purchase_count * 2, (4,), ("a", "b"), metric_name="double_count"
    )
    assert named.policy_id == "threshold:double_count>=4:a/b"
    assert named.grade(buyer(count=2), as_of=AS_OF).label == "a"


def test_a_callable_returning_junk_is_reported() -> None:
    policy = ThresholdPolicy(
        lambda s, at: "many",  # type: ignore[arg-type,return-value]
        (1,),
        ("a", "b"),
        metric_name="junk",
    )
    with pytest.raises(TypeError, match="number"):
        policy.grade(buyer(), as_of=AS_OF)


def test_metric_value_of_builtin_metrics() -> None:
    s = buyer("12.50", count=3, days=7)
    assert metric_value(s, "total_spent", AS_OF) == Decimal("12.50")
    assert metric_value(s, "purchase_count", AS_OF) == 3
    assert metric_value(s, "recency_days", AS_OF) == 7
    with pytest.raises(ValueError, match="unknown metric"):
        metric_value(s, "ltv", AS_OF)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("ltv", (1,), ("a", "b")), {}, "unknown metric"),
        (("total_spent", (), ("a",)), {}, "must not be empty"),
        (("total_spent", (1, 2), ("a", "b", "c")), {}, "strictly descending"),
        (("total_spent", (2, 2), ("a", "b", "c")), {}, "strictly descending"),
        (("recency_days", (90, 30), ("a", "b", "c")), {}, "strictly ascending"),
        (("total_spent", (2, 1), ("a", "b")), {}, "3 labels"),
        (("total_spent", (1,), ("a", "a")), {}, "distinct"),
        (("total_spent", (1,), ("a", "")), {}, "non-empty"),
        (("total_spent", (float("nan"),), ("a", "b")), {}, "finite"),
        (("purchase_count", (1,), ("a", "b")), {"currency": "CNY"}, "does not apply"),
        (("total_spent", (1,), ("a", "b")), {"metric_name": "x"}, "only for callable"),
    ],
)
def test_arguments_are_validated_eagerly(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ThresholdPolicy(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((42, (1,), ("a", "b")), {}),
        (("total_spent", (True,), ("a", "b")), {}),
        (("total_spent", ("10",), ("a", "b")), {}),
        (("total_spent", "10", ("a", "b")), {}),
        (("total_spent", (1,), ("a", "b")), {"inclusive": "yes"}),
    ],
)
def test_wrong_types_are_rejected(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        ThresholdPolicy(*args, **kwargs)  # type: ignore[arg-type]


def test_grading_rejects_naive_as_of_and_future_purchases() -> None:
    policy = abcd_by_amount(a=100, b=10)
    with pytest.raises(ValueError, match="timezone-aware"):
        policy.grade(buyer(), as_of=datetime(2024, 7, 1))
    with pytest.raises(ValueError, match="after as_of"):
        policy.grade(buyer(), as_of=AS_OF - timedelta(days=1))


def test_policies_compare_by_configuration() -> None:
    assert abcd_by_amount(a=100, b=10) == abcd_by_amount(a=100, b=10)
    assert abcd_by_amount(a=100, b=10) != abcd_by_amount(a=100, b=20)
    assert hash(abcd_by_amount(a=100, b=10)) == hash(abcd_by_amount(a=100, b=10))
