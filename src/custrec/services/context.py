"""The plumbing every service shares: the :class:`Context` and its :class:`Unit` of work.

A service never opens a store transaction itself. It asks the context for a unit of work, and
the unit authorises (auditing and committing a refusal before it raises), reads and writes
through the session, seals and opens payloads, appends audit entries chained in commit order
in the same transaction as the effect, pages with one keyset scan that filters before it counts,
and commits; once the unit is closed, the context advances the audit head to what it
committed. So no capability can forget a step: it never writes one.
"""

from __future__ import annotations

import os
import time
import typing
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Final, NoReturn, Protocol, TypeVar

import attrs
import cattrs

from custrec._checks import check, require_aware, storable_text
from custrec.consent import PURPOSES, Jurisdiction, NoticeHistory, PurposeCatalogue
from custrec.errors import (
    AccessDenied,
    AuditIntegrityWarning,
    DuplicateCustomer,
    ErasureUnavailable,
    StorageError,
)
from custrec.matching import MatchConfig
from custrec.model.custom import CustomFieldSet
from custrec.model.serialization import make_converter
from custrec.retention import RetentionSchedule
from custrec.security import (
    AccessDecision,
    AccessPolicy,
    Action,
    Actor,
    AuditChain,
    KeyRing,
    Resource,
)
from custrec.services._custom import FieldCache
from custrec.services._deferred_head import LogCheck
from custrec.services.audit_head import AuditHead, head_failed, head_refused
from custrec.storage import (
    AuditRecord,
    ChangeEvent,
    CustomerFilter,
    CustomerRow,
    Session,
    Store,
)
from custrec.storage._bulk import all_or_nothing, with_savepoints
from custrec.storage.codec import RecordCodec, Sealer
from custrec.storage.sealing import (
    QUEUE_REJECTED,
    SealedBatch,
    append_numbered,
    queue_entries,
    queued_form,
    seal_in,
    seal_more,
    seal_queue,
)
from custrec.validation import RuleSet
from custrec.workflow.settings import WorkflowSettings

__all__ = [
    "Clock",
    "Context",
    "Unit",
    "check_actor",
    "check_optional_reason",
    "check_reason",
    "utc_now",
]

Clock = Callable[[], datetime]
_K = TypeVar("_K")
_SCAN_BATCH = 500  # raw rows read per step of a filtered scan

SEAL_EVERY: Final = 32
"""On a store that queues audit entries, a unit's entries are queued (a read's in one
statement of its own, a writer's in its transaction, with its data), and the unit holding a
ticket that is a multiple of this seals the queue after its commit (a writer of this many
entries or more seals in its own transaction instead, when the log's lock is free). So the
queue stays short without every unit paying for a sealing (a sealing session costs about as
much client CPU as a read, six statements and a durable commit)."""

_monotonic: Callable[[], float] = time.monotonic  # the clock of SEAL_AFTER (tests replace it)

_LOG_ACTIONS: Final = "audit."  # the actions of the log's own work (sealed in their unit)

SEAL_AFTER: Final = 0.05
"""Seconds: a unit that queued audit entries (a read or a write) also seals after its commit
when this registry has not sealed for this long. So at low traffic every entry is sealed
within milliseconds of its commit (a queued entry can be deleted by whoever may write to the
queue; a sealed one cannot, unnoticed), and at high traffic sealing costs at most one unit in
:data:`SEAL_EVERY` and about one sealing per interval.

A unit that is due this way seals when its ticket is a multiple of the number of tickets the
whole store issues in this interval (estimated from this registry's last two tickets; 1 when it
had none, at most :data:`SEAL_EVERY`): so many processes that work at once seal about once per
interval between them, not once each."""


WRITE_SHARE: Final = 0.125
"""When at least this share of a registry's recent units queued by writing (an average over
about its last :data:`_SHARE_SPAN` units), sealing above the lowest traffic is left to writes:
a due write seals on a multiple of the tickets the store issues per :data:`SEAL_AFTER` times
that share (so writes seal about once per interval between them), and a read seals only when
the store issues at most one ticket an interval. A write already waits for a durable commit;
a read that sealed waited for two more round trips and a second one (the ``get`` p99)."""

