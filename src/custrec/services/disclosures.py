"""Third-party recipients and the register of disclosures (``registry.disclosures``).

PIPL art. 23 lets a company give personal information to another handler only with the
customer's separate consent (or another lawful basis), and asks it to tell the customer the
recipient's name and contact. This service keeps the recipients, decides per customer at the
instant of sending whether their data may go, records each disclosure in the same unit of
work as the audited read of the data sent, and lists disclosures per recipient and per
customer (the subject export includes them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

import attrs

from custrec._checks import check, optional, positive_int, storable_text
from custrec.compliance.disclosures import (
    CustomerDisclosure,
    DisclosedRecord,
    Disclosure,
    DisclosureResult,
    Exclusion,
    check_fields,
    project,
)
from custrec.compliance.recipients import Recipient
from custrec.consent import LawfulBasis
from custrec.errors import AccessDenied, Erased, InvalidState, NotFound, UnknownRecipient
from custrec.model.ids import new_id
from custrec.security import Action, Actor, Resource
from custrec.services._documents import Documents
from custrec.services._records import Records
from custrec.services.context import Context, Unit, check_actor

__all__ = ["DISCLOSURE", "RECIPIENT", "DisclosureRun", "DisclosureService"]

RECIPIENT: Final = "recipient"
"""The document kind of a third-party recipient."""
DISCLOSURE: Final = "disclosure"
"""The document kind of a disclosure (its links: the customers concerned)."""

_DISCLOSED: Final = "disclosed"
_EXCLUDED: Final = "excluded"
_RECIPIENT_FIELDS: Final = ("name", "contact", "contract", "country", "note")


class DisclosureService:
    """Recipients, disclosures that honour separate consent, and their register."""

    def __init__(self, context: Context, records: Records) -> None:
        self._context = context
        self._records = records

    # ----------------------------------------------------------------------- recipients

    def register_recipient(
        self,
        recipient_id: str,
        *,
        name: str,
        contact: str,
        contract: str,
        actor: Actor,
        country: str | None = None,
        note: str | None = None,
    ) -> Recipient:
        """Register a third party (``compliance`` right; audited). ``InvalidState`` when the
        id is taken (change a recipient with :meth:`update_recipient`)."""
        actor = check_actor(actor)
        now = self._context.now()
        recipient = Recipient(
            id=recipient_id,
            name=name,
            contact=contact,
            contract=contract,
            country=country,
            note=note,
            registered_at=now,
        )
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            if Documents.find(unit, RECIPIENT, recipient.id) is not None:
                raise InvalidState(f"recipient {recipient.id} is already registered")
            Documents.add(unit, RECIPIENT, recipient.id, recipient.to_json(), now=now)
            unit.audit(actor, "recipient.register", at=now, reason=recipient.id)
            unit.commit()
        return recipient

    def update_recipient(self, recipient_id: str, *, actor: Actor, **changes: Any) -> Recipient:
        """Change a recipient's ``name``, ``contact``, ``contract``, ``country`` or ``note``
        (``compliance`` right; audited, versioned). ``UnknownRecipient``; ``TypeError`` for
        another keyword."""
        actor = check_actor(actor)
        unknown = sorted(set(changes) - set(_RECIPIENT_FIELDS))
        if unknown:
            raise TypeError(f"a recipient has no field {unknown[0]!r}")
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            row, recipient = self._recipient(unit, recipient_id)
            changed = attrs.evolve(recipient, **changes, version=recipient.version + 1)
            Documents.replace(unit, row, changed.to_json(), now=now)
            unit.audit(actor, "recipient.update", at=now, reason=changed.id, fields=sorted(changes))
            unit.commit()
        return changed

    def recipient(self, recipient_id: str, *, actor: Actor) -> Recipient:
        """One recipient (``compliance`` right). ``UnknownRecipient``."""
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            _, recipient = self._recipient(unit, recipient_id)
            unit.commit()
        return recipient

    def recipients(self, *, actor: Actor) -> list[Recipient]:
        """Every registered recipient, by id (``compliance`` right)."""
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            found = [
                Recipient.from_json(Documents.data(row)) for row in Documents.every(unit, RECIPIENT)
            ]
            unit.commit()
        return found

    def _recipient(self, unit: Unit, recipient_id: object) -> tuple[Any, Recipient]:
        if not isinstance(recipient_id, str):
            raise TypeError(f"recipient must be a recipient id, not {type(recipient_id).__name__}")
        row = Documents.find(unit, RECIPIENT, recipient_id) if recipient_id else None
        if row is None:
            raise UnknownRecipient(f"no recipient is registered as {recipient_id[:64]!r}")
        return row, Recipient.from_json(Documents.data(row))

    # ---------------------------------------------------------------------- disclosing

    def start(
        self,
        *,
        recipient: str,
        purpose: str,
        actor: Actor,
        fields: Iterable[str] | None = None,
        basis: LawfulBasis | str = LawfulBasis.CONSENT,
        channel: str = "records",
        reference: str | None = None,
    ) -> DisclosureRun:
        """Open a disclosure and return the run that sends customers one at a time (what
        :meth:`disclose` and :func:`~custrec.interchange.export_customers` use; call
        :meth:`DisclosureRun.finish` at the end).

        Everything is checked before anything is written: the recipient is registered
        (``UnknownRecipient``), the purpose is in the catalogue (``UnknownPurpose``), the basis
        is a :class:`~custrec.consent.LawfulBasis` (``ValueError``), and on the consent basis the
        purpose needs separate consent (PIPL art. 23: ``ValueError`` otherwise, e.g. use
        ``third_party``); ``fields`` are customer field paths (``ValueError`` for an unknown
        one). The actor needs the ``compliance`` right to open it and the ``export`` right on
        each customer sent.
        """
        actor = check_actor(actor)
        basis = LawfulBasis(basis)
        known = self._context.purposes[purpose]
        if basis is LawfulBasis.CONSENT and not known.requires_separate_consent:
            raise ValueError(
                f"purpose {purpose!r} does not ask for separate consent: a disclosure to a third "
                "party on the consent basis needs a purpose that does (PIPL art. 23), such as "
                "'third_party'"
            )
        paths = check_fields(fields)
        check("channel", channel, storable_text())
        check("reference", reference, optional(storable_text()))
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            _, found = self._recipient(unit, recipient)
            disclosure = Disclosure(
                id=new_id(),
                recipient_id=found.id,
                purpose=purpose,
                basis=basis,
                fields=paths,
                actor_id=actor.id,
                at=now,
                channel=channel,
                reference=reference,
            )
            Documents.add(
                unit, DISCLOSURE, disclosure.id, disclosure.to_json(), now=now, tag=found.id
            )
            unit.audit(actor, "disclosure.start", at=now, reason=found.id, fields=[purpose])
            unit.commit()
        return DisclosureRun(self._context, self._records, disclosure, found, actor)

    def disclose(
        self,
        customer_ids: Iterable[str],
        *,
        recipient: str,
        purpose: str,
        actor: Actor,
        fields: Iterable[str] | None = None,
        basis: LawfulBasis | str = LawfulBasis.CONSENT,
        reference: str | None = None,
    ) -> DisclosureResult:
        """Disclose the given customers to ``recipient`` for ``purpose``: each is sent only if
        its consent decision (or ``basis``) allows it at the instant it is read; the result
        holds the records to hand over (exactly what was recorded, cut to ``fields``) and the
        customers left out with the reason. Checks as :meth:`start`."""
        if isinstance(customer_ids, str):
            raise TypeError("customer_ids must be a list of ids, not one string")
        ids = list(customer_ids)
        for customer_id in ids:
            if not isinstance(customer_id, str):
                raise TypeError("customer ids must be text")
        run = self.start(
            recipient=recipient,
            purpose=purpose,
            actor=actor,
            fields=fields,
            basis=basis,
            reference=reference,
        )
        records: list[DisclosedRecord] = []
        excluded: list[Exclusion] = []
        for customer_id in dict.fromkeys(ids):
            sent = run.send(customer_id)
            (records if isinstance(sent, DisclosedRecord) else excluded).append(sent)  # type: ignore[arg-type]
        return DisclosureResult(
            disclosure=run.finish(), records=tuple(records), excluded=tuple(excluded)
        )

    # ------------------------------------------------------------------------ registers

    def disclosure(self, disclosure_id: str, *, actor: Actor) -> Disclosure:
        """One disclosure (``compliance`` right); an ``open`` one's counts are read from its
        links. ``NotFound``."""
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            row = Documents.get(unit, DISCLOSURE, disclosure_id, what="disclosure")
            found = self._counted(unit, row)
            unit.commit()
        return found

    def disclosures(
        self,
        *,
        actor: Actor,
        recipient: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Disclosure]:
        """Disclosures by id (oldest first), to one ``recipient`` when given; ``after`` is
        the last id of the previous page (``compliance`` right)."""
        actor = check_actor(actor)
        check("limit", limit, positive_int())
        check("after", after, optional(storable_text()))
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            if recipient is not None:
                self._recipient(unit, recipient)
            rows = unit.session.documents.list(DISCLOSURE, tag=recipient, after=after, limit=limit)
            found = [self._counted(unit, row) for row in rows]
            unit.commit()
        return found

    def _counted(self, unit: Unit, row: Any) -> Disclosure:
        disclosure = Disclosure.from_json(Documents.data(row), version=row.version)
        if disclosure.status != "open":
            return disclosure
        table = unit.session.documents
        return attrs.evolve(
            disclosure,
            disclosed=table.count_links(DISCLOSURE, row.id, state=_DISCLOSED),
            excluded=table.count_links(DISCLOSURE, row.id, state=_EXCLUDED),
        )

    def customers(
        self,
        disclosure_id: str,
        *,
        actor: Actor,
        disclosed: bool = True,
        after: str | None = None,
        limit: int = 100,
    ) -> list[CustomerDisclosure]:
        """The customers a disclosure sent (or, with ``disclosed=False``, left out), by
        customer id (``compliance`` right). Erased customers' entries say only that."""
        actor = check_actor(actor)
        check("limit", limit, positive_int())
        check("after", after, optional(storable_text()))
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            row = Documents.get(unit, DISCLOSURE, disclosure_id, what="disclosure")
            head = Disclosure.from_json(Documents.data(row))
            links = unit.session.documents.links(
                DISCLOSURE,
                row.id,
                state=_DISCLOSED if disclosed else _EXCLUDED,
                after=after,
                limit=limit,
            )
            found = [
                _entry(head, Documents.open(unit, link).data, link.customer_id, link.state)
                for link in links
            ]
            unit.commit()
        return found

    def of_customer(self, customer_id: str, *, actor: Actor) -> list[CustomerDisclosure]:
        """Every disclosure that sent or considered this customer, oldest first (the
        ``read`` right on the customer; audited)."""
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.unit() as unit:
            row = self._records.live_row(unit, customer_id)
            unit.authorize(actor, Action.READ, Resource.of(row), at=now)
            found = self.entries(unit, row.id)
            unit.audit(actor, "disclosure.read", at=now, customer_id=row.id)
            unit.commit()
        return found

    @staticmethod
    def entries(unit: Unit, customer_id: str) -> list[CustomerDisclosure]:
        """A customer's disclosure entries in a unit of work (for the subject export)."""
        found: list[CustomerDisclosure] = []
        recipients: dict[str, Recipient | None] = {}
        for link in unit.session.documents.links_for(customer_id, kind=DISCLOSURE):
            row = Documents.find(unit, DISCLOSURE, link.document_id)
            if row is None:
                continue
            head = Disclosure.from_json(Documents.data(row))
            if head.recipient_id not in recipients:
                stored = Documents.find(unit, RECIPIENT, head.recipient_id)
                recipients[head.recipient_id] = (
                    None if stored is None else Recipient.from_json(Documents.data(stored))
                )
            entry = _entry(head, Documents.open(unit, link).data, customer_id, link.state)
            recipient = recipients[head.recipient_id]
            if recipient is not None:
                entry = attrs.evolve(
                    entry, recipient_name=recipient.name, recipient_contact=recipient.contact
                )
            found.append(entry)
        found.sort(key=lambda e: (e.at, e.disclosure_id))
        return found


