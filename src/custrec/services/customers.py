"""Customers: take them in, read them, find them, page through them, change them.

Reached as ``registry.customers``. Every call authorises the actor, reads and writes in one
unit of work, and audits what it read or changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Unpack

import attrs

from custrec._checks import check, positive_int
from custrec.errors import Erased, ValidationFailed, VersionConflict
from custrec.matching import StrongKey, identifier_key, strong_keys
from custrec.model.history import diff
from custrec.model.issues import Issue, Severity, ValidationReport
from custrec.model.records import (
    Customer,
    CustomValues,
    Identifier,
    IdentifierScheme,
    RecordState,
)
from custrec.security import AccessDecision, Action, Actor, Resource, mask_custom
from custrec.services._custom import indexed_custom_key, merged_custom, removed_issues
from custrec.services._identify import identify
from custrec.services._intake import RESTRICTION_ISSUE, Intake, Preparation, PreparedCustomer
from custrec.services._lifecycle import Lifecycle
from custrec.services._records import CREATED, MASKED, Records, is_personal
from custrec.services._search import search_names
from custrec.services._work import WorkRecords
from custrec.services.context import Context, check_actor, check_reason
from custrec.services.facets import CustomerFacets, facet_filter
from custrec.services.results import BulkResult, HistoryEntry, IdentifyResult
from custrec.storage import HIDDEN_STATES, CustomerFilter, CustomerRow, HistoryRecord, Session
from custrec.validation import DEFAULT_RULES, normalize_identifier, parse_customer
from custrec.validation import email as email_format
from custrec.validation import phone as phone_format
from custrec.workflow.rules import LifecycleEvent

__all__ = ["CustomerService", "Preparation", "PreparedCustomer"]

_READONLY_FIELDS: Final = frozenset({"id", "version", "created_at", "updated_at"})


class CustomerService:
    """Intake, reads, queries and updates of customers (``registry.customers``)."""

    def __init__(
        self, context: Context, records: Records, lifecycle: Lifecycle | None = None
    ) -> None:
        self._context = context
        self._records = records
        self._lifecycle = lifecycle
        self._work = WorkRecords(context, records)
        self._intake = Intake(context, records)

    def intake(
        self,
        data: Mapping[str, Any] | Customer | PreparedCustomer,
        *,
        actor: Actor,
        reason: str | None = None,
        allow_duplicates: bool = False,
        review: bool | None = None,
    ) -> Customer:
        """Take a new customer in and return it as stored (``version == 1``).

        ``data`` is a raw mapping (normalised and validated as by
        :func:`~custrec.validation.parse_customer`) or a :class:`~custrec.model.records.Customer`.
        A customer without an owner is owned by the actor (and the actor's team). Raises
        :class:`~custrec.errors.ValidationFailed` (carrying the report) for invalid data,
        :class:`~custrec.errors.AccessDenied` if the actor may not create it,
        :class:`~custrec.errors.DuplicateCustomer` when a stored customer shares a phone,
        e-mail, credit code, resident id, passport or external id (unless ``allow_duplicates``),
        and ``DuplicateKey`` if the id is taken. The record, its first history entry and its
        audit entry are written in one transaction. The result is masked unless the actor may
        unmask. With ``review`` (default: the registry's ``review_intake``) the record enters as
        ``pending_review`` until ``registry.review.approve`` or ``reject``. A
        :class:`PreparedCustomer` from :meth:`prepare` (same actor) is not validated again.
        """
        return self._intake.one(
            data, actor=actor, reason=reason, allow_duplicates=allow_duplicates, review=review
        )

    def prepare(
        self, data: Mapping[str, Any], *, actor: Actor, as_of: datetime | None = None
    ) -> PreparedCustomer:
        """Parse and validate ``data`` as ``intake`` would, without storing anything.

        The data is normalised and validated by :func:`~custrec.validation.parse_customer` with
        this registry's rules and region, as of ``as_of`` (default now); a restriction set by
        hand is refused (``state.restricted``) as by ``intake``. The result carries the record
        (``None`` unless valid) and the report. Handed by the same ``actor`` to this registry's
        ``intake`` or ``intake_many``, a valid :class:`PreparedCustomer` is stored **without
        being validated a second time** (an import validates each row once: it prepares the
        rows, reports the issues, gives them their ids with ``with_id`` and takes them in).
        A prepared customer handed over by another actor, or made by another registry, is
        validated again; a plain :class:`~custrec.model.records.Customer` always is.
        ``TypeError`` if ``data`` is not a mapping.
        """
        return self._intake.prepare(data, actor=actor, as_of=as_of)

    def preparation(
        self, *, actor: Actor, as_of: datetime | None = None, region: str | None = None
    ) -> Preparation:
        """A picklable :class:`Preparation`: :meth:`prepare` for worker processes.

        ``preparation.prepare(data)`` parses and validates with this registry's rules, as of
        ``as_of`` (default now), reading national phone numbers in ``region`` (default the
        registry's). Its :class:`PreparedCustomer` results, pickled back to this process and
        handed to this registry's ``intake``/``intake_many`` by the same ``actor``, are stored
        without a second validation (a parallel import validates each row once this way).
        ``ValueError`` for an unknown region or a naive ``as_of``.
        """
        return self._intake.preparation(actor=actor, as_of=as_of, region=region)

    def intake_many(
        self,
        items: Iterable[Mapping[str, Any] | Customer | PreparedCustomer],
        *,
        actor: Actor,
        reason: str | None = None,
        batch_size: int = 1000,
        allow_duplicates: bool = False,
        review: bool | None = None,
    ) -> BulkResult:
        """Take many customers in, one transaction per chunk of ``batch_size`` items.

        Invalid items, items the actor may not create and duplicates (against the store, or an
        earlier item of the same run) are reported, not raised; items whose id is already stored
        are skipped, so re-running an interrupted import with the same ids completes it without
        duplicating anything. A crash leaves every chunk either wholly stored or not at all.

        An item is a raw mapping or a :class:`~custrec.model.records.Customer` (both normalised
        and validated here), or a :class:`PreparedCustomer` this registry's :meth:`prepare`
        issued to the same actor, which is taken as validated (each row validated once).
        """
        return self._intake.many(
            items,
            actor=actor,
            reason=reason,
            batch_size=batch_size,
            allow_duplicates=allow_duplicates,
            review=review,
        )

    def get(self, customer_id: str, *, actor: Actor, purpose: str | None = None) -> Customer:
        """Return the customer, masked unless the actor may unmask; the read is audited.

        Raises :class:`~custrec.errors.NotFound`, :class:`~custrec.errors.AccessDenied` or
        :class:`~custrec.errors.Erased`.
        """
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.read_unit(snapshot=False) as unit:  # one statement
            row = self._records.live_row(unit, customer_id)
            decision = unit.authorize(actor, Action.READ, Resource.of(row), at=now)
            customer = self._records.customer(unit, row)
            self._records.audit_read(unit, actor, decision, customer, now, purpose=purpose)
            unit.commit()
        return self._records.shown(decision, customer)

    def _strong_key_of(
        self,
        *,
        phone: str | None,
        email: str | None,
        identifier: Identifier | None,
        external_id: tuple[str, str] | None,
        custom: tuple[str, object] | None = None,
    ) -> list[StrongKey] | None:
        keys: list[StrongKey] = []
        if custom is not None:
            key = indexed_custom_key(self._context.fields.cached(), custom)
            if key is None:
                return None
            keys.append(key)
        if phone is not None:
            if not phone_format.is_valid(phone, self._context.region):
                return None
            keys.append(("phone", phone_format.normalize(phone, self._context.region)))
        if email is not None:
            if not email_format.is_valid(email):
                return None
            keys.append(("email", email_format.normalize(email).casefold()))
        if identifier is not None:
            if not isinstance(identifier, Identifier):
                raise TypeError("identifier must be a custrec.model.records.Identifier")
            keys.append(identifier_key(normalize_identifier(identifier)))
        if external_id is not None:
            system, value = external_id
            ident = Identifier(scheme=IdentifierScheme.EXTERNAL, value=value, system=system)
            keys.append(identifier_key(normalize_identifier(ident)))
        if not keys:
            raise ValueError(
                "find() needs at least one of phone, email, identifier, external_id, custom"
            )
        return keys

    def find(
        self,
        *,
        actor: Actor,
        phone: str | None = None,
        email: str | None = None,
        identifier: Identifier | None = None,
        external_id: tuple[str, str] | None = None,
        custom: tuple[str, object] | None = None,
    ) -> list[Customer]:
        """Return the customers matching every given strong identifier exactly, by id.

        ``phone`` is normalised with the registry's region, ``email`` as at intake,
        ``identifier`` is an :class:`~custrec.model.records.Identifier`, ``external_id`` is
        ``(system, value)``, ``custom`` is ``(field name, value)`` of an indexed custom field
        (``ValueError`` for a field that is not indexed; the value is read as at intake).
        Lookups use blind indexes when a keyring is set. A value that
        cannot be normalised matches nobody. Only customers the actor may read are returned
        (masked unless the actor may unmask); each is audited. At least one criterion is
        required (``ValueError``).
        """
        actor = check_actor(actor)
        keys = self._strong_key_of(
            phone=phone,
            email=email,
            identifier=identifier,
            external_id=external_id,
            custom=custom,
        )
        if keys is None:
            return []
        now = self._context.now()
        wanted = [frozenset(self._context.codec.lookup_keys(key)) for key in keys]
        # Without a snapshot the look-up and the read are two moments. A row that no longer
        # carries one index key of every criterion when read means a change came in between;
        # then the find is done again in one snapshot, so that a key that moved from one
        # customer to another is found on one of them, as at one moment, never on neither.
        for snapshot in (False, True):
            with self._context.read_unit(snapshot=snapshot) as unit:
                rows, changed = _rows_holding(unit.session, wanted)
                if changed and not snapshot:
                    continue  # nothing read is returned or audited: read again in a snapshot
                found = self._records.read_and_audit(
                    unit, actor, self._records.readable(actor, rows), now
                )
                unit.commit()
            return found
        raise AssertionError("unreachable: the snapshot pass returns")  # pragma: no cover

    def search(
        self,
        text: str,
        *,
        actor: Actor,
        after: str | None = None,
        limit: int = 100,
        **facets: Unpack[CustomerFacets],
    ) -> list[Customer]:
        """Customers whose name or registered name matches ``text`` and the facets
        (:class:`CustomerFacets`: ``city="北京"``), by id.

        A match is the exact name (NFKC, case and width folded), an organisation's core name
        without its legal form and region (``某某科技`` finds ``北京某某科技有限公司`` and
        ``上海某某科技有限公司`` alike: filter by region to tell them apart), or a person's
        full name in any order (``伟 张`` finds ``张伟``; ``Smith John`` finds ``John Smith``).
        It goes through blind indexes like the other look-ups: no record is decrypted but the
        matches the actor may read (masked unless the actor may unmask), each audited, plus one
        ``customer.search`` entry (the search text is never recorded). A text without letters
        or digits finds nobody. Page with ``after=page[-1].id``; stores written before name
        search existed need ``registry.keys.reindex`` once.
        """
        actor = check_actor(actor)
        if not isinstance(text, str):
            raise TypeError("text must be a string")
        check("limit", limit, positive_int())
        if after is not None and not isinstance(after, str):
            raise TypeError("after must be a customer id (a string) or None")
        return search_names(
            self._context,
            self._records,
            text,
            actor=actor,
            after=after,
            limit=limit,
            now=self._context.now(),
            where=facet_filter(facets, fields=self._context.fields.cached()),
        )

    def identify(
        self,
        keys: Iterable[StrongKey],
        *,
        actor: Actor,
        ids: Iterable[str] = (),
    ) -> IdentifyResult:
        """Batched identity lookups for imports and matching: ids only, never records.

        ``keys`` are normalised strong keys (``("phone", "+8613800138000")``, see
        :func:`custrec.matching.strong_keys`); the result names the stored customers holding
        each key (keys nobody visible holds are left out) and which of ``ids`` exist,
        read in one transaction through the blind index when a keyring is set. Like every read
        it goes through the access policy: only customers the actor may read are named (so an
        actor without a read right learns nothing), and it is audited: one
        ``customer.identify`` entry with the kinds of key looked up, and one per customer it
        names, with the kinds of key that matched (and ``id`` when named among ``ids``).
        """
        return identify(self._context, self._records, keys, actor=actor, ids=ids)

    def _page(
        self, actor: Actor, where: CustomerFilter, after: str | None, limit: int
    ) -> list[Customer]:
        """Up to ``limit`` customers the actor may read, after ``after`` by id, opened and
        audited in one unit of work."""
        now = self._context.now()
        with self._context.read_unit() as unit:
            shown, _ = unit.seek(
                where,
                after,
                limit,
                lambda rows: self._records.read_and_audit(
                    unit, actor, self._records.readable(actor, rows), now
                ),
            )
            unit.commit()
        return shown

    def query(
        self,
        *,
        actor: Actor,
        after: str | None = None,
        limit: int = 100,
        **facets: Unpack[CustomerFacets],
    ) -> list[Customer]:
        """Return the first ``limit`` customers after ``after`` (by id) that match the facets
        (:class:`CustomerFacets`) and that the actor may read, masked unless the actor may
        unmask; each is audited.

        Erased and merged records and customers the actor may not read are skipped before the
        limit applies, so a page holds ``limit`` customers unless it is the last one, and
        ``after=page[-1].id`` walks every readable customer exactly once. Unknown facets raise
        ``TypeError`` and unknown values ``ValueError``, naming the allowed ones.
        """
        actor = check_actor(actor)
        check("limit", limit, positive_int())
        if after is not None and not isinstance(after, str):
            raise TypeError("after must be a customer id (a string) or None")
        return self._page(
            actor, facet_filter(facets, fields=self._context.fields.cached()), after, limit
        )

    def batches(
        self, *, actor: Actor, batch_size: int = 500, **facets: Unpack[CustomerFacets]
    ) -> Iterator[list[Customer]]:
        """Yield every customer the actor may read matching the facets, in batches of
        ``batch_size`` (only the last one shorter), by id, each read and audited in its own
        short unit of work (as :meth:`query`)."""
        actor = check_actor(actor)
        check("batch_size", batch_size, positive_int())
        where = facet_filter(facets, fields=self._context.fields.cached())
        after: str | None = None
        while True:
            batch = self._page(actor, where, after, batch_size)
            if batch:
                yield batch
            if len(batch) < batch_size:
                return
            after = batch[-1].id

    def ids(
        self, *, actor: Actor, batch_size: int = 1000, **facets: Unpack[CustomerFacets]
    ) -> Iterator[str]:
        """Yield, by id, the ids of the customers matching the facets that the actor may read
        (erased and merged records left out), from the facets alone: nothing is decrypted and
        nothing is audited, as for :meth:`count`. Exports start here."""
        actor = check_actor(actor)
        check("batch_size", batch_size, positive_int())
        where = facet_filter(facets, fields=self._context.fields.cached())
        decide = self._context.policy.decide

        def readable(row: CustomerRow) -> bool:
            return (
                row.state not in HIDDEN_STATES
                and decide(actor, Action.READ, Resource.of(row)).allowed
            )

        return (row.id for row in self._context.scan(where, readable, batch_size=batch_size))

    def count(
        self, *, actor: Actor, batch_size: int = 5000, **facets: Unpack[CustomerFacets]
    ) -> int:
        """Count the customers matching the facets that the actor may read.

        Erased and merged records are not counted. Rows are read page by page and checked
        against the access policy by their owner and team; nothing is decrypted and nothing is
        audited (no personal data is read), so a record whose data key is gone but which is not
        yet a tombstone (a database restored from a backup, before
        ``registry.privacy.replay_erasures``) still counts, while the reads that open records
        skip it.
        """
        return sum(1 for _ in self.ids(actor=actor, batch_size=batch_size, **facets))

    def update(
        self,
        customer_id: str,
        changes: Mapping[str, Any],
        *,
        actor: Actor,
        reason: str,
        expected_version: int | None = None,
        allow_duplicates: bool = False,
    ) -> Customer:
        """Change fields of a customer and record one history entry per changed field.

        ``changes`` maps top-level field names to new raw values (as :func:`parse_customer`
        accepts them; nested records are replaced whole). The merged record is normalised and
        re-validated (``ValidationFailed``). ``expected_version`` is the version the caller read;
        a stale one raises :class:`~custrec.errors.VersionConflict`. Without it, an update
        racing another one of the same customer waits for it (the row is locked from this
        update's read to its commit) and then applies to the newer version. A new phone, e-mail or
        identifier held by another customer raises ``DuplicateCustomer`` unless
        ``allow_duplicates``. ``state`` may be moved between ``live`` and ``archived`` (archive a
        record by hand, or take it back into use); a restriction comes and goes only through the
        consent ledger (``state.restricted`` issue otherwise). An update that changes nothing
        returns the stored customer as it is. ``reason`` is required and is stored in the
        history and the audit log: do not put
        personal data in it.
        """
        actor = check_actor(actor)
        check_reason(reason, "customers.update()")
        if not isinstance(changes, Mapping):
            raise TypeError("changes must be a mapping of field names to values")
        now = self._context.now()
        issues = [
            Issue(path=str(name), code="readonly_field", message="this field cannot be changed")
            for name in changes
            if name in _READONLY_FIELDS
        ]
        if issues:
            raise ValidationFailed(ValidationReport(issues))
        with self._context.unit() as unit:
            row = self._records.live_row(unit, customer_id)
            customer_id = row.id
            unit.authorize(actor, Action.UPDATE, Resource.of(row), at=now)
            if expected_version is not None and expected_version != row.version:
                raise VersionConflict(
                    f"customer {customer_id}", expected=expected_version, actual=row.version
                )
            current = self._records.customer(unit, row)
            merged = self._context.converter.unstructure(current)
            merged.update(changes)
            merged.pop("version", None)
            if isinstance(changes.get("custom"), Mapping):
                # custom values change field by field; a value of None removes one
                custom = dict(merged_custom(current, self._context.converter))
                custom.update(changes["custom"])
                merged["custom"] = {k: v for k, v in custom.items() if v is not None}
            # custom values are checked when they change: a definition changed since (a field
            # made required, an option dropped) never blocks an update of other fields
            fields = unit.fields() if "custom" in changes else None
            rules = self._context.rules
            result = parse_customer(
                merged, region=self._context.region, rules=rules, as_of=now, fields=fields
            )
            if result.record is None and _only_stale_currencies(result.report, changes):
                # a currency stored before the ISO 4217 check (RMB, HRK) never blocks an update
                # of other fields; an amount the update gives is checked
                result = parse_customer(
                    merged,
                    region=self._context.region,
                    rules=(rules or DEFAULT_RULES).with_severity("currency.invalid", "warning"),
                    as_of=now,
                    fields=fields,
                )
            if result.record is None:
                raise ValidationFailed(result.report)
            removed = removed_issues(result.record.custom, unit.fields(), current.custom)
            if removed:
                raise ValidationFailed(ValidationReport(removed))
            new = attrs.evolve(
                result.record,
                version=row.version,
                created_at=current.created_at,
                updated_at=current.updated_at,
            )
            if new.state is not current.state and RecordState.RESTRICTED in (
                new.state,
                current.state,
            ):
                raise ValidationFailed(ValidationReport((RESTRICTION_ISSUE,)))
            field_changes = diff(current, new)
            if not field_changes:
                shown = current
            else:
                new = attrs.evolve(new, updated_at=now)
                if not allow_duplicates:
                    added_keys = strong_keys(new) - strong_keys(current)
                    ids, kinds = self._records.find_collisions(
                        unit, added_keys, exclude=customer_id
                    )
                    if ids:
                        unit.refuse_duplicate(actor, ids, kinds, at=now, customer_id=customer_id)
                version = self._records.store_update(
                    unit, row, new, field_changes, actor.id, reason, now
                )
                new = attrs.evolve(new, version=version)
                self._work.follow_owner(unit, current, new, actor, now)
                if self._lifecycle is not None:
                    event = LifecycleEvent(
                        kind="customer.update",
                        customer=new,
                        at=now,
                        fields=tuple(c.path for c in field_changes),
                    )
                    new = self._lifecycle.react(
                        unit, event, actor, attrs.evolve(row, version=version)
                    )
                    version = new.version
                unit.commit()
                shown = attrs.evolve(new, version=version)
        read = self._context.policy.decide(actor, Action.READ, Resource.of(shown))
        return self._records.shown(read, shown)

    def history(self, customer_id: str, *, actor: Actor) -> list[HistoryEntry]:
        """Return the customer's change history, oldest first; the read is audited.

        Personal values are ``"***"`` unless the actor may unmask. Raises ``NotFound``,
        ``AccessDenied`` or ``Erased``.
        """
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.read_unit() as unit:
            row = unit.session.customers.get(customer_id)
            decision = unit.authorize(actor, Action.READ, Resource.of(row), at=now)
            if row.state == "erased":
                raise Erased(customer_id)
            opened: list[tuple[HistoryRecord, Any]] = []
            for record in unit.session.history.list_for(customer_id):
                if record.action == "create":
                    values: Any = None
                    if record.payload != CREATED:  # written before: the record as first stored
                        document = unit.sealer.open_record(
                            Customer, record.payload, customer_id=customer_id
                        )
                        values = {"old": None, "new": document.get("data")}
                else:
                    values = unit.sealer.open_value(
                        record.payload, customer_id=customer_id, field=f"history:{record.path}"
                    )
                opened.append((record, values))
            changes: list[HistoryEntry] = []
            for index, (record, values) in enumerate(opened):
                if values is None:
                    values = {
                        "old": None,
                        "new": self._records.first_version(unit, row, record, opened[index + 1 :]),
                    }
                old, new = values.get("old"), values.get("new")
                whole = record.action == "create"
                if decision.masked and (whole or record.path) and is_personal(record.path):
                    old, new = (
                        self._mask_value(record.path, old),
                        self._mask_value(record.path, new),
                    )
                changes.append(
                    HistoryEntry(
                        customer_id=customer_id,
                        seq=record.seq,
                        at=record.at,
                        actor_id=record.actor_id,
                        action=record.action,
                        path=record.path,
                        reason=record.reason,
                        old=old,
                        new=new,
                    )
                )
            unit.audit(
                actor,
                "history.read" if decision.masked else "history.unmask",
                at=now,
                customer_id=customer_id,
            )
            unit.commit()
        return changes

    def _mask_value(self, path: str, value: Any) -> Any:
        if value is None:
            return None
        if not path and isinstance(value, dict):
            customer = self._context.converter.structure(value, Customer)
            shown = self._records.shown(AccessDecision(True, "history", masked=True), customer)
            return self._context.converter.unstructure(shown)
        if path == "custom" and isinstance(value, dict):
            values = self._context.converter.structure(value, CustomValues)
            masked = mask_custom(values, self._records.personal_custom)
            return self._context.converter.unstructure(masked)
        return MASKED


def _rows_holding(
    session: Session, wanted: Sequence[frozenset[str]]
) -> tuple[list[CustomerRow], bool]:
    """The customers holding one index key of every group in ``wanted``, and whether the
    look-up named one that, as read, no longer holds them (or is gone): a change came between
    the look-up and the read."""
    found_ids = session.customers.lookup_many(sorted(set().union(*wanted)))
    matched = set.intersection(
        *({i for k in group for i in found_ids.get(k, ())} for group in wanted)
    )
    read = session.customers.get_many(sorted(matched))
    rows = [row for row in read if all(group & row.index_keys for group in wanted)]
    return rows, len(rows) < len(matched)


def _only_stale_currencies(report: ValidationReport, changes: Mapping[str, Any]) -> bool:
    """Whether every error of ``report`` is a ``currency.invalid`` in a field the update does
    not give (a value stored by an earlier version)."""
    errors = [issue for issue in report.issues if issue.severity is Severity.ERROR]
    return bool(errors) and all(
        issue.code == "currency.invalid" and issue.path.split(".")[0].split("[")[0] not in changes
        for issue in errors
    )
