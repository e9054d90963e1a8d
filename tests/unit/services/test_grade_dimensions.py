"""Grade dimensions: ``regrade(..., dimension=)`` stores one DimensionGrade per named dimension
beside the primary grade, and the report names every mover; purchase summaries cover every
live customer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from custrec import Actor, Registry
from custrec.consent import CaptureChannel
from custrec.grading import (
    ActivitySummary,
    ChurnPolicy,
    Grade,
    ParetoPolicy,
    RFMPolicy,
    StarPolicy,
    ThresholdPolicy,
    abcd_by_amount,
)
from custrec.services import GradeMove, RegradeReport
from custrec.storage import Store
from custrec.testing import TickingClock

ADMIN = Actor(id="admin", roles={"admin", "unmask", "erase"})
AUDITOR = Actor(id="auditor", roles={"auditor"})
T0 = datetime(2025, 7, 1, tzinfo=UTC)
APP = CaptureChannel.APP
DAY = timedelta(days=1)
TIERS = abcd_by_amount(1000, 100)  # A >= 1000, B >= 100, C >= 0.01, else D
TIERS_ID = "threshold:total_spent>=1000/100/0.01:A/B/C/D:CNY"


def add(registry: Registry, n: int, purchases: Sequence[tuple[int, str]] = ()) -> str:
    """A customer with purchases ``(days before T0, amount)``; returns its id."""
    c = registry.customers.intake(
        {"kind": "individual", "name": f"客户{n}", "contacts": [{"wechat": f"wx{n}"}]},
        actor=ADMIN,
    )
    for days, amount in purchases:
        buy(registry, c.id, T0 - days * DAY, amount)
    return c.id


def buy(registry: Registry, customer_id: str, at: datetime, amount: str) -> None:
    registry.activities.record_transaction(
        {"customer_id": customer_id, "occurred_at": at.isoformat(), "amount": {"amount": amount}},
        actor=ADMIN,
    )


def regrade(
    registry: Registry, policy: object, as_of: datetime, **options: object
) -> RegradeReport:
    return registry.grading.regrade(policy, as_of=as_of, actor=ADMIN, **options)  # type: ignore[arg-type]


def labels(registry: Registry, dimension: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for page in registry.customers.batches(actor=ADMIN):
        for c in page:
            grade = c.grade_in(dimension)
            found[c.id] = None if grade is None else grade.label
    return found


def grading_history(store: Store, customer_id: str) -> list[tuple[str, str | None]]:
    """(path, reason) of the stored ``grade`` history entries (their values stay sealed)."""
    with store.transaction(readonly=True) as session:
        found = session.history.list_for(customer_id)
    return [(h.path, h.reason) for h in found if h.action == "grade"]


def fitted_labels(policy: object, registry: Registry, as_of: datetime) -> dict[str, str]:
    """Brute force: fit on the registry's summaries and grade each one."""
    population = list(registry.activities.summaries(as_of=as_of, actor=ADMIN))
    fit = getattr(policy, "fit", None)
    graded: Any = fit(population, as_of=as_of) if fit is not None else policy
    return {s.customer_id: graded.grade(s, as_of=as_of).label for s in population}


# ------------------------------------------------------------------ dimensions side by side


def test_three_dimensions_coexist_on_the_same_customers(registry: Registry, store: Store) -> None:
    ids = [
        add(registry, 1, [(10, "1500")]),
        add(registry, 2, [(20, "200"), (5, "100")]),
        add(registry, 3, [(30, "50")]),
        add(registry, 4),  # a prospect
    ]
    stars, pareto = StarPolicy(), ParetoPolicy(basis="value")
    regrade(registry, TIERS, T0, dimension="value_tier")
    regrade(registry, stars, T0, dimension="stars")
    regrade(registry, pareto, T0, dimension="pareto")
    expected = {
        "value_tier": dict(zip(ids, ["A", "B", "C", "D"], strict=True)),
        "stars": fitted_labels(stars, registry, T0),
        "pareto": fitted_labels(pareto, registry, T0),
    }
    assert expected["pareto"] == dict(zip(ids, ["A", "B", "C", "C"], strict=True))
    for cid in ids:
        customer = registry.customers.get(cid, actor=ADMIN)
        assert customer.grade is None  # the primary grade is untouched
        assert [g.dimension for g in customer.grades] == ["pareto", "stars", "value_tier"]
        for dimension, by_id in expected.items():
            grade = customer.grade_in(dimension)
            assert grade is not None and grade.label == by_id[cid]
            assert grade.graded_at == T0
        tier = customer.grade_in("value_tier")
        assert tier is not None and tier.policy_id == TIERS_ID
        with store.transaction(readonly=True) as session:
            facets = session.customers.get(cid).facets
        assert {f for f in facets if f.startswith("grade.")} == {
            f"grade.{d}={by_id[cid]}" for d, by_id in expected.items()
        }
        assert [path for path, _ in grading_history(store, cid)] == [
            "grades.value_tier",
            "grades.stars",
            "grades.pareto",
        ]
    first = registry.customers.get(ids[0], actor=ADMIN)
    tier = first.grade_in("value_tier")
    assert tier is not None and tier.explanation == "total_spent 1500 >= 1000 (cut for A)"
    # Another policy in one dimension leaves the primary grade and the other dimensions alone.
    regrade(registry, abcd_by_amount(2000, 100), T0)
    regrade(registry, abcd_by_amount(2000, 100), T0, dimension="value_tier")
    again = registry.customers.get(ids[0], actor=ADMIN)
    assert again.grade == "B"
    assert again.grade_in("value_tier") is not None
    assert again.grade_in("value_tier").label == "B"  # type: ignore[union-attr]
    assert again.grade_in("stars") == first.grade_in("stars")
    assert again.grade_in("pareto") == first.grade_in("pareto")


