"""Data keys made during intake, on SQLite files: a unit of work that fails leaves no key in the
key file beside the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.backends import sqlite
from custrec.storage import Store

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
