"""Lifecycle rules applied inside the unit of work of the change that triggers them."""

from __future__ import annotations

from datetime import datetime

import attrs

from custrec.errors import ValidationFailed
from custrec.model.history import diff
from custrec.model.records import Customer
from custrec.security import Actor
from custrec.services._records import Records
from custrec.services._work import WorkRecords
from custrec.services.context import Context, Unit
from custrec.storage import CustomerRow
from custrec.validation import validate
from custrec.workflow.rules import Applied, LifecycleEvent, run_rules

__all__ = ["Lifecycle"]


class Lifecycle:
    """Runs the registry's lifecycle rules on an event and writes what they do."""

    def __init__(self, context: Context, records: Records, work: WorkRecords) -> None:
        self._context = context
        self._records = records
        self._work = work

    def react(
        self, unit: Unit, event: LifecycleEvent, actor: Actor | str, row: CustomerRow | None = None
    ) -> Customer:
        """Evaluate the rules on ``event`` (its customer as stored, ``version`` included) and
        write their effects in ``unit``: each rule's field changes as an update whose history
        and audit name the rule's id as the reason (re-validated first: ``ValidationFailed``
        leaves nothing written once the unit rolls back), then the cases and tasks they ask
        for. Returns the customer as stored afterwards."""
        settings = self._context.workflow
        if not settings.rules:
            return event.customer
        outcome = run_rules(settings.rules, event, max_depth=settings.max_depth)
        now = event.at
        current = event.customer
        stored = row if row is not None else unit.session.customers.get(current.id)
        for applied in outcome.applied:
            if applied.fields:
                current, stored = self._store(unit, stored, current, applied, actor, now)
            self._open(unit, current, applied, actor, now)
        return current

    def _store(
        self,
        unit: Unit,
        row: CustomerRow,
        current: Customer,
        applied: Applied,
        actor: Actor | str,
        now: datetime,
    ) -> tuple[Customer, CustomerRow]:
        new = attrs.evolve(applied.customer, version=row.version, updated_at=now)
        report = validate(new, self._context.rules, as_of=now, region=self._context.region)
        if not report.ok:
            raise ValidationFailed(report)
        changes = diff(current, new)
        if not changes:
            return current, row
        actor_id = actor if isinstance(actor, str) else actor.id
        version = self._records.store_update(
            unit, row, new, changes, actor_id, applied.rule_id, now
        )
        return attrs.evolve(new, version=version), attrs.evolve(row, version=version)

    def _open(
        self,
        unit: Unit,
        customer: Customer,
        applied: Applied,
        actor: Actor | str,
        now: datetime,
    ) -> None:
        for case in applied.cases:
            if case.grade is None:
                case = attrs.evolve(case, grade=customer.grade)
            self._work.add_case(
                unit, self._work.assigned(case, customer), actor, now, applied.rule_id
            )
        for task in applied.tasks:
            if task.source is None:  # made by this rule, not by hand
                task = attrs.evolve(task, source=f"rule:{applied.rule_id}")
            self._work.add_task(
                unit, self._work.assigned(task, customer), actor, now, applied.rule_id
            )
