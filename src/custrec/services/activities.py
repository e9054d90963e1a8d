"""Transactions, interactions and purchase summaries (``registry.activities``)."""

from __future__ import annotations

import builtins
import typing
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import attrs

from custrec._checks import aware, check, positive_int
from custrec.errors import Erased, ValidationFailed
from custrec.grading import ActivitySummary
from custrec.model.issues import ValidationReport
from custrec.model.records import Interaction, Transaction
from custrec.model.serialization import structure_with_issues
from custrec.security import Action, Actor, Resource, mask_record
from custrec.services._lifecycle import Lifecycle
from custrec.services._records import Records, holds_customer
from custrec.services.context import Context, check_actor, check_optional_reason
from custrec.storage import ActivityRow, CustomerFilter
from custrec.storage.checks import amount_issues
from custrec.validation import validate
from custrec.workflow.rules import LifecycleEvent

__all__ = ["ActivityService"]


class ActivityService:
    """Record transactions and interactions, list them, and summarise purchases."""

    def __init__(
        self, context: Context, records: Records, lifecycle: Lifecycle | None = None
    ) -> None:
        self._context = context
        self._records = records
        self._lifecycle = lifecycle

    def _structure_activity(self, data: Any, cls: type[Any], now: datetime) -> Any:
        if isinstance(data, cls):
            record = data
            report = validate(record, self._context.rules, as_of=now, region=self._context.region)
        elif isinstance(data, Mapping):
            built, report = structure_with_issues(dict(data), cls)
            record = built
            if built is not None:
                report = report.merged(
                    validate(built, self._context.rules, as_of=now, region=self._context.region)
                )
        else:
            raise TypeError(f"expected a mapping or a {cls.__name__}")
        amount = getattr(getattr(record, "amount", None), "amount", None)
        issues = [] if amount is None else amount_issues(amount)
        if issues:
            report = report.merged(ValidationReport(tuple(issues)))
        if record is None or not report.ok:
            raise ValidationFailed(report)
        return record

    def _record_activity(
        self, record: Transaction | Interaction, kind: str, actor: Actor, reason: str | None
    ) -> Transaction | Interaction:
        now = self._context.now()
        with self._context.unit() as unit:
            row = self._records.live_row(unit, record.customer_id)
            unit.authorize(actor, Action.UPDATE, Resource.of(row), at=now)
            if row.state == "erased":
                raise Erased(record.customer_id)
            if row.id != record.customer_id:  # recorded against a merged id: the survivor's
                record = attrs.evolve(record, customer_id=row.id)
            amount = record.amount if isinstance(record, Transaction) else None
            unit.session.activities.add(
                ActivityRow(
                    id=record.id,
                    customer_id=record.customer_id,
                    kind=kind,
                    occurred_at=record.occurred_at,
                    amount=amount.amount if amount is not None else None,
                    currency=amount.currency if amount is not None else None,
                    payload=unit.sealer.seal_record(
                        type(record),
                        self._records.document(record),
                        customer_id=record.customer_id,
                        record_id=record.id,
                    ),
                )
            )
            unit.audit(
                actor,
                f"{kind}.create",
                at=now,
                customer_id=record.customer_id,
                reason=reason,
                change=True,
                record_id=record.id,
            )
            if self._lifecycle is not None and self._context.workflow.rules:
                event = LifecycleEvent(
                    kind=kind,
                    customer=self._records.customer(unit, row),
                    at=now,
                    record=record,
                )
                self._lifecycle.react(unit, event, actor, row)
            unit.commit()
        return record

    def record_transaction(
        self, data: Mapping[str, Any] | Transaction, *, actor: Actor, reason: str | None = None
    ) -> Transaction:
        """Validate and store a transaction of an existing customer; return it.

        Needs update rights on the customer. Raises ``ValidationFailed`` (for example
        ``date.future``, ``amount.precision``), ``NotFound`` if the customer does not exist,
        ``AccessDenied`` and ``DuplicateKey`` if the id is taken.
        """
        actor = check_actor(actor)
        reason = check_optional_reason(reason)
        record = typing.cast(
            Transaction, self._structure_activity(data, Transaction, self._context.now())
        )
        return typing.cast(Transaction, self._record_activity(record, "transaction", actor, reason))

    def record_interaction(
        self, data: Mapping[str, Any] | Interaction, *, actor: Actor, reason: str | None = None
    ) -> Interaction:
        """Validate and store a follow-up or service interaction (as for transactions)."""
        actor = check_actor(actor)
        reason = check_optional_reason(reason)
        record = typing.cast(
            Interaction, self._structure_activity(data, Interaction, self._context.now())
        )
        return typing.cast(Interaction, self._record_activity(record, "interaction", actor, reason))

    def list(
        self, customer_id: str, *, actor: Actor, kind: str | None = None
    ) -> builtins.list[Transaction | Interaction]:
        """Return the customer's transactions and interactions (or one ``kind``), oldest first.

        Interaction summaries are masked unless the actor may unmask; the read is audited.
        """
        actor = check_actor(actor)
        now = self._context.now()
        found: builtins.list[Transaction | Interaction] = []
        with self._context.read_unit() as unit:
            row = self._records.live_row(unit, customer_id)
            customer_id = row.id
            decision = unit.authorize(actor, Action.READ, Resource.of(row), at=now)
            if row.state == "erased":
                raise Erased(customer_id)
            for activity in self._records.activity_rows(unit, customer_id, kind=kind):
                record = self._records.open_activity(unit, activity)
                found.append(mask_record(record) if decision.masked else record)
            unit.audit(actor, "activity.read", at=now, customer_id=customer_id)
            unit.commit()
        return found

    def summaries(
        self, *, as_of: datetime, actor: Actor, batch_size: int = 1000
    ) -> Iterator[ActivitySummary]:
        """Yield the purchase summary of every customer as of ``as_of``, the population a
        grading policy needs.

        Every stored customer (erased and merged records aside) is included: one summary per
        currency it bought in, or one zero summary (:meth:`ActivitySummary.empty`: count 0,
        total 0, no purchase instants, currency ``CNY``, which no policy checks without
        purchases) when it has no transaction up to ``as_of``, so a fitted population is
        every customer. Computed by the store (SQL
        backends use ``GROUP BY``), streamed in batches of ``batch_size``, ordered by customer
        id then currency. Summaries hold no personal data but cover every customer, so the
        actor needs the ``grade`` right over all customers; the call is audited.
        """
        actor = check_actor(actor)
        check("as_of", as_of, aware())
        check("batch_size", batch_size, positive_int())
        now = self._context.now()
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.GRADE, Resource(), at=now)
            unit.audit(actor, "activity.summaries", at=now)
            unit.commit()
        return self._summaries(as_of, batch_size)

    def _summaries(self, as_of: datetime, batch_size: int) -> Iterator[ActivitySummary]:
        """Merge the customers (by id) with the store's purchase summaries (by id)."""

        def purchases() -> Iterator[ActivitySummary]:
            after: str | None = None
            while True:
                with self._context.store.transaction(readonly=True) as session:
                    batch = session.activities.summaries(as_of=as_of, after=after, limit=batch_size)
                if not batch:
                    return
                yield from batch
                after = batch[-1].customer_id

        pending = purchases()
        ahead = next(pending, None)
        for row in self._context.scan(CustomerFilter(), holds_customer, batch_size=batch_size):
            while ahead is not None and ahead.customer_id < row.id:
                ahead = next(pending, None)  # activities of a record that holds no customer
            if ahead is None or ahead.customer_id != row.id:
                yield ActivitySummary.empty(row.id)
                continue
            while ahead is not None and ahead.customer_id == row.id:
                yield ahead
                ahead = next(pending, None)
