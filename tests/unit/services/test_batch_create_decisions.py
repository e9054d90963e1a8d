"""A batch intake's decisions per customer (``services._batch``): a :class:`RoleBasedPolicy`
is asked about ``create`` once per owner and team (``may_create`` with the batch's
``decisions``), yet each customer still gets the decision, the denial reason and the audited
refusal that asking the policy for it gives; the duplicate check (``claim_keys``) looks up
nothing when nothing is stored under the batch's tokens, and answers as looking up every key."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.model.records import Customer, CustomerKind
from custrec.security import Action, Actor, Resource, RoleBasedPolicy
from custrec.security.access import DEFAULT_GRANTS, AccessDecision
from custrec.services._batch import CreateDecisions, claim_keys, may_create
from custrec.services._records import matched

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


def _run(
    unit: _Unit,
    actor: Actor,
    resources: list[Resource] | list[Customer],
    memo: CreateDecisions | None,
):
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


@settings(max_examples=100, deadline=None)
@given(roles=ROLES, team=NAMES, scopes=st.lists(st.tuples(NAMES, NAMES), max_size=8))
def test_a_new_customer_is_decided_as_its_resource(
    roles: set[str], team: str | None, scopes: list[tuple[str | None, str | None]]
) -> None:
    actor = Actor(id="u-1", roles=roles, team=team)
    customers = [
        Customer(kind=CustomerKind.INDIVIDUAL, name="x", owner=owner, team=in_team)
        for owner, in_team in scopes
    ]
    for policy in (RoleBasedPolicy(), _Counting()):
        given_customers = _run(_Unit(policy), actor, customers, {})
        given_resources = _run(_Unit(policy), actor, [Resource.of(c) for c in customers], None)
        assert given_customers == given_resources


def test_a_policy_of_another_type_is_asked_for_every_customer() -> None:
    policy = _Counting()
    actor = Actor(id="u-1", roles={"admin"})
    resources = [Resource(owner="u-1")] * 3
    memo: CreateDecisions = {}
    assert _run(_Unit(policy), actor, resources, memo)[0] == [True, True, True]
    assert policy.asked == 3
    assert memo == {}


# -- the duplicate check: claim_keys ----------------------------------------------------------

KEY_LIST = [("phone", "+861"), ("phone", "+862"), ("email", "a@b"), ("ric", "1")]
KEYS = st.sampled_from(KEY_LIST)


def _claim_keys_by_look_up(keys, customer_id, tokens, found, seen, *, check):  # type: ignore[no-untyped-def]
    """claim_keys as it was: the stored customers looked up even when nothing is stored."""
    if check:
        ids, _ = matched(keys, tokens, found)
        clash = sorted(set(ids) | {seen[k] for k in keys if k in seen})
        if clash:
            return tuple(clash)
    for key in keys:
        seen.setdefault(key, customer_id)
    return ()


@settings(max_examples=300, deadline=None)
@given(
    batch=st.lists(st.frozensets(KEYS, max_size=3), max_size=6),
    stored=st.dictionaries(
        st.sampled_from(["t1", "t2", "t3", "t4", "t5"]),
        st.lists(st.sampled_from(["c-1", "c-2"]), min_size=1, max_size=2),
        max_size=3,
    ),
    check=st.booleans(),
)
def test_claim_keys_answers_as_looking_up_every_key(
    batch: list[frozenset[tuple[str, str]]], stored: dict[str, list[str]], check: bool
) -> None:
    tokens = {key: (f"t{i + 1}", f"t{i + 2}") for i, key in enumerate(KEY_LIST)}
    mine: dict[tuple[str, str], str] = {}
    theirs: dict[tuple[str, str], str] = {}
    for i, keys in enumerate(batch):
        got = claim_keys(keys, f"n-{i}", tokens, stored, mine, check=check)
        assert got == _claim_keys_by_look_up(keys, f"n-{i}", tokens, stored, theirs, check=check)
        assert mine == theirs
