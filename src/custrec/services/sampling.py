"""Post-import sampling audits (``registry.sampling``).

After a migration a share of the imported records is checked by a person against the source.
:meth:`SamplingService.sample` picks a reproducible sample of the customers an import created
(:mod:`custrec.compliance.sampling` has the rule) and stores it as a batch: a ``sampling``
document tagged with the import id, and one link per sampled customer. A checker reads a
sampled record (:meth:`~SamplingService.read`, an audited read) and records pass or fail per
field with a note (:meth:`~SamplingService.record_check`); notes may hold personal data, so they
live in the link's payload, sealed under the customer's data key, never in the batch document,
which keeps only counts. :meth:`~SamplingService.report` gives the accuracy per field and
overall, and :meth:`~SamplingService.decide` accepts or rejects the batch, once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final, TypeVar

import attrs

from custrec._checks import (
    check,
    integer,
    non_empty_text,
    number_range,
    optional,
    positive_int,
    storable_text,
)
from custrec.compliance.sampling import (
    LINK_STATES,
    BatchReport,
    CheckTally,
    FieldResult,
    SampleResult,
    SamplingBatch,
    Selection,
    field_results,
    import_prefix,
    sampling_fields,
)
from custrec.errors import (
    Erased,
    InvalidState,
    NotFound,
    NotSampled,
    UnknownImport,
)
from custrec.model.ids import new_id
from custrec.model.records import Customer
from custrec.retry import retry
from custrec.security import Action, Actor, Resource
from custrec.services._documents import Documents
from custrec.services._records import Records
from custrec.services.context import Context, Unit, check_actor
from custrec.storage import HIDDEN_STATES, CustomerRow, DocumentLink, DocumentRow

__all__ = ["SAMPLING", "SamplingService"]

SAMPLING: Final = "sampling"
"""The document kind of a sampling batch (its links: the sampled customers)."""

_PENDING, _CHECKED = LINK_STATES
_PAGE: Final = 500  # rows read per step of a scan
_ATTEMPTS: Final = 3  # a write that lost the compare-and-set on its batch runs again
_T = TypeVar("_T")


def _text(name: str, value: object) -> str:
    """A required id argument: non-blank text storage can keep."""
    check(name, value, non_empty_text())
    check(name, value, storable_text())
    assert isinstance(value, str)
    return value


def _document(batch: SamplingBatch, tally: CheckTally, report: BatchReport | None) -> Any:
    return {
        "batch": batch.to_json(),
        "tally": tally.to_json(),
        "report": None if report is None else report.to_json(),
    }


def _stored(row: DocumentRow) -> tuple[SamplingBatch, CheckTally, BatchReport | None]:
    data = Documents.data(row)
    batch = SamplingBatch.from_json(data["batch"], version=row.version)
    decided = data.get("report")
    report = None if decided is None else BatchReport.from_json(batch, decided)
    return batch, CheckTally.from_json(data["tally"]), report


def _checks_of(data: Mapping[str, Any] | None) -> tuple[FieldResult, ...] | None:
    """The checks a link's payload holds (``None``: none recorded, or the payload is gone)."""
    if not data or "checks" not in data:
        return None
    return tuple(FieldResult.from_json(item) for item in data["checks"])


