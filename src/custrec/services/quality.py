"""The data-quality report of the whole store (``registry.quality``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from custrec._checks import aware, check
from custrec.consent import ConsentLedger
from custrec.model.records import Customer
from custrec.quality import QualityReport, assess
from custrec.security import Action, Actor, Resource
from custrec.services._records import Records
from custrec.services.context import Context, Unit, check_actor
from custrec.services.matching import MatchingService

__all__ = ["QualityService"]


class QualityService:
    """Measure completeness, validity, duplicates, staleness and consent coverage."""

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
    ) -> QualityReport:
        """Measure the data quality of the whole store (see :mod:`custrec.quality`).

        Completeness per field, validity per rule code (the registry's rule set), staleness
        against ``stale_after``, consent coverage per purpose (the registry's catalogue, or
        ``purposes``), and with ``duplicates`` the duplicate rate from
        :meth:`MatchingService.clusters <custrec.services.MatchingService.clusters>` at
        ``probable``. The report holds counts only, so the
        right to read every customer is enough (masked reads, such as the auditor's, do).
        Audited.
        """
        actor = check_actor(actor)
        at = check("as_of", as_of, aware()) if as_of is not None else self._context.now()
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.READ, Resource(), at=now)
            unit.audit(actor, "customer.quality_report", at=now)
            unit.commit()
        duplicate_ids = (
            self._matching.clusters(actor=actor, batch_size=batch_size).duplicate_ids
            if duplicates
            else None
        )
        ledgers: dict[str, ConsentLedger] = {}

        def read_ledgers(unit: Unit, page: list[Customer]) -> None:
            ledgers.clear()
            for customer in page:
                ledger = self._records.ledger(unit, customer.id)
                if ledger.events:  # "customers with a ledger": those with any consent event
                    ledgers[customer.id] = ledger

        return assess(
            self._records.every_customer(batch_size, also=read_ledgers),
            as_of=at,
            stale_after=stale_after,
            rules=self._context.rules,
            ledgers=ledgers.get,
            purposes=purposes,
            duplicate_ids=duplicate_ids,
        )
