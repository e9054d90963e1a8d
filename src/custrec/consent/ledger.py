"""The consent ledger: an append-only sequence of events and decisions folded from it.

:class:`ConsentLedger` is an immutable value: :meth:`~ConsentLedger.append` returns a new ledger
and never changes the old one, so a ledger that answered a question keeps answering it the same
way. State at an instant is a pure fold over the events in force then, so every question can be
asked for any point in time.

Fold order. Events take effect at ``effective_from``. Events with the same ``effective_from``
apply grants and lifts of restriction first, then withdrawals, objections and restrictions, so
the protective event wins a tie; remaining ties go by ``captured_at`` and then by ledger position
(later wins). Each grant or withdrawal replaces the previous state of the purposes it names (the
latest grant's expiry is the one that counts); a restriction or lift replaces the previous one.

>>> from datetime import UTC, datetime, timedelta
>>> from custrec.consent.events import CaptureChannel, ConsentEvent
>>> t1 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
>>> t2 = t1 + timedelta(days=30)
>>> web = CaptureChannel.WEB_FORM
>>> ledger = ConsentLedger("c-1").append(
...     ConsentEvent.grant("c-1", "marketing.email", at=t1, channel=web))
>>> ledger = ledger.append(ConsentEvent.withdraw("c-1", "marketing.email", at=t2, channel=web))
>>> ledger.decide("marketing.email", as_of=t2 - timedelta(microseconds=1)).reason
<ReasonCode.GRANTED: 'granted'>
>>> ledger.decide("marketing.email", as_of=t2).reason
<ReasonCode.WITHDRAWN: 'withdrawn'>
>>> ledger.decide("third_party", as_of=t2).reason
<ReasonCode.SEPARATE_CONSENT_REQUIRED: 'separate_consent_required'>
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Final

import attrs

from custrec._checks import check, positive_number, require_aware
from custrec.consent.bases import LawfulBasis
from custrec.consent.events import ConsentEvent, EventKind, GivenBy
from custrec.consent.notices import NoticeHistory, NoticeVersion
from custrec.consent.purposes import PURPOSES, Purpose, PurposeCatalogue
from custrec.consent.subjects import SubjectFacts
from custrec.errors import BundledConsentError, ConsentError, GuardianConsentRequired

__all__ = ["REASON_CODES", "ConsentDecision", "ConsentLedger", "ExpiringGrant", "ReasonCode"]


class ReasonCode(enum.StrEnum):
    """Why :meth:`ConsentLedger.decide` answered as it did. The values are stable API."""

    GRANTED = "granted"
    NO_CONSENT = "no_consent"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    SEPARATE_CONSENT_REQUIRED = "separate_consent_required"
    GUARDIAN_REQUIRED = "guardian_required"
    RECONSENT_REQUIRED = "reconsent_required"
    OBJECTED = "objected"
    RESTRICTED = "restricted"
    BASIS_NOT_AVAILABLE = "basis_not_available"
    CONTRACT_NECESSITY = "contract_necessity"
    LAWFUL_BASIS = "lawful_basis"

    @property
    def allows(self) -> bool:
        """Whether a decision with this reason allows the processing."""
        return self in _ALLOWING


_ALLOWING: Final = frozenset(
    {ReasonCode.GRANTED, ReasonCode.CONTRACT_NECESSITY, ReasonCode.LAWFUL_BASIS}
)

REASON_CODES: Final[Mapping[ReasonCode, str]] = {
    ReasonCode.GRANTED: "an effective grant covers the purpose",
    ReasonCode.NO_CONSENT: "no grant for the purpose has been recorded",
    ReasonCode.WITHDRAWN: "the subject withdrew consent for the purpose",
    ReasonCode.EXPIRED: "the grant lapsed at its effective_to",
    ReasonCode.SEPARATE_CONSENT_REQUIRED: "the purpose needs its own separate grant",
    ReasonCode.GUARDIAN_REQUIRED: "the subject was below the age of consent when granting",
    ReasonCode.RECONSENT_REQUIRED: "the notice changed materially since the grant",
    ReasonCode.OBJECTED: "the subject objected to the purpose",
    ReasonCode.RESTRICTED: "processing is restricted to storage",
    ReasonCode.BASIS_NOT_AVAILABLE: "the asserted basis does not exist in the jurisdiction",
    ReasonCode.CONTRACT_NECESSITY: "necessary for the contract; no consent needed",
    ReasonCode.LAWFUL_BASIS: "allowed on the asserted non-consent basis",
}
"""Every reason code with a one-line explanation (for logs, notices and documentation)."""


@attrs.frozen(kw_only=True)
class ConsentDecision:
    """The answer to "may ``purpose`` be processed at ``as_of``?", with the reason.

    ``basis`` is the lawful basis the answer is about (``consent`` unless another basis was
    asserted and used); ``evidence_ids`` are the ids of the events that decided it.
    """

    allowed: bool
    reason: ReasonCode
    basis: LawfulBasis | None
    evidence_ids: tuple[str, ...] = ()
    purpose: str
    as_of: datetime

    def explain(self) -> str:
        """A one-line, PII-free explanation."""
        verdict = "allowed" if self.allowed else "not allowed"
        return f"{self.purpose}: {verdict} ({self.reason.value}: {REASON_CODES[self.reason]})"


@attrs.frozen(kw_only=True)
class ExpiringGrant:
    """A grant that will lapse soon, with the purposes it still governs."""

    event_id: str
    customer_id: str
    purposes: tuple[str, ...]
    expires_at: datetime


@attrs.define
class _PurposeState:
    last: ConsentEvent | None = None  # the latest grant or withdrawal in force
    objection: ConsentEvent | None = None  # an objection not yet lifted by a later grant


@attrs.define
class _State:
    purposes: dict[str, _PurposeState] = attrs.Factory(dict)
    restriction: ConsentEvent | None = None  # the latest restrict or lift in force

    def of(self, code: str) -> _PurposeState:
        return self.purposes.get(code) or _PurposeState()


_PERMISSIVE_FIRST: Final = {
    EventKind.GRANT: 0,
    EventKind.LIFT_RESTRICTION: 0,
    EventKind.WITHDRAW: 1,
    EventKind.OBJECT: 1,
    EventKind.RESTRICT: 1,
}


def _events(value: Iterable[ConsentEvent]) -> tuple[ConsentEvent, ...]:
    return tuple(value)


class ConsentLedger:
    """All consent events of one customer, append-only, with decisions at any instant.

    ``catalogue`` (default :data:`~custrec.consent.PURPOSES`) resolves purpose codes. The
    constructor and :meth:`append` check every event: it is a :class:`ConsentEvent` for this
    customer, its id is new, its purposes are in the catalogue (``UnknownPurpose``), and a grant
    naming a separate-consent purpose names nothing else (``BundledConsentError``).
    """

    __slots__ = ("_catalogue", "_customer_id", "_events", "_ordered")

    _customer_id: str
    _events: tuple[ConsentEvent, ...]
    _catalogue: PurposeCatalogue
    _ordered: tuple[ConsentEvent, ...]

    def __init__(
        self,
        customer_id: str,
        events: Iterable[ConsentEvent] = (),
        *,
        catalogue: PurposeCatalogue = PURPOSES,
    ) -> None:
        if not isinstance(customer_id, str) or not customer_id.strip():
            raise ValueError("customer_id must be a non-blank string")
        if not isinstance(catalogue, PurposeCatalogue):
            raise TypeError("catalogue must be a PurposeCatalogue")
        checked = _events(events)
        seen: set[str] = set()
        for event in checked:
            _check_event(event, customer_id, catalogue)
            if event.id in seen:
                raise ConsentError(f"consent event {event.id} appears twice")
            seen.add(event.id)
        indexed = sorted(
            enumerate(checked),
            key=lambda item: (
                item[1].effective_from,
                _PERMISSIVE_FIRST[item[1].kind],
                item[1].captured_at,
                item[0],
            ),
        )
        object.__setattr__(self, "_customer_id", customer_id)
        object.__setattr__(self, "_events", checked)
        object.__setattr__(self, "_catalogue", catalogue)
        object.__setattr__(self, "_ordered", tuple(event for _, event in indexed))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ConsentLedger is immutable; append() returns a new ledger")

    # ------------------------------------------------------------------------------- access

    @property
    def customer_id(self) -> str:
        """The customer this ledger belongs to."""
        return self._customer_id

    @property
    def events(self) -> tuple[ConsentEvent, ...]:
        """Every event, in the order appended."""
        return self._events

    @property
    def catalogue(self) -> PurposeCatalogue:
        """The purpose catalogue used to resolve codes."""
        return self._catalogue

    def __iter__(self) -> Iterator[ConsentEvent]:
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ConsentLedger):
            return (self._customer_id, self._events, self._catalogue) == (
                other._customer_id,
                other._events,
                other._catalogue,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._customer_id, self._events))

    def __repr__(self) -> str:
        return f"ConsentLedger(customer_id={self._customer_id!r}, events={len(self._events)})"

    # ----------------------------------------------------------------------------- append

    def append(self, event: ConsentEvent, *, subject: SubjectFacts | None = None) -> ConsentLedger:
        """Return a new ledger with ``event`` added; this ledger is unchanged.

        With ``subject``, a grant given by the subject while below the age of consent at
        ``captured_at`` raises :class:`GuardianConsentRequired`, and an event recorded under
        another jurisdiction than the subject's raises :class:`ConsentError`.
        """
        _check_event(event, self._customer_id, self._catalogue)
        if any(existing.id == event.id for existing in self._events):
            raise ConsentError(f"consent event {event.id} is already in the ledger")
        if subject is not None:
            if not isinstance(subject, SubjectFacts):
                raise TypeError("subject must be SubjectFacts")
            if event.jurisdiction is not subject.jurisdiction:
                raise ConsentError(
                    f"consent event {event.id} is recorded under {event.jurisdiction.value}, "
                    f"the subject under {subject.jurisdiction.value}"
                )
            if (
                event.kind is EventKind.GRANT
                and event.given_by is GivenBy.SUBJECT
                and subject.below_consent_age(event.captured_at)
            ):
                raise GuardianConsentRequired(
                    f"consent event {event.id}: the subject is below the age of consent "
                    f"({subject.effective_profile.consent_age}); record the guardian's consent"
                )
        return ConsentLedger(self._customer_id, (*self._events, event), catalogue=self._catalogue)

    def extend(
        self, events: Iterable[ConsentEvent], *, subject: SubjectFacts | None = None
    ) -> ConsentLedger:
        """Return a new ledger with each of ``events`` appended in turn."""
        ledger = self
        for event in events:
            ledger = ledger.append(event, subject=subject)
        return ledger

    # ------------------------------------------------------------------------------- fold

    def _fold(self, as_of: datetime) -> _State:
        state = _State()
        for event in self._ordered:
            if event.effective_from > as_of:
                break
            if event.kind in (EventKind.RESTRICT, EventKind.LIFT_RESTRICTION):
                state.restriction = event
                continue
            for code in event.purposes:
                entry = state.purposes.setdefault(code, _PurposeState())
                if event.kind is EventKind.GRANT:
                    entry.last = event
                    entry.objection = None
                elif event.kind is EventKind.WITHDRAW:
                    entry.last = event
                else:
                    entry.objection = event
        return state

    # ----------------------------------------------------------------------------- decide

    def decide(
        self,
        purpose: str,
        *,
        as_of: datetime,
        subject: SubjectFacts | None = None,
        basis: LawfulBasis | None = None,
        notices: NoticeHistory | NoticeVersion | None = None,
    ) -> ConsentDecision:
        """Decide whether ``purpose`` may be processed at ``as_of``.

        ``subject`` gives the jurisdiction and birth date (default: PIPL, age unknown). ``basis``
        is the lawful basis the caller relies on (default: consent). ``notices`` is the notice
        history (or the single current version); without it notice changes are not checked.
        The checks, in order: basis available; restriction; a non-consent basis; contract
        necessity; then consent: objection, no grant, withdrawal, expiry, guardian, notice.
        See ``docs/consent-and-retention.md`` for the full rules.

        Raises ``UnknownPurpose`` for a code outside the catalogue, ``ValueError`` for a naive
        ``as_of``, ``TypeError`` for wrongly typed arguments.
        """
        require_aware(as_of, "as_of")
        spec = self._catalogue[purpose]
        facts = _subject(subject)
        history = _history(notices)
        if basis is not None and not isinstance(basis, LawfulBasis):
            raise TypeError(f"basis must be a LawfulBasis, not {type(basis).__name__}")
        return self._decide(spec, as_of, facts, basis, history, self._fold(as_of))

    def decide_all(
        self,
        *,
        as_of: datetime,
        subject: SubjectFacts | None = None,
        basis: LawfulBasis | None = None,
        notices: NoticeHistory | NoticeVersion | None = None,
    ) -> dict[str, ConsentDecision]:
        """:meth:`decide` for every purpose of the catalogue, in catalogue order."""
        require_aware(as_of, "as_of")
        facts = _subject(subject)
        history = _history(notices)
        if basis is not None and not isinstance(basis, LawfulBasis):
            raise TypeError(f"basis must be a LawfulBasis, not {type(basis).__name__}")
        state = self._fold(as_of)
        return {
            code: self._decide(spec, as_of, facts, basis, history, state)
            for code, spec in self._catalogue.items()
        }

    def _decide(
        self,
        spec: Purpose,
        as_of: datetime,
        subject: SubjectFacts,
        basis: LawfulBasis | None,
        notices: NoticeHistory | None,
        state: _State,
    ) -> ConsentDecision:
        def answer(
            reason: ReasonCode, used: LawfulBasis | None, *evidence: ConsentEvent
        ) -> ConsentDecision:
            return ConsentDecision(
                allowed=reason.allows,
                reason=reason,
                basis=used,
                evidence_ids=tuple(e.id for e in evidence),
                purpose=spec.code,
                as_of=as_of,
            )

        profile = subject.effective_profile
        if basis is not None and not profile.allows(basis):
            return answer(ReasonCode.BASIS_NOT_AVAILABLE, basis)
        restriction = state.restriction
        if (
            restriction is not None
            and restriction.kind is EventKind.RESTRICT
            and restriction.covers(as_of)
            and not spec.storage_only
        ):
            return answer(ReasonCode.RESTRICTED, basis or LawfulBasis.CONSENT, restriction)
        entry = state.of(spec.code)
        if basis is not None and basis not in (LawfulBasis.CONSENT, LawfulBasis.CONTRACT):
            if basis.objectionable and entry.objection is not None:
                return answer(ReasonCode.OBJECTED, basis, entry.objection)
            return answer(ReasonCode.LAWFUL_BASIS, basis)
        if basis is LawfulBasis.CONTRACT and spec.necessary_for_service:
            return answer(ReasonCode.CONTRACT_NECESSITY, basis)
        consent = LawfulBasis.CONSENT
        if entry.objection is not None:
            return answer(ReasonCode.OBJECTED, consent, entry.objection)
        last = entry.last
        if last is None:
            if spec.requires_separate_consent:
                return answer(ReasonCode.SEPARATE_CONSENT_REQUIRED, consent)
            return answer(ReasonCode.NO_CONSENT, consent)
        if last.kind is EventKind.WITHDRAW:
            return answer(ReasonCode.WITHDRAWN, consent, last)
        if last.effective_to is not None and as_of >= last.effective_to:
            return answer(ReasonCode.EXPIRED, consent, last)
        if last.given_by is GivenBy.SUBJECT and subject.below_consent_age(last.captured_at):
            return answer(ReasonCode.GUARDIAN_REQUIRED, consent, last)
        if notices is not None and not notices.covers(
            last.notice_version, last.notice_hash, as_of=as_of
        ):
            return answer(ReasonCode.RECONSENT_REQUIRED, consent, last)
        return answer(ReasonCode.GRANTED, consent, last)

    # -------------------------------------------------------------------------- queries

    def expiring_within(self, days: float, *, as_of: datetime) -> list[ExpiringGrant]:
        """Grants that govern a purpose at ``as_of`` and lapse in ``(as_of, as_of + days]``, once
        each.

        A purpose counts when the grant is its current grant at ``as_of`` (not withdrawn, not
        superseded, not already expired, not objected to) and is still its current grant when
        it lapses (no withdrawal, renewal or objection scheduled before). Sorted by expiry, then
        ledger order. ``days`` must be a positive number.
        """
        require_aware(as_of, "as_of")
        check("days", days, positive_number())
        horizon = as_of + timedelta(days=days)
        now = self._fold(as_of)
        found: dict[str, list[str]] = {}
        grants: dict[str, ConsentEvent] = {}
        for code, entry in now.purposes.items():
            grant = entry.last
            if grant is None or grant.kind is not EventKind.GRANT or entry.objection is not None:
                continue
            end = grant.effective_to
            if end is None or not as_of < end <= horizon:
                continue
            then = self._fold(end).of(code)
            if then.last is not grant or then.objection is not None:
                continue
            found.setdefault(grant.id, []).append(code)
            grants[grant.id] = grant
        position = {event.id: index for index, event in enumerate(self._events)}
        result = [
            ExpiringGrant(
                event_id=grant.id,
                customer_id=self._customer_id,
                purposes=tuple(c for c in grant.purposes if c in found[grant.id]),
                expires_at=_end(grant),
            )
            for grant in grants.values()
        ]
        result.sort(key=lambda item: (item.expires_at, position[item.event_id]))
        return result

    def consent_withdrawn_at(
        self, *, as_of: datetime, purposes: Iterable[str] | None = None
    ) -> datetime | None:
        """When consent was withdrawn, if at ``as_of`` nothing is granted any more.

        Looks at ``purposes`` (default: every purpose with events). Returns the
        ``effective_from`` of the latest withdrawal in force at ``as_of`` among them when none of
        them has an unexpired grant at ``as_of``; ``None`` otherwise (including when nothing was
        ever withdrawn). This is the ``consent_withdrawn_at`` fact for :mod:`custrec.retention`.
        """
        require_aware(as_of, "as_of")
        state = self._fold(as_of)
        if purposes is None:
            entries = list(state.purposes.values())
        else:
            codes = [purposes] if isinstance(purposes, str) else list(purposes)
            self._catalogue.check_purposes(codes)
            entries = [state.of(code) for code in codes]
        latest: ConsentEvent | None = None
        for entry in entries:
            last = entry.last
            if last is None:
                continue
            if last.kind is EventKind.GRANT and last.covers(as_of):
                return None
            if last.kind is EventKind.WITHDRAW and (
                latest is None or last.effective_from > latest.effective_from
            ):
                latest = last
        return None if latest is None else latest.effective_from


def _end(grant: ConsentEvent) -> datetime:
    assert grant.effective_to is not None  # filtered by the caller
    return grant.effective_to


def _subject(subject: SubjectFacts | None) -> SubjectFacts:
    if subject is None:
        return SubjectFacts()
    if not isinstance(subject, SubjectFacts):
        raise TypeError(f"subject must be SubjectFacts, not {type(subject).__name__}")
    return subject


def _history(notices: NoticeHistory | NoticeVersion | None) -> NoticeHistory | None:
    if notices is None or isinstance(notices, NoticeHistory):
        return notices
    if isinstance(notices, NoticeVersion):
        return NoticeHistory((notices,))
    raise TypeError("notices must be a NoticeHistory or a NoticeVersion")


def _check_event(event: ConsentEvent, customer_id: str, catalogue: PurposeCatalogue) -> None:
    if not isinstance(event, ConsentEvent):
        raise TypeError(f"a ledger holds ConsentEvent objects, not {type(event).__name__}")
    if event.customer_id != customer_id:
        raise ConsentError(f"consent event {event.id} belongs to another customer")
    specs = catalogue.check_purposes(event.purposes)
    if event.kind is EventKind.GRANT and len(specs) > 1:
        separate = [p.code for p in specs if p.requires_separate_consent]
        if separate:
            raise BundledConsentError(
                f"consent event {event.id}: {', '.join(separate)} needs separate consent and "
                "must be granted alone, in its own event"
            )