_SHARE_SPAN: Final = 16


class _StatementStore(Protocol):
    """A store that also opens sessions without a transaction, whose every statement reads its
    own snapshot or commits on its own (:meth:`custrec.backends.PostgresStore.statements`)."""

    def statements(self, *, readonly: bool = True) -> AbstractContextManager[Session]: ...


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def check_actor(actor: object) -> Actor:
    """The actor, checked to be a :class:`~custrec.security.Actor` (``TypeError``)."""
    if not isinstance(actor, Actor):
        raise TypeError("actor must be a custrec.Actor")
    return actor


def check_reason(reason: object, what: str) -> str:
    """A required reason: non-blank text without NUL or other control characters
    (``ValueError``, naming ``what`` needs it). Reasons are stored in the clear in the history and
    the audit log: they must not hold personal data."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"{what} needs a reason (non-blank text)")
    return check("reason", reason, storable_text())


def check_optional_reason(reason: object) -> str | None:
    """An optional reason: ``None``, or text as for :func:`check_reason` (``TypeError`` for
    another type, ``ValueError`` for blank text or control characters)."""
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise TypeError("reason must be a string or None")
    if not reason.strip():
        raise ValueError("reason must not be blank (pass None for no reason)")
    return check("reason", reason, storable_text())


def _sealing_failed(exc: BaseException) -> None:
    """Warn that queued audit entries stay queued (the sealing failed, the data did not)."""
    warnings.warn(
        f"custrec: queued audit entries could not be sealed now ({type(exc).__name__}: {exc}); "
        "they stay queued for the next sealing",
        RuntimeWarning,
        4,
    )


class Unit:
    """One unit of work: a session, its sealer, and audit entries chained in commit order.

    Made by :meth:`Context.unit`; the services work through it and call :meth:`commit` once.
    """

    def __init__(
        self, context: Context, session: Session, sealer: Sealer, *, reading: bool = False
    ) -> None:
        self.context = context
        self.session = session
        self.sealer = sealer
        self.reading = reading  # a read unit: its audit entries are appended after it
        self.pending: list[AuditRecord] = []
        self.changes: list[ChangeEvent] = []  # change-feed events, written at commit
        self.newest: AuditRecord | None = None  # the newest entry appended (for the head)
        self.previous: AuditRecord | None = None  # the log's last entry before this unit
        self.sealed: SealedBatch | None = None  # what it sealed (a queued-audit store)
        self.queued = False  # it queued entries for a later sealer (a queued-audit store)
        self.tickets: list[int] = []  # ... under these tickets
        self.committed = False
        self._fields: CustomFieldSet | None = None

    def all_or_nothing(self) -> AbstractContextManager[None]:
        """A block of bulk writes that the unit gives up whole on any error: on the SQL stores
        their write methods then take no savepoint each (``SQLSession.all_or_nothing``), which
        spares copying every page they change; elsewhere nothing changes."""
        return all_or_nothing(self.session)

    def fields(self) -> CustomFieldSet:
        """The custom-field definitions as the store holds them, read once per unit."""
        if self._fields is None:
            self._fields = self.context.fields.read(self.session)
        return self._fields

    def audit(
        self,
        actor: Actor | str,
        action: str,
        *,
        at: datetime,
        customer_id: str | None = None,
        fields: Iterable[str] = (),
        reason: str | None = None,
        outcome: str = "ok",
        on_behalf_of: str | None = None,
        change: bool = False,
        record_id: str | None = None,
    ) -> None:
        """Add an audit entry; it is written with the unit's other writes, at commit.

        With ``change`` the entry records a change (not a read): the change feed gets an event
        for it too, in the same transaction (``record_id`` names the case, task or activity
        concerned)."""
        actor_id = actor if isinstance(actor, str) else actor.id
        entry = AuditRecord(
            at=at,
            actor_id=actor_id,
            action=action,
            customer_id=customer_id,
            fields=tuple(fields),
            reason=reason,
            outcome=outcome,
            on_behalf_of=on_behalf_of,
        )
        self.pending.append(entry)
        if change:
            if self.reading:
                raise RuntimeError("a read unit cannot record a change")
            self.changes.append(
                ChangeEvent(
                    at=at,
                    kind=action,
                    customer_id=customer_id,
                    record_id=record_id,
                    fields=entry.fields,
                    actor_id=actor_id,
                )
            )

    def authorize(
        self, actor: Actor, action: Action, resource: Resource, *, at: datetime
    ) -> AccessDecision:
        """The policy's decision; a refusal is audited, committed and raised as
        :class:`~custrec.errors.AccessDenied`."""
        decision = self.context.policy.decide(actor, action, resource)
        if decision.allowed:
            return decision
        self.audit(
            actor,
            f"denied.{action.value}",
            at=at,
            customer_id=resource.customer_id,
            reason=decision.reason,
            outcome="denied",
        )
        self.commit()
        target = f" customer {resource.customer_id}" if resource.customer_id else ""
        raise AccessDenied(f"actor {actor.id} may not {action.value}{target} ({decision.reason})")

    def audit_duplicate(
        self,
        actor: Actor,
        existing_ids: Sequence[str],
        kinds: Sequence[str],
        *,
        at: datetime,
        customer_id: str | None = None,
    ) -> None:
        """Audit the refusal of a record that shares a strong key with ``existing_ids``
        (``customer.duplicate``, outcome ``refused``, the kinds of key; ``customer_id`` the
        updated customer, if any), with one entry per customer it names: they become known to
        the actor. Written with the unit (a bulk intake reports the refusal, not raises it)."""
        fields = sorted(set(kinds))
        self.audit(
            actor,
            "customer.duplicate",
            at=at,
            customer_id=customer_id,
            fields=fields,
            reason=f"{len(existing_ids)} customers hold the key",
            outcome="refused",
        )
        for existing in sorted(existing_ids):
            self.audit(
                actor,
                "customer.duplicate",
                at=at,
                customer_id=existing,
                fields=fields,
                reason="named in a refusal",
                outcome="refused",
            )

    def refuse_duplicate(
        self,
        actor: Actor,
        existing_ids: Sequence[str],
        kinds: Sequence[str],
        *,
        at: datetime,
        customer_id: str | None = None,
    ) -> NoReturn:
        """Refuse a record that shares a strong key with ``existing_ids``: the refusal is
        audited (:meth:`audit_duplicate`), committed, and raised as
        :class:`~custrec.errors.DuplicateCustomer`. Nothing else of the unit is written (call
        it before any write)."""
        self.audit_duplicate(actor, existing_ids, kinds, at=at, customer_id=customer_id)
        self.commit()
        raise DuplicateCustomer(existing_ids, kinds)

    def flush_audit(self) -> None:
        """Write the pending audit entries now (before other reads of the log); in a read
        unit they wait for the unit's end (see :meth:`Context.read_unit`)."""
        if self.pending and not self.reading:
            if self.context.queues_audit():
                self.seal_or_queue()
            else:
                previous, self.newest = self.context.append_audit(self.session, self.pending)
                if self.previous is None:
                    self.previous = previous
            self.pending = []

    def seal_or_queue(self) -> None:
        """On a store whose writers run in parallel: queue the pending entries in this
        session, committed with its data and sealed after the commit by the rate rule of
        :meth:`Context.read_seals` (or by a later sealer). A unit of :data:`SEAL_EVERY` entries
        or more (a bulk write), or one about the log itself (an ``audit.*`` action: a
        verification, checkpoint or head reset) instead appends them after sealing what others
        queued, when no other session holds the log's lock, and queues them only when one
        does. No waiting
        either way (see :mod:`custrec.storage.sealing`)."""
        if self._queues_plainly():
            self.tickets += self.context.queue_audit(self.session, self.pending)
            self.queued = True
            return
        sealed, tickets = self.context.seal_or_queue(self.session, self.pending)
        if sealed is None:  # queued: sealed after the commit when due, as a small unit's are
            self.tickets += tickets
            self.queued = True
            return
        self.sealed = sealed
        self.newest = sealed.newest
        if self.previous is None:
            self.previous = sealed.previous

    def _queues_plainly(self) -> bool:
        """Whether the pending entries are queued without an attempt to seal: fewer than
        :data:`SEAL_EVERY`, none about the log itself (see :meth:`seal_or_queue`)."""
        return len(self.pending) < SEAL_EVERY and not any(
            e.action.startswith(_LOG_ACTIONS) for e in self.pending
        )

    def _commit_with_entries(self) -> bool:
        """Where the session offers it (PostgreSQL's ``commit_with``), send the change-feed
        events, the pending entries for the queue and ``COMMIT`` in one round trip instead of
        three; whether it did (else nothing was sent)."""
        ending = getattr(self.session, "commit_with", None)
        if ending is None or not self.pending or not self._queues_plainly():
            return False
        tickets = ending(self.changes, queued_form(self.pending, self.context.chain))
        if tickets is None:
            return False
        self.changes, self.pending = [], []
        self.tickets += tickets
        self.queued = self.committed = True
        return True

    def commit(self) -> None:
        """Write the data keys made in this unit, the audit entries, and commit. A read unit
        writes nothing here: its entries become final and are appended when it ends."""
        if self.reading:
            self.committed = True
            return
        # These writes end the unit: a failure of any of them raises out of commit() and the
        # unit is given up, so on a store whose writers run in parallel (PostgreSQL, where a
        # savepoint costs a statement and a subtransaction) they take no savepoint each.
        # A sealing attempt inside flush_audit keeps its own (with_savepoints).
        queues = self.context.queues_audit()
        with all_or_nothing(self.session) if queues else nullcontext():
            self.sealer.flush()
            if queues and self._commit_with_entries():
                return
            if self.changes:
                self.session.changes.append(self.changes)
                self.changes = []
            self.flush_audit()
        self.session.commit()
        self.committed = True

    def seek(
        self,
        where: CustomerFilter,
        after: str | None,
        limit: int,
        keep: Callable[[Iterable[CustomerRow]], list[_K]],
    ) -> tuple[list[_K], str | None]:
        """The one keyset scan every filtered page uses: the first ``limit`` items ``keep``
        makes of the rows matching ``where`` with ids after ``after``, in id order.

        ``keep`` filters (and may open) raw rows; the scan reads batches until ``limit`` items
        are kept or the rows run out, so a page is short only at the end and never loses a
        row. Returns the items and the id of the last raw row looked at (``None`` at the end).
        """
        kept: list[_K] = []
        cursor = after
        step = min(max(limit, _SCAN_BATCH), 10 * _SCAN_BATCH)
        while len(kept) < limit:
            rows = self.session.customers.query(where=where, after=cursor, limit=step)
            if not rows:
                return kept, None
            for row in rows:
                kept.extend(keep([row]))
                cursor = row.id
                if len(kept) >= limit:
                    return kept, cursor
            if len(rows) < step:
                return kept, None
        return kept, cursor


