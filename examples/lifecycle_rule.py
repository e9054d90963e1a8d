"""A lifecycle rule of your own: a large order tags the customer "key-account".

A rule is any object with an ``id`` and a ``react(event)`` method returning a ``Reaction`` (or
``None``); nothing needs subclassing. The registry runs it inside the unit of work of the
change, and the history names the rule's id as the reason. Run it with
``python examples/lifecycle_rule.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.model.records import Transaction
from custrec.workflow import DEFAULT_RULES, LifecycleEvent, Reaction, WorkflowSettings


class KeyAccountOnLargeOrder:
    """Tag the customer ``key-account`` when one order reaches ``minimum`` (CNY)."""

    id = "example.key_account_on_large_order"

    def __init__(self, minimum: Decimal) -> None:
        self.minimum = minimum

    def react(self, event: LifecycleEvent) -> Reaction | None:
        order = event.record
        if not isinstance(order, Transaction) or order.amount.amount < self.minimum:
            return None
        if "key-account" in event.customer.tags:
            return None
        return Reaction(changes={"tags": (*event.customer.tags, "key-account")})


if __name__ == "__main__":
    workflow = WorkflowSettings(rules=(*DEFAULT_RULES, KeyAccountOnLargeOrder(Decimal(100_000))))
    registry = Registry(MemoryStore(), keyring=KeyRing.generate(), workflow=workflow)
    clerk = Actor(id="u-1", roles={"staff"}, team="east")
    customer = registry.customers.intake(
        {"kind": "individual", "name": "赵六", "contacts": [{"phones": ["13912345678"]}]},
        actor=clerk,
    )
    registry.activities.record_transaction(
        {
            "customer_id": customer.id,
            "occurred_at": datetime(2026, 1, 5, 3, 0, tzinfo=UTC),
            "amount": {"amount": "250000.00"},
        },
        actor=clerk,
    )
    tags = registry.customers.get(customer.id, actor=clerk).tags
    why = [
        h.reason for h in registry.customers.history(customer.id, actor=clerk) if h.path == "tags"
    ]
    print(f"tags: {tags}, changed by: {why}")
    assert tags == ("key-account",) and why == [KeyAccountOnLargeOrder.id]
