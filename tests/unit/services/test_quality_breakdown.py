"""registry.quality.breakdown: the quality report per operator and team, read from the store.

Five customers taken in by two operators and an administrator's import, reviewed, with tasks
done on time, late and not at all, and audited unmasked reads and exports; every expected figure
is counted by hand in the comments. Each test runs on a MemoryStore and an SQLiteStore.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from custrec import Actor, MemoryStore, Registry, SQLiteStore
from custrec.compliance import Disclose
from custrec.consent import CaptureChannel
from custrec.errors import AccessDenied, UnknownPurpose
from custrec.interchange import export_customers
from custrec.quality_breakdown import (
    AccessCounts,
    FollowUpTimeliness,
    Grouping,
    QualityBreakdown,
    ReviewTurnaround,
)
from custrec.storage import AuditRecord, Store
from custrec.testing import TickingClock

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
AS_OF = T0 + timedelta(days=10)
WEEK = timedelta(days=7)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)

OP1 = Actor(id="op-1", roles={"staff", "unmask", "export"}, team="north")
OP2 = Actor(id="op-2", roles={"staff"}, team="south")
ADMIN = Actor(id="adm-1", roles={"admin", "unmask"}, team="hq")
AUDITOR = Actor(id="aud-1", roles={"auditor"})


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "q.sqlite")
    yield s
    s.close()


@pytest.fixture
def clock(t0: datetime) -> TickingClock:
    """A clock that stands still until the test moves it."""
    return TickingClock(t0, step=timedelta(0))


def person(name: str, phone: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "individual", "name": name, "contacts": [{"phones": [phone]}], **extra}


@attrs.frozen
class Population:
    """The customers' ids."""

    a: str
    b: str
    c: str
    d: str
    e: str


def population(registry: Registry, clock: TickingClock) -> Population:
    # T0: op-1 takes a and b in for review; the administrator imports c and d (one customer
    # twice, for op-2's team south); op-2 takes e in
    a = registry.customers.intake(person("李雷", "13900000001"), actor=OP1, review=True).id
    b = registry.customers.intake(person("韩梅梅", "13900000002"), actor=OP1, review=True).id
    twins = [
        person("王强", "13900000003", owner="op-2", team="south", contacts=[
            {"phones": ["13900000003"], "emails": ["wq@example.com"]}
        ])
        for _ in range(2)
    ]  # fmt: skip
    imported = registry.customers.intake_many(twins, actor=ADMIN, allow_duplicates=True)
    c, d = imported.added
    e = registry.customers.intake(person("赵六", "13900000005"), actor=OP2).id
    due = {"due_at": T0 + DAY}
    on_time = registry.tasks.create({"customer_id": a, **due}, actor=OP1)
    late = registry.tasks.create({"customer_id": a, **due}, actor=OP1)
    registry.tasks.create({"customer_id": e, "due_at": T0 + 2 * DAY}, actor=OP2)  # overdue
    registry.tasks.create({"customer_id": c, "due_at": T0 + 20 * DAY}, actor=ADMIN)  # not due
    dropped = registry.tasks.create({"customer_id": c, "due_at": T0 + DAY}, actor=ADMIN)
    registry.tasks.cancel(dropped.id, actor=ADMIN)
    clock.advance(hours=2)  # T0 + 2h: a approved after 2 hours
    registry.review.approve(a, actor=ADMIN, reason="documents checked")
    clock.advance(hours=10)  # T0 + 12h: done before its due instant
    registry.tasks.complete(on_time.id, actor=OP1)
    clock.advance(days=2, hours=12)  # T0 + 3d: done two days late
    registry.tasks.complete(late.id, actor=OP1)
    clock.advance(days=2)  # T0 + 5d: b approved after 5 days
    registry.review.approve(b, actor=ADMIN, reason="documents checked")
    registry.customers.get(a, actor=OP1)  # unmasked read 1 of op-1
    registry.customers.get(b, actor=OP1)  # 2
    registry.customers.history(a, actor=OP1)  # 3 (history, unmasked)
    registry.privacy.export_subject(a, actor=OP1)  # op-1's export
    registry.customers.get(e, actor=OP2)  # masked: not counted
    registry.customers.get(c, actor=ADMIN)  # the administrator's unmasked read
    return Population(a=a, b=b, c=c, d=d, e=e)


def breakdown(registry: Registry, by: str, **options: Any) -> QualityBreakdown:
    arguments: dict[str, Any] = {"as_of": AS_OF, "stale_after": WEEK}
    arguments.update(options)
    return registry.quality.breakdown(actor=AUDITOR, by=by, **arguments)


def audit_entries(store: Store) -> list[AuditRecord]:
    with store.transaction(readonly=True) as session:
        return session.audit.read(limit=100_000)


# -------------------------------------------------------------------------- hand-computed


