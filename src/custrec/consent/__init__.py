"""Consent under PIPL first and GDPR second: purposes, lawful bases, an append-only ledger.

Record what the subject decided as immutable :class:`ConsentEvent` objects, collect them in a
:class:`ConsentLedger` (append returns a new ledger), and ask :meth:`ConsentLedger.decide`
whether a purpose may be processed at an instant. Every :class:`Decision` carries a stable
:class:`ReasonCode`, the lawful basis it is about and the ids of the events behind it.

>>> from datetime import UTC, datetime
>>> at = datetime(2025, 3, 1, tzinfo=UTC)
>>> grant = ConsentEvent.grant("c-1", "profiling", at=at, channel=CaptureChannel.APP)
>>> ConsentLedger("c-1", [grant]).decide("profiling", at=at).allowed
True

This package is pure logic: no I/O, no clock (every call takes ``at``), deterministic.
See ``docs/consent-and-retention.md`` for the rules and a worked PIPL example.
"""

from custrec.consent.bases import (
    PROFILES,
    Jurisdiction,
    JurisdictionProfile,
    LawfulBasis,
    available_bases,
)
from custrec.consent.errors import (
    BasisNotAvailable,
    BundledConsentError,
    ConsentError,
    GuardianConsentRequired,
    UnknownPurpose,
)
from custrec.consent.events import (
    CaptureChannel,
    ConsentEvent,
    EventKind,
    Evidence,
    GivenBy,
    GuardianEvidence,
    GuardianRelation,
)
from custrec.consent.ledger import REASON_CODES, ConsentLedger, Decision, ExpiringGrant, ReasonCode
from custrec.consent.notices import NoticeHistory, NoticeVersion, notice_hash
from custrec.consent.purposes import PURPOSES, ContactChannel, Purpose, PurposeCatalogue
from custrec.consent.subjects import SubjectFacts, age_on, effective_sensitivity

__all__ = [
    "PROFILES",
    "PURPOSES",
    "REASON_CODES",
    "BasisNotAvailable",
    "BundledConsentError",
    "CaptureChannel",
    "ConsentError",
    "ConsentEvent",
    "ConsentLedger",
    "ContactChannel",
    "Decision",
    "EventKind",
    "Evidence",
    "ExpiringGrant",
    "GivenBy",
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
    "SubjectFacts",
    "UnknownPurpose",
    "age_on",
    "available_bases",
    "effective_sensitivity",
    "notice_hash",
]
