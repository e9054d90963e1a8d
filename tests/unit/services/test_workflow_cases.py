"""Service cases: moves, response-time targets on a business calendar, escalation, lists."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from custrec import Actor, Registry
from custrec.errors import AccessDenied, InvalidTransition, ValidationFailed, VersionConflict
from custrec.testing import TickingClock
from custrec.workflow import (
    BusinessCalendar,
    CaseStatus,
    SlaPolicy,
    SlaRule,
    SlaTarget,
    WorkflowSettings,
)

from .conftest import MakeRegistry

SHANGHAI = 8  # UTC+8, no daylight saving
# Friday 2026-10-09, 17:00 in Shanghai; Monday 10-12 is a holiday in this calendar.
FRIDAY_17 = datetime(2026, 10, 9, 17 - SHANGHAI, 0, tzinfo=UTC)
T0 = FRIDAY_17
CALENDAR = BusinessCalendar(zone="Asia/Shanghai", holidays=frozenset({date(2026, 10, 12)}))
POLICY = SlaPolicy(
    id="service-2026",
    rules=(
        SlaRule(
            grade="A",
            target=SlaTarget(first_response=timedelta(hours=2), resolution=timedelta(hours=18)),
            escalate_to="team-lead",
        ),
        SlaRule(target=SlaTarget(first_response=timedelta(hours=8))),
    ),
    time=CALENDAR,
)
ADMIN = Actor(id="admin-1", roles={"admin", "unmask", "sync"})
STAFF = Actor(id="s-1", roles={"staff"}, team="north")
OTHER_STAFF = Actor(id="s-2", roles={"staff"}, team="north")
LEAD = Actor(id="m-1", roles={"manager"}, team="north")


@pytest.fixture
def clock(t0: datetime) -> TickingClock:
    """A clock that stands still unless advanced (deadlines are pinned to the second)."""
    return TickingClock(t0, step=timedelta(0))


@pytest.fixture
def registry(make: MakeRegistry) -> Registry:
    return make(workflow=WorkflowSettings(sla=POLICY))


def _customer(registry: Registry, grade: str = "A", **extra: Any) -> str:
    data = {
        "kind": "individual",
        "name": "韩梅梅",
        "grade": grade,
        "owner": "s-1",
        "team": "north",
        "contacts": [{"emails": [f"{grade.lower()}{len(extra)}@example.com"]}],
    }
    data.update(extra)
    return registry.customers.intake(data, actor=ADMIN).id


def test_an_a_customers_case_breaches_after_two_business_hours_across_a_weekend_and_a_holiday(
    registry: Registry, clock: TickingClock
) -> None:
    case = registry.cases.open(
        {"customer_id": _customer(registry), "kind": "complaint"}, actor=ADMIN
    )
    # one hour on Friday (17:00-18:00), the weekend and Monday's holiday off, one more hour
    # on Tuesday from 09:00: due Tuesday 10:00 in Shanghai
    tuesday_10 = datetime(2026, 10, 13, 10 - SHANGHAI, 0, tzinfo=UTC)
    assert case.first_response_due == tuesday_10
    assert case.warn_at == datetime(2026, 10, 13, 9 - SHANGHAI, 36, tzinfo=UTC)  # 80 %
    clock.advance(seconds=(tuesday_10 - T0).total_seconds())
    # at 10:00 itself an answer is still on time: neither overdue nor escalated
    assert registry.cases.escalate(actor=ADMIN) == []
    assert registry.cases.overdue(actor=ADMIN).items == ()
    clock.advance(seconds=1)
    (escalated,) = registry.cases.escalate(actor=ADMIN)
    assert escalated[0] == case.id
    assert (escalated[1].target, escalated[1].to, escalated[1].at) == (
        "first_response",
        "team-lead",
        tuesday_10 + timedelta(seconds=1),
    )
    clock.advance(hours=5)
    assert registry.cases.escalate(actor=ADMIN) == []  # exactly once
    stored = registry.cases.get(case.id, actor=ADMIN)
    assert stored.breached == ("first_response",)
    assert len(stored.escalations) == 1
    (item,) = registry.cases.listed(actor=ADMIN, breached=True)[0]
    assert (item.id, item.breached, item.due_at) == (case.id, True, tuesday_10)


def test_a_case_waiting_on_the_customer_does_not_breach_and_its_deadline_moves_by_the_wait(
    registry: Registry, clock: TickingClock
) -> None:
    case = registry.cases.open({"customer_id": _customer(registry)}, actor=ADMIN)
    clock.advance(minutes=30)  # Friday 17:30: the first response
    case = registry.cases.transition(case.id, "in_progress", actor=ADMIN)
    # resolution: 18 business hours = Friday's 1 h + Tuesday 9 h + Wednesday 8 h -> Wed 17:00
    assert case.resolution_due == datetime(2026, 10, 14, 17 - SHANGHAI, 0, tzinfo=UTC)
    clock.advance(minutes=15)  # Friday 17:45: ask the customer, the clock stops
    case = registry.cases.transition(
        case.id, "waiting_on_customer", actor=ADMIN, reason="needs invoice number"
    )
    assert case.resolution_due is None
    clock.advance(days=30)
    assert registry.cases.escalate(actor=ADMIN) == []
    assert registry.cases.overdue(actor=ADMIN).items == ()
    assert registry.cases.get(case.id, actor=ADMIN).breached == ()
    # Sunday 2026-11-08 17:45 in Shanghai: the customer answers. 45 minutes were counted
    # before the wait; the 17 h 15 min left run Monday 09:00-18:00 (9 h) and Tuesday from
    # 09:00 (8 h 15 min): due Tuesday 2026-11-10 17:15
    case = registry.cases.transition(case.id, "in_progress", actor=ADMIN)
    assert case.resolution_due == datetime(2026, 11, 10, 17 - SHANGHAI, 15, tzinfo=UTC)


def test_moves_follow_the_transition_table_and_keep_their_story(
    registry: Registry, clock: TickingClock
) -> None:
    case = registry.cases.open({"customer_id": _customer(registry, grade="C")}, actor=ADMIN)
    with pytest.raises(InvalidTransition, match="cannot move from open to reopened"):
        registry.cases.transition(case.id, CaseStatus.REOPENED, actor=ADMIN)
    with pytest.raises(ValueError, match="unknown case status"):
        registry.cases.transition(case.id, "done", actor=ADMIN)
    clock.advance(minutes=5)
    case = registry.cases.transition(case.id, "resolved", actor=ADMIN, reason="replaced part")
    assert case.first_response_at == case.resolved_at == T0 + timedelta(minutes=5)
    clock.advance(minutes=5)
    case = registry.cases.transition(case.id, "reopened", actor=ADMIN, reason="broke again")
    assert case.resolved_at is None and case.reopen_count == 1
    case = registry.cases.transition(case.id, "closed", actor=ADMIN, satisfaction=2)
    assert [(t.from_status, t.to_status.value, t.actor_id) for t in case.transitions] == [
        (None, "open", "admin-1"),
        (CaseStatus.OPEN, "resolved", "admin-1"),
        (CaseStatus.RESOLVED, "reopened", "admin-1"),
        (CaseStatus.REOPENED, "closed", "admin-1"),
    ]
    assert registry.customers.get(case.customer_id, actor=ADMIN).milestones.satisfaction == 2
    with pytest.raises(VersionConflict):
        registry.cases.transition(case.id, "reopened", actor=ADMIN, expected_version=1)
    with pytest.raises(ValueError, match="when a case closes"):
        registry.cases.transition(case.id, "reopened", actor=ADMIN, satisfaction=3)


def test_bad_cases_are_refused_with_their_field(registry: Registry, clock: TickingClock) -> None:
    cid = _customer(registry)
    with pytest.raises(ValidationFailed) as raised:
        registry.cases.open(
            {"customer_id": cid, "opened_at": T0 + timedelta(days=1), "priority": "asap"},
            actor=ADMIN,
        )
    assert {i.path for i in raised.value.report.issues} >= {"priority"}
    with pytest.raises(ValidationFailed, match="opened_at"):
        registry.cases.open({"customer_id": cid, "opened_at": T0 + timedelta(days=1)}, actor=ADMIN)
    with pytest.raises(ValueError, match="set by the case service"):
        registry.cases.open({"customer_id": cid, "status": "closed"}, actor=ADMIN)


def test_access_follows_the_customer_and_the_assignment(registry: Registry) -> None:
    cid = _customer(registry)
    case = registry.cases.open(
        {"customer_id": cid, "description": "客户说设备漏水", "subject": "漏水"}, actor=ADMIN
    )
    shown = registry.cases.get(case.id, actor=STAFF)  # the owner: masked without unmask
    assert shown.description != "客户说设备漏水"
    with pytest.raises(AccessDenied):
        registry.cases.get(case.id, actor=Actor(id="x", roles={"staff"}, team="south"))
    with pytest.raises(AccessDenied):
        registry.cases.transition(
            case.id, "in_progress", actor=Actor(id="x", roles={"staff"}, team="south")
        )
    everything = {i.id for i in registry.cases.listed(actor=ADMIN)[0]}
    assert {i.id for i in registry.cases.listed(actor=STAFF)[0]} == everything == {case.id}
    assert registry.cases.listed(actor=OTHER_STAFF)[0] == []  # not assigned to them
    assert [i.id for i in registry.cases.listed(actor=LEAD)[0]] == [case.id]  # their team


def test_analytics_give_medians_p90_and_rates_as_data(
    registry: Registry, clock: TickingClock
) -> None:
    cid = _customer(registry, grade="Z")  # only the 8-hour catch-all target
    minutes = [10, 20, 30, 40]
    for wait in minutes:
        case = registry.cases.open({"customer_id": cid, "category": "billing"}, actor=ADMIN)
        clock.advance(minutes=wait)
        registry.cases.transition(case.id, "in_progress", actor=ADMIN)
        registry.cases.transition(case.id, "closed", actor=ADMIN, satisfaction=wait // 10)
    (overall,) = registry.cases.stats(actor=ADMIN)
    assert overall.cases == 4
    # each case opens when the previous one closed, from Friday 17:00: the answers come after
    # 10, 20, 30 and 40 minutes, but the calendar closes at 18:00, so the last one (18:00 to
    # 18:40) counts no business time: 0, 10, 20, 30 minutes. Median: (10 + 20) / 2; p90: the
    # value at rank ceil(0.9 * 4) = 4. Closing at the answer makes resolution the same.
    assert overall.first_response_median == timedelta(minutes=15)
    assert overall.first_response_p90 == timedelta(minutes=30)
    assert overall.resolution_median == timedelta(minutes=15)
    assert (overall.breach_rate, overall.reopen_rate) == (0.0, 0.0)
    assert (overall.satisfaction, overall.rated) == (2.5, 4)
    (by_category,) = registry.cases.stats(actor=ADMIN, by="category")
    assert by_category.group == "billing"
    with pytest.raises(ValueError, match="by must be one of"):
        registry.cases.stats(actor=ADMIN, by="colour")


def test_the_transition_table_in_the_docs_is_the_one_the_cases_follow() -> None:
    from pathlib import Path

    from custrec.workflow import CASE_TRANSITIONS

    text = (Path(__file__).parents[3] / "docs" / "workflow.md").read_text(encoding="utf-8")
    table = {}
    for line in text.splitlines():
        if "──>" in line:
            source, targets = (part.strip() for part in line.split("──>"))
            table[source] = {t.strip() for t in targets.split(",")}
    assert table == {s.value: {t.value for t in ts} for s, ts in CASE_TRANSITIONS.items()}


def test_case_statistics_split_periods_by_the_opening_day_in_the_zone_asked(
    registry: Registry, clock: TickingClock
) -> None:
    cid = _customer(registry, grade="Z")
    # T0 is 09:00 UTC on Friday 2026-10-09 (17:00 in Shanghai); opened at 10:00, 20:00 and
    # 21:00 UTC: the last two are Saturday 04:00 and 05:00 in Shanghai
    for minutes in (60, 600, 60):
        clock.advance(minutes=minutes)
        registry.cases.open({"customer_id": cid, "category": "billing"}, actor=ADMIN)
    in_utc = registry.cases.stats(actor=ADMIN, period="day")
    assert [(s.period, s.cases) for s in in_utc] == [("2026-10-09", 3)]
    in_shanghai = registry.cases.stats(actor=ADMIN, period="day", zone="Asia/Shanghai")
    assert [(s.period, s.cases) for s in in_shanghai] == [("2026-10-09", 1), ("2026-10-10", 2)]
    with pytest.raises(ValueError, match="IANA"):
        registry.cases.stats(actor=ADMIN, period="day", zone="UTC+8")


@pytest.mark.parametrize(
    ("period", "in_utc", "in_shanghai"),
    [
        ("day", "2026-12-31", "2027-01-01"),
        ("week", "2026-W53", "2026-W53"),
        ("month", "2026-12", "2027-01"),
        ("quarter", "2026-Q4", "2027-Q1"),
    ],
)
def test_a_period_is_named_by_the_moments_day_in_the_zone(
    period: str, in_utc: str, in_shanghai: str
) -> None:
    from custrec.workflow.analytics import period_of

    moment = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)  # 04:00 on 1 January in Shanghai
    assert period_of(moment, period) == in_utc
    assert period_of(moment, period, "Asia/Shanghai") == in_shanghai