@attrs.define(kw_only=True, eq=False)
class Context:
    """What the services share: the stores, the codec, the keys, the policy and the settings.

    Built once by :class:`~custrec.registry.Registry`; services receive it explicitly.
    """

    store: Store
    codec: RecordCodec
    policy: AccessPolicy
    keyring: KeyRing | None = None
    key_store: Store | None = None
    chain: AuditChain | None = None
    head: AuditHead | None = None
    rules: RuleSet | None = None
    clock: Clock = utc_now
    region: str = "CN"
    jurisdiction: Jurisdiction = Jurisdiction.PIPL
    purposes: PurposeCatalogue = PURPOSES
    notices: NoticeHistory | None = None
    retention: RetentionSchedule | None = None
    matching: MatchConfig = attrs.field(factory=MatchConfig)
    review_intake: bool = False
    workflow: WorkflowSettings = attrs.field(factory=WorkflowSettings)
    converter: cattrs.Converter = attrs.field(factory=make_converter)
    fields: FieldCache = attrs.field(factory=FieldCache)
    digest_key: bytes = attrs.field(factory=lambda: os.urandom(32))
    _sealed_at: float = attrs.field(init=False, default=0.0)  # _monotonic() of the last sealing
    # the newest ticket a read of this registry queued, and _monotonic() then
    _ticket: tuple[int, float] | None = attrs.field(init=False, default=None)
    _writes: float = attrs.field(init=False, default=0.0)  # recent units' share of writes

    def require_keyring(self, what: str) -> KeyRing:
        """The keyring, or :class:`~custrec.errors.ErasureUnavailable` naming ``what`` needs it
        (without one nothing is encrypted, so nothing can be shredded, and the audit log is
        not chained)."""
        if self.keyring is None:
            raise ErasureUnavailable(
                f"{what} needs a keyring (without one nothing is encrypted or chained)"
            )
        return self.keyring

    def require_chain(self, what: str) -> AuditChain:
        """The audit chain (there is one exactly when there is a keyring)."""
        self.require_keyring(what)
        assert self.chain is not None
        return self.chain

    def now(self) -> datetime:
        """The clock's time, in UTC (``ValueError`` for a clock giving naive datetimes,
        ``TypeError`` for one giving something else)."""
        return require_aware(self.clock(), "the registry clock's time").astimezone(UTC)

    @contextmanager
    def unit(self, *, readonly: bool = False) -> Iterator[Unit]:
        """A unit of work; when it ends, its sealer forgets the data keys it held, and once its
        session is closed the audit head moves to what it committed (also when the block then
        raises, as a refusal does after its audit)."""
        unit: Unit | None = None
        try:
            with self.store.transaction(readonly=readonly) as session:
                unit = Unit(self, session, self.codec.begin(session))
                try:
                    yield unit
                finally:
                    unit.sealer.close()  # the unit's data keys go with it
        finally:
            if unit is not None and unit.committed:
                if unit.sealed is not None:
                    self.settle_audit(unit.sealed)
                elif unit.newest is not None:
                    self.advance_head(unit.newest, unit.previous)
                if unit.queued and self.read_seals(unit.tickets, write=True):
                    self.seal_now()

    def _session(self, *, readonly: bool, snapshot: bool) -> AbstractContextManager[Session]:
        """A transaction, or (``snapshot`` false, on a store that has them) a session whose
        statements each read their own snapshot or commit on their own."""
        opener = None if snapshot else getattr(self.store, "statements", None)
        if opener is not None:  # (not isinstance with a runtime protocol: that costs 80 µs)
            return typing.cast(_StatementStore, self.store).statements(readonly=readonly)
        return self.store.transaction(readonly=readonly)

    @contextmanager
    def read_unit(self, *, snapshot: bool = True) -> Iterator[Unit]:
        """A unit of work that only reads (and audits what it read).

        It reads in a read transaction, so it never holds the store's write lock while it
        opens and decrypts records, and readers do not wait for each other. The audit entries it
        queued become final when it commits (also when the block then raises, as a refusal does
        after its audit); they are appended when the read transaction has ended, in a short
        write transaction of their own, and the caller gets its result only after that commit:
        no read goes unaudited. A read unit cannot write anything else (the session is
        read-only).

        Without ``snapshot`` (a read of one statement, or one that checks what a statement
        found against what a later one read) the unit's statements may each read their own
        snapshot: on PostgreSQL it then runs without a transaction, which saves the round trips
        and server work of ``BEGIN`` and ``ROLLBACK``, and the audit entries are queued by one
        ``INSERT`` on the connection the read used (committed on its own before the unit ends).
        """
        unit: Unit | None = None
        tickets: list[int] = []
        try:
            with self._session(readonly=True, snapshot=snapshot) as session:
                unit = Unit(self, session, self.codec.begin(session), reading=True)
                try:
                    yield unit
                finally:
                    unit.sealer.close()
                    if unit.committed and unit.pending and self._queues_here(session):
                        entries, unit.pending = unit.pending, []  # one attempt, as below
                        tickets = queue_entries(session, entries, self.chain)
        finally:
            if unit is not None and unit.committed and unit.pending:
                self.record_audit(unit.pending)
            elif self.read_seals(tickets):
                self.seal_now()

    def _queues_here(self, session: Session) -> bool:
        """Whether a read session without a transaction may queue its audit entries itself
        (one statement that commits on its own: ``then_one_write``)."""
        then_one_write = getattr(session, "then_one_write", None)
        return then_one_write is not None and self.queues_audit() and bool(then_one_write())

    def record_audit(self, entries: Sequence[AuditRecord]) -> None:
        """Append audit entries in a write transaction of their own and move the head (or,
        on a backend that writes in parallel, queue them there: one ``INSERT``, and every
        :data:`SEAL_EVERY`-th ticket, or the first after :data:`SEAL_AFTER` without a sealing,
        seals what is queued after the commit)."""
        if self.queues_audit():
            # one INSERT: on PostgreSQL it commits (durably) on its own, without BEGIN/COMMIT
            with self._session(readonly=False, snapshot=False) as session:
                tickets = queue_entries(session, entries, self.chain)
                session.commit()
            if self.read_seals(tickets):
                self.seal_now()
            return
        with self.store.transaction() as session:
            previous, newest = self.append_audit(session, entries)
            session.commit()
        self.advance_head(newest, previous)

    def queue_audit(self, session: Session, entries: Sequence[AuditRecord]) -> list[int]:
        """In a write session of a store whose writers run in parallel: queue ``entries``
        (one statement, no lock: writers never wait for each other or for a sealer) and return
        their tickets. Sealing them in the writer's own transaction costs six statements and
        two round trips more; queued, the entries of many units are sealed in one session."""
        return queue_entries(session, entries, self.chain)

    def seal_or_queue(
        self, session: Session, entries: Sequence[AuditRecord]
    ) -> tuple[SealedBatch | None, list[int]]:
        """In a write session of a store whose writers run in parallel: seal what others
        queued and append ``entries`` after them when no other session holds the log's lock,
        and return what was sealed; else (or when sealing fails, which leaves the session as
        it was, and warns) queue ``entries`` and return their tickets. Never waits. The
        attempt keeps its savepoints inside a bulk unit's ``all_or_nothing()`` block, so a
        failed sealing does not give the unit up."""
        try:
            with with_savepoints(session):
                _, sealed = seal_in(session, self.chain, now=self.now, wait=False, entries=entries)
        except (StorageError, ValueError) as exc:
            _sealing_failed(exc)
            sealed = None
        if sealed is None:
            return None, queue_entries(session, entries, self.chain)
        return sealed, []

    def read_seals(self, tickets: Sequence[int], *, write: bool = False) -> bool:
        """Whether a unit that queued ``tickets`` seals after its commit: a multiple of
        :data:`SEAL_EVERY`, or (this registry has not sealed for :data:`SEAL_AFTER`) a multiple
        of the tickets issued per :data:`SEAL_AFTER`, as this registry's last two tickets
        tell when they are at most four intervals apart (else every such unit seals). When
        :data:`WRITE_SHARE` of this registry's recent units were writes (``write``: this one
        is), sealing at more than one ticket an interval is left to its writes."""
        if not tickets:
            return False
        self._writes += (float(write) - self._writes) / _SHARE_SPAN
        writes = self._writes if self._writes >= WRITE_SHARE else 0.0
        now, newest = _monotonic(), max(tickets)
        before, self._ticket = self._ticket, (newest, now)
        if (write or not writes) and any(ticket % SEAL_EVERY == 0 for ticket in tickets):
            return True
        if not self.seal_due():
            return False
        every = 1  # an estimate older than a few intervals says nothing of the traffic now
        if (
            before is not None
            and before[1] < now <= before[1] + 4 * SEAL_AFTER
            and newest > before[0]
        ):
            issued = (newest - before[0]) * SEAL_AFTER / (now - before[1])
            every = max(1, min(SEAL_EVERY, int(issued)))
        if writes and every > 1:
            if not write:
                return False  # the writes seal
            every = max(1, int(every * writes))
        return any(ticket % every == 0 for ticket in tickets)

    def seal_due(self) -> bool:
        """Whether this registry has not sealed queued audit entries for :data:`SEAL_AFTER`."""
        return _monotonic() - self._sealed_at >= SEAL_AFTER

    def seal_now(self) -> None:
        """Seal what is queued, without waiting (another session holding the log's lock is
        sealing anyway); a failure only warns: the entries stay queued."""
        self._sealed_at = _monotonic()
        try:
            batches = seal_more(self.store, self.chain, now=self.now, rounds=1)
        except Exception as exc:  # the entries are committed: never raise for the sealing
            _sealing_failed(exc)
            return
        self.after_sealing(batches)

    def queues_audit(self) -> bool:
        """Whether audit entries are queued and sealed after commit (a store whose writers
        run in parallel) rather than appended in the writing session."""
        return self.store.capabilities.concurrent_writes

    def seal_audit(self, *, advance: bool = True) -> None:
        """Seal every queued audit entry into the log, waiting for the log's lock, and move
        the head (unless ``advance`` is false); before the log is read or verified. Nothing to
        do on a store that appends in the writing session."""
        if self.queues_audit():
            self.after_sealing(seal_queue(self.store, self.chain, now=self.now), advance=advance)

    def settle_audit(self, sealed: SealedBatch) -> None:
        """After a commit whose session ``sealed`` entries: move the head, and when its batch
        of queued entries was full (a backlog), seal what is still queued (see
        :func:`custrec.storage.sealing.seal_more`). The data is committed either way: a failure
        here only warns, and the entries stay queued for the next sealer."""
        batches = [sealed]
        if sealed.full:
            try:
                batches += seal_more(self.store, self.chain, now=self.now)
            except Exception as exc:  # the data is committed: never raise for the sealing
                _sealing_failed(exc)
        self.after_sealing(batches)

    def after_sealing(self, batches: Sequence[SealedBatch], *, advance: bool = True) -> None:
        """After commits that sealed ``batches``: warn of rejected queued entries
        (:class:`~custrec.errors.AuditIntegrityWarning`) and move the head."""
        if batches:
            self._sealed_at = _monotonic()
        rejected = [ticket for batch in batches for ticket in batch.rejected]
        if rejected:
            warnings.warn(
                f"custrec: {len(rejected)} queued audit entries failed their tag (forged or "
                f"altered while queued) and were not chained; each is recorded as "
                f"{QUEUE_REJECTED!r}",
                AuditIntegrityWarning,
                3,
            )
        if advance and batches:
            self.advance_head(batches[-1].newest, batches[0].previous)

    def scan(
        self,
        where: CustomerFilter,
        keep: Callable[[CustomerRow], bool],
        *,
        batch_size: int = 1000,
    ) -> Iterator[CustomerRow]:
        """Every raw row matching ``where`` that ``keep`` accepts, in id order, each batch in a
        short read-only transaction of its own (for whole-store jobs)."""
        after: str | None = None
        while True:
            with self.unit(readonly=True) as unit:
                rows, after = unit.seek(
                    where, after, batch_size, lambda batch: [r for r in batch if keep(r)]
                )
            yield from rows
            if after is None:
                return

    def append_audit(
        self, session: Session, entries: Sequence[AuditRecord]
    ) -> tuple[AuditRecord | None, AuditRecord]:
        """Append entries, numbered after the last one and HMAC-chained when keyed; return the
        entry they follow (``None`` for the first) and the newest as stored."""
        return append_numbered(session, entries, self.chain)

    def advance_head(self, newest: AuditRecord, previous: AuditRecord | None) -> None:
        """Move the audit head to ``newest`` (just committed) if the log still holds the entry
        the head names; a head left behind only warns: the data is committed, and the head
        keeps pointing at what ``verify`` will report."""
        if self.head is None or self.chain is None:
            return

        try:
            checkpoint = self.chain._checkpoint_appended(newest)
            moved = self.head.advance(checkpoint, extends=LogCheck(self.store, previous))
        except (StorageError, OSError) as exc:
            head_failed(exc, 3)
            return
        if not moved:
            head_refused(3)
