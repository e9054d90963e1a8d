"""count() counts what the actor may read, and only live customers."""

from __future__ import annotations

from custrec import Actor, KeyRing, MemoryStore, Registry

ADMIN = Actor(id="admin", roles={"admin", "erase"})
ALICE = Actor(id="alice", roles={"staff"}, team="east")
BOB = Actor(id="bob", roles={"staff"}, team="east")
MANAGER = Actor(id="mgr", roles={"manager"}, team="east")


def person(phone: str) -> dict[str, object]:
    return {"kind": "individual", "name": "张三", "contacts": [{"phones": [phone]}]}


def test_count_is_filtered_by_access_and_skips_erased_and_merged_customers() -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    a1 = registry.customers.intake(person("13800138001"), actor=ALICE)
    registry.customers.intake(person("13800138002"), actor=ALICE)
    b1 = registry.customers.intake(person("13800138003"), actor=BOB)
    registry.customers.intake(person("13800138004"), actor=ADMIN)
    assert registry.customers.count(actor=ADMIN) == 4
    assert registry.customers.count(actor=ALICE) == 2
    assert registry.customers.count(actor=BOB) == 1
    assert registry.customers.count(actor=MANAGER) == 3  # the east team's
    assert registry.customers.count(actor=ALICE, stage="lead") == 2

    registry.privacy.erase(b1.id, actor=ADMIN, reason="subject request")
    registry.matching.merge(
        a1.id,
        [registry.customers.find(phone="13800138002", actor=ADMIN)[0].id],
        actor=ADMIN,
        reason="duplicate",
    )
    assert registry.customers.count(actor=ADMIN) == 2
    assert registry.customers.count(actor=ALICE) == 1
    assert registry.customers.count(actor=ADMIN, batch_size=1) == 2
