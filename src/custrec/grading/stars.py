"""Stars 1-5 from a weighted mix of amount, frequency and potential, fitted on a population.

For a population of n customers (every summary, prospects included):

- amount ``a`` = ``#{population: total_spent <= own} / n``, or 0 when the own total is not positive;
- frequency ``q`` = ``#{population: purchase_count <= own} / n``, or 0 without purchases;
- potential ``p`` in [0, 1] from a callable ``(summary) -> float`` or a mapping
  ``customer_id -> float`` (a customer missing from the mapping has potential 0);
- combined ``s = (wa * a + wq * q + wp * p) / (wa + wq + wp)``, in [0, 1];
- stars = 1 + the number of ``cuts`` (four, strictly increasing, in (0, 1]) with ``cut <= s``.

Amount and frequency are percentile ranks, so they depend on the population: :meth:`fit` freezes
the sorted totals and counts. All arithmetic is exact (fractions), so a customer exactly on a cut
gets the higher star.

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from custrec.grading import ActivitySummary
>>> at = datetime(2024, 6, 30, tzinfo=UTC)
>>> def s(cid, count, total):
...     return ActivitySummary(customer_id=cid, first_purchase_at=at, last_purchase_at=at,
...                            purchase_count=count, total_spent=Decimal(total))
>>> pop = [s("a", 10, 5000), s("b", 2, 800), s("c", 1, 100), s("d", 1, 50)]
>>> policy = StarPolicy(amount_weight=0.5, frequency_weight=0.3, potential_weight=0.2,
...                     potential={"c": 1.0})
>>> fitted = policy.fit(pop, as_of=at)
>>> g = fitted.grade(pop[2], as_of=at)  # 0.5 * 2/4 + 0.3 * 2/4 + 0.2 * 1 = 0.6
>>> g.label, g.score
('4 stars', 0.6)
"""

from __future__ import annotations

import functools
import itertools
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from itertools import compress, repeat
from operator import add, attrgetter, gt, mul, truediv
from types import ModuleType
from typing import Any, Final, NamedTuple

import attrs

from custrec.grading._common import (
    FrozenMap,
    callable_name,
    exact,
    fmt_compared,
    fmt_fraction,
    fmt_number,
    instant,
)
from custrec.grading._engine import use_numpy
from custrec.grading._order import (
    counts_at_most,
    scaled_amount,
    scaled_integers,
    sorted_amounts,
)
from custrec.grading._population import check_graded, check_many, collect_population
from custrec.grading.model import Grade, Grades
from custrec.grading.summary import ActivitySummary

__all__ = ["STAR_LABELS", "FittedStarPolicy", "PotentialSource", "StarPolicy"]

PotentialSource = Callable[[ActivitySummary], float] | Mapping[str, float]
"""Where a customer's potential (0..1) comes from: a callable or a customer-id mapping."""

STAR_LABELS: Final = ("1 star", "2 stars", "3 stars", "4 stars", "5 stars")

_ZERO: Final = Decimal(0)
_FLOAT_EXACT: Final = 2**53  # integers below this convert to floats exactly (and sort faster)
_TOTAL: Final = attrgetter("total_spent")
_COUNT: Final = attrgetter("purchase_count")


def _tuple(value: Iterable[object]) -> tuple[object, ...]:
    if isinstance(value, str | bytes):
        raise TypeError("expected a sequence, not a string")
    return tuple(value)


