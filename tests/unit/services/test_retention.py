"""Retention that acts only when due, never loses an erasure, and keeps archived records findable.

Each test pins one rule of ``Registry.plan_retention`` / ``apply_retention``; the scenarios are
the defects found when the library was tried as a new user and as an attacker would. An erasure
interrupted between the commits of two SQLite files is in
tests/integration/services/test_retention_files.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.consent import CaptureChannel, ConsentEvent
from custrec.errors import AccessDenied, Erased, ErasureUnavailable, ValidationFailed
from custrec.model.records import LifecycleStage, RecordState, VerificationStatus
from custrec.retention import (
    LegalHold,
    Period,
    PlannedAction,
    RetentionAction,
    RetentionRule,
    RetentionSchedule,
    RetentionTrigger,
    Selector,
)
from custrec.security import DEFAULT_GRANTS, Action, Grant, RoleBasedPolicy, Scope
from custrec.services import RETENTION_PRINCIPAL, RetentionReport
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
ARCHIVE_QUIET = RetentionRule(
    code="archive-quiet",
    trigger=RetentionTrigger.LAST_ACTIVITY,
    period=Period(days=90),
    action=RetentionAction.ARCHIVE,
)
RESTRICT_ARCHIVED = RetentionRule(
    code="restrict-archived",
    applies_to=Selector(states=(RecordState.ARCHIVED,)),
    trigger=RetentionTrigger.ACCOUNT_CLOSURE,
    period=Period(days=30),
    action=RetentionAction.RESTRICT,
)


def lead(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"王{n:03d}",
        "contacts": [{"phones": [f"1390000{n:04d}"]}],
        **extra,
    }


def keys_of(plan: list[PlannedAction]) -> set[str]:
    return {action.key for action in plan}


@pytest.fixture
def clock(t0: datetime) -> TickingClock:
    """A clock that stands still at ``T0`` until a test moves it on."""
    return TickingClock(t0, step=timedelta(0))


def new_registry(clock: TickingClock, *rules: RetentionRule, **kwargs: Any) -> Registry:
    """A registry over a store of its own (or ``store=``) with ``rules`` as its schedule."""
    kwargs.setdefault("keyring", KeyRing.generate())
    store = kwargs.pop("store", None) or MemoryStore()
    return Registry(store, clock=clock, retention=RetentionSchedule(list(rules)), **kwargs)


# --------------------------------------------------------------------- only what is due now


def test_applying_a_plan_made_for_a_later_date_acts_only_on_what_is_due_now(
    clock: TickingClock,
) -> None:
    registry = new_registry(clock, STALE_LEADS)
    customers = []
    for n in range(200):  # created (their last activity) over 600 days, one every three days
        clock.now = T0 + timedelta(days=3 * n)
        customers.append(registry.customers.intake(lead(n), actor=READER))
    clock.now = now = T0 + timedelta(days=800)
    preview = registry.retention.plan(as_of=datetime(2035, 1, 1, tzinfo=UTC), actor=OPERATOR)
    assert len(preview) == 200  # the preview destroys everyone ...
    due_now = {a.key for a in preview if a.due_at <= now}
    later = {a.key for a in preview if a.due_at > now}
    assert len(due_now) == 24 and len(later) == 176  # ... but most are not due yet

    report = registry.retention.apply(preview, actor=OPERATOR)

    assert set(report.applied) == due_now
    assert set(report.not_due) == later
    assert report.already_applied == report.superseded == ()
    destroyed = {a.customer_id for a in preview if a.key in due_now}
    for customer in customers:
        if customer.id in destroyed:
            with pytest.raises(Erased):
                registry.customers.get(customer.id, actor=READER)
        else:  # untouched: still readable, name and all
            assert registry.customers.get(customer.id, actor=READER).name == customer.name
    assert keys_of(registry.retention.plan(as_of=now, actor=OPERATOR)) == set()


def test_an_action_whose_customer_changed_since_the_plan_is_superseded_and_left_alone(
    clock: TickingClock,
) -> None:
    registry = new_registry(clock, STALE_LEADS)
    quiet = registry.customers.intake(lead(1), actor=READER)
    clock.advance(days=800)
    plan = registry.retention.plan(as_of=clock.now, actor=OPERATOR)
    assert [a.customer_id for a in plan] == [quiet.id]
    registry.activities.record_interaction(
        {"customer_id": quiet.id, "occurred_at": clock.now, "kind": "call", "summary": "back"},
        actor=READER,
    )
    report = registry.retention.apply(plan, actor=OPERATOR)
    assert report == RetentionReport(superseded=(plan[0].key,))
    assert registry.customers.get(quiet.id, actor=READER).name == "王001"


def test_a_legal_hold_placed_after_planning_stops_the_destruction(clock: TickingClock) -> None:
    registry = new_registry(clock, STALE_LEADS)
    held = registry.customers.intake(lead(2), actor=READER)
    clock.advance(days=800)
    plan = registry.retention.plan(as_of=clock.now, actor=OPERATOR)
    with_hold = RetentionSchedule(
        [STALE_LEADS],
        holds=[LegalHold(reason="matter 2026-7", placed_at=clock.now, customer_ids=[held.id])],
    )
    report = registry.retention.apply(plan, actor=OPERATOR, schedule=with_hold)
    assert report.superseded == (plan[0].key,)
    assert registry.customers.get(held.id, actor=READER).name == "王002"


def test_apply_needs_the_schedule_the_plan_was_made_with(clock: TickingClock) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate(), clock=clock)
    with pytest.raises(ValueError, match="no retention schedule"):
        registry.retention.apply([], actor=OPERATOR)


# ------------------------------------------------------------- an erasure is never lost


def test_a_destroy_without_a_keyring_is_refused_before_anything_and_stays_pending(
    clock: TickingClock,
) -> None:
    with pytest.warns(UserWarning, match="plain JSON"):
        registry = new_registry(clock, STALE_LEADS, ARCHIVE_QUIET, keyring=None)
    c = registry.customers.intake(lead(3), actor=READER)
    clock.advance(days=800)
    plan = registry.retention.plan(as_of=clock.now, actor=OPERATOR)
    assert {a.action for a in plan} == {RetentionAction.DESTROY}
    with pytest.raises(ErasureUnavailable):
        registry.retention.apply(plan, actor=OPERATOR)
    with pytest.raises(ErasureUnavailable):  # still pending: nothing was marked as done
        registry.retention.apply(plan, actor=OPERATOR)
    assert registry.customers.get(c.id, actor=READER).name == "王003"
    assert keys_of(registry.retention.plan(as_of=clock.now, actor=OPERATOR)) == keys_of(plan)


def test_an_action_marked_by_an_earlier_version_before_its_erasure_is_completed(
    clock: TickingClock,
) -> None:
    store = MemoryStore()
    registry = new_registry(clock, STALE_LEADS, store=store)
    victim = registry.customers.intake(lead(7), actor=READER)
    clock.advance(days=800)
    (action,) = registry.retention.plan(as_of=clock.now, actor=OPERATOR)
    # what the old code left behind: the marker committed, the erasure never run
    with store.transaction() as session:
        from custrec.storage import HistoryRecord

        session.history.append(
            [
                HistoryRecord(
                    customer_id=victim.id,
                    at=clock.now,
                    actor_id=OPERATOR.id,
                    action="retention",
                    path="destroy",
                    reason=action.key,
                    payload=b"null",
                )
            ]
        )
        session.commit()
    assert registry.retention.apply([action], actor=OPERATOR).applied == (action.key,)
    with pytest.raises(Erased):
        registry.customers.get(victim.id, actor=READER)


# ------------------------------------------------------------ archived is a state of its own


def test_archiving_keeps_the_lifecycle_stage_so_stage_rules_still_match(
    clock: TickingClock,
) -> None:
    registry = new_registry(clock, STALE_LEADS, ARCHIVE_QUIET)
    quiet_lead = registry.customers.intake(lead(8), actor=READER)
    clock.advance(days=100)
    archive = registry.retention.plan(as_of=clock.now, actor=OPERATOR)
    assert [(a.customer_id, a.action) for a in archive] == [
        (quiet_lead.id, RetentionAction.ARCHIVE)
    ]
    assert registry.retention.apply(archive, actor=OPERATOR).applied == (archive[0].key,)
    archived = registry.customers.get(quiet_lead.id, actor=READER)
    assert (archived.stage, archived.state) == (LifecycleStage.LEAD, RecordState.ARCHIVED)
    clock.advance(days=700)
    destroy = registry.retention.plan(as_of=clock.now, actor=OPERATOR)
    assert [(a.customer_id, a.rule) for a in destroy] == [(quiet_lead.id, "stale-leads")]
    assert registry.retention.apply(destroy, actor=OPERATOR).applied == (destroy[0].key,)
    with pytest.raises(Erased):
        registry.customers.get(quiet_lead.id, actor=READER)


def test_the_archived_state_is_kept_filterable_and_exported(clock: TickingClock) -> None:
    registry = new_registry(clock, ARCHIVE_QUIET)
    quiet = registry.customers.intake(lead(9, stage="active"), actor=READER)
    busy = registry.customers.intake(lead(10, stage="active"), actor=READER)
    clock.advance(days=100)
    registry.activities.record_interaction(
        {"customer_id": busy.id, "occurred_at": clock.now, "kind": "call", "summary": "ok"},
        actor=READER,
    )
    registry.retention.apply(
        registry.retention.plan(as_of=clock.now, actor=OPERATOR), actor=OPERATOR
    )
    assert [c.id for c in registry.customers.query(actor=READER, state="archived")] == [quiet.id]
    assert [c.id for c in registry.customers.query(actor=READER, state=RecordState.LIVE)] == [
        busy.id
    ]
    assert registry.customers.count(actor=READER, state="archived", stage="active") == 1
    exported = registry.privacy.export_subject(
        quiet.id, actor=Actor(id="e", roles={"admin", "export"})
    )
    assert exported.record["state"] == "archived"
    assert exported.record["stage"] == "active"
    clock.advance(days=30)  # later plans keep it archived: archiving is not repeated
    assert registry.retention.plan(as_of=clock.now, actor=OPERATOR) == []
    assert registry.customers.get(quiet.id, actor=READER).state is RecordState.ARCHIVED


def test_restriction_is_a_state_and_lifting_it_restores_the_state_before(
    clock: TickingClock,
) -> None:
    registry = new_registry(clock, ARCHIVE_QUIET, RESTRICT_ARCHIVED)
    c = registry.customers.intake(lead(11, stage="active"), actor=READER)
    clock.advance(days=100)
    registry.retention.apply(
        registry.retention.plan(as_of=clock.now, actor=OPERATOR), actor=OPERATOR
    )
    assert registry.customers.get(c.id, actor=READER).state is RecordState.ARCHIVED
    clock.advance(days=40)
    plan = registry.retention.plan(as_of=clock.now, actor=OPERATOR)
    assert [a.action for a in plan] == [RetentionAction.RESTRICT]
    registry.retention.apply(plan, actor=OPERATOR)
    restricted = registry.customers.get(c.id, actor=READER)
    assert (restricted.stage, restricted.state) == (LifecycleStage.ACTIVE, RecordState.RESTRICTED)
    assert registry.consent.may_use(c.id, "marketing.sms", actor=READER).reason == "restricted"
    assert [x.id for x in registry.customers.query(actor=READER, state="restricted")] == [c.id]
    registry.consent.record(
        ConsentEvent.lift_restriction(c.id, at=clock.now, channel=CaptureChannel.API),
        actor=READER,
    )
    assert registry.customers.get(c.id, actor=READER).state is RecordState.ARCHIVED


def test_a_restriction_recorded_in_the_ledger_sets_the_state_and_its_lift_makes_it_live(
    clock: TickingClock,
) -> None:
    registry = new_registry(clock)
    c = registry.customers.intake(lead(12), actor=READER)
    registry.consent.record(
        ConsentEvent.restrict(c.id, at=clock.now, channel=CaptureChannel.WEB_FORM), actor=READER
    )
    assert registry.customers.get(c.id, actor=READER).state is RecordState.RESTRICTED
    registry.consent.record(
        ConsentEvent.lift_restriction(c.id, at=clock.now, channel=CaptureChannel.WEB_FORM),
        actor=READER,
    )
    assert registry.customers.get(c.id, actor=READER).state is RecordState.LIVE


def test_an_update_may_archive_and_reactivate_but_never_restrict(clock: TickingClock) -> None:
    registry = new_registry(clock)
    c = registry.customers.intake(lead(13), actor=READER)
    archived = registry.customers.update(
        c.id, {"state": "archived"}, actor=READER, reason="closed deal"
    )
    assert archived.state is RecordState.ARCHIVED and archived.stage is LifecycleStage.LEAD
    back = registry.customers.update(c.id, {"state": "live"}, actor=READER, reason="came back")
    assert back.state is RecordState.LIVE
    with pytest.raises(ValidationFailed) as info:
        registry.customers.update(c.id, {"state": "restricted"}, actor=READER, reason="x")
    assert [i.code for i in info.value.report] == ["state.restricted"]
    with pytest.raises(ValidationFailed):
        registry.customers.intake(lead(14, state="restricted"), actor=READER)
    registry.consent.record(
        ConsentEvent.restrict(c.id, at=clock.now, channel=CaptureChannel.API), actor=READER
    )
    with pytest.raises(ValidationFailed):
        registry.customers.update(c.id, {"state": "live"}, actor=READER, reason="x")


def test_a_review_marks_the_record_for_re_verification(clock: TickingClock) -> None:
    rule = RetentionRule(
        code="yearly",
        trigger=RetentionTrigger.LAST_VERIFICATION,
        period=Period(years=1),
        action=RetentionAction.REVIEW,
    )
    registry = new_registry(clock, rule)
    c = registry.customers.intake(lead(15), actor=READER)
    clock.advance(days=400)
    registry.retention.apply(
        registry.retention.plan(as_of=clock.now, actor=OPERATOR), actor=OPERATOR
    )
    reviewed = registry.customers.get(c.id, actor=READER)
    assert reviewed.verification is VerificationStatus.PENDING_REVIEW
    assert reviewed.state is RecordState.LIVE


# -------------------------------------------- the retention job's rights, and their audit


def test_retention_effects_are_audited_as_the_job_on_behalf_of_the_operator(
    clock: TickingClock,
) -> None:
    registry = new_registry(clock, STALE_LEADS)
    c = registry.customers.intake(lead(16), actor=READER)
    with pytest.raises(AccessDenied):  # the operator may not erase by hand ...
        registry.privacy.erase(c.id, actor=OPERATOR, reason="tidy up")
    clock.advance(days=800)
    plan = registry.retention.plan(as_of=clock.now, actor=OPERATOR)
    registry.retention.apply(plan, actor=OPERATOR)  # ... but the schedule may
    trail = registry.audit.trail(actor=AUDITOR, customer_id=c.id)
    erase = [e for e in trail if e.action == "customer.erase"]
    assert [(e.actor_id, e.on_behalf_of) for e in erase] == [(RETENTION_PRINCIPAL, OPERATOR.id)]
    assert erase[0].reason == f"retention {plan[0].key}"
    marker = [e for e in trail if e.action == "retention.destroy"]
    assert [(e.actor_id, e.on_behalf_of) for e in marker] == [(OPERATOR.id, None)]
    manual = [e for e in trail if e.action == "denied.erase"]
    assert [(e.actor_id, e.on_behalf_of) for e in manual] == [(OPERATOR.id, None)]
    assert registry.audit.touched_by(
        OPERATOR.id, actor=AUDITOR, since=T0, until=clock.now + timedelta(seconds=1)
    ) == [c.id]
    assert registry.audit.verify(actor=AUDITOR).ok  # on_behalf_of is part of the chain


def test_retention_needs_its_own_right_not_key_management(clock: TickingClock) -> None:
    keys_only = RoleBasedPolicy(
        {**DEFAULT_GRANTS, "keys": (Grant(action=Action.MANAGE_KEYS, scope=Scope.ALL),)}
    )
    registry = new_registry(clock, STALE_LEADS, policy=keys_only)
    with pytest.raises(AccessDenied, match="retention"):
        registry.retention.plan(as_of=clock.now, actor=Actor(id="k", roles={"keys"}))
    with pytest.raises(AccessDenied, match="retention"):
        registry.retention.apply([], actor=Actor(id="k", roles={"keys"}))
    retention_only = RoleBasedPolicy(
        {**DEFAULT_GRANTS, "dpo": (Grant(action=Action.RETENTION, scope=Scope.ALL),)}
    )
    registry = new_registry(clock, STALE_LEADS, policy=retention_only)
    assert registry.retention.plan(as_of=clock.now, actor=Actor(id="d", roles={"dpo"})) == []


@pytest.mark.parametrize(
    "imitation",
    [
        RETENTION_PRINCIPAL,
        "custrec:anything",
        "CUSTREC:retention",
        " custrec:retention",
        "custrec\uff1aretention",  # a full-width colon
        "ｃｕｓｔｒｅｃ:retention",
        "custrec",
    ],
)
def test_actor_ids_of_custrecs_own_principals_are_reserved(imitation: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        Actor(id=imitation, roles={"admin"})
    assert Actor(id="custrecord-7").id == "custrecord-7"  # only the prefix is reserved


def test_an_archive_carried_out_while_restricted_holds_once_the_restriction_is_lifted(
    clock: TickingClock,
) -> None:
    registry = new_registry(clock, ARCHIVE_QUIET)
    c = registry.customers.intake(lead(20, stage="active"), actor=READER)
    registry.consent.record(
        ConsentEvent.restrict(c.id, at=clock.now, channel=CaptureChannel.API), actor=READER
    )
    clock.advance(days=100)
    plan = registry.retention.plan(as_of=clock.now, actor=OPERATOR)
    assert registry.retention.apply(plan, actor=OPERATOR).applied == (plan[0].key,)
    assert (
        registry.customers.get(c.id, actor=READER).state is RecordState.RESTRICTED
    )  # still restricted
    registry.consent.record(
        ConsentEvent.lift_restriction(c.id, at=clock.now, channel=CaptureChannel.API),
        actor=READER,
    )
    assert registry.customers.get(c.id, actor=READER).state is RecordState.ARCHIVED


@pytest.mark.parametrize("bounds", ["effective_to", "future effective_from"])
def test_a_restriction_with_time_bounds_is_refused_so_state_and_ledger_agree(
    clock: TickingClock, bounds: str
) -> None:
    from custrec.consent import ConsentError

    registry = new_registry(clock)
    c = registry.customers.intake(lead(21), actor=READER)
    when = clock.now + timedelta(days=1)
    extra = {"effective_to": when} if bounds == "effective_to" else {"effective_from": when}
    event = ConsentEvent.restrict(c.id, at=clock.now, channel=CaptureChannel.API, **extra)
    with pytest.raises(ConsentError, match="until a lift_restriction"):
        registry.consent.record(event, actor=READER)
    assert registry.customers.get(c.id, actor=READER).state is RecordState.LIVE
    assert registry.consent.ledger(c.id, actor=READER).events == ()


def test_restricting_and_lifting_an_archived_record_keeps_its_closure_clock(
    clock: TickingClock,
) -> None:
    anonymise_closed = RetentionRule(
        code="anonymise-closed",
        applies_to=Selector(states=(RecordState.ARCHIVED,)),
        trigger=RetentionTrigger.ACCOUNT_CLOSURE,
        period=Period(days=100),
        action=RetentionAction.ANONYMISE,
    )
    registry = new_registry(clock, anonymise_closed)
    a = registry.customers.intake(lead(22), actor=READER)
    b = registry.customers.intake(lead(23), actor=READER)
    for customer in (a, b):
        registry.customers.update(customer.id, {"state": "archived"}, actor=READER, reason="closed")
    clock.advance(days=50)
    registry.consent.record(
        ConsentEvent.restrict(b.id, at=clock.now, channel=CaptureChannel.API), actor=READER
    )
    registry.consent.record(
        ConsentEvent.lift_restriction(b.id, at=clock.now, channel=CaptureChannel.API),
        actor=READER,
    )
    clock.advance(days=70)  # day 120: both were archived on day 0
    due = registry.retention.plan(as_of=clock.now, actor=OPERATOR)
    assert sorted(a.customer_id for a in due) == sorted([a.id, b.id])