def test_refusing_profiling_removes_only_the_regraded_dimension(
    registry: Registry, store: Store, clock: TickingClock
) -> None:
    cid = add(registry, 1, [(3, "500")])
    other = add(registry, 2, [(3, "50")])
    regrade(registry, TIERS, T0)
    regrade(registry, TIERS, T0, dimension="value_tier")
    regrade(registry, StarPolicy(), T0, dimension="stars")
    registry.consent.object_to(cid, "profiling", actor=ADMIN, channel=APP)
    report = regrade(registry, TIERS, clock(), dimension="value_tier")
    assert report.skipped_by_consent == (cid,)
    refusal = "the customer refused profiling (consent)"
    assert report.moves == (
        GradeMove(
            customer_id=cid, before="B", after=None, direction="removed", explanation=refusal
        ),
    )
    customer = registry.customers.get(cid, actor=ADMIN)
    assert customer.grade == "B"
    assert [g.dimension for g in customer.grades] == ["stars"]
    assert labels(registry, "value_tier") == {cid: None, other: "C"}
    assert grading_history(store, cid)[-1] == ("grades.value_tier", refusal)


def test_dimension_names_and_rankings_are_checked(registry: Registry) -> None:
    add(registry, 1, [(3, "5")])
    for bad in ("grade", "Value", "1st", "", "a-b", "a" * 64):
        with pytest.raises(ValueError, match="dimension"):
            regrade(registry, TIERS, T0, dimension=bad)
    with pytest.raises(TypeError):
        regrade(registry, TIERS, T0, dimension=3)
    with pytest.raises(TypeError):
        regrade(registry, TIERS, T0, ranking="ABCD")
    with pytest.raises(ValueError, match="repeat"):
        regrade(registry, TIERS, T0, ranking=("A", "A"))
    report = regrade(registry, TIERS, T0, dimension="a" * 63)
    assert report.dimension == "a" * 63


# ---------------------------------------------------------------------- who moved, and how


def test_the_report_names_every_mover_with_direction_and_explanation(
    registry: Registry, clock: TickingClock
) -> None:
    a = add(registry, 1, [(10, "1500")])
    b = add(registry, 2, [(10, "300")])
    c = add(registry, 3, [(10, "50")])
    d = add(registry, 4)
    first = regrade(registry, TIERS, T0 - DAY, dimension="value_tier")
    assert [(m.customer_id, m.before, m.after, m.direction) for m in first.moves] == [
        (a, None, "A", "new"),
        (b, None, "B", "new"),
        (c, None, "C", "new"),
        (d, None, "D", "new"),
    ]
    assert first.counts == (("A", 1), ("B", 1), ("C", 1), ("D", 1))
    assert (first.upgrades, first.downgrades) == (0, 0)
    buy(registry, a, T0 - DAY / 2, "-600")  # a refund: 900, down to B
    buy(registry, c, T0 - DAY / 2, "100")  # 150, up to B
    registry.consent.object_to(d, "profiling", actor=ADMIN, channel=APP)
    report = regrade(registry, TIERS, clock(), dimension="value_tier")
    assert [(m.customer_id, m.before, m.after, m.direction) for m in report.moves] == [
        (a, "A", "B", "down"),
        (c, "C", "B", "up"),
        (d, "D", None, "removed"),
    ]
    assert [m.explanation for m in report.moves] == [
        "total_spent 900 >= 100 (cut for B); total_spent 900 < 1000 (cut for A)",
        "total_spent 150 >= 100 (cut for B); total_spent 150 < 1000 (cut for A)",
        "the customer refused profiling (consent)",
    ]
    assert (report.graded, report.changed, report.unchanged) == (4, 3, 1)
    assert (report.upgrades, report.downgrades) == (1, 1)
    assert report.counts == (("B", 3),)  # d lost its grade
    assert report.transitions == (("A", "B", 1), ("B", "B", 1), ("C", "B", 1), ("D", None, 1))
    assert report.dimension == "value_tier" and report.policy_id == TIERS_ID
    assert "cut for" not in repr(report)  # explanations are personal
    assert f"customer_id='{a}'" in repr(report) and "direction='down'" in repr(report)


