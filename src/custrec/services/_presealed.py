"""Customers sealed ahead of intake, in an import's worker processes, and taken in as sealed.

A bulk intake spends most of its time on work that does not depend on the order of the rows: the
match keys of each customer (strong identifiers, name-search and blocking keys) and sealing its
document under a fresh data key (AES-GCM per personal field, packing). A :class:`Presealer` does
that work anywhere, worker processes included, for a customer already prepared (validated) by
the registry's :class:`~custrec.services.Preparation`: it gives the customer its final stored
form (version 1, owner, team, instants, review status, as intake does) and returns a
:class:`Presealed` row. :func:`intake_presealed` then does only what depends on the order and
the store, in one transaction: the keys' HMAC blind-index tokens are computed, ids already
stored are skipped, the actor's right to create is decided, duplicates are refused (against the
store, and against earlier items of the run), each data key is wrapped under the master key, and
the rows, their keys, their first history entries and the audit entries are written.

Keys: a presealer holds no key at all. Neither the master key nor the index keys leave the
registry's process (the audit chain's key may be derived from the index keys, so a worker that
held them could forge audit entries); the tokens are computed by the writer, which costs a few
HMACs per row. The data key a worker makes comes back with the row, in
memory through the worker's pipe, and is wrapped here (bound to the customer's id) before it is
stored. Trust: a presealed row is taken in only with a valid seal, an HMAC under a random key
the registry made for this presealer (kept in the registry and the presealer, never in a row),
and only from the actor it was made for; so no caller skips validation by building one.

Data keys are written as intake writes them: in the rows' transaction, or, with a separate key
store, committed there just before the rows. A key an interrupted run left behind in a separate
key store (committed, its rows not) is reused, as intake reuses it: the row is sealed again
under that key here. Presealing needs an encrypting codec: :func:`presealer` returns ``None``
otherwise and an import takes the general path.
"""

from __future__ import annotations

import hmac
import marshal
import os
import secrets
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from custrec._collector import paused
from custrec.errors import KeyUnavailable
from custrec.matching import StrongKey, strong_keys
from custrec.matching.keys import MatchKey
from custrec.model.custom import CustomFieldSet
from custrec.model.records import Customer
from custrec.model.serialization import SCHEMA_VERSION, make_converter
from custrec.security import Actor, DataKey, IndexKeys, KeyRing, Resource
from custrec.security.keyring import _data_key_aad
from custrec.services._batch import claim_keys, clash_kinds, may_create
from custrec.services._erased import _ErasedMeanwhile, erased_in
from custrec.services._records import (
    Records,
    customer_facts,
    customer_row,
    match_keys,
    service_parts,
    stored_form,
)
from custrec.services.context import check_actor, check_optional_reason
from custrec.services.results import BulkResult
from custrec.storage import CustomerRow, HistoryRecord, Store, WrappedKey, _packed
from custrec.storage._bulk import all_or_nothing
from custrec.storage.codec import EncryptingCodec, stored_keys

__all__ = [
    "Presealed",
    "Presealer",
    "intake_presealed",
    "presealer",
    "registry_clock",
]

_CONVERTER: Final = make_converter()
_KEY_SIZE: Final = 32


class _NoMasterKey:
    """The master-key provider of a worker's keyring: there is none (wrapping happens in the
    registry's process)."""

    @property
    def current_key_id(self) -> str:
        return ""  # wraps nothing

    def wrap(self, plaintext: bytes, *, aad: bytes) -> tuple[str, bytes]:
        raise KeyUnavailable("no master key in an import worker")

    def unwrap(self, key_id: str, wrapped: bytes, *, aad: bytes) -> bytes:
        raise KeyUnavailable("no master key in an import worker")

    def key_ids(self) -> frozenset[str]:
        return frozenset()

    def __repr__(self) -> str:
        return "_NoMasterKey()"


@attrs.frozen(eq=False)
class Presealed:
    """One customer as stored (its row, sealed, without index tokens yet), its match keys (the
    strong ones looked up, and every one indexed) and its data key (in memory only: wrapped by
    :func:`intake_presealed`), with the seal that makes it trusted."""

    row: CustomerRow
    strong: tuple[StrongKey, ...] = attrs.field(repr=False)
    keys: tuple[MatchKey, ...] = attrs.field(repr=False)
    data_key: bytes = attrs.field(repr=False)
    actor_id: str
    ticket: str = attrs.field(repr=False)
    seal: str = attrs.field(repr=False)


def _digest(key: bytes, item: Presealed) -> str:
    """The HMAC of everything a presealed row stores, for the actor it was made for (see
    :func:`_digest_of`)."""
    return _digest_of(key, item.actor_id, item.row, item.strong, item.keys, item.data_key)


