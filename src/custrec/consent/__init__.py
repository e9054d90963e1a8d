"""Consent under PIPL first and GDPR second: purposes, lawful bases, an append-only ledger.

Record what the subject decided as immutable :class:`ConsentEvent` objects, collect them in a
:class:`ConsentLedger` (append returns a new ledger), and ask :meth:`ConsentLedger.decide`
whether a purpose may be processed at an instant. Every :class:`ConsentDecision` carries a stable
:class:`ReasonCode`, the lawful basis it is about and the ids of the events behind it.

>>> from datetime import UTC, datetime
>>> at = datetime(2025, 3, 1, tzinfo=UTC)
>>> grant = ConsentEvent.grant("c-1", "profiling", at=at, channel=CaptureChannel.APP)
>>> ConsentLedger("c-1", [grant]).decide("profiling", as_of=at).allowed
True

This package is pure logic: no I/O, no clock (every evaluation takes ``as_of``), deterministic.
See ``docs/consent-and-retention.md`` for the rules and a worked PIPL example.
"""

from custrec.consent.bases import (
    PROFILES,
    Jurisdiction,
    JurisdictionProfile,
    LawfulBasis,
    available_bases,
)
from custrec.consent.events import (
    CaptureChannel,
    ConsentEvent,
    EventDetails,
    EventKind,
    Evidence,
    GivenBy,
    GrantDetails,
    GuardianEvidence,
    GuardianRelation,
    RestrictionDetails,
)
from custrec.consent.ledger import (
    REASON_CODES,
    ConsentDecision,
    ConsentLedger,
    ExpiringGrant,
    ReasonCode,
)
from custrec.consent.notices import NoticeHistory, NoticeVersion, notice_hash
from custrec.consent.purposes import PURPOSES, ContactChannel, Purpose, PurposeCatalogue
from custrec.consent.subjects import SubjectFacts, age_on, effective_sensitivity
from custrec.errors import (
    BasisNotAvailable,
    BundledConsentError,
    ConsentError,
    GuardianConsentRequired,
    UnknownPurpose,
)

Decision = ConsentDecision
"""The name the public contract (shared/DESIGN.md) promises for :class:`ConsentDecision`."""

__all__ = [
    "PROFILES",
    "PURPOSES",
    "REASON_CODES",
    "BasisNotAvailable",
    "BundledConsentError",
    "CaptureChannel",
    "ConsentDecision",
    "ConsentError",
    "ConsentEvent",
    "ConsentLedger",
    "ContactChannel",
    "Decision",
    "EventDetails",
    "EventKind",
    "Evidence",
    "ExpiringGrant",
    "GivenBy",
    "GrantDetails",
    "GuardianConsentRequired",
    "GuardianEvidence",
    "GuardianRelation",
    "Jurisdiction",
    "JurisdictionProfile",
    "LawfulBasis",
    "NoticeHistory",
    "NoticeVersion",
    "Purpose",
    "PurposeCatalogue",
    "ReasonCode",
    "RestrictionDetails",
    "SubjectFacts",
    "UnknownPurpose",
    "age_on",
    "available_bases",
    "effective_sensitivity",
    "notice_hash",
]