def test_direction_follows_the_ranking_given_or_the_policys(registry: Registry) -> None:
    buyer = add(registry, 1, [(3, "5")])
    prospect = add(registry, 2)

    class Buyers:
        policy_id = "buyers:v1"

        def grade(self, summary: ActivitySummary, *, as_of: datetime) -> Grade:
            label = "buyer" if summary.has_purchases else "prospect"
            return Grade(
                label=label,
                score=None,
                components={},
                reasons=[label],
                policy_id=self.policy_id,
                as_of=as_of,
            )

    regrade(registry, Buyers(), T0 - 4 * DAY, dimension="kind")
    report = regrade(registry, Buyers(), T0, dimension="kind")  # no ranking: "changed"
    assert [(m.customer_id, m.direction) for m in report.moves] == [(buyer, "changed")]
    assert report.counts == (("buyer", 1), ("prospect", 1))  # by label without a ranking
    back = regrade(
        registry, Buyers(), T0 - 4 * DAY, dimension="kind", ranking=["buyer", "prospect"]
    )
    assert [(m.customer_id, m.direction) for m in back.moves] == [(buyer, "down")]
    assert back.counts == (("prospect", 2),)
    assert labels(registry, "kind") == {buyer: "prospect", prospect: "prospect"}


def test_built_in_policies_rank_their_labels_best_first() -> None:
    assert TIERS.ranking == ("A", "B", "C", "D")
    assert ThresholdPolicy("recency_days", (30, 90), ("hot", "warm", "cold")).ranking == (
        "hot",
        "warm",
        "cold",
    )
    at = T0
    population = [ActivitySummary.empty("c-1")]
    stars = StarPolicy()
    assert stars.ranking == ("5 stars", "4 stars", "3 stars", "2 stars", "1 star")
    assert stars.fit(population, as_of=at).ranking == stars.ranking
    pareto = ParetoPolicy(basis="customers", labels=("X", "Y", "Z"))
    assert pareto.ranking == pareto.fit(population, as_of=at).ranking == ("X", "Y", "Z")
    assert ChurnPolicy().ranking == ("ok", "churn risk")
    assert getattr(RFMPolicy(), "ranking", None) is None  # segments have no order


# ------------------------------------------------------------------- paths through the tiers


def climb(registry: Registry) -> tuple[str, list[datetime]]:
    """A customer who climbs D -> C -> B -> A over four instants (and a bystander)."""
    cid = add(registry, 1, [(40, "50"), (30, "100"), (20, "1000")])
    add(registry, 2, [(45, "5")])
    return cid, [T0 - 42 * DAY, T0 - 35 * DAY, T0 - 25 * DAY, T0 - 15 * DAY]


def test_the_d_c_b_a_path_is_in_the_history_of_the_primary_grade(registry: Registry) -> None:
    cid, instants = climb(registry)
    reports = [regrade(registry, TIERS, at) for at in instants]
    path = [
        (h.old, h.new)
        for h in registry.customers.history(cid, actor=ADMIN)
        if h.action == "grade" and h.path == "grade"
    ]
    assert path == [(None, "D"), ("D", "C"), ("C", "B"), ("B", "A")]
    assert [r.upgrades for r in reports] == [0, 1, 1, 1]
    assert [r.transitions for r in reports] == [
        ((None, "C", 1), (None, "D", 1)),
        (("C", "C", 1), ("D", "C", 1)),
        (("C", "B", 1), ("C", "C", 1)),
        (("B", "A", 1), ("C", "C", 1)),
    ]