def _told(facts: tuple[Any, ...]) -> bytes:
    """The bytes that stand for ``facts`` in a seal: ``marshal`` version 0 (computed in C; it
    writes each value by its type and contents alone, never by the identity of an object or
    whether a string is interned, so the worker and the writer tell equal facts alike, and it
    reads back to them: unambiguous). A value ``marshal`` refuses (a subclass of ``str``) makes
    the facts told by their ``repr`` instead, after a byte no marshalled tuple starts with.
    The seal is never stored: the two processes of one import run this same code."""
    try:
        return marshal.dumps(facts, 0)
    except ValueError:
        return b"r" + repr(facts).encode("utf-8")


def _digest_of(
    key: bytes,
    actor_id: str,
    row: CustomerRow,
    strong: tuple[StrongKey, ...],
    keys: tuple[MatchKey, ...],
    data_key: bytes,
) -> str:
    """The HMAC of a presealed row's parts: a tuple of text, numbers and ``None`` told by
    :func:`_told`, then the payload and the data key, each preceded by its length, in one
    HMAC-SHA256 call."""
    facts = (
        actor_id,
        row.id,
        row.version,
        row.kind,
        row.stage,
        row.state,
        row.owner,
        row.team,
        row.grade,
        row.tags,
        tuple(sorted(row.facets)),
        row.created_at.isoformat() if row.created_at else None,
        row.updated_at.isoformat() if row.updated_at else None,
        strong,
        keys,
    )
    told = _told(facts)
    message = b"".join(
        (
            len(told).to_bytes(8, "big"),
            told,
            len(row.payload).to_bytes(8, "big"),
            row.payload,
            data_key,
        )
    )
    return hmac.digest(key, message, "sha256").hex()


class Presealer:
    """Seals prepared customers for one registry and actor, anywhere: it pickles, and holds no
    key (no master key, no index key). Made by :func:`presealer`."""

    def __init__(
        self,
        *,
        actor_id: str,
        team: str | None,
        fields: CustomFieldSet,
        blocking: bool,
        review: bool,
        ticket: str,
        key: bytes,
    ) -> None:
        self.actor_id = actor_id
        self.team = team
        self.fields = fields
        self.blocking = blocking
        self.review = review
        self._ticket = ticket
        self._key = key
        self._codec: EncryptingCodec | None = None

    def __repr__(self) -> str:
        return f"Presealer(actor_id={self.actor_id!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        settings = {
            "actor_id": self.actor_id,
            "team": self.team,
            "fields": self.fields,
            "blocking": self.blocking,
            "review": self.review,
            "ticket": self._ticket,
            "key": self._key,
        }
        return (_presealer_from, (settings,))

    def _sealing(self) -> EncryptingCodec:
        if self._codec is None:
            # sealing needs only the cipher: these index keys are random and never used (the
            # writer computes every token with the registry's own)
            ring = KeyRing(_NoMasterKey(), IndexKeys.generate())
            self._codec = EncryptingCodec(ring)
        return self._codec

    def stored(self, record: Customer, now: datetime) -> Customer:
        """``record`` as intake stores it at ``now`` (version 1, owner and team, instants,
        review status)."""
        return stored_form(record, owner=self.actor_id, team=self.team, now=now, review=self.review)

    def seal(
        self, record: Customer, now: datetime, strong: frozenset[StrongKey] | None = None
    ) -> Presealed:
        """The row of a prepared (validated) ``record`` stored at ``now``, with its match keys
        and a new data key; only for a record the registry's preparation returned. ``strong``:
        the record's strong keys when the caller has them already (``strong_keys(record)``: the
        stored form does not change them)."""
        codec = self._sealing()
        customer = self.stored(record, now)
        if strong is None:
            strong = strong_keys(customer)
        keys = match_keys(customer, blocking=self.blocking, fields=self.fields, strong=strong)
        data_key = os.urandom(_KEY_SIZE)
        payload = _sealed(codec, customer, DataKey(data_key))
        row = customer_row(customer, payload, frozenset(), self.fields)
        told_strong, told_keys = tuple(sorted(strong)), tuple(sorted(keys))
        seal = _digest_of(self._key, self.actor_id, row, told_strong, told_keys, data_key)
        return Presealed(
            row, told_strong, told_keys, data_key, self.actor_id, ticket=self._ticket, seal=seal
        )


def _sealed(codec: EncryptingCodec, customer: Customer, key: DataKey) -> bytes:
    """The payload of a stored-form ``customer`` under ``key``: built straight from the record
    by the codec's compiled builder, as bulk intake seals (:mod:`custrec.storage._direct`),
    else (a record the builder leaves to it) through the document, the same bytes."""
    facts = customer_facts(customer, _CONVERTER)
    build = codec.builder(_CONVERTER, Customer)
    if build is not None:
        sealed = codec.seal_built(
            Customer, build(customer, customer.id, facts), key, customer.id, facts
        )
        if sealed is not None:
            return sealed
    document = {"schema_version": SCHEMA_VERSION, "data": _CONVERTER.unstructure(customer)}
    return codec.seal_document(Customer, document, key, customer.id, None, facts)


