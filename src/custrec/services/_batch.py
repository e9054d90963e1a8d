"""A batch intake's per-customer decisions, shared by ``intake_many`` and the presealing
import path: the right to create and the duplicate check; and the pause of the cyclic garbage
collector while a batch is worked on."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime

from custrec.matching import StrongKey
from custrec.matching.keys import MatchKey
from custrec.security import Action, Actor, Resource
from custrec.services._records import matched
from custrec.services.context import Unit


def may_create(
    unit: Unit,
    actor: Actor,
    resource: Resource,
    *,
    position: int,
    denied: dict[int, str],
    now: datetime,
) -> bool:
    """A batch's access check for one new customer: whether ``actor`` may create what
    ``resource`` describes; if not, the reason goes into ``denied`` at ``position`` and the
    refusal is audited (``denied.create``)."""
    decision = unit.context.policy.decide(actor, Action.CREATE, resource)
    if decision.allowed:
        return True
    denied[position] = decision.reason
    unit.audit(actor, "denied.create", at=now, reason=decision.reason, outcome="denied")
    return False


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
        ids, _ = matched(keys, tokens, found)
        clash = sorted(set(ids) | {seen[k] for k in keys if k in seen})
        if clash:
            return tuple(clash)
    for key in keys:
        seen.setdefault(key, customer_id)
    return ()


class _Pause:
    """How many batches have the cyclic garbage collector paused, and whether it ran before
    the first of them paused it (batches of several threads overlap)."""

    lock = threading.Lock()
    batches = 0
    collecting = False


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch is worked on; it runs again (if
    it ran before) when the last overlapping batch ends, however it ends.

    A batch keeps tens of thousands of new objects alive until its commit (records, rows,
    keys, audit entries) and makes no reference cycle: every few hundred of them the
    collector would start a pass, and the passes over the older generations walk the whole
    heap (a fifth of a bulk intake's time on 20,000-customer batches). Refcounting still frees
    everything the batch drops at once; the collector's next pass, after the batch, finds
    whatever cycle the batch left.
    """
    with _Pause.lock:
        if _Pause.batches == 0:
            _Pause.collecting = gc.isenabled()
            gc.disable()
        _Pause.batches += 1
    try:
        yield
    finally:
        with _Pause.lock:
            _Pause.batches -= 1
            if _Pause.batches == 0 and _Pause.collecting:
                gc.enable()
