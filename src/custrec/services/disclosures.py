"""Third-party recipients and the register of disclosures (``registry.disclosures``).

PIPL art. 23 lets a company give personal information to another handler only with the
customer's separate consent (or another lawful basis), and asks it to tell the customer the
recipient's name and contact. This service keeps the recipients, decides per customer at the
instant of sending whether their data may go, records each disclosure in the same unit of
work as the audited read of the data sent, and lists disclosures per recipient and per
customer (the subject export includes them).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

import attrs

from custrec._checks import (
    check,
    flag,
    max_length,
    non_empty_text,
    optional,
    positive_int,
    storable_text,
)
from custrec.compliance.disclosures import (
    CustomerDisclosure,
    DisclosedRecord,
    Disclosure,
    DisclosureResult,
    Exclusion,
    check_fields,
)
from custrec.compliance.recipients import Recipient, entered
from custrec.consent import LawfulBasis
from custrec.errors import InvalidState, UnknownRecipient
from custrec.model.ids import new_id
from custrec.security import Action, Actor, Resource
from custrec.services._disclosure_run import (
    DISCLOSED,
    DISCLOSURE,
    EXCLUDED,
    DisclosureRun,
)
from custrec.services._documents import Documents
from custrec.services._records import Records
from custrec.services.context import Context, Unit, check_actor

__all__ = ["DISCLOSURE", "RECIPIENT", "DisclosureRun", "DisclosureService"]

RECIPIENT: Final = "recipient"
"""The document kind of a third-party recipient."""
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
        given = entered(name=name, contact=contact, contract=contract, country=country, note=note)
        recipient = Recipient(id=recipient_id, registered_at=now, **given)
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
        changes = entered(**changes)
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            row, recipient = self._recipient(unit, recipient_id)
            if all(getattr(recipient, name) == value for name, value in changes.items()):
                unit.commit()
                return recipient  # nothing changes: no new version, nothing audited
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
        allow_masked: bool = False,
    ) -> DisclosureRun:
        """Open a disclosure and return the run that sends customers one at a time (what
        :meth:`disclose` and :func:`~custrec.interchange.export_customers` use; call
        :meth:`DisclosureRun.finish` at the end).

        Everything is checked before anything is written: the recipient is registered
        (``UnknownRecipient``), the purpose is in the catalogue (``UnknownPurpose``), the basis
        is a :class:`~custrec.consent.LawfulBasis` (``ValueError``), on the consent basis the
        purpose needs separate consent (PIPL art. 23: ``ValueError`` otherwise, e.g. use
        ``third_party``) and on any other basis ``reference`` names its ground (the contract,
        the legal provision); ``fields`` are customer field paths, ``None`` for the whole
        record (``ValueError`` for an unknown one or an empty list). The actor needs the
        ``compliance`` right to open it and the ``export`` right on each customer sent.

        Each customer is then decided as they are read: the basis (a withdrawal or objection
        stops a disclosure on any basis but consent too, unless the law compels it:
        ``legal_obligation``, ``other_laws``, ``emergency``); a recipient whose country is not
        the registry's ``region`` also needs the customer's separate consent to
        ``cross_border`` (PIPL arts. 38-39), and disclosed fields holding sensitive
        information (a resident id number, a sensitive custom field) their separate consent to
        ``sensitive`` (art. 29), whatever the basis. A customer the actor would see masked is
        left out (``masked``) unless ``allow_masked``.
        """
        actor = check_actor(actor)
        try:
            basis = LawfulBasis(basis)
        except ValueError:
            choices = ", ".join(b.value for b in LawfulBasis)
            raise ValueError(f"basis must be one of {choices}") from None
        known = self._context.purposes[purpose]
        if basis is LawfulBasis.CONSENT and not known.requires_separate_consent:
            raise ValueError(
                f"purpose {purpose!r} does not ask for separate consent: a disclosure to a third "
                "party on the consent basis needs a purpose that does (PIPL art. 23), such as "
                "'third_party'"
            )
        paths = check_fields(fields)
        check("channel", channel, storable_text())
        check(
            "reference",
            reference,
            optional(attrs.validators.and_(storable_text(), max_length(200))),
        )
        if basis is not LawfulBasis.CONSENT and not (reference or "").strip():
            raise ValueError(
                f"a disclosure on the {basis.value} basis needs a reference naming its ground "
                "(the contract, the legal provision): reference=, or --reference"
            )
        check("allow_masked", allow_masked, flag())
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
                # a recipient whose country is unknown is treated as abroad (fail closed)
                cross_border=found.country != self._context.region,
            )
            Documents.add(
                unit, DISCLOSURE, disclosure.id, disclosure.to_json(), now=now, tag=found.id
            )
            unit.audit(actor, "disclosure.start", at=now, reason=found.id, fields=[purpose])
            unit.commit()
        return DisclosureRun(
            self._context, self._records, disclosure, found, actor, allow_masked=allow_masked
        )

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
        allow_masked: bool = False,
    ) -> DisclosureResult:
        """Disclose the given customers to ``recipient`` for ``purpose``: each is sent only if
        its decision allows it at the instant it is read (see :meth:`start`); the result holds
        the records to hand over (exactly what was recorded, cut to ``fields``) and the
        customers left out with the reason. Every id is checked before anything is written
        (an empty list, a repeated or malformed id: ``ValueError``/``TypeError``)."""
        if isinstance(customer_ids, str):
            raise TypeError("customer_ids must be a list of ids, not one string")
        ids = list(customer_ids)
        if not ids:
            raise ValueError("name at least one customer to disclose")
        for customer_id in ids:
            check("customer id", customer_id, non_empty_text())
            check("customer id", customer_id, storable_text())
        if len(set(ids)) != len(ids):
            raise ValueError("a customer id is named twice")
        run = self.start(
            recipient=recipient,
            purpose=purpose,
            actor=actor,
            fields=fields,
            basis=basis,
            reference=reference,
            allow_masked=allow_masked,
        )
        records: list[DisclosedRecord] = []
        excluded: list[Exclusion] = []
        with run:  # finished whatever happens: the register holds what was sent
            for customer_id in ids:
                sent = run.send(customer_id)
                if isinstance(sent, DisclosedRecord):
                    records.append(sent)
                else:
                    excluded.append(sent)
        return DisclosureResult(
            disclosure=run.disclosure, records=tuple(records), excluded=tuple(excluded)
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
            disclosed=table.count_links(DISCLOSURE, row.id, state=DISCLOSED),
            excluded=table.count_links(DISCLOSURE, row.id, state=EXCLUDED),
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
                state=DISCLOSED if disclosed else EXCLUDED,
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
    erased = data is None
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
        disclosed=state == DISCLOSED,
        masked=bool(data.get("masked", False)),
        reason=data.get("reason"),
        recipient_name=data.get("recipient"),
        recipient_country=data.get("country"),
        erased=erased,
    )
