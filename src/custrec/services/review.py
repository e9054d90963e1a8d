"""Review and verification of records (``registry.review``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Final

import attrs

from custrec.errors import AccessDenied, InvalidState
from custrec.model.history import FieldChange, diff
from custrec.model.records import Customer, VerificationStatus
from custrec.security import Action, Actor, Resource
from custrec.services._records import Records
from custrec.services.context import (
    Context,
    Unit,
    check_actor,
    check_optional_reason,
    check_reason,
)
from custrec.services.customers import CustomerService
from custrec.storage import HistoryRecord
from custrec.verification import VerificationOutcome, VerificationResult, Verifier

__all__ = ["ReviewService"]

_VERIFICATION_RESULT: Final = "verification_result"


class ReviewService:
    """Approve or reject records pending review, verify them, and list what needs review."""

    def __init__(self, context: Context, records: Records, customers: CustomerService) -> None:
        self._context = context
        self._records = records
        self._customers = customers

    def _set_verification(
        self,
        customer_id: str,
        *,
        actor: Actor,
        reason: str | None,
        audit_action: str,
        change: Callable[[Customer], Customer],
        now: datetime,
        extra: Callable[[Unit, Customer], HistoryRecord | None] | None = None,
    ) -> Customer:
        with self._context.unit() as unit:
            row = self._records.live_row(unit, customer_id)
            unit.authorize(actor, Action.UPDATE, Resource.of(row), at=now)
            current = self._records.customer(unit, row)
            new = attrs.evolve(change(current), updated_at=now)
            entries = [
                self._records.history_entry(
                    unit, row.id, c, actor, reason, now, action=audit_action
                )
                for c in diff(current, new)
                if c.path != "updated_at"
            ]
            record = extra(unit, new) if extra is not None else None
            if record is not None:
                entries.append(record)
            version = unit.session.customers.update(
                self._records.row(unit, new), expected_version=row.version
            )
            if entries:
                unit.session.history.append(entries)
            unit.audit(
                actor,
                f"customer.{audit_action}",
                at=now,
                customer_id=row.id,
                fields=[e.path for e in entries],
                reason=reason,
                change=True,
            )
            unit.commit()
        stored = attrs.evolve(new, version=version)
        read = self._context.policy.decide(actor, Action.READ, Resource.of(stored))
        return self._records.shown(read, stored)

    def approve(self, customer_id: str, *, actor: Actor, reason: str) -> Customer:
        """Approve a record pending review: it becomes ``verified`` as of now.

        Raises :class:`~custrec.errors.InvalidState` unless the record is pending review.
        History and audit record who approved it and why.
        """
        actor = check_actor(actor)
        check_reason(reason, "review.approve()")
        now = self._context.now()

        def change(c: Customer) -> Customer:
            if c.verification is not VerificationStatus.PENDING_REVIEW:
                raise InvalidState(f"customer {c.id} is not pending review")
            return attrs.evolve(c, verification=VerificationStatus.VERIFIED, last_verified_at=now)

        return self._set_verification(
            customer_id, actor=actor, reason=reason, audit_action="approve", change=change, now=now
        )

    def reject(self, customer_id: str, *, actor: Actor, reason: str) -> Customer:
        """Reject a record pending review: it becomes ``rejected`` (kept, for the retention plan).

        Raises :class:`~custrec.errors.InvalidState` unless the record is pending review.
        """
        actor = check_actor(actor)
        check_reason(reason, "review.reject()")
        now = self._context.now()

        def change(c: Customer) -> Customer:
            if c.verification is not VerificationStatus.PENDING_REVIEW:
                raise InvalidState(f"customer {c.id} is not pending review")
            return attrs.evolve(c, verification=VerificationStatus.REJECTED)

        return self._set_verification(
            customer_id, actor=actor, reason=reason, audit_action="reject", change=change, now=now
        )

    def verify(
        self,
        customer_id: str,
        verifier: Verifier,
        *,
        actor: Actor,
        reason: str | None = None,
    ) -> VerificationResult:
        """Check a customer with a :class:`~custrec.verification.Verifier` and record the result.

        The verifier sees the unmasked record. The result (source, outcome, time, fields
        checked) goes into the customer's history (action ``verify``, path
        ``verification_result``); a
        ``confirmed`` outcome makes the record ``verified`` with ``last_verified_at`` set to the
        check's time, a ``refuted`` one puts it back to ``pending_review`` for a person to
        look at, an ``inconclusive`` one changes nothing else. Needs update rights; audited.
        A verifier that raises records nothing. Raises ``TypeError`` if the verifier returns
        something other than a :class:`~custrec.verification.VerificationResult`.
        """
        actor = check_actor(actor)
        reason = check_optional_reason(reason)
        now = self._context.now()
        with self._context.unit() as unit:
            row = self._records.live_row(unit, customer_id)
            unit.authorize(actor, Action.UPDATE, Resource.of(row), at=now)
            current = self._records.customer(unit, row)
        result = verifier.verify(current, as_of=now)
        if not isinstance(result, VerificationResult):
            raise TypeError("a Verifier must return a custrec.verification.VerificationResult")

        def change(c: Customer) -> Customer:
            if result.outcome is VerificationOutcome.CONFIRMED:
                checked = result.checked_at.astimezone(UTC)
                return attrs.evolve(
                    c, verification=VerificationStatus.VERIFIED, last_verified_at=checked
                )
            if result.outcome is VerificationOutcome.REFUTED:
                return attrs.evolve(c, verification=VerificationStatus.PENDING_REVIEW)
            return c

        def record(unit: Unit, c: Customer) -> HistoryRecord:
            value = {
                "source": result.source,
                "outcome": result.outcome.value,
                "checked_at": result.checked_at.isoformat(),
                "fields": list(result.fields),
                "detail": result.detail,
            }
            return self._records.history_entry(
                unit,
                c.id,
                FieldChange(path=_VERIFICATION_RESULT, old=None, new=value),
                actor,
                reason,
                now,
                action="verify",
            )

        self._set_verification(
            row.id,
            actor=actor,
            reason=reason,
            audit_action="verify",
            change=change,
            now=now,
            extra=record,
        )
        return result

    def results(self, customer_id: str, *, actor: Actor) -> list[VerificationResult]:
        """Return every recorded verification result of a customer, oldest first."""
        results = []
        for entry in self._customers.history(customer_id, actor=actor):
            if entry.action == "verify" and entry.path == _VERIFICATION_RESULT:
                value = entry.new
                if not isinstance(value, dict):  # masked for this actor
                    raise AccessDenied(f"actor {actor.id} may not read verification results")
                results.append(
                    VerificationResult(
                        source=value["source"],
                        outcome=value["outcome"],
                        checked_at=datetime.fromisoformat(value["checked_at"]),
                        fields=tuple(value["fields"]),
                        detail=value["detail"],
                    )
                )
        return results

    def pending(self, *, actor: Actor, batch_size: int = 500) -> Iterator[Customer]:
        """Yield the customers pending review that the actor may read, by id.

        This walks every customer (the review status is inside the sealed record, not a
        storage facet); run it from a back-office job, not per request.
        """
        for batch in self._customers.batches(actor=actor, batch_size=batch_size):
            for customer in batch:
                if customer.verification is VerificationStatus.PENDING_REVIEW:
                    yield customer
