"""Specification of custrec.grading.churn: churn_risk() and ChurnPolicy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from custrec.grading import ActivitySummary, ChurnAssessment, ChurnPolicy, churn_risk

FIRST = datetime(2024, 1, 1, tzinfo=UTC)


def history(count: int, span_days: float) -> ActivitySummary:
    return ActivitySummary(
        customer_id="c-1",
        first_purchase_at=FIRST,
        last_purchase_at=FIRST + timedelta(days=span_days),
        purchase_count=count,
        total_spent=Decimal(100 * count),
    )


def test_flagged_when_silent_longer_than_k_mean_gaps() -> None:
    # 4 purchases over 90 days: mean gap 90 / 3 = 30 days; k = 2 -> limit 60 days
    s = history(4, 90)
    last = FIRST + timedelta(days=90)
    quiet = churn_risk(s, as_of=last + timedelta(days=61))
    assert quiet == ChurnAssessment(
        flagged=True,
        reason="61 days since the last purchase > 2 x mean gap 30 days = 60 days",
        days_since_last=61.0,
        mean_gap_days=30.0,
    )
    assert not churn_risk(s, as_of=last + timedelta(days=59)).flagged


def test_exactly_k_mean_gaps_is_not_flagged() -> None:
    s = history(4, 90)
    at_limit = churn_risk(s, as_of=FIRST + timedelta(days=150))  # 60 days since last
    assert not at_limit.flagged
    assert at_limit.reason == "60 days since the last purchase <= 2 x mean gap 30 days = 60 days"
    # one microsecond later it is flagged, and the reason does not round it away
    later = churn_risk(s, as_of=FIRST + timedelta(days=150, microseconds=1))
    assert later.flagged
    assert later.reason.startswith("60.0000000000") and " > 2 x " in later.reason


def test_k_changes_the_limit() -> None:
    s = history(3, 20)  # mean gap 10 days
    as_of = FIRST + timedelta(days=20 + 16)  # 16 days since the last purchase
    assert churn_risk(s, as_of=as_of, k=1.5).flagged  # 16 > 15
    assert not churn_risk(s, as_of=as_of, k=1.6).flagged  # 16 <= 16
    assert not churn_risk(s, as_of=as_of).flagged  # 16 <= 20


def test_fractional_days() -> None:
    s = history(2, 1.5)  # mean gap 1.5 days
    result = churn_risk(s, as_of=FIRST + timedelta(days=1.5 + 3.25))
    assert result.mean_gap_days == 1.5
    assert result.days_since_last == 3.25
    assert result.flagged  # 3.25 > 3
    assert result.reason == "3.25 days since the last purchase > 2 x mean gap 1.5 days = 3 days"


def test_not_enough_history_is_never_flagged() -> None:
    none = churn_risk(ActivitySummary.empty("p"), as_of=FIRST)
    assert none == ChurnAssessment(
        flagged=False,
        reason="no purchases: not enough history to judge churn",
        days_since_last=None,
        mean_gap_days=None,
    )
    one = churn_risk(history(1, 0), as_of=FIRST + timedelta(days=400))
    assert not one.flagged
    assert one.days_since_last == 400.0
    assert one.mean_gap_days is None
    assert "not enough history" in one.reason
    same_instant = churn_risk(history(3, 0), as_of=FIRST + timedelta(days=400))
    assert not same_instant.flagged
    assert same_instant.mean_gap_days == 0.0
    assert "same instant" in same_instant.reason


@pytest.mark.parametrize("k", [0, -1, float("nan")])
def test_k_must_be_positive(k: float) -> None:
    with pytest.raises(ValueError, match="k must be"):
        churn_risk(history(2, 10), as_of=FIRST + timedelta(days=30), k=k)
    with pytest.raises(ValueError, match="k must be"):
        ChurnPolicy(k=k)


def test_naive_as_of_and_future_purchases_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        churn_risk(history(2, 10), as_of=datetime(2024, 3, 1))
    with pytest.raises(ValueError, match="after as_of"):
        churn_risk(history(2, 10), as_of=FIRST)


def test_churn_policy_grades() -> None:
    policy = ChurnPolicy(k=2)
    assert policy.policy_id == "churn:k=2"
    s = history(4, 90)
    risky = policy.grade(s, as_of=FIRST + timedelta(days=90 + 75))
    assert risky.label == "churn risk"
    assert risky.score == 2.5  # 75 / 30
    assert risky.components == {"k": 2.0, "days_since_last": 75.0, "mean_gap_days": 30.0}
    assert risky.reasons == ("75 days since the last purchase > 2 x mean gap 30 days = 60 days",)
    fine = policy.grade(s, as_of=FIRST + timedelta(days=100))
    assert fine.label == "ok"
    assert fine.score == pytest.approx(10 / 30)
    prospect = policy.grade(ActivitySummary.empty("p"), as_of=FIRST)
    assert (prospect.label, prospect.score, prospect.components) == ("ok", None, {"k": 2.0})
    assert ChurnPolicy().policy_id == "churn:k=2"
    assert ChurnPolicy(k=1.5).policy_id == "churn:k=1.5"
