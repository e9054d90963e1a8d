"""RFM scoring (recency, frequency, monetary), fitted on a population.

With ``bins`` = b and a fitted population of n customers *with purchases*:

- recency ``rec`` = ``(as_of - last_purchase_at).days``, frequency ``freq`` = ``purchase_count``,
  monetary ``mon`` = ``total_spent``;
- ``R = ceil(b * #{population: rec >= own rec} / n)``,
  ``F = ceil(b * #{population: freq <= own freq} / n)``,
  ``M = ceil(b * #{population: mon <= own mon} / n)``, each floored at 1 and capped at b.

Equal values get equal scores, the most recent / most frequent / biggest spender gets b. The
counts run over the *frozen* population; a summary graded with the very figures it was fitted
with counts itself, any other summary (a new customer, or a member whose figures changed) is
counted against the fitted figures with the fitted n.

Fitting sorts each metric once and keeps only ``bins - 1`` cut points per metric, because the
formula is equivalent to comparing with order statistics: with ``j(s) = floor((s - 1) * n / b)``
and the population's values sorted ascending (``asc``), ``M >= s`` exactly when
``mon >= asc[j(s)]`` (the same for F), and ``R >= s`` exactly when ``rec <= asc[n - 1 - j(s)]``.

Customers without purchases are left out of the fitted population (their recency is undefined)
and are graded ``R = F = M = 1`` with the label ``no_purchase_label`` ("no purchases").

The label is a named segment of (R, F, M): the default map is :func:`rfm_segment`; pass a
callable ``(r, f, m) -> label`` or a mapping ``{(r, f, m): label}`` (missing cells: "other").

>>> from datetime import UTC, datetime, timedelta
>>> from decimal import Decimal
>>> from custrec.grading import ActivitySummary
>>> at = datetime(2024, 6, 30, tzinfo=UTC)
>>> def s(cid, days, count, total):
...     last = at - timedelta(days=days)
...     return ActivitySummary(customer_id=cid, first_purchase_at=last - timedelta(days=300),
...         last_purchase_at=last, purchase_count=count, total_spent=Decimal(total))
>>> pop = [s("a", 3, 9, 900), s("b", 40, 4, 300), s("c", 200, 1, 50), s("d", 400, 2, 80)]
>>> fitted = RFMPolicy().fit(pop, as_of=at)
>>> g = fitted.grade(pop[0], as_of=at)
>>> g.components == {"R": 5, "F": 5, "M": 5}, g.label
(True, 'champions')
>>> g = fitted.grade(pop[2], as_of=at)  # R = ceil(5*2/4) = 3, F = ceil(5*1/4) = 2, M = 2
>>> (g.components["R"], g.components["F"], g.components["M"]), g.label
((3, 2, 2), 'need attention')

``grade_many`` grades a whole population column-wise; each grade is built when read:

>>> grades = fitted.grade_many(pop, as_of=at)
>>> grades.labels
('champions', 'champions', 'need attention', 'at risk')
>>> grades[2] == g
True
"""

from __future__ import annotations

import functools
import operator
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import compress
from typing import Final

import attrs

from custrec._checks import check, int_range
from custrec.grading._common import FrozenMap, callable_name, fmt_number, instant
from custrec.grading._engine import use_numpy
from custrec.grading._order import int_order_statistics, order_statistics
from custrec.grading._population import LAST, check_graded, check_many, collect_population
from custrec.grading.model import Grade, Grades
from custrec.grading.summary import ActivitySummary

__all__ = [
    "RFM_SEGMENTS",
    "FittedRFMPolicy",
    "RFMPolicy",
    "SegmentFunction",
    "rfm_segment",
    "rfm_segment_rule",
]

SegmentFunction = Callable[[int, int, int], str]
"""Maps scores ``(r, f, m)`` to a segment label."""

