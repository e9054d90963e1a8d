"""Grading every customer with a policy, and storing the grade (``registry.grading``)."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final, Unpack

import attrs

from custrec._checks import aware, check, positive_int
from custrec._log import get_logger, slow_batch
from custrec._progress import Progress, Reporter
from custrec.grading import ActivitySummary, FittablePolicy, Grade, Grades, GradingPolicy
from custrec.model.history import FieldChange
from custrec.model.records import DimensionGrade
from custrec.security import Action, Actor, Resource
from custrec.services._records import Records, holds_customer
from custrec.services.activities import ActivityService
from custrec.services.consent import ConsentService
from custrec.services.context import Context, Unit, check_actor
from custrec.services.facets import CustomerFacets, facet_filter
from custrec.services.results import GradeMove, MoveDirection, RegradeReport
from custrec.storage import HIDDEN_STATES, CustomerRow

__all__ = ["GradingService"]

_DIMENSION: Final = re.compile(r"[a-z][a-z0-9_]{0,62}")
_REFUSAL: Final = "the customer refused profiling (consent)"
_log: Final = get_logger(__name__)


class GradingService:
    """Grade every customer with a policy and store the grade (the primary one or one in a
    named dimension), with history and audit."""

    def __init__(
        self,
        context: Context,
        records: Records,
        activities: ActivityService,
        consent: ConsentService,
    ) -> None:
        self._context = context
        self._records = records
        self._activities = activities
        self._consent = consent

    def regrade(
        self,
        policy: GradingPolicy | FittablePolicy[GradingPolicy],
        *,
        as_of: datetime,
        actor: Actor,
        batch_size: int = 500,
        dimension: str | None = None,
        ranking: Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> RegradeReport:
        """Grade every customer with ``policy`` and store the grade.

        ``dimension`` ``None`` stores the primary grade (``Customer.grade``, history path
        ``grade``); a name (``[a-z][a-z0-9_]{0,62}``, not ``grade``) stores the customer's
        :class:`~custrec.model.records.DimensionGrade` in that dimension (label, policy id,
        ``graded_at`` = ``as_of``, the reasons as explanation; history path
        ``grades.<dimension>``) and leaves the primary grade and the other dimensions alone.

        Summaries come from ``registry.activities.summaries`` (customers without transactions get
        an empty summary). A population-relative policy (one with ``fit``) is fitted on all
        customers at ``as_of`` first; a policy with ``grade_many`` then grades everyone in one
        batch, and the explained grade is built only for the customers whose label changes. Each
        change of label is written to the customer's history (action ``grade``, old and new
        label; the reason is the policy id and, for the primary grade, the reasons) and audited;
        customers whose label does not change are not written (a dimension grade keeps the
        instant and explanation of when the customer got its label), so re-running with the same
        inputs changes nothing. Customers with purchases in several currencies are skipped (they
        keep their grade); customers who objected to profiling, withdrew their consent to it or
        restricted processing are left out of the fit and are not graded, and lose the grade they
        had (both reported). Erased customers are left alone.

        The report lists every move (before, after, direction, explanation): ``up``/``down`` by
        ``ranking`` (labels best first), else the fitted or given policy's ``ranking`` attribute,
        else ``changed``. Needs the ``grade`` right over all customers. ``ValueError`` for a bad
        dimension name or ranking.

        ``progress(customers_done)`` is called after each committed batch (the last call gives
        every customer looked at); a callback that raises stops the run after that batch, the
        batches before stay written.
        """
        actor = check_actor(actor)
        check("as_of", as_of, aware())
        check("batch_size", batch_size, positive_int())
        _check_dimension(dimension)
        order = None if ranking is None else _check_ranking(ranking, "ranking")
        by_customer: dict[str, list[ActivitySummary]] = {}
        for summary in self._activities.summaries(as_of=as_of, actor=actor):
            by_customer.setdefault(summary.customer_id, []).append(summary)
        mixed = [cid for cid, found in by_customer.items() if len(found) > 1]
        single = {cid: found[0] for cid, found in by_customer.items() if len(found) == 1}
        ids = sorted(single)
        # Who refused profiling is settled first: their purchases neither shape a fitted
        # policy's cut points nor get graded (they only lose a grade they had).
        refusing = self._refusing(ids, as_of, batch_size)
        population = {cid: summary for cid, summary in single.items() if cid not in refusing}
        fit = getattr(policy, "fit", None)
        if callable(fit) and mixed and not any(s.last_purchase_at for s in population.values()):
            raise ValueError(
                f"cannot fit {type(policy).__name__}: every customer with purchases "
                f"({len(mixed)}) buys in several currencies and is skipped; summarise and grade "
                "each currency separately (or convert first)"
            )
        fitted: GradingPolicy = (
            fit(population.values(), as_of=as_of) if callable(fit) else policy  # type: ignore[assignment]
        )
        if order is None:
            order = _policy_ranking(fitted, policy)
        # Everyone else is graded in one batch (labels only); a Grade with its reasons is built
        # only for the customers whose label changes.
        grade_of = _batch(fitted, list(population.values()), as_of)
        tally = _Tally(order)
        refused: list[str] = []
        reporter = Reporter(progress)
        for start in range(0, len(ids), batch_size):
            started = time.monotonic()
            now = self._context.now()
            with self._context.unit() as unit:
                for row in unit.session.customers.get_many(ids[start : start + batch_size]):
                    if row.state in HIDDEN_STATES:  # erased or merged since the summaries
                        continue
                    label: str | None
                    explain: Callable[[], str]
                    if row.id in refusing or self._consent.refuses_profiling(unit, row, as_of):
                        refused.append(row.id)
                        label, explain = None, _refusal
                    else:
                        label, grade = grade_of(row.id)
                        explain = _reasons_of(grade)
                    before = row.grade if dimension is None else _facet_label(row, dimension)
                    written = None
                    if label != before:
                        written = self._write(
                            unit,
                            row,
                            dimension,
                            label,
                            explain,
                            fitted.policy_id,
                            as_of,
                            actor,
                            now,
                        )
                    if written is None:
                        tally.stay(label)
                    else:
                        tally.move(row.id, written[0], label, written[1])
                unit.commit()
            done = len(ids[start : start + batch_size])
            slow_batch(_log, "regrade", started, done)
            reporter.add(done)
        reporter.finish()
        _log.info(
            "regrade with %s: %d graded, %d changed, %d refused profiling",
            fitted.policy_id,
            tally.graded,
            len(tally.moves),
            len(refused),
        )
        return RegradeReport(
            policy_id=fitted.policy_id,
            as_of=as_of,
            graded=tally.graded,
            changed=len(tally.moves),
            unchanged=tally.graded - len(tally.moves),
            skipped_mixed_currencies=tuple(sorted(mixed)),
            skipped_by_consent=tuple(refused),
            dimension=dimension,
            moves=tuple(tally.moves),
            counts=tally.counts(),
            upgrades=tally.directions["up"],
            downgrades=tally.directions["down"],
            transitions=tally.transitions(),
        )

    def _write(
        self,
        unit: Unit,
        row: CustomerRow,
        dimension: str | None,
        label: str | None,
        explain: Callable[[], str],
        policy_id: str,
        as_of: datetime,
        actor: Actor,
        now: datetime,
    ) -> tuple[str | None, str] | None:
        """Store ``label`` as the customer's grade (in ``dimension``), with history and audit;
        return the label before and the explanation, or ``None`` when the record held
        ``label`` already (its facets were behind)."""
        customer = self._records.customer(unit, row)
        if dimension is None:
            before, path = customer.grade, "grade"
        else:
            found = customer.grade_in(dimension)
            before, path = (None if found is None else found.label), f"grades.{dimension}"
        if label == before:
            return None
        why = explain()
        if dimension is None:
            new = attrs.evolve(customer, grade=label, updated_at=now)
            reason = why if label is None else f"{policy_id}: {why}"
        else:
            entry = None
            if label is not None:
                entry = DimensionGrade(
                    dimension=dimension,
                    label=label,
                    policy_id=policy_id,
                    graded_at=as_of,
                    explanation=why,
                )
            grades = _replaced(customer.grades, dimension, entry)
            new = attrs.evolve(customer, grades=grades, updated_at=now)
            # The explanation is personal: the history names the policy only.
            reason = why if label is None else policy_id
        unit.session.customers.update(self._records.row(unit, new), expected_version=row.version)
        change = FieldChange(path=path, old=before, new=label)
        unit.session.history.append(
            [self._records.history_entry(unit, row.id, change, actor, reason, now, action="grade")]
        )
        unit.audit(
            actor,
            "customer.grade",
            at=now,
            customer_id=row.id,
            fields=[path],
            reason=policy_id,
            change=True,
        )
        return before, why

    def _refusing(self, ids: list[str], as_of: datetime, batch_size: int) -> frozenset[str]:
        """The customers among ``ids`` who objected to, withdrew consent for, or restricted
        profiling at ``as_of`` (read in short read-only units of work, not audited: nothing
        leaves the service)."""
        found: set[str] = set()
        for start in range(0, len(ids), batch_size):
            with self._context.unit(readonly=True) as unit:
                for row in unit.session.customers.get_many(ids[start : start + batch_size]):
                    if row.state not in HIDDEN_STATES and self._consent.refuses_profiling(
                        unit, row, as_of
                    ):
                        found.add(row.id)
        return frozenset(found)

    def distribution(
        self, *, actor: Actor, **facets: Unpack[CustomerFacets]
    ) -> dict[str | None, int]:
        """How many of the customers matching the facets that the actor may read carry each
        grade (``None``: not graded), from the facets alone: nothing is decrypted or audited,
        as for ``registry.customers.count``."""
        actor = check_actor(actor)
        where = facet_filter(facets, fields=self._context.fields.cached())
        decide = self._context.policy.decide
        counts: Counter[str | None] = Counter()
        for row in self._context.scan(where, holds_customer):
            if decide(actor, Action.READ, Resource.of(row)).allowed:
                counts[row.grade] += 1
        return dict(counts)


def _batch(
    policy: GradingPolicy, summaries: list[ActivitySummary], as_of: datetime
) -> Callable[[str], tuple[str, Callable[[], Grade]]]:
    """Grade ``summaries`` at once when the policy has ``grade_many`` (one by one otherwise).

    Returns a look-up from customer id to the label and a function building the full grade.
    """
    grade_many = getattr(policy, "grade_many", None)
    if not callable(grade_many):

        def one(customer_id: str) -> tuple[str, Callable[[], Grade]]:
            grade = policy.grade(by_id[customer_id], as_of=as_of)
            return grade.label, lambda: grade

        by_id = {s.customer_id: s for s in summaries}
        return one
    grades: Grades = grade_many(summaries, as_of=as_of)
    index = {s.customer_id: i for i, s in enumerate(summaries)}
    labels = grades.labels

    def batched(customer_id: str) -> tuple[str, Callable[[], Grade]]:
        i = index[customer_id]
        return labels[i], lambda: grades[i]

    return batched


def _check_dimension(dimension: str | None) -> None:
    """``TypeError``/``ValueError`` unless ``dimension`` is ``None`` or a dimension name."""
    if dimension is None:
        return
    if not isinstance(dimension, str):
        raise TypeError("dimension must be a str or None")
    if _DIMENSION.fullmatch(dimension) is None:
        raise ValueError("dimension must be an identifier: [a-z][a-z0-9_]{0,62}")
    if dimension == "grade":
        raise ValueError("dimension 'grade' is reserved: pass None for the primary grade")


def _check_ranking(ranking: object, name: str) -> tuple[str, ...]:
    """``ranking`` as a tuple of distinct non-empty labels (``TypeError``/``ValueError``)."""
    if isinstance(ranking, str | bytes) or not isinstance(ranking, Sequence):
        raise TypeError(f"{name} must be a sequence of labels, best first")
    labels = tuple(ranking)
    if not all(isinstance(label, str) and label for label in labels):
        raise ValueError(f"{name} must hold non-empty str labels")
    if len(set(labels)) != len(labels):
        raise ValueError(f"{name} must not repeat a label")
    return labels


def _policy_ranking(*policies: object) -> tuple[str, ...] | None:
    """The first ``ranking`` attribute (labels best first) the policies have, else ``None``."""
    for policy in policies:
        ranking = getattr(policy, "ranking", None)
        if ranking is not None:
            return _check_ranking(ranking, f"the ranking of {type(policy).__name__}")
    return None


def _facet_label(row: CustomerRow, dimension: str) -> str | None:
    """The customer's label in ``dimension`` as the row's facets hold it."""
    prefix = f"grade.{dimension}="
    for facet in row.facets:
        if facet.startswith(prefix):
            return facet[len(prefix) :]
    return None


def _replaced(
    grades: tuple[DimensionGrade, ...], dimension: str, entry: DimensionGrade | None
) -> tuple[DimensionGrade, ...]:
    """``grades`` with the entry of ``dimension`` replaced by ``entry`` (removed for ``None``),
    by dimension name."""
    kept = [found for found in grades if found.dimension != dimension]
    if entry is not None:
        kept.append(entry)
    return tuple(sorted(kept, key=lambda found: found.dimension))


def _refusal() -> str:
    return _REFUSAL


def _reasons_of(grade: Callable[[], Grade]) -> Callable[[], str]:
    """A function joining the reasons of the grade ``grade`` builds."""
    return lambda: "; ".join(grade().reasons)


class _Tally:
    """What a regrade saw: the moves, the labels held after it and every (before, after)."""

    def __init__(self, ranking: tuple[str, ...] | None) -> None:
        self._rank = {label: i for i, label in enumerate(ranking or ())}
        self.graded = 0
        self.moves: list[GradeMove] = []
        self.directions: Counter[MoveDirection] = Counter()
        self._held: Counter[str] = Counter()
        self._pairs: Counter[tuple[str | None, str | None]] = Counter()

    def stay(self, label: str | None) -> None:
        """A customer graded whose label did not change."""
        self.graded += 1
        if label is not None:
            self._held[label] += 1
            self._pairs[label, label] += 1

    def move(
        self, customer_id: str, before: str | None, after: str | None, explanation: str
    ) -> None:
        """A customer whose label changed from ``before`` to ``after``."""
        self.graded += 1
        if after is not None:
            self._held[after] += 1
        self._pairs[before, after] += 1
        direction = self._direction(before, after)
        self.directions[direction] += 1
        self.moves.append(
            GradeMove(
                customer_id=customer_id,
                before=before,
                after=after,
                direction=direction,
                explanation=explanation,
            )
        )

    def _direction(self, before: str | None, after: str | None) -> MoveDirection:
        if before is None:
            return "new"
        if after is None:
            return "removed"
        was, now = self._rank.get(before), self._rank.get(after)
        if was is None or now is None:
            return "changed"
        return "up" if now < was else "down"

    def _key(self, label: str | None) -> tuple[int, int, str]:
        """Sort key: no grade first, then ranked labels best first, then the others by label."""
        if label is None:
            return (0, 0, "")
        rank = self._rank.get(label)
        return (1, rank, label) if rank is not None else (2, 0, label)

    def counts(self) -> tuple[tuple[str, int], ...]:
        """Customers per label held after the regrade, in label order (:meth:`_key`)."""
        return tuple(sorted(self._held.items(), key=lambda item: self._key(item[0])))

    def transitions(self) -> tuple[tuple[str | None, str | None, int], ...]:
        """Customers per (before, after), by before then after (:meth:`_key`)."""
        return tuple(
            (before, after, n)
            for (before, after), n in sorted(
                self._pairs.items(),
                key=lambda item: (self._key(item[0][0]), self._key(item[0][1])),
            )
        )
