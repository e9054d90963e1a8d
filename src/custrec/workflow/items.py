"""What the due lists return: cases and tasks as plain facts, without personal data."""

from __future__ import annotations

from datetime import datetime

import attrs

__all__ = ["WorkItem", "WorkPage"]


@attrs.frozen(kw_only=True)
class WorkItem:
    """A case or task as a due list shows it: no description or note, only its facts."""

    id: str
    kind: str  # "case" or "task"
    customer_id: str
    status: str
    open: bool
    assignee: str | None
    team: str | None
    due_at: datetime | None
    breached: bool
    version: int


@attrs.frozen(kw_only=True)
class WorkPage:
    """A page of a due list, by due instant then id; pass ``next`` as ``after=`` for the next
    page (``None``: this was the last)."""

    items: tuple[WorkItem, ...]
    next: tuple[datetime, str] | None