def _presealer_from(settings: dict[str, Any]) -> Presealer:
    return Presealer(**settings)


class _Tickets:
    """The presealers one registry's customer service made: ticket -> (actor, key)."""

    def __init__(self) -> None:
        self.made: dict[str, tuple[str, bytes]] = {}

    def trusts(self, item: object, actor_id: str) -> bool:
        if not isinstance(item, Presealed) or item.actor_id != actor_id:
            return False
        made = self.made.get(item.ticket)
        if made is None or made[0] != actor_id:
            return False
        return hmac.compare_digest(_digest(made[1], item), item.seal)


_ISSUED: Final[weakref.WeakKeyDictionary[object, _Tickets]] = weakref.WeakKeyDictionary()
_ISSUING: Final = threading.Lock()


def _left_behind(key_store: Store, customer_ids: Sequence[str]) -> dict[str, WrappedKey]:
    """The keys a separate key store already holds for some of ``customer_ids`` (an
    interrupted run committed them, not their rows), in one read."""
    with key_store.transaction(readonly=True) as key_session:
        return stored_keys(key_session.keys, customer_ids)


def _resealed(
    codec: EncryptingCodec, records: Records, row: CustomerRow, data_key: bytes, key: bytes
) -> CustomerRow:
    """``row``, sealed under ``data_key``, sealed again under ``key`` (the customer's key
    already stored)."""
    facts = records.row_facts(row)
    packed = _packed.unpack(row.payload, f"customer {row.id}")
    document = codec.open_packed(Customer, packed, DataKey(data_key), row.id, None, facts)
    payload = codec.seal_document(Customer, document, DataKey(key), row.id, None, facts)
    return attrs.evolve(row, payload=payload)


def _reusable(
    codec: EncryptingCodec, given: Mapping[StrongKey, tuple[str, ...]] | None
) -> Mapping[StrongKey, tuple[str, ...]]:
    """``given`` (tokens a caller computed with this codec) when one of them computed again
    is still the same: every token names its index key, so the index keys did not change
    since (a rotation would make them stale); else an empty map."""
    if not given:
        return {}
    key, tokens = next(iter(given.items()))
    return given if codec.lookup_keys(key) == tokens else {}


def registry_clock(service: object) -> Callable[[], datetime]:
    """The registry's clock (UTC), as intake reads it, for ``service`` (``registry.customers``)."""
    context, _ = service_parts(service)
    return context.now


def presealer(service: object, *, actor: Actor, review: bool | None = None) -> Presealer | None:
    """A presealer for ``service`` (``registry.customers``) and ``actor``, or ``None`` when the
    registry does not encrypt with data keys kept in its own store (see the module docs)."""
    actor = check_actor(actor)
    context, _ = service_parts(service)
    codec = context.codec
    if (
        not isinstance(codec, EncryptingCodec)
        or context.keyring is None
        or codec.keyring is not context.keyring
    ):
        return None
    ticket, key = secrets.token_hex(16), secrets.token_bytes(32)
    with _ISSUING:  # two imports starting at once on one registry share one ticket map
        tickets = _ISSUED.get(service)
        if tickets is None:
            tickets = _ISSUED[service] = _Tickets()
    tickets.made[ticket] = (actor.id, key)
    return Presealer(
        actor_id=actor.id,
        team=actor.team,
        fields=context.fields.cached(),
        blocking=bool(context.matching.blocking),
        review=context.review_intake if review is None else review,
        ticket=ticket,
        key=key,
    )


