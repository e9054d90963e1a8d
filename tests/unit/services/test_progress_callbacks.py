"""Every long operation takes ``progress=``: called with the items done so far, never going
down, the last call giving the total; a callback that raises stops the operation, leaving the
batches committed before it and nothing of the batch in hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec._progress import Reporter, counted
from custrec.grading import ParetoPolicy, abcd_by_amount
from custrec.model.records import LifecycleStage
from custrec.retention import (
    Period,
    RetentionAction,
    RetentionRule,
    RetentionSchedule,
    RetentionTrigger,
    Selector,
)
from custrec.services import Progress
from custrec.testing import TickingClock

ADMIN = Actor(id="admin", roles={"admin", "unmask", "erase"})
KEYKEEPER = Actor(id="keys", roles={"admin", "key_manager"})
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
COUNT = 7
STALE_LEADS = RetentionRule(
    code="stale-leads",
    applies_to=Selector(stages=(LifecycleStage.LEAD,)),
    trigger=RetentionTrigger.LAST_ACTIVITY,
    period=Period(days=30),
    action=RetentionAction.ARCHIVE,
)


class Stop(Exception):
    """What a progress callback raises to stop an operation."""


def stopping_at(call: int, seen: list[int]) -> Progress:
    """A callback recording each number, raising :class:`Stop` at its ``call``-th call."""

    def progress(done: int) -> None:
        seen.append(done)
        if len(seen) == call:
            raise Stop

    return progress


def follows_the_convention(seen: list[int], total: int) -> bool:
    return bool(seen) and seen == sorted(seen) and seen[-1] == total and len(set(seen)) == len(seen)


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock(T0, step=timedelta(0))


@pytest.fixture
def registry(clock: TickingClock) -> Registry:
    registry = Registry(
        MemoryStore(),
        keyring=KeyRing.generate(),
        clock=clock,
        retention=RetentionSchedule([STALE_LEADS]),
    )
    for n in range(COUNT):
        registry.customers.intake(
            {
                "kind": "individual",
                "name": f"客户{n}",
                "stage": "lead",
                "contacts": [{"phones": [f"1390000{n:04d}"]}],
            },
            actor=ADMIN,
        )
    clock.now = T0 + timedelta(days=60)
    return registry


def graded(registry: Registry) -> int:
    return sum(c.grade is not None for b in registry.customers.batches(actor=ADMIN) for c in b)


def test_regrade_reports_each_committed_batch(registry: Registry) -> None:
    seen: list[int] = []
    policy = ParetoPolicy(basis="value")
    registry.grading.regrade(policy, as_of=T0, actor=ADMIN, batch_size=3, progress=seen.append)
    assert seen == [3, 6, 7]


def test_a_regrade_stopped_by_its_callback_keeps_only_the_batches_before(
    registry: Registry,
) -> None:
    seen: list[int] = []
    policy = ParetoPolicy(basis="value")
    with pytest.raises(Stop):
        registry.grading.regrade(
            policy, as_of=T0, actor=ADMIN, batch_size=3, progress=stopping_at(2, seen)
        )
    assert seen == [3, 6]
    assert graded(registry) == 6  # two batches committed, the third never started
    report = registry.grading.regrade(policy, as_of=T0, actor=ADMIN, batch_size=3)
    assert report.changed == 1  # a re-run finishes the rest


def test_reindex_reports_rows_looked_at(registry: Registry) -> None:
    seen: list[int] = []
    registry.keys.reindex(actor=KEYKEEPER, batch_size=3, progress=seen.append)
    assert seen == [3, 6, 7]
    with pytest.raises(Stop):
        registry.keys.reindex(actor=KEYKEEPER, batch_size=3, progress=stopping_at(1, []))


def test_key_rotation_reports_every_key_even_when_there_are_none() -> None:
    seen: list[int] = []
    empty = Registry(MemoryStore(), keyring=KeyRing.generate())
    empty.keys.rotate_master(actor=KEYKEEPER, progress=seen.append)
    assert seen == [0]


def test_clusters_report_customers_read(registry: Registry) -> None:
    seen: list[int] = []
    run = registry.matching.clusters(actor=ADMIN, batch_size=3, progress=seen.append)
    assert run.records == COUNT
    assert follows_the_convention(seen, COUNT)
    assert seen == [3, 6, 7]
    with pytest.raises(Stop):
        registry.matching.clusters(actor=ADMIN, batch_size=3, progress=stopping_at(1, []))


def test_the_quality_report_reports_customers_assessed(registry: Registry) -> None:
    seen: list[int] = []
    report = registry.quality.report(
        actor=ADMIN, duplicates=False, batch_size=2, progress=seen.append
    )
    assert report.total == COUNT
    assert seen == [2, 4, 6, 7]
    with pytest.raises(Stop):
        registry.quality.report(actor=ADMIN, batch_size=2, progress=stopping_at(2, []))


def test_retention_plan_and_apply_report_and_a_stop_leaves_the_rest_pending(
    registry: Registry, clock: TickingClock
) -> None:
    seen: list[int] = []
    plan = registry.retention.plan(as_of=clock.now, actor=ADMIN, progress=seen.append)
    assert len(plan) == COUNT
    assert seen == [COUNT]
    stopped: list[int] = []
    with pytest.raises(Stop):
        registry.retention.apply(plan, actor=ADMIN, progress=stopping_at(3, stopped))
    assert stopped == [1, 2, 3]
    left = registry.retention.plan(as_of=clock.now, actor=ADMIN)
    assert len(left) == COUNT - 3  # each action is its own unit: three were carried out
    seen.clear()
    report = registry.retention.apply(plan, actor=ADMIN, progress=seen.append)
    assert seen == list(range(1, COUNT + 1))
    assert (len(report.applied), len(report.already_applied)) == (COUNT - 3, 3)


def test_an_operation_with_nothing_to_do_reports_zero_once() -> None:
    empty = Registry(MemoryStore(), keyring=KeyRing.generate(), retention=RetentionSchedule([]))
    for call in (
        lambda p: empty.keys.reindex(actor=KEYKEEPER, progress=p),
        lambda p: empty.matching.clusters(actor=ADMIN, progress=p),
        lambda p: empty.quality.report(actor=ADMIN, progress=p),
        lambda p: empty.retention.plan(as_of=T0, actor=ADMIN, progress=p),
        lambda p: empty.retention.apply([], actor=ADMIN, progress=p),
        lambda p: empty.grading.regrade(
            abcd_by_amount(1000, 100), as_of=T0, actor=ADMIN, progress=p
        ),
    ):
        seen: list[int] = []
        call(seen.append)
        assert seen == [0]


def test_a_progress_that_is_not_callable_is_refused() -> None:
    with pytest.raises(TypeError, match="progress"):
        Reporter(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("every", [1, 2, 3, 5, 10])
@pytest.mark.parametrize("items", [0, 1, 4, 9, 10])
def test_the_reporter_reports_every_step_and_the_total_once(every: int, items: int) -> None:
    seen: list[int] = []
    reporter = Reporter(seen.append, every=every)
    assert list(counted(range(items), reporter)) == list(range(items))
    assert reporter.finish() == items
    expected = list(range(every, items + 1, every))
    if not expected or expected[-1] != items:
        expected.append(items)
    assert seen == expected


def test_the_reporter_also_reports_when_the_interval_has_passed() -> None:
    now = [0.0]
    seen: list[int] = []
    reporter = Reporter(seen.append, every=100, seconds=0.2, clock=lambda: now[0])
    reporter.add(5)
    now[0] = 0.25
    reporter.add(1)  # 0.25 s since the start: reported although only 6 < 100 are done
    reporter.add(1)
    now[0] = 0.3
    reporter.add(1)  # only 0.05 s since the last report
    assert seen == [6]
    assert reporter.finish() == 8
    assert seen == [6, 8]


def test_a_reporter_without_a_callback_only_counts() -> None:
    reporter = Reporter(None)
    reporter.add(3)
    assert reporter.finish() == 3
