"""Grading every customer with a policy, and storing the grade (``registry.grading``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Unpack

import attrs

from custrec._checks import aware, check, positive_int
from custrec.grading import ActivitySummary, FittablePolicy, Grade, Grades, GradingPolicy
from custrec.model.history import FieldChange
from custrec.security import Action, Actor, Resource
from custrec.services._records import Records, holds_customer
from custrec.services.activities import ActivityService
from custrec.services.consent import ConsentService
from custrec.services.context import Context, check_actor
from custrec.services.facets import CustomerFacets, facet_filter
from custrec.services.results import RegradeReport
from custrec.storage import HIDDEN_STATES

__all__ = ["GradingService"]


class GradingService:
    """Grade every customer with a policy and store the grade facet, with history and audit."""

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
    ) -> RegradeReport:
        """Grade every customer with ``policy`` and store the grade facet.

        Summaries come from ``registry.activities.summaries`` (customers without transactions get an
        empty summary). A population-relative policy (one with ``fit``) is fitted on all customers
        at ``as_of`` first; a policy with ``grade_many`` then grades everyone in one batch, and the
        explained grade is built only for the customers whose label changes. Each change of grade is
        written to the customer's history (action ``grade``, path ``grade``, old and new label) with
        the policy id and the grade's reasons as the reason, and audited; customers whose grade does
        not change are not written, so re-running with the same inputs changes nothing. Customers
        with purchases in several currencies are skipped (they keep their grade); customers who
        objected to profiling, withdrew their consent to it or restricted processing are left out of
        the fit and are not graded, and lose any grade they had (both reported). Erased customers
        are left alone. Needs the ``grade`` right over all customers.
        """
        actor = check_actor(actor)
        check("as_of", as_of, aware())
        check("batch_size", batch_size, positive_int())
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
        fitted: GradingPolicy = (
            fit(population.values(), as_of=as_of) if callable(fit) else policy  # type: ignore[assignment]
        )
        # Everyone else is graded in one batch (labels only); a Grade with its reasons is built
        # only for the customers whose label changes.
        grade_of = _batch(fitted, list(population.values()), as_of)
        changed = unchanged = 0
        refused: list[str] = []
        for start in range(0, len(ids), batch_size):
            now = self._context.now()
            with self._context.unit() as unit:
                for row in unit.session.customers.get_many(ids[start : start + batch_size]):
                    if row.state in HIDDEN_STATES:  # erased or merged since the summaries
                        continue
                    label: str | None
                    if row.id in refusing or self._consent.refuses_profiling(unit, row, as_of):
                        refused.append(row.id)
                        label, why = None, "the customer refused profiling (consent)"
                    else:
                        label, explain = grade_of(row.id)
                        if label == row.grade:
                            unchanged += 1
                            continue
                        why = f"{fitted.policy_id}: {'; '.join(explain().reasons)}"
                    if label == row.grade:
                        unchanged += 1
                        continue
                    customer = self._records.customer(unit, row)
                    new = attrs.evolve(customer, grade=label, updated_at=now)
                    unit.session.customers.update(
                        self._records.row(unit, new), expected_version=row.version
                    )
                    change = FieldChange(path="grade", old=row.grade, new=label)
                    unit.session.history.append(
                        [
                            self._records.history_entry(
                                unit, row.id, change, actor, why, now, action="grade"
                            )
                        ]
                    )
                    unit.audit(
                        actor,
                        "customer.grade",
                        at=now,
                        customer_id=row.id,
                        fields=["grade"],
                        reason=fitted.policy_id,
                        change=True,
                    )
                    changed += 1
                unit.commit()
        return RegradeReport(
            policy_id=fitted.policy_id,
            as_of=as_of,
            graded=changed + unchanged,
            changed=changed,
            unchanged=unchanged,
            skipped_mixed_currencies=tuple(sorted(mixed)),
            skipped_by_consent=tuple(refused),
        )

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
        where = facet_filter(facets)
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
