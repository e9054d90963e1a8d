"""A store knows the keyring that wrote it: a wrong one is refused before anything is written.

The cases on SQLite files are in tests/integration/services/test_keyring_check_files.py.
"""

from __future__ import annotations

import os

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.errors import DuplicateCustomer, PlaintextStorageWarning
from custrec.security import IndexKeys, KeyringMismatch, StaticKeyProvider
from custrec.storage import Store

ADMIN = Actor(id="admin", roles={"admin", "unmask", "erase"})


def person(n: int) -> dict[str, object]:
    return {"kind": "individual", "name": f"赵{n}", "contacts": [{"phones": [f"1370000{n:04d}"]}]}


def snapshot(store: Store) -> tuple[object, ...]:
    """Everything a refused registry must not have changed."""
    with store.transaction(readonly=True) as s:
        return (
            [(r.id, r.version, r.payload) for r in s.customers.query(limit=1000)],
            s.audit.read(limit=10_000),
            s.keys.list(),
            s.meta.get("custrec.keyring"),
        )


def keyring(master: StaticKeyProvider, index: IndexKeys, audit: bytes) -> KeyRing:
    return KeyRing(master, index, audit_key=audit)


@pytest.fixture
def parts() -> tuple[StaticKeyProvider, IndexKeys, bytes]:
    return StaticKeyProvider.generate("m1"), IndexKeys.generate("i1"), os.urandom(32)


def test_a_keyring_with_another_index_key_is_refused_before_any_write(
    parts: tuple[StaticKeyProvider, IndexKeys, bytes],
) -> None:
    master, index, audit = parts
    store = MemoryStore()
    Registry(store, keyring=keyring(master, index, audit)).customers.intake(person(1), actor=ADMIN)
    before = snapshot(store)
    wrong = keyring(master, IndexKeys({"i1": os.urandom(32)}, current="i1"), audit)
    with pytest.raises(KeyringMismatch, match="index key 'i1'"):
        Registry(store, keyring=wrong)
    assert snapshot(store) == before
    # the right keyring still sees the duplicate that the wrong one would have let in
    with pytest.raises(DuplicateCustomer):
        Registry(store, keyring=keyring(master, index, audit)).customers.intake(
            person(1), actor=ADMIN
        )


def test_a_keyring_with_another_audit_key_is_refused(
    parts: tuple[StaticKeyProvider, IndexKeys, bytes],
) -> None:
    master, index, audit = parts
    store = MemoryStore()
    Registry(store, keyring=keyring(master, index, audit)).customers.intake(person(2), actor=ADMIN)
    before = snapshot(store)
    with pytest.raises(KeyringMismatch, match="audit key"):
        Registry(store, keyring=keyring(master, index, os.urandom(32)))
    assert snapshot(store) == before


def test_a_keyring_whose_master_key_cannot_unwrap_the_data_keys_is_refused(
    parts: tuple[StaticKeyProvider, IndexKeys, bytes],
) -> None:
    master, index, audit = parts
    store = MemoryStore()
    Registry(store, keyring=keyring(master, index, audit)).customers.intake(person(3), actor=ADMIN)
    before = snapshot(store)
    other_master = StaticKeyProvider.generate("m1")  # same id, other key
    with pytest.raises(KeyringMismatch, match="master"):
        Registry(store, keyring=keyring(other_master, index, audit))
    with pytest.raises(KeyringMismatch, match="'m1'"):
        Registry(store, keyring=keyring(StaticKeyProvider.generate("m2"), index, audit))
    assert snapshot(store) == before


def test_the_fingerprint_is_recorded_on_first_use_and_holds_no_key(
    parts: tuple[StaticKeyProvider, IndexKeys, bytes],
) -> None:
    master, index, audit = parts
    store = MemoryStore()
    ring = keyring(master, index, audit)
    Registry(store, keyring=ring)
    with store.transaction(readonly=True) as s:
        record = s.meta.get("custrec.keyring")
    assert record is not None
    for secret in (audit, index.secret("i1")):
        assert secret not in record and secret.hex().encode() not in record
    Registry(store, keyring=ring)  # the same keyring opens it again


def test_an_encrypted_store_opened_without_a_keyring_is_refused(
    parts: tuple[StaticKeyProvider, IndexKeys, bytes],
) -> None:
    store = MemoryStore()
    Registry(store, keyring=keyring(*parts)).customers.intake(person(4), actor=ADMIN)
    with (
        pytest.raises(KeyringMismatch, match="written with a keyring"),
        pytest.warns(PlaintextStorageWarning),
    ):
        Registry(store)


def test_a_plain_store_opened_with_a_keyring_is_refused(
    parts: tuple[StaticKeyProvider, IndexKeys, bytes],
) -> None:
    store = MemoryStore()
    with pytest.warns(PlaintextStorageWarning):
        Registry(store).customers.intake(person(5), actor=ADMIN)
    with pytest.raises(KeyringMismatch, match="without a keyring"):
        Registry(store, keyring=keyring(*parts))