@attrs.frozen(kw_only=True)
class StarPolicy:
    """Stars by the exact definition in the module docstring; call :meth:`fit` to grade.

    Weights are non-negative numbers with a positive sum (they are normalised by that sum). A
    positive ``potential_weight`` needs ``potential``; a ``potential`` with weight 0 is rejected
    as a likely mistake. A callable potential is named in ``policy_id`` by ``potential_name`` or
    its ``__name__``; a mapping by ``potential_name`` or ``"mapping"``. ``cuts`` are the four
    combined-score thresholds for 2, 3, 4 and 5 stars; ``labels`` the five labels.
    """

    amount_weight: float = 0.6
    frequency_weight: float = 0.4
    potential_weight: float = 0.0
    potential: PotentialSource | None = None
    potential_name: str | None = None
    cuts: tuple[float, ...] = attrs.field(default=(0.2, 0.4, 0.6, 0.8), converter=_tuple)
    labels: tuple[str, ...] = attrs.field(default=STAR_LABELS, converter=_tuple)
    _weights: tuple[Fraction, Fraction, Fraction] = attrs.field(init=False, repr=False, eq=False)
    _exact_cuts: tuple[Fraction, ...] = attrs.field(init=False, repr=False, eq=False)
    _source: str = attrs.field(init=False, repr=False, eq=False)
    _policy_id: str = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        raw = (self.amount_weight, self.frequency_weight, self.potential_weight)
        names = ("amount_weight", "frequency_weight", "potential_weight")
        weights = tuple(exact(w, name) for w, name in zip(raw, names, strict=True))
        if any(w < 0 for w in weights):
            raise ValueError("weights must be >= 0")
        total = sum(weights, Fraction(0))
        if total == 0:
            raise ValueError("at least one weight must be positive")
        potential = self.potential
        source = ""
        if potential is None:
            if weights[2] > 0:
                raise ValueError("potential_weight > 0 needs a potential callable or mapping")
            if self.potential_name is not None:
                raise ValueError("potential_name needs a potential")
        else:
            if weights[2] == 0:
                raise ValueError("a potential is given but potential_weight is 0")
            if isinstance(potential, Mapping):
                cleaned: dict[str, float] = {}
                for key, value in potential.items():
                    if not isinstance(key, str):
                        raise TypeError("potential mapping keys must be customer ids (str)")
                    if not 0 <= exact(value, f"potential of {key}") <= 1:
                        raise ValueError(f"potential of {key} must lie in [0, 1]")
                    cleaned[key] = value
                object.__setattr__(self, "potential", FrozenMap(cleaned))
                source = self.potential_name if self.potential_name is not None else "mapping"
                if not isinstance(source, str) or not source:
                    raise ValueError("potential_name must be a non-empty string")
            elif callable(potential):
                source = callable_name(potential, self.potential_name, "potential")
            else:
                raise TypeError("potential must be a callable (summary) -> float or a mapping")
        if len(self.cuts) != 4:
            raise ValueError(f"need 4 cuts (for 2..5 stars), got {len(self.cuts)}")
        cuts = tuple(exact(c, "each cut") for c in self.cuts)
        if not all(0 < c <= 1 for c in cuts):
            raise ValueError("cuts must lie in (0, 1]")
        if any(a >= b for a, b in itertools.pairwise(cuts)):
            raise ValueError("cuts must be strictly increasing")
        if len(self.labels) != 5:
            raise ValueError(f"need 5 labels, got {len(self.labels)}")
        if not all(isinstance(label, str) and label for label in self.labels):
            raise ValueError("labels must be non-empty strings")
        if len(set(self.labels)) != 5:
            raise ValueError("labels must be distinct")
        shown = ",".join(
            f"{name}:{fmt_fraction(w, 6)}"
            for name, w in zip(("amount", "frequency", "potential"), weights, strict=True)
        )
        policy_id = f"stars:weights={shown}:cuts={'/'.join(fmt_fraction(c, 6) for c in cuts)}"
        if source:
            policy_id += f":potential={source}"
        object.__setattr__(self, "_weights", tuple(w / total for w in weights))
        object.__setattr__(self, "_exact_cuts", cuts)
        object.__setattr__(self, "_source", source)
        object.__setattr__(self, "_policy_id", policy_id)

    def _integer_weights(self) -> tuple[int, int, int]:
        """``(ka, kq, scale)``: the amount and frequency weights are ``ka / scale`` and
        ``kq / scale`` (the potential's is ignored)."""
        wa, wq, _ = self._weights
        scale = math.lcm(wa.denominator, wq.denominator)
        return int(wa * scale), int(wq * scale), scale

    @property
    def policy_id(self) -> str:
        """``stars:weights=amount:<w>,frequency:<w>,potential:<w>:cuts=<c1/../c4>[:potential=<src>]``."""
        return self._policy_id

    @property
    def ranking(self) -> tuple[str, ...]:
        """The labels best first: 5 stars down to 1."""
        return self.labels[::-1]

    def potential_of(self, summary: ActivitySummary) -> Fraction | None:
        """The customer's potential as an exact fraction; ``None`` if the mapping lacks it.

        Raises ``ValueError`` when a callable returns something outside [0, 1].
        """
        potential = self.potential
        if potential is None:
            return Fraction(0)
        if isinstance(potential, Mapping):
            value = potential.get(summary.customer_id)
            return None if value is None else exact(value, "potential")
        result = exact(potential(summary), f"potential from {self._source}")
        if not 0 <= result <= 1:
            raise ValueError(f"potential from {self._source} must lie in [0, 1], got {result}")
        return result

    def fit(self, summaries: Iterable[ActivitySummary], *, as_of: datetime) -> FittedStarPolicy:
        """Freeze the population's sorted totals and purchase counts.

        Raises ``ValueError`` for an empty population, a repeated customer id, a naive ``as_of``
        or purchases after it; :class:`~custrec.grading.MixedCurrencies` for mixed currencies.
        """
        population, currency, _ = collect_population(summaries, as_of)
        if not population:
            raise ValueError("cannot fit a star policy on an empty population")
        n = len(population)
        numeric = use_numpy(n)
        totals_all = tuple(map(_TOTAL, population))
        scaled = scaled_integers(totals_all)
        counts_all = tuple(map(_COUNT, population))
        del population
        scale: int | None = None
        arrays: tuple[Any, Any] | None = None
        ranks: tuple[Any, Any] | None = None
        weights = self._integer_weights()
        tables: list[_Table | None] = [None, None]  # see FittedStarPolicy._table
        if scaled is not None:  # integer keys order and compare exactly as the amounts
            keys, scale = scaled
            totals: tuple[Decimal, ...] | tuple[int, ...]
            columns = (
                (_numeric().int64_column(keys), _numeric().int64_column(counts_all))
                if numeric
                else (None, None)
            )
            if columns[0] is not None and columns[1] is not None:
                ordered_totals, amount_ranks = _numeric().sorted_with_ranks(columns[0])
                ordered_counts, frequency_ranks = _numeric().sorted_with_ranks(columns[1])
                arrays = (ordered_totals, ordered_counts)
                ranks = (amount_ranks, frequency_ranks)
                totals = tuple(ordered_totals.tolist())
            else:
                totals, tables[0] = _sorted_with_table(keys, weights[0])
        else:
            totals = tuple(sorted_amounts(totals_all))
        if arrays is None:
            counts, tables[1] = _sorted_with_table(counts_all, weights[1])
        else:
            counts = tuple(arrays[1].tolist())
        fitted = FittedStarPolicy(
            policy=self,
            fitted_as_of=as_of,
            population_size=n,
            currency=currency,
            totals=totals,
            scale=scale,
            counts=counts,
        )
        if scaled is not None:
            fitted_input = _FittedInput(totals_all, scaled[0], counts_all, ranks)
            object.__setattr__(fitted, "_fitted_input", fitted_input)
        object.__setattr__(fitted, "_arrays", arrays)
        object.__setattr__(fitted, "_tables", tables)
        return fitted


