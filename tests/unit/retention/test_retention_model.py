"""Specification of the retention value objects, and plan invariants on random populations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.model.records import Customer, CustomerKind, DataCategory, LifecycleStage, Milestones
from custrec.model.serialization import make_converter
from custrec.retention import (
    LegalHold,
    Period,
    PlannedAction,
    RetentionAction,
    RetentionError,
    RetentionFacts,
    RetentionRule,
    RetentionSchedule,
    RetentionTrigger,
    Selector,
    StatutoryFloor,
)

T0 = datetime(2022, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)


def test_actions_are_ordered_by_severity() -> None:
    assert [a.value for a in sorted(RetentionAction, key=lambda a: a.severity)] == [
        "review",
        "archive",
        "restrict",
        "anonymise",
        "destroy",
    ]
    assert {a for a in RetentionAction if a.irreversible} == {
        RetentionAction.ANONYMISE,
        RetentionAction.DESTROY,
    }


def test_selector_matching_and_description() -> None:
    f = RetentionFacts(customer_id="c-1", kind=CustomerKind.INDIVIDUAL, stage=LifecycleStage.LEAD)
    assert Selector().matches(f) and Selector().describe() == "all customers"
    assert not Selector(kinds=[CustomerKind.ORGANIZATION]).matches(f)
    assert Selector(stages=[LifecycleStage.LEAD], customer_ids=["c-1"]).matches(f)
    assert not Selector(customer_ids="c-2").matches(f)
    assert (
        Selector(
            kinds=[CustomerKind.INDIVIDUAL],
            stages=[LifecycleStage.CHURNED, LifecycleStage.ARCHIVED],
        ).describe()
        == "individuals in stage churned or archived"
    )
    assert Selector(customer_ids=["c-1", "c-2"]).describe() == "customers c-1, c-2"
    with pytest.raises(TypeError):
        Selector(stages=["lead"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="repeat"):
        Selector(kinds=[CustomerKind.INDIVIDUAL, CustomerKind.INDIVIDUAL])


def test_facts_from_customer() -> None:
    created = datetime(2020, 1, 1, tzinfo=UTC)
    customer = Customer(
        id="c-9",
        kind=CustomerKind.ORGANIZATION,
        name="ACME",
        stage=LifecycleStage.CHURNED,
        created_at=created,
        last_verified_at=created + timedelta(days=3),
        milestones=Milestones(service_expires_on=date(2023, 12, 31)),
    )
    f = RetentionFacts.from_customer(
        customer, last_activity_at=T0, last_transaction_at=created, closed_at=T0, applied_keys=["k"]
    )
    assert f == RetentionFacts(
        customer_id="c-9",
        kind=CustomerKind.ORGANIZATION,
        stage=LifecycleStage.CHURNED,
        created_at=created,
        last_activity_at=T0,
        last_transaction_at=created,
        contract_end_on=date(2023, 12, 31),
        closed_at=T0,
        last_verified_at=created + timedelta(days=3),
        applied_keys=("k",),
    )
    assert "ACME" not in repr(f)
    with pytest.raises(TypeError):
        RetentionFacts.from_customer("c-9")  # type: ignore[arg-type]


def test_facts_validation() -> None:
    base = {"customer_id": "c-1", "kind": CustomerKind.INDIVIDUAL, "stage": LifecycleStage.LEAD}
    with pytest.raises(ValueError, match="timezone-aware"):
        RetentionFacts(**base, created_at=datetime(2024, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="date"):
        RetentionFacts(**base, contract_end_on=T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="blank"):
        RetentionFacts(**{**base, "customer_id": ""})  # type: ignore[arg-type]


def test_rule_floor_and_hold_validation() -> None:
    kwargs = {
        "trigger": RetentionTrigger.CREATION,
        "period": Period(),
        "action": RetentionAction.REVIEW,
    }
    assert RetentionRule(
        code="r",
        period=timedelta(days=7),
        trigger=RetentionTrigger.CREATION,
        action=RetentionAction.REVIEW,
    ).period == Period(days=7)
    for code in ("", " r", "a|b"):
        with pytest.raises(ValueError, match="code"):
            RetentionRule(code=code, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RetentionRule(
            code="r",
            trigger="creation",
            period=Period(),  # type: ignore[arg-type]
            action=RetentionAction.REVIEW,
        )
    with pytest.raises(RetentionError):
        RetentionRule(
            code="r",
            trigger=RetentionTrigger.CREATION,
            period=timedelta(hours=1),
            action=RetentionAction.REVIEW,
        )
    assert RetentionRule(code="r", **kwargs).data == "all personal data"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="blank"):
        StatutoryFloor(
            code="f",
            records="r",
            trigger=RetentionTrigger.CREATION,
            period=Period(),
            legal_reference=" ",
        )
    with pytest.raises(RetentionError, match="customer_ids or applies_to"):
        LegalHold(reason="r", placed_at=T0)
    with pytest.raises(RetentionError, match="lifted after"):
        LegalHold(reason="r", placed_at=T0, lifted_at=T0, customer_ids="c-1")
    with pytest.raises(ValueError, match="timezone-aware"):
        LegalHold(reason="r", placed_at=datetime(2024, 1, 1), customer_ids="c-1")
    hold = LegalHold(reason="r", placed_at=T0, customer_ids="c-1")
    with pytest.raises(ValueError, match="timezone-aware"):
        hold.active_at(datetime(2024, 1, 1))


def test_value_objects_round_trip_through_the_custrec_converter() -> None:
    conv = make_converter()
    rule = RetentionRule(
        code="r",
        applies_to=Selector(kinds=[CustomerKind.INDIVIDUAL], stages=[LifecycleStage.CHURNED]),
        trigger=RetentionTrigger.ACCOUNT_CLOSURE,
        period=Period(years=3, months=1),
        action=RetentionAction.ANONYMISE,
        legal_reference="PIPL Art. 47",
        categories=[DataCategory.CONTACT],
    )
    hold = LegalHold(reason="case 1", placed_at=T0, customer_ids=["c-1"])
    facts = RetentionFacts(
        customer_id="c-1",
        kind=CustomerKind.INDIVIDUAL,
        stage=LifecycleStage.CHURNED,
        closed_at=T0,
        contract_end_on=date(2022, 1, 1),
    )
    schedule = RetentionSchedule([rule], holds=[hold])
    [action] = schedule.plan([facts], as_of=T0 + timedelta(days=5000))
    for value, cls in (
        (rule, RetentionRule),
        (hold, LegalHold),
        (facts, RetentionFacts),
        (action, PlannedAction),
    ):
        data = conv.unstructure(value)
        assert conv.structure(data, cls) == value
    assert conv.unstructure(action)["converted_from"] == "anonymise"


# ------------------------------------------------------------------------------- property

INSTANTS = [T0 + timedelta(days=d, microseconds=u) for d in (0, 30, 365, 1000) for u in (0, 1)]
CATEGORY_SETS = [(), (DataCategory.CONTACT,), (DataCategory.CONTACT, DataCategory.IDENTITY)]


@st.composite
def populations(draw: st.DrawFn) -> list[RetentionFacts]:
    count = draw(st.integers(0, 6))
    optional = st.one_of(st.none(), st.sampled_from(INSTANTS))
    return [
        RetentionFacts(
            customer_id=f"c-{n}",
            kind=draw(st.sampled_from(list(CustomerKind))),
            stage=draw(st.sampled_from(list(LifecycleStage))),
            created_at=draw(optional),
            last_activity_at=draw(optional),
            last_transaction_at=draw(optional),
            contract_end_on=draw(st.one_of(st.none(), st.just(date(2023, 2, 28)))),
            consent_withdrawn_at=draw(optional),
            closed_at=draw(optional),
            last_verified_at=draw(optional),
        )
        for n in range(count)
    ]


@st.composite
def schedules(draw: st.DrawFn) -> RetentionSchedule:
    rules = [
        RetentionRule(
            code=f"r{n}",
            trigger=draw(st.sampled_from(list(RetentionTrigger))),
            period=Period(months=draw(st.sampled_from([0, 1, 12, 25]))),
            action=draw(st.sampled_from(list(RetentionAction))),
            categories=draw(st.sampled_from(CATEGORY_SETS)),
        )
        for n in range(draw(st.integers(1, 5)))
    ]
    floors = [
        StatutoryFloor(
            code=f"f{n}",
            records="records",
            trigger=draw(st.sampled_from(list(RetentionTrigger))),
            period=Period(years=draw(st.integers(0, 3))),
            legal_reference="law",
            categories=draw(st.sampled_from(CATEGORY_SETS)),
        )
        for n in range(draw(st.integers(0, 2)))
    ]
    holds = [
        LegalHold(reason="hold", placed_at=draw(st.sampled_from(INSTANTS)), customer_ids=["c-0"])
        for _ in range(draw(st.integers(0, 1)))
    ]
    return RetentionSchedule(rules, floors=floors, holds=holds)


@settings(max_examples=300, deadline=None)
@given(schedule=schedules(), population=populations(), as_of=st.sampled_from(INSTANTS))
def test_plan_invariants(
    schedule: RetentionSchedule, population: list[RetentionFacts], as_of: datetime
) -> None:
    planned = schedule.plan(population, as_of=as_of)
    assert schedule.plan(list(reversed(population)), as_of=as_of) == planned
    assert len({a.key for a in planned}) == len(planned)
    for action in planned:
        assert action.due_at <= as_of
        held = any(
            h.active_at(as_of) and action.customer_id in h.customer_ids for h in schedule.holds
        )
        if held:
            assert not action.action.irreversible
        if action.converted_from is not None:
            assert action.action is RetentionAction.RESTRICT and action.converted_from.irreversible
    # applying the plan means none of its actions is planned again at the same instant (an
    # archive may make a rule on closed accounts due, which is a new action, not a repeat)
    applied = [f.applying(planned) for f in population]
    again = schedule.plan(applied, as_of=as_of)
    assert not {a.key for a in again} & {a.key for a in planned}
    if not any(a.action is RetentionAction.ARCHIVE for a in planned):
        assert again == []  # nothing changed the facts but the applied keys