class SamplingService:
    """Sampling audits of imports: sample, read and check records, report, decide."""

    def __init__(self, context: Context, records: Records) -> None:
        self._context = context
        self._records = records

    # ---------------------------------------------------------------------------- sampling

    def sample(
        self,
        import_id: str,
        *,
        share: float,
        actor: Actor,
        fields: Iterable[str] | None = None,
        seed: int | None = None,
    ) -> SamplingBatch:
        """Sample ``share`` (above 0, at most 1; 0.1 to 0.2 is usual) of the customers import
        ``import_id`` created and store the sample as an open batch checking ``fields``
        (customer field paths; ``None``: :data:`~custrec.compliance.sampling.DEFAULT_FIELDS`).

        The same import, share and seed give the same sample; without a ``seed`` a random one
        is drawn and kept in the batch. The import's customers are read in id order, a page at
        a time, in one read transaction (memory holds the sampled ids, never the import), then
        the batch and its links are written in one transaction. ``compliance`` right; audited
        (``sampling.create``). ``UnknownImport`` when no
        stored row carries an id of that import, ``InvalidState`` when none of them holds a
        customer any more (all erased or merged); nothing is written then.
        """
        actor = check_actor(actor)
        import_id = _text("import_id", import_id)
        selection = Selection(seed=self._seed(seed), share=share)
        paths = sampling_fields(fields)
        now = self._context.now()
        prefix = import_prefix(import_id)
        picked: list[str] = []
        rows = 0
        with self._context.read_unit() as unit:  # one snapshot, no write lock while it reads
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            for page in self._import_rows(unit, prefix):
                rows += len(page)
                picked += selection.pick(row.id for row in page if row.state not in HIDDEN_STATES)
            unit.commit()
        if not rows:
            raise UnknownImport(f"no stored customer was created by import {import_id[:64]!r}")
        if not selection.population:
            raise InvalidState(
                f"import {import_id[:64]!r} holds no customer any more ({rows} erased or merged)"
            )
        fallback = selection.fallback
        batch = SamplingBatch(
            id=new_id(),
            import_id=import_id,
            share=float(share),
            seed=selection.seed,
            fields=paths,
            sample_size=len(picked) if fallback is None else 1,
            population=selection.population,
            created_by=actor.id,
            created_at=now,
        )
        with self._context.unit() as unit:
            for chunk in _pages(picked if fallback is None else [fallback], _PAGE):
                self._link(unit, batch.id, chunk, now)
            Documents.add(
                unit,
                SAMPLING,
                batch.id,
                _document(batch, CheckTally(), None),
                now=now,
                tag=import_id,
            )
            unit.audit(
                actor,
                "sampling.create",
                at=now,
                reason=f"batch {batch.id} of import {import_id}",
                fields=paths,
            )
            unit.commit()
        return batch

    @staticmethod
    def _seed(seed: object) -> int:
        if seed is None:
            return secrets.randbelow(1 << 63)
        check("seed", seed, integer())
        assert isinstance(seed, int)
        return seed

    @staticmethod
    def _import_rows(unit: Unit, prefix: str) -> Iterator[list[CustomerRow]]:
        """The rows whose id starts with ``prefix``, a page at a time, in id order."""
        after = prefix  # every id of the range sorts after its prefix
        while True:
            rows = unit.session.customers.query(after=after, limit=_PAGE)
            inside = [row for row in rows if row.id.startswith(prefix)]
            if inside:
                yield inside
            if len(inside) < _PAGE:
                return
            after = inside[-1].id

    @staticmethod
    def _link(unit: Unit, batch_id: str, customer_ids: list[str], now: datetime) -> None:
        """Link sampled customers, pending: the payload stays empty until a check is recorded
        (no data key is needed to sample)."""
        Documents.link(
            unit,
            [
                DocumentLink(
                    kind=SAMPLING,
                    document_id=batch_id,
                    customer_id=customer_id,
                    state=_PENDING,
                    updated_at=now,
                    payload=b"",
                )
                for customer_id in customer_ids
            ],
        )

    # ------------------------------------------------------------------------------- reads

    def batch(self, batch_id: str, *, actor: Actor) -> SamplingBatch:
        """One batch (``compliance`` right). ``NotFound``."""
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            batch, _, _ = _stored(self._batch_row(unit, batch_id))
            unit.commit()
        return batch

    def batches(
        self,
        *,
        actor: Actor,
        import_id: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[SamplingBatch]:
        """Batches by id (oldest first), of one import when ``import_id`` is given; ``after``
        is the last id of the previous page (``compliance`` right)."""
        actor = check_actor(actor)
        check("import_id", import_id, optional(storable_text()))
        check("after", after, optional(storable_text()))
        check("limit", limit, positive_int())
        now = self._context.now()
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            rows = unit.session.documents.list(SAMPLING, tag=import_id, after=after, limit=limit)
            found = [_stored(row)[0] for row in rows]
            unit.commit()
        return found

    def records(
        self,
        batch_id: str,
        *,
        actor: Actor,
        state: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[SampleResult]:
        """The sampled records by customer id, ``pending`` or ``checked`` ones when ``state``
        is given; ``after`` is the last customer id of the previous page (``compliance``
        right). Notes are shown only where the actor may read the customer unmasked (each
        such read audited as ``sampling.read``); elsewhere ``notes_withheld`` is set.
        ``NotFound`` for an unknown batch, ``ValueError`` for another state."""
        actor = check_actor(actor)
        if state is not None and state not in LINK_STATES:
            raise ValueError(f"state must be one of {', '.join(LINK_STATES)} or None")
        check("after", after, optional(storable_text()))
        check("limit", limit, positive_int())
        now = self._context.now()
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            batch, _, _ = _stored(self._batch_row(unit, batch_id))
            links = unit.session.documents.links(
                SAMPLING, batch.id, state=state, after=after, limit=limit
            )
            rows = {
                row.id: row
                for row in unit.session.customers.get_many(link.customer_id for link in links)
            }
            found = [
                self._result(unit, actor, link, rows.get(link.customer_id), batch, now)
                for link in links
            ]
            unit.commit()
        return found

    def _result(
        self,
        unit: Unit,
        actor: Actor,
        link: DocumentLink,
        row: CustomerRow | None,
        batch: SamplingBatch,
        now: datetime,
    ) -> SampleResult:
        gone = row is None or row.state == "erased"
        opened = Documents.open(unit, link).data
        data = opened or {}
        checks = _checks_of(opened) or ()
        withheld = False
        if any(c.note is not None for c in checks):
            decision = (
                None
                if row is None
                else self._context.policy.decide(actor, Action.READ, Resource.of(row))
            )
            if decision is not None and decision.allowed and not decision.masked:
                unit.audit(
                    actor, "sampling.read", at=now, customer_id=link.customer_id, reason=batch.id
                )
            else:
                checks = tuple(attrs.evolve(c, note=None) for c in checks)
                withheld = True
        at = data.get("at")
        return SampleResult(
            customer_id=link.customer_id,
            state=link.state or _PENDING,
            checks=checks,
            checked_by=data.get("by"),
            checked_at=None if at is None else datetime.fromisoformat(at),
            erased=gone or opened is None,
            notes_withheld=withheld,
        )

    def read(self, batch_id: str, customer_id: str, *, actor: Actor) -> Customer:
        """A sampled customer's record, for checking: the ``compliance`` right and the
        ``read`` right on the customer (masked unless the actor may unmask), audited as a read
        for ``sampling <batch id>``. ``NotFound`` (batch), ``NotSampled``, ``Erased``."""
        actor = check_actor(actor)
        customer_id = _text("customer_id", customer_id)
        now = self._context.now()
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            batch, _, _ = _stored(self._batch_row(unit, batch_id))
            link = self._sampled(unit, batch, customer_id)
            row = self._records.live_row(unit, link.customer_id)
            decision = unit.authorize(actor, Action.READ, Resource.of(row), at=now)
            customer = self._records.customer(unit, row)
            self._records.audit_read(
                unit, actor, decision, customer, now, purpose=f"sampling {batch.id}"
            )
            unit.commit()
        return self._records.shown(decision, customer)

    def report(self, batch_id: str, *, actor: Actor) -> BatchReport:
        """The batch's accuracy per field and overall, and what is left to check
        (``compliance`` right); a decided batch's report is the one it was decided on.
        ``NotFound``."""
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            found = self._report(unit, self._batch_row(unit, batch_id))
            unit.commit()
        return found

    def _report(self, unit: Unit, row: DocumentRow) -> BatchReport:
        batch, tally, decided = _stored(row)
        if decided is not None:
            return decided
        table = unit.session.documents
        linked = table.count_links(SAMPLING, batch.id)
        pending = gone = 0
        for page in _pages(Documents.links(unit, SAMPLING, batch.id, state=_PENDING), _PAGE):
            rows = {r.id: r for r in unit.session.customers.get_many(x.customer_id for x in page)}
            for link in page:
                stored = rows.get(link.customer_id)
                if stored is None or stored.state in HIDDEN_STATES:
                    gone += 1
                else:
                    pending += 1
        dropped = max(batch.sample_size - linked, 0)  # merged into another sampled customer
        return BatchReport.of(batch, tally, pending=pending, unavailable=gone + dropped)

    # ------------------------------------------------------------------------------ writes

    def record_check(
        self,
        batch_id: str,
        customer_id: str,
        checks: Mapping[str, bool | tuple[bool, str]] | Iterable[FieldResult],
        *,
        actor: Actor,
    ) -> SampleResult:
        """Record the check of one sampled record: a result for every field of the batch, as
        a mapping of field to ``passed`` or ``(passed, note)``, or as field checks. A record
        checked before is checked again (its results replaced). The ``compliance`` right and
        the ``read`` right on the customer (a checker must be able to see the record);
        audited (``sampling.check``, ``sampling.recheck``).

        ``NotFound`` (batch), ``NotSampled``, ``Erased`` (the customer was erased),
        ``InvalidState`` (the batch was decided), ``ValueError`` for a field the batch does not
        check (listing the batch's fields), a missing or repeated one, ``TypeError`` for a
        result that is not ``True`` or ``False`` (naming the field, never the value); a key
        that is not a field of the customer record is never repeated either (a custom key is
        "a custom field"). Nothing is written then.
        """
        actor = check_actor(actor)
        batch_id = _text("batch_id", batch_id)
        customer_id = _text("customer_id", customer_id)
        given = field_results(checks)
        return _retried(lambda: self._record_check(batch_id, customer_id, given, actor))

    def _record_check(
        self, batch_id: str, customer_id: str, given: tuple[FieldResult, ...], actor: Actor
    ) -> SampleResult:
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            row = self._batch_row(unit, batch_id)
            batch, tally, _ = _stored(row)
            if batch.status != "open":
                raise InvalidState(
                    f"sampling batch {batch.id} is {batch.status}: it takes no checks"
                )
            ordered = batch.order(given)
            link = self._sampled(unit, batch, customer_id)
            try:
                customer_row = unit.session.customers.get(link.customer_id)
            except NotFound:
                raise Erased(link.customer_id) from None
            if customer_row.state in HIDDEN_STATES:
                raise Erased(link.customer_id)
            unit.authorize(actor, Action.READ, Resource.of(customer_row), at=now)
            old = _checks_of(Documents.open(unit, link).data)
            data = {
                "checks": [c.to_json() for c in ordered],
                "by": actor.id,
                "at": now.isoformat(),
            }
            Documents.relink(unit, link, data, now=now, state=_CHECKED)
            Documents.replace(
                unit, row, _document(batch, tally.record(ordered, old), None), now=now, tag=row.tag
            )
            unit.audit(
                actor,
                "sampling.check" if old is None else "sampling.recheck",
                at=now,
                customer_id=link.customer_id,
                reason=batch.id,
                fields=[c.field for c in ordered],
            )
            unit.commit()
        return SampleResult(
            customer_id=link.customer_id,
            state=_CHECKED,
            checks=ordered,
            checked_by=actor.id,
            checked_at=now,
        )

    def decide(
        self,
        batch_id: str,
        *,
        threshold: float,
        actor: Actor,
        min_field_accuracy: float | None = None,
    ) -> BatchReport:
        """Accept the batch when its overall accuracy is at least ``threshold`` (a number
        from 0 to 1) and, when ``min_field_accuracy`` is given (a number from 0 to 1), the
        accuracy of every field is at least it; else reject it. Once, and only when every
        sampled record that can still be checked was (records erased before their check are
        left out). Both numbers are kept with the batch. ``compliance`` right; audited
        (``sampling.decide``). Returns the report it was decided on.

        ``NotFound``, ``InvalidState`` (decided already, records pending, nothing checked),
        ``ValueError``/``TypeError`` for the threshold or ``min_field_accuracy``; nothing is
        written then.
        """
        actor = check_actor(actor)
        batch_id = _text("batch_id", batch_id)
        check("threshold", threshold, number_range(0, 1))
        check("min_field_accuracy", min_field_accuracy, optional(number_range(0, 1)))
        floor = None if min_field_accuracy is None else float(min_field_accuracy)
        return _retried(lambda: self._decide(batch_id, float(threshold), floor, actor))

    def _decide(
        self, batch_id: str, threshold: float, floor: float | None, actor: Actor
    ) -> BatchReport:
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            row = self._batch_row(unit, batch_id)
            batch, tally, _ = _stored(row)
            if batch.status != "open":
                raise InvalidState(f"sampling batch {batch.id} was decided already: {batch.status}")
            report = self._report(unit, row)
            verdict = report.verdict(threshold, min_field_accuracy=floor)
            decided = attrs.evolve(
                batch,
                status=verdict,
                threshold=threshold,
                min_field_accuracy=floor,
                decided_by=actor.id,
                decided_at=now,
                version=batch.version + 1,
            )
            report = attrs.evolve(report, sampling=decided)
            Documents.replace(unit, row, _document(decided, tally, report), now=now, tag=row.tag)
            unit.audit(actor, "sampling.decide", at=now, reason=batch.id, fields=[verdict])
            unit.commit()
        return report

    # ----------------------------------------------------------------------------- helpers

    @staticmethod
    def _batch_row(unit: Unit, batch_id: object) -> DocumentRow:
        return Documents.get(unit, SAMPLING, batch_id, what="sampling batch")

    def _sampled(self, unit: Unit, batch: SamplingBatch, customer_id: str) -> DocumentLink:
        """The link of a sampled customer; a merged customer's link is its survivor's."""
        documents = unit.session.documents
        try:
            return documents.get_link(SAMPLING, batch.id, customer_id)
        except NotFound:
            pass
        try:
            survivor = self._records.live_row(unit, customer_id).id
            if survivor != customer_id:
                return documents.get_link(SAMPLING, batch.id, survivor)
        except NotFound:
            pass
        raise NotSampled(f"customer {customer_id[:64]!r} is not in sampling batch {batch.id}")


def _retried(write: Callable[[], _T]) -> _T:
    """Run a write again when another writer changed its batch first (compare-and-set)."""
    return retry(write, attempts=_ATTEMPTS, what="sampling batch write")


def _pages(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    page: list[_T] = []
    for item in items:
        page.append(item)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page
