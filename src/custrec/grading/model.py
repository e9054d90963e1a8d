"""Grades and the grading protocols.

A policy turns an :class:`~custrec.grading.ActivitySummary` into a :class:`Grade` at an instant
``as_of``. Policies whose cut points depend on the population (RFM, Pareto ABC, stars) are first
*fitted* on a population at a stated instant; fitting freezes what grading needs, so grading one
customer afterwards is deterministic and its reasons can cite the cut points and the population.

Any object with a ``policy_id`` and a ``grade`` method is a policy; nothing needs subclassing:

>>> from datetime import UTC, datetime
>>> from custrec.grading import ActivitySummary
>>> class Everyone:
...     policy_id = "everyone:v1"
...     def grade(self, summary: ActivitySummary, *, as_of: datetime) -> Grade:
...         return Grade(label="customer", score=None, components={}, reasons=("everyone is",),
...                      policy_id=self.policy_id, as_of=as_of)
>>> g = Everyone().grade(ActivitySummary.empty("c-1"), as_of=datetime(2024, 1, 1, tzinfo=UTC))
>>> g.label, g.components == {}
('customer', True)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol, TypeVar, overload

import attrs

from custrec._checks import aware
from custrec.grading._common import FrozenMap, instant
from custrec.grading.summary import ActivitySummary

__all__ = [
    "Component",
    "FittablePolicy",
    "FittedPolicy",
    "Grade",
    "Grades",
    "GradingPolicy",
    "grade_all",
]

Component = int | float | str
"""The type of one value in :attr:`Grade.components`."""


def _freeze_components(value: Mapping[str, Component]) -> Mapping[str, Component]:
    if isinstance(value, FrozenMap):
        return value
    return FrozenMap[str, Component](value)


def _reasons(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@attrs.frozen(kw_only=True)
class Grade:
    """The explained result of grading one customer.

    ``label`` is the grade ("A", "champions", "4 stars"); ``score`` a number for ordering when the
    policy defines one; ``components`` the policy's intermediate figures, stored as a read-only
    mapping that compares equal to a plain ``dict``; ``reasons`` human-readable sentences that
    explain the label; ``policy_id`` the producing policy; ``as_of`` the instant graded at
    (timezone-aware, else ``ValueError``).

    >>> from datetime import UTC, datetime
    >>> g = Grade(label="A", score=1.0, components={"R": 5}, reasons=["top"], policy_id="x",
    ...           as_of=datetime(2024, 1, 1, tzinfo=UTC))
    >>> g.components == {"R": 5}, g.reasons
    (True, ('top',))
    """

    label: str
    score: float | None
    components: Mapping[str, Component] = attrs.field(converter=_freeze_components)
    reasons: tuple[str, ...] = attrs.field(converter=_reasons)
    policy_id: str
    as_of: datetime = attrs.field(validator=aware())

    def explain(self) -> str:
        """The grade and its reasons as a few lines of text."""
        head = f"{self.label} ({self.policy_id}, as of {instant(self.as_of)})"
        return "\n".join([head, *(f"- {reason}" for reason in self.reasons)])


class GradingPolicy(Protocol):
    """Anything that grades one customer's summary at an instant.

    ``policy_id`` is a stable string naming the policy and its key parameters (``"rfm:bins=5"``);
    it is stored with every grade. ``grade`` must be deterministic given its arguments and must
    reject a naive ``as_of`` with ``ValueError``.
    """

    @property
    def policy_id(self) -> str:
        """Stable identifier including the key parameters."""
        ...

    def grade(self, summary: ActivitySummary, *, as_of: datetime) -> Grade:
        """Grade one customer at ``as_of``."""
        ...


class FittedPolicy(GradingPolicy, Protocol):
    """A policy fitted on a population: it also tells the population's size and as-of instant."""

    @property
    def population_size(self) -> int:
        """How many customers the cut points were computed from."""
        ...

    @property
    def fitted_as_of(self) -> datetime:
        """The instant the population was summarised and fitted at."""
        ...


FittedT_co = TypeVar("FittedT_co", bound=GradingPolicy, covariant=True)


class FittablePolicy(Protocol[FittedT_co]):
    """A population-relative policy: ``fit`` freezes cut points and returns a grading policy."""

    @property
    def policy_id(self) -> str:
        """Stable identifier including the key parameters (the fitted policy shares it)."""
        ...

    def fit(self, summaries: Iterable[ActivitySummary], *, as_of: datetime) -> FittedT_co:
        """Fit on a population summarised at ``as_of``."""
        ...


def grade_all(
    policy: GradingPolicy, summaries: Iterable[ActivitySummary], *, as_of: datetime
) -> dict[str, Grade]:
    """Grade every summary; the result is keyed by customer id, in input order.

    Raises ``ValueError`` if a customer id repeats.
    """
    grades: dict[str, Grade] = {}
    for summary in summaries:
        if summary.customer_id in grades:
            raise ValueError(f"customer {summary.customer_id} appears twice")
        grades[summary.customer_id] = policy.grade(summary, as_of=as_of)
    return grades


class Grades(Sequence[Grade]):
    """The grades of many summaries at one instant, in input order; made by ``grade_many``.

    ``labels`` and ``scores`` are computed for every summary at once (column-wise, on numpy when
    the ``numeric`` extra is installed). Each :class:`Grade`, with its components and reasons, is
    built when it is read, and equals ``policy.grade(summary, as_of=as_of)``.
    """

    __slots__ = ("_as_of", "_policy", "_summaries", "labels", "scores")

    labels: tuple[str, ...]
    """The label of each summary, in input order."""
    scores: tuple[float | None, ...]
    """The score of each summary, in input order."""

    def __init__(
        self,
        policy: GradingPolicy,
        summaries: Sequence[ActivitySummary],
        as_of: datetime,
        labels: Sequence[str],
        scores: Sequence[float | None],
    ) -> None:
        if not len(summaries) == len(labels) == len(scores):
            raise ValueError("summaries, labels and scores must have the same length")
        self._policy = policy
        self._summaries = summaries
        self._as_of = as_of
        self.labels = tuple(labels)
        self.scores = tuple(scores)

    @property
    def as_of(self) -> datetime:
        """The instant graded at."""
        return self._as_of

    @property
    def customer_ids(self) -> tuple[str, ...]:
        """The customer id of each summary, in input order."""
        return tuple(s.customer_id for s in self._summaries)

    def __len__(self) -> int:
        return len(self._summaries)

    @overload
    def __getitem__(self, index: int) -> Grade: ...

    @overload
    def __getitem__(self, index: slice) -> list[Grade]: ...

    def __getitem__(self, index: int | slice) -> Grade | list[Grade]:
        if isinstance(index, slice):
            return [self._grade(s) for s in self._summaries[index]]
        return self._grade(self._summaries[index])

    def __iter__(self) -> Iterator[Grade]:
        return map(self._grade, self._summaries)

    def _grade(self, summary: ActivitySummary) -> Grade:
        return self._policy.grade(summary, as_of=self._as_of)

    def __repr__(self) -> str:
        return f"<Grades of {len(self)} summaries by {self._policy.policy_id}>"