def intake_presealed(
    service: object,
    items: Sequence[Presealed],
    *,
    actor: Actor,
    reason: str | None,
    refuse_erased: bool = False,
    tokens: Mapping[StrongKey, tuple[str, ...]] | None = None,
) -> BulkResult:
    """Take presealed customers in, in one transaction (see the module docs); the result is
    read as ``intake_many``'s (positions are indexes into ``items``). ``ValueError`` for an
    item this registry's presealer did not make for ``actor`` (nothing is written).
    ``refuse_erased``: the register of erased subjects is read in that transaction too (one
    query while it is empty) and :class:`~custrec.services._erased._ErasedMeanwhile` raised,
    nothing written, when it holds a strong key of an item the actor may create (an erasure
    committed after the caller asked ``erased_keys``, which answers only an actor with the
    right to create). ``tokens``: the blind-index tokens of strong keys (``codec.lookup_keys``)
    the caller computed already, reused when the index keys are still the same."""
    actor = check_actor(actor)
    reason = check_optional_reason(reason)
    context, records = service_parts(service)
    tickets = _ISSUED.get(service)
    if tickets is None or not all(tickets.trusts(item, actor.id) for item in items):
        raise ValueError("a presealed customer was not made by this registry for this actor")
    ring = context.keyring
    assert ring is not None
    added: list[str] = []
    skipped: list[str] = []
    duplicates: dict[int, tuple[str, ...]] = {}
    denied: dict[int, str] = {}
    seen: dict[StrongKey, str] = {}
    codec = context.codec
    assert isinstance(codec, EncryptingCodec)
    now = context.now()  # audit and history in write order (rows keep their preparation time)
    # as a bulk intake's batch: many new objects kept until the commit, no reference cycle
    # given up whole on any error, so its writes take no savepoints (Unit.all_or_nothing)
    with paused(), context.unit() as unit, unit.all_or_nothing():
        existing = {r.id for r in unit.session.customers.get_many(i.row.id for i in items)}
        allowed: list[tuple[int, Presealed]] = []
        for position, item in enumerate(items):
            if item.row.id in existing:
                skipped.append(item.row.id)
                continue
            resource = Resource.of(item.row)
            if may_create(unit, actor, resource, position=position, denied=denied, now=now):
                allowed.append((position, item))
        # the tokens of the written items' strong keys, computed once (or given: _reusable)
        given = _reusable(codec, tokens)
        looked_up: dict[MatchKey, tuple[str, ...]] = {}
        for _, item in allowed:
            for key in item.strong:
                if key not in looked_up:
                    known = given.get(key)
                    looked_up[key] = codec.lookup_keys(key) if known is None else known
        found: Mapping[str, Sequence[str]] = unit.session.customers.lookup_many(
            t for tokens_of in looked_up.values() for t in tokens_of
        )
        # The register is read after the look-up (statements of a READ COMMITTED write see
        # later commits): an erasure committed before the look-up removed its customer's keys,
        # so the look-up misses that customer, but this later statement sees the register
        # entries; one committed after the look-up leaves its customer found as the holder.
        if refuse_erased and erased_in(unit, actor, looked_up):
            raise _ErasedMeanwhile("the register of erased subjects changed during the import")
        accepted: list[tuple[Presealed, CustomerRow]] = []  # each with its row, indexed
        refused: list[tuple[tuple[str, ...], tuple[str, ...]]] = []  # audited after the creations
        indexed: dict[MatchKey, str] = {}  # the current token of each other match key
        for position, item in allowed:
            clash = claim_keys(item.strong, item.row.id, looked_up, found, seen)
            if clash:
                duplicates[position] = clash
                refused.append((clash, clash_kinds(item.strong, looked_up, found, seen)))
                continue
            index_keys = []
            for key in item.keys:
                strong_tokens = looked_up.get(key)
                if strong_tokens is not None:
                    index_keys.append(strong_tokens[0])
                    continue
                token = indexed.get(key)
                if token is None:
                    token = indexed[key] = codec.index_key(key)
                index_keys.append(token)
            accepted.append((item, attrs.evolve(item.row, index_keys=frozenset(index_keys))))
        key_store = codec.key_store
        left = {} if key_store is None else _left_behind(key_store, [r.id for _, r in accepted])
        made_at = datetime.now(UTC)
        wrapped: list[WrappedKey] = []
        histories: list[HistoryRecord] = []
        rows: list[CustomerRow] = []
        for item, row in accepted:
            cid = row.id
            earlier = left.get(cid)
            if earlier is None:
                master_id, blob = ring.provider.wrap(item.data_key, aad=_data_key_aad(cid))
                wrapped.append(
                    WrappedKey(
                        customer_id=cid, master_key_id=master_id, wrapped=blob, created_at=made_at
                    )
                )
                rows.append(row)
            else:
                kept = ring.unwrap_data_key(cid, earlier.master_key_id, earlier.wrapped)
                rows.append(_resealed(codec, records, row, item.data_key, kept))
            histories.append(records.creation_entry(cid, actor.id, reason, now))
            unit.audit(
                actor, "customer.create", at=now, customer_id=cid, reason=reason, change=True
            )
            added.append(cid)
        for clash, kinds in refused:  # a refusal may name a customer created just above
            unit.audit_duplicate(actor, clash, kinds, at=now)
        if rows:
            unit.session.customers.add_many(rows, skip_existing=False)
            unit.session.history.append(histories)
        if wrapped and key_store is None:
            unit.session.keys.put_many(wrapped)
        elif wrapped:  # committed before the rows, as a unit commits a separate store's keys
            assert key_store is not None
            with key_store.transaction() as key_session:
                with all_or_nothing(key_session):
                    key_session.keys.put_many(wrapped)
                key_session.commit()
        unit.commit()
    return BulkResult(
        added=tuple(added), skipped=tuple(skipped), duplicates=duplicates, denied=denied
    )
