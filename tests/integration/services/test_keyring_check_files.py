"""A store knows the keyring that wrote it, on SQLite files: another database's key store, a lost
key file and keys kept inside a database of an earlier version."""

from __future__ import annotations

from pathlib import Path

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.errors import KeyLayoutWarning
from custrec.security import KeyringMismatch

ADMIN = Actor(id="admin", roles={"admin", "unmask", "erase"})
AUDITOR = Actor(id="aud", roles={"auditor"})


def person(n: int) -> dict[str, object]:
    return {"kind": "individual", "name": f"赵{n}", "contacts": [{"phones": [f"1370000{n:04d}"]}]}


def test_the_key_store_of_another_database_is_refused(tmp_path: Path) -> None:
    ring = KeyRing.generate()
    one = SQLiteStore(tmp_path / "one.sqlite")
    two = SQLiteStore(tmp_path / "two.sqlite")
    Registry(one, keyring=ring).customers.intake(person(8), actor=ADMIN)
    Registry(two, keyring=ring).customers.intake(person(9), actor=ADMIN)
    with pytest.raises(KeyringMismatch, match="belongs to another database"):
        Registry(one, keyring=ring, key_store=two.key_store)
    one.close()
    two.close()


def test_a_database_whose_key_file_is_lost_is_refused_not_read_as_erased(tmp_path: Path) -> None:
    ring = KeyRing.generate()
    path = tmp_path / "crm.sqlite"
    with SQLiteStore(path) as store:
        Registry(store, keyring=ring).customers.intake(person(10), actor=ADMIN)
    for name in ("crm.keys.sqlite", "crm.keys.sqlite-wal", "crm.keys.sqlite-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    with SQLiteStore(path) as store, pytest.raises(KeyringMismatch, match="which is missing"):
        Registry(store, keyring=ring)
    assert not (tmp_path / "crm.keys.sqlite").exists()  # no empty key store made in its place


def test_keys_kept_inside_an_old_database_are_used_with_a_warning_and_can_be_moved_apart(
    tmp_path: Path,
) -> None:
    ring = KeyRing.generate()
    path = tmp_path / "old.sqlite"
    with SQLiteStore(path, key_file=False) as store:  # the layout of earlier versions
        registry = Registry(store, keyring=ring)
        ids = [registry.customers.intake(person(n), actor=ADMIN).id for n in range(11, 14)]
        registry.privacy.erase(ids[0], actor=ADMIN, reason="request")
    with SQLiteStore(path, key_file=False) as store, store.transaction() as s:
        s._conn.execute("DELETE FROM meta")  # earlier versions recorded nothing there
        s.commit()
    with SQLiteStore(path) as store:
        with pytest.warns(KeyLayoutWarning, match="inside the database"):
            registry = Registry(store, keyring=ring)
        assert registry.customers.get(ids[1], actor=ADMIN).name == "赵12"
        assert registry.keys.separate(actor=ADMIN) == 2
        assert registry.customers.get(ids[2], actor=ADMIN).name == "赵13"
        with store.transaction(readonly=True) as s:
            assert s.keys.list() == []  # nothing left inside
        assert ids[0] in [e.customer_id for e in registry.privacy.journal(actor=AUDITOR)]
    with SQLiteStore(path) as store:
        reopened = Registry(store, keyring=ring)  # no warning: the keys live apart now
        assert reopened.customers.get(ids[1], actor=ADMIN).name == "赵12"
        assert reopened.audit.verify(actor=AUDITOR).ok
