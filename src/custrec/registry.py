"""The Registry: the one entry point a CRM calls, and where each capability is reached.

``Registry(store, keyring=...)`` opens the store (checking that the keyring is the one that wrote
it), wires the shared :class:`~custrec.services.context.Context` and gives each capability as an
attribute, a small service of its own:

=========================  =======================================================================
``registry.customers``     intake, get, find, identify, query, batches, ids, count, update, history
``registry.fields``        custom fields: define, change, remove; current definitions, history
``registry.activities``    transactions, interactions, purchase summaries
``registry.grading``       regrade with a grading policy
``registry.consent``       record, grant, withdraw, object to, ledgers, ``may_use``, audiences
``registry.retention``     plan and apply retention schedules
``registry.matching``      find duplicates, clusters, merge, aliases
``registry.review``        approve, reject, verify, verification results, pending review
``registry.quality``       the data-quality report
``registry.privacy``       subject export, erasure, the erasure journal and its replay
``registry.keys``          master-key rotation, re-indexing, keys kept apart
``registry.audit``         audit trail, verification, checkpoints, the audit head
``registry.backups``       SQLite backups: consistent online copies, recorded and audited
``registry.cases``         service cases: open, move, assign, escalate, due lists, analytics
``registry.tasks``         follow-ups, return visits, re-verifications: due and overdue lists
``registry.workflow``      the scheduled sweep: dormant customers, recurring tasks, escalations
``registry.changes``       the change feed: every committed change, in commit order, no values
``registry.reports``       dashboard figures: counts by group, new customers, repurchase rates
``registry.disclosures``   third-party recipients, disclosures that honour separate consent
``registry.sampling``      post-import sampling audits: sample, check per field, report, decide
``registry.incidents``     incidents: affected customers from the audit log, notices, reports
``registry.processing``    records of processing: what is held, why, how long, for whom
=========================  =======================================================================

Every method takes ``actor=``: an access policy decides what the actor may do and see, and the
tamper-evident audit log records every read, write and refusal.

>>> from custrec import Actor, KeyRing, MemoryStore, Registry
>>> registry = Registry(MemoryStore(), keyring=KeyRing.generate())
>>> clerk = Actor(id="u-1", roles={"staff", "unmask"}, team="north")
>>> c = registry.customers.intake({"kind": "individual", "name": "张三",
...                                "contacts": [{"phones": ["138 0013 8000"]}]}, actor=clerk)
>>> found = registry.customers.find(phone="13800138000", actor=clerk)
>>> c.owner, [f.id for f in found] == [c.id]
('u-1', True)
>>> c = registry.customers.update(c.id, {"stage": "prospect"}, actor=clerk, reason="first call")
>>> [(h.path, h.old, h.new) for h in registry.customers.history(c.id, actor=clerk)][-1]
('stage', 'lead', 'prospect')
"""

from __future__ import annotations

import os
import warnings

from custrec._checks import check, number_range
from custrec.consent import PURPOSES, Jurisdiction, NoticeHistory, PurposeCatalogue
from custrec.errors import PlaintextStorageWarning
from custrec.matching import MatchConfig
from custrec.retention import RetentionSchedule
from custrec.security import AccessPolicy, KeyRing, RoleBasedPolicy
from custrec.services._deferred_head import deferred
from custrec.services._lifecycle import Lifecycle
from custrec.services._opening import open_keyed, open_plaintext
from custrec.services._records import Records
from custrec.services._work import WorkRecords
from custrec.services.activities import ActivityService
from custrec.services.aggregates import ReportService
from custrec.services.audit_head import HEAD_INTERVAL, AuditHead, audit_head_for
from custrec.services.auditing import AuditService
from custrec.services.backups import BackupService
from custrec.services.cases import CaseService
from custrec.services.changes import ChangeService
from custrec.services.consent import ConsentService
from custrec.services.context import Clock, Context, utc_now
from custrec.services.customers import CustomerService
from custrec.services.disclosures import DisclosureService
from custrec.services.fields import FieldService
from custrec.services.grading import GradingService
from custrec.services.incidents import IncidentService
from custrec.services.keys import KeyService
from custrec.services.matching import MatchingService
from custrec.services.privacy import PrivacyService
from custrec.services.processing import ProcessingService
from custrec.services.quality import QualityService
from custrec.services.retention import RetentionService
from custrec.services.review import ReviewService
from custrec.services.sampling import SamplingService
from custrec.services.tasks import TaskService
from custrec.services.workflow import WorkflowService
from custrec.storage import Store
from custrec.storage.codec import EncryptingCodec, PlaintextCodec, RecordCodec
from custrec.validation import RuleSet
from custrec.workflow import WorkflowSettings

__all__ = ["Registry"]