def test_a_store_written_before_fingerprints_is_checked_by_its_audit_chain(
    parts: tuple[StaticKeyProvider, IndexKeys, bytes],
) -> None:
    master, index, audit = parts
    store = MemoryStore()
    Registry(store, keyring=keyring(master, index, audit)).customers.intake(person(6), actor=ADMIN)
    store._state.meta.clear()  # as an earlier version left it: no fingerprint, no layout
    with pytest.raises(KeyringMismatch, match="did not write this store"):
        Registry(store, keyring=keyring(master, index, os.urandom(32)))
    Registry(store, keyring=keyring(master, index, audit))  # records it now
    with store.transaction(readonly=True) as s:
        assert s.meta.get("custrec.keyring") is not None


def test_a_rotation_adds_the_new_index_key_and_reindex_retires_the_old_one(
    parts: tuple[StaticKeyProvider, IndexKeys, bytes],
) -> None:
    master, index, audit = parts
    store = MemoryStore()
    Registry(store, keyring=keyring(master, index, audit)).customers.intake(person(7), actor=ADMIN)
    rotated = index.with_key("i2", os.urandom(32))
    during = Registry(store, keyring=keyring(master, rotated, audit))
    with pytest.raises(KeyringMismatch, match="'i1' is missing"):
        Registry(store, keyring=keyring(master, rotated.without_key("i1"), audit))
    during.keys.reindex(actor=Actor(id="ops", roles={"admin"}))
    after = Registry(store, keyring=keyring(master, rotated.without_key("i1"), audit))
    assert [c.name for c in after.customers.find(phone="13700000007", actor=ADMIN)] == ["赵7"]


def test_a_refused_keyring_records_nothing_not_even_its_new_index_key(
    parts: tuple[StaticKeyProvider, IndexKeys, bytes],
) -> None:
    master, index, audit = parts
    store = MemoryStore()
    Registry(store, keyring=keyring(master, index, audit)).customers.intake(person(20), actor=ADMIN)
    before = snapshot(store)
    rotated_but_wrong_master = keyring(
        StaticKeyProvider.generate("m1"), index.with_key("i2", os.urandom(32)), audit
    )
    with pytest.raises(KeyringMismatch, match="master"):
        Registry(store, keyring=rotated_but_wrong_master)
    assert snapshot(store) == before
    Registry(store, keyring=keyring(master, index, audit))  # the right one still opens it


def master_keys(**keys: bytes) -> StaticKeyProvider:
    current = next(iter(keys))
    return StaticKeyProvider(keys, current=current)


@pytest.mark.parametrize("legacy", [False, True], ids=["with probes", "written before probes"])
def test_a_wrong_current_master_key_is_refused(
    parts: tuple[StaticKeyProvider, IndexKeys, bytes], legacy: bool
) -> None:
    _, index, audit = parts
    k1, k2 = os.urandom(32), os.urandom(32)
    store = MemoryStore()
    Registry(store, keyring=keyring(master_keys(k1=k1), index, audit)).customers.intake(
        person(21), actor=ADMIN
    )
    rotated = Registry(store, keyring=keyring(master_keys(k2=k2, k1=k1), index, audit))
    rotated.customers.intake(person(22), actor=ADMIN)  # its data key is wrapped under k2
    if legacy:  # as an earlier version left it: no probes
        for name in [n for n in store._state.meta if n.startswith("custrec.master_probe.")]:
            del store._state.meta[name]
    before = snapshot(store)
    with pytest.raises(KeyringMismatch, match="'k2'"):
        Registry(store, keyring=keyring(master_keys(k2=os.urandom(32), k1=k1), index, audit))
    assert snapshot(store) == before
    reopened = Registry(store, keyring=keyring(master_keys(k2=k2, k1=k1), index, audit))
    assert sorted(c.name for c in reopened.customers.query(actor=ADMIN)) == ["赵21", "赵22"]


def test_a_new_master_key_never_used_before_is_accepted_and_remembered(
    parts: tuple[StaticKeyProvider, IndexKeys, bytes],
) -> None:
    _, index, audit = parts
    k1, k3 = os.urandom(32), os.urandom(32)
    store = MemoryStore()
    Registry(store, keyring=keyring(master_keys(k1=k1), index, audit)).customers.intake(
        person(23), actor=ADMIN
    )
    Registry(store, keyring=keyring(master_keys(k3=k3, k1=k1), index, audit))
    with pytest.raises(KeyringMismatch, match="'k3'"):  # from now on k3 is the one recorded
        Registry(store, keyring=keyring(master_keys(k3=os.urandom(32), k1=k1), index, audit))
