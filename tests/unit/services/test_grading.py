"""Registry.regrade: summaries from the store, fit, grade, facet and history; idempotent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.errors import AccessDenied
from custrec.grading import (
    ActivitySummary,
    Grade,
    Grades,
    MixedCurrencies,
    ParetoPolicy,
    RFMPolicy,
    abcd_by_amount,
)

ADMIN = Actor(id="admin", roles={"admin", "unmask", "erase"})
AS_OF = datetime(2025, 7, 1, tzinfo=UTC)


def make_registry() -> Registry:
    return Registry(MemoryStore(), keyring=KeyRing.generate(), clock=lambda: AS_OF)


def add(registry: Registry, n: int, purchases: list[tuple[int, str]], currency: str = "CNY") -> str:
    c = registry.customers.intake(
        {"kind": "individual", "name": f"客户{n}", "contacts": [{"wechat": f"wx{n}"}]},
        actor=ADMIN,
    )
    for days_ago, amount in purchases:
        registry.activities.record_transaction(
            {
                "customer_id": c.id,
                "occurred_at": (AS_OF - timedelta(days=days_ago)).isoformat(),
                "amount": {"amount": amount, "currency": currency},
            },
            actor=ADMIN,
        )
    return c.id


def grades(registry: Registry) -> dict[str, Any]:
    return {c.id: c.grade for page in registry.customers.batches(actor=ADMIN) for c in page}


def test_regrade_with_pareto_stores_grades_and_history() -> None:
    registry = make_registry()
    # totals 700, 200, 60, 40 -> shares before 0, 0.7, 0.9, 0.96 -> A, A, B, C; prospect -> C
    a = add(registry, 1, [(10, "700")])
    b = add(registry, 2, [(20, "150"), (5, "50")])
    c = add(registry, 3, [(30, "60")])
    d = add(registry, 4, [(40, "40")])
    e = add(registry, 5, [])
    report = registry.grading.regrade(ParetoPolicy(basis="value"), as_of=AS_OF, actor=ADMIN)
    assert (report.graded, report.changed, report.unchanged) == (5, 5, 0)
    assert grades(registry) == {a: "A", b: "A", c: "B", d: "C", e: "C"}
    last = registry.customers.history(c, actor=ADMIN)[-1]
    assert (last.action, last.path, last.old, last.new) == ("grade", "grade", None, "B")
    assert last.reason is not None and last.reason.startswith("pareto:basis=value")
    assert "share before 0.9" in last.reason


def test_regrade_twice_with_the_same_inputs_changes_nothing() -> None:
    registry = make_registry()
    ids = [add(registry, n, [(n * 7, str(100 * n))]) for n in range(1, 6)]
    registry.grading.regrade(RFMPolicy(), as_of=AS_OF, actor=ADMIN)
    first = grades(registry)
    history_lengths = [len(registry.customers.history(i, actor=ADMIN)) for i in ids]
    again = registry.grading.regrade(RFMPolicy(), as_of=AS_OF, actor=ADMIN)
    assert (again.changed, again.unchanged) == (0, 5)
    assert grades(registry) == first
    assert [len(registry.customers.history(i, actor=ADMIN)) for i in ids] == history_lengths


def test_regrade_with_a_threshold_policy_moves_customers_between_tiers() -> None:
    registry = make_registry()
    big = add(registry, 1, [(1, "150000")])
    small = add(registry, 2, [(1, "500")])
    policy = abcd_by_amount(100_000, 20_000)
    registry.grading.regrade(policy, as_of=AS_OF, actor=ADMIN)
    assert grades(registry) == {big: "A", small: "C"}
    registry.activities.record_transaction(
        {"customer_id": small, "occurred_at": AS_OF.isoformat(), "amount": {"amount": "30000"}},
        actor=ADMIN,
    )
    report = registry.grading.regrade(policy, as_of=AS_OF, actor=ADMIN)
    assert report.changed == 1
    assert grades(registry)[small] == "B"
    assert registry.customers.query(actor=ADMIN, grade="B")[0].id == small
    moves = [
        (h.old, h.new)
        for h in registry.customers.history(small, actor=ADMIN)
        if h.action == "grade"
    ]
    assert moves == [(None, "C"), ("C", "B")]


def test_mixed_currencies_and_erased_customers_are_left_out() -> None:
    registry = make_registry()
    fine = add(registry, 1, [(3, "10")])
    mixed = add(registry, 2, [(3, "10")])
    registry.activities.record_transaction(
        {
            "customer_id": mixed,
            "occurred_at": AS_OF.isoformat(),
            "amount": {"amount": "5", "currency": "USD"},
        },
        actor=ADMIN,
    )
    gone = add(registry, 3, [(3, "99")])
    registry.privacy.erase(gone, actor=ADMIN, reason="request")
    report = registry.grading.regrade(ParetoPolicy(basis="customers"), as_of=AS_OF, actor=ADMIN)
    assert report.skipped_mixed_currencies == (mixed,)
    assert report.graded == 1
    assert grades(registry) == {fine: "A", mixed: None}


def test_regrade_needs_the_grade_right_over_everyone() -> None:
    registry = make_registry()
    add(registry, 1, [(1, "1")])
    with pytest.raises(AccessDenied):
        registry.grading.regrade(RFMPolicy(), as_of=AS_OF, actor=Actor(id="s", roles={"staff"}))


class CountingPolicy:
    """Grades by purchase count in one batch; counts the explained grades built."""

    policy_id = "counting:v1"

    def __init__(self) -> None:
        self.batches = 0
        self.explained: list[str] = []

    def grade(self, summary: ActivitySummary, *, as_of: datetime) -> Grade:
        self.explained.append(summary.customer_id)
        label = "buyer" if summary.purchase_count else "prospect"
        return Grade(
            label=label,
            score=None,
            components={},
            reasons=[f"{summary.purchase_count} purchases"],
            policy_id=self.policy_id,
            as_of=as_of,
        )

    def grade_many(self, summaries: Sequence[ActivitySummary], *, as_of: datetime) -> Grades:
        self.batches += 1
        labels = ["buyer" if s.purchase_count else "prospect" for s in summaries]
        return Grades(self, summaries, as_of, labels, [None] * len(labels))


def test_regrade_grades_in_one_batch_and_explains_only_the_changed_grades() -> None:
    registry = make_registry()
    buyer = add(registry, 1, [(3, "10")])
    prospect = add(registry, 2, [])
    policy = CountingPolicy()
    report = registry.grading.regrade(policy, as_of=AS_OF, actor=ADMIN, batch_size=1)
    assert (report.changed, policy.batches) == (2, 1)
    assert sorted(policy.explained) == sorted([buyer, prospect])
    last = registry.customers.history(buyer, actor=ADMIN)[-1]
    assert last.reason == "counting:v1: 1 purchases"
    add_purchase = {
        "customer_id": prospect,
        "occurred_at": AS_OF.isoformat(),
        "amount": {"amount": "5"},
    }
    registry.activities.record_transaction(add_purchase, actor=ADMIN)
    policy = CountingPolicy()
    report = registry.grading.regrade(policy, as_of=AS_OF, actor=ADMIN)
    assert (report.changed, report.unchanged, policy.batches) == (1, 1, 1)
    assert policy.explained == [prospect]  # the unchanged buyer's grade is never built
    assert grades(registry) == {buyer: "buyer", prospect: "buyer"}


def test_a_fit_over_customers_who_all_mix_currencies_says_so() -> None:
    registry = make_registry()
    both = add(registry, 1, [(10, "100")])
    add(registry, 2, [])  # no purchases at all
    registry.activities.record_transaction(
        {
            "customer_id": both,
            "occurred_at": (AS_OF - timedelta(days=5)).isoformat(),
            "amount": {"amount": "3", "currency": "USD"},
        },
        actor=ADMIN,
    )
    with pytest.raises(ValueError, match=r"every customer with purchases \(1\) buys in several"):
        registry.grading.regrade(RFMPolicy(), as_of=AS_OF, actor=ADMIN)


def test_a_policy_in_another_currency_names_both_and_mixes_nothing() -> None:
    registry = make_registry()
    add(registry, 1, [(10, "100")])
    policy = abcd_by_amount(1000, 100, currency="USD")
    with pytest.raises(MixedCurrencies) as info:
        registry.grading.regrade(policy, as_of=AS_OF, actor=ADMIN)
    message = str(info.value)
    assert "has purchases in CNY, not in the policy's currency USD" in message
    assert "mixes" not in message


@pytest.mark.parametrize("code", ["usd", "US1", "USDX", "", "人民币"])
def test_a_threshold_policy_takes_an_iso_code_in_capitals(code: str) -> None:
    with pytest.raises(ValueError, match=r"^currency: (use|not an ISO 4217)"):
        abcd_by_amount(1000, 100, currency=code)