def test_by_owner_as_computed_by_hand(registry: Registry, clock: TickingClock) -> None:
    population(registry, clock)
    result = breakdown(registry, "owner")
    assert [(g.key, g.quality.total) for g in result.groups] == [("op-1", 2), ("op-2", 3)]
    op1, op2 = result.groups
    # op-1: a approved at T0+2h is 9d22h old at as_of (stale after a week), b (T0+5d) fresh
    assert (op1.quality.stale, op1.quality.duplicates, op1.quality.valid_records) == (1, 0, 2)
    assert op1.review == ReviewTurnaround(approved=2, median=2 * HOUR, p90=5 * DAY, longest=5 * DAY)
    assert op1.follow_up == FollowUpTimeliness(on_time=1, late=1, overdue=0, not_due=0, cancelled=0)
    assert op1.access == AccessCounts(unmask_reads=3, exports=1)
    # op-2: c, d (one of them a redundant duplicate) and e, none verified, none approved
    assert (op2.quality.stale, op2.quality.duplicates, op2.quality.valid_records) == (3, 1, 3)
    assert op2.review == ReviewTurnaround(approved=0, median=None, p90=None, longest=None)
    assert op2.follow_up == FollowUpTimeliness(on_time=0, late=0, overdue=1, not_due=1, cancelled=1)
    assert op2.access == AccessCounts(unmask_reads=0, exports=0)  # e's read was masked
    assert result.overall.access == AccessCounts(unmask_reads=4, exports=1)  # + the admin's
    assert [(a.actor_id, a.access.unmask_reads) for a in result.actors or ()] == [
        ("adm-1", 1),
        ("op-1", 3),
    ]
    assert result.overall.follow_up is not None and result.overall.follow_up.due == 3


def test_by_entered_by_imports_count_for_the_importer(
    registry: Registry, clock: TickingClock
) -> None:
    population(registry, clock)
    result = breakdown(registry, "entered_by")
    assert [(g.key, g.quality.total) for g in result.groups] == [
        ("adm-1", 2),  # the import
        ("op-1", 2),
        ("op-2", 1),
    ]
    adm, op1, op2 = result.groups
    assert adm.quality.duplicates == 1
    assert adm.follow_up == FollowUpTimeliness(on_time=0, late=0, overdue=0, not_due=1, cancelled=1)
    assert adm.access == AccessCounts(unmask_reads=1, exports=0)
    assert op1.review is not None and op1.review.approved == 2
    assert op2.follow_up is not None and op2.follow_up.overdue == 1


def test_by_team_with_the_actors_teams(registry: Registry, clock: TickingClock) -> None:
    population(registry, clock)
    teams = {"op-1": "north", "op-2": "south", "adm-1": "hq"}
    result = breakdown(registry, "team", actor_teams=teams)
    assert [(g.key, g.quality.total) for g in result.groups] == [("north", 2), ("south", 3)]
    north, south = result.groups
    assert north.access == AccessCounts(unmask_reads=3, exports=1)
    assert south.access == AccessCounts(unmask_reads=0, exports=0)
    assert "other actors" in result.to_table()  # the administrator, of team hq
    assert all(g.access is None for g in breakdown(registry, "team").groups)


def test_a_merged_record_is_not_counted_and_the_survivor_keeps_its_creator(
    registry: Registry, clock: TickingClock
) -> None:
    people = population(registry, clock)
    registry.matching.merge(people.c, [people.d], actor=ADMIN, reason="the same person")
    result = breakdown(registry, "entered_by", duplicates=False)
    assert result.group("adm-1").quality.total == 1
    assert result.overall.quality.total == 4


def test_the_groups_add_up_to_the_whole_store_report(
    registry: Registry, clock: TickingClock
) -> None:
    population(registry, clock)
    report = registry.quality.report(actor=AUDITOR, as_of=AS_OF, stale_after=WEEK)
    for by in Grouping:
        result = breakdown(registry, by)
        assert result.overall.quality == report
        assert sum(g.quality.total for g in result.groups) == report.total == 5
        assert sum(g.quality.stale for g in result.groups) == report.stale == 4
        assert sum(g.quality.duplicates or 0 for g in result.groups) == report.duplicates == 1
        assert sum(g.quality.valid_records for g in result.groups) == report.valid_records
        assert sum(g.quality.filled for g in result.groups) == report.filled


def test_an_as_of_before_the_work_was_done(registry: Registry, clock: TickingClock) -> None:
    population(registry, clock)
    result = breakdown(registry, "owner", as_of=T0 + 2 * DAY)
    op1 = result.group("op-1")
    # at T0+2d: b is not approved yet, the late task is still open and overdue
    assert op1.review is not None and op1.review.approved == 1
    assert op1.follow_up == FollowUpTimeliness(on_time=1, late=0, overdue=1, not_due=0, cancelled=0)
    assert op1.access == AccessCounts(unmask_reads=0, exports=0)  # the reads came at T0+5d


