"""Threshold tiers: fixed cut points on one metric, independent of any population.

Tiers are tried in order; a customer gets the first label whose cut it passes, and the last label
if it passes none. With ``higher_is_better=True`` cuts are strictly descending and "passes" means
``value >= cut`` (``inclusive=True``, the default) or ``value > cut``; with
``higher_is_better=False`` cuts are strictly ascending and "passes" means ``value <= cut`` or
``value < cut``.

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from custrec.grading import ActivitySummary
>>> policy = abcd_by_amount(a=100_000, b=20_000)
>>> policy.policy_id
'threshold:total_spent>=100000/20000/0.01:A/B/C/D:CNY'
>>> at = datetime(2024, 6, 30, tzinfo=UTC)
>>> s = ActivitySummary(customer_id="c-1", first_purchase_at=at, last_purchase_at=at,
...                     purchase_count=3, total_spent=Decimal(120_000))
>>> g = policy.grade(s, as_of=at)
>>> g.label, g.reasons
('A', ('total_spent 120000 >= 100000 (cut for A)',))
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Final

import attrs

from custrec.grading._common import callable_name, exact, fmt_number
from custrec.grading._population import check_graded
from custrec.grading.model import Component, Grade
from custrec.grading.summary import ActivitySummary
from custrec.validation import currency

__all__ = [
    "ABCD_LABELS",
    "METRICS",
    "MetricFunction",
    "ThresholdPolicy",
    "abcd_by_amount",
    "metric_value",
]

MetricValue = int | float | Decimal | Fraction
MetricFunction = Callable[[ActivitySummary, datetime], MetricValue | None]
"""A custom metric: ``(summary, as_of) -> number``, or ``None`` when undefined for the customer."""

METRICS: Final = ("total_spent", "purchase_count", "recency_days")
"""Built-in metric names. ``recency_days`` is whole days since the last purchase (lower is better)
and is undefined (fails every cut) for a customer without purchases."""

ABCD_LABELS: Final = ("A", "B", "C", "D")
"""A: most important (large business); B: could become A; C: some demand; D: prospects."""

_AMOUNT_METRICS: Final = frozenset({"total_spent"})


def metric_value(summary: ActivitySummary, metric: str, as_of: datetime) -> MetricValue | None:
    """The value of a built-in metric for ``summary`` at ``as_of`` (``None`` when undefined)."""
    if metric == "total_spent":
        return summary.total_spent
    if metric == "purchase_count":
        return summary.purchase_count
    if metric == "recency_days":
        return summary.days_since_last_purchase(as_of)
    raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")


def _tuple(value: Iterable[object]) -> tuple[object, ...]:
    if isinstance(value, str | bytes):
        raise TypeError("expected a sequence, not a string")
    return tuple(value)


def _currency(_: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    wrong = None if value is None else currency.problem(value)
    if wrong is not None:
        raise ValueError(f"{attribute.name}: {wrong}")


@attrs.frozen
class ThresholdPolicy:
    """Tiers by fixed cut points on one metric; see the module docstring for the exact rule.

    ``metric`` is a name from :data:`METRICS` or a callable ``(summary, as_of) -> number | None``
    (``metric_name`` names it in ``policy_id``; lambdas need one). ``labels`` has one more entry
    than ``cuts``. ``higher_is_better`` defaults to ``False`` for ``recency_days`` and ``True``
    otherwise. ``currency``, when set, makes grading a summary with purchases in another currency
    raise :class:`~custrec.grading.MixedCurrencies`; it is only accepted for amount metrics
    (``total_spent`` or a callable). Arguments are checked here: ``ValueError``/``TypeError``.

    The score is the metric value as a float (``None`` when undefined); components are
    ``{"metric": name, "value": v, "tier": i}`` with ``v`` exact text for decimals and ``i`` the
    1-based position of the label.
    """

    metric: str | MetricFunction
    cuts: tuple[MetricValue, ...] = attrs.field(converter=_tuple)
    labels: tuple[str, ...] = attrs.field(converter=_tuple)
    inclusive: bool = attrs.field(default=True, kw_only=True)
    higher_is_better: bool | None = attrs.field(default=None, kw_only=True)
    metric_name: str | None = attrs.field(default=None, kw_only=True)
    currency: str | None = attrs.field(default=None, kw_only=True, validator=_currency)
    _higher: bool = attrs.field(init=False, repr=False, eq=False)
    _name: str = attrs.field(init=False, repr=False, eq=False)
    _policy_id: str = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        metric = self.metric
        if isinstance(metric, str):
            if metric not in METRICS:
                raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
            if self.metric_name is not None:
                raise ValueError("metric_name is only for callable metrics")
            name = metric
        elif callable(metric):
            name = callable_name(metric, self.metric_name, "metric")
        else:
            raise TypeError("metric must be a metric name or a callable (summary, as_of) -> number")
        if not isinstance(self.inclusive, bool):
            raise TypeError("inclusive must be a bool")
        if self.higher_is_better is None:
            higher = metric != "recency_days"
        elif isinstance(self.higher_is_better, bool):
            higher = self.higher_is_better
        else:
            raise TypeError("higher_is_better must be a bool or None")
        if not self.cuts:
            raise ValueError("cuts must not be empty (one cut makes two tiers)")
        exact_cuts = [exact(cut, "each cut") for cut in self.cuts]
        for before, after in itertools.pairwise(exact_cuts):
            if (higher and not before > after) or (not higher and not before < after):
                order = "descending" if higher else "ascending"
                raise ValueError(
                    f"cuts must be strictly {order} when higher_is_better={higher} "
                    f"(got {', '.join(fmt_number(c) for c in self.cuts)})"
                )
        if len(self.labels) != len(self.cuts) + 1:
            raise ValueError(
                f"need len(cuts) + 1 = {len(self.cuts) + 1} labels, got {len(self.labels)}"
            )
        if not all(isinstance(label, str) and label for label in self.labels):
            raise ValueError("labels must be non-empty strings")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be distinct")
        if self.currency is not None:
            if not isinstance(self.currency, str) or not self.currency:
                raise ValueError("currency must be a non-empty string or None")
            if isinstance(metric, str) and metric not in _AMOUNT_METRICS:
                raise ValueError(f"currency does not apply to metric {metric!r}")
        op = (">=" if self.inclusive else ">") if higher else ("<=" if self.inclusive else "<")
        policy_id = (
            f"threshold:{name}{op}{'/'.join(fmt_number(c) for c in self.cuts)}"
            f":{'/'.join(self.labels)}"
        )
        if self.currency is not None:
            policy_id += f":{self.currency}"
        object.__setattr__(self, "_higher", higher)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_policy_id", policy_id)

    @property
    def policy_id(self) -> str:
        """``threshold:<metric><op><cuts>:<labels>[:<currency>]``."""
        return self._policy_id

    @property
    def ranking(self) -> tuple[str, ...]:
        """The labels best first: the tiers in their configured order."""
        return self.labels

    def _passes(self, value: MetricValue, cut: MetricValue) -> bool:
        if self._higher:
            return value >= cut if self.inclusive else value > cut
        return value <= cut if self.inclusive else value < cut

    def _ops(self) -> tuple[str, str]:
        """The (passing, failing) comparison signs for reasons."""
        if self._higher:
            return (">=", "<") if self.inclusive else (">", "<=")
        return ("<=", ">") if self.inclusive else ("<", ">=")

    def grade(self, summary: ActivitySummary, *, as_of: datetime) -> Grade:
        """Grade ``summary`` at ``as_of``; raises ``ValueError`` for a naive ``as_of``."""
        check_graded(summary, as_of, self.currency)
        name = self._name
        if isinstance(self.metric, str):
            value = metric_value(summary, self.metric, as_of)
        else:
            value = self.metric(summary, as_of)
            if value is not None:
                exact(value, f"metric {name}")  # type and finiteness check
        last = len(self.cuts)
        reasons: list[str] = []
        shown: Component
        if value is None:
            tier = last
            why = "no purchases" if summary.purchase_count == 0 else "no value"
            reasons.append(f"{name} undefined ({why}): fails every cut")
            shown = "undefined"
            score = None
        else:
            tier = next((i for i, cut in enumerate(self.cuts) if self._passes(value, cut)), last)
            passing, failing = self._ops()
            text = fmt_number(value)
            if tier < last:
                cut = fmt_number(self.cuts[tier])
                reasons.append(f"{name} {text} {passing} {cut} (cut for {self.labels[tier]})")
            if tier > 0:
                cut = fmt_number(self.cuts[tier - 1])
                reasons.append(f"{name} {text} {failing} {cut} (cut for {self.labels[tier - 1]})")
            shown = text if isinstance(value, Decimal | Fraction) else value
            score = float(value)
        return Grade(
            label=self.labels[tier],
            score=score,
            components={"metric": name, "value": shown, "tier": tier + 1},
            reasons=reasons,
            policy_id=self._policy_id,
            as_of=as_of,
        )


def abcd_by_amount(
    a: MetricValue,
    b: MetricValue,
    *,
    c: MetricValue = Decimal("0.01"),
    currency: str = "CNY",
    inclusive: bool = True,
) -> ThresholdPolicy:
    """The A/B/C/D tiers on ``total_spent``: A >= ``a``, B >= ``b``, C >= ``c``, else D.

    A: most important customers (large business); B: potential to become A; C: some demand;
    D: prospects. With the default ``c`` of 0.01, D means "no net purchases" (nothing bought, or
    refunded in full). ``a > b > c`` is required. Amounts are in ``currency``.
    """
    return ThresholdPolicy(
        "total_spent",
        (a, b, c),
        ABCD_LABELS,
        inclusive=inclusive,
        currency=currency,
    )