def _entry(head: Disclosure, data: Any, customer_id: str, state: str | None) -> CustomerDisclosure:
    data = data or {}
    at = data.get("at")
    return CustomerDisclosure(
        disclosure_id=head.id,
        customer_id=customer_id,
        recipient_id=head.recipient_id,
        purpose=head.purpose,
        basis=head.basis,
        fields=head.fields,
        at=datetime.fromisoformat(at) if isinstance(at, str) else head.at,
        disclosed=state == _DISCLOSED,
        masked=bool(data.get("masked", False)),
        reason=data.get("reason"),
    )


class DisclosureRun:
    """An open disclosure: :meth:`send` decides, reads and records one customer in one unit
    of work; :meth:`finish` closes it with its counts. Made by
    :meth:`DisclosureService.start`."""

    def __init__(
        self,
        context: Context,
        records: Records,
        disclosure: Disclosure,
        recipient: Recipient,
        actor: Actor,
    ) -> None:
        self._context = context
        self._records = records
        self._actor = actor
        self._recipient = recipient
        self.disclosure = disclosure
        self._reasons: dict[str, int] = {}
        self._sent = 0
        self._finished = False

    def send(self, customer_id: str) -> DisclosedRecord | Exclusion:
        """Decide for one customer at this instant: their projected record, recorded as
        disclosed, or the reason they were left out (recorded too when they exist)."""
        if self._finished:
            raise InvalidState("this disclosure is finished")
        check("customer_id", customer_id, storable_text())
        context, records, actor = self._context, self._records, self._actor
        disclosure = self.disclosure
        now = context.now()
        with context.unit() as unit:
            try:
                row = records.live_row(unit, customer_id)
            except NotFound:
                return self._left_out(customer_id, "not_found")
            try:
                decision = unit.authorize(actor, Action.EXPORT, Resource.of(row), at=now)
            except AccessDenied:
                return self._left_out(row.id, "denied")
            try:
                customer = records.customer(unit, row)
            except Erased:
                return self._left_out(row.id, "erased")
            verdict = records.ledger(unit, row.id).decide(
                disclosure.purpose,
                as_of=now,
                subject=records.subject(customer),
                basis=disclosure.basis,
                notices=context.notices,
            )
            if not verdict.allowed:
                reason = verdict.reason.value
                link = Documents.sealed_link(
                    unit,
                    DISCLOSURE,
                    disclosure.id,
                    row.id,
                    {"at": now.isoformat(), "reason": reason},
                    now=now,
                    state=_EXCLUDED,
                )
                Documents.link(unit, [link])
                unit.audit(
                    actor,
                    "customer.disclose",
                    at=now,
                    customer_id=row.id,
                    reason=reason,
                    outcome="excluded",
                    fields=[disclosure.purpose],
                )
                unit.commit()
                return self._left_out(row.id, reason)
            shown = records.shown(decision, customer)
            data = project(context.converter.unstructure(shown), disclosure.fields)
            link = Documents.sealed_link(
                unit,
                DISCLOSURE,
                disclosure.id,
                row.id,
                {
                    "at": now.isoformat(),
                    "masked": decision.masked,
                    "recipient": self._recipient.name,
                },
                now=now,
                state=_DISCLOSED,
            )
            Documents.link(unit, [link])
            paths = (
                []
                if decision.masked
                else _disclosed_paths(records.personal_paths(customer), disclosure.fields)
            )
            unit.audit(
                actor,
                "customer.disclose",
                at=now,
                customer_id=row.id,
                reason=self._recipient.id,
                fields=paths,
            )
            unit.commit()
        self._sent += 1
        return DisclosedRecord(customer_id=row.id, masked=decision.masked, record=data)

    def _left_out(self, customer_id: str, reason: str) -> Exclusion:
        self._reasons[reason] = self._reasons.get(reason, 0) + 1
        return Exclusion(customer_id=customer_id, reason=reason)

    def finish(self) -> Disclosure:
        """Close the disclosure with its counts (``complete``); idempotent."""
        if self._finished:
            return self.disclosure
        now = self._context.now()
        with self._context.unit() as unit:
            row = Documents.find(unit, DISCLOSURE, self.disclosure.id)
            assert row is not None
            done = attrs.evolve(
                Disclosure.from_json(Documents.data(row)),
                status="complete",
                disclosed=self._sent,
                excluded=sum(self._reasons.values()),
                reasons=dict(self._reasons),
                completed_at=now,
            )
            stored = Documents.replace(unit, row, done.to_json(), now=now, tag=row.tag)
            unit.audit(
                self._actor,
                "disclosure.complete",
                at=now,
                reason=self._recipient.id,
                fields=[done.purpose],
            )
            unit.commit()
        self._finished = True
        self.disclosure = attrs.evolve(done, version=stored.version)
        return self.disclosure


def _disclosed_paths(personal: list[str], fields: tuple[str, ...]) -> list[str]:
    """The concrete personal paths holding a value (``contacts[0].phones``) that the
    disclosed field paths cover (a custom field covers the sealed ``custom`` value)."""
    if not fields:
        return personal
    wanted = tuple(f.replace("[]", "") for f in fields)
    out = []
    for path in personal:
        bare = re.sub(r"\[\d*\]", "", path)
        if any(bare == w or bare.startswith(w + ".") or w.startswith(bare + ".") for w in wanted):
            out.append(path)
    return out
