"""Numbering audit entries into the log, and sealing queued ones (shared by the registry and
the conformance kit).

Two ways into the audit log:

- :func:`append_numbered`: in a write session, read the last entry and append new entries right
  after it, numbered and (with an :class:`~custrec.security.AuditChain`) HMAC-chained. On a
  backend that runs writers in parallel, reading the last entry takes the log's lock until the
  session ends, so every writer that appends this way waits for the others' commits.
- on a backend with ``capabilities.concurrent_writes`` the registry instead queues entries
  without waiting (:func:`queue_entries`, no lock): a read's in one statement of its own, a
  write's in its own transaction, with its data. A unit whose queue ticket is due (every
  ``SEAL_EVERY``-th ticket, or by the rate rule of ``Context.read_seals``) seals what is queued
  after its commit (:func:`seal_more`). A bulk unit (``SEAL_EVERY`` entries or more) and the
  log's own work instead try the lock in their transaction: got it, they seal whatever others
  queued and append their own entries after them (:func:`seal_in`); busy, they queue theirs
  like any unit. :func:`seal_queue` seals everything, waiting for the lock (before the log is
  read or verified, and to recover the entries of a unit that stopped before they were
  sealed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final, cast

import attrs

from custrec.errors import StorageError
from custrec.model._replace import replace
from custrec.security.audit import AuditChain
from custrec.storage.protocols import AuditQueue, Session, Store
from custrec.storage.types import AuditRecord, QueuedAudit

__all__ = [
    "LIVELY_ROUNDS",
    "QUEUE_REJECTED",
    "SEALER",
    "SEAL_BATCH",
    "SealedBatch",
    "append_numbered",
    "queue_entries",
    "queued_form",
    "seal_in",
    "seal_more",
    "seal_queue",
]

SEAL_BATCH: Final = 1000
"""The most queued entries one sealing session moves into the log."""

LIVELY_ROUNDS: Final = 2
"""How many sealing sessions a writer whose sealing batch was full runs after its commit."""

SEALER: Final = "custrec.audit-sealer"
"""The actor id of the entries the sealer writes itself."""

QUEUE_REJECTED: Final = "audit.queue.rejected"
"""The action of the entry the sealer writes in place of a queued entry whose tag does not
verify (forged or altered while queued); the entry itself is not chained."""


@attrs.frozen(kw_only=True)
class SealedBatch:
    """What one sealing session committed: the entry the batch follows (``None`` for the
    first), the newest entry now in the log, and the tickets of queued entries rejected."""

    previous: AuditRecord | None
    newest: AuditRecord
    tickets: tuple[int, ...] = ()  # the queued entries sealed
    rejected: tuple[int, ...] = ()
    full: bool = False  # the batch was as large as allowed: more may be queued


def _numbered(
    entries: Sequence[AuditRecord], last: AuditRecord | None, chain: AuditChain | None
) -> list[AuditRecord]:
    """``entries`` numbered after ``last`` and, with ``chain``, HMAC-chained to it."""
    first = 1 if last is None else last.seq + 1
    # attrs.evolve, without rebuilding every other field (a bulk intake numbers one entry
    # per customer)
    numbered = [replace(e, seq=first + i) for i, e in enumerate(entries)]
    if chain is not None:
        values = chain.link_all(numbered, previous=last)
        numbered = [replace(e, chain=v) for e, v in zip(numbered, values, strict=True)]
    return numbered


def append_numbered(
    session: Session, entries: Sequence[AuditRecord], chain: AuditChain | None
) -> tuple[AuditRecord | None, AuditRecord]:
    """Append ``entries`` (at least one) after the log's last entry, numbered and, with
    ``chain``, HMAC-chained; return the entry they follow (``None`` for the first) and the
    newest as stored. ``StorageError`` when the backend numbers them otherwise."""
    if not entries:
        raise ValueError("append_numbered needs at least one entry")
    last = session.audit.last()
    numbered = _numbered(entries, last, chain)
    seqs = session.audit.append(numbered)
    if list(seqs) != [e.seq for e in numbered]:
        raise StorageError("the audit table assigned unexpected sequence numbers")
    return last, numbered[-1]


def _queue_of(session: Session) -> AuditQueue:
    """The session's audit table as a queue; ``TypeError`` for a backend without one."""
    audit = session.audit
    if not all(callable(getattr(audit, name, None)) for name in ("enqueue", "claim", "seal")):
        raise TypeError(
            "this backend does not queue audit entries (its capabilities.concurrent_writes is "
            "false): append them with append_numbered"
        )
    return cast(AuditQueue, audit)


def queue_entries(
    session: Session, entries: Sequence[AuditRecord], chain: AuditChain | None
) -> list[int]:
    """Queue ``entries`` in a write session of a ``concurrent_writes`` backend, each tagged
    with ``chain`` (when given) so that the sealer can tell them from forgeries, and return
    their tickets. ``TypeError`` on a backend without an audit queue (SQLite, MemoryStore:
    use :func:`append_numbered`)."""
    queue = _queue_of(session)
    return queue.enqueue(queued_form(entries, chain))


