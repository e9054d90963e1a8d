"""An erasure is never lost, on SQLite files: a power cut between the key store's commit and the
database's leaves the erasure pending; running the plan again, or replaying the journal,
completes it. ``sqlite_store`` (conftest.py) keeps its keys in a separate file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry, SQLiteStore
from custrec.backends import sqlite
from custrec.errors import Erased, StorageError
from custrec.model.records import LifecycleStage
from custrec.retention import (
    Period,
    RetentionAction,
    RetentionRule,
    RetentionSchedule,
    RetentionTrigger,
    Selector,
)
from custrec.testing import TickingClock

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
OPERATOR = Actor(id="ops-1", roles={"admin"})  # admin: the retention right, but no erase role
READER = Actor(id="reader", roles={"admin", "unmask"})
AUDITOR = Actor(id="aud", roles={"auditor"})

STALE_LEADS = RetentionRule(
    code="stale-leads",
    applies_to=Selector(stages=(LifecycleStage.LEAD,)),
    trigger=RetentionTrigger.LAST_ACTIVITY,
    period=Period(years=2),
    action=RetentionAction.DESTROY,
)


def lead(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"王{n:03d}",
        "contacts": [{"phones": [f"1390000{n:04d}"]}],
        **extra,
    }


@pytest.fixture
def clock() -> TickingClock:
    """A clock that stands still at ``T0`` until a test moves it on."""
    return TickingClock(T0, step=timedelta(0))


def new_registry(clock: TickingClock, *rules: RetentionRule, **kwargs: Any) -> Registry:
    """A registry over a store of its own (or ``store=``) with ``rules`` as its schedule."""
    kwargs.setdefault("keyring", KeyRing.generate())
    store = kwargs.pop("store", None) or MemoryStore()
    return Registry(store, clock=clock, retention=RetentionSchedule(list(rules)), **kwargs)


def power_cut_after_the_key_store_commit(
    monkeypatch: pytest.MonkeyPatch, data: SQLiteStore
) -> list[str]:
    """Make the data store's next commit of an erasure fail, after the key store (a separate
    file) has committed the key's destruction: a crash between the two commits."""
    real = sqlite._SQLiteSession.commit
    cut: list[str] = []

    def commit(session: sqlite._SQLiteSession) -> None:
        if session._store is data and session._shred and not cut:
            cut.append("cut")
            session.rollback()
            raise StorageError("power cut")
        real(session)

    monkeypatch.setattr(sqlite._SQLiteSession, "commit", commit)
    return cut


def has_key(store: SQLiteStore, customer_id: str) -> bool:
    key_store = store.key_store
    assert key_store is not None
    with key_store.transaction(readonly=True) as session:
        return any(k.customer_id == customer_id for k in session.keys.list())


def test_an_erasure_interrupted_between_its_two_commits_stays_pending_and_a_rerun_completes_it(
    clock: TickingClock, sqlite_store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = new_registry(clock, STALE_LEADS, store=sqlite_store)
    victim = registry.customers.intake(lead(4), actor=READER)
    bystander = registry.customers.intake(lead(5), actor=READER)
    clock.advance(days=800)
    registry.activities.record_interaction(
        {"customer_id": bystander.id, "occurred_at": clock.now, "kind": "call", "summary": "hi"},
        actor=READER,
    )
    plan = registry.retention.plan(as_of=clock.now, actor=OPERATOR)
    assert [a.customer_id for a in plan] == [victim.id]
    cut = power_cut_after_the_key_store_commit(monkeypatch, sqlite_store)

    with pytest.raises(StorageError, match="power cut"):
        registry.retention.apply(plan, actor=OPERATOR)

    assert cut == ["cut"]
    assert not has_key(sqlite_store, victim.id)  # the key store committed: the key is gone
    assert victim.id in [e.customer_id for e in registry.privacy.journal(actor=AUDITOR)]
    with sqlite_store.transaction(readonly=True) as session:
        row = session.customers.get(victim.id)
        assert row.state == "live" and row.index_keys  # the data store did not commit
        assert not any(h.action == "retention" for h in session.history.list_for(victim.id))
    with pytest.raises(Erased):
        registry.customers.get(victim.id, actor=READER)

    report = registry.retention.apply(plan, actor=OPERATOR)  # the same plan, run again

    assert report.applied == (plan[0].key,)
    with sqlite_store.transaction(readonly=True) as session:
        row = session.customers.get(victim.id)
        assert row.state == "erased" and not row.index_keys
    assert registry.retention.apply(plan, actor=OPERATOR).already_applied == (plan[0].key,)
    assert registry.retention.plan(as_of=clock.now, actor=OPERATOR) == []
    assert registry.customers.get(bystander.id, actor=READER).name == "王005"
    assert registry.audit.verify(actor=AUDITOR).ok


def test_replaying_the_journal_finishes_an_interrupted_erasure(
    clock: TickingClock, sqlite_store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = new_registry(clock, STALE_LEADS, store=sqlite_store)
    victim = registry.customers.intake(lead(6), actor=READER)
    clock.advance(days=800)
    plan = registry.retention.plan(as_of=clock.now, actor=OPERATOR)
    power_cut_after_the_key_store_commit(monkeypatch, sqlite_store)
    with pytest.raises(StorageError):
        registry.retention.apply(plan, actor=OPERATOR)
    monkeypatch.undo()
    keeper = Actor(id="keeper", roles={"admin"})
    assert registry.privacy.replay_erasures(actor=keeper) == [victim.id]
    with sqlite_store.transaction(readonly=True) as session:
        assert session.customers.get(victim.id).state == "erased"
    assert registry.privacy.replay_erasures(actor=keeper) == []
