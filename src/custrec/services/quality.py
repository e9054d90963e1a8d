"""The data-quality report of the whole store (``registry.quality``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from custrec._checks import aware, check, positive_int
from custrec._progress import Progress, Reporter, counted
from custrec.consent import ConsentLedger
from custrec.model.records import Customer
from custrec.quality import QualityReport, QualityTally, assess
from custrec.quality_breakdown import Grouping, Provenance, QualityBreakdown, breakdown
from custrec.security import Action, Actor, Resource
from custrec.services._records import Records
from custrec.services.context import Context, Unit, check_actor
from custrec.services.matching import MatchingService
from custrec.storage import AuditRecord, WorkFilter
from custrec.workflow.tasks import Task

_PAGE = 1000  # audit entries and task rows read per step

__all__ = ["QualityService"]


class QualityService:
    """Measure completeness, validity, duplicates, staleness and consent coverage, for the
    whole store or per operator and team."""

    def __init__(self, context: Context, records: Records, matching: MatchingService) -> None:
        self._context = context
        self._records = records
        self._matching = matching

    def report(
        self,
        *,
        actor: Actor,
        as_of: datetime | None = None,
        stale_after: timedelta = timedelta(days=365),
        duplicates: bool = True,
        purposes: Sequence[str] | None = None,
        batch_size: int = 500,
        progress: Progress | None = None,
    ) -> QualityReport:
        """Measure the data quality of the whole store (see :mod:`custrec.quality`).

        Completeness per field, validity per rule code (the registry's rule set), staleness
        against ``stale_after``, consent coverage per purpose (the registry's catalogue, or
        ``purposes``), and with ``duplicates`` the duplicate rate from
        :meth:`MatchingService.clusters <custrec.services.MatchingService.clusters>` at
        ``probable``. The report holds counts only, so the
        right to read every customer is enough (masked reads, such as the auditor's, do).
        Audited.

        ``progress(customers_assessed)`` is called every ``batch_size`` customers and at the
        end with every customer assessed (with ``duplicates`` the clustering pass runs first,
        without calls); a callback that raises stops the report (nothing is written).
        """
        actor = check_actor(actor)
        at = check("as_of", as_of, aware()) if as_of is not None else self._context.now()
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.READ, Resource(), at=now)
            unit.audit(actor, "customer.quality_report", at=now)
            unit.commit()
        duplicate_ids = self._duplicate_ids(actor, duplicates, batch_size)
        ledgers: dict[str, ConsentLedger] = {}
        reporter = Reporter(progress, every=batch_size)
        report = assess(
            counted(
                self._records.every_customer(
                    batch_size, also=lambda unit, page: self._read_ledgers(unit, page, ledgers)
                ),
                reporter,
            ),
            as_of=at,
            stale_after=stale_after,
            rules=self._context.rules,
            ledgers=ledgers.get,
            purposes=purposes,
            duplicate_ids=duplicate_ids,
        )
        reporter.finish()
        return report

    def breakdown(
        self,
        *,
        actor: Actor,
        by: Grouping | str,
        as_of: datetime | None = None,
        stale_after: timedelta = timedelta(days=365),
        duplicates: bool = True,
        purposes: Sequence[str] | None = None,
        access: bool = True,
        access_since: datetime | None = None,
        actor_teams: Mapping[str, str] | None = None,
        batch_size: int = 500,
    ) -> QualityBreakdown:
        """The quality report per operator or team (see :mod:`custrec.quality_breakdown`).

        ``by`` is ``"entered_by"`` (the actor of each record's creation, from its history: the
        intake, or the import), ``"owner"`` or ``"team"``. Each group holds the measures of
        :meth:`report` over its customers, their review turnaround (creation to first
        approval) and the timeliness of their tasks; with ``access``, the audited unmasked
        reads and exports of the group's actor (by ``team``: of the actors ``actor_teams``
        places in it) from ``access_since`` (default: the log's start; not after ``as_of``,
        ``ValueError``) to ``as_of``, read from the whole audit log. Needs what
        :meth:`report` needs and, with ``access``, the ``audit_read`` right of
        ``registry.audit``. The arguments are checked before anything is read or written
        (``ValueError``, ``TypeError``, :class:`~custrec.errors.UnknownPurpose`); audited.
        """
        actor = check_actor(actor)
        grouping = Grouping.parse(by)
        at = check("as_of", as_of, aware()) if as_of is not None else self._context.now()
        since = check("access_since", access_since, aware()) if access_since is not None else None
        check("batch_size", batch_size, positive_int())
        if not access and (since is not None or actor_teams is not None):
            raise ValueError("access_since and actor_teams are only used with access=True")
        # every argument checked before anything is read or written: the tallies' settings,
        # each purpose against the catalogue, and the grouping's own (a breakdown of nobody)
        QualityTally(as_of=at, stale_after=stale_after, ledgers=_no_ledger, purposes=purposes)
        for code in () if purposes is None else purposes:
            self._context.purposes[code]  # UnknownPurpose
        breakdown(
            (),
            by=grouping,
            as_of=at,
            provenance=_no_provenance,
            audit=(),
            access_since=since,
            actor_teams=actor_teams,
        )
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.READ, Resource(), at=now)
            if access:
                unit.authorize(actor, Action.AUDIT_READ, Resource(), at=now)
            unit.audit(actor, "customer.quality_breakdown", at=now, reason=f"by {grouping.value}")
            if access:
                unit.audit(actor, "audit.read", at=now, reason="unmask and export counts")
            unit.commit()
        duplicate_ids = self._duplicate_ids(actor, duplicates, batch_size)
        ledgers: dict[str, ConsentLedger] = {}
        origins: dict[str, Provenance] = {}
        tasks: dict[str, list[Task]] = {}

        def read_page(unit: Unit, page: list[Customer]) -> None:
            self._read_ledgers(unit, page, ledgers)
            origins.clear()
            tasks.clear()
            for customer in page:
                origins[customer.id] = self._provenance(unit, customer.id)
                tasks[customer.id] = self._tasks(unit, customer.id)

        return breakdown(
            self._records.every_customer(batch_size, also=read_page),
            by=grouping,
            as_of=at,
            stale_after=stale_after,
            rules=self._context.rules,
            ledgers=ledgers.get,
            purposes=purposes,
            duplicate_ids=duplicate_ids,
            provenance=origins.get,
            tasks=lambda customer_id: tasks.get(customer_id, ()),
            audit=self._audit_entries(since) if access else None,
            access_since=since,
            actor_teams=actor_teams,
        )

    def _duplicate_ids(
        self, actor: Actor, duplicates: bool, batch_size: int
    ) -> frozenset[str] | None:
        """The redundant members of the clusters found at ``probable`` (``None`` without)."""
        if not duplicates:
            return None
        return frozenset(self._matching.clusters(actor=actor, batch_size=batch_size).duplicate_ids)

    def _read_ledgers(
        self, unit: Unit, page: list[Customer], ledgers: dict[str, ConsentLedger]
    ) -> None:
        ledgers.clear()
        for customer in page:
            ledger = self._records.ledger(unit, customer.id)
            if ledger.events:  # "customers with a ledger": those with any consent event
                ledgers[customer.id] = ledger

    @staticmethod
    def _provenance(unit: Unit, customer_id: str) -> Provenance:
        """Who created the record and when (its ``create`` history entry), and when it was
        first approved (its first ``approve`` entry)."""
        entered_by = entered_at = approved_at = None
        for record in unit.session.history.list_for(customer_id):
            if record.action == "create" and entered_at is None:
                entered_by, entered_at = record.actor_id, record.at
            elif record.action == "approve" and approved_at is None:
                approved_at = record.at
        return Provenance(entered_by=entered_by, entered_at=entered_at, approved_at=approved_at)

    def _tasks(self, unit: Unit, customer_id: str) -> list[Task]:
        """The customer's tasks, opened (their due and completion instants are sealed)."""
        found: list[Task] = []
        where = WorkFilter(customer_id=customer_id, kind="task")
        after: str | None = None
        while True:
            rows = unit.session.work.query(where=where, after=after, limit=_PAGE)
            found += [
                self._records.open(unit, Task, row.id, row.customer_id, row.payload) for row in rows
            ]
            if len(rows) < _PAGE:
                return found
            after = rows[-1].id

    def _audit_entries(self, since: datetime | None) -> Iterator[AuditRecord]:
        """Every audit entry from ``since``, oldest first, a page per read transaction (the
        queued ones sealed first)."""
        self._context.seal_audit()
        after = 0
        while True:
            with self._context.store.transaction(readonly=True) as session:
                page = session.audit.read(after_seq=after, limit=_PAGE, since=since)
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1].seq


def _no_ledger(customer_id: str) -> ConsentLedger | None:
    return None


def _no_provenance(customer_id: str) -> Provenance | None:
    return None