def queued_form(entries: Sequence[AuditRecord], chain: AuditChain | None) -> list[AuditRecord]:
    """``entries`` as they are queued: no sequence number yet, each tagged with ``chain``
    (when given) so that the sealer can tell them from forgeries."""
    if chain is not None:  # (replace: attrs.evolve without converting every field again)
        return [replace(e, seq=0, chain=chain.tag(e)) for e in entries]
    return [replace(e, seq=0, chain=b"") for e in entries]


def _admitted(
    queued: Sequence[QueuedAudit], chain: AuditChain | None, now: Callable[[], datetime]
) -> tuple[list[AuditRecord], tuple[int, ...]]:
    """The entries to chain, in ticket order, and the tickets rejected (each replaced by a
    :data:`QUEUE_REJECTED` entry of the sealer's own)."""
    kept: list[AuditRecord] = []
    rejected: list[int] = []
    for item in queued:
        record = item.record
        if chain is None or chain.check_tag(record, record.chain):
            kept.append(replace(record, seq=0, chain=b""))
            continue
        rejected.append(item.ticket)
        kept.append(
            AuditRecord(
                at=now(),
                actor_id=SEALER,
                action=QUEUE_REJECTED,
                reason=f"queued entry {item.ticket} failed its tag and was not chained",
                outcome="refused",
            )
        )
    return kept, tuple(rejected)


def seal_in(
    session: Session,
    chain: AuditChain | None,
    *,
    now: Callable[[], datetime],
    wait: bool,
    entries: Sequence[AuditRecord] = (),
    batch_size: int = SEAL_BATCH,
) -> tuple[bool, SealedBatch | None]:
    """In a write session of a ``concurrent_writes`` backend: claim the log's lock and seal
    up to ``batch_size`` queued entries, then this session's own ``entries`` after them (appended
    directly, never queued). Returns whether the lock is held and what was sealed (``None``:
    the lock was busy, or there was nothing to seal); it becomes final when the session
    commits, and the lock is held until then. When the lock is busy the caller queues its
    ``entries`` instead (:func:`queue_entries`). ``TypeError`` on a backend without an audit
    queue."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    queue = _queue_of(session)
    claim = queue.claim(limit=batch_size, wait=wait)
    if claim is None:
        return False, None
    if not claim.queued and not entries:
        return True, None
    admitted, rejected = _admitted(claim.queued, chain, now)
    numbered = _numbered([*admitted, *entries], claim.last, chain)
    tickets = tuple(item.ticket for item in claim.queued)
    queue.seal(numbered, tickets)
    return True, SealedBatch(
        previous=claim.last,
        newest=numbered[-1],
        tickets=tickets,
        rejected=rejected,
        full=len(claim.queued) >= batch_size,
    )


def seal_more(
    store: Store,
    chain: AuditChain | None,
    *,
    now: Callable[[], datetime],
    rounds: int = LIVELY_ROUNDS,
) -> list[SealedBatch]:
    """After a commit: seal what is queued, without waiting, for at most ``rounds`` sealing
    sessions; return what they sealed. The registry calls it after a unit whose queue ticket
    is due (see the module docs) and after one whose sealing batch was full (a backlog).

    A unit that queued its entries commits and goes on; they are sealed by the next session
    that gets the lock: a caller of this function, a bulk unit, or the next audit read (which
    waits for the lock).
    """
    return _rounds(store, chain, now=now, wait=False, batch_size=SEAL_BATCH, rounds=rounds)


def seal_queue(
    store: Store,
    chain: AuditChain | None,
    *,
    now: Callable[[], datetime],
    batch_size: int = SEAL_BATCH,
) -> list[SealedBatch]:
    """Seal everything queued, waiting for the log's lock (before the log is read or
    verified, and to recover entries whose writer stopped before they were sealed); return
    what each committed session sealed.

    Each session claims the lock, numbers and chains up to ``batch_size`` queued entries after the
    last one and seals them in one commit (a crash leaves them either queued or sealed, never
    both nor neither), until a batch is not full: everything committed before the call is
    then in the log. ``TypeError`` on a backend without an audit queue.
    """
    return _rounds(store, chain, now=now, wait=True, batch_size=batch_size, rounds=None)


def _rounds(
    store: Store,
    chain: AuditChain | None,
    *,
    now: Callable[[], datetime],
    wait: bool,
    batch_size: int,
    rounds: int | None,
) -> list[SealedBatch]:
    """Sealing sessions, one after the other, until one finds nothing to seal (or the lock
    taken), ``rounds`` have run, or (waiting for the lock) a batch is not full."""
    sealed: list[SealedBatch] = []
    while rounds is None or len(sealed) < rounds:
        with store.transaction() as session:
            _, done = seal_in(session, chain, now=now, wait=wait, batch_size=batch_size)
            if done is None:
                break
            session.commit()
        sealed.append(done)
        if wait and not done.full:
            break
    return sealed
