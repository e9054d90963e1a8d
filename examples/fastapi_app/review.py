"""The duplicate review queue, on custrec's review workflow.

A record that looked like a stored one at intake (core.take_in) waits ``pending_review``
(``registry.review.pending`` lists them). For each, a reviewer sees the stored look-alikes with
the match evidence and decides:

- ``merge``: the same customer. ``registry.matching.merge`` folds the new record into the
  stored one it names, which survives; the new id becomes an alias of it.
- ``distinct``: not the same customer. ``registry.review.approve`` keeps the record (verified).
- ``reject``: the record is no customer at all (a test entry, junk). ``registry.review.reject``
  keeps it as ``rejected``, for the retention schedule to deal with.

Every decision is made as the reviewer, with a fixed reason naming only ids (reasons are stored
in the clear in the history and the audit log), and is refused with ``InvalidState`` (422) when
the record is no longer pending: two reviewers deciding the same record, the second loses.
custrec has no "defer": an item stays in the queue until decided.
"""

from __future__ import annotations

import enum
from itertools import islice

import attrs

from custrec import Registry
from custrec.errors import AccessDenied, InvalidState
from custrec.matching import DuplicateCandidate
from custrec.model.records import Customer, VerificationStatus
from custrec.security import Actor
from fastapi_app.core import EVIDENCE_ACTOR

QUEUE_PAGE = 50  # the list shows the first 50 records pending review, by id


class Decision(enum.StrEnum):
    MERGE = "merge"
    DISTINCT = "distinct"
    REJECT = "reject"


@attrs.frozen
class LookAlike:
    """A stored customer the pending record may be: as the reviewer may see it (masked), or
    ``None`` when the reviewer may not read it, and the evidence (no values)."""

    candidate: DuplicateCandidate
    customer: Customer | None


def queue(registry: Registry, actor: Actor) -> list[Customer]:
    """The first records pending review that the actor may read (masked for a reader who may not
    unmask). ``review.pending`` reads every customer: a back-office page over a modest store
    can afford it; a large store would keep the queue in an index of its own."""
    return list(islice(registry.review.pending(actor=actor), QUEUE_PAGE))


def evidence(registry: Registry, customer_id: str) -> tuple[DuplicateCandidate, ...]:
    """The stored look-alikes of a record, best first, with the reasons: ids, scores and field
    findings only. The record is read in the clear by the evidence service actor (core.py) and
    never leaves this function."""
    record = registry.customers.get(customer_id, actor=EVIDENCE_ACTOR)
    return registry.matching.find_duplicates(record, actor=EVIDENCE_ACTOR).candidates


def look_alikes(registry: Registry, customer_id: str, actor: Actor) -> list[LookAlike]:
    found = []
    for candidate in evidence(registry, customer_id):
        try:
            shown: Customer | None = registry.customers.get(candidate.customer_id, actor=actor)
        except AccessDenied:  # another team's customer: the evidence, without the record
            shown = None
        found.append(LookAlike(candidate, shown))
    return found


def decide(
    registry: Registry,
    customer_id: str,
    decision: Decision,
    *,
    actor: Actor,
    into: str | None = None,
) -> None:
    """Carry out a reviewer's decision on a pending record. ``into`` (for ``merge``) must be
    one of the record's look-alikes: a form cannot merge a record into an arbitrary one."""
    record = registry.customers.get(customer_id, actor=actor)
    if record.id != customer_id or record.verification is not VerificationStatus.PENDING_REVIEW:
        raise InvalidState(f"customer {customer_id} is not pending review")
    if decision is Decision.MERGE:
        if into is None or into not in {c.customer_id for c in evidence(registry, customer_id)}:
            raise InvalidState(f"customer {customer_id} has no look-alike {into}")
        reason = f"duplicate review: the same customer as {into}"
        registry.matching.merge(into, [customer_id], actor=actor, reason=reason)
    elif decision is Decision.DISTINCT:
        reason = "duplicate review: not the same as its look-alikes"
        registry.review.approve(customer_id, actor=actor, reason=reason)
    else:
        registry.review.reject(customer_id, actor=actor, reason="duplicate review: rejected")
