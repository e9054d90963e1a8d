"""A currency stored before the ISO 4217 check (``RMB``, a withdrawn ``HRK``) never blocks an
update of the customer's other fields; an amount the update gives is checked."""

from __future__ import annotations

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.errors import ValidationFailed
from custrec.validation import DEFAULT_RULES

ADMIN = Actor(id="ops", roles={"admin", "unmask"})


@pytest.mark.parametrize("stored", ["RMB", "HRK"])
def test_an_update_of_other_fields_keeps_a_currency_stored_before(stored: str) -> None:
    store, ring = MemoryStore(), KeyRing.generate()
    # what an earlier version stored: the check did not know this currency then
    earlier = Registry(
        store, keyring=ring, rules=DEFAULT_RULES.with_severity("currency.invalid", "warning")
    )
    customer = earlier.customers.intake(
        {
            "kind": "individual",
            "name": "Ivana Horvat",
            "contacts": [{"emails": ["i@example.hr"]}],
            "milestones": {"contract_amount": {"amount": "100", "currency": stored}},
        },
        actor=ADMIN,
    )
    registry = Registry(store, keyring=ring)
    updated = registry.customers.update(
        customer.id, {"name": "Ivana Horvat-Kovač"}, actor=ADMIN, reason="married"
    )
    assert updated.name == "Ivana Horvat-Kovač"
    assert updated.milestones.contract_amount is not None
    assert updated.milestones.contract_amount.currency == stored
    with pytest.raises(ValidationFailed) as caught:
        registry.customers.update(
            customer.id,
            {"milestones": {"contract_amount": {"amount": "200", "currency": "RMB"}}},
            actor=ADMIN,
            reason="new contract",
        )
    assert [i.code for i in caught.value.report.issues] == ["currency.invalid"]
