"""Helpers shared by the contract classes: row factories, session shortcuts and race workers.

Everything here is private to the kit except what :mod:`custrec.testing` re-exports. The race
worker lives at module level so that a ``spawn``-started process can unpickle it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import attrs

from custrec.model.ids import new_id
from custrec.retry import retry
from custrec.storage.protocols import Session, Store
from custrec.storage.types import (
    ActivityRow,
    AuditRecord,
    ConsentRecord,
    CustomerRow,
    HistoryRecord,
    WrappedKey,
)

__all__ = [
    "T0",
    "activity",
    "audit_entry",
    "consent",
    "customer",
    "finishes_while_held",
    "history_entry",
    "increment_counter",
    "interaction",
    "minutes",
    "race_worker",
    "reading",
    "wrapped_key",
    "writing",
]

T0: Final = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
"""The kit's reference instant: aware UTC, with microseconds, so truncation shows."""


def minutes(n: float) -> datetime:
    """Return ``T0`` plus ``n`` minutes."""
    return T0 + timedelta(minutes=n)


@contextmanager
def writing(store: Store) -> Iterator[Session]:
    """Open a write session and commit it when the block ends without an exception."""
    with store.transaction() as session:
        yield session
        session.commit()


@contextmanager
def reading(store: Store) -> Iterator[Session]:
    """Open a read-only session (rolled back at the end)."""
    with store.transaction(readonly=True) as session:
        yield session


def customer(customer_id: str | None = None, **changes: Any) -> CustomerRow:
    """A valid customer row with plausible facets; ``changes`` override fields."""
    row = CustomerRow(
        id=customer_id or new_id(),
        payload=b"\x00sealed\xff" + new_id().encode(),
        index_keys=frozenset({f"phone:{new_id()}"}),
        kind="individual",
        stage="lead",
        owner="staff-1",
        team="north",
        grade="B",
        tags=("vip", "b2b"),
        created_at=T0,
        updated_at=T0,
    )
    return attrs.evolve(row, **changes) if changes else row


def activity(customer_id: str, activity_id: str | None = None, **changes: Any) -> ActivityRow:
    """A valid transaction of 10.00 CNY at ``T0``; ``changes`` override fields."""
    row = ActivityRow(
        id=activity_id or new_id(),
        customer_id=customer_id,
        kind="transaction",
        occurred_at=T0,
        amount=Decimal("10.00"),
        currency="CNY",
        payload=b"order",
    )
    return attrs.evolve(row, **changes) if changes else row


def interaction(customer_id: str, activity_id: str | None = None, **changes: Any) -> ActivityRow:
    """A valid interaction (no amount, no currency) at ``T0``."""
    return activity(
        customer_id, activity_id, kind="interaction", amount=None, currency=None, **changes
    )


def consent(customer_id: str, **changes: Any) -> ConsentRecord:
    """A valid consent event (a marketing grant at ``T0``)."""
    record = ConsentRecord(
        customer_id=customer_id,
        recorded_at=T0,
        purpose="marketing",
        action="grant",
        payload=b"evidence",
    )
    return attrs.evolve(record, **changes) if changes else record


def history_entry(customer_id: str, **changes: Any) -> HistoryRecord:
    """A valid change-history entry (an update of ``stage`` at ``T0``)."""
    record = HistoryRecord(
        customer_id=customer_id,
        at=T0,
        actor_id="staff-1",
        action="update",
        path="stage",
        reason="correction",
        payload=b"old->new",
    )
    return attrs.evolve(record, **changes) if changes else record


def audit_entry(customer_id: str | None = None, **changes: Any) -> AuditRecord:
    """A valid audit entry (``staff-1`` read the customer at ``T0``)."""
    record = AuditRecord(
        at=T0,
        actor_id="staff-1",
        action="read",
        customer_id=customer_id,
        fields=("name", "contacts[0].phones[0]"),
        reason="support ticket",
        outcome="ok",
        chain=b"\x01\x02chain",
    )
    return attrs.evolve(record, **changes) if changes else record


def wrapped_key(customer_id: str, **changes: Any) -> WrappedKey:
    """A valid wrapped data key under master key ``mk-1``."""
    key = WrappedKey(
        customer_id=customer_id,
        master_key_id="mk-1",
        wrapped=b"\x00wrapped-data-key\xff" + customer_id.encode(),
        created_at=T0,
    )
    return attrs.evolve(key, **changes) if changes else key


def increment_counter(store: Store, customer_id: str, *, max_attempts: int = 2000) -> int:
    """Add one to the decimal counter in a customer's payload; return the attempts it took.

    Each attempt is one unit of work: read the row, write ``counter + 1`` with the version just
    read as ``expected_version``, commit. ``VersionConflict`` and ``StorageError`` with
    ``retry_safe`` are retried by :func:`custrec.retry.retry` after a short jittered pause (at
    most 20 ms); any other error, or the last one after ``max_attempts``, propagates.
    """
    attempts = 0

    def attempt() -> int:
        nonlocal attempts
        attempts += 1
        with store.transaction() as session:
            row = session.customers.get(customer_id)
            value = int(row.payload.decode("ascii"))
            session.customers.update(
                attrs.evolve(row, payload=str(value + 1).encode("ascii")),
                expected_version=row.version,
            )
            session.commit()
        return attempts

    return retry(
        attempt, attempts=max_attempts, backoff=0.001, max_backoff=0.02, what="counter increment"
    )


def race_worker(opener: Callable[[], Store], customer_id: str, increments: int) -> int:
    """Open a store with ``opener``, increment the counter ``increments`` times, close it.

    Runs in a separate process during the kit's process race; returns the attempts made.
    """
    store = opener()
    try:
        return sum(increment_counter(store, customer_id) for _ in range(increments))
    finally:
        store.close()


def finishes_while_held(
    store: Store,
    hold: Callable[[Session], object],
    meanwhile: Callable[[], object],
    *,
    readonly: bool = False,
    timeout: float = 120.0,
) -> None:
    """Open a session (read-only with ``readonly``) in a thread, run ``hold`` in it and keep it
    open while ``meanwhile`` runs in another thread; ``meanwhile`` must finish while the held
    session is still open (within 30 s, a bound for a blocked backend, never a wait for time to
    pass). Then the held session ends (committed unless read-only). An exception on either side
    fails the caller's test."""
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def held() -> None:
        try:
            with store.transaction(readonly=readonly) as session:
                try:
                    hold(session)
                finally:
                    holding.set()
                release.wait(timeout)
                if not readonly:
                    session.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    def other() -> None:
        try:
            meanwhile()
        except BaseException as exc:  # reported below
            errors.append(exc)

    holder = threading.Thread(target=held, name="kit-holder")
    holder.start()
    try:
        assert holding.wait(30), "the held session never began"
        worker = threading.Thread(target=other, name="kit-meanwhile")
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), "it waited for the held session"
    finally:
        release.set()
        holder.join(timeout)
    if errors:
        raise errors[0]