# (label, R at least, R below, FM at least, FM below) on the 5-point scale; None = no bound.
# FM is the mean of F and M. The first matching row wins; the last row matches everything.
_RULES: Final[tuple[tuple[str, int | None, int | None, int | None, int | None], ...]] = (
    ("champions", 4, None, 4, None),
    ("loyal", 3, None, 3, None),
    ("cannot lose", None, 2, 4, None),
    ("at risk", None, 3, 3, None),
    ("potential loyalist", 4, None, 2, None),
    ("new", 4, None, None, 2),
    ("promising", 3, None, None, 2),
    ("need attention", 2, None, 2, None),
    ("hibernating", 2, None, None, None),
    ("lost", None, None, None, None),
)

RFM_SEGMENTS: Final = tuple(rule[0] for rule in _RULES)
"""The default segment labels, in the order their rules are tried."""


def _rule_text(rule: tuple[str, int | None, int | None, int | None, int | None]) -> str:
    _, r_min, r_below, fm_min, fm_below = rule
    parts = []
    if r_min is not None:
        parts.append(f"R>={r_min}")
    if r_below is not None:
        parts.append(f"R<{r_below}")
    if fm_min is not None:
        parts.append(f"FM>={fm_min}")
    if fm_below is not None:
        parts.append(f"FM<{fm_below}")
    return " and ".join(parts) if parts else "otherwise"


def _check_scores(r: int, f: int, m: int, bins: int) -> None:
    check("bins", bins, int_range(2))
    score = int_range(1, bins)
    for name, value in (("r", r), ("f", f), ("m", m)):
        check(name, value, score)


def rfm_segment_rule(r: int, f: int, m: int, *, bins: int = 5) -> tuple[str, str]:
    """The default segment of scores (r, f, m) and the rule that chose it.

    Scores are rescaled linearly to a 5-point scale (1 -> 1, ``bins`` -> 5); FM is the mean of the
    rescaled F and M. The first matching rule wins:

    ====================  =========================
    segment               rule (5-point scale)
    ====================  =========================
    champions             R >= 4 and FM >= 4
    loyal                 R >= 3 and FM >= 3
    cannot lose           R < 2 and FM >= 4
    at risk               R < 3 and FM >= 3
    potential loyalist    R >= 4 and FM >= 2
    new                   R >= 4 and FM < 2
    promising             R >= 3 and FM < 2
    need attention        R >= 2 and FM >= 2
    hibernating           R >= 2
    lost                  otherwise
    ====================  =========================

    The comparisons are exact (integer arithmetic), so a boundary never depends on rounding.

    >>> rfm_segment_rule(5, 1, 2)
    ('new', 'R>=4 and FM<2')
    >>> rfm_segment_rule(3, 3, 3, bins=3)  # rescaled: R = 5, FM = 5
    ('champions', 'R>=4 and FM>=4')
    """
    _check_scores(r, f, m, bins)
    return _default_rule(r, f, m, bins)


@functools.lru_cache(maxsize=8192)
def _default_rule(r: int, f: int, m: int, bins: int) -> tuple[str, str]:
    """:func:`rfm_segment_rule` without argument checks, cached (it runs once per grade)."""
    span = bins - 1
    # rescaled R >= t  <=>  1 + 4 (r - 1) / span >= t  <=>  4 (r - 1) >= (t - 1) span
    # rescaled FM >= t <=>  1 + 4 ((f + m) / 2 - 1) / span >= t  <=>  2 (f + m - 2) >= (t - 1) span
    r_level = 4 * (r - 1)
    fm_level = 2 * (f + m - 2)
    for rule in _RULES:
        _, r_min, r_below, fm_min, fm_below = rule
        if r_min is not None and r_level < (r_min - 1) * span:
            continue
        if r_below is not None and r_level >= (r_below - 1) * span:
            continue
        if fm_min is not None and fm_level < (fm_min - 1) * span:
            continue
        if fm_below is not None and fm_level >= (fm_below - 1) * span:
            continue
        return rule[0], _rule_text(rule)
    raise AssertionError("the last rule matches everything")  # pragma: no cover


