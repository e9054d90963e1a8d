"""Taking customers in, one or a batch at a time (the body of ``registry.customers.intake``
and ``intake_many``): normalise, validate, authorise, refuse duplicates, seal and store with the
first history entry and the audit entry in one unit of work."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import attrs

from custrec._checks import check, positive_int, require_aware
from custrec._collector import paused
from custrec._log import get_logger, slow_batch
from custrec.errors import ValidationFailed
from custrec.matching import StrongKey, strong_keys
from custrec.matching.keys import MatchKey
from custrec.model.issues import Issue, ValidationReport
from custrec.model.records import Customer, RecordState, VerificationStatus
from custrec.security import Action, Actor, Resource
from custrec.services._batch import CreateDecisions, claim_keys, clash_kinds, may_create
from custrec.services._custom import removed_issues
from custrec.services._erased import _ErasedMeanwhile, erased_in
from custrec.services._preparation import (
    RESTRICTION_ISSUE,
    Issuer,
    Preparation,
    PreparedCustomer,
    prepared,
)
from custrec.services._records import Records, stored_form
from custrec.services.context import Context, check_actor, check_optional_reason
from custrec.services.results import BulkResult
from custrec.storage import CustomerRow, HistoryRecord
from custrec.validation import normalize_customer, parse_customer, phone, validate

__all__ = [
    "RESTRICTION_ISSUE",
    "Intake",
    "Preparation",
    "PreparedCustomer",
    "intake_refusing_erased",
]

_log: Final = get_logger(__name__)


_set: Final = object.__setattr__


def stamped(
    record: Customer, *, owner: str, team: str | None, now: datetime, review: bool
) -> Customer:
    """:func:`~custrec.services._records.stored_form` of a record nobody else holds yet
    (``parse_customer``'s, just built from raw data for this intake), made by setting its
    fields in place instead of copying it (none of them has a converter). Never for a record
    a caller gave, nor one anyone else may see."""
    _set(record, "version", 1)
    _set(record, "owner", record.owner or owner)
    _set(record, "team", record.team or team)
    _set(record, "created_at", record.created_at or now)
    _set(record, "updated_at", now)
    if review:
        _set(record, "verification", VerificationStatus.PENDING_REVIEW)
    return record


class Intake:
    """New customers into the store, for :class:`~custrec.services.CustomerService`."""

    def __init__(self, context: Context, records: Records) -> None:
        self._context = context
        self._records = records
        self._issuer = Issuer()

    def prepare(
        self, data: Mapping[str, Any], *, actor: Actor, as_of: datetime | None
    ) -> PreparedCustomer:
        """See :meth:`CustomerService.prepare <custrec.services.CustomerService.prepare>`."""
        actor = check_actor(actor)
        record, report = prepared(
            data,
            region=self._context.region,
            rules=self._context.rules,
            as_of=self._context.now() if as_of is None else as_of,
            fields=self._context.fields.cached(),
        )
        return self._issuer.issue(record, report, actor.id)

    def preparation(
        self, *, actor: Actor, as_of: datetime | None, region: str | None
    ) -> Preparation:
        """See :meth:`CustomerService.preparation
        <custrec.services.CustomerService.preparation>`."""
        actor = check_actor(actor)
        when = self._context.now() if as_of is None else require_aware(as_of, "as_of")
        chosen = self._context.region if region is None else region
        phone.is_valid("", chosen)  # ValueError for an unknown region: here, not in a worker
        chosen = chosen.strip().upper()
        return self._issuer.preparation(
            actor.id,
            region=chosen,
            rules=self._context.rules,
            as_of=when,
            fields=self._context.fields.cached(),
        )

    def one(
        self,
        data: Mapping[str, Any] | Customer | PreparedCustomer,
        *,
        actor: Actor,
        reason: str | None,
        allow_duplicates: bool,
        review: bool | None,
    ) -> Customer:
        """See :meth:`CustomerService.intake <custrec.services.CustomerService.intake>`."""
        actor = check_actor(actor)
        reason = check_optional_reason(reason)
        now = self._context.now()
        customer = self._prepare(data, now, actor, review)
        with self._context.unit() as unit:
            unit.authorize(actor, Action.CREATE, Resource.of(customer), at=now)
            tokens: dict[MatchKey, tuple[str, ...]] = {}
            keys = strong_keys(customer)
            if not allow_duplicates:
                ids, kinds = self._records.find_collisions(unit, keys, tokens=tokens)
                if ids:
                    unit.refuse_duplicate(actor, ids, kinds, at=now)
            # data without an id got one minted by parse_customer just now: no data key can
            # exist for it, not even one an interrupted intake left in a separate key store
            minted = isinstance(data, Mapping) and "id" not in data
            row = self._records.row(
                unit, customer, new=True, tokens=tokens, strong=keys, minted=minted
            )
            version = unit.session.customers.add(row)
            stored = (
                customer if version == customer.version else attrs.evolve(customer, version=version)
            )
            unit.session.history.append(
                [self._records.creation_entry(row.id, actor.id, reason, now)]
            )
            unit.audit(
                actor,
                "customer.create",
                at=now,
                customer_id=stored.id,
                reason=reason,
                change=True,
            )
            unit.commit()
        read = self._context.policy.decide(actor, Action.READ, Resource.of(stored))
        return self._records.shown(read, stored)

    def many(
        self,
        items: Iterable[Mapping[str, Any] | Customer | PreparedCustomer],
        *,
        actor: Actor,
        reason: str | None,
        batch_size: int,
        allow_duplicates: bool,
        review: bool | None,
        refuse_erased: bool = False,
    ) -> BulkResult:
        """See :meth:`CustomerService.intake_many
        <custrec.services.CustomerService.intake_many>`. ``refuse_erased`` (an import's): each
        chunk's write reads the register of erased subjects after its key look-up and raises
        :class:`~custrec.services._erased._ErasedMeanwhile`, that chunk not written, when it
        holds a strong key of an item (see :func:`custrec.services._erased.erased_in`)."""
        actor = check_actor(actor)
        reason = check_optional_reason(reason)
        check("batch_size", batch_size, positive_int())
        added: list[str] = []
        skipped: list[str] = []
        rejected: dict[int, ValidationReport] = {}
        duplicates: dict[int, tuple[str, ...]] = {}
        denied: dict[int, str] = {}
        seen: dict[StrongKey, str] = {}
        decisions: CreateDecisions = {}  # one actor and one policy for the whole call
        chunk: list[tuple[int, Mapping[str, Any] | Customer | PreparedCustomer]] = []

        def flush() -> None:
            started = time.monotonic()
            now = self._context.now()
            prepared: list[tuple[int, Customer]] = []
            for position, item in chunk:
                try:
                    prepared.append((position, self._prepare(item, now, actor, review)))
                except ValidationFailed as exc:
                    rejected[position] = exc.report
                except TypeError:
                    rejected[position] = ValidationReport(
                        (Issue(path="", code="type", message="expected a mapping or a Customer"),)
                    )
            # one transaction, given up whole on any error: its writes take no savepoints
            with self._context.unit() as unit, unit.all_or_nothing():
                existing = {
                    r.id for r in unit.session.customers.get_many(c.id for _, c in prepared)
                }
                # phase by phase over the chunk: decisions, then every look-up token and one
                # batched look-up, then the rows (tight loops of one kind of work each)
                allowed: list[tuple[int, Customer, frozenset[StrongKey]]] = []
                for position, customer in prepared:
                    if customer.id in existing:
                        skipped.append(customer.id)
                        continue
                    if may_create(
                        unit,
                        actor,
                        customer,
                        position=position,
                        denied=denied,
                        now=now,
                        decisions=decisions,
                    ):
                        allowed.append((position, customer, strong_keys(customer)))
                tokens: dict[MatchKey, tuple[str, ...]] = {}
                found: Mapping[str, Sequence[str]] = {}
                if not allow_duplicates:
                    lookup_keys = self._context.codec.lookup_keys
                    for _, _, keys in allowed:
                        for key in keys:
                            if key not in tokens:
                                tokens[key] = lookup_keys(key)
                    found = unit.session.customers.lookup_many(
                        t for looked_up in tokens.values() for t in looked_up
                    )
                if refuse_erased and erased_in(unit, actor, tokens):
                    raise _ErasedMeanwhile("the register of erased subjects changed meanwhile")
                accepted: list[tuple[Customer, frozenset[StrongKey]]] = []
                refused: list[tuple[tuple[str, ...], tuple[str, ...]]] = []  # audited last
                for position, customer, keys in allowed:
                    clash = claim_keys(
                        keys, customer.id, tokens, found, seen, check=not allow_duplicates
                    )
                    if clash:
                        duplicates[position] = clash
                        refused.append((clash, clash_kinds(keys, tokens, found, seen)))
                        continue
                    accepted.append((customer, keys))
                index_keys = [
                    self._records.index_keys(c, tokens=tokens, strong=keys) for c, keys in accepted
                ]
                # sealed from the records: the encrypting codec builds each stored form
                # straight from its record, without the document (storage/_direct.py)
                payloads = unit.sealer.seal_new_records(
                    Customer,
                    [c.id for c, _ in accepted],
                    [c for c, _ in accepted],
                    self._context.converter,
                    [self._records.customer_facts(c) for c, _ in accepted],
                )
                rows: list[CustomerRow] = []
                histories: list[HistoryRecord] = []
                for (customer, _), keyset, payload in zip(
                    accepted, index_keys, payloads, strict=True
                ):
                    row = self._records.row(unit, customer, payload=payload, index_keys=keyset)
                    rows.append(row)
                    histories.append(self._records.creation_entry(row.id, actor.id, reason, now))
                    unit.audit(
                        actor,
                        "customer.create",
                        at=now,
                        customer_id=customer.id,
                        reason=reason,
                        change=True,
                    )
                    added.append(customer.id)
                # after the creations: a refusal may name a customer created in this chunk
                for clash, kinds in refused:
                    unit.audit_duplicate(actor, clash, kinds, at=now)
                unit.session.customers.add_many(rows, skip_existing=False)
                if histories:
                    unit.session.history.append(histories)
                unit.commit()
            slow_batch(_log, "intake", started, len(chunk))
            chunk.clear()

        for position, item in enumerate(items):
            chunk.append((position, item))
            if len(chunk) >= batch_size:
                with paused():  # the caller's items are read with it running
                    flush()
        if chunk:
            with paused():
                flush()
        return BulkResult(
            added=tuple(added),
            skipped=tuple(skipped),
            rejected=rejected,
            duplicates=duplicates,
            denied=denied,
        )

    def _prepare(
        self,
        data: Mapping[str, Any] | Customer | PreparedCustomer,
        now: datetime,
        actor: Actor,
        review: bool | None,
    ) -> Customer:
        """The customer to store (``version`` 1, owner, team, instants and review status set in
        one step); ``ValidationFailed`` for invalid data, ``TypeError`` for anything else."""
        own = False
        plain = type(data) is dict  # most items: not issued here, and no ABC check needed
        if not plain and self._issuer.trusts(data, actor.id):
            assert isinstance(data, PreparedCustomer)
            record, report = data.record, data.report  # validated once, by prepare()
        elif isinstance(data, PreparedCustomer):  # not issued here: validated as a Customer
            if data.record is None:
                raise ValidationFailed(data.report)
            record, report = self._validated(data.record, now)
        elif isinstance(data, Customer):
            record, report = self._validated(data, now)
        elif plain or isinstance(data, Mapping):
            own = True  # parse_customer's record: built for this call, seen by nobody else
            result = parse_customer(
                data,
                region=self._context.region,
                rules=self._context.rules,
                as_of=now,
                fields=self._context.fields.cached(),
            )
            record, report = result.record, result.report
        else:
            raise TypeError("intake() takes a mapping or a Customer")
        if record is not None and record.custom:
            removed = removed_issues(record.custom, self._context.fields.cached())
            if removed:
                report = report.merged(ValidationReport(removed))
        if not report.ok or record is None:
            raise ValidationFailed(report)
        if record.state is RecordState.RESTRICTED:
            raise ValidationFailed(ValidationReport((RESTRICTION_ISSUE,)))
        reviewed = self._context.review_intake if review is None else review
        stamp = stamped if own else stored_form
        return stamp(record, owner=actor.id, team=actor.team, now=now, review=reviewed)

    def _validated(self, customer: Customer, now: datetime) -> tuple[Customer, ValidationReport]:
        record = normalize_customer(customer, region=self._context.region)
        report = validate(
            record,
            self._context.rules,
            as_of=now,
            region=self._context.region,
            fields=self._context.fields.cached(),
        )
        return record, report


def intake_refusing_erased(
    service: object,
    items: Sequence[Customer | PreparedCustomer],
    *,
    actor: Actor,
    reason: str | None,
) -> BulkResult:
    """``service.intake_many(items)`` (``registry.customers``) in one transaction that also
    reads the register of erased subjects after its key look-up and raises
    :class:`~custrec.services._erased._ErasedMeanwhile`, nothing written, when it holds a strong
    key of an item: an import's write of rows it did not preseal (see
    :func:`custrec.services._presealed.intake_presealed`)."""
    intake = getattr(service, "_intake", None)
    if not isinstance(intake, Intake):
        raise TypeError("expected a registry's customer service")
    if not items:
        return BulkResult()
    return intake.many(
        items,
        actor=actor,
        reason=reason,
        batch_size=len(items),
        allow_duplicates=False,
        review=None,
        refuse_erased=True,
    )
