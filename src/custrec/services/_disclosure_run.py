"""One disclosure being sent, customer by customer (private to ``registry.disclosures``).

For each customer one unit of work decides (the export right, the lawful basis at this instant,
and the further separate consents PIPL asks for: a cross-border transfer, arts. 38-39;
sensitive information, art. 29), reads the record, cuts it to the disclosed fields, hands it to
the caller's ``deliver`` and only then commits the customer's link and audit entry: a delivery
that fails leaves no record of a disclosure that did not happen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Final

import attrs

from custrec._checks import check, non_empty_text, storable_text
from custrec.compliance.disclosures import DisclosedRecord, Disclosure, Exclusion, project
from custrec.compliance.recipients import Recipient
from custrec.consent import LawfulBasis, ReasonCode, effective_sensitivity
from custrec.errors import AccessDenied, DuplicateKey, Erased, InvalidState, NotFound
from custrec.model.records import Customer, Sensitivity, personal_fields
from custrec.security import Action, Actor, Resource
from custrec.services._documents import Documents
from custrec.services._records import Records
from custrec.services.context import Context, Unit

__all__ = ["DISCLOSED", "DISCLOSURE", "EXCLUDED", "DisclosureRun", "disclosed_paths"]

DISCLOSURE: Final = "disclosure"
"""The document kind of a disclosure (its links: the customers concerned)."""
DISCLOSED: Final = "disclosed"
EXCLUDED: Final = "excluded"

COMPELLED: Final = frozenset(
    {LawfulBasis.LEGAL_OBLIGATION, LawfulBasis.OTHER_LAWS, LawfulBasis.EMERGENCY}
)
"""Bases under which the law compels the disclosure: a customer's withdrawal or objection does
not stop it. Under every other basis but consent it does (PIPL art. 27: publicly available
information may not be used against an explicit refusal)."""

_REFUSALS: Final = frozenset({ReasonCode.WITHDRAWN, ReasonCode.OBJECTED})
THIRD_PARTY: Final = "third_party"
"""The purpose of providing information to another handler (PIPL art. 23)."""


def disclosed_paths(personal: list[str], fields: tuple[str, ...]) -> list[str]:
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


_SENSITIVE_PATHS: Final = frozenset(
    f.path.replace("[]", "")
    for f in personal_fields(Customer)
    if f.sensitivity is Sensitivity.SENSITIVE
)


class DisclosureRun:
    """An open disclosure: :meth:`send` decides, reads and records one customer in one unit
    of work; :meth:`finish` closes it with its counts. Made by
    :meth:`DisclosureService.start <custrec.services.DisclosureService.start>`; usable as a
    context manager (``with registry.disclosures.start(...) as run:``), which finishes it."""

    def __init__(
        self,
        context: Context,
        records: Records,
        disclosure: Disclosure,
        recipient: Recipient,
        actor: Actor,
        *,
        allow_masked: bool = False,
    ) -> None:
        self._context = context
        self._records = records
        self._actor = actor
        self._recipient = recipient
        self._allow_masked = allow_masked
        self.disclosure = disclosure
        self._reasons: dict[str, int] = {}
        self._seen: set[str] = set()
        self._sent = 0
        self._finished = False

    def __enter__(self) -> DisclosureRun:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if error is None:
            self.finish()
        else:
            self.stop()

    def send(
        self, customer_id: str, *, deliver: Callable[[DisclosedRecord], object] | None = None
    ) -> DisclosedRecord | Exclusion:
        """Decide for one customer at this instant: their projected record, recorded as
        disclosed, or the reason they were left out (recorded too when they exist).

        ``deliver(record)`` runs before the record is committed: if it raises, the customer is
        not recorded as disclosed (no link; they may be sent again), an audit entry
        ``customer.disclose`` with outcome ``failed`` names the paths that were handed to
        ``deliver``, and the error propagates. A customer considered once in this disclosure
        raises ``InvalidState``; an alias of one (a merged customer's old id) is left out as
        ``duplicate``.
        """
        failed: list[tuple[str, list[str]]] = []
        try:
            return self._send(customer_id, deliver, failed)
        except BaseException:
            for who, paths in failed:
                self._record_failure(who, paths)
            raise

    def _record_failure(self, customer_id: str, paths: list[str]) -> None:
        now = self._context.now()
        with self._context.unit() as unit:
            unit.audit(
                self._actor,
                "customer.disclose",
                at=now,
                customer_id=customer_id,
                reason=self._recipient.id,
                fields=paths,
                outcome="failed",
            )
            unit.commit()

    def _send(
        self,
        customer_id: str,
        deliver: Callable[[DisclosedRecord], object] | None,
        failed: list[tuple[str, list[str]]],
    ) -> DisclosedRecord | Exclusion:
        if self._finished:
            raise InvalidState("this disclosure is finished")
        check("customer_id", customer_id, non_empty_text())
        check("customer_id", customer_id, storable_text())
        if customer_id in self._seen:
            raise InvalidState(f"customer {customer_id} is already in this disclosure")
        context, records, actor = self._context, self._records, self._actor
        disclosure = self.disclosure
        now = context.now()
        with context.unit() as unit:
            try:
                row = records.live_row(unit, customer_id)
            except NotFound:
                self._seen.add(customer_id)
                return self._left_out(customer_id, "not_found")
            if row.id in self._seen:  # an alias of a customer already considered: once only
                self._seen.add(customer_id)
                return Exclusion(customer_id=customer_id, reason="duplicate")
            self._seen.update({customer_id, row.id})
            try:
                decision = unit.authorize(actor, Action.EXPORT, Resource.of(row), at=now)
            except AccessDenied:
                return self._left_out(row.id, "denied")
            try:
                customer = records.customer(unit, row)
            except Erased:
                return self._left_out(row.id, "erased")
            reason = self._refusal(unit, customer, now)
            if reason is None and decision.masked and not self._allow_masked:
                reason = "masked"
            if reason is not None:
                link = Documents.sealed_link(
                    unit,
                    DISCLOSURE,
                    disclosure.id,
                    row.id,
                    {"at": now.isoformat(), "reason": reason},
                    now=now,
                    state=EXCLUDED,
                )
                self._link(unit, link)
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
                    "country": self._recipient.country,
                },
                now=now,
                state=DISCLOSED,
            )
            self._link(unit, link)
            paths = (
                []
                if decision.masked
                else disclosed_paths(records.personal_paths(customer), disclosure.fields)
            )
            unit.audit(
                actor,
                "customer.disclose",
                at=now,
                customer_id=row.id,
                reason=self._recipient.id,
                fields=paths,
            )
            sent = DisclosedRecord(customer_id=row.id, masked=decision.masked, record=data)
            if deliver is not None:
                try:
                    deliver(sent)
                except BaseException:
                    failed.append((row.id, paths))
                    self._seen.difference_update({customer_id, row.id})  # may be sent again
                    raise
            unit.commit()
        self._sent += 1
        return sent

    def _refusal(self, unit: Unit, customer: Customer, now: datetime) -> str | None:
        """Why this customer may not be sent (a reason code), or ``None``."""
        context, records, disclosure = self._context, self._records, self.disclosure
        ledger = records.ledger(unit, customer.id)
        subject = records.subject(customer)

        def decide(purpose: str, basis: LawfulBasis) -> ReasonCode | None:
            verdict = ledger.decide(
                purpose, as_of=now, subject=subject, basis=basis, notices=context.notices
            )
            return None if verdict.allowed else verdict.reason

        refused = decide(disclosure.purpose, disclosure.basis)
        if refused is not None:
            return str(refused.value)
        if (
            disclosure.basis is LawfulBasis.CONSENT
            and disclosure.purpose != THIRD_PARTY
            and THIRD_PARTY in context.purposes
        ):
            # PIPL art. 23: providing to another handler needs that separate consent itself
            refused = decide(THIRD_PARTY, LawfulBasis.CONSENT)
            if refused is not None:
                return f"{THIRD_PARTY}:{refused.value}"
        if disclosure.basis is not LawfulBasis.CONSENT and disclosure.basis not in COMPELLED:
            own = ledger.decide(
                disclosure.purpose, as_of=now, subject=subject, notices=context.notices
            )
            if own.reason in _REFUSALS:
                return str(own.reason.value)
        further = []
        if disclosure.cross_border:
            further.append("cross_border")
        if self._sensitive(unit, customer, now):
            further.append("sensitive")
        for purpose in further:
            if purpose not in context.purposes:  # fail closed: no consent can be recorded
                return f"{purpose}:unknown_purpose"
            refused = decide(purpose, LawfulBasis.CONSENT)
            if refused is not None:
                return f"{purpose}:{refused.value}"
        return None

    def _sensitive(self, unit: Unit, customer: Customer, now: datetime) -> bool:
        """Whether the disclosed fields hold sensitive information of this customer (a
        resident id number, a sensitive custom field, anything of a subject under 14)."""
        fields = self.disclosure.fields
        covered = disclosed_paths(self._records.personal_paths(customer), fields)
        if not covered:
            return False
        subject = self._records.subject(customer)
        if effective_sensitivity(Sensitivity.PERSONAL, subject, as_of=now) is (
            Sensitivity.SENSITIVE
        ):
            return True  # PIPL art. 28: all information of a minor under 14
        if any(re.sub(r"\[\d*\]", "", path) in _SENSITIVE_PATHS for path in covered):
            return True
        if "custom" not in covered:
            return False
        wanted = {f.removeprefix("custom.") for f in fields if f.startswith("custom.")}
        definitions = unit.fields()
        for name in customer.custom:
            if fields and "custom" not in fields and name not in wanted:
                continue
            definition = definitions.get(name, removed=True)
            if definition is None or definition.sensitivity is Sensitivity.SENSITIVE:
                return True  # a value without a definition counts as sensitive, to be safe
        return False

    def _link(self, unit: Unit, link: object) -> None:
        try:
            Documents.link(unit, [link])  # type: ignore[list-item]
        except DuplicateKey:
            raise InvalidState("this customer is already in this disclosure") from None

    def _left_out(self, customer_id: str, reason: str) -> Exclusion:
        self._reasons[reason] = self._reasons.get(reason, 0) + 1
        return Exclusion(customer_id=customer_id, reason=reason)

    def finish(self) -> Disclosure:
        """Close the disclosure with its counts (``complete``); idempotent. Left by an
        exception (a delivery that failed, say), the context manager closes it ``stopped``
        instead (:meth:`stop`): the customers sent before are recorded, the rest were never
        decided."""
        if self._finished:
            return self.disclosure
        return self._close("complete")

    def stop(self) -> Disclosure:
        """Close the disclosure as ``stopped`` (an error ended it half-way), with the counts so
        far; no-op once closed. Never raises: a stop that cannot be written leaves the
        disclosure ``open`` (what a process that died half-way leaves), so the error that
        stopped the run is the one the caller sees."""
        if self._finished:
            return self.disclosure
        try:
            return self._close("stopped")
        except Exception:  # best effort: the error that stopped the run is the one that matters
            return self.disclosure

    def _close(self, status: str) -> Disclosure:
        now = self._context.now()
        with self._context.unit() as unit:
            row = Documents.find(unit, DISCLOSURE, self.disclosure.id)
            assert row is not None
            done = attrs.evolve(
                Disclosure.from_json(Documents.data(row)),
                status=status,
                disclosed=self._sent,
                excluded=sum(self._reasons.values()),
                reasons=dict(self._reasons),
                completed_at=now,
            )
            stored = Documents.replace(unit, row, done.to_json(), now=now, tag=row.tag)
            unit.audit(
                self._actor,
                "disclosure.complete" if status == "complete" else "disclosure.stop",
                at=now,
                reason=self._recipient.id,
                fields=[done.purpose],
                outcome="ok" if status == "complete" else "failed",
            )
            unit.commit()
        self._finished = True
        self.disclosure = attrs.evolve(done, version=stored.version)
        return self.disclosure