def test_access_since_and_access_off(registry: Registry, clock: TickingClock) -> None:
    population(registry, clock)
    later = breakdown(registry, "owner", access_since=T0 + 6 * DAY)
    assert later.overall.access == AccessCounts(unmask_reads=0, exports=0)
    off = breakdown(registry, "owner", access=False)
    assert off.actors is None and all(g.access is None for g in off.groups)


def test_a_disclosure_counts_as_an_export_of_each_customer_sent(
    registry: Registry, tmp_path: Path
) -> None:
    sender = Actor(id="op-9", roles={"staff", "unmask", "export", "compliance"})
    a = registry.customers.intake(person("李雷", "13900000001"), actor=sender).id
    registry.consent.grant(a, "third_party", actor=sender, channel=CaptureChannel.WEB_FORM)
    registry.disclosures.register_recipient(
        "sf", name="SF", contact="privacy@sf.example", contract="DPA-1", country="CN", actor=sender
    )
    export_customers(
        registry,
        tmp_path / "out.jsonl",
        actor=sender,
        disclose=Disclose(recipient="sf", purpose="third_party"),
    )
    result = registry.quality.breakdown(actor=AUDITOR, by="entered_by", duplicates=False)
    assert result.group("op-9").access == AccessCounts(unmask_reads=0, exports=1)


def test_the_table_and_dict_hold_no_personal_data(registry: Registry, clock: TickingClock) -> None:
    people = population(registry, clock)
    result = breakdown(registry, "owner")
    text = result.to_table() + repr(result.to_dict()) + repr(result)
    for value in ("李雷", "韩梅梅", "王强", "赵六", "1390000", "example.com"):
        assert value not in text
    for customer_id in attrs.astuple(people):
        assert customer_id not in text
    assert result.to_table().splitlines()[0] == (
        "Data quality by owner as of 2025-03-11T08:00:00+00:00: 5 customers in 2 groups"
    )


# -------------------------------------------------------------------- rights and auditing


def test_it_needs_reading_everyone_and_the_audit_log(
    registry: Registry, clock: TickingClock, store: Store
) -> None:
    population(registry, clock)
    with pytest.raises(AccessDenied):
        registry.quality.breakdown(actor=OP1, by="owner")
    with pytest.raises(AccessDenied):  # reads everyone, but not the audit log
        registry.quality.breakdown(actor=ADMIN, by="owner")
    denied = [(e.actor_id, e.action) for e in audit_entries(store) if e.outcome == "denied"]
    assert denied == [
        ("op-1", "denied.read"),
        ("adm-1", "denied.audit_read"),
    ]
    without_access = registry.quality.breakdown(
        actor=ADMIN, by="owner", as_of=AS_OF, stale_after=WEEK, access=False
    )
    assert without_access.overall.quality == breakdown(registry, "owner").overall.quality


def test_it_is_audited(registry: Registry, clock: TickingClock, store: Store) -> None:
    population(registry, clock)
    before = len(audit_entries(store))
    breakdown(registry, "team", duplicates=False)
    new = [(e.actor_id, e.action, e.reason) for e in audit_entries(store)[before:]]
    assert new == [
        ("aud-1", "customer.quality_breakdown", "by team"),
        ("aud-1", "audit.read", "unmask and export counts"),
    ]
    before = len(audit_entries(store))
    breakdown(registry, "owner", duplicates=False, access=False)
    assert [e.action for e in audit_entries(store)[before:]] == ["customer.quality_breakdown"]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"by": "boss"}, ValueError, "by must be one of"),
        ({"by": None}, TypeError, "by must be a string"),
        ({"as_of": datetime(2025, 3, 1)}, ValueError, "timezone-aware"),
        ({"access_since": datetime(2025, 3, 1)}, ValueError, "timezone-aware"),
        ({"access_since": T0, "access": False}, ValueError, "access=True"),
        ({"access_since": AS_OF + HOUR, "as_of": AS_OF}, ValueError, "after as_of"),
        ({"access_since": T0 + 60 * DAY}, ValueError, "after as_of"),  # as_of: now
        ({"actor_teams": {"op-1": "north"}}, ValueError, "by='team'"),
        ({"by": "team", "actor_teams": {"op-1": 1}}, TypeError, "actor_teams"),
        ({"stale_after": -DAY}, ValueError, "negative"),
        ({"purposes": ["no.such.purpose"]}, UnknownPurpose, "no.such.purpose"),
        ({"batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_bad_input_raises_before_anything_is_written(
    registry: Registry, store: Store, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    registry.customers.intake(person("李雷", "13900000001"), actor=OP1)
    before = audit_entries(store)
    arguments: dict[str, Any] = {"by": "owner", **options}
    with pytest.raises(error, match=message):
        registry.quality.breakdown(actor=AUDITOR, **arguments)
    assert audit_entries(store) == before