def test_the_d_c_b_a_path_of_a_dimension_is_stored(registry: Registry, store: Store) -> None:
    cid, instants = climb(registry)
    reports = [regrade(registry, TIERS, at, dimension="value_tier") for at in instants]
    moves = [
        (m.before, m.after, m.direction) for r in reports for m in r.moves if m.customer_id == cid
    ]
    assert moves == [(None, "D", "new"), ("D", "C", "up"), ("C", "B", "up"), ("B", "A", "up")]
    assert grading_history(store, cid) == [("grades.value_tier", TIERS_ID)] * 4
    trail = registry.audit.trail(actor=AUDITOR, customer_id=cid)
    assert [e.fields for e in trail if e.action == "customer.grade"] == [("grades.value_tier",)] * 4
    customer = registry.customers.get(cid, actor=ADMIN)
    assert customer.grade is None and customer.grade_in("value_tier") is not None
    assert customer.grade_in("value_tier").graded_at == instants[-1]  # type: ignore[union-attr]


def test_the_d_c_b_a_path_of_a_dimension_is_in_the_history(registry: Registry) -> None:
    cid, instants = climb(registry)
    for at in instants:
        regrade(registry, TIERS, at, dimension="value_tier")
    path = [
        (h.old, h.new)
        for h in registry.customers.history(cid, actor=ADMIN)
        if h.path == "grades.value_tier"
    ]
    assert path == [(None, "D"), ("D", "C"), ("C", "B"), ("B", "A")]


# ------------------------------------------------------------------------- counts, re-runs


def test_counts_per_grade_equal_a_brute_force_count(registry: Registry) -> None:
    for n in range(30):
        purchases = [(n % 7 + 1 + k, str((n * 37) % 500 + k)) for k in range(n % 4)]
        add(registry, n, purchases)
    policy = StarPolicy()
    report = regrade(registry, policy, T0, dimension="stars")
    stored = Counter(label for label in labels(registry, "stars").values() if label is not None)
    brute = Counter(fitted_labels(policy, registry, T0).values())
    assert stored == brute and sum(brute.values()) == 30
    ranked = [(label, brute[label]) for label in policy.ranking if brute[label]]
    assert report.counts == tuple(ranked)
    assert sum(n for _, _, n in report.transitions) == report.graded == 30


def test_rerunning_with_the_same_inputs_writes_nothing(registry: Registry, store: Store) -> None:
    ids = [add(registry, n, [(n, str(100 * n))]) for n in range(1, 5)] + [add(registry, 9)]
    policy = ParetoPolicy(basis="value")
    regrade(registry, policy, T0, dimension="pareto")

    def versions() -> list[tuple[int, int]]:
        with store.transaction(readonly=True) as session:
            rows = session.customers.get_many(ids)
            return [(r.version, len(session.history.list_for(r.id))) for r in rows]

    before = versions()
    again = regrade(registry, policy, T0, dimension="pareto")
    assert (again.changed, again.unchanged, again.moves) == (0, 5, ())
    assert all(b == a for b, a, _ in again.transitions)
    assert versions() == before


# ------------------------------------------------------------- summaries of every customer


def test_every_live_customer_has_a_summary_and_fits_as_the_lowest(registry: Registry) -> None:
    buyers = [add(registry, n, [(n, str(10 * n))]) for n in range(1, 4)]
    prospect = add(registry, 10)
    late = add(registry, 11)
    buy(registry, late, T0 + timedelta(seconds=5), "999")  # after as_of
    gone = add(registry, 12, [(1, "5")])
    registry.privacy.erase(gone, actor=ADMIN, reason="request")
    live = sorted([*buyers, prospect, late])
    summaries = list(registry.activities.summaries(as_of=T0, actor=ADMIN))
    assert [s.customer_id for s in summaries] == live
    by_id = {s.customer_id: s for s in summaries}
    for cid in (prospect, late):
        assert by_id[cid] == ActivitySummary.empty(cid)
        assert (by_id[cid].purchase_count, by_id[cid].total_spent) == (0, Decimal(0))
        assert by_id[cid].currency == "CNY"
    for policy, lowest in ((ParetoPolicy(basis="value"), "C"), (StarPolicy(), "1 star")):
        fitted = policy.fit(summaries, as_of=T0)
        assert fitted.population_size == len(live)
        assert fitted_labels(policy, registry, T0)[prospect] == lowest
    report = regrade(registry, ParetoPolicy(basis="value"), T0, dimension="pareto")
    assert report.graded == len(live)
    explained = {m.customer_id: m.explanation or "" for m in report.moves}
    assert f"on {len(live)} customers" in explained[prospect]
    assert labels(registry, "pareto")[prospect] == "C"
    # RFM leaves customers without purchases out of its fit and labels them apart.
    rfm = RFMPolicy().fit(summaries, as_of=T0)
    assert rfm.population_size == len(buyers)
    assert rfm.grade(by_id[prospect], as_of=T0).label == "no purchases"
