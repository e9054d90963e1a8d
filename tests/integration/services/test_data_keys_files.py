"""Data keys made during intake, on SQLite files: a unit of work that fails leaves no key in the
key file beside the database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.backends import sqlite
from custrec.storage import Store, WrappedKey, codec

ADMIN = Actor(id="admin-1", roles={"admin", "unmask"})


def customer(n: int) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"测试{n}号",
        "contacts": [{"phones": [f"1380013{n:04d}"], "emails": [f"user{n}@example.com"]}],
    }


def stored_keys(store: Store) -> list[str]:
    with store.transaction(readonly=True) as s:
        return [k.customer_id for k in s.keys.list()]


def test_a_unit_of_work_that_fails_stores_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "data.sqlite")
    registry = Registry(store, keyring=KeyRing.generate())

    def broken(self: Any, records: Any) -> list[int]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(sqlite._HistoryTable, "append", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        registry.customers.intake_many([customer(n) for n in range(3)], actor=ADMIN)
    with pytest.raises(RuntimeError, match="disk on fire"):
        registry.customers.intake(customer(7), actor=ADMIN)
    monkeypatch.undo()
    key_store = store.key_store  # the keys live in the file beside the database
    assert key_store is not None
    assert stored_keys(key_store) == []
    added = registry.customers.intake_many([customer(n) for n in range(3)], actor=ADMIN).added
    assert sorted(stored_keys(key_store)) == sorted(added)
    assert stored_keys(store) == []
    store.close()


def test_an_intake_that_mints_the_id_does_not_look_for_a_key_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "data.sqlite")
    registry = Registry(store, keyring=KeyRing.generate())
    looked_up: list[str] = []
    original = codec._KeySource.get

    def counting(self: Any, customer_id: str) -> Any:
        looked_up.append(customer_id)
        return original(self, customer_id)

    monkeypatch.setattr(codec._KeySource, "get", counting)
    minted = registry.customers.intake(customer(1), actor=ADMIN)
    assert looked_up == []  # the id was made for this intake: no key can exist for it
    named = registry.customers.intake({**customer(2), "id": "crm-0002"}, actor=ADMIN)
    assert looked_up == [named.id]  # an id from outside may have a key an intake left behind
    assert sorted(stored_keys(store.key_store)) == sorted([minted.id, named.id])  # type: ignore[arg-type]
    store.close()


def test_an_intake_with_its_own_id_reuses_the_key_an_interrupted_one_left(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "data.sqlite")
    keyring = KeyRing.generate()
    registry = Registry(store, keyring=keyring)
    _, master_key_id, wrapped = keyring.new_data_key("crm-0003")
    key_store = store.key_store
    assert key_store is not None
    with key_store.transaction() as session:  # committed, then the intake died before its data
        session.keys.put(
            WrappedKey(
                customer_id="crm-0003",
                master_key_id=master_key_id,
                wrapped=wrapped,
                created_at=datetime.now(UTC),
            )
        )
        session.commit()
    stored = registry.customers.intake({**customer(3), "id": "crm-0003"}, actor=ADMIN)
    assert registry.customers.get(stored.id, actor=ADMIN) == stored
    assert stored_keys(key_store) == ["crm-0003"]
    store.close()


def test_a_bulk_intake_reuses_the_keys_an_interrupted_one_left_read_in_one_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "data.sqlite")
    keyring = KeyRing.generate()
    registry = Registry(store, keyring=keyring)
    key_store = store.key_store
    assert key_store is not None
    left = [f"crm-{n:04d}" for n in range(0, 1_200, 7)]  # more than one IN (...) clause holds
    with key_store.transaction() as session:  # committed, then the intake died before its data
        for customer_id in left:
            _, master_key_id, wrapped = keyring.new_data_key(customer_id)
            session.keys.put(
                WrappedKey(
                    customer_id=customer_id,
                    master_key_id=master_key_id,
                    wrapped=wrapped,
                    created_at=datetime.now(UTC),
                )
            )
        session.commit()
    single_reads: list[str] = []
    original = sqlite._KeyTable.get

    def counting(self: Any, customer_id: str) -> Any:
        single_reads.append(customer_id)
        return original(self, customer_id)

    monkeypatch.setattr(sqlite._KeyTable, "get", counting)
    items = [{**customer(n), "id": f"crm-{n:04d}"} for n in range(1_200)]
    result = registry.customers.intake_many(items, actor=ADMIN, allow_duplicates=True)
    assert len(result.added) == 1_200
    assert single_reads == []  # one batched read, not one per customer
    with key_store.transaction(readonly=True) as session:
        assert len(session.keys.list(limit=5_000)) == 1_200
    for customer_id in (left[0], left[-1], "crm-0001"):
        assert registry.customers.get(customer_id, actor=ADMIN).id == customer_id
    store.close()
