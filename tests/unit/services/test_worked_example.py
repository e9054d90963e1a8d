"""docs/architecture.md's worked example is a real service: it runs against a real registry."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.errors import AccessDenied, InvalidState
from custrec.services import Records

ARCHITECTURE = Path(__file__).parents[3] / "docs" / "architecture.md"


def example_module() -> types.ModuleType:
    """The first Python block of docs/architecture.md, loaded as a module."""
    [source, *_] = re.findall(r"```python\n(.*?)```", ARCHITECTURE.read_text("utf-8"), re.S)
    module = types.ModuleType("stages_example")
    exec(compile(source, str(ARCHITECTURE), "exec"), module.__dict__)
    return module


def registered(registry: Registry) -> Any:
    """What the one registration line in Registry.__init__ does."""
    context = registry._context
    return example_module().StageService(context, Records(context), registry.customers)


CLERK = Actor(id="u-1", roles={"staff", "unmask"}, team="north")
OTHER = Actor(id="u-2", roles={"staff"}, team="south")
AUDITOR = Actor(id="auditor", roles={"auditor"})


def test_the_worked_example_moves_a_customer_along_with_history_and_audit() -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    stages = registered(registry)
    customer = registry.customers.intake(
        {"kind": "individual", "name": "张三", "contacts": [{"phones": ["13800138000"]}]},
        actor=CLERK,
    )
    assert stages.next_stage(customer.id, actor=CLERK).value == "prospect"
    moved = stages.advance(customer.id, actor=CLERK, reason="first call")
    assert moved.stage.value == "prospect"
    entry = registry.customers.history(customer.id, actor=CLERK)[-1]
    assert (entry.path, entry.old, entry.new, entry.reason) == (
        "stage",
        "lead",
        "prospect",
        "first call",
    )
    stages.advance(customer.id, actor=CLERK, reason="contract signed")
    with pytest.raises(InvalidState):
        stages.advance(customer.id, actor=CLERK, reason="again")
    actions = [e.action for e in registry.audit.trail(actor=AUDITOR, customer_id=customer.id)]
    assert actions.count("stage.read") == 4  # every read of the service is audited


def test_the_worked_example_inherits_access_control_and_the_reason_rule() -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    stages = registered(registry)
    customer = registry.customers.intake(
        {"kind": "individual", "name": "李四", "contacts": [{"phones": ["13900139000"]}]},
        actor=CLERK,
    )
    with pytest.raises(AccessDenied):
        stages.advance(customer.id, actor=OTHER, reason="not mine")
    with pytest.raises(ValueError, match="reason"):
        stages.advance(customer.id, actor=CLERK, reason=" ")
    denied = registry.audit.trail(actor=AUDITOR, customer_id=customer.id, newest_first=True)
    assert denied[0].action == "denied.read"