def rfm_segment(r: int, f: int, m: int, *, bins: int = 5) -> str:
    """The default segment label of scores (r, f, m); see :func:`rfm_segment_rule`.

    >>> rfm_segment(5, 5, 4), rfm_segment(1, 5, 5), rfm_segment(1, 1, 1)
    ('champions', 'cannot lose', 'lost')
    """
    return rfm_segment_rule(r, f, m, bins=bins)[0]


SegmentMap = Mapping[tuple[int, int, int], str]


@attrs.frozen(kw_only=True)
class RFMPolicy:
    """RFM scores by the exact definition in the module docstring; call :meth:`fit` to grade.

    ``bins`` (default 5, at least 2) is the number of score levels. ``segments`` is ``None`` for
    the default map (:func:`rfm_segment`), a callable ``(r, f, m) -> label`` (named by
    ``segments_name`` or its ``__name__`` in ``policy_id``) or a mapping ``{(r, f, m): label}``
    (cells it lacks get ``"other"``; named ``segments_name`` or ``"custom"``).
    ``no_purchase_label`` labels customers without purchases.
    """

    bins: int = 5
    segments: SegmentFunction | SegmentMap | None = None
    segments_name: str | None = None
    no_purchase_label: str = "no purchases"
    _policy_id: str = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        bins = check("bins", self.bins, int_range(2))
        if not isinstance(self.no_purchase_label, str) or not self.no_purchase_label:
            raise ValueError("no_purchase_label must be a non-empty string")
        segments = self.segments
        policy_id = f"rfm:bins={bins}"
        if segments is None:
            if self.segments_name is not None:
                raise ValueError("segments_name needs custom segments")
        elif isinstance(segments, Mapping):
            cells: dict[tuple[int, int, int], str] = {}
            for key, label in segments.items():
                if not (isinstance(key, tuple) and len(key) == 3):
                    raise ValueError(f"segment keys must be (r, f, m) tuples, got {key!r}")
                _check_scores(*key, bins)
                if not isinstance(label, str) or not label:
                    raise ValueError(f"segment label for {key} must be a non-empty string")
                cells[key] = label
            object.__setattr__(self, "segments", FrozenMap(cells))
            name = self.segments_name if self.segments_name is not None else "custom"
            if not isinstance(name, str) or not name:
                raise ValueError("segments_name must be a non-empty string")
            policy_id += f":segments={name}"
        elif callable(segments):
            policy_id += f":segments={callable_name(segments, self.segments_name, 'segments')}"
        else:
            raise TypeError("segments must be None, a callable (r, f, m) -> str or a mapping")
        object.__setattr__(self, "_policy_id", policy_id)

    @property
    def policy_id(self) -> str:
        """``rfm:bins=<b>`` (plus ``:segments=<name>`` for a custom segment map)."""
        return self._policy_id

    def segment(self, r: int, f: int, m: int) -> tuple[str, str]:
        """The segment label of scores (r, f, m) and a sentence saying why."""
        segments = self.segments
        if segments is None:
            label, rule = _default_rule(r, f, m, self.bins)
            return label, f"segment {label!r}: {rule} (default map; FM = (F + M) / 2{self._scale})"
        if isinstance(segments, Mapping):
            mapped: str | None = segments.get((r, f, m))
            if mapped is None:
                return "other", f"segment 'other': ({r}, {f}, {m}) is not in the segment map"
            return mapped, f"segment {mapped!r}: ({r}, {f}, {m}) in the segment map"
        named: object = segments(r, f, m)
        if not isinstance(named, str) or not named:
            raise ValueError(f"the segments callable returned {named!r}, not a non-empty str")
        return named, f"segment {named!r} from the segments callable for ({r}, {f}, {m})"

    @property
    def _scale(self) -> str:
        return "" if self.bins == 5 else f"; scores rescaled from 1..{self.bins} to 1..5"

    def fit(self, summaries: Iterable[ActivitySummary], *, as_of: datetime) -> FittedRFMPolicy:
        """Sort each metric of the customers with purchases once and freeze the cut points.

        Raises ``ValueError`` when no summary has purchases, for a repeated customer id, a naive
        ``as_of`` or purchases after ``as_of``; :class:`~custrec.grading.MixedCurrencies` when
        purchasers use several currencies.
        """
        population, currency, lasts = collect_population(summaries, as_of)
        buyers = list(compress(population, lasts))
        n = len(buyers)
        if n == 0:
            raise ValueError("cannot fit RFM: no customer in the population has purchases")
        ranks = [(s - 1) * n // self.bins for s in range(2, self.bins + 1)]
        days = [(as_of - last).days for last in filter(None, lasts)]  # instants are always true
        counts = list(map(_COUNT, buyers))
        del buyers
        # The amounts as floats (monotone): they order the amounts for the monetary cuts here,
        # and compare with the cuts when this very population is graded.
        all_totals = list(map(_TOTAL, population))
        all_floats = list(map(float, all_totals))
        totals = list(compress(all_totals, lasts))
        floats = list(compress(all_floats, lasts))
        del population, lasts
        if use_numpy(n):
            import numpy as np

            from custrec.grading import _numeric

            recency = np.sort(_numeric.ints(days, n))
            frequency = np.sort(_numeric.ints(counts, n))
            recency_cuts = tuple(int(recency[n - 1 - j]) for j in ranks)
            frequency_cuts = tuple(int(frequency[j]) for j in ranks)
            monetary_cuts = tuple(_numeric.order_statistics(totals, ranks, floats))
        else:  # a few order statistics each: no metric is sorted as a whole
            recency_cuts = tuple(int_order_statistics(days, [n - 1 - j for j in ranks]))
            frequency_cuts = tuple(int_order_statistics(counts, ranks))
            monetary_cuts = tuple(order_statistics(totals, ranks, floats))
        fitted = FittedRFMPolicy(
            policy=self,
            fitted_as_of=as_of,
            population_size=n,
            currency=currency,
            recency_cuts=recency_cuts,
            frequency_cuts=frequency_cuts,
            monetary_cuts=monetary_cuts,
        )
        object.__setattr__(fitted, "_fitted_input", (tuple(all_totals), all_floats))
        return fitted


_COUNT: Final = operator.attrgetter("purchase_count")
_TOTAL: Final = operator.attrgetter("total_spent")


def _between(
    score: int, bins: int, text: str, cuts: tuple[str, ...], at_least: str, below: str, tag: str
) -> str:
    """``R=3: 40 days since last purchase, <= 60 (cut for R=3) and > 30 (cut for R=4)``."""
    if score == 1:
        return f"{tag}=1: {text}, {below} {cuts[0]} (cut for {tag}=2)"
    if score == bins:
        return f"{tag}={score}: {text}, {at_least} {cuts[score - 2]} (cut for {tag}={score})"
    return (
        f"{tag}={score}: {text}, {at_least} {cuts[score - 2]} (cut for {tag}={score}) "
        f"and {below} {cuts[score - 1]} (cut for {tag}={score + 1})"
    )


@attrs.frozen(kw_only=True)
class FittedRFMPolicy:
    """An :class:`RFMPolicy` fitted on a population; made by :meth:`RFMPolicy.fit`.

    ``recency_cuts[s - 2]``, ``frequency_cuts[s - 2]`` and ``monetary_cuts[s - 2]`` are the
    frozen cut points for score ``s`` (2..bins): R >= s when recency days <= its cut, F and M >= s
    when the value >= its cut. ``population_size`` counts the customers with purchases.

    Grading at an ``as_of`` other than ``fitted_as_of`` is allowed: the customer's recency is
    measured at the grading instant and compared with cuts measured at the fitting instant; the
    reasons say so. Score = (R + F + M) / 3; components are exactly ``{"R": r, "F": f, "M": m}``.
    """

    policy: RFMPolicy
    fitted_as_of: datetime
    population_size: int
    currency: str | None
    recency_cuts: tuple[int, ...]
    frequency_cuts: tuple[int, ...]
    monetary_cuts: tuple[Decimal, ...]
    _population_text: str = attrs.field(init=False, repr=False, eq=False)
    _cut_texts: tuple[tuple[str, ...], ...] = attrs.field(init=False, repr=False, eq=False)
    # Set by fit(), never compared: the fitted input's amounts and their floats, so grading that
    # population right after fit does not convert them again.
    _fitted_input: tuple[tuple[Decimal, ...], list[float]] | None = attrs.field(
        init=False, default=None, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        bins = self.policy.bins
        cut_texts = tuple(
            tuple(fmt_number(cut) for cut in cuts)
            for cuts in (self.recency_cuts, self.frequency_cuts, self.monetary_cuts)
        )
        object.__setattr__(self, "_cut_texts", cut_texts)
        text = (
            f"cuts fitted as of {instant(self.fitted_as_of)} on {self.population_size} customers "
            f"with purchases (score = ceil({bins} x count / {self.population_size}))"
        )
        object.__setattr__(self, "_population_text", text)

    @property
    def policy_id(self) -> str:
        """The unfitted policy's id."""
        return self.policy.policy_id

    def scores(self, summary: ActivitySummary, *, as_of: datetime) -> tuple[int, int, int]:
        """(R, F, M) of ``summary`` at ``as_of``; (1, 1, 1) without purchases."""
        last = summary.last_purchase_at
        if last is None:
            return 1, 1, 1
        days = (as_of - last).days
        r = 1 + bisect_right(self.recency_cuts, -days, key=operator.neg)
        f = 1 + bisect_right(self.frequency_cuts, summary.purchase_count)
        m = 1 + bisect_right(self.monetary_cuts, summary.total_spent)
        return r, f, m

    def grade_many(self, summaries: Iterable[ActivitySummary], *, as_of: datetime) -> Grades:
        """Grade every summary at ``as_of``: labels and scores column-wise, grades on reading.

        The result equals ``[self.grade(s, as_of=as_of) for s in summaries]`` element by element
        and raises what :meth:`grade` raises (checks first, for the first summary in order).
        """
        population = list(summaries)
        lasts = list(map(LAST, population))
        check_many(population, as_of, self.currency, lasts)
        codes = self._codes(population, lasts, as_of)
        labels: dict[int, str] = {}
        scores: dict[int, float] = {}
        policy = self.policy
        side = policy.bins + 1
        for code in set(codes):
            if code == 0:
                labels[0], scores[0] = policy.no_purchase_label, 1.0
                continue
            r, rest = divmod(code, side * side)
            f, m = divmod(rest, side)
            labels[code] = policy.segment(r, f, m)[0]
            scores[code] = (r + f + m) / 3
        return Grades(
            self,
            population,
            as_of,
            list(map(labels.__getitem__, codes)),
            list(map(scores.__getitem__, codes)),
        )

    def _codes(
        self, population: Sequence[ActivitySummary], lasts: list[datetime | None], as_of: datetime
    ) -> list[int]:
        """``(R * side + F) * side + M`` per summary (side = bins + 1); 0 without purchases."""
        n = len(population)
        side = self.policy.bins + 1
        days = [-1 if last is None else (as_of - last).days for last in lasts]
        if use_numpy(n) and side < 2**20:
            import numpy as np

            from custrec.grading import _numeric

            day_array = _numeric.ints(days, n)
            counts = _numeric.ints(map(_COUNT, population), n)
            negated = np.array([-cut for cut in self.recency_cuts], dtype=np.int64)
            r = 1 + np.searchsorted(negated, -day_array, "right")
            f = 1 + np.searchsorted(np.array(self.frequency_cuts, dtype=np.int64), counts, "right")
            totals = list(map(_TOTAL, population))
            floats = self._fitted_floats(totals)
            if floats is None:
                # A handful of cuts: bisecting the amounts beats converting them to floats.
                monetary = map(functools.partial(bisect_right, self.monetary_cuts), totals)
                m = 1 + _numeric.ints(monetary, n)
            else:
                cuts = self.monetary_cuts
                m = 1 + _numeric.count_le(
                    cuts, _numeric.floats(cuts), totals, np.array(floats, dtype=np.float64)
                )
            code_array = (r * side + f) * side + m
            code_array[day_array < 0] = 0
            codes: list[int] = code_array.tolist()
            return codes
        r_of = {d: 1 + bisect_right(self.recency_cuts, -d, key=operator.neg) for d in set(days)}
        counts_list = list(map(_COUNT, population))
        f_of = {c: 1 + bisect_right(self.frequency_cuts, c) for c in set(counts_list)}
        m_list = self._monetary(list(map(_TOTAL, population)))
        return [
            0 if d < 0 else (r_of[d] * side + f_of[c]) * side + 1 + m
            for d, c, m in zip(days, counts_list, m_list, strict=True)
        ]

    def _monetary(self, totals: list[Decimal]) -> list[int]:
        """``bisect_right(monetary_cuts, total)`` for each total."""
        cuts = self.monetary_cuts
        floats = self._fitted_floats(totals)
        if floats is None:  # a handful of cuts: bisecting beats converting to floats
            return list(map(functools.partial(bisect_right, cuts), totals))
        # Floats order as the amounts do, so a float that equals no cut's float decides; one
        # that equals a cut's may stand for a larger or smaller amount: compare those exactly.
        float_cuts = tuple(map(float, cuts))
        found = list(map(functools.partial(bisect_right, float_cuts), floats))
        for i in compress(range(len(floats)), map(set(float_cuts).__contains__, floats)):
            found[i] = bisect_right(cuts, totals[i])
        return found

    def _fitted_floats(self, totals: list[Decimal]) -> list[float] | None:
        """The floats of ``totals`` when they are the fitted input's amounts (kept by fit)."""
        known = self._fitted_input
        if known is None or len(totals) != len(known[0]) or tuple(totals) != known[0]:
            return None
        return known[1]

    def grade(self, summary: ActivitySummary, *, as_of: datetime) -> Grade:
        """Score ``summary`` against the frozen cut points and name its segment.

        Raises ``ValueError`` for a naive ``as_of`` or purchases after it, and
        :class:`~custrec.grading.MixedCurrencies` for another currency than the population's.
        """
        check_graded(summary, as_of, self.currency)
        policy = self.policy
        bins = policy.bins
        last = summary.last_purchase_at
        if last is None:
            reasons = [
                "no purchases: not part of the fitted population; R=F=M=1",
                self._population_text,
            ]
            return Grade(
                label=policy.no_purchase_label,
                score=1.0,
                components={"R": 1, "F": 1, "M": 1},
                reasons=reasons,
                policy_id=policy.policy_id,
                as_of=as_of,
            )
        days = (as_of - last).days
        r, f, m = self.scores(summary, as_of=as_of)
        label, why = policy.segment(r, f, m)
        count = summary.purchase_count
        recency_texts, frequency_texts, monetary_texts = self._cut_texts
        purchases = "1 purchase" if count == 1 else f"{count} purchases"
        spent = f"total_spent {fmt_number(summary.total_spent)}"
        reasons = [
            _between(r, bins, f"{days} days since last purchase", recency_texts, "<=", ">", "R"),
            _between(f, bins, purchases, frequency_texts, ">=", "<", "F"),
            _between(m, bins, spent, monetary_texts, ">=", "<", "M"),
            why,
            self._population_text,
        ]
        if as_of != self.fitted_as_of:
            reasons.append(
                f"graded as of {instant(as_of)}: recency measured then, cuts as fitted on "
                f"{instant(self.fitted_as_of)}"
            )
        return Grade(
            label=label,
            score=(r + f + m) / 3,
            components={"R": r, "F": f, "M": m},
            reasons=reasons,
            policy_id=policy.policy_id,
            as_of=as_of,
        )
