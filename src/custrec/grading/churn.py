"""Churn risk: has the customer been silent for much longer than their usual purchase gap?

``mean gap = (last_purchase_at - first_purchase_at) / (purchase_count - 1)`` in days; a customer
is flagged when ``days since last purchase > k * mean gap``. Fewer than two purchases, or all
purchases at one instant (mean gap 0), is not enough history: never flagged. Days are exact
fractions of 86,400 seconds and the comparison is exact. Refunds count as purchases here, as
everywhere in :class:`~custrec.grading.ActivitySummary`.

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from custrec.grading import ActivitySummary
>>> s = ActivitySummary(customer_id="c-1", first_purchase_at=datetime(2024, 1, 1, tzinfo=UTC),
...     last_purchase_at=datetime(2024, 3, 1, tzinfo=UTC), purchase_count=3,
...     total_spent=Decimal(300))
>>> a = churn_risk(s, as_of=datetime(2024, 4, 15, tzinfo=UTC))  # gap 60 / 2 = 30 days
>>> a.flagged, a.days_since_last, a.mean_gap_days
(False, 45.0, 30.0)
>>> churn_risk(s, as_of=datetime(2024, 5, 1, tzinfo=UTC)).reason
'61 days since the last purchase > 2 x mean gap 30 days = 60 days'
"""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction

import attrs

from custrec.grading._common import exact, fmt_compared, fmt_fraction, fmt_number
from custrec.grading._population import check_graded
from custrec.grading.model import Component, Grade
from custrec.grading.summary import ActivitySummary

__all__ = ["ChurnAssessment", "ChurnPolicy", "churn_risk"]

_MICROSECOND = timedelta(microseconds=1)
_MICROSECONDS_PER_DAY = 86_400 * 1_000_000


@attrs.frozen(kw_only=True)
class ChurnAssessment:
    """The result of :func:`churn_risk`.

    ``days_since_last`` is ``None`` without purchases; ``mean_gap_days`` is ``None`` with fewer
    than two purchases. ``reason`` is one human-readable sentence.
    """

    flagged: bool
    reason: str
    days_since_last: float | None
    mean_gap_days: float | None


def _days(delta: timedelta) -> Fraction:
    return Fraction(delta // _MICROSECOND, _MICROSECONDS_PER_DAY)


def _check_k(k: object) -> Fraction:
    value = exact(k, "k")
    if value <= 0:
        raise ValueError(f"k must be > 0, got {fmt_number(k)}")
    return value


def churn_risk(summary: ActivitySummary, *, as_of: datetime, k: float = 2.0) -> ChurnAssessment:
    """Assess churn risk at ``as_of``: flagged when days since last purchase > ``k`` x mean gap.

    Raises ``ValueError`` for a naive ``as_of``, purchases after ``as_of`` or ``k <= 0``.
    """
    factor = _check_k(k)
    check_graded(summary, as_of, None)
    first, last, count = summary.first_purchase_at, summary.last_purchase_at, summary.purchase_count
    if first is None or last is None:
        return ChurnAssessment(
            flagged=False,
            reason="no purchases: not enough history to judge churn",
            days_since_last=None,
            mean_gap_days=None,
        )
    since = _days(as_of - last)
    if count < 2:
        return ChurnAssessment(
            flagged=False,
            reason="only 1 purchase: a mean gap needs at least 2, not enough history",
            days_since_last=float(since),
            mean_gap_days=None,
        )
    gap = _days(last - first) / (count - 1)
    if gap == 0:
        return ChurnAssessment(
            flagged=False,
            reason=f"all {count} purchases at the same instant: no gap yet, not enough history",
            days_since_last=float(since),
            mean_gap_days=0.0,
        )
    limit = factor * gap
    flagged = since > limit
    limit_text = fmt_fraction(limit)
    reason = (
        f"{fmt_compared(since, limit_text)} days since the last purchase "
        f"{'>' if flagged else '<='} {fmt_fraction(factor, 6)} x mean gap {fmt_fraction(gap)} "
        f"days = {limit_text} days"
    )
    return ChurnAssessment(
        flagged=flagged,
        reason=reason,
        days_since_last=float(since),
        mean_gap_days=float(gap),
    )


@attrs.frozen
class ChurnPolicy:
    """:func:`churn_risk` as a grading policy: label ``"churn risk"`` or ``"ok"``.

    Score = days since last purchase / mean gap (``None`` without enough history); components
    hold ``k`` and, when defined, ``days_since_last`` and ``mean_gap_days``.

    >>> ChurnPolicy(k=3).policy_id
    'churn:k=3'
    """

    k: float = attrs.field(default=2.0, kw_only=True)
    _policy_id: str = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        factor = _check_k(self.k)
        object.__setattr__(self, "_policy_id", f"churn:k={fmt_fraction(factor, 6)}")

    @property
    def policy_id(self) -> str:
        """``churn:k=<k>``."""
        return self._policy_id

    @property
    def ranking(self) -> tuple[str, ...]:
        """The labels best first: ``ok`` (low risk), then ``churn risk``."""
        return ("ok", "churn risk")

    def grade(self, summary: ActivitySummary, *, as_of: datetime) -> Grade:
        """Grade ``summary`` at ``as_of``; raises ``ValueError`` for a naive ``as_of``."""
        assessment = churn_risk(summary, as_of=as_of, k=self.k)
        components: dict[str, Component] = {"k": float(self.k)}
        score = None
        if assessment.days_since_last is not None:
            components["days_since_last"] = assessment.days_since_last
        if assessment.mean_gap_days is not None:
            components["mean_gap_days"] = assessment.mean_gap_days
            if assessment.mean_gap_days > 0 and assessment.days_since_last is not None:
                score = assessment.days_since_last / assessment.mean_gap_days
        return Grade(
            label="churn risk" if assessment.flagged else "ok",
            score=score,
            components=components,
            reasons=(assessment.reason,),
            policy_id=self._policy_id,
            as_of=as_of,
        )
