"""A batch intake asks a :class:`RoleBasedPolicy` about ``create`` once per owner and team
(``services._batch.may_create`` with the batch's ``decisions``): each customer still gets the
decision, the denial reason and the audited refusal that asking the policy for it gives."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.security import Action, Actor, Resource, RoleBasedPolicy
from custrec.security.access import DEFAULT_GRANTS, AccessDecision
from custrec.services._batch import CreateDecisions, may_create

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = st.sampled_from(["u-1", "u-2", "t-1", "t-2", ""]) | st.none()
ROLES = st.sets(st.sampled_from([*sorted(DEFAULT_GRANTS), "nobody"]), max_size=3)


class _Unit:
    """What ``may_create`` uses of a unit of work: the policy and the audit."""

    def __init__(self, policy: Any) -> None:
        self.context = SimpleNamespace(policy=policy)
        self.audited: list[tuple[Any, ...]] = []

    def audit(self, actor: Actor, action: str, **kwargs: Any) -> None:
        self.audited.append((actor.id, action, sorted(kwargs.items())))


class _Counting(RoleBasedPolicy):
    """A subclass may decide otherwise: it is asked every time."""

    __slots__ = ("asked",)

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def decide(self, actor: Actor, action: Action | str, resource: Resource) -> AccessDecision:
        self.asked += 1
        return super().decide(actor, action, resource)


def _run(unit: _Unit, actor: Actor, resources: list[Resource], memo: CreateDecisions | None):
    denied: dict[int, str] = {}
    answers = [
        may_create(unit, actor, r, position=i, denied=denied, now=NOW, decisions=memo)
        for i, r in enumerate(resources)
    ]
    return answers, denied, unit.audited


@settings(max_examples=200, deadline=None)
@given(
    roles=ROLES,
    team=NAMES,
    resources=st.lists(
        st.builds(
            lambda cid, owner, team: Resource(customer_id=cid, owner=owner, team=team),
            st.uuids().map(str) | st.none(),
            NAMES,
            NAMES,
        ),
        max_size=12,
    ),
)
def test_a_batch_s_decisions_are_the_policy_s_for_each_customer(
    roles: set[str], team: str | None, resources: list[Resource]
) -> None:
    actor = Actor(id="u-1", roles=roles, team=team)
    policy = RoleBasedPolicy()
    memo: CreateDecisions = {}
    assert _run(_Unit(policy), actor, resources, memo) == _run(
        _Unit(policy), actor, resources, None
    )
    assert len(memo) == len({(r.owner, r.team) for r in resources})


def test_a_policy_of_another_type_is_asked_for_every_customer() -> None:
    policy = _Counting()
    actor = Actor(id="u-1", roles={"admin"})
    resources = [Resource(owner="u-1")] * 3
    memo: CreateDecisions = {}
    assert _run(_Unit(policy), actor, resources, memo)[0] == [True, True, True]
    assert policy.asked == 3
    assert memo == {}