class _FittedInput(NamedTuple):
    """What fit() learnt about its input, to grade that same population without searching."""

    totals: tuple[Decimal, ...]
    keys: list[int]  # the totals on the fitted integer scale
    counts: tuple[int, ...]
    ranks: tuple[Any, Any] | None  # amount and frequency ranks (int64 arrays), numpy only


@attrs.frozen(kw_only=True)
class FittedStarPolicy:
    """A :class:`StarPolicy` fitted on a population; made by :meth:`StarPolicy.fit`.

    Score = the combined score s (0..1); components are ``stars``, ``amount``, ``frequency``,
    ``potential`` and ``combined``. Grading at another ``as_of`` than the fitting instant is
    allowed (stars do not depend on time) and mentioned in the reasons.
    """

    policy: StarPolicy
    fitted_as_of: datetime
    population_size: int
    currency: str | None
    # The fitted totals, ascending: as integers (amount * 10**scale) when every amount is an
    # integer at that scale, else as Decimals (scale None).
    _totals: tuple[Decimal, ...] | tuple[int, ...] = attrs.field(repr=False)
    _scale: int | None = attrs.field(repr=False)
    _counts: tuple[int, ...] = attrs.field(repr=False)
    # Set by fit(), never compared: the fitted input's totals, their integer keys and ranks, so
    # grading the fitted population right after fit does not convert or search again.
    _fitted_input: _FittedInput | None = attrs.field(init=False, default=None, eq=False, repr=False)
    # The integer totals and the counts as int64 arrays, for the numpy kernels (built once).
    _arrays: tuple[Any, Any] | None = attrs.field(init=False, default=None, eq=False, repr=False)
    # For the integer totals and the counts: each fitted value's weighted rank (see _table),
    # built by fit() or on first use.
    _tables: list[_Table | None] = attrs.field(
        init=False, factory=lambda: [None, None], eq=False, repr=False
    )

    @property
    def policy_id(self) -> str:
        """The unfitted policy's id."""
        return self.policy.policy_id

    @property
    def ranking(self) -> tuple[str, ...]:
        """The unfitted policy's ranking (labels best first)."""
        return self.policy.ranking

    def grade_many(self, summaries: Iterable[ActivitySummary], *, as_of: datetime) -> Grades:
        """Grade every summary at ``as_of``: labels and scores column-wise, grades on reading.

        The result equals ``[self.grade(s, as_of=as_of) for s in summaries]`` element by element
        and raises what :meth:`grade` raises (checks first, for the first summary in order).
        """
        population = list(summaries)
        check_many(population, as_of, self.currency)
        policy = self.policy
        if policy.potential is not None:  # per-customer potentials: the exact one-by-one path
            grades = [self.grade(s, as_of=as_of) for s in population]
            return Grades(
                self, population, as_of, [g.label for g in grades], [g.score for g in grades]
            )
        n = self.population_size
        # combined = (amount_rank * wa + frequency_rank * wq) / n, exactly, as integers over
        # n * scale; a cut c is reached when the numerator >= ceil(c * n * scale).
        ka, kq, scale = policy._integer_weights()
        whole = n * scale
        thresholds = [math.ceil(cut * whole) for cut in policy._exact_cuts]
        labels = policy.labels
        totals = tuple(map(_TOTAL, population))
        keys = self._integer_keys(totals)
        # Exact in float64 while every numerator and the denominator stay below 2**53.
        if use_numpy(len(population)) and (ka + kq) * n < 2**53 and whole < 2**53:
            import numpy as np

            kernels = _numeric()
            counts = tuple(map(_COUNT, population))
            known = self._fitted_input
            fitted: tuple[int, ...] = self._totals  # type: ignore[assignment]
            if (
                known is not None
                and known.ranks is not None
                and keys is known.keys
                and counts == known.counts
            ):  # the fitted population itself: its ranks are known from fit
                x = known.ranks[0] * ka + known.ranks[1] * kq
            elif (
                keys is not None
                and kernels.fits_int64((fitted[0], fitted[-1], self._counts[-1]))
                and kernels.fits_int64(keys)
                and kernels.fits_int64(counts)
            ):
                arrays = self._arrays
                if arrays is None:
                    arrays = (kernels.ints(fitted, n), kernels.ints(self._counts, n))
                    object.__setattr__(self, "_arrays", arrays)
                x = kernels.star_numerators(*arrays, keys, counts, ka, kq)
            else:
                size = len(population)
                amounts = self._amount_ranks(totals, keys, ka)
                frequencies = self._count_ranks(counts, kq)
                x = kernels.ints(amounts, size) + kernels.ints(frequencies, size)
            stars = np.searchsorted(np.array(thresholds, dtype=np.int64), x, "right")
            scores: list[float] = (x.astype(np.float64) / float(whole)).tolist()
            return Grades(self, population, as_of, kernels.take(labels, stars), scores)
        amounts = self._amount_ranks(totals, keys, ka)
        frequencies = self._count_ranks(tuple(map(_COUNT, population)), kq)
        numerators = list(map(add, amounts, frequencies))
        stars_of = map(functools.partial(bisect_right, thresholds), numerators)
        return Grades(
            self,
            population,
            as_of,
            list(map(labels.__getitem__, stars_of)),
            list(map(truediv, numerators, repeat(whole))),
        )

    def _amount_key(self, total: Decimal) -> Decimal:
        """``total`` on the scale of the fitted totals (exact; compares with them exactly)."""
        return total if self._scale is None else scaled_amount(total, self._scale)

    def _integer_keys(self, totals: tuple[Decimal, ...]) -> list[int] | None:
        """The totals on the fitted integer scale; ``None`` for Decimal totals or finer amounts."""
        scale = self._scale
        if scale is None:
            return None
        known = self._fitted_input
        if known is not None and totals == known.totals:
            return known.keys
        scaled = scaled_integers(totals, scale)
        return None if scaled is None else scaled[0]

    def _amount_ranks(
        self, totals: tuple[Decimal, ...], keys: list[int] | None, weight: int
    ) -> list[int]:
        """For each total: ``weight`` x how many fitted totals are at most it when positive, else
        0."""
        fitted = self._totals
        scale = self._scale
        if keys is None:  # Decimal totals, or amounts finer than the fitted scale
            ordered = [scaled_amount(k, -scale) for k in fitted] if scale is not None else fitted
            positive = map(gt, totals, repeat(_ZERO))
            ranks = map(mul, positive, counts_at_most(ordered, totals))  # type: ignore[arg-type]
            return list(map(mul, ranks, repeat(weight)))
        ints: tuple[int, ...] = fitted  # type: ignore[assignment]
        return _weighted_ranks(ints, self._table(0, ints, weight), keys, weight)

    def _count_ranks(self, counts: Sequence[int], weight: int) -> list[int]:
        """For each count: ``weight`` x how many fitted counts are at most it when positive."""
        return _weighted_ranks(self._counts, self._table(1, self._counts, weight), counts, weight)

    def _table(self, which: int, fitted: tuple[int, ...], weight: int) -> dict[int, int]:
        """Each value of the ascending integer totals (``which`` 0) or counts (1): ``weight *
        bisect_right(fitted, value)``, or 0 when it is not positive (kept for the next call)."""
        kept = self._tables[which]
        if kept is not None and kept.weight == weight:
            return kept.table
        table = dict(zip(fitted, _times(range(1, len(fitted) + 1), weight), strict=True))
        for value in fitted[: bisect_right(fitted, 0)]:
            table[value] = 0
        self._tables[which] = _Table(weight, table)
        return table

    def grade(self, summary: ActivitySummary, *, as_of: datetime) -> Grade:
        """Grade ``summary`` against the frozen population; every contribution is explained.

        Raises ``ValueError`` for a naive ``as_of``, purchases after it or a potential outside
        [0, 1]; :class:`~custrec.grading.MixedCurrencies` for another currency.
        """
        check_graded(summary, as_of, self.currency)
        policy = self.policy
        n = self.population_size
        wa, wq, wp = policy._weights
        reasons: list[str] = []

        total = summary.total_spent
        if total > 0:
            below = bisect_right(self._totals, self._amount_key(total))
            amount = Fraction(below, n)
            why = f"{below} of {n} fitted customers spent no more"
        else:
            amount = Fraction(0)
            why = "not positive"
        reasons.append(
            f"amount: total_spent {fmt_number(total)} ({why}) -> {fmt_fraction(amount)} "
            f"x weight {fmt_fraction(wa)} = {fmt_fraction(amount * wa)}"
        )

        count = summary.purchase_count
        if count > 0:
            below = bisect_right(self._counts, count)
            frequency = Fraction(below, n)
            why = f"{below} of {n} fitted customers bought no more often"
        else:
            frequency = Fraction(0)
            why = "no purchases"
        noun = "purchase" if count == 1 else "purchases"
        reasons.append(
            f"frequency: {count} {noun} ({why}) -> {fmt_fraction(frequency)} "
            f"x weight {fmt_fraction(wq)} = {fmt_fraction(frequency * wq)}"
        )

        potential = policy.potential_of(summary)
        if policy.potential is not None:
            if potential is None:
                potential = Fraction(0)
                reasons.append(f"potential: no entry in {policy._source} -> 0")
            else:
                reasons.append(
                    f"potential: {fmt_fraction(potential)} from {policy._source} "
                    f"x weight {fmt_fraction(wp)} = {fmt_fraction(potential * wp)}"
                )
        assert potential is not None

        combined = amount * wa + frequency * wq + potential * wp
        k = bisect_right(policy._exact_cuts, combined)
        if k > 0:
            cut = fmt_fraction(policy._exact_cuts[k - 1], 6)
            text = fmt_compared(combined, cut)
            reasons.append(f"combined {text} >= {cut} (cut for {policy.labels[k]})")
        if k < 4:
            cut = fmt_fraction(policy._exact_cuts[k], 6)
            text = fmt_compared(combined, cut)
            reasons.append(f"combined {text} < {cut} (cut for {policy.labels[k + 1]})")
        reasons.append(f"fitted as of {instant(self.fitted_as_of)} on {n} customers")
        if as_of != self.fitted_as_of:
            reasons.append(f"graded as of {instant(as_of)}")
        return Grade(
            label=policy.labels[k],
            score=float(combined),
            components={
                "stars": k + 1,
                "amount": float(amount),
                "frequency": float(frequency),
                "potential": float(potential),
                "combined": float(combined),
            },
            reasons=reasons,
            policy_id=policy.policy_id,
            as_of=as_of,
        )


