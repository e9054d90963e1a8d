"""A refused duplicate is audited: the refusal names existing customers to the actor.

``DuplicateCustomer`` tells the actor the ids of the customers holding the phone, e-mail or
identifier, so, like every refusal and every look-up that names customers, it leaves an audit
entry: one for the refusal (``customer.duplicate``, outcome ``refused``, the kinds of key, never
a value) and one per customer it names. Nothing else of the refused intake or update is stored.
"""

from __future__ import annotations

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.errors import DuplicateCustomer

ADMIN = Actor(id="admin", roles={"admin", "unmask"})
CLERK = Actor(id="clerk", roles={"staff"})
AUDITOR = Actor(id="auditor", roles={"auditor"})
PHONE = "13800138000"


@pytest.fixture
def registry() -> Registry:
    return Registry(MemoryStore(), keyring=KeyRing.generate())


def _refusals(registry: Registry) -> list[tuple[str, str | None, tuple[str, ...], str]]:
    return [
        (e.actor_id, e.customer_id, tuple(e.fields), e.outcome)
        for e in registry.audit.trail(actor=AUDITOR, limit=500)
        if e.action == "customer.duplicate"
    ]


def test_an_intake_refused_as_a_duplicate_is_audited_with_the_customer_it_names(
    registry: Registry,
) -> None:
    held = registry.customers.intake(
        {"kind": "individual", "name": "甲", "contacts": [{"phones": [PHONE]}]}, actor=ADMIN
    )
    count = registry.customers.count(actor=ADMIN)
    with pytest.raises(DuplicateCustomer) as refused:
        registry.customers.intake(
            {"kind": "individual", "name": "乙", "contacts": [{"phones": [PHONE]}]}, actor=ADMIN
        )
    assert refused.value.existing_ids == (held.id,)
    assert _refusals(registry) == [
        ("admin", None, ("phone",), "refused"),
        ("admin", held.id, ("phone",), "refused"),
    ]
    assert registry.customers.count(actor=ADMIN) == count  # nothing stored
    assert registry.audit.verify(actor=AUDITOR).ok
    assert PHONE not in repr(registry.audit.trail(actor=AUDITOR, limit=500))


def test_an_update_refused_as_a_duplicate_is_audited_on_both_customers(
    registry: Registry,
) -> None:
    held = registry.customers.intake(
        {"kind": "individual", "name": "甲", "contacts": [{"phones": [PHONE]}]}, actor=ADMIN
    )
    other = registry.customers.intake(
        {"kind": "individual", "name": "乙", "contacts": [{"phones": ["13900139000"]}]},
        actor=ADMIN,
    )
    with pytest.raises(DuplicateCustomer):
        registry.customers.update(
            other.id, {"contacts": [{"phones": [PHONE]}]}, actor=ADMIN, reason="typo"
        )
    assert _refusals(registry) == [
        ("admin", other.id, ("phone",), "refused"),
        ("admin", held.id, ("phone",), "refused"),
    ]
    assert registry.customers.get(other.id, actor=ADMIN).version == other.version
