"""Lifecycle rules run inside the unit of work of the change that triggers them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from custrec import Actor, Registry
from custrec.errors import LifecycleLoop, ValidationFailed
from custrec.model.records import LifecycleStage
from custrec.workflow import (
    DEFAULT_RULES,
    ContractSigned,
    DormantAfter,
    FirstPayment,
    LifecycleEvent,
    Reaction,
    WorkflowSettings,
)

from .conftest import MakeRegistry

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ADMIN = Actor(id="admin-1", roles={"admin", "unmask", "sync", "auditor"})


_PHONES = iter(range(13800138000, 13900000000))


def _person(registry: Registry, **extra: Any) -> str:
    phone = str(next(_PHONES))
    data = {"kind": "individual", "name": "李雷", "contacts": [{"phones": [phone]}]}
    data.update(extra)
    return registry.customers.intake(data, actor=ADMIN).id


def _history(registry: Registry, customer_id: str) -> list[tuple[str, str | None, Any]]:
    return [
        (h.path, h.reason, h.new)
        for h in registry.customers.history(customer_id, actor=ADMIN)
        if h.action == "update"
    ]


def _contract(registry: Registry, customer_id: str, at: datetime) -> None:
    registry.activities.record_transaction(
        {
            "customer_id": customer_id,
            "occurred_at": at,
            "amount": {"amount": "52000"},
            "category": "contract",
        },
        actor=ADMIN,
    )


def test_a_contract_moves_a_prospect_to_active_in_the_same_commit(registry: Registry) -> None:
    cid = _person(registry, stage="prospect")
    _contract(registry, cid, T0)
    customer = registry.customers.get(cid, actor=ADMIN)
    assert customer.stage is LifecycleStage.ACTIVE
    assert customer.milestones.contract_signed_on == T0.date()
    assert str(customer.milestones.contract_amount.amount) == "52000"  # type: ignore[union-attr]
    assert ("stage", "lifecycle.contract_signed", "active") in _history(registry, cid)
    # the transaction and the rule's update are one commit: consecutive feed events
    kinds = [e.kind for e in registry.changes.since(actor=ADMIN, limit=100).events]
    assert kinds[-3:] == ["transaction.create", "customer.update", "customer.update"]


def test_a_contract_milestone_set_by_hand_also_activates(registry: Registry) -> None:
    cid = _person(registry, stage="lead")
    registry.customers.update(
        cid, {"milestones": {"contract_signed_on": "2026-03-01"}}, actor=ADMIN, reason="signed"
    )
    assert registry.customers.get(cid, actor=ADMIN).stage is LifecycleStage.ACTIVE
    assert ("stage", "lifecycle.contract_signed", "active") in _history(registry, cid)


# 07:30 on 1 March in Shanghai is 23:30 on 28 February in UTC
_SHANGHAI_MORNING = datetime(2026, 2, 28, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "day"), [(None, "2026-02-28"), ("UTC", "2026-02-28"), ("Asia/Shanghai", "2026-03-01")]
)
def test_milestone_dates_are_the_transactions_day_in_the_rules_zone(
    make: MakeRegistry, zone: str | None, day: str
) -> None:
    rules = (
        DEFAULT_RULES
        if zone is None
        else tuple(
            attrs.evolve(rule, zone=zone)
            if isinstance(rule, ContractSigned | FirstPayment)
            else rule
            for rule in DEFAULT_RULES
        )
    )
    registry = make(workflow=WorkflowSettings(rules=rules))
    cid = _person(registry, stage="prospect")
    _contract(registry, cid, _SHANGHAI_MORNING)
    milestones = registry.customers.get(cid, actor=ADMIN).milestones
    assert str(milestones.contract_signed_on) == day
    assert str(milestones.first_payment_on) == day


@pytest.mark.parametrize("rule", [ContractSigned, FirstPayment])
def test_a_milestone_rule_refuses_a_zone_that_is_not_an_iana_name(rule: Any) -> None:
    with pytest.raises(ValueError, match="IANA"):
        rule(zone="China Standard Time")
    with pytest.raises(TypeError, match="IANA"):
        rule(zone=8)


def test_an_ordinary_purchase_fills_the_first_payment_but_keeps_the_stage(
    registry: Registry,
) -> None:
    cid = _person(registry, stage="prospect")
    for day in (5, 3, 9):
        registry.activities.record_transaction(
            {"customer_id": cid, "occurred_at": T0 - timedelta(days=day), "amount": {"amount": 10}},
            actor=ADMIN,
        )
    customer = registry.customers.get(cid, actor=ADMIN)
    assert customer.stage is LifecycleStage.PROSPECT
    assert customer.milestones.first_payment_on == (T0 - timedelta(days=9)).date()


def test_every_interaction_moves_last_contacted_never_backwards(registry: Registry) -> None:
    cid = _person(registry)
    for hours in (5, 1, 3):
        registry.activities.record_interaction(
            {"customer_id": cid, "kind": "call", "occurred_at": T0 - timedelta(hours=hours)},
            actor=ADMIN,
        )
    customer = registry.customers.get(cid, actor=ADMIN)
    assert customer.last_contacted_at == T0 - timedelta(hours=1)


def test_a_complaint_opens_a_case_linked_to_it(registry: Registry) -> None:
    cid = _person(registry, owner="s-7", team="north")
    complaint = registry.activities.record_interaction(
        {"customer_id": cid, "kind": "complaint", "occurred_at": T0, "summary": "发票开错了"},
        actor=ADMIN,
    )
    (case,) = registry.cases.list_for(cid, actor=ADMIN)
    assert (case.kind.value, case.source_id, case.status.value) == (
        "complaint",
        complaint.id,
        "open",
    )
    assert (case.assignee, case.team, case.description) == ("s-7", "north", "发票开错了")
    assert "发票" not in repr(case)
    assert case.transitions[0].reason == "lifecycle.complaint_opens_case"


def test_a_next_follow_up_becomes_a_task(registry: Registry) -> None:
    cid = _person(registry, owner="s-7", team="north")
    call = registry.activities.record_interaction(
        {
            "customer_id": cid,
            "kind": "call",
            "occurred_at": T0,
            "staff_id": "s-9",
            "next_action_at": T0 + timedelta(days=2),
        },
        actor=ADMIN,
    )
    (task,) = registry.tasks.list_for(cid, actor=ADMIN)
    assert (task.kind.value, task.due_at, task.assignee, task.team, task.source) == (
        "follow_up",
        T0 + timedelta(days=2),
        "s-9",
        "north",
        f"interaction:{call.id}",
    )


@attrs.frozen
class _Flip:
    """A rule that sets ``intent`` whenever anything else changed the customer."""

    id: str
    value: str

    def react(self, event: LifecycleEvent) -> Reaction | None:
        if event.kind != "customer.update":
            return None
        return Reaction(changes={"intent": self.value})


def test_rules_that_keep_triggering_each_other_stop_with_a_clear_error_and_nothing_written(
    make: MakeRegistry,
) -> None:
    registry = make(
        workflow=WorkflowSettings(rules=(_Flip("flip.high", "high"), _Flip("flip.low", "low")))
    )
    cid = _person(registry)
    before = registry.changes.since(actor=ADMIN, limit=1000).cursor
    with pytest.raises(LifecycleLoop, match="deeper than 8"):
        registry.customers.update(cid, {"stage": "prospect"}, actor=ADMIN, reason="call")
    customer = registry.customers.get(cid, actor=ADMIN)
    assert (customer.stage, customer.intent, customer.version) == (LifecycleStage.LEAD, None, 1)
    assert registry.changes.since(before, actor=ADMIN).events == ()


def test_a_rule_never_sees_its_own_changes(make: MakeRegistry) -> None:
    registry = make(workflow=WorkflowSettings(rules=(_Flip("flip.high", "high"),)))
    cid = _person(registry)
    customer = registry.customers.update(cid, {"stage": "prospect"}, actor=ADMIN, reason="call")
    assert customer.intent is not None and customer.intent.value == "high"
    assert customer.version == 3  # the update, then the rule's change


@attrs.frozen
class _Bad:
    id: str = "bad.value"

    def react(self, event: LifecycleEvent) -> Reaction | None:
        if event.kind != "interaction":
            return None
        return Reaction(changes={"grade": "\x00"})


def test_a_rule_making_an_invalid_record_rolls_the_whole_change_back(make: MakeRegistry) -> None:
    registry = make(workflow=WorkflowSettings(rules=(_Bad(),)))
    cid = _person(registry)
    with pytest.raises(ValidationFailed):
        registry.activities.record_interaction(
            {"customer_id": cid, "kind": "call", "occurred_at": T0}, actor=ADMIN
        )
    assert registry.activities.list(cid, actor=ADMIN) == []


def test_no_rules_means_no_reactions(make: MakeRegistry) -> None:
    registry = make(workflow=WorkflowSettings(rules=()))
    cid = _person(registry, stage="prospect")
    registry.activities.record_transaction(
        {"customer_id": cid, "occurred_at": T0, "amount": {"amount": 1}, "category": "contract"},
        actor=ADMIN,
    )
    assert registry.customers.get(cid, actor=ADMIN).stage is LifecycleStage.PROSPECT


def test_the_sweep_moves_quiet_active_customers_to_dormant_once(
    make: MakeRegistry, clock: Any
) -> None:
    registry = make(workflow=WorkflowSettings(rules=(*DEFAULT_RULES[:-1], DormantAfter(days=90))))
    quiet = _person(registry, stage="active")
    busy = _person(registry, stage="active")
    clock.advance(days=100)
    registry.activities.record_interaction(
        {"customer_id": busy, "kind": "visit", "occurred_at": clock() - timedelta(days=1)},
        actor=ADMIN,
    )
    report = registry.workflow.sweep(actor=ADMIN)
    assert (report.swept, report.changed) == (2, 1)
    assert registry.customers.get(quiet, actor=ADMIN).stage is LifecycleStage.DORMANT
    assert registry.customers.get(busy, actor=ADMIN).stage is LifecycleStage.ACTIVE
    assert ("stage", "lifecycle.dormant_after", "dormant") in _history(registry, quiet)
    again = registry.workflow.sweep(actor=ADMIN)
    assert (again.swept, again.changed) == (1, 0)


def test_the_settings_refuse_rules_without_an_id_or_with_a_repeated_one() -> None:
    with pytest.raises(TypeError):
        WorkflowSettings(rules=(object(),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unique"):
        WorkflowSettings(rules=(_Flip("x", "high"), _Flip("x", "low")))
    with pytest.raises(ValueError, match="max_depth"):
        WorkflowSettings(max_depth=0)
    with pytest.raises(ValueError, match="due_soon must be positive"):
        WorkflowSettings(due_soon=timedelta(0))
    with pytest.raises(TypeError, match="due_soon"):
        WorkflowSettings(due_soon=4)  # type: ignore[arg-type]


def test_the_example_rule_of_examples_is_a_rule_in_twenty_lines_or_fewer() -> None:
    import ast
    import importlib.util
    from pathlib import Path

    from custrec.workflow import LifecycleRule

    path = Path(__file__).parents[3] / "examples" / "lifecycle_rule.py"
    spec = importlib.util.spec_from_file_location("lifecycle_rule_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rule = module.KeyAccountOnLargeOrder(100)
    assert isinstance(rule, LifecycleRule)
    (node,) = [
        n
        for n in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(n, ast.ClassDef) and n.name == "KeyAccountOnLargeOrder"
    ]
    assert node.end_lineno is not None and node.end_lineno - node.lineno + 1 <= 20


@attrs.frozen
class _Sloppy:
    id: str
    answer: Any

    def react(self, event: LifecycleEvent) -> Any:
        return self.answer if event.kind == "interaction" else None


def test_a_rule_answering_something_else_than_a_reaction_is_named(make: MakeRegistry) -> None:
    registry = make(workflow=WorkflowSettings(rules=(_Sloppy("sloppy", {"tags": ["x"]}),)))
    cid = _person(registry)
    with pytest.raises(TypeError, match="rule sloppy returned a dict"):
        registry.activities.record_interaction(
            {"customer_id": cid, "kind": "call", "occurred_at": T0}, actor=ADMIN
        )
    assert registry.activities.list(cid, actor=ADMIN) == []


def test_a_rules_values_are_read_as_an_update_reads_them(make: MakeRegistry) -> None:
    rule = _Sloppy("tagger", Reaction(changes={"tags": "vip", "stage": "prospect"}))
    registry = make(workflow=WorkflowSettings(rules=(rule,)))
    cid = _person(registry)
    registry.activities.record_interaction(
        {"customer_id": cid, "kind": "call", "occurred_at": T0}, actor=ADMIN
    )
    customer = registry.customers.get(cid, actor=ADMIN)
    assert (customer.tags, customer.stage) == (("vip",), LifecycleStage.PROSPECT)


def test_a_reactions_repr_names_the_fields_it_changes_not_their_values() -> None:
    shown = repr(Reaction(changes={"notes": "客户住在朝阳区", "stage": "active"}))
    assert "朝阳" not in shown and "notes, stage" in shown


def test_a_recent_purchase_keeps_a_customer_active_in_every_batch_of_the_sweep(
    make: MakeRegistry, clock: Any
) -> None:
    rules = (*DEFAULT_RULES[:-1], DormantAfter(days=90))
    registry = make(workflow=WorkflowSettings(rules=rules))
    customers = [_person(registry, stage="active") for _ in range(5)]
    clock.advance(days=100)
    buyers = set(customers[1::2])
    for cid in buyers:
        registry.activities.record_transaction(
            {
                "customer_id": cid,
                "occurred_at": clock() - timedelta(days=3),
                "amount": {"amount": 9},
            },
            actor=ADMIN,
        )
    report = registry.workflow.sweep(actor=ADMIN, batch_size=1)  # one customer per batch
    assert (report.swept, report.changed) == (5, 5 - len(buyers))
    stages = {cid: registry.customers.get(cid, actor=ADMIN).stage for cid in customers}
    assert stages == {
        cid: LifecycleStage.ACTIVE if cid in buyers else LifecycleStage.DORMANT for cid in customers
    }


def test_cases_and_tasks_a_rule_makes_may_name_their_kinds_as_text(make: MakeRegistry) -> None:
    from custrec.workflow import Case, Task

    made = Reaction(
        cases=(Case(customer_id="", kind="service_request", priority="high", opened_at=T0),),
        tasks=(Task(customer_id="", kind="return_visit", due_at=T0 + timedelta(days=7)),),
    )
    registry = make(workflow=WorkflowSettings(rules=(_Sloppy("visits", made),)))
    cid = _person(registry)
    registry.activities.record_interaction(
        {"customer_id": cid, "kind": "call", "occurred_at": T0}, actor=ADMIN
    )
    (case,) = registry.cases.list_for(cid, actor=ADMIN)
    (task,) = registry.tasks.list_for(cid, actor=ADMIN)
    assert (case.kind.value, case.priority.value) == ("service_request", "high")
    assert (task.kind.value, task.source) == ("return_visit", "rule:visits")
