"""What several services do to stored customers inside a unit of work, written once.

:class:`Records` opens and seals customer rows and activities, builds history entries, reads the
consent ledger, decides which rows an actor may read, audits reads, and changes a record's
:class:`~custrec.model.records.RecordState`. Services receive it explicitly; it holds no state of
its own beyond the :class:`~custrec.services.context.Context`.
"""

from __future__ import annotations

import copy
import json
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import attrs
import cattrs

from custrec.consent import ConsentEvent, ConsentLedger, SubjectFacts
from custrec.errors import Erased, InvalidState, StorageError
from custrec.matching import StrongKey, strong_keys
from custrec.matching.keys import MatchKey, _blocking_keys_of, _normalised_name
from custrec.model._replace import replace
from custrec.model.custom import CustomFieldSet
from custrec.model.history import FieldChange, diff
from custrec.model.records import (
    Customer,
    Interaction,
    RecordState,
    Transaction,
    VerificationStatus,
    personal_fields,
)
from custrec.model.serialization import SCHEMA_VERSION
from custrec.retention import RetentionAction
from custrec.security import AccessDecision, Action, Actor, Resource, mask_custom, mask_record
from custrec.services._custom import row_facets, search_keys
from custrec.services._personal import general_paths, record_paths
from custrec.services.context import Context, Unit
from custrec.storage import HIDDEN_STATES, ActivityRow, CustomerFilter, CustomerRow, HistoryRecord

__all__ = [
    "CREATED",
    "MASKED",
    "Records",
    "alias_target",
    "holds_customer",
    "is_personal",
    "matched",
    "service_parts",
]

MASKED: Final = "***"
CREATED: Final = b""
"""The payload of a creation entry (:meth:`Records.creation_entry`); one written before it holds
the record as first stored, sealed like the row."""
_LAST_RECORD: Final = "record"  # a merged entry's copy of the record before the merge
_FIELD_NAMES: Final = frozenset(f.name for f in attrs.fields(Customer))
_SEGMENT: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")
_MAX_ALIAS_HOPS: Final = 64
_INDEX: Final = re.compile(r"\[\d+\]")
_PERSONAL_PATHS: Final = frozenset(f.path for f in personal_fields(Customer))

_ACTIVITY_PAGE: Final = 500  # activity rows read per step


def holds_customer(row: CustomerRow) -> bool:
    """Whether a stored row holds a customer (it is not an erasure tombstone or merge alias)."""
    return row.state not in HIDDEN_STATES


def is_personal(path: str) -> bool:
    """Whether a change path is, or contains, a personal field (the whole record: ``""``)."""
    if not path:
        return True
    generic = _INDEX.sub("[]", path)
    return any(
        generic == p or p.startswith((generic + ".", generic + "[]")) for p in _PERSONAL_PATHS
    )


