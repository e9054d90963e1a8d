"""A batch intake's per-customer decisions, shared by ``intake_many`` and the presealing
import path: the right to create and the duplicate check."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from custrec.matching import StrongKey
from custrec.matching.keys import MatchKey
from custrec.model.records import Customer
from custrec.security import Action, Actor, Resource
from custrec.security.access import AccessDecision, RoleBasedPolicy
from custrec.services._records import matched
from custrec.services.context import Unit

__all__ = ["CreateDecisions", "claim_keys", "clash_kinds", "may_create"]

CreateDecisions = dict[tuple[RoleBasedPolicy, str | None, str | None], AccessDecision]
"""A batch's decisions on ``create`` by policy and the resource's owner and team (see
:func:`may_create`)."""


def may_create(
    unit: Unit,
    actor: Actor,
    resource: Resource | Customer,
    *,
    position: int,
    denied: dict[int, str],
    now: datetime,
    decisions: CreateDecisions | None = None,
) -> bool:
    """A batch's access check for one new customer: whether ``actor`` may create what
    ``resource`` describes (the new customer itself: its :meth:`Resource.of
    <custrec.security.Resource.of>` is made when the policy is asked); if not, the reason goes
    into ``denied`` at ``position`` and the refusal is audited (``denied.create``).

    ``decisions``: the batch's decisions so far (one actor). A
    :class:`~custrec.security.RoleBasedPolicy` decides ``create`` from the actor's roles and
    the resource's owner and team alone (never its id), so a batch asks it once per owner and
    team instead of once per customer; any other policy is asked every time."""
    policy = unit.context.policy
    if decisions is None or type(policy) is not RoleBasedPolicy:
        decision = policy.decide(actor, Action.CREATE, _resource(resource))
    else:
        scope = (policy, resource.owner, resource.team)
        found = decisions.get(scope)
        if found is None:
            found = policy.decide(actor, Action.CREATE, _resource(resource))
            decisions[scope] = found
        decision = found
    if decision.allowed:
        return True
    denied[position] = decision.reason
    unit.audit(actor, "denied.create", at=now, reason=decision.reason, outcome="denied")
    return False


def _resource(described: Resource | Customer) -> Resource:
    return described if isinstance(described, Resource) else Resource.of(described)


def claim_keys(
    keys: Collection[StrongKey],
    customer_id: str,
    tokens: Mapping[MatchKey, tuple[str, ...]],
    found: Mapping[str, Sequence[str]],
    seen: dict[StrongKey, str],
    *,
    check: bool = True,
) -> tuple[str, ...]:
    """A batch's duplicate check for one new customer: the ids of stored customers ``found``
    under its ``keys`` and of earlier customers of the batch that claimed one (``seen``), or,
    when there are none (or ``check`` is off), ``()`` after claiming its keys in ``seen``."""
    if check:
        clash = {seen[k] for k in keys if k in seen}
        if found:  # empty for a batch of new customers: nothing stored to look up
            ids, _ = matched(keys, tokens, found)
            clash.update(ids)
        if clash:
            return tuple(sorted(clash))
    for key in keys:
        seen.setdefault(key, customer_id)
    return ()


def clash_kinds(
    keys: Collection[StrongKey],
    tokens: Mapping[MatchKey, tuple[str, ...]],
    found: Mapping[str, Sequence[str]],
    seen: Mapping[StrongKey, str],
) -> tuple[str, ...]:
    """The kinds of ``keys`` (``phone``, ``email``, ...) that made :func:`claim_keys` refuse a
    customer: held by an earlier customer of the batch (``seen``) or found stored."""
    kinds = {key[0] for key in keys if key in seen}
    if found:
        kinds.update(matched(keys, tokens, found)[1])
    return tuple(sorted(kinds))
