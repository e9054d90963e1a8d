"""Data keys made during intake: written together at commit, never without their records.

A failing unit of work on SQLite files is in tests/integration/services/test_data_keys_files.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.backends import memory
from custrec.model.records import Customer
from custrec.storage import Store
from custrec.storage.codec import EncryptingCodec, PlaintextCodec

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


def test_intake_many_writes_the_keys_of_a_chunk_in_one_call(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    put_many = memory._Keys.put_many

    def counting(self: memory._Keys, keys: Any) -> None:
        calls.append(len(keys))
        put_many(self, keys)

    def refused(self: memory._Keys, key: Any) -> None:
        raise AssertionError("intake writes data keys with put_many")

    monkeypatch.setattr(memory._Keys, "put_many", counting)
    monkeypatch.setattr(memory._Keys, "put", refused)
    registry = Registry(store, keyring=KeyRing.generate())
    result = registry.customers.intake_many(
        [customer(n) for n in range(5)], actor=ADMIN, batch_size=2
    )
    assert calls == [2, 2, 1]
    assert sorted(stored_keys(store)) == sorted(result.added)
    assert [registry.customers.get(i, actor=ADMIN).name for i in result.added] == [
        f"测试{n}号" for n in range(5)
    ]
    registry.customers.intake(customer(9), actor=ADMIN)
    assert calls == [2, 2, 1, 1]


def test_a_separate_key_store_receives_the_keys_and_the_data_store_none() -> None:
    data, keys = MemoryStore(), MemoryStore()
    registry = Registry(data, keyring=KeyRing.generate(), key_store=keys)
    added = registry.customers.intake_many(
        [customer(n) for n in range(4)], actor=ADMIN, batch_size=3
    ).added
    assert sorted(stored_keys(keys)) == sorted(added)
    assert stored_keys(data) == []
    assert registry.customers.get(added[3], actor=ADMIN).name == "测试3号"


def test_a_key_destroyed_before_it_was_written_is_never_written(store: Store) -> None:
    codec = EncryptingCodec(KeyRing.generate())
    document = {"schema_version": 1, "data": {"name": "张三"}}
    with store.transaction() as session:
        sealer = codec.begin(session)
        sealer.seal_record(Customer, dict(document), customer_id="c-1", new_customer=True)
        sealer.seal_record(Customer, dict(document), customer_id="c-2", new_customer=True)
        assert sealer.destroy_key("c-1") is True
        assert sealer.destroy_key("c-1") is False
        sealer.flush()
        sealer.flush()  # nothing left to write
        session.commit()
    assert stored_keys(store) == ["c-2"]


def test_intake_many_looks_duplicates_up_once_per_chunk(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    lookup_many = memory._Customers.lookup_many

    def counting(self: memory._Customers, keys: Any, **kwargs: Any) -> Any:
        keys = list(keys)
        calls.append(len(keys))
        return lookup_many(self, keys, **kwargs)

    monkeypatch.setattr(memory._Customers, "lookup_many", counting)
    registry = Registry(store, keyring=KeyRing.generate())
    first = registry.customers.intake_many(
        [customer(n) for n in range(5)], actor=ADMIN, batch_size=5
    )
    assert calls == [10]  # a phone and an e-mail each, in one look-up
    # a stored holder, an earlier item of the same chunk and an earlier chunk are all found
    again = registry.customers.intake_many(
        [customer(0), customer(7), customer(7), customer(8), customer(7)],
        actor=ADMIN,
        batch_size=3,
    )
    assert calls == [10, 4, 4]  # a key repeated inside a chunk is looked up once
    assert again.duplicates == {0: (first.added[0],), 2: (again.added[0],), 4: (again.added[0],)}
    assert len(again.added) == 2


@pytest.mark.parametrize("keyring", [None, KeyRing.generate()], ids=["plaintext", "keyed"])
def test_sealing_new_customers_together_matches_sealing_them_one_by_one(
    store: Store, keyring: KeyRing | None
) -> None:
    codec = PlaintextCodec() if keyring is None else EncryptingCodec(keyring)
    documents = [
        {"schema_version": 1, "data": {"name": f"张{n}", "contacts": [], "addresses": []}}
        for n in range(3)
    ]
    ids = ["c-1", "c-2", "c-3"]
    with store.transaction() as session:
        sealer = codec.begin(session)
        payloads = sealer.seal_new_customers(Customer, ids, (copy.deepcopy(d) for d in documents))
        assert len(payloads) == 3
        for cid, payload, document in zip(ids, payloads, documents, strict=True):
            assert sealer.open_record(Customer, payload, customer_id=cid) == document
        with pytest.raises(ValueError, match="one document per customer id"):
            sealer.seal_new_customers(Customer, ["c-4", "c-5"], [copy.deepcopy(documents[0])])
        sealer.flush()
        session.commit()
    # the keys of the refused batch were forgotten, never written
    assert sorted(stored_keys(store)) == ([] if keyring is None else ids)


def test_data_keys_are_cached_per_unit_of_work_and_dropped_with_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import weakref

    from custrec.security import crypto
    from custrec.storage import codec as codec_module

    made: list[weakref.ref[crypto.DataKey]] = []

    class Tracked(crypto.DataKey):
        __slots__ = ()

        def __init__(self, key: bytes) -> None:
            super().__init__(key)
            made.append(weakref.ref(self))

    monkeypatch.setattr(codec_module, "DataKey", Tracked)
    registry = Registry(store, keyring=KeyRing.generate())
    added = registry.customers.intake_many([customer(n) for n in range(3)], actor=ADMIN).added
    assert len(made) == 3  # one per customer, reused for every field of its record
    # a read opens the record and its history with one key
    made.clear()
    assert registry.customers.get(added[0], actor=ADMIN).name == "测试0号"
    registry.customers.history(added[0], actor=ADMIN)
    assert len(made) == 2  # one per unit of work, not one per value
    registry.privacy.erase(
        added[0], actor=Actor(id="dpo", roles={"admin", "erase"}), reason="request"
    )
    gc.collect()
    assert made and all(ref() is None for ref in made)  # no key outlives its unit of work
    # the module keeps no key material of its own (no process-wide cipher cache)
    assert not [name for name, value in vars(crypto).items() if hasattr(value, "cache_clear")]
    assert registry.customers.get(added[1], actor=ADMIN).name == "测试1号"  # others are untouched


def test_a_data_key_never_shows_its_bytes() -> None:
    from custrec.security.crypto import DataKey, decrypt_field, encrypt_field

    key = DataKey(bytes(range(32)))
    assert repr(key) == "DataKey(<hidden>)"
    token = encrypt_field(key, b"x", customer_id="c-1", field="name")
    assert decrypt_field(bytes(range(32)), token, customer_id="c-1", field="name") == b"x"
    with pytest.raises(ValueError, match="32 bytes"):
        DataKey(b"short")