def alias_target(row: CustomerRow) -> str:
    """The id a merged row points to (its alias payload names it)."""
    try:
        target = json.loads(row.payload).get("merged_into")
    except (ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise StorageError(f"customer {row.id}: a merge alias is not valid JSON") from exc
    if not isinstance(target, str) or not target:
        raise StorageError(f"customer {row.id}: a merge alias names no customer")
    return target


def stored_form(
    record: Customer, *, owner: str, team: str | None, now: datetime, review: bool
) -> Customer:
    """``record`` as intake stores it at ``now``: version 1, ``owner`` and ``team`` where it
    names none, its creation instant (``now`` unless given) and ``now`` as the last update,
    and pending review when ``review`` (shared by intake and the presealing import path)."""
    return replace(  # attrs.evolve, without rebuilding every other field
        record,
        version=1,
        owner=record.owner or owner,
        team=record.team or team,
        created_at=record.created_at or now,
        updated_at=now,
        verification=(VerificationStatus.PENDING_REVIEW if review else record.verification),
    )


def index_tokens(
    customer: Customer,
    index_key: Callable[[MatchKey], str],
    *,
    blocking: bool,
    fields: CustomFieldSet,
    tokens: Mapping[MatchKey, tuple[str, ...]] | None = None,
    strong: frozenset[StrongKey] | None = None,
) -> frozenset[str]:
    """The index tokens of ``customer`` (see :meth:`Records.index_keys`), with the codec's
    ``index_key`` and the settings passed in."""
    keys = match_keys(customer, blocking=blocking, fields=fields, strong=strong)
    known = tokens or {}
    found: list[str] = []
    for key in keys:  # a loop, not a generator: about eight keys a customer at bulk intake
        looked_up = known.get(key)
        found.append(index_key(key) if looked_up is None else looked_up[0])
    return frozenset(found)


def match_keys(
    customer: Customer,
    *,
    blocking: bool,
    fields: CustomFieldSet,
    strong: frozenset[StrongKey] | None = None,
) -> frozenset[MatchKey]:
    """The match keys ``customer`` is indexed under (before any blind index): its strong
    identifiers, blocking keys when ``blocking``, its name-search and indexed custom-field keys
    (a worker process computes them without any key; see :func:`index_tokens`)."""
    keys: frozenset[MatchKey] = strong_keys(customer) if strong is None else strong
    if not blocking:
        return keys | search_keys(customer, fields)
    # the name normalised once, for the blocking and the search keys
    normalised = _normalised_name(customer)
    keys = keys | _blocking_keys_of(customer, normalised)
    return keys | search_keys(customer, fields, normalised)


def customer_row(
    customer: Customer, payload: bytes, index_keys: frozenset[str], fields: CustomFieldSet
) -> CustomerRow:
    """The stored row of a stored-form ``customer`` with its sealed ``payload``."""
    if customer.created_at is None or customer.updated_at is None:
        raise ValueError("stored customers need created_at and updated_at")
    return CustomerRow(
        id=customer.id,
        version=customer.version,
        payload=payload,
        index_keys=index_keys,
        kind=customer.kind._value_,
        stage=customer.stage._value_,
        state=customer.state._value_,
        owner=customer.owner,
        team=customer.team,
        grade=customer.grade,
        tags=customer.tags,
        facets=row_facets(customer, fields),
        created_at=customer.created_at,
        updated_at=customer.updated_at,
    )


def customer_facts(customer: Customer, converter: cattrs.Converter) -> dict[str, Any]:
    """What the row of ``customer`` stores beside its payload, as ``converter``'s document
    holds it (see :meth:`Records.customer_facts`)."""
    unstructure = converter.unstructure
    return {
        "kind": customer.kind._value_,
        "state": customer.state._value_,
        "owner": customer.owner,
        "team": customer.team,
        "grade": customer.grade,
        "tags": list(customer.tags),
        "created_at": unstructure(customer.created_at),
        "updated_at": unstructure(customer.updated_at),
    }


class Records:
    """Customer rows, activities, history, ledgers and record state, in a unit of work."""

    def __init__(self, context: Context) -> None:
        self._context = context

    # ------------------------------------------------------------------------- open and seal

    def document(self, record: Any) -> dict[str, Any]:
        """The schema-versioned document of a record, before sealing."""
        return {
            "schema_version": SCHEMA_VERSION,
            "data": self._context.converter.unstructure(record),
        }

    def open(
        self, unit: Unit, record_type: type, row_id: str, customer_id: str, payload: bytes
    ) -> Any:
        """Open a sealed record of ``customer_id``; ``Erased`` if its key is gone."""
        record_id = None if record_type is Customer else row_id
        document = unit.sealer.open_record(
            record_type, payload, customer_id=customer_id, record_id=record_id
        )
        return self._structured(record_type, customer_id, document)

    def _structured(self, record_type: type, customer_id: str, document: dict[str, Any]) -> Any:
        if "erased" in document:
            raise Erased(customer_id)
        if document.get("schema_version") != SCHEMA_VERSION:
            raise StorageError(f"customer {customer_id}: unsupported schema version")
        return self._context.converter.structure(document.get("data"), record_type)

    def customer(self, unit: Unit, row: CustomerRow) -> Customer:
        """The customer a row holds; ``Erased`` for a tombstone or a lost key,
        ``InvalidState`` for a merge alias."""
        if row.state == "erased":
            raise Erased(row.id)
        if row.state == "merged":
            target = alias_target(row)
            raise InvalidState(f"customer {row.id} was merged into customer {target}")
        document = unit.sealer.open_record(
            Customer, row.payload, customer_id=row.id, facts=self.row_facts(row)
        )
        customer = typing.cast(Customer, self._structured(Customer, row.id, document))
        return replace(customer, version=row.version)

    def opened(self, unit: Unit, rows: Iterable[CustomerRow]) -> list[tuple[CustomerRow, Customer]]:
        """The rows with their customers opened; a row whose key is gone (a restored backup,
        an interrupted erasure) holds nobody's data any more and is left out."""
        found: list[tuple[CustomerRow, Customer]] = []
        for row in rows:
            try:
                found.append((row, self.customer(unit, row)))
            except Erased:
                continue
        return found

    def row(
        self,
        unit: Unit,
        customer: Customer,
        *,
        new: bool = False,
        tokens: Mapping[MatchKey, tuple[str, ...]] | None = None,
        payload: bytes | None = None,
        index_keys: frozenset[str] | None = None,
        strong: frozenset[StrongKey] | None = None,
        minted: bool = False,
    ) -> CustomerRow:
        """The stored row of ``customer``; ``payload`` and ``index_keys`` when already made
        (a bulk intake seals and indexes a whole batch in one pass), ``tokens`` and ``strong``
        as for :meth:`index_keys`; ``minted``: the id was made for this intake (see
        :meth:`~custrec.storage.codec.Sealer.seal_record`)."""
        if customer.created_at is None or customer.updated_at is None:
            raise ValueError("stored customers need created_at and updated_at")
        fields = unit.fields()
        if payload is None:
            payload = unit.sealer.seal_record(
                Customer,
                self.document(customer),
                customer_id=customer.id,
                new_customer=new,
                facts=self.customer_facts(customer),
                minted=minted,
            )
        if index_keys is None:
            index_keys = self.index_keys(customer, tokens=tokens, strong=strong, fields=fields)
        return customer_row(customer, payload, index_keys, fields)

    def customer_facts(self, customer: Customer) -> dict[str, Any]:
        """What the row of ``customer`` stores beside its payload (:meth:`row`), as the
        document holds it: the sealer leaves these values out of the payload (all but the
        stage, which stays readable in it)."""
        return customer_facts(customer, self._context.converter)

    @staticmethod
    def document_facts(document: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`customer_facts` read from the customer's :meth:`document` (already
        unstructured: nothing is converted twice)."""
        data = document["data"]
        return {
            "kind": data["kind"],
            "state": data["state"],
            "owner": data["owner"],
            "team": data["team"],
            "grade": data["grade"],
            "tags": list(data["tags"]),
            "created_at": data["created_at"],
            "updated_at": data["updated_at"],
        }

    def row_facts(self, row: CustomerRow) -> dict[str, Any]:
        """The same values as :meth:`customer_facts`, read from a stored row (to open it)."""
        unstructure = self._context.converter.unstructure
        return {
            "kind": row.kind,
            "state": row.state,
            "owner": row.owner,
            "team": row.team,
            "grade": row.grade,
            "tags": list(row.tags),
            "created_at": unstructure(row.created_at),
            "updated_at": unstructure(row.updated_at),
        }

    def index_keys(
        self,
        customer: Customer,
        *,
        tokens: Mapping[MatchKey, tuple[str, ...]] | None = None,
        strong: frozenset[StrongKey] | None = None,
        fields: CustomFieldSet | None = None,
    ) -> frozenset[str]:
        """The index tokens of a customer: strong identifiers, the name-search keys of its
        name and registered name, the indexed custom fields (``fields``: the custom-field
        set, by default the one last read), and blocking keys if enabled.

        ``tokens`` holds look-up tokens already computed for some keys: the first of them is
        the current index key, so it is reused instead of computed again. ``strong`` is the
        customer's :func:`~custrec.matching.strong_keys` when the caller has them already.
        """
        return index_tokens(
            customer,
            self._context.codec.index_key,
            blocking=self._context.matching.blocking,
            fields=fields or self._context.fields.cached(),
            tokens=tokens,
            strong=strong,
        )

    def live_row(self, unit: Unit, customer_id: str) -> CustomerRow:
        """The row of ``customer_id``, following merge aliases to the surviving customer."""
        row = unit.session.customers.get(customer_id)
        for _ in range(_MAX_ALIAS_HOPS):
            if row.state != "merged":
                return row
            row = unit.session.customers.get(alias_target(row))
        raise StorageError(f"customer {customer_id}: merge aliases form a loop")

    @staticmethod
    def activity_rows(
        unit: Unit, customer_id: str, *, kind: str | None = None
    ) -> Iterator[ActivityRow]:
        """Every activity row of a customer (or of one ``kind``), by id, read a page at a time:
        there is no cap on how many a customer has."""
        after: str | None = None
        while True:
            rows = unit.session.activities.list_for(
                customer_id, kind=kind, after=after, limit=_ACTIVITY_PAGE
            )
            yield from rows
            if len(rows) < _ACTIVITY_PAGE:
                return
            after = rows[-1].id

    def open_activity(self, unit: Unit, row: ActivityRow) -> Transaction | Interaction:
        """Open an activity; one moved by a merge is still sealed for the merged customer."""
        cls: type[Transaction | Interaction] = (
            Transaction if row.kind == "transaction" else Interaction
        )
        sealed_for = row.customer_id
        if self._context.codec.encrypted:
            try:
                document = json.loads(row.payload)
            except (ValueError, UnicodeDecodeError) as exc:
                raise StorageError(f"activity {row.id} is not valid JSON") from exc
            data = document.get("data") if isinstance(document, dict) else None
            if isinstance(data, dict) and isinstance(data.get("customer_id"), str):
                sealed_for = data["customer_id"]
        record = self.open(unit, cls, row.id, sealed_for, row.payload)
        if record.customer_id != row.customer_id:
            record = attrs.evolve(record, customer_id=row.customer_id)
        return typing.cast(Transaction | Interaction, record)

    # ----------------------------------------------------------------------- reading rights

    def readable(
        self, actor: Actor, rows: Iterable[CustomerRow]
    ) -> list[tuple[CustomerRow, AccessDecision]]:
        """The rows holding a customer that the actor may read, with the policy's decision for
        each; nothing is opened."""
        decide = self._context.policy.decide
        found: list[tuple[CustomerRow, AccessDecision]] = []
        for row in rows:
            if row.state in HIDDEN_STATES:
                continue
            decision = decide(actor, Action.READ, Resource.of(row))
            if decision.allowed:
                found.append((row, decision))
        return found

    def shown(self, decision: AccessDecision, customer: Customer) -> Customer:
        """The customer as the decision lets the actor see it (masked unless unmasked): the
        custom fields are masked as their definitions say (a value without a definition as
        personal)."""
        if not decision.masked:
            return customer
        masked = mask_record(customer)
        if not customer.custom:
            return masked
        return attrs.evolve(masked, custom=mask_custom(customer.custom, self.personal_custom))

    def personal_custom(self, name: str) -> bool:
        """Whether a custom field's values are personal (a value without a definition is)."""
        field = self._context.fields.cached().get(name, removed=True)
        return field is None or field.personal

    def read_and_audit(
        self,
        unit: Unit,
        actor: Actor,
        readable: Iterable[tuple[CustomerRow, AccessDecision]],
        now: datetime,
        *,
        purpose: str | None = None,
    ) -> list[Customer]:
        """Open the readable rows, audit each read, and return them as the actor sees them."""
        shown: list[Customer] = []
        for row, decision in readable:
            for _, customer in self.opened(unit, [row]):
                self.audit_read(unit, actor, decision, customer, now, purpose=purpose)
                shown.append(self.shown(decision, customer))
        return shown

    def audit_read(
        self,
        unit: Unit,
        actor: Actor,
        decision: AccessDecision,
        customer: Customer,
        at: datetime,
        *,
        purpose: str | None = None,
    ) -> None:
        """Audit a read: ``customer.read`` masked, ``customer.unmask`` with the paths shown."""
        if decision.masked:
            unit.audit(actor, "customer.read", at=at, customer_id=customer.id, reason=purpose)
        else:
            unit.audit(
                actor,
                "customer.unmask",
                at=at,
                customer_id=customer.id,
                fields=self.personal_paths(customer),
                reason=purpose,
            )

    def store_update(
        self,
        unit: Unit,
        row: CustomerRow,
        new: Customer,
        changes: Sequence[FieldChange],
        actor_id: str,
        reason: str | None,
        now: datetime,
        *,
        action: str = "update",
        audit_action: str = "customer.update",
        on_behalf_of: str | None = None,
    ) -> int:
        """Write an updated customer (``changes`` from its stored version ``row``): the row
        (compare-and-set on the row's version), one history entry per change, and the audit
        entry with its change event; return the new version."""
        version = unit.session.customers.update(self.row(unit, new), expected_version=row.version)
        unit.session.history.append(
            [
                self.history_entry(unit, row.id, c, actor_id, reason, now, action=action)
                for c in changes
            ]
        )
        unit.audit(
            actor_id,
            audit_action,
            at=now,
            customer_id=row.id,
            fields=[c.path for c in changes],
            reason=reason,
            on_behalf_of=on_behalf_of,
            change=True,
        )
        return version

    def personal_paths(self, customer: Customer) -> list[str]:
        """The concrete personal field paths holding a value (what an unmasked read reveals)."""
        paths = record_paths(customer)  # without unstructuring it (an unmasked read's audit)
        if paths is None:  # a value of a type the record walk does not know
            paths = general_paths(self._context.converter.unstructure(customer), Customer)
        return paths

    # ------------------------------------------------------------------------------ history

    def history_entry(
        self,
        unit: Unit,
        customer_id: str,
        change: FieldChange,
        actor: Actor | str,
        reason: str | None,
        now: datetime,
        *,
        action: str,
    ) -> HistoryRecord:
        """A history entry for one field change, its old and new values sealed."""
        return HistoryRecord(
            customer_id=customer_id,
            at=now,
            actor_id=actor if isinstance(actor, str) else actor.id,
            action=action,
            path=change.path,
            reason=reason,
            payload=unit.sealer.seal_value(
                {"old": change.old, "new": change.new},
                customer_id=customer_id,
                field=f"history:{change.path}",
            ),
        )

    @staticmethod
    def creation_entry(
        customer_id: str, actor_id: str, reason: str | None, now: datetime
    ) -> HistoryRecord:
        """The first history entry: it records the creation and holds nothing else
        (:data:`CREATED`); the record as first stored is the current one with every later field
        change undone (:meth:`first_version`), so its bytes are not stored twice."""
        return HistoryRecord(
            customer_id=customer_id,
            at=now,
            actor_id=actor_id,
            action="create",
            path="",
            reason=reason,
            payload=CREATED,
        )

    def merged_entry(
        self,
        unit: Unit,
        record: Customer,
        survivor_id: str,
        actor: Actor | str,
        reason: str | None,
        now: datetime,
    ) -> HistoryRecord:
        """The ``merged`` entry of a record merged into ``survivor_id``: ``old`` ``None``, ``new``
        ``{"merged_into": survivor_id}``, and (sealed beside them, never shown) the record as it
        was, which :meth:`first_version` starts from once the row holds only the merge alias."""
        return HistoryRecord(
            customer_id=record.id,
            at=now,
            actor_id=actor if isinstance(actor, str) else actor.id,
            action="merged",
            path="",
            reason=reason,
            payload=unit.sealer.seal_value(
                {
                    "old": None,
                    "new": {"merged_into": survivor_id},
                    _LAST_RECORD: self._context.converter.unstructure(record),
                },
                customer_id=record.id,
                field="history:",
            ),
        )

    def first_version(
        self,
        unit: Unit,
        row: CustomerRow,
        created: HistoryRecord,
        later: Sequence[tuple[HistoryRecord, Any]],
    ) -> dict[str, Any]:
        """The record's document ``data`` as first stored, for a creation entry that does not
        hold it (:meth:`creation_entry`): the current record (for a merged record, the one its
        ``merged`` entry kept) with the old value of every later field change put back, newest
        first. ``later`` holds the entries after the creation with their opened values, in
        order. ``StorageError`` when the history cannot be replayed."""
        start = len(later)
        data: dict[str, Any] | None = None
        for index in range(len(later) - 1, -1, -1):
            record, values = later[index]
            kept = values.get(_LAST_RECORD) if isinstance(values, dict) else None
            if record.action == "merged" and isinstance(kept, dict):
                data, start = copy.deepcopy(kept), index
                break
        if data is None:
            if not holds_customer(row):
                raise StorageError(f"customer {row.id}: the first version cannot be rebuilt")
            document = unit.sealer.open_record(
                Customer, row.payload, customer_id=row.id, facts=self.row_facts(row)
            )
            found = document.get("data")
            if not isinstance(found, dict):
                raise StorageError(f"customer {row.id}: the stored record holds no data")
            data = found
        for record, values in reversed(later[:start]):
            if record.action == "create" or not _is_field_path(record.path):
                continue
            if not isinstance(values, dict):
                raise StorageError(f"customer {row.id}: history entry {record.seq} holds no change")
            _put_back(data, record.path, values.get("old"), row.id)
        data["version"] = 1
        data["updated_at"] = self._context.converter.unstructure(created.at)
        return data

    def find_collisions(
        self,
        unit: Unit,
        keys: Iterable[StrongKey],
        *,
        exclude: str | None = None,
        tokens: dict[MatchKey, tuple[str, ...]] | None = None,
    ) -> tuple[list[str], list[str]]:
        """(ids of stored customers holding any of the strong keys, kinds of key that matched).

        The look-up tokens of each key are added to ``tokens`` when given, so that the row
        written next does not compute them again.
        """
        table = tokens if tokens is not None else {}
        keys = list(keys)
        for key in keys:
            table[key] = self._context.codec.lookup_keys(key)
        found = unit.session.customers.lookup_many(t for key in keys for t in table[key])
        return matched(keys, table, found, exclude=exclude)

    # ------------------------------------------------------------------------------ consent

    def ledger(self, unit: Unit, customer_id: str) -> ConsentLedger:
        """The customer's consent ledger, every event opened, in append order."""
        converter = self._context.converter
        events: list[ConsentEvent] = []
        for record in unit.session.consents.list_for(customer_id):
            data = unit.sealer.open_value(
                record.payload, customer_id=customer_id, field=f"consent:{record.seq}"
            )
            events.append(converter.structure(data, ConsentEvent))
        return ConsentLedger(customer_id, events, catalogue=self._context.purposes)

    def subject(self, customer: Customer) -> SubjectFacts:
        """The facts about the customer consent decisions depend on (age, jurisdiction)."""
        return SubjectFacts.from_customer(customer, jurisdiction=self._context.jurisdiction)

    # ------------------------------------------------------------------------- record state

    def set_state(
        self,
        unit: Unit,
        row: CustomerRow,
        customer: Customer,
        state: RecordState,
        actor_id: str,
        now: datetime,
        *,
        action: str = "state",
        audit_action: str = "customer.state",
        reason: str | None = None,
        on_behalf_of: str | None = None,
        also: Callable[[Customer], Customer] | None = None,
    ) -> None:
        """Give the record ``state`` (and the changes ``also`` makes), with a history entry
        per changed field and an audit entry; nothing is written when nothing changes."""
        new = attrs.evolve(customer, state=state)
        if also is not None:
            new = also(new)
        changes = diff(customer, new)
        if not changes:
            return
        new = attrs.evolve(new, updated_at=now)
        self.store_update(
            unit,
            row,
            new,
            changes,
            actor_id,
            reason,
            now,
            action=action,
            audit_action=audit_action,
            on_behalf_of=on_behalf_of,
        )

    def alias_ids(self, unit: Unit, customer_id: str, *, chains: bool = False) -> list[str]:
        """The ids merged into ``customer_id``; with ``chains`` also those merged into them."""
        lookup_keys = self._context.codec.lookup_keys
        found: set[str] = set()
        todo = [customer_id]
        while todo:
            target = todo.pop()
            for token in lookup_keys(("merged_into", target)):
                for alias in unit.session.customers.lookup(token):
                    if alias not in found and alias != customer_id:
                        found.add(alias)
                        if chains:
                            todo.append(alias)
        return sorted(found)

    def every_customer(
        self, batch_size: int, *, also: Callable[[Unit, list[Customer]], None] | None = None
    ) -> Iterator[Customer]:
        """Every customer, unmasked and unaudited (for internal whole-store jobs), a page per
        short read-only unit of work; ``also`` runs on each page in its unit."""
        after: str | None = None
        while True:
            with self._context.unit(readonly=True) as unit:
                opened, after = unit.seek(
                    CustomerFilter(),
                    after,
                    batch_size,
                    lambda batch: self.opened(unit, (r for r in batch if holds_customer(r))),
                )
                page = [customer for _, customer in opened]
                if also is not None:
                    also(unit, page)
            yield from page
            if after is None:
                return

    def state_story(self, unit: Unit, customer: Customer) -> tuple[RecordState, datetime | None]:
        """The state a record has beside any restriction (``live`` or ``archived``), and since
        when it is archived, read from its history: an archive carried out while the record was
        restricted counts, and a restriction and its lift change neither."""
        underlying: RecordState | None = None
        since: datetime | None = None
        restricted = False
        for record in unit.session.history.list_for(customer.id):
            if record.path == "state":
                values = unit.sealer.open_value(
                    record.payload, customer_id=customer.id, field="history:state"
                )
                old, new = _state_of(values, "old"), _state_of(values, "new")
                if underlying is None:  # the state before the first recorded change
                    underlying = RecordState.LIVE if old is RecordState.RESTRICTED else old
                    since = customer.created_at if underlying is RecordState.ARCHIVED else None
                if new is RecordState.RESTRICTED:
                    restricted = True
                    continue
                restricted = False
                if new is not underlying:
                    underlying = new
                    since = record.at if new is RecordState.ARCHIVED else None
            elif (
                record.action == "retention"
                and record.path == RetentionAction.ARCHIVE.value
                and restricted
                and underlying is not RecordState.ARCHIVED
            ):  # archived while restricted: it stays archived once the restriction is lifted
                underlying, since = RecordState.ARCHIVED, record.at
        if underlying is None:
            current = customer.state
            underlying = RecordState.LIVE if current is RecordState.RESTRICTED else current
            since = customer.created_at if underlying is RecordState.ARCHIVED else None
        return underlying, since


def matched(
    keys: Iterable[StrongKey],
    tokens: Mapping[MatchKey, tuple[str, ...]],
    found: Mapping[str, Sequence[str]],
    *,
    exclude: str | None = None,
) -> tuple[list[str], list[str]]:
    """(ids, kinds) of the stored customers ``found`` under the tokens of ``keys``."""
    ids: set[str] = set()
    kinds: set[str] = set()
    for key in keys:
        for token in tokens[key]:
            others = [i for i in found.get(token, ()) if i != exclude]
            if others:
                ids.update(others)
                kinds.add(key[0])
    return sorted(ids), sorted(kinds)


def _is_field_path(path: str) -> bool:
    """Whether a history path names a field of the record (not ``""``, nor a marker such as a
    retention action or a verification result)."""
    return bool(path) and re.split(r"[.\[]", path, maxsplit=1)[0] in _FIELD_NAMES


def _path_parts(path: str, customer_id: str) -> list[str | int]:
    parts: list[str | int] = []
    for segment in path.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise StorageError(f"customer {customer_id}: history path {path!r} is malformed")
        parts.append(match.group(1))
        parts.extend(int(i) for i in re.findall(r"\d+", match.group(2)))
    return parts


def _put_back(data: dict[str, Any], path: str, old: Any, customer_id: str) -> None:
    """Undo one field change in a document's ``data``: the value at ``path`` becomes ``old``; an
    element a change added to a list (``old`` ``None``) is removed again."""
    parts = _path_parts(path, customer_id)
    if len(parts) == 2 and parts[0] == "grades" and isinstance(data.get("grades"), list):
        _put_back_grade(data["grades"], str(parts[1]), old)
        return
    node: Any = data
    for part in parts[:-1]:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            raise StorageError(f"customer {customer_id}: history path {path!r} cannot be replayed")
    last = parts[-1]
    if isinstance(last, str):
        if not isinstance(node, dict):
            raise StorageError(f"customer {customer_id}: history path {path!r} cannot be replayed")
        node[last] = copy.deepcopy(old)
        return
    if not isinstance(node, list):
        raise StorageError(f"customer {customer_id}: history path {path!r} cannot be replayed")
    if old is None:  # the change added this element
        if last < len(node):
            del node[last]
        return
    while len(node) <= last:  # the change removed it (later elements are put back first)
        node.append(None)
    node[last] = copy.deepcopy(old)


def _put_back_grade(grades: list[Any], dimension: str, old: Any) -> None:
    """Undo a regrade in one dimension (``grades.<dimension>``; the history holds the labels
    only): without an old label the entry goes, else it takes the old label back (its policy,
    instant and explanation stay those of the later grade)."""
    index = next(
        (
            i
            for i, g in enumerate(grades)
            if isinstance(g, dict) and g.get("dimension") == dimension
        ),
        None,
    )
    if old is None:
        if index is not None:
            del grades[index]
    elif index is not None:
        grades[index]["label"] = old
    # else: removed later (a consent refusal): the history holds the label only, not the
    # policy and instant an entry needs, so the earlier version is shown without it


def _state_of(values: Any, name: str) -> RecordState:
    value = values.get(name) if isinstance(values, dict) else None
    try:
        return RecordState(str(value))
    except ValueError:
        raise StorageError(f"a state change in the history holds no state {name!r}") from None


def service_parts(service: object) -> tuple[Context, Records]:
    """The context and records of ``service`` (``registry.customers``), for the private
    modules that work beside it (presealed intake, the import's identity look-up);
    ``TypeError`` for anything else."""
    context = getattr(service, "_context", None)
    records = getattr(service, "_records", None)
    if not isinstance(context, Context) or not isinstance(records, Records):
        raise TypeError("expected a registry's customer service")
    return context, records
