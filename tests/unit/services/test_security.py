"""The registry with a keyring: encryption at rest, blind indexes, erasure, rotation, audit.

What reaches SQLite files and backups is in tests/integration/services/test_security_files.py.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.errors import AccessDenied, Erased, ErasureUnavailable, NotFound
from custrec.model.records import Identifier
from custrec.security import IndexKeys, KeyringMismatch, StaticKeyProvider
from custrec.storage import Store, _packed
from custrec.testing import TickingClock

ADMIN = Actor(id="admin-1", roles={"admin", "unmask", "erase", "export"}, team="hq")
AUDITOR = Actor(id="aud-1", roles={"auditor"})
KEYKEEPER = Actor(id="ops-1", roles={"admin", "unmask"})
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def customer(n: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"测试{n}号",
        "contacts": [{"phones": [f"1380013{n:04d}"], "emails": [f"user{n}@example.com"]}],
        "addresses": [{"city": "北京", "street": f"长安街{n}号", "postal_code": "100000"}],
        **extra,
    }


def test_an_encrypted_registry_round_trips_and_finds_by_blind_index(registry: Registry) -> None:
    c = registry.customers.intake(customer(1), actor=ADMIN)
    assert registry.encrypted
    assert registry.customers.get(c.id, actor=ADMIN) == c
    assert [x.id for x in registry.customers.find(phone="13800130001", actor=ADMIN)] == [c.id]
    assert [x.id for x in registry.customers.find(email="USER1@example.com", actor=ADMIN)] == [c.id]
    registry.customers.update(c.id, {"name": "新名字"}, actor=ADMIN, reason="typo")
    history = registry.customers.history(c.id, actor=ADMIN)
    assert (history[-1].path, history[-1].old, history[-1].new) == ("name", "测试1号", "新名字")


def test_stored_payloads_and_index_keys_hold_no_personal_value(
    registry: Registry, store: Store
) -> None:
    c = registry.customers.intake(customer(2), actor=ADMIN)
    with store.transaction(readonly=True) as session:
        row = session.customers.get(c.id)
        history = session.history.list_for(c.id)
    blob = row.payload + b"".join(h.payload for h in history) + "".join(row.index_keys).encode()
    for value in ("测试2号", "13800130002", "user2@example.com", "长安街2号"):
        assert value.encode() not in blob
    skeleton = _packed.unpack(row.payload, c.id).skeleton
    assert skeleton["stage"] == "lead"  # non-personal fields stay readable without the keys


def test_masked_reads_for_actors_without_unmask(registry: Registry) -> None:
    c = registry.customers.intake(customer(3), actor=ADMIN)
    plain_admin = Actor(id="admin-2", roles={"admin"})
    masked = registry.customers.get(c.id, actor=plain_admin)
    assert masked.name == "测***"
    assert masked.contacts[0].phones == ("+86138****0003",)
    assert masked.contacts[0].emails == ("u****@example.com",)
    changes = registry.customers.history(c.id, actor=plain_admin)
    assert changes[0].new["name"] == "测***"


def test_erasure_shreds_one_customer_and_leaves_others(registry: Registry) -> None:
    a = registry.customers.intake(customer(4), actor=ADMIN)
    b = registry.customers.intake(customer(5), actor=ADMIN)
    registry.activities.record_interaction(
        {"customer_id": a.id, "kind": "call", "occurred_at": T0.isoformat(), "summary": "x"},
        actor=ADMIN,
    )
    receipt = registry.privacy.erase(a.id, actor=ADMIN, reason="subject request #77")
    targets = {x.target: x.action for x in receipt.actions}
    assert targets["data_key"] == "destroyed"
    assert targets["name"] == "shredded" and targets["contacts[0].phones"] == "shredded"
    # phone and e-mail, the blocking keys of the name and the street address, and the
    # name-search keys (the full name and its any-order form)
    assert targets["index_keys"] == "6 deleted"
    assert "测试4号" not in repr(receipt) and "13800130004" not in repr(receipt)
    for call in (
        lambda: registry.customers.get(a.id, actor=ADMIN),
        lambda: registry.customers.history(a.id, actor=ADMIN),
        lambda: registry.activities.list(a.id, actor=ADMIN),
    ):
        with pytest.raises(Erased):
            call()
    assert registry.customers.find(phone="13800130004", actor=ADMIN) == []
    assert registry.customers.get(b.id, actor=ADMIN).name == "测试5号"
    assert [c.id for page in registry.customers.batches(actor=ADMIN) for c in page] == [b.id]
    again = registry.privacy.erase(a.id, actor=ADMIN, reason="repeat")
    assert {x.target: x.action for x in again.actions}["record"] == "already erased"
    assert registry.audit.verify(actor=Actor(id="a", roles={"auditor"})).ok


def test_erasure_needs_the_erase_permission_and_a_keyring(registry: Registry) -> None:
    c = registry.customers.intake(customer(6), actor=ADMIN)
    with pytest.raises(AccessDenied):
        registry.privacy.erase(c.id, actor=KEYKEEPER, reason="no permission")
    with pytest.warns(UserWarning, match="plain JSON"):
        unkeyed = Registry(MemoryStore())
    d = unkeyed.customers.intake(customer(6), actor=ADMIN)
    with pytest.raises(ErasureUnavailable):
        unkeyed.privacy.erase(d.id, actor=ADMIN, reason="r")


def test_every_access_and_denial_is_audited_without_values(registry: Registry) -> None:
    c = registry.customers.intake(customer(7), actor=ADMIN)
    stranger = Actor(id="staff-9", roles={"staff"})
    registry.customers.get(c.id, actor=ADMIN, purpose="service call")
    with pytest.raises(AccessDenied):
        registry.customers.get(c.id, actor=stranger)
    trail = registry.audit.trail(actor=AUDITOR, customer_id=c.id)
    assert [(e.actor_id, e.action, e.outcome) for e in trail] == [
        ("admin-1", "customer.create", "ok"),
        ("admin-1", "customer.unmask", "ok"),
        ("staff-9", "denied.read", "denied"),
    ]
    assert trail[1].reason == "service call"
    assert "contacts[0].phones" in trail[1].fields
    assert all("13800130007" not in repr(e) for e in trail)
    touched = registry.audit.touched_by(
        "admin-1", actor=AUDITOR, since=T0, until=T0 + timedelta(hours=1)
    )
    assert touched == [c.id]
    with pytest.raises(AccessDenied):
        registry.audit.trail(actor=ADMIN)


def test_the_stored_audit_chain_detects_random_tampering(
    registry: Registry, keyring: KeyRing
) -> None:
    ids = [registry.customers.intake(customer(n), actor=ADMIN).id for n in range(10, 20)]
    for cid in ids[:5]:
        registry.customers.get(cid, actor=ADMIN)
    registry.privacy.erase(ids[0], actor=ADMIN, reason="request")
    checkpoint = registry.audit.checkpoint(actor=AUDITOR)
    with registry._context.store.transaction(readonly=True) as session:
        entries = session.audit.read(limit=10_000)
    chain = keyring.audit_chain()
    assert chain.verify(entries, checkpoint=checkpoint).ok
    rng = random.Random(20251123)
    for _ in range(1000):
        tampered = list(entries)
        kind = rng.choice(["byte", "drop", "insert", "swap", "truncate"])
        i = rng.randrange(len(tampered) - 1)
        if kind == "byte":
            e = tampered[i]
            field = rng.choice(["actor_id", "action", "customer_id", "reason", "outcome"])
            text = getattr(e, field) or "x"
            pos = rng.randrange(len(text))
            changed = (
                text[:pos]
                + chr((ord(text[pos]) + rng.randrange(1, 50)) % 0x7F or 65)
                + text[pos + 1 :]
            )
            tampered[i] = attrs.evolve(e, **{field: changed})
            if changed == text:
                continue
        elif kind == "drop":
            del tampered[i]
        elif kind == "insert":
            forged = attrs.evolve(tampered[i], action="customer.read", actor_id="mallory")
            tampered.insert(i + 1, forged)
        elif kind == "swap":
            tampered[i], tampered[i + 1] = tampered[i + 1], tampered[i]
        else:
            tampered = tampered[: rng.randrange(len(tampered) - 1)]
        assert not chain.verify(tampered, checkpoint=checkpoint).ok, kind


def test_master_key_rotation_rewraps_without_touching_payloads(store: Store) -> None:
    old = StaticKeyProvider.generate("m1")
    index = IndexKeys.generate("i1")
    registry = Registry(store, keyring=KeyRing(old, index), clock=TickingClock(T0))
    ids = [registry.customers.intake(customer(n), actor=ADMIN).id for n in range(30, 37)]
    with store.transaction(readonly=True) as session:
        payloads = {i: session.customers.get(i).payload for i in ids}
    rotated = old.with_key("m2", os.urandom(32))
    seen: list[int] = []
    report = Registry(
        store, keyring=KeyRing(rotated, index), clock=TickingClock(T0)
    ).keys.rotate_master(actor=KEYKEEPER, batch_size=3, progress=seen.append)
    assert (report.rewrapped, report.unchanged, report.master_key_id) == (7, 0, "m2")
    assert seen == [3, 6, 7]
    only_new = StaticKeyProvider({"m2": rotated_key(rotated)}, current="m2")
    after = Registry(store, keyring=KeyRing(only_new, index), clock=TickingClock(T0))
    assert after.customers.get(ids[0], actor=ADMIN).name == "测试30号"
    with store.transaction(readonly=True) as session:
        assert {i: session.customers.get(i).payload for i in ids} == payloads


def rotated_key(provider: StaticKeyProvider) -> bytes:
    # the test keeps its own copy of the new key, as an operator's key file would
    return provider._keys["m2"]  # type: ignore[attr-defined]


def test_index_key_rotation_keeps_lookups_working(store: Store) -> None:
    master = StaticKeyProvider.generate("m1")
    audit = os.urandom(32)  # pinned: the audit chain outlives index keys
    i1 = IndexKeys.generate("i1")
    first = Registry(store, keyring=KeyRing(master, i1, audit_key=audit), clock=TickingClock(T0))
    c = first.customers.intake(customer(40), actor=ADMIN)
    both = i1.with_key("i2", os.urandom(32))
    during_ring = KeyRing(master, both, audit_key=audit)
    during = Registry(store, keyring=during_ring, clock=TickingClock(T0))
    assert [x.id for x in during.customers.find(phone="13800130040", actor=ADMIN)] == [c.id]
    only_new = both.without_key("i1")
    with pytest.raises(KeyringMismatch, match="'i1' is missing"):  # rows still use i1
        Registry(store, keyring=KeyRing(master, only_new, audit_key=audit))
    assert during.keys.reindex(actor=KEYKEEPER) == 1
    assert during.keys.reindex(actor=KEYKEEPER) == 0
    after = Registry(store, keyring=KeyRing(master, only_new, audit_key=audit))
    assert [x.id for x in after.customers.find(phone="13800130040", actor=ADMIN)] == [c.id]
    assert after.audit.verify(actor=AUDITOR).ok


def test_an_unpinned_audit_key_changed_by_a_rotation_is_refused_with_the_fix(
    store: Store,
) -> None:
    master = StaticKeyProvider.generate("m1")
    i1 = IndexKeys.generate("i1")
    Registry(store, keyring=KeyRing(master, i1)).customers.intake(customer(41), actor=ADMIN)
    rotated = KeyRing(master, i1.with_key("i2", os.urandom(32)))  # audit key derived from i2
    with pytest.raises(KeyringMismatch, match="pin it") as info:
        Registry(store, keyring=rotated)
    assert "'i1'" in str(info.value)
    pinned = KeyRing(
        master, i1.with_key("i2", os.urandom(32)), audit_key=rotated.audit_key(index_key_id="i1")
    )
    assert Registry(store, keyring=pinned).audit.verify(actor=AUDITOR).ok


def test_unknown_ids_still_raise_not_found(registry: Registry) -> None:
    with pytest.raises(NotFound):
        registry.privacy.erase("missing", actor=ADMIN, reason="r")
    assert (
        registry.customers.find(identifier=Identifier(scheme="PASSPORT", value="X1"), actor=ADMIN)
        == []
    )
