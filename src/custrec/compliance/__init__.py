"""Compliance records: third-party recipients and disclosures, incidents, sampling audits,
and the map of what custrec holds (records of processing).

These are plain value types; the registry keeps them in the store's ``documents`` table
(``registry.disclosures``, ``registry.incidents``, ``registry.sampling``) and audits every
change. docs/compliance.md walks through a PIPL example.
"""

from custrec.compliance.disclosures import (
    CustomerDisclosure,
    Disclose,
    DisclosedRecord,
    Disclosure,
    DisclosureResult,
    Exclusion,
)
from custrec.compliance.incidents import (
    AffectedCustomer,
    AuthorityReport,
    Exposure,
    Incident,
    IncidentStatus,
    Notice,
    NotificationChannel,
    NotificationEntry,
)
from custrec.compliance.processing import Controller, ProcessingMap, processing_map
from custrec.compliance.recipients import Recipient
from custrec.compliance.sampling import (
    BatchReport,
    FieldAccuracy,
    FieldResult,
    SampleResult,
    SamplingBatch,
)

__all__ = [
    "AffectedCustomer",
    "AuthorityReport",
    "BatchReport",
    "Controller",
    "CustomerDisclosure",
    "Disclose",
    "DisclosedRecord",
    "Disclosure",
    "DisclosureResult",
    "Exclusion",
    "Exposure",
    "FieldAccuracy",
    "FieldResult",
    "Incident",
    "IncidentStatus",
    "Notice",
    "NotificationChannel",
    "NotificationEntry",
    "ProcessingMap",
    "Recipient",
    "SampleResult",
    "SamplingBatch",
    "processing_map",
]
