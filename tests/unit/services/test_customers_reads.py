"""Reads keep their promises: pages lose nobody, look-ups are authorised and audited, facets are
checked, summaries cover every customer, and the audit trail reads from either end.

The type checker run on a misspelt facet and an export file after a merge are in
tests/integration/services/test_customers_reads_files.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.consent import CaptureChannel
from custrec.grading import ActivitySummary
from custrec.model.records import LifecycleStage, RecordState
from custrec.security import Action, Resource, RoleBasedPolicy
from custrec.services import IdentifyResult
from custrec.storage import HIDDEN_STATES
from custrec.testing import TickingClock

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
ADMIN = Actor(id="admin", roles={"admin", "unmask", "erase"})
AUDITOR = Actor(id="aud", roles={"auditor"})


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"孙{n}",
        "contacts": [{"phones": [f"1350000{n:04d}"], "emails": [f"s{n}@example.cn"]}],
        **extra,
    }


def new_registry() -> Registry:
    """A registry over a store of its own: the property test below builds one per example."""
    return Registry(MemoryStore(), keyring=KeyRing.generate(), clock=TickingClock(T0))


# ---------------------------------------------------- paging filters before it limits


OWNERS = ("u1", "u2", "u3")
TEAMS = ("east", "west")
STAGES = ("lead", "active", "churned")
ROLE_SETS = (
    (),
    ("staff",),
    ("staff", "unmask"),
    ("manager",),
    ("admin",),
    ("auditor",),
    ("staff", "auditor"),
)


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    customers = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "owner": st.sampled_from(OWNERS),
                    "team": st.none() | st.sampled_from(TEAMS),
                    "stage": st.sampled_from(STAGES),
                    "fate": st.sampled_from(("live", "live", "live", "archived", "erased")),
                    "consents": st.booleans(),
                }
            ),
            min_size=0,
            max_size=18,
        )
    )
    merges = draw(st.integers(0, 2))
    actor = Actor(
        id=draw(st.sampled_from((*OWNERS, "u9"))),
        roles=set(draw(st.sampled_from(ROLE_SETS))),
        team=draw(st.none() | st.sampled_from(TEAMS)),
    )
    limit = draw(st.integers(1, 6))
    stage = draw(st.none() | st.sampled_from(STAGES))
    return {
        "customers": customers,
        "merges": merges,
        "actor": actor,
        "limit": limit,
        "stage": stage,
    }


def build(world: dict[str, Any]) -> Registry:
    registry = new_registry()
    ids: list[str] = []
    for n, spec in enumerate(world["customers"]):
        c = registry.customers.intake(
            person(n, owner=spec["owner"], team=spec["team"], stage=spec["stage"]), actor=ADMIN
        )
        ids.append(c.id)
        if spec["consents"]:
            registry.consent.grant(c.id, "marketing.sms", actor=ADMIN, channel=CaptureChannel.APP)
        if spec["fate"] == "archived":
            registry.customers.update(c.id, {"state": "archived"}, actor=ADMIN, reason="quiet")
        elif spec["fate"] == "erased":
            registry.privacy.erase(c.id, actor=ADMIN, reason="request")
    live = [i for i, spec in zip(ids, world["customers"], strict=True) if spec["fate"] != "erased"]
    for k in range(min(world["merges"], len(live) // 2)):
        registry.matching.merge(live[2 * k], [live[2 * k + 1]], actor=ADMIN, reason="same person")
    return registry


def brute_force(registry: Registry, actor: Actor, stage: str | None) -> list[str]:
    """The readable customers matching the facets, worked out row by row."""
    policy = RoleBasedPolicy()
    with registry._context.store.transaction(readonly=True) as session:
        rows = session.customers.query(limit=10_000)
    return sorted(
        row.id
        for row in rows
        if row.state not in HIDDEN_STATES
        and (stage is None or row.stage == stage)
        and policy.decide(actor, Action.READ, Resource.of(row)).allowed
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(world=worlds())
def test_paged_reads_visit_every_readable_customer_exactly_once(world: dict[str, Any]) -> None:
    registry = build(world)
    actor, limit = world["actor"], world["limit"]
    facets: dict[str, Any] = {} if world["stage"] is None else {"stage": world["stage"]}
    expected = brute_force(registry, actor, world["stage"])

    pages: list[list[str]] = []
    after: str | None = None
    while True:
        page = [
            c.id for c in registry.customers.query(actor=actor, after=after, limit=limit, **facets)
        ]
        pages.append(page)
        if len(page) < limit:
            break
        after = page[-1]
    assert [i for page in pages for i in page] == expected
    assert all(len(page) == limit for page in pages[:-1])  # only the last page is short

    batches = [
        [c.id for c in b]
        for b in registry.customers.batches(actor=actor, batch_size=limit, **facets)
    ]
    assert [i for b in batches for i in b] == expected
    assert all(len(b) == limit for b in batches[:-1]) and all(batches)
    assert registry.customers.count(actor=actor, batch_size=limit, **facets) == len(expected)

    granted = {
        c.id
        for c in registry.customers.query(actor=ADMIN, limit=1000)
        if registry.consent.may_use(c.id, "marketing.sms", actor=ADMIN).allowed
    }
    everyone = brute_force(registry, actor, None)
    assert list(registry.consent.audience("marketing.sms", actor=actor, batch_size=limit)) == [
        i for i in everyone if i in granted
    ]


def test_a_staff_member_pages_through_their_own_customers_among_many_others() -> None:
    registry = new_registry()
    mine = []
    for n in range(60):
        owner = "u1" if n % 12 == 5 else "u2"
        c = registry.customers.intake(person(n, owner=owner), actor=ADMIN)
        if owner == "u1":
            mine.append(c.id)
    staff = Actor(id="u1", roles={"staff"})
    assert len(mine) == 5
    assert [c.id for c in registry.customers.query(actor=staff, limit=1)] == mine[:1]
    assert [c.id for c in registry.customers.query(actor=staff, limit=5)] == mine
    seen, after = [], None
    while page := registry.customers.query(actor=staff, after=after, limit=2):
        seen += [c.id for c in page]
        after = page[-1].id
    assert seen == mine


# ------------------------------------------------------------- identify reads like a read


def test_identify_names_only_customers_the_actor_may_read_and_audits_each() -> None:
    registry = new_registry()
    mine = registry.customers.intake(person(1, owner="u1"), actor=ADMIN)
    other = registry.customers.intake(person(2, owner="u2"), actor=ADMIN)
    keys = [("phone", "+8613500000001"), ("phone", "+8613500000002")]

    nobody = Actor(id="x", roles=set())
    assert (
        registry.customers.identify(keys, actor=nobody, ids=[mine.id, other.id]) == IdentifyResult()
    )
    staff = Actor(id="u1", roles={"staff"})
    found = registry.customers.identify(keys, actor=staff, ids=[mine.id, other.id])
    holders, existing = found.holders, found.existing
    assert holders == {("phone", "+8613500000001"): (mine.id,)}
    assert existing == {mine.id}
    found = registry.customers.identify(keys, actor=ADMIN, ids=[other.id])
    holders, existing = found.holders, found.existing
    assert holders == {keys[0]: (mine.id,), keys[1]: (other.id,)} and existing == {other.id}

    trail = registry.audit.trail(actor=AUDITOR)
    looked_up = [
        (e.actor_id, e.customer_id, e.fields) for e in trail if e.action == "customer.identify"
    ]
    assert looked_up == [
        ("x", None, ("phone",)),
        ("u1", None, ("phone",)),
        ("u1", mine.id, ("id", "phone")),  # named by a phone, and confirmed among the ids
        ("admin", None, ("phone",)),
        ("admin", mine.id, ("phone",)),
        ("admin", other.id, ("id", "phone")),
    ]


# ------------------------------------------------------------------ facets are checked


@pytest.mark.parametrize(
    ("facets", "allowed"),
    [
        ({"stage": "activ"}, "lead, prospect, new, active, dormant, churned, archived"),
        ({"stage": "ACTIVE"}, "lead, prospect"),
        ({"kind": "person"}, "individual, organization"),
        ({"state": "erased"}, "live, archived, restricted"),
    ],
)
def test_an_unknown_facet_value_is_refused_naming_the_allowed_ones(
    facets: dict[str, Any], allowed: str
) -> None:
    registry = new_registry()
    registry.customers.intake(person(1, stage="active"), actor=ADMIN)
    for read in (registry.customers.query, registry.customers.count):
        with pytest.raises(ValueError, match=allowed):
            read(actor=ADMIN, **facets)
    with pytest.raises(ValueError, match=allowed):
        next(registry.customers.batches(actor=ADMIN, **facets))


def test_a_misspelt_facet_is_refused_naming_the_facets() -> None:
    registry = new_registry()
    for read in (registry.customers.query, registry.customers.count):
        with pytest.raises(TypeError, match="unknown facet 'stge'; the facets are: kind, stage"):
            read(actor=ADMIN, stge="active")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unknown facet"):
        next(registry.customers.batches(actor=ADMIN, stge="active"))  # type: ignore[call-arg]


def test_facets_take_enums_and_their_values_alike() -> None:
    registry = new_registry()
    c = registry.customers.intake(person(1, stage="active"), actor=ADMIN)
    assert [x.id for x in registry.customers.query(actor=ADMIN, stage=LifecycleStage.ACTIVE)] == [
        c.id
    ]
    assert [x.id for x in registry.customers.query(actor=ADMIN, stage="active")] == [c.id]
    assert registry.customers.count(actor=ADMIN, state=RecordState.LIVE, kind="individual") == 1
    with pytest.raises(ValueError, match="timezone-aware"):
        registry.customers.query(actor=ADMIN, updated_after=datetime(2026, 1, 1))


# ------------------------------------------------- summaries cover the whole population


def test_activity_summaries_include_customers_without_purchases() -> None:
    registry = new_registry()
    buyer = registry.customers.intake(person(1), actor=ADMIN)
    prospect = registry.customers.intake(person(2), actor=ADMIN)
    gone = registry.customers.intake(person(3), actor=ADMIN)
    registry.activities.record_transaction(
        {
            "customer_id": buyer.id,
            "occurred_at": T0,
            "amount": {"amount": "120.00", "currency": "CNY"},
        },
        actor=ADMIN,
    )
    registry.privacy.erase(gone.id, actor=ADMIN, reason="request")
    summaries = list(
        registry.activities.summaries(as_of=T0 + timedelta(days=1), actor=ADMIN, batch_size=1)
    )
    assert [s.customer_id for s in summaries] == [buyer.id, prospect.id]
    assert summaries[0].purchase_count == 1
    assert summaries[1] == ActivitySummary.empty(prospect.id)


# ---------------------------------------------------------- the audit trail, newest first


def test_audit_trail_reads_the_newest_entries_first_when_asked() -> None:
    registry = new_registry()
    c = registry.customers.intake(person(1), actor=ADMIN)
    for _ in range(7):
        registry.customers.get(c.id, actor=ADMIN)
    with registry._context.store.transaction(readonly=True) as session:
        everything = [e.seq for e in session.audit.read(customer_id=c.id)]
    assert len(everything) == 8  # the creation and seven reads
    newest = registry.audit.trail(actor=AUDITOR, customer_id=c.id, limit=5, newest_first=True)
    assert [e.seq for e in newest] == everything[::-1][:5]
    oldest = registry.audit.trail(actor=AUDITOR, customer_id=c.id, limit=5)
    assert [e.seq for e in oldest] == everything[:5]


def lose_key(registry: Registry, customer_id: str) -> None:
    """What a database restored from a backup taken before an erasure looks like: the record
    is there, its data key is not."""
    with registry._context.store.transaction() as session:
        assert session.keys.delete(customer_id)
        session.commit()


def test_pages_stay_full_when_a_record_has_lost_its_key() -> None:
    registry = new_registry()
    ids = [registry.customers.intake(person(n), actor=ADMIN).id for n in range(30)]
    lose_key(registry, ids[2])
    readable = [i for i in ids if i != ids[2]]
    first = registry.customers.query(actor=ADMIN, limit=5)
    assert [c.id for c in first] == readable[:5]
    batches = list(registry.customers.batches(actor=ADMIN, batch_size=5))
    assert [c.id for b in batches for c in b] == readable
    assert [len(b) for b in batches] == [5, 5, 5, 5, 5, 4]
    assert list(registry.consent.audience("marketing.sms", actor=ADMIN, batch_size=5)) == []


def test_identify_audits_every_customer_it_confirms_by_id() -> None:
    registry = new_registry()
    a = registry.customers.intake(person(1), actor=ADMIN)
    gone = registry.customers.intake(person(2), actor=ADMIN)
    registry.privacy.erase(gone.id, actor=ADMIN, reason="request")
    found = registry.customers.identify([], actor=ADMIN, ids=[a.id, gone.id, "nobody"])
    holders, existing = found.holders, found.existing
    assert holders == {} and existing == {a.id, gone.id}
    trail = registry.audit.trail(actor=AUDITOR, limit=3, newest_first=True)
    named = {(e.customer_id, e.fields) for e in trail if e.action == "customer.identify"}
    assert named == {(a.id, ("id",)), (gone.id, ("id",)), (None, ())}
