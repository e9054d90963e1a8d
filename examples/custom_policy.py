"""A custom grading policy in a few lines: "VIP" by average order value.

Any object with a ``policy_id`` and a ``grade(summary, *, as_of)`` method returning a ``Grade`` is a
grading policy; nothing needs subclassing. ``registry.grading.regrade`` stores its grades like
the built-in policies'. Run it with ``python examples/custom_policy.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.grading import ActivitySummary, Grade, GradingPolicy, grade_all


class AverageOrderPolicy:
    """VIP when the average order value reaches ``minimum``; prospects are "regular"."""

    def __init__(self, minimum: Decimal) -> None:
        self.minimum = minimum
        self.policy_id = f"average-order:min={minimum}"

    def grade(self, summary: ActivitySummary, *, as_of: datetime) -> Grade:
        count = summary.purchase_count
        average = summary.total_spent / count if count else Decimal(0)
        vip = average >= self.minimum
        return Grade(
            label="VIP" if vip else "regular",
            score=float(average),
            components={"average_order": str(average), "orders": count},
            reasons=(f"average order {average} {'>=' if vip else '<'} {self.minimum}",),
            policy_id=self.policy_id,
            as_of=as_of,
        )


if __name__ == "__main__":
    as_of = datetime(2024, 7, 1, tzinfo=UTC)
    bought = datetime(2024, 6, 1, tzinfo=UTC)
    summaries = [
        ActivitySummary(
            customer_id="c-1",
            first_purchase_at=bought,
            last_purchase_at=bought,
            purchase_count=2,
            total_spent=Decimal("2400.00"),
        ),
        ActivitySummary(
            customer_id="c-2",
            first_purchase_at=bought,
            last_purchase_at=bought,
            purchase_count=5,
            total_spent=Decimal("1500.00"),
        ),
        ActivitySummary.empty("c-3"),
    ]
    policy: GradingPolicy = AverageOrderPolicy(Decimal(1000))
    for customer_id, grade in grade_all(policy, summaries, as_of=as_of).items():
        print(f"{customer_id}: {grade.label:8} {'; '.join(grade.reasons)}")

    # Store the grades: regrade every customer of a registry into a "vip" grade dimension.
    # `ranking` orders the labels, best first, so regular -> VIP counts as an upgrade.
    crm = Registry(MemoryStore(), keyring=KeyRing.generate())
    admin = Actor(id="admin-1", roles={"admin"})
    customer = crm.customers.intake(
        {"kind": "individual", "name": "王芳", "contacts": [{"wechat": "wx-wangfang"}]},
        actor=admin,
    )
    for day, amount in ((1, "300"), (20, "3000")):
        bought = datetime(2024, 6, day, tzinfo=UTC)
        crm.activities.record_transaction(
            {"customer_id": customer.id, "occurred_at": bought, "amount": {"amount": amount}},
            actor=admin,
        )
        report = crm.grading.regrade(
            policy, as_of=as_of, actor=admin, dimension="vip", ranking=("VIP", "regular")
        )
        print("regrade:", [(move.before, move.after, move.direction) for move in report.moves])
    assert crm.customers.count(actor=admin, grades={"vip": "VIP"}) == 1
