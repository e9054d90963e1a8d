"""Service cases: complaints, inquiries, service requests and repairs, and how they move.

A :class:`Case` is a frozen record like every custrec record: its description is personal (a
customer's complaint in their own words) and is never shown by ``repr()``. Its status moves
along :data:`CASE_TRANSITIONS` only; every move is a :class:`CaseTransition` kept in the case,
with who, when and why. Whether the case keeps its response-time targets is computed from that
story by :func:`custrec.workflow.sla.sla_status` (pauses are the spans spent waiting on the
customer, and the spans between a resolution and a reopening).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import datetime
from typing import Final

import attrs

from custrec.model.ids import new_id
from custrec.model.records import DataCategory, personal
from custrec.workflow.sla import SlaPolicy, SlaStatus, sla_status

__all__ = [
    "CASE_TRANSITIONS",
    "OPEN_CASE_STATUSES",
    "Case",
    "CaseEscalation",
    "CaseKind",
    "CasePriority",
    "CaseStatus",
    "CaseTransition",
    "case_pauses",
    "case_status",
]


class CaseKind(enum.StrEnum):
    """What a case is about."""

    COMPLAINT = "complaint"
    INQUIRY = "inquiry"
    SERVICE_REQUEST = "service_request"
    REPAIR = "repair"


class CasePriority(enum.StrEnum):
    """How urgent a case is."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class CaseStatus(enum.StrEnum):
    """Where a case stands."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


OPEN_CASE_STATUSES: Final = frozenset(
    {CaseStatus.OPEN, CaseStatus.IN_PROGRESS, CaseStatus.WAITING_ON_CUSTOMER, CaseStatus.REOPENED}
)
"""Statuses of a case that still needs work (resolved and closed cases do not)."""

_WORKING: Final = (CaseStatus.IN_PROGRESS, CaseStatus.WAITING_ON_CUSTOMER, CaseStatus.RESOLVED)

CASE_TRANSITIONS: Final[dict[CaseStatus, frozenset[CaseStatus]]] = {
    CaseStatus.OPEN: frozenset({*_WORKING, CaseStatus.CLOSED}),
    CaseStatus.IN_PROGRESS: frozenset(
        {CaseStatus.WAITING_ON_CUSTOMER, CaseStatus.RESOLVED, CaseStatus.CLOSED}
    ),
    CaseStatus.WAITING_ON_CUSTOMER: frozenset(
        {CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED, CaseStatus.CLOSED}
    ),
    CaseStatus.RESOLVED: frozenset({CaseStatus.CLOSED, CaseStatus.REOPENED}),
    CaseStatus.CLOSED: frozenset({CaseStatus.REOPENED}),
    CaseStatus.REOPENED: frozenset({*_WORKING, CaseStatus.CLOSED}),
}
"""The moves a case may make: from each status, the statuses it may go to."""

_PAUSING: Final = frozenset(
    {CaseStatus.WAITING_ON_CUSTOMER, CaseStatus.RESOLVED, CaseStatus.CLOSED}
)


@attrs.frozen(kw_only=True)
class CaseTransition:
    """One move of a case: from which status to which, when, by whom and why (the reason is
    stored in the clear: no personal data in it)."""

    at: datetime
    actor_id: str
    from_status: CaseStatus | None = attrs.field(
        converter=attrs.converters.optional(CaseStatus)
    )  # None: the case was opened
    to_status: CaseStatus = attrs.field(converter=CaseStatus)
    reason: str | None = None


@attrs.frozen(kw_only=True)
class CaseEscalation:
    """A response-time target the case missed, escalated once to ``to`` (a role or person)."""

    target: str  # "first_response" or "resolution"
    at: datetime
    to: str | None = None


@attrs.frozen(kw_only=True)
class Case:
    """A complaint, inquiry, service request or repair of one customer.

    ``source_id`` names the interaction or transaction it came from. ``grade`` is the
    customer's grade when the case was opened (it chooses the response-time target). The
    response-time fields are computed and stored by the service (``first_response_due``,
    ``resolution_due``, ``warn_at``, ``breached``); ``transitions`` is the case's whole story,
    ``escalations`` the targets it missed.
    """

    id: str = attrs.field(factory=new_id)
    customer_id: str
    kind: CaseKind = attrs.field(default=CaseKind.INQUIRY, converter=CaseKind)
    priority: CasePriority = attrs.field(default=CasePriority.NORMAL, converter=CasePriority)
    category: str | None = None
    subject: str | None = personal(category=DataCategory.COMMUNICATION, default=None)
    description: str | None = personal(category=DataCategory.COMMUNICATION, default=None)
    source_id: str | None = None
    assignee: str | None = None
    team: str | None = None
    grade: str | None = None
    status: CaseStatus = attrs.field(default=CaseStatus.OPEN, converter=CaseStatus)
    opened_at: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    satisfaction: int | None = None  # 1 (very dissatisfied) to 5 (very satisfied)
    sla_policy: str | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    warn_at: datetime | None = None
    breached: tuple[str, ...] = ()
    escalations: tuple[CaseEscalation, ...] = ()
    transitions: tuple[CaseTransition, ...] = ()

    @property
    def is_open(self) -> bool:
        """Whether the case still needs work."""
        return self.status in OPEN_CASE_STATUSES

    @property
    def reopen_count(self) -> int:
        """How many times the case was reopened."""
        return sum(1 for t in self.transitions if t.to_status is CaseStatus.REOPENED)


def case_pauses(case: Case) -> Iterator[tuple[datetime, datetime | None]]:
    """The spans during which the case's clock stands still: waiting on the customer, and
    resolved or closed until a reopening (the last span is open-ended while it lasts)."""
    started: datetime | None = None
    for move in case.transitions:
        pausing = move.to_status in _PAUSING
        if pausing and started is None:
            started = move.at
        elif not pausing and started is not None:
            yield started, move.at
            started = None
    if started is not None:
        yield started, None


def case_status(case: Case, policy: SlaPolicy | None, as_of: datetime) -> SlaStatus | None:
    """Where ``case`` stands against the target ``policy`` gives it (by kind, priority and
    grade) as of ``as_of`` (never before the opening), or ``None`` without a target."""
    if policy is None:
        return None
    target = policy.target_for(case.kind.value, case.priority.value, case.grade)
    if target is None:
        return None
    return sla_status(
        target,
        policy.time,
        opened_at=case.opened_at,
        pauses=tuple(case_pauses(case)),
        first_response_at=case.first_response_at,
        resolved_at=case.resolved_at,
        as_of=max(as_of, case.opened_at),
    )
