"""Bulk writes without a savepoint each (``SQLSession.all_or_nothing``), on SQLite and PostgreSQL.

A write method of an SQL session normally runs inside a savepoint, so that one that fails leaves
the session as it was before the call. Inside a savepoint the database keeps a copy of every page
the write changes (SQLite writes it to a temporary file past 64 KiB), which a bulk intake into a
large store pays page by page. Inside ``all_or_nothing()`` the write methods take none; a failing
one leaves the session aborted, so nothing of it can be committed. Bulk intake and an import's
write run that way; everything else keeps its savepoints. PostgreSQL skips without
``CUSTREC_TEST_POSTGRES_DSN``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from custrec import Actor, KeyRing, Registry
from custrec.backends import SQLiteStore
from custrec.backends import sqlite as backend
from custrec.backends._sql.session import SQLSession
from custrec.errors import DuplicateKey, StorageError
from custrec.storage import CustomerRow, Store

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ADMIN = Actor(id="admin", roles={"admin", "unmask"})


def customer(customer_id: str) -> CustomerRow:
    return CustomerRow(
        id=customer_id,
        payload=b"sealed",
        kind="individual",
        stage="lead",
        created_at=T0,
        updated_at=T0,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SQLiteStore(tmp_path / "bulk.db")
    else:
        from custrec.backends import PostgresStore

        dsn = request.getfixturevalue("postgres_dsn")
        opened = PostgresStore(dsn, schema=request.getfixturevalue("postgres_schema"))
    yield opened
    opened.close()


def stored_ids(store: Store) -> list[str]:
    with store.transaction(readonly=True) as session:
        return sorted(r.id for r in session.customers.query(limit=100))


def test_outside_the_block_a_failed_write_leaves_the_session_as_it_was(store: Store) -> None:
    with store.transaction() as session:
        session.customers.add_many([customer("a")])
        with pytest.raises(DuplicateKey):
            session.customers.add_many([customer("b"), customer("a")])
        session.customers.add_many([customer("c")])  # still usable
        session.commit()
    assert stored_ids(store) == ["a", "c"]


def test_inside_the_block_a_failed_write_gives_the_whole_session_up(store: Store) -> None:
    with store.transaction() as session:
        session.customers.add_many([customer("held")])
        session.commit()
    with store.transaction() as session:
        assert isinstance(session, SQLSession)
        with session.all_or_nothing():
            session.customers.add_many([customer("a")])
            with pytest.raises(DuplicateKey):
                session.customers.add_many([customer("b"), customer("held")])
            with pytest.raises(StorageError, match="aborted"):
                session.customers.add_many([customer("c")])
        with pytest.raises(StorageError, match="aborted"):
            session.commit()
    assert stored_ids(store) == ["held"]  # nothing of the given-up session
    with store.transaction() as session:  # the connection is clean for the next session
        session.customers.add_many([customer("d")])
        session.commit()
    assert stored_ids(store) == ["d", "held"]


def test_the_block_ends_with_the_savepoints_back(store: Store) -> None:
    with store.transaction() as session:
        assert isinstance(session, SQLSession)
        with session.all_or_nothing():
            session.customers.add_many([customer("a")])
        with pytest.raises(DuplicateKey):
            session.customers.add_many([customer("a")])
        session.customers.add_many([customer("b")])
        session.commit()
    assert stored_ids(store) == ["a", "b"]


def test_bulk_intake_takes_no_savepoint_and_a_single_intake_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real = backend._SQLiteSession._open_operation

    def counting(self: Any) -> None:
        opened.append("savepoint")
        real(self)

    monkeypatch.setattr(backend._SQLiteSession, "_open_operation", counting)
    registry = Registry(SQLiteStore(tmp_path / "c.sqlite"), keyring=KeyRing.generate())
    items = [
        {"kind": "individual", "name": f"客户{i}", "contacts": [{"phones": [f"1380013{i:04d}"]}]}
        for i in range(50)
    ]
    result = registry.customers.intake_many(items, actor=ADMIN, batch_size=20)
    assert len(result.added) == 50
    assert opened == []
    registry.customers.intake(
        {"kind": "individual", "name": "单个", "contacts": [{"phones": ["13900139000"]}]},
        actor=ADMIN,
    )
    assert opened  # everything else keeps a savepoint per write method
