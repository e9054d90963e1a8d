"""``find`` keeps only customers that, as read, carry what was looked up.

On PostgreSQL a ``find`` runs without a transaction: its index look-up and its read of the
customers are two statements, each reading what is committed at that moment, so a customer
whose phone changed in between is found by the look-up but no longer matches when read. The
service checks every row it read against the index keys looked up; here an index answer that
is stale on purpose stands for that race.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.backends import memory

ADMIN = Actor(id="admin", roles={"admin", "unmask"})
AUDITOR = Actor(id="auditor", roles={"auditor"})


@pytest.fixture
def registry() -> Registry:
    return Registry(MemoryStore(), keyring=KeyRing.generate())


def test_a_customer_the_index_names_but_who_no_longer_matches_is_not_returned(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = registry.customers.intake(
        {"kind": "individual", "name": "甲", "contacts": [{"phones": ["13800138000"]}]}, actor=ADMIN
    )
    moved = registry.customers.intake(
        {"kind": "individual", "name": "乙", "contacts": [{"phones": ["13900139000"]}]}, actor=ADMIN
    )
    real = memory._Customers.lookup_many

    def stale(
        self: memory._Customers, index_keys: Iterable[str], **kw: object
    ) -> dict[str, list[str]]:
        found = real(self, index_keys, **kw)  # type: ignore[arg-type]
        return {key: sorted({*ids, moved.id}) for key, ids in found.items()}

    monkeypatch.setattr(memory._Customers, "lookup_many", stale)
    found = registry.customers.find(phone="13800138000", actor=ADMIN)
    assert [c.id for c in found] == [kept.id]
    monkeypatch.undo()
    reads = [
        e.customer_id
        for e in registry.audit.trail(actor=AUDITOR, limit=100)
        if e.action in {"customer.read", "customer.unmask"}
    ]
    assert reads == [kept.id]  # only what was returned is audited as read


def test_a_key_that_moved_between_look_up_and_read_is_found_on_its_new_holder(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look-up saw the phone on its old holder; by the read it had moved. The find reads
    again in one snapshot and returns the holder of that moment instead of nobody."""
    old = registry.customers.intake(
        {"kind": "individual", "name": "甲", "contacts": [{"phones": ["13800138000"]}]}, actor=ADMIN
    )
    real = memory._Customers.lookup_many
    calls: list[int] = []

    def first_answer_is_from_before_the_move(
        self: memory._Customers, index_keys: Iterable[str], **kw: object
    ) -> dict[str, list[str]]:
        calls.append(1)
        if len(calls) == 1:
            return {key: [old.id] for key in index_keys}
        return real(self, index_keys, **kw)  # type: ignore[arg-type]

    registry.customers.update(
        old.id, {"contacts": [{"phones": ["13900139000"]}]}, actor=ADMIN, reason="moved"
    )
    new = registry.customers.intake(
        {"kind": "individual", "name": "乙", "contacts": [{"phones": ["13800138000"]}]}, actor=ADMIN
    )
    monkeypatch.setattr(memory._Customers, "lookup_many", first_answer_is_from_before_the_move)
    found = registry.customers.find(phone="13800138000", actor=ADMIN)
    monkeypatch.undo()
    assert [c.id for c in found] == [new.id]
    assert len(calls) == 2  # the stale answer, then the snapshot's
    reads = [
        e.customer_id
        for e in registry.audit.trail(actor=AUDITOR, limit=100)
        if e.action in {"customer.read", "customer.unmask"}
    ]
    assert reads == [new.id]  # the discarded first pass is neither returned nor audited
