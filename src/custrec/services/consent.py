"""The consent ledger of each customer: record events, decide uses (``registry.consent``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TypeVar, Unpack

import attrs

from custrec._checks import aware, check, positive_int
from custrec.consent import (
    CaptureChannel,
    ConsentDecision,
    ConsentError,
    ConsentEvent,
    ConsentLedger,
    EventDetails,
    EventKind,
    GrantDetails,
    LawfulBasis,
    RestrictionDetails,
)
from custrec.errors import StorageError
from custrec.model.records import RecordState
from custrec.security import Action, Actor, Resource
from custrec.services._records import Records
from custrec.services.context import Context, Unit, check_actor, check_optional_reason
from custrec.storage import ConsentRecord, CustomerFilter, CustomerRow

__all__ = ["ConsentService"]

_Details = TypeVar("_Details", GrantDetails, EventDetails, RestrictionDetails)


class ConsentService:
    """Append consent events (checked against the ledger first), read ledgers, decide uses."""

    def __init__(self, context: Context, records: Records) -> None:
        self._context = context
        self._records = records

    def record(
        self, event: ConsentEvent, *, actor: Actor, reason: str | None = None
    ) -> ConsentEvent:
        """Append a consent event (grant, withdrawal, objection, restriction) to the ledger.

        The event is checked against the ledger first (a bundled separate-consent grant, a
        child's own grant, an unknown purpose raise :class:`~custrec.consent.ConsentError`
        subclasses and nothing is stored), then sealed and appended; it is audited. A
        restriction makes the record's state ``restricted``; lifting it gives back the state it
        had before (``live`` or ``archived``). Needs the ``consent`` right on the customer.
        """
        actor = check_actor(actor)
        reason = check_optional_reason(reason)
        if not isinstance(event, ConsentEvent):
            raise TypeError("consent.record() takes a custrec.consent.ConsentEvent")
        now = self._context.now()
        with self._context.unit() as unit:
            row = self._records.live_row(unit, event.customer_id)
            if row.id != event.customer_id:  # given to a merged id: it belongs to the survivor
                event = attrs.evolve(event, customer_id=row.id)
            unit.authorize(actor, Action.CONSENT, Resource.of(row), at=now)
            self.append(unit, row, event, actor.id, now, reason=reason)
            unit.commit()
        return event

    def append(
        self,
        unit: Unit,
        row: CustomerRow,
        event: ConsentEvent,
        actor_id: str,
        now: datetime,
        *,
        on_behalf_of: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Check, seal and append a consent event of ``row``'s customer, set the record state a
        restriction (or its lift) implies, and audit it; in this unit of work."""
        if event.kind in (EventKind.RESTRICT, EventKind.LIFT_RESTRICTION) and (
            event.effective_to is not None or event.effective_from > now
        ):
            raise ConsentError(
                f"consent event {event.id}: a restriction recorded through the registry takes "
                "effect when it is recorded and lasts until a lift_restriction is recorded (no "
                "future effective_from, no effective_to), so that the record's state and the "
                "ledger agree"
            )
        customer = self._records.customer(unit, row)
        self._records.ledger(unit, row.id).append(event, subject=self._records.subject(customer))
        seq = len(unit.session.consents.list_for(row.id)) + 1
        stored = unit.session.consents.append(
            ConsentRecord(
                customer_id=row.id,
                recorded_at=now,
                purpose=",".join(event.purposes),
                action=event.kind.value,
                payload=unit.sealer.seal_value(
                    self._context.converter.unstructure(event),
                    customer_id=row.id,
                    field=f"consent:{seq}",
                ),
            )
        )
        if stored != seq:
            raise StorageError("the consent table assigned an unexpected sequence number")
        unit.audit(
            actor_id,
            f"consent.{event.kind.value}",
            at=now,
            customer_id=row.id,
            fields=event.purposes,
            reason=reason,
            on_behalf_of=on_behalf_of,
            change=True,
        )
        if event.kind is EventKind.RESTRICT:
            state = RecordState.RESTRICTED
        elif event.kind is EventKind.LIFT_RESTRICTION:
            state = self._records.state_story(unit, customer)[0]
        else:
            return
        self._records.set_state(
            unit, row, customer, state, actor_id, now, reason=reason, on_behalf_of=on_behalf_of
        )

    def grant(
        self,
        customer_id: str,
        purposes: str | Iterable[str],
        *,
        actor: Actor,
        channel: CaptureChannel | str,
        reason: str | None = None,
        **details: Unpack[GrantDetails],
    ) -> ConsentEvent:
        """Record the customer's consent to ``purposes``, captured now (see :meth:`record`).

        ``details`` are :class:`~custrec.consent.GrantDetails`, exactly what
        :meth:`ConsentEvent.grant <custrec.consent.ConsentEvent.grant>` takes (the jurisdiction
        defaults to the registry's). A separate-consent purpose (third-party provision,
        cross-border transfer, public disclosure, sensitive data, ...) must be granted alone.
        ``guardian`` records that a guardian consented (required for minors).
        """
        event = ConsentEvent.grant(
            customer_id, purposes, at=self._context.now(), channel=channel, **self._own(details)
        )
        return self.record(event, actor=actor, reason=reason)

    def withdraw(
        self,
        customer_id: str,
        purposes: str | Iterable[str],
        *,
        actor: Actor,
        channel: CaptureChannel | str,
        reason: str | None = None,
        **details: Unpack[EventDetails],
    ) -> ConsentEvent:
        """Record a withdrawal: the same arguments as :meth:`grant`, minus the expiry.

        It takes effect from its instant, never rewrites the past, and wins over a grant at the
        same instant.
        """
        event = ConsentEvent.withdraw(
            customer_id, purposes, at=self._context.now(), channel=channel, **self._own(details)
        )
        return self.record(event, actor=actor, reason=reason)

    def object_to(
        self,
        customer_id: str,
        purposes: str | Iterable[str],
        *,
        actor: Actor,
        channel: CaptureChannel | str,
        reason: str | None = None,
        **details: Unpack[EventDetails],
    ) -> ConsentEvent:
        """Record the customer's objection (to profiling, direct marketing, ...): the same
        arguments as :meth:`withdraw`. Only a later grant of a purpose lifts it."""
        event = ConsentEvent.object_to(
            customer_id, purposes, at=self._context.now(), channel=channel, **self._own(details)
        )
        return self.record(event, actor=actor, reason=reason)

    def restrict(
        self,
        customer_id: str,
        *,
        actor: Actor,
        channel: CaptureChannel | str,
        reason: str | None = None,
        **details: Unpack[RestrictionDetails],
    ) -> ConsentEvent:
        """Restrict all processing of the customer's data to storage, from now until
        :meth:`lift_restriction`; the record's state becomes ``restricted``."""
        event = ConsentEvent.restrict(
            customer_id, at=self._context.now(), channel=channel, **self._own(details)
        )
        return self.record(event, actor=actor, reason=reason)

    def lift_restriction(
        self,
        customer_id: str,
        *,
        actor: Actor,
        channel: CaptureChannel | str,
        reason: str | None = None,
        **details: Unpack[RestrictionDetails],
    ) -> ConsentEvent:
        """End a restriction, now; the record gets back the state it had before it."""
        event = ConsentEvent.lift_restriction(
            customer_id, at=self._context.now(), channel=channel, **self._own(details)
        )
        return self.record(event, actor=actor, reason=reason)

    def _own(self, details: _Details) -> _Details:
        """The details with the registry's jurisdiction unless they name one."""
        details.setdefault("jurisdiction", self._context.jurisdiction)
        return details

    def ledger(self, customer_id: str, *, actor: Actor) -> ConsentLedger:
        """Return the customer's consent ledger (every event, in order); the read is audited."""
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.unit() as unit:
            row = self._records.live_row(unit, customer_id)
            customer_id = row.id
            unit.authorize(actor, Action.READ, Resource.of(row), at=now)
            ledger = self._records.ledger(unit, customer_id)
            unit.audit(actor, "consent.read", at=now, customer_id=customer_id)
            unit.commit()
        return ledger

    def may_use(
        self,
        customer_id: str,
        purpose: str,
        *,
        actor: Actor,
        as_of: datetime | None = None,
        basis: LawfulBasis | None = None,
    ) -> ConsentDecision:
        """Decide whether the customer's data may be used for ``purpose`` at ``as_of`` (default:
        now).

        ``basis`` is the lawful basis relied on (default: consent). The decision carries a
        stable reason code (``granted``, ``no_consent``, ``withdrawn``, ``expired``,
        ``separate_consent_required``, ``guardian_required``, ``reconsent_required``,
        ``objected``, ``restricted``, ``basis_not_available``, ``contract_necessity``, ...).
        """
        actor = check_actor(actor)
        when = check("as_of", as_of, aware()) if as_of is not None else self._context.now()
        now = self._context.now()
        with self._context.unit() as unit:
            row = self._records.live_row(unit, customer_id)
            customer_id = row.id
            unit.authorize(actor, Action.READ, Resource.of(row), at=now)
            customer = self._records.customer(unit, row)
            decision = self._records.ledger(unit, customer_id).decide(
                purpose,
                as_of=when,
                subject=self._records.subject(customer),
                basis=basis,
                notices=self._context.notices,
            )
            unit.audit(
                actor,
                "consent.decide",
                at=now,
                customer_id=customer_id,
                fields=[purpose],
                reason=decision.reason,
            )
            unit.commit()
        return decision

    def audience(
        self, purpose: str, *, actor: Actor, as_of: datetime | None = None, batch_size: int = 500
    ) -> Iterator[str]:
        """Yield, by id, the ids of the customers the actor may read whose data may be used for
        ``purpose`` at ``as_of`` (by consent): the starting point of a marketing export.

        Customers are read ``batch_size`` readable ones at a time, each batch in its own unit of
        work; every id yielded is audited (``consent.audience``).
        """
        actor = check_actor(actor)
        when = check("as_of", as_of, aware()) if as_of is not None else self._context.now()
        check("batch_size", batch_size, positive_int())
        after: str | None = None
        while True:
            now = self._context.now()
            with self._context.unit() as unit:
                readable, after = unit.seek(
                    CustomerFilter(),
                    after,
                    batch_size,
                    lambda rows: self._records.opened(
                        unit, (row for row, _ in self._records.readable(actor, rows))
                    ),
                )
                allowed: list[str] = []
                for row, customer in readable:
                    verdict = self._records.ledger(unit, row.id).decide(
                        purpose,
                        as_of=when,
                        subject=self._records.subject(customer),
                        notices=self._context.notices,
                    )
                    if verdict.allowed:
                        allowed.append(row.id)
                        unit.audit(
                            actor, "consent.audience", at=now, customer_id=row.id, fields=[purpose]
                        )
                unit.commit()
            yield from allowed
            if after is None:
                return

    def refuses_profiling(self, unit: Unit, row: CustomerRow, as_of: datetime) -> bool:
        """Whether the customer objected to, withdrew consent for, or restricted profiling."""
        if "profiling" not in self._context.purposes or not unit.session.consents.list_for(row.id):
            return False
        customer = self._records.customer(unit, row)
        decision = self._records.ledger(unit, row.id).decide(
            "profiling",
            as_of=as_of,
            subject=self._records.subject(customer),
            notices=self._context.notices,
        )
        return decision.reason in ("objected", "withdrawn", "restricted")
