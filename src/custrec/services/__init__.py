"""The application layer: one small service per capability, over one unit of work.

:class:`~custrec.registry.Registry` wires them and gives each as an attribute
(``registry.customers``, ``registry.consent``, ...). Every service receives what it uses
explicitly: the shared :class:`~custrec.services.context.Context` (stores, codec, keys,
policy, settings), the :class:`~custrec.services._records.Records` helpers, and the other
services it calls. docs/architecture.md shows the layers and how to add a capability.

The names are imported on first use (a worker process that needs one service does not load
them all); ``from custrec.services import X`` works as for any module.
"""

import typing as _typing

from custrec import _lazy

if _typing.TYPE_CHECKING:
    # What type checkers and IDEs see; at run time module __getattr__ below imports these.
    from custrec._progress import Progress
    from custrec.services._records import Records
    from custrec.services.activities import ActivityService
    from custrec.services.aggregates import ReportService
    from custrec.services.audit_head import AuditHead, FileAuditHead, StoreAuditHead
    from custrec.services.auditing import AuditService
    from custrec.services.backups import (
        BackupReceipt,
        BackupService,
        RestoreReceipt,
        restore_backup,
    )
    from custrec.services.cases import CaseService
    from custrec.services.changes import ChangeService
    from custrec.services.consent import ConsentService
    from custrec.services.context import Context, Unit
    from custrec.services.customers import CustomerService, Preparation, PreparedCustomer
    from custrec.services.disclosures import DisclosureRun, DisclosureService
    from custrec.services.facets import Between, CustomerFacets, facet_filter
    from custrec.services.fields import FieldService
    from custrec.services.grading import GradingService
    from custrec.services.incidents import IncidentService
    from custrec.services.keys import KeyService
    from custrec.services.matching import MatchingService
    from custrec.services.privacy import JOURNAL_ACTION, PrivacyService
    from custrec.services.processing import ProcessingService
    from custrec.services.quality import QualityService
    from custrec.services.results import (
        BulkResult,
        ErasureAction,
        ErasureReceipt,
        GradeMove,
        GroupCounts,
        HistoryEntry,
        IdentifyResult,
        JournalEntry,
        MergeResult,
        PeriodCount,
        PeriodRate,
        RegradeReport,
        RetentionReport,
        RotationReport,
        SubjectExport,
    )
    from custrec.services.retention import RETENTION_PRINCIPAL, RetentionService
    from custrec.services.review import ReviewService
    from custrec.services.sampling import SamplingService
    from custrec.services.tasks import TaskService
    from custrec.services.workflow import SweepReport, WorkflowService

__all__ = [
    "JOURNAL_ACTION",
    "RETENTION_PRINCIPAL",
    "ActivityService",
    "AuditHead",
    "AuditService",
    "BackupReceipt",
    "BackupService",
    "Between",
    "BulkResult",
    "CaseService",
    "ChangeService",
    "ConsentService",
    "Context",
    "CustomerFacets",
    "CustomerService",
    "DisclosureRun",
    "DisclosureService",
    "ErasureAction",
    "ErasureReceipt",
    "FieldService",
    "FileAuditHead",
    "GradeMove",
    "GradingService",
    "GroupCounts",
    "HistoryEntry",
    "IdentifyResult",
    "IncidentService",
    "JournalEntry",
    "KeyService",
    "MatchingService",
    "MergeResult",
    "PeriodCount",
    "PeriodRate",
    "Preparation",
    "PreparedCustomer",
    "PrivacyService",
    "ProcessingService",
    "Progress",
    "QualityService",
    "Records",
    "RegradeReport",
    "ReportService",
    "RestoreReceipt",
    "RetentionReport",
    "RetentionService",
    "ReviewService",
    "RotationReport",
    "SamplingService",
    "StoreAuditHead",
    "SubjectExport",
    "SweepReport",
    "TaskService",
    "Unit",
    "WorkflowService",
    "facet_filter",
    "restore_backup",
]

# Each lazily imported name, and the module that defines it.
_LAZY: dict[str, str] = {
    "ActivityService": "custrec.services.activities",
    "AuditHead": "custrec.services.audit_head",
    "AuditService": "custrec.services.auditing",
    "BackupReceipt": "custrec.services.backups",
    "BackupService": "custrec.services.backups",
    "Between": "custrec.services.facets",
    "BulkResult": "custrec.services.results",
    "CaseService": "custrec.services.cases",
    "ChangeService": "custrec.services.changes",
    "ConsentService": "custrec.services.consent",
    "Context": "custrec.services.context",
    "CustomerFacets": "custrec.services.facets",
    "CustomerService": "custrec.services.customers",
    "DisclosureRun": "custrec.services.disclosures",
    "DisclosureService": "custrec.services.disclosures",
    "ErasureAction": "custrec.services.results",
    "ErasureReceipt": "custrec.services.results",
    "FieldService": "custrec.services.fields",
    "FileAuditHead": "custrec.services.audit_head",
    "GradeMove": "custrec.services.results",
    "GradingService": "custrec.services.grading",
    "GroupCounts": "custrec.services.results",
    "HistoryEntry": "custrec.services.results",
    "IdentifyResult": "custrec.services.results",
    "IncidentService": "custrec.services.incidents",
    "JOURNAL_ACTION": "custrec.services.privacy",
    "JournalEntry": "custrec.services.results",
    "KeyService": "custrec.services.keys",
    "MatchingService": "custrec.services.matching",
    "MergeResult": "custrec.services.results",
    "PeriodCount": "custrec.services.results",
    "PeriodRate": "custrec.services.results",
    "Preparation": "custrec.services._preparation",
    "PreparedCustomer": "custrec.services._preparation",
    "PrivacyService": "custrec.services.privacy",
    "ProcessingService": "custrec.services.processing",
    "Progress": "custrec._progress",
    "QualityService": "custrec.services.quality",
    "RETENTION_PRINCIPAL": "custrec.services.retention",
    "Records": "custrec.services._records",
    "RegradeReport": "custrec.services.results",
    "ReportService": "custrec.services.aggregates",
    "RestoreReceipt": "custrec.services.backups",
    "RetentionReport": "custrec.services.results",
    "RetentionService": "custrec.services.retention",
    "ReviewService": "custrec.services.review",
    "RotationReport": "custrec.services.results",
    "SamplingService": "custrec.services.sampling",
    "StoreAuditHead": "custrec.services.audit_head",
    "SubjectExport": "custrec.services.results",
    "SweepReport": "custrec.services.workflow",
    "TaskService": "custrec.services.tasks",
    "Unit": "custrec.services.context",
    "WorkflowService": "custrec.services.workflow",
    "facet_filter": "custrec.services.facets",
    "restore_backup": "custrec.services.backups",
}

if not _typing.TYPE_CHECKING:
    # Hidden from type checkers: a module __getattr__ would make them accept any name at all.
    __getattr__ = _lazy.loader(__name__, _LAZY)

__dir__ = _lazy.lister(__name__, _LAZY)
