"""Every role against every registry action on owned, team and foreign customers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.errors import AccessDenied

SETUP = Actor(id="setup", roles={"admin", "unmask"})
NAME = "王小明"

# Who is acting: id "a" in team "t1", with these roles.
ROLES: dict[str, frozenset[str]] = {
    "staff": frozenset({"staff"}),
    "manager": frozenset({"manager"}),
    "admin": frozenset({"admin"}),
    "auditor": frozenset({"auditor"}),
    "staff+unmask": frozenset({"staff", "unmask"}),
    "manager+erase": frozenset({"manager", "erase"}),
    "admin+unmask+erase": frozenset({"admin", "unmask", "erase"}),
}
# Whose customer: the actor's own, a team-mate's, or another team's.
TARGETS = {"own": ("a", "t1"), "team": ("b", "t1"), "foreign": ("c", "t2")}
ACTIONS = ("get", "history", "update", "interaction", "erase")

# outcome per role and action, for (own, team, foreign):
# "clear" = allowed and unmasked, "masked" = allowed with masked values, "ok" = allowed (writes),
# "-" = AccessDenied
EXPECTED: dict[str, dict[str, tuple[str, str, str]]] = {
    "staff": {
        "get": ("masked", "-", "-"),
        "history": ("masked", "-", "-"),
        "update": ("ok", "-", "-"),
        "interaction": ("ok", "-", "-"),
        "erase": ("-", "-", "-"),
    },
    "manager": {
        "get": ("masked", "masked", "-"),
        "history": ("masked", "masked", "-"),
        "update": ("ok", "ok", "-"),
        "interaction": ("ok", "ok", "-"),
        "erase": ("-", "-", "-"),
    },
    "admin": {
        "get": ("masked", "masked", "masked"),
        "history": ("masked", "masked", "masked"),
        "update": ("ok", "ok", "ok"),
        "interaction": ("ok", "ok", "ok"),
        "erase": ("-", "-", "-"),
    },
    "auditor": {
        "get": ("masked", "masked", "masked"),
        "history": ("masked", "masked", "masked"),
        "update": ("-", "-", "-"),
        "interaction": ("-", "-", "-"),
        "erase": ("-", "-", "-"),
    },
    "staff+unmask": {
        "get": ("clear", "-", "-"),
        "history": ("clear", "-", "-"),
        "update": ("ok", "-", "-"),
        "interaction": ("ok", "-", "-"),
        "erase": ("-", "-", "-"),
    },
    "manager+erase": {
        "get": ("masked", "masked", "-"),
        "history": ("masked", "masked", "-"),
        "update": ("ok", "ok", "-"),
        "interaction": ("ok", "ok", "-"),
        "erase": ("ok", "ok", "-"),
    },
    "admin+unmask+erase": {
        "get": ("clear", "clear", "clear"),
        "history": ("clear", "clear", "clear"),
        "update": ("ok", "ok", "ok"),
        "interaction": ("ok", "ok", "ok"),
        "erase": ("ok", "ok", "ok"),
    },
}
AUDIT_READ = {"auditor"}  # only auditors read the audit log


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(MemoryStore(), keyring=KeyRing.generate())


def _outcome(call: Callable[[], object]) -> str:
    try:
        result = call()
    except AccessDenied:
        return "-"
    if result is None:
        return "ok"
    return str(result)


CASES = [(role, action, target) for role in ROLES for action in ACTIONS for target in TARGETS]


@pytest.mark.parametrize(("role", "action", "target"), CASES)
def test_role_matrix(registry: Registry, role: str, action: str, target: str) -> None:
    owner, team = TARGETS[target]
    c = registry.customers.intake(
        {
            "kind": "individual",
            "name": NAME,
            "owner": owner,
            "team": team,
            "contacts": [{"wechat": f"wx_{role}_{action}_{target}".replace("+", "_")}],
        },
        actor=SETUP,
        allow_duplicates=True,
    )
    actor = Actor(id="a", roles=ROLES[role], team="t1")

    def get() -> str:
        return "clear" if registry.customers.get(c.id, actor=actor).name == NAME else "masked"

    def history() -> str:
        first = registry.customers.history(c.id, actor=actor)[0]
        return "clear" if first.new["name"] == NAME else "masked"

    def update() -> None:
        registry.customers.update(c.id, {"stage": "prospect"}, actor=actor, reason="matrix")

    def interaction() -> None:
        registry.activities.record_interaction(
            {"customer_id": c.id, "kind": "call", "occurred_at": datetime.now(UTC).isoformat()},
            actor=actor,
        )

    def erase() -> None:
        registry.privacy.erase(c.id, actor=actor, reason="matrix")

    calls = {"get": get, "history": history, "update": update, "interaction": interaction}
    calls["erase"] = erase
    column = list(TARGETS).index(target)
    assert _outcome(calls[action]) == EXPECTED[role][action][column]


@pytest.mark.parametrize("role", list(ROLES))
def test_only_auditors_read_the_audit_log(registry: Registry, role: str) -> None:
    actor = Actor(id="a", roles=ROLES[role], team="t1")
    outcome = _outcome(lambda: registry.audit.trail(actor=actor, limit=1) and None)
    assert outcome == ("ok" if role in AUDIT_READ else "-")


def test_denied_attempts_are_on_record(registry: Registry) -> None:
    c = registry.customers.intake(
        {"kind": "individual", "name": NAME, "owner": "c", "contacts": [{"wechat": "wx_denied"}]},
        actor=SETUP,
    )
    intruder = Actor(id="intruder", roles={"staff"}, team="t1")
    with pytest.raises(AccessDenied):
        registry.customers.update(c.id, {"stage": "active"}, actor=intruder, reason="try")
    auditor = Actor(id="aud", roles={"auditor"})
    denied = registry.audit.trail(actor=auditor, actor_id="intruder")
    assert [(e.action, e.customer_id, e.outcome, e.reason) for e in denied] == [
        ("denied.update", c.id, "denied", "not_owner")
    ]