class Registry:
    """The facade over a store; each capability is a service attribute (see the module docs).

    ``store`` is any :class:`~custrec.storage.Store`. With a ``keyring`` every personal field is
    encrypted under a per-customer data key, identifiers are blind-indexed and the audit log is
    HMAC-chained. The wrapped data keys live apart from the data when the store offers a key
    store (:class:`~custrec.backends.SQLiteStore` keeps one in a file beside the database) or
    ``key_store`` names one; otherwise in ``store`` itself (then a backup of the store holds
    the keys). Without a keyring documents are stored as plain JSON (a
    :class:`~custrec.errors.PlaintextStorageWarning` says so) and erasure is unavailable.

    Opening checks that the keyring is the one that wrote the store (the fingerprint of its
    audit and index keys, probes of its master keys, the key store's pairing) and raises
    :class:`~custrec.errors.KeyringMismatch` before anything is written when it is not.

    ``audit_head`` keeps the signed head of the audit chain outside the store (default: in the
    key store when there is one; a file path, or any :class:`~custrec.services.AuditHead`);
    with ``audit_head_interval`` (seconds, default ``0``: after every commit) commits within it
    of the head's last write move it once, at most that much later (see ``docs/security.md``).
    ``policy`` decides who may do what (default :class:`~custrec.security.RoleBasedPolicy`);
    ``rules`` replaces the default validation rules; ``clock`` (returning aware datetimes) is
    injected for deterministic tests; ``region`` is the default phone region;
    ``jurisdiction``, ``purposes`` and ``notices`` drive consent decisions; ``retention`` is the
    schedule ``registry.retention`` uses by default; ``matching`` configures duplicate
    detection; ``review_intake`` makes new records wait for review; ``workflow`` sets the
    lifecycle rules, the response-time policy of cases and the recurring tasks
    (:class:`~custrec.workflow.WorkflowSettings`).
    """

    customers: CustomerService
    activities: ActivityService
    grading: GradingService
    consent: ConsentService
    retention: RetentionService
    matching: MatchingService
    review: ReviewService
    quality: QualityService
    privacy: PrivacyService
    keys: KeyService
    audit: AuditService
    backups: BackupService
    cases: CaseService
    tasks: TaskService
    workflow: WorkflowService
    changes: ChangeService
    reports: ReportService
    processing: ProcessingService
    disclosures: DisclosureService
    sampling: SamplingService
    incidents: IncidentService

    def __init__(
        self,
        store: Store,
        *,
        keyring: KeyRing | None = None,
        key_store: Store | None = None,
        audit_head: AuditHead | str | os.PathLike[str] | None = None,
        policy: AccessPolicy | None = None,
        rules: RuleSet | None = None,
        clock: Clock | None = None,
        region: str = "CN",
        jurisdiction: Jurisdiction = Jurisdiction.PIPL,
        purposes: PurposeCatalogue = PURPOSES,
        notices: NoticeHistory | None = None,
        retention: RetentionSchedule | None = None,
        matching: MatchConfig | None = None,
        review_intake: bool = False,
        workflow: WorkflowSettings | None = None,
        audit_head_interval: float = HEAD_INTERVAL,
    ) -> None:
        if matching is not None and not isinstance(matching, MatchConfig):
            raise TypeError("matching must be a custrec.matching.MatchConfig")
        check("audit_head_interval", audit_head_interval, number_range(0, 60))
        if workflow is not None and not isinstance(workflow, WorkflowSettings):
            raise TypeError("workflow must be a custrec.workflow.WorkflowSettings")
        if retention is not None and not isinstance(retention, RetentionSchedule):
            raise TypeError("retention must be a custrec.retention.RetentionSchedule")
        codec: RecordCodec
        opened_key_store: Store | None = None
        head: AuditHead | None = None
        if keyring is None:
            if key_store is not None:
                raise ValueError("a key store needs a keyring")
            if audit_head is not None:
                raise ValueError("an audit head needs a keyring (the log is chained only then)")
            warnings.warn(
                "custrec Registry without a keyring stores personal data as plain JSON; "
                "use it for tests and demos only",
                PlaintextStorageWarning,
                stacklevel=2,
            )
            open_plaintext(store)
            codec = PlaintextCodec()
        else:
            if not isinstance(keyring, KeyRing):
                raise TypeError("keyring must be a custrec.security.KeyRing")
            opened_key_store = open_keyed(store, keyring, key_store)
            codec = EncryptingCodec(keyring, key_store=opened_key_store)
            head = audit_head_for(audit_head, opened_key_store)
            head = deferred(head, audit_head_interval, store, opened_key_store)
        context = Context(
            store=store,
            codec=codec,
            policy=policy if policy is not None else RoleBasedPolicy(),
            keyring=keyring,
            key_store=opened_key_store,
            chain=keyring.audit_chain() if keyring is not None else None,
            head=head,
            rules=rules,
            clock=clock if clock is not None else utc_now,
            region=region,
            jurisdiction=Jurisdiction(jurisdiction),
            purposes=purposes,
            notices=notices,
            retention=retention,
            matching=matching if matching is not None else MatchConfig(),
            review_intake=bool(review_intake),
            workflow=workflow if workflow is not None else WorkflowSettings(),
        )
        records = Records(context)
        work = WorkRecords(context, records)
        lifecycle = Lifecycle(context, records, work)
        self._context = context
        self.fields = FieldService(context)
        self.customers = CustomerService(context, records, lifecycle)
        self.activities = ActivityService(context, records, lifecycle)
        self.cases = CaseService(context, records, work, lifecycle)
        self.tasks = TaskService(context, records, work)
        self.workflow = WorkflowService(context, records, work, lifecycle, self.cases)
        self.changes = ChangeService(context)
        self.consent = ConsentService(context, records)
        self.grading = GradingService(context, records, self.activities, self.consent)
        self.privacy = PrivacyService(context, records)
        self.retention = RetentionService(context, records, self.consent, self.privacy)
        self.matching = MatchingService(context, records)
        self.review = ReviewService(context, records, self.customers)
        self.quality = QualityService(context, records, self.matching)
        self.keys = KeyService(context, records)
        self.audit = AuditService(context)
        self.backups = BackupService(context)
        self.reports = ReportService(context)
        self.disclosures = DisclosureService(context, records)
        self.sampling = SamplingService(context, records)
        self.incidents = IncidentService(context, records)
        self.processing = ProcessingService(context, records)

    def __repr__(self) -> str:
        state = "encrypted" if self.encrypted else "plain JSON"
        return f"<Registry over {type(self._context.store).__name__} ({state})>"

    @property
    def encrypted(self) -> bool:
        """Whether personal data is encrypted at rest (a keyring was given)."""
        return self._context.codec.encrypted
