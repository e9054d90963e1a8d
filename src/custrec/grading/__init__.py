"""Customer grading: explained, deterministic grades from per-customer activity summaries.

Summarise transactions with :func:`summarize`, then grade each :class:`ActivitySummary` with a
policy. Absolute policies (:class:`ThresholdPolicy`, :class:`ChurnPolicy`) grade directly;
population-relative ones (:class:`RFMPolicy`, :class:`ParetoPolicy`, :class:`StarPolicy`) are
first fitted on a population at an instant, which freezes their cut points. Every policy returns
a :class:`Grade` with a label, a score, components and human-readable reasons. Fitted policies
also grade a whole population at once with ``grade_many``, which returns :class:`Grades`.

This package is pure logic: no I/O, no clock (every call takes ``as_of``), deterministic.
"""

from custrec.grading.churn import ChurnAssessment, ChurnPolicy, churn_risk
from custrec.grading.model import (
    Component,
    FittablePolicy,
    FittedPolicy,
    Grade,
    Grades,
    GradingPolicy,
    grade_all,
)
from custrec.grading.pareto import Basis, FittedParetoPolicy, ParetoPolicy
from custrec.grading.rfm import (
    RFM_SEGMENTS,
    FittedRFMPolicy,
    RFMPolicy,
    SegmentFunction,
    rfm_segment,
    rfm_segment_rule,
)
from custrec.grading.stars import STAR_LABELS, FittedStarPolicy, PotentialSource, StarPolicy
from custrec.grading.summary import ActivitySummary, MixedCurrencies, summarize
from custrec.grading.threshold import (
    ABCD_LABELS,
    METRICS,
    MetricFunction,
    ThresholdPolicy,
    abcd_by_amount,
    metric_value,
)

__all__ = [
    "ABCD_LABELS",
    "METRICS",
    "RFM_SEGMENTS",
    "STAR_LABELS",
    "ActivitySummary",
    "Basis",
    "ChurnAssessment",
    "ChurnPolicy",
    "Component",
    "FittablePolicy",
    "FittedParetoPolicy",
    "FittedPolicy",
    "FittedRFMPolicy",
    "FittedStarPolicy",
    "Grade",
    "Grades",
    "GradingPolicy",
    "MetricFunction",
    "MixedCurrencies",
    "ParetoPolicy",
    "PotentialSource",
    "RFMPolicy",
    "SegmentFunction",
    "StarPolicy",
    "ThresholdPolicy",
    "abcd_by_amount",
    "churn_risk",
    "grade_all",
    "metric_value",
    "rfm_segment",
    "rfm_segment_rule",
    "summarize",
]
