"""Pareto (ABC) analysis: classes by cumulative share, fitted on a population.

Customers are sorted by ``total_spent`` descending, ties by ``customer_id`` ascending. For each
customer, the *share before it* is

- ``basis="value"``: the summed ``total_spent`` of the customers before it divided by the
  population's total value, the sum of every customer's ``total_spent`` (refunds included, so a
  refund-heavy customer with a negative total lowers it). If that total is not positive, the
  share before every customer is taken as 1.
- ``basis="customers"``: the number of customers before it divided by the population size.

A customer gets ``labels[i]`` for the first breakpoint ``i`` with ``share before < breakpoint``
and the last label when none applies: by default A below 0.80, B below 0.95, else C. The first
customer therefore is always A on the customers basis, and on the value basis when it has
positive value; a customer without positive value comes after all the value, so it is always in
the last class on the value basis.

A summary graded after fitting is *placed* in the frozen population by its ``(total_spent,
customer_id)``: the customers before it are the fitted customers that sort before that key. A
customer graded with the very summary it was fitted with gets exactly its in-population result;
any other summary (a new customer, or a member whose figures changed since the fit) is placed
among the fitted customers without displacing anyone, and the population's size and total value
stay those of the fit.

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from custrec.grading import ActivitySummary
>>> at = datetime(2024, 6, 30, tzinfo=UTC)
>>> def s(cid, total):
...     return ActivitySummary(customer_id=cid, first_purchase_at=at, last_purchase_at=at,
...                            purchase_count=1, total_spent=Decimal(total))
>>> pop = [s("a", 700), s("b", 200), s("c", 60), s("d", 40)]
>>> fitted = ParetoPolicy(basis="value").fit(pop, as_of=at)
>>> [fitted.grade(x, as_of=at).label for x in pop]  # shares before: 0, 0.7, 0.9, 0.96
['A', 'A', 'B', 'C']
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal, getcontext
from fractions import Fraction
from itertools import accumulate, compress, islice, pairwise, repeat
from math import ceil
from operator import attrgetter, eq, is_, lt, neg, not_, truediv
from types import ModuleType
from typing import Any, Final, Literal

import attrs

from custrec.grading._common import exact, fmt_fraction, fmt_number, instant
from custrec.grading._engine import use_numpy
from custrec.grading._order import plain_context, scaled_integers, sorted_by_amount
from custrec.grading._population import (
    check_graded,
    check_many,
    collect_population,
    raise_first_problem,
)
from custrec.grading._shares import FLOAT_EXACT, float_shares, integer_shares, redivide
from custrec.grading.model import Grade, Grades
from custrec.grading.summary import ActivitySummary

__all__ = ["Basis", "FittedParetoPolicy", "ParetoPolicy"]

Basis = Literal["value", "customers"]

_BASES: Final = ("value", "customers")
_ZERO: Final = Decimal(0)
_FLOAT_EXACT: Final = FLOAT_EXACT  # integers below this convert to floats exactly
_INT64_SUMS: Final = 2**62  # keys whose absolute values sum below this add up exactly in int64
_TOTAL: Final = attrgetter("total_spent")
_ID: Final = attrgetter("customer_id")


def _floats(value: Iterable[float]) -> tuple[float, ...]:
    if isinstance(value, str | bytes):
        raise TypeError("expected a sequence of numbers, not a string")
    return tuple(value)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str | bytes):
        raise TypeError("expected a sequence of labels, not a string")
    return tuple(value)


@attrs.frozen(kw_only=True)
class ParetoPolicy:
    """ABC analysis by cumulative share; ``basis`` (``"value"`` or ``"customers"``) is required.

    ``breakpoints`` are strictly increasing numbers in (0, 1] and ``labels`` has one more entry.
    See the module docstring for the exact definition. Call :meth:`fit` to get a grading policy.
    """

    basis: Basis
    breakpoints: tuple[float, ...] = attrs.field(default=(0.80, 0.95), converter=_floats)
    labels: tuple[str, ...] = attrs.field(default=("A", "B", "C"), converter=_strings)
    _exact_breakpoints: tuple[Fraction, ...] = attrs.field(init=False, repr=False, eq=False)
    _breakpoint_texts: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)
    _policy_id: str = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.basis not in _BASES:
            raise ValueError(
                f"basis must be 'value' (share of total value) or 'customers' (share of "
                f"customers), got {self.basis!r}"
            )
        if not self.breakpoints:
            raise ValueError("breakpoints must not be empty")
        points = tuple(exact(b, "each breakpoint") for b in self.breakpoints)
        if not all(0 < p <= 1 for p in points):
            raise ValueError("breakpoints must lie in (0, 1]")
        if any(a >= b for a, b in pairwise(points)):
            raise ValueError("breakpoints must be strictly increasing")
        if len(self.labels) != len(points) + 1:
            raise ValueError(
                f"need len(breakpoints) + 1 = {len(points) + 1} labels, got {len(self.labels)}"
            )
        if not all(isinstance(label, str) and label for label in self.labels):
            raise ValueError("labels must be non-empty strings")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be distinct")
        texts = tuple(fmt_fraction(p, 6) for p in points)
        labels = "/".join(self.labels)
        policy_id = f"pareto:basis={self.basis}:breakpoints={'/'.join(texts)}:labels={labels}"
        object.__setattr__(self, "_exact_breakpoints", points)
        object.__setattr__(self, "_breakpoint_texts", texts)
        object.__setattr__(self, "_policy_id", policy_id)

    @property
    def policy_id(self) -> str:
        """``pareto:basis=<basis>:breakpoints=<b1/b2...>:labels=<l1/l2...>``."""
        return self._policy_id

    @property
    def ranking(self) -> tuple[str, ...]:
        """The labels best first: the classes in order (A, B, C)."""
        return self.labels

    def fit(self, summaries: Iterable[ActivitySummary], *, as_of: datetime) -> FittedParetoPolicy:
        """Sort the population once and freeze ranks, cumulative values and class boundaries.

        Every summary counts, customers without purchases included (with value 0). Raises
        ``ValueError`` for an empty population, a repeated customer id, a naive ``as_of`` or
        purchases after ``as_of``; :class:`~custrec.grading.MixedCurrencies` for mixed currencies.
        """
        population, currency, _ = collect_population(summaries, as_of, unique_ids=True)
        n = len(population)
        if n == 0:
            raise ValueError("cannot fit a Pareto policy on an empty population")
        totals_all = tuple(map(_TOTAL, population))
        ids_all = tuple(map(_ID, population))
        # Sorted by (-total_spent, customer_id): by id, then stably by the negated total.
        order: Sequence[int] = range(n)
        if not all(map(lt, ids_all, islice(ids_all, 1, None))):  # not already strictly ascending
            order = sorted(order, key=ids_all.__getitem__)
            if any(map(eq, map(ids_all.__getitem__, order), map(ids_all.__getitem__, order[1:]))):
                raise_first_problem(population, as_of)  # a repeated id: say which, in order
        del population
        numeric = use_numpy(n)
        scaled = scaled_integers(totals_all) if plain_context() else None
        magnitude = 0 if scaled is None else sum(map(abs, scaled[0]))
        if magnitude >= 10 ** getcontext().prec:
            scaled = None  # sums could round in the Decimal context: keep the Decimal kernels
        ranked: tuple[Decimal, ...] | None = None  # the totals in order, when needed here
        # prefix[p] = the value of the first p customers, p in 0..n: Decimals, or the exact sums
        # of the integer keys (ints, floats below 2**53, or an int64 array from numpy).
        prefix: Any
        if scaled is not None:
            # Integer keys are exact: -key orders as the negated amount, and every partial sum
            # is exact, so the Decimal sum in any order is the total value.
            keys = scaled[0]
            if numeric and magnitude < _INT64_SUMS:
                order, prefix, negatives = _numeric().descending_prefix(keys, order)
            elif magnitude < _FLOAT_EXACT:
                # Below 2**53 the keys, and every sum of them, are exact as floats, which sort
                # and add faster than integers. Arrays of machine numbers: reading them in rank
                # order touches one row each, where a list touches an int or float object too.
                floats = list(map(float, keys))
                order = array("q", sorted(order, key=floats.__getitem__, reverse=True))
                column = array("d", floats)
                del floats
                negatives = sum(map(lt, keys, repeat(0)))
                prefix = tuple(accumulate(map(column.__getitem__, order), initial=0.0))
                del column
            else:
                order = sorted(order, key=keys.__getitem__, reverse=True)
                ordered_keys = list(map(keys.__getitem__, order))
                negatives = n - bisect_right(ordered_keys, 0, key=neg)  # descending keys
                prefix = tuple(accumulate(ordered_keys, initial=0))
            total_value = sum(totals_all, _ZERO)
        else:
            negated_all = list(map(neg, totals_all))
            if numeric:
                order = _numeric().stable_order(negated_all, order)
            else:
                order = sorted_by_amount(negated_all, order)
            del negated_all
            ranked = tuple(map(totals_all.__getitem__, order))
            negatives = sum(map(_ZERO.__gt__, totals_all))
            prefix = _decimal_prefix(ranked)
            total_value = prefix[-1]
        # Positions 0..rising-1 form the rising part of the prefix (non-negative totals); the
        # negative totals sort last and make it fall again.
        rising = n - negatives + 1
        if self.basis == "customers":
            if ranked is not None:  # added in the sorted order, as rounding may depend on it
                total_value = -sum((-t for t in ranked if t > 0), _ZERO)
            else:
                total_value = sum((t for t in totals_all if t > 0), _ZERO)
            boundaries = tuple(ceil(b * n) for b in self._exact_breakpoints)
        elif total_value > 0:
            # Shares never decrease along the rising part, so boundaries[k] = how many positions
            # p in 0..n have a share before < breakpoint k, and a position's class is
            # bisect_right(boundaries, p). The share before any negative total is >= 1, so the
            # boundaries lie in the rising part.
            if scaled is None:
                whole = Fraction(prefix[-1])
                cuts: list[Fraction] | list[int] = [b * whole for b in self._exact_breakpoints]
            else:  # integer sums: prefix < b * whole exactly when prefix < ceil(b * whole)
                whole = Fraction(int(prefix[-1]))
                cuts = [ceil(b * whole) for b in self._exact_breakpoints]
            if isinstance(prefix, tuple):
                boundaries = tuple(bisect_left(prefix, cut, 0, rising) for cut in cuts)
            else:
                boundaries = _numeric().first_at_least(prefix[:rising], cuts)
        else:
            boundaries = tuple(0 for _ in self._exact_breakpoints)
        fitted = FittedParetoPolicy(
            policy=self,
            fitted_as_of=as_of,
            population_size=n,
            currency=currency,
            total_value=total_value,
            input_ids=ids_all,
            input_totals=totals_all,
            order=tuple(order) if isinstance(order, range) else order,
            boundaries=boundaries,
        )
        if self.basis == "value":
            object.__setattr__(fitted, "_rising", rising)
            if scaled is not None:
                object.__setattr__(fitted, "_prefix_keys", prefix)
            else:
                object.__setattr__(fitted, "_prefix", prefix)
        return fitted


def _numeric() -> ModuleType:
    """The numpy kernels, imported on first use (numpy is an optional extra)."""
    from custrec.grading import _numeric as kernels

    return kernels


def _shares_of_integers(
    prefix: Sequence[int] | Sequence[float], numeric: bool, rising: int | None = None
) -> list[float]:
    """``float(Decimal(p) / Decimal(prefix[-1]))`` for each p, in the current Decimal context.

    ``prefix`` holds non-negative integers (ints, or floats below 2**53) with a positive last
    value that do not decrease up to index ``rising`` (default: the end) and do not increase
    after it. See :mod:`custrec.grading._shares`.
    """
    shares = _share_column(prefix, len(prefix) if rising is None else rising, numeric)
    return shares if isinstance(shares, list) else shares.tolist()


def _share_column(prefix: Any, rising: int, numeric: bool) -> Any:
    """:func:`_shares_of_integers` as a list, or as a float64 array on the numpy kernels."""
    if numeric and _numeric().fits_float(prefix):
        column, unsure = _numeric().shares(prefix, int(prefix[-1]))
        redivide(column, prefix, unsure)
        return column
    if not isinstance(prefix, Sequence):  # an int64 array, graded without numpy
        prefix = prefix.tolist()
    if prefix and type(prefix[0]) is not float:
        if not (min(prefix) >= 0 and max(prefix) < FLOAT_EXACT):
            return integer_shares(prefix)
        prefix = list(map(float, prefix))
    return float_shares(prefix, rising)


def _scatter(
    order: Sequence[int], boundaries: Sequence[int], labels: Sequence[str], scores: Sequence[float]
) -> tuple[list[str], list[float]]:
    """The label and score of each rank p at index ``order[p]``: rank p has the label
    ``labels[bisect_right(boundaries, p)]`` and the score ``scores[p]`` (which may run one
    longer)."""
    n = len(order)
    by_score = [0.0] * n
    for index, score in zip(order, scores, strict=False):
        by_score[index] = score  # each write a cache miss
    # The ranks of each label in one run; the largest run is the initial value.
    runs: list[tuple[str, int, int]] = []
    start = 0
    for label, end in zip(labels, (*boundaries, n), strict=True):
        end = min(end, n)
        if end > start:
            runs.append((label, start, end))
            start = end
    largest = max(runs, key=lambda run: run[2] - run[1])
    by_label = [largest[0]] * n
    for run in runs:
        if run is not largest:
            label, start, end = run
            for index in order[start:end]:
                by_label[index] = label
    return by_label, by_score


def _decimal_prefix(totals: Sequence[Decimal]) -> tuple[Decimal, ...]:
    """The value of the first p customers for p in 0..n, added in the Decimal context."""
    return tuple(accumulate(map(neg, map(neg, totals)), initial=_ZERO))


def _share_text(value: Decimal | float, breakpoint: str) -> str:
    """Six decimals, trailing zeros removed; more digits when rounding would hide the comparison."""
    text = format(value, ".6f").rstrip("0").rstrip(".")
    return str(value) if text == breakpoint else text


@attrs.frozen(kw_only=True)
class FittedParetoPolicy:
    """A :class:`ParetoPolicy` fitted on a population; made by :meth:`ParetoPolicy.fit`.

    Holds the population sorted by ``(total_spent desc, customer_id)``, the cumulative values and
    the class boundaries. ``score`` is the share before the customer (0..1); components are
    ``rank`` (1-based position; for a summary outside the population, the rank it would take),
    ``share_before`` and ``value_share`` (the customer's own value over the population's total
    value, 0 when that total is not positive).
    """

    policy: ParetoPolicy
    fitted_as_of: datetime
    population_size: int
    currency: str | None
    total_value: Decimal
    _input_ids: tuple[str, ...] = attrs.field(repr=False)
    _input_totals: tuple[Decimal, ...] = attrs.field(repr=False)
    # The input index of each rank: a tuple or an array('q'), or an int64 array from numpy.
    _order: Sequence[int] = attrs.field(repr=False, eq=False)
    _boundaries: tuple[int, ...]
    _population_text: str = attrs.field(init=False, repr=False, eq=False)
    # Derived from the fields above by fit() or on first use, never compared: the totals and ids
    # in rank order, the prefix values as exact sums of the scaled integer keys (ints, floats
    # below 2**53 or an int64 array) or as Decimals, where the prefix stops rising (the negative
    # totals come after), and the score of each rank (a list, or a float64 array).
    _ranked: tuple[tuple[Decimal, ...], tuple[str, ...]] | None = attrs.field(
        init=False, default=None, eq=False, repr=False
    )
    _prefix_keys: Any = attrs.field(init=False, default=None, eq=False, repr=False)
    _prefix: tuple[Decimal, ...] | None = attrs.field(
        init=False, default=None, eq=False, repr=False
    )
    _rising: int | None = attrs.field(init=False, default=None, eq=False, repr=False)
    _shares: tuple[tuple[int, str], Any] | None = attrs.field(
        init=False, default=None, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_population_text", self._describe_population())

    @property
    def policy_id(self) -> str:
        """The unfitted policy's id."""
        return self.policy.policy_id

    @property
    def ranking(self) -> tuple[str, ...]:
        """The unfitted policy's ranking (labels best first)."""
        return self.policy.ranking

    @property
    def class_sizes(self) -> dict[str, int]:
        """How many fitted customers each label got.

        >>> from datetime import UTC, datetime
        >>> from custrec.grading import ActivitySummary
        >>> pop = [ActivitySummary.empty(f"c-{i}") for i in range(10)]
        >>> at = datetime(2024, 1, 1, tzinfo=UTC)
        >>> ParetoPolicy(basis="customers").fit(pop, as_of=at).class_sizes
        {'A': 8, 'B': 2, 'C': 0}
        """
        n = self.population_size
        starts = (0, *self._boundaries)
        ends = (*self._boundaries, n)
        return {
            label: max(0, min(end, n) - min(start, n))
            for label, start, end in zip(self.policy.labels, starts, ends, strict=True)
        }

    def position(self, summary: ActivitySummary) -> int:
        """How many fitted customers sort before ``summary`` (total_spent desc, then id asc)."""
        key = -summary.total_spent
        totals, ids = self._in_rank_order()  # totals descend: their negations ascend
        lo = bisect_left(totals, key, key=neg)
        hi = bisect_right(totals, key, lo, key=neg)
        return bisect_left(ids, summary.customer_id, lo, hi)

    def _in_rank_order(self) -> tuple[tuple[Decimal, ...], tuple[str, ...]]:
        """The fitted totals and ids by rank (built on first use)."""
        ranked = self._ranked
        if ranked is None:
            order = self._order_list()
            ranked = (
                tuple(map(self._input_totals.__getitem__, order)),
                tuple(map(self._input_ids.__getitem__, order)),
            )
            object.__setattr__(self, "_ranked", ranked)
        return ranked

    def _decimal_prefix(self) -> tuple[Decimal, ...]:
        """The value of the first p fitted customers for p in 0..n, as Decimals."""
        prefix = self._prefix
        if prefix is None:
            prefix = _decimal_prefix(self._in_rank_order()[0])
            object.__setattr__(self, "_prefix", prefix)
        return prefix

    def _describe_population(self) -> str:
        labels = self.policy.labels
        n = self.population_size
        parts: list[str] = []
        start = 0
        for label, boundary in zip(labels, self._boundaries, strict=False):
            end = min(boundary, n)
            if end > start:
                last = self._input_totals[int(self._order[end - 1])]
                cut = fmt_number(neg(-last))  # the amount as negated for sorting
                parts.append(f"{label} = ranks {start + 1}-{end} (total_spent >= {cut})")
            else:
                parts.append(f"{label} = nobody")
            start = max(start, end)
        parts.append(
            f"{labels[-1]} = ranks {start + 1}-{n}" if start < n else f"{labels[-1]} = nobody"
        )
        currency = f" {self.currency}" if self.currency else ""
        return (
            f"fitted as of {instant(self.fitted_as_of)} on {n} customers "
            f"(total value {fmt_number(self.total_value)}{currency}): {'; '.join(parts)}"
        )

    def grade_many(self, summaries: Iterable[ActivitySummary], *, as_of: datetime) -> Grades:
        """Grade every summary at ``as_of``: labels and scores column-wise, grades on reading.

        The result equals ``[self.grade(s, as_of=as_of) for s in summaries]`` element by element
        and raises what :meth:`grade` raises (checks first, for the first summary in order).
        """
        population = list(summaries)
        check_many(population, as_of, self.currency)
        n = self.population_size
        if self._is_fitted_input(population):
            return self._grade_fitted_input(population, as_of)
        positions = self._positions(population)
        # The class of each position 0..n: labels[k] from boundaries[k - 1] up to boundaries[k].
        labels = self.policy.labels
        by_position: list[str] = []
        for label, end in zip(labels, (*self._boundaries, n + 1), strict=True):
            by_position += [label] * max(0, min(end, n + 1) - len(by_position))
        scores: list[float]
        if self.policy.basis == "customers":
            scores = list(map(truediv, positions, repeat(n)))
        elif self.total_value > 0:
            shares = self._value_shares(use_numpy(n))
            if not isinstance(shares, list):
                shares = shares.tolist()
            scores = list(map(shares.__getitem__, positions))
        else:
            scores = [1.0] * len(positions)
        return Grades(
            self, population, as_of, list(map(by_position.__getitem__, positions)), scores
        )

    def _is_fitted_input(self, population: list[ActivitySummary]) -> bool:
        """Whether ``population`` holds the fitted ids and totals in the fitted input order."""
        if len(population) != self.population_size:
            return False
        # Usually the very objects that were fitted: identity answers without comparing.
        ids, totals = map(_ID, population), map(_TOTAL, population)
        if all(map(is_, ids, self._input_ids)) and all(map(is_, totals, self._input_totals)):
            return True
        return (
            tuple(map(_ID, population)) == self._input_ids
            and tuple(map(_TOTAL, population)) == self._input_totals
        )

    def _grade_fitted_input(self, population: list[ActivitySummary], as_of: datetime) -> Grades:
        """:meth:`grade_many` of the fitted input: everyone at its rank, no search needed."""
        n = self.population_size
        numeric = use_numpy(n)
        scores: Any
        if self.policy.basis == "customers":
            scores = list(map(truediv, range(n), repeat(n)))
        elif self.total_value > 0:
            scores = self._value_shares(numeric)
        else:
            scores = [1.0] * n
        labels = self.policy.labels
        if numeric:
            by_label, by_score = _numeric().scatter_ranks(
                self._order, self._boundaries, labels, scores
            )
            return Grades(self, population, as_of, by_label, by_score)
        if not isinstance(scores, list):
            scores = scores.tolist()
        by_label, by_score = _scatter(self._order_list(), self._boundaries, labels, scores)
        return Grades(self, population, as_of, by_label, by_score)

    def _order_list(self) -> Sequence[int]:
        """The input index of each rank as Python ints (an array from numpy made a list)."""
        order = self._order
        return order if isinstance(order, Sequence) else order.tolist()

    def _positions(self, population: list[ActivitySummary]) -> list[int]:
        """:meth:`position` of each summary; a summary graded as fitted sits at its rank."""
        n = self.population_size
        totals, ids = self._in_rank_order()
        rank_of = dict(zip(ids, range(n), strict=True)).get
        positions = list(map(rank_of, map(_ID, population), repeat(n)))
        fitted = (*totals, None)  # None: not fitted, never equal
        as_fitted = map(eq, map(fitted.__getitem__, positions), map(_TOTAL, population))
        for i in compress(range(len(positions)), map(not_, as_fitted)):
            positions[i] = self.position(population[i])
        return positions

    def _value_shares(self, numeric: bool) -> Any:
        """``float(prefix[p] / total_value)`` for each position p in 0..n, divided in the current
        Decimal context (kept for the next call in the same context): a list, or a float64 array
        when computed on the numpy kernels."""
        context = getcontext()
        setting = (context.prec, context.rounding)
        cached = self._shares
        if cached is not None and cached[0] == setting:
            return cached[1]
        keys = self._prefix_keys
        shares: Any
        if keys is None or not plain_context():
            before = self._decimal_prefix()
            shares = list(map(float, map(truediv, before, repeat(self.total_value))))
        else:
            rising = len(keys) if self._rising is None else self._rising
            shares = _share_column(keys, rising, numeric)
        object.__setattr__(self, "_shares", (setting, shares))
        return shares

    def grade(self, summary: ActivitySummary, *, as_of: datetime) -> Grade:
        """Place ``summary`` in the fitted population and grade it (see the module docstring).

        ``as_of`` may differ from the fitting instant: the classes depend on amounts only, and
        the reasons then mention both instants. Raises ``ValueError`` for a naive ``as_of`` or
        purchases after it, :class:`~custrec.grading.MixedCurrencies` for another currency.
        """
        check_graded(summary, as_of, self.currency)
        policy = self.policy
        labels = policy.labels
        points = policy._breakpoint_texts
        n = self.population_size
        p = self.position(summary)
        k = bisect_right(self._boundaries, p)
        total_value = self.total_value
        own_value = summary.total_spent
        reasons = [
            f"rank {p + 1}: {p} of the {n} fitted customers sort before it "
            f"(total_spent {fmt_number(summary.total_spent)}; descending, ties by customer id)"
        ]
        exact_share: Decimal | float
        if policy.basis == "customers":
            share = exact_share = p / n
            reasons.append(f"share of customers before it: {p} / {n}")
        elif total_value > 0:
            before = self._decimal_prefix()[p]
            exact_share = before / total_value
            share = float(exact_share)
            reasons.append(
                f"share of value before it: {fmt_number(before)} / {fmt_number(total_value)}"
            )
            if own_value <= 0:
                reasons.append(
                    f"total_spent {fmt_number(summary.total_spent)} adds no value, so all value "
                    f"comes before it: always {labels[-1]}"
                )
        else:
            share = exact_share = 1.0
            reasons.append(
                "the fitted population has no positive value: the share before every customer "
                f"is taken as 1, so everyone is {labels[-1]}"
            )
        if k > 0:
            bp = points[k - 1]
            reasons.append(
                f"share before {_share_text(exact_share, bp)} >= {bp} "
                f"(breakpoint for {labels[k - 1]})"
            )
        if k < len(points):
            bp = points[k]
            reasons.append(
                f"share before {_share_text(exact_share, bp)} < {bp} (breakpoint for {labels[k]})"
            )
        reasons.append(self._population_text)
        if as_of != self.fitted_as_of:
            reasons.append(
                f"graded as of {instant(as_of)} against the population fitted as of "
                f"{instant(self.fitted_as_of)}"
            )
        value_share = float(own_value / total_value) if total_value > 0 else 0.0
        return Grade(
            label=labels[k],
            score=share,
            components={"rank": p + 1, "share_before": share, "value_share": value_share},
            reasons=reasons,
            policy_id=policy.policy_id,
            as_of=as_of,
        )
