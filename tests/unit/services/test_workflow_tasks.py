"""Tasks and their due lists; recurring tasks; the change feed; cases and tasks in subject
export, erasure and merges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.errors import AccessDenied, Erased, InvalidTransition, ValidationFailed
from custrec.testing import TickingClock
from custrec.workflow import RecurringTask, Task, WorkflowSettings

from .conftest import MakeRegistry

T0 = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
ADMIN = Actor(id="admin-1", roles={"admin", "unmask", "sync", "export", "erase"})
SYNC = Actor(id="search-indexer", roles={"sync"})
OWNER = Actor(id="s-1", roles={"staff"}, team="north")
TEAMMATE = Actor(id="s-2", roles={"staff"}, team="north")
LEAD = Actor(id="m-1", roles={"manager"}, team="north")
STRANGER = Actor(id="m-9", roles={"manager"}, team="south")
_PHONES = iter(range(13700000000, 13800000000))


def _customer(registry: Registry, **extra: Any) -> str:
    data = {
        "kind": "individual",
        "name": "王芳",
        "owner": "s-1",
        "team": "north",
        "contacts": [{"phones": [str(next(_PHONES))]}],
    }
    data.update(extra)
    return registry.customers.intake(data, actor=ADMIN).id


def test_a_task_is_made_completed_with_its_interaction_and_cannot_be_completed_twice(
    registry: Registry, clock: TickingClock
) -> None:
    cid = _customer(registry)
    task = registry.tasks.create(
        {"customer_id": cid, "due_at": T0 + timedelta(days=1), "note": "带合同样本"}, actor=ADMIN
    )
    assert (task.assignee, task.team, task.status.value) == ("s-1", "north", "open")
    assert "合同" not in repr(task)
    visit = registry.activities.record_interaction(
        {"customer_id": cid, "kind": "visit", "occurred_at": clock()}, actor=ADMIN
    )
    done = registry.tasks.complete(task.id, actor=OWNER, interaction_id=visit.id, outcome="signed")
    assert (done.status.value, done.interaction_id, done.completed_by) == (
        "done",
        visit.id,
        "s-1",
    )
    with pytest.raises(InvalidTransition):
        registry.tasks.complete(task.id, actor=ADMIN)
    assert registry.tasks.overdue(actor=ADMIN, as_of=T0 + timedelta(days=9)).items == ()


def test_completing_with_another_customers_interaction_is_refused(registry: Registry) -> None:
    cid, other = _customer(registry), _customer(registry)
    task = registry.tasks.create({"customer_id": cid, "due_at": T0}, actor=ADMIN)
    foreign = registry.activities.record_interaction(
        {"customer_id": other, "kind": "call", "occurred_at": T0}, actor=ADMIN
    )
    with pytest.raises(ValidationFailed, match="interaction_id"):
        registry.tasks.complete(task.id, actor=ADMIN, interaction_id=foreign.id)
    with pytest.raises(ValidationFailed, match="due_at"):
        registry.tasks.create({"customer_id": cid}, actor=ADMIN)


def test_due_lists_show_the_assignee_and_the_team_and_nobody_else(registry: Registry) -> None:
    cid = _customer(registry)
    mine = registry.tasks.create(
        {"customer_id": cid, "due_at": T0 - timedelta(hours=1)}, actor=ADMIN
    )
    theirs = registry.tasks.create(
        {"customer_id": cid, "due_at": T0 - timedelta(hours=2), "assignee": "s-2"}, actor=ADMIN
    )
    later = registry.tasks.create(
        {"customer_id": cid, "due_at": T0 + timedelta(hours=2)}, actor=ADMIN
    )

    def ids(page: Any) -> list[str]:
        return [i.id for i in page.items]

    assert ids(registry.tasks.overdue(actor=OWNER)) == [mine.id]
    assert ids(registry.tasks.overdue(actor=TEAMMATE)) == [theirs.id]
    assert ids(registry.tasks.overdue(actor=LEAD)) == [theirs.id, mine.id]
    assert ids(registry.tasks.overdue(actor=STRANGER)) == []
    assert ids(registry.tasks.due(actor=LEAD, within=timedelta(hours=3))) == [
        theirs.id,
        mine.id,
        later.id,
    ]
    assert ids(registry.tasks.overdue(actor=LEAD, assignee="s-1")) == [mine.id]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tasks=st.lists(
        st.tuples(
            st.integers(0, 40),  # due, in hours after T0 - 20 h (ties likely)
            st.sampled_from(["s-1", "s-2", "s-3", None]),
            st.sampled_from(["north", "south"]),
            st.booleans(),  # completed
        ),
        max_size=30,
    ),
    actor=st.sampled_from([OWNER, TEAMMATE, LEAD, STRANGER, ADMIN]),
    assignee=st.sampled_from([None, "s-1", "s-3"]),
    limit=st.integers(1, 7),
)
def test_overdue_lists_page_exactly_like_a_brute_force_answer(
    tasks: list[tuple[int, str | None, str, bool]],
    actor: Actor,
    assignee: str | None,
    limit: int,
) -> None:
    clock = TickingClock(T0, step=timedelta(0))
    registry = Registry(MemoryStore(), keyring=KeyRing.generate(), clock=clock)
    cid = _customer(registry)
    made = []
    for hours, who, team, completed in tasks:
        task = registry.tasks.create(
            {
                "customer_id": cid,
                "due_at": T0 - timedelta(hours=20) + timedelta(hours=hours),
                "assignee": who,
                "team": team,
            },
            actor=ADMIN,
        )
        if completed:
            registry.tasks.complete(task.id, actor=ADMIN)
        made.append((task, who or "s-1", team, completed))  # unassigned: the owner

    def visible(who: str | None, team: str) -> bool:
        if "admin" in actor.roles:
            return True
        if "manager" in actor.roles:
            return who == actor.id or team == actor.team
        return who == actor.id

    expected = sorted(
        (t.due_at, t.id)
        for t, who, team, completed in made
        if not completed
        and t.due_at < T0
        and visible(who, team)
        and (assignee is None or who == assignee)
    )
    seen: list[tuple[datetime, str]] = []
    after = None
    for _ in range(len(made) + 2):
        page = registry.tasks.overdue(actor=actor, assignee=assignee, after=after, limit=limit)
        assert len(page.items) <= limit
        seen.extend((i.due_at, i.id) for i in page.items)  # type: ignore[misc]
        if page.next is None:
            break
        after = page.next
    assert seen == expected
    # the lists by id, finished tasks included, page the same way
    listed_expected = sorted(
        t.id
        for t, who, team, _ in made
        if visible(who, team) and (assignee is None or who == assignee)
    )
    listed: list[str] = []
    cursor = None
    for _ in range(len(made) + 2):
        items, cursor = registry.tasks.listed(
            actor=actor, assignee=assignee, open_only=None, after=cursor, limit=limit
        )
        listed.extend(i.id for i in items)
        if cursor is None:
            break
    assert listed == listed_expected


def test_recurring_tasks_come_once_per_period_to_the_owner_and_team(
    make: MakeRegistry, clock: TickingClock
) -> None:
    registry = make(
        workflow=WorkflowSettings(
            recurring=(
                RecurringTask(id="quarterly-check", kind="reverification", quarterly=True),
                RecurringTask(id="a-visits", every_days=30, grades=frozenset({"A"})),
            )
        )
    )
    a_customer = _customer(registry, grade="A")
    b_customer = _customer(registry, grade="B")
    first = registry.workflow.sweep(actor=ADMIN)
    assert first.tasks_created == 3  # two re-verifications, one return visit
    assert registry.workflow.sweep(actor=ADMIN).tasks_created == 0
    kinds = {
        (t.customer_id, t.kind.value) for t in registry.tasks.list_for(a_customer, actor=ADMIN)
    }
    assert kinds == {(a_customer, "reverification"), (a_customer, "return_visit")}
    (check,) = registry.tasks.list_for(b_customer, actor=ADMIN)
    assert check.due_at == datetime(2026, 7, 1, tzinfo=UTC)  # the end of the quarter
    owner_list, _ = registry.tasks.listed(actor=OWNER)
    team_list, _ = registry.tasks.listed(actor=LEAD)
    assert len(owner_list) == len(team_list) == 3
    clock.advance(days=31)
    assert registry.workflow.sweep(actor=ADMIN).tasks_created == 1  # the next return visit


def test_the_change_feed_carries_every_change_without_values_and_resumes_from_its_cursor(
    registry: Registry,
) -> None:
    cid = _customer(registry, grade="B")
    page = registry.changes.since(actor=SYNC)
    assert [(e.kind, e.customer_id) for e in page.events] == [("customer.create", cid)]
    registry.customers.update(cid, {"notes": "喜欢红色"}, actor=ADMIN, reason="call notes")
    case = registry.cases.open({"customer_id": cid, "description": "退货"}, actor=ADMIN)
    registry.cases.transition(case.id, "in_progress", actor=ADMIN)
    nxt = registry.changes.since(page.cursor, actor=SYNC)
    assert [(e.kind, e.fields, e.record_id) for e in nxt.events] == [
        ("customer.update", ("notes",), None),
        ("case.open", (), case.id),
        ("case.transition", ("first_response_at", "status"), case.id),
    ]
    assert all(e.actor_id == "admin-1" for e in nxt.events)
    text = repr(page) + repr(nxt)
    assert "王芳" not in text and "喜欢" not in text and "退货" not in text
    assert registry.changes.since(nxt.cursor, actor=SYNC).events == ()
    with pytest.raises(AccessDenied):
        registry.changes.since(actor=OWNER)
    with pytest.raises(ValueError, match="cursor"):
        registry.changes.since("not-a-cursor", actor=SYNC)


def test_cases_and_tasks_are_exported_erased_and_follow_a_merge(registry: Registry) -> None:
    cid, dup = _customer(registry), _customer(registry)
    registry.cases.open({"customer_id": cid, "description": "屏幕碎了"}, actor=ADMIN)
    registry.tasks.create({"customer_id": dup, "due_at": T0, "note": "回访"}, actor=ADMIN)
    registry.matching.merge(cid, [dup], actor=ADMIN, reason="same person")
    export = registry.privacy.export_subject(cid, actor=ADMIN).to_dict()
    assert sorted(w["kind"] for w in export["work"]) == ["case", "task"]
    assert {w["record"]["customer_id"] for w in export["work"]} == {cid}
    assert any(w["record"].get("description") == "屏幕碎了" for w in export["work"])
    assert registry.tasks.overdue(actor=ADMIN, as_of=T0 + timedelta(days=1)).items != ()
    receipt = registry.privacy.erase(cid, actor=ADMIN, reason="subject request")
    assert ("cases and tasks", "2 payloads shredded, 2 closed") in [
        (a.target, a.action) for a in receipt.actions
    ]
    assert registry.tasks.overdue(actor=ADMIN, as_of=T0 + timedelta(days=1)).items == ()
    assert registry.cases.listed(actor=ADMIN)[0] == []  # closed with the erasure
    (closed,) = registry.cases.listed(actor=ADMIN, open_only=None)[0]
    with pytest.raises(Erased):
        registry.cases.get(closed.id, actor=ADMIN)
    kinds = [e.kind for e in registry.changes.since(actor=SYNC, limit=1000).events]
    assert "customer.merge" in kinds and kinds[-1] == "customer.erase"


def test_nobody_can_take_the_id_a_recurring_rule_will_give_a_task(registry: Registry) -> None:
    from custrec.workflow import occurrence_id

    mine, victims = _customer(registry), _customer(registry)
    squat = occurrence_id("quarterly-check", victims, "2026-Q2")
    with pytest.raises(ValidationFailed, match=r"task\.id_reserved"):
        registry.tasks.create({"customer_id": mine, "due_at": T0, "id": squat}, actor=OWNER)


def test_a_customers_open_work_follows_a_new_owner_and_team(registry: Registry) -> None:
    cid = _customer(registry)
    task = registry.tasks.create({"customer_id": cid, "due_at": T0}, actor=ADMIN)
    other = registry.tasks.create(
        {"customer_id": cid, "due_at": T0, "assignee": "s-7", "team": "field"}, actor=ADMIN
    )
    done = registry.tasks.create({"customer_id": cid, "due_at": T0}, actor=ADMIN)
    registry.tasks.complete(done.id, actor=ADMIN)
    registry.customers.update(cid, {"owner": "s-2", "team": "west"}, actor=ADMIN, reason="move")
    moved = {t.id: (t.assignee, t.team) for t in registry.tasks.list_for(cid, actor=ADMIN)}
    assert moved == {
        task.id: ("s-2", "west"),
        other.id: ("s-7", "field"),  # not the old owner's: left alone
        done.id: ("s-1", "north"),  # finished: history stays as it was
    }
    new_owner = Actor(id="s-2", roles={"staff"}, team="west")
    later = T0 + timedelta(days=1)
    assert [i.id for i in registry.tasks.overdue(actor=new_owner, as_of=later).items] == [task.id]
    assert registry.tasks.overdue(actor=OWNER, as_of=later).items == ()


def test_instants_outside_the_range_of_utc_are_refused(registry: Registry) -> None:
    from zoneinfo import ZoneInfo

    cid = _customer(registry)
    for due in (
        datetime(1, 1, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")),
        datetime(9999, 12, 31, 23, 59, tzinfo=ZoneInfo("America/Los_Angeles")),
    ):
        with pytest.raises(ValidationFailed, match="due_at"):
            registry.tasks.create({"customer_id": cid, "due_at": due}, actor=ADMIN)
        with pytest.raises(ValidationFailed, match=r"due_at: date\.range"):
            registry.tasks.create(Task(customer_id=cid, due_at=due), actor=ADMIN)


def test_a_case_names_only_an_activity_of_its_customer_as_its_source(registry: Registry) -> None:
    cid, other = _customer(registry), _customer(registry)
    call = registry.activities.record_interaction(
        {"customer_id": other, "kind": "call", "occurred_at": T0}, actor=ADMIN
    )
    for source in ("not-an-activity", call.id):
        with pytest.raises(ValidationFailed, match="source_id"):
            registry.cases.open({"customer_id": cid, "source_id": source}, actor=ADMIN)
    mine = registry.activities.record_interaction(
        {"customer_id": cid, "kind": "call", "occurred_at": T0}, actor=ADMIN
    )
    assert registry.cases.open({"customer_id": cid, "source_id": mine.id}, actor=ADMIN).source_id


class _OnlyDecides:
    """An access policy without ``widest_scope``: the lists ask it about every item."""

    def __init__(self) -> None:
        from custrec.security import RoleBasedPolicy

        self._inner = RoleBasedPolicy()
        self.asked = 0

    def decide(self, actor: Actor, action: Any, resource: Any) -> Any:
        self.asked += 1
        return self._inner.decide(actor, action, resource)


def test_a_policy_that_only_decides_still_gets_exact_due_lists(make: MakeRegistry) -> None:
    policy = _OnlyDecides()
    registry = make(policy=policy)
    cid = _customer(registry)
    mine = registry.tasks.create(
        {"customer_id": cid, "due_at": T0 - timedelta(hours=1)}, actor=ADMIN
    )
    registry.tasks.create(
        {"customer_id": cid, "due_at": T0 - timedelta(hours=2), "assignee": "s-2"}, actor=ADMIN
    )
    before = policy.asked
    assert [i.id for i in registry.tasks.overdue(actor=OWNER).items] == [mine.id]
    assert policy.asked - before >= 2  # every overdue item was judged by decide()


def test_consent_grades_and_record_states_reach_the_feed_too(registry: Registry) -> None:
    from decimal import Decimal

    from custrec.consent import CaptureChannel
    from custrec.grading.threshold import abcd_by_amount

    cid = _customer(registry)
    start = registry.changes.since(actor=SYNC, limit=1000).cursor
    registry.consent.grant(cid, "marketing.email", actor=ADMIN, channel=CaptureChannel.WEB_FORM)
    registry.activities.record_transaction(
        {"customer_id": cid, "occurred_at": T0, "amount": {"amount": "2000"}}, actor=ADMIN
    )
    registry.grading.regrade(abcd_by_amount(Decimal("1000"), Decimal("500")), as_of=T0, actor=ADMIN)
    registry.consent.restrict(cid, actor=ADMIN, channel=CaptureChannel.WEB_FORM)
    kinds = [
        (e.kind, e.fields)
        for e in registry.changes.since(start, actor=SYNC, limit=1000).events
        if e.customer_id == cid
    ]
    assert ("consent.grant", ("marketing.email",)) in kinds
    assert ("customer.grade", ("grade",)) in kinds
    assert ("consent.restrict", ()) in [(k, ()) for k, _ in kinds]
    assert ("customer.state", ("state",)) in kinds  # the record's state moved with it


def test_a_due_window_must_be_a_positive_duration(registry: Registry) -> None:
    with pytest.raises(ValueError, match="within must be positive"):
        registry.tasks.due(actor=ADMIN, within=timedelta(0))
    with pytest.raises(TypeError, match="within"):
        registry.cases.due_soon(actor=ADMIN, within=3600)  # type: ignore[arg-type]


def test_completing_a_task_lists_every_field_it_changed_in_the_feed(registry: Registry) -> None:
    cid = _customer(registry)
    call = registry.activities.record_interaction(
        {"customer_id": cid, "kind": "call", "occurred_at": T0}, actor=ADMIN
    )
    task = registry.tasks.create({"customer_id": cid, "due_at": T0}, actor=ADMIN)
    start = registry.changes.since(actor=SYNC, limit=1000).cursor
    registry.tasks.complete(task.id, actor=ADMIN, interaction_id=call.id, outcome="ordered")
    (event,) = registry.changes.since(start, actor=SYNC).events
    assert (event.kind, event.fields) == (
        "task.complete",
        ("status", "completed_at", "completed_by", "interaction_id", "outcome"),
    )
    with pytest.raises(ValueError, match="as_of must be timezone-aware"):
        registry.tasks.overdue(actor=ADMIN, as_of=datetime(2026, 5, 4))
