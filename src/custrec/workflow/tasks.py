"""Tasks: follow-ups, return visits and re-verifications with a due instant.

A :class:`Task` belongs to one customer and one assignee (and team). Completing it records the
outcome and links the interaction that did the work. Tasks are made by hand, from an
interaction's ``next_action_at`` (a follow-up), or by a recurring rule's sweep
(:mod:`custrec.workflow.recurring`), which gives them deterministic ids so that a sweep run twice
makes each task once.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Final

import attrs

from custrec.model.ids import new_id
from custrec.model.records import DataCategory, personal

__all__ = ["OPEN_TASK_STATUSES", "Task", "TaskKind", "TaskStatus"]


class TaskKind(enum.StrEnum):
    """What a task is for."""

    FOLLOW_UP = "follow_up"
    RETURN_VISIT = "return_visit"
    REVERIFICATION = "reverification"
    OTHER = "other"


class TaskStatus(enum.StrEnum):
    """Where a task stands."""

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


OPEN_TASK_STATUSES: Final = frozenset({TaskStatus.OPEN})
"""Statuses of a task still to do."""


@attrs.frozen(kw_only=True)
class Task:
    """A piece of work on one customer, due at an instant.

    ``source`` says where it came from: ``None`` (made by hand), ``"interaction:<id>"`` (the
    interaction's next follow-up) or ``"rule:<rule id>"`` (a recurring rule). ``note`` is
    personal (free text about the customer). ``interaction_id`` links the interaction that did
    the work once the task is done; ``outcome`` says how it went (no personal data).
    """

    id: str = attrs.field(factory=new_id)
    customer_id: str
    kind: TaskKind = attrs.field(default=TaskKind.FOLLOW_UP, converter=TaskKind)
    due_at: datetime
    assignee: str | None = None
    team: str | None = None
    status: TaskStatus = attrs.field(default=TaskStatus.OPEN, converter=TaskStatus)
    note: str | None = personal(category=DataCategory.COMMUNICATION, default=None)
    source: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None  # the actor who completed or cancelled it
    interaction_id: str | None = None
    outcome: str | None = None

    @property
    def is_open(self) -> bool:
        """Whether the task is still to do."""
        return self.status in OPEN_TASK_STATUSES
