"""The application layer: one small service per capability, over one unit of work.

:class:`~custrec.registry.Registry` wires them and gives each as an attribute
(``registry.customers``, ``registry.consent``, ...). Every service receives what it uses
explicitly: the shared :class:`~custrec.services.context.Context` (stores, codec, keys,
policy, settings), the :class:`~custrec.services._records.Records` helpers, and the other
services it calls. docs/architecture.md shows the layers and how to add a capability.
"""

from custrec._progress import Progress
from custrec.services._records import Records
from custrec.services.activities import ActivityService
from custrec.services.aggregates import ReportService
from custrec.services.audit_head import AuditHead, FileAuditHead, StoreAuditHead
from custrec.services.auditing import AuditService
from custrec.services.backups import BackupReceipt, BackupService, RestoreReceipt, restore_backup
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