def _numeric() -> ModuleType:
    """The numpy kernels, imported on first use (numpy is an optional extra)."""
    from custrec.grading import _numeric as kernels

    return kernels


class _Table(NamedTuple):
    """Weighted ranks of fitted values: see :meth:`FittedStarPolicy._table`."""

    weight: int
    table: dict[int, int]


def _sorted_with_table(values: Sequence[int], weight: int) -> tuple[tuple[int, ...], _Table]:
    """``sorted(values)`` and its weighted ranks (:meth:`FittedStarPolicy._table`), by counting
    equal values: fewer to sort."""
    tally = Counter(values)
    if tally and max(tally) < _FLOAT_EXACT and min(tally) > -_FLOAT_EXACT:
        distinct = sorted(tally, key=float)  # the same order; floats compare faster
    else:
        distinct = sorted(tally)
    sizes = list(map(tally.__getitem__, distinct))
    ordered = tuple(itertools.chain.from_iterable(map(repeat, distinct, sizes)))
    table = dict(zip(distinct, _times(itertools.accumulate(sizes), weight), strict=True))
    for value in itertools.islice(distinct, bisect_right(distinct, 0)):
        table[value] = 0
    return ordered, _Table(weight, table)


def _times(values: Iterable[int], weight: int) -> Iterable[int]:
    """Each value times ``weight``."""
    return values if weight == 1 else map(mul, values, repeat(weight))


def _weighted_ranks(
    fitted: tuple[int, ...], table: dict[int, int], values: Sequence[int], weight: int
) -> list[int]:
    """``weight * bisect_right(fitted, v)`` for each ``v`` above 0, 0 for the others.

    ``table`` holds that for every fitted value: values the population lacks are bisected.
    """
    try:
        return list(map(table.__getitem__, values))  # the fitted population itself
    except KeyError:
        pass
    found = list(map(table.get, values, repeat(-1)))
    for i in compress(range(len(found)), map(gt, repeat(0), found)):
        value = values[i]
        found[i] = weight * bisect_right(fitted, value) if value > 0 else 0
    return found
