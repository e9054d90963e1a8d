"""The workflow end to end on the file and server backends: the same scenario as on the
memory store (contract, complaint, escalation once, due lists, erasure) on SQLite and
PostgreSQL, encrypted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.storage import Store
from custrec.testing import TickingClock
from custrec.workflow import BusinessCalendar, SlaPolicy, SlaRule, SlaTarget, WorkflowSettings

# Friday 2 October 2026, 17:00 in Shanghai; Monday 5 October a holiday
T0 = datetime(2026, 10, 2, 9, 0, tzinfo=UTC)
POLICY = SlaPolicy(
    id="desk",
    rules=(
        SlaRule(
            grade="A",
            target=SlaTarget(first_response=timedelta(hours=2)),
            escalate_to="lead",
        ),
    ),
    time=BusinessCalendar(zone="Asia/Shanghai", holidays={date(2026, 10, 5)}),
)
DESK = Actor(id="desk", roles={"admin", "unmask", "erase", "sync"})
OWNER = Actor(id="s-1", roles={"staff"}, team="east")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        made: Store = SQLiteStore(tmp_path / "wf.sqlite")
    else:
        from custrec.backends.postgres import PostgresStore

        dsn = request.getfixturevalue("postgres_dsn")
        made = PostgresStore(dsn, schema=request.getfixturevalue("postgres_schema"))
    yield made
    made.close()


def test_the_workflow_scenario_runs_the_same_on_every_backend(store: Store) -> None:
    clock = TickingClock(T0, step=timedelta(0))
    registry = Registry(
        store, keyring=KeyRing.generate(), clock=clock, workflow=WorkflowSettings(sla=POLICY)
    )
    customer = registry.customers.intake(
        {
            "kind": "individual",
            "name": "周敏",
            "grade": "A",
            "stage": "prospect",
            "owner": "s-1",
            "team": "east",
            "contacts": [{"phones": ["13912345678"]}],
        },
        actor=DESK,
    )
    registry.activities.record_transaction(
        {
            "customer_id": customer.id,
            "occurred_at": T0,
            "amount": {"amount": "86000"},
            "category": "contract",
        },
        actor=DESK,
    )
    assert registry.customers.get(customer.id, actor=DESK).stage.value == "active"
    registry.activities.record_interaction(
        {
            "customer_id": customer.id,
            "kind": "complaint",
            "occurred_at": T0,
            "summary": "没有上门",
            "next_action_at": T0 + timedelta(days=1),
        },
        actor=DESK,
    )
    (case,) = registry.cases.list_for(customer.id, actor=DESK)
    assert case.first_response_due == datetime(2026, 10, 6, 2, 0, tzinfo=UTC)
    clock.advance(days=4)
    assert [e.target for _, e in registry.cases.escalate(actor=DESK)] == ["first_response"]
    assert registry.cases.escalate(actor=DESK) == []
    assert [i.id for i in registry.cases.overdue(actor=OWNER).items] == [case.id]
    (task,) = registry.tasks.overdue(actor=OWNER).items
    assert task.kind == "task"
    events = registry.changes.since(actor=DESK, limit=1000).events
    assert [e.kind for e in events].count("case.escalate") == 1
    registry.privacy.erase(customer.id, actor=DESK, reason="subject request")
    assert registry.cases.overdue(actor=OWNER).items == ()
    assert registry.tasks.overdue(actor=OWNER).items == ()
    assert registry.audit.verify(actor=Actor(id="a", roles={"auditor"})).ok
