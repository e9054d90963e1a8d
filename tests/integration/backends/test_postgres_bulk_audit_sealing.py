"""Bulk writes on PostgreSQL and the audit queue (found by review of ``all_or_nothing``).

A bulk unit (``intake_many``'s chunk: :data:`SEAL_EVERY` entries or more) tries the log's lock
in its own transaction. When another session holds it, the unit queues its entries like a small
write and, like one, seals after its commit when a sealing is due. When the attempt fails (a
queued row deleted between claim and seal), the attempt's savepoint leaves the unit as it was:
the batch is stored and its entries queued, although the bulk unit's writes take no savepoint
otherwise. Inside ``all_or_nothing()`` a write still forgets the data keys the session read with
their customers. Skips without ``CUSTREC_TEST_POSTGRES_DSN``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from custrec import Actor, KeyRing, Registry
from custrec.errors import NotFound
from custrec.services import context as context_module
from custrec.storage import AuditQueue, CustomerRow, WrappedKey, sealing

ADMIN = Actor(id="admin", roles={"admin", "unmask"})
AUDITOR = Actor(id="auditor", roles={"auditor"})
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
BULK = context_module.SEAL_EVERY + 8  # a chunk that tries the lock in its own transaction


def person(n: int) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"客户{n}",
        "contacts": [{"phones": [f"1380000{n:04d}"], "emails": [f"c{n}@example.com"]}],
    }


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[Any]:
    from custrec.backends import PostgresStore

    opened = PostgresStore(postgres_dsn, schema=postgres_schema)
    yield opened
    opened.close()


def queued(store: Any) -> int:
    with store.transaction() as session:
        return len(cast(AuditQueue, session.audit).queued(limit=100_000))


def test_a_bulk_write_that_found_the_lock_taken_seals_after_its_commit_when_due(
    store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry(store, keyring=KeyRing.generate(), audit_head=tmp_path / "head.json")
    clock = [1000.0]
    monkeypatch.setattr(context_module, "_monotonic", lambda: clock[0])
    registry.customers.intake(person(9999), actor=ADMIN)
    assert queued(store) == 0
    clock[0] += 10  # this registry has not sealed for long: a sealing is due
    holding, release, released = threading.Event(), threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with store.transaction() as session:
            assert cast(AuditQueue, session.audit).claim() is not None
            holding.set()
            release.wait(30)
        released.set()

    other = threading.Thread(target=hold_the_lock)
    other.start()
    assert holding.wait(30)
    real = context_module.seal_in

    def busy_then_free(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)  # the lock is taken: nothing sealed, entries queued
        release.set()
        assert released.wait(30)
        return result

    monkeypatch.setattr(context_module, "seal_in", busy_then_free)
    result = registry.customers.intake_many([person(i) for i in range(BULK)], actor=ADMIN)
    other.join(30)
    assert len(result.added) == BULK
    assert queued(store) == 0  # sealed after the commit, as a small write's entries are
    assert registry.audit.verify(actor=AUDITOR).ok


def test_a_failed_sealing_attempt_leaves_the_bulk_unit_as_it_was(
    store: Any,
    postgres_dsn: str,
    postgres_schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg

    registry = Registry(store, keyring=KeyRing.generate(), audit_head=tmp_path / "head.json")
    monkeypatch.setattr(context_module, "_monotonic", lambda: 1000.0)  # never due by time
    held = registry.customers.intake(person(9999), actor=ADMIN)
    registry.customers.get(held.id, actor=ADMIN)  # a read's entry, left queued
    assert queued(store) >= 1
    real = sealing._admitted

    def deleted_meanwhile(rows: Any, chain: Any, now: Any) -> Any:
        if rows:  # another role deletes a claimed queue row between the claim and the seal
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                table = f'"{postgres_schema}".audit_queue'
                conn.execute(f"DELETE FROM {table} WHERE ticket = %s".encode(), (rows[0].ticket,))
        return real(rows, chain, now)

    monkeypatch.setattr(sealing, "_admitted", deleted_meanwhile)
    with pytest.warns(RuntimeWarning, match="could not be sealed"):
        result = registry.customers.intake_many([person(i) for i in range(BULK)], actor=ADMIN)
    assert len(result.added) == BULK  # the batch is stored, its entries queued
    monkeypatch.setattr(sealing, "_admitted", real)
    assert registry.customers.count(actor=ADMIN) == BULK + 1


@pytest.mark.parametrize("bulk", [False, True], ids=["savepoints", "all_or_nothing"])
def test_a_write_forgets_the_data_keys_read_with_their_customers(store: Any, bulk: bool) -> None:
    with store.transaction() as session:
        session.customers.add_many(
            [
                CustomerRow(
                    id="a",
                    payload=b"x",
                    kind="individual",
                    stage="lead",
                    created_at=T0,
                    updated_at=T0,
                )
            ]
        )
        session.keys.put_many(
            [WrappedKey(customer_id="a", master_key_id="m", wrapped=b"k" * 40, created_at=T0)]
        )
        session.commit()
    with store.transaction() as session:
        block = session.all_or_nothing() if bulk else nullcontext()
        with block:
            session.customers.get("a")  # reads the customer's data key with it
            assert session.keys.delete("a")
            with pytest.raises(NotFound):
                session.keys.get("a")
