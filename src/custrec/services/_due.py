"""The due lists of cases and tasks: one keyset scan over the store's due-time index that
filters by the access policy before it counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from custrec._checks import aware, check, optional, positive_int, storable_text
from custrec.security import Action, Actor
from custrec.services._work import work_resource
from custrec.services.context import Context, Unit, check_actor
from custrec.storage import WorkFilter, WorkRow
from custrec.workflow.items import WorkItem, WorkPage

__all__ = ["due_page", "item_of", "list_page"]

_STEP = 200  # raw rows read per step
_C = TypeVar("_C")


def item_of(row: WorkRow) -> WorkItem:
    """The plain facts of a stored case or task."""
    return WorkItem(
        id=row.id,
        kind=row.kind,
        customer_id=row.customer_id,
        status=row.status,
        open=row.open,
        assignee=row.assignee,
        team=row.team,
        due_at=row.due_at,
        breached=row.breached,
        version=row.version,
    )


def _filter(
    kind: str,
    assignee: str | None,
    team: str | None,
    customer_id: str | None,
    breached: bool | None,
    open_only: bool | None,
) -> WorkFilter:
    for name, value in (("assignee", assignee), ("team", team), ("customer_id", customer_id)):
        check(name, value, optional(storable_text()))
    if breached is not None and not isinstance(breached, bool):
        raise TypeError("breached must be True, False or None")
    return WorkFilter(
        kind=kind,
        assignee=assignee,
        team=team,
        customer_id=customer_id,
        breached=breached,
        open=open_only,
    )


def due_page(
    context: Context,
    kind: str,
    *,
    actor: Actor,
    before: datetime,
    assignee: str | None,
    team: str | None,
    customer_id: str | None,
    breached: bool | None,
    after: tuple[datetime, str] | None,
    limit: int,
    action: str,
) -> WorkPage:
    """Open ``kind`` items due before ``before`` that the actor may read, a page at a time,
    by ``(due_at, id)``; audited once as ``action`` (the list holds no personal data)."""
    actor = check_actor(actor)
    check("before", before, aware())
    check("limit", limit, positive_int())
    if after is not None:
        if not (isinstance(after, tuple) and len(after) == 2 and isinstance(after[1], str)):
            raise TypeError("after must be the (due_at, id) pair of a page's next")
        check("after", after[0], aware())
    where = _filter(kind, assignee, team, customer_id, breached, None)
    now = context.now()
    with context.read_unit() as unit:
        kept, last = _scan(
            lambda cursor: unit.session.work.due(
                before=before, where=where, after=cursor, limit=_STEP
            ),
            lambda row: (_due_of(row), row.id),
            after,
            context,
            actor,
            limit,
        )
        _audit(unit, actor, action, now)
    return WorkPage(items=tuple(kept), next=last)


def list_page(
    context: Context,
    kind: str,
    *,
    actor: Actor,
    assignee: str | None,
    team: str | None,
    customer_id: str | None,
    breached: bool | None,
    open_only: bool | None,
    after: str | None,
    limit: int,
    action: str,
) -> tuple[list[WorkItem], str | None]:
    """``kind`` items matching the filters that the actor may read, by id, a page at a time:
    the items and the id to pass as ``after`` for the next page (``None`` at the end)."""
    actor = check_actor(actor)
    check("limit", limit, positive_int())
    check("after", after, optional(storable_text()))
    where = _filter(kind, assignee, team, customer_id, breached, open_only)
    now = context.now()
    with context.read_unit() as unit:
        kept, last = _scan(
            lambda cursor: unit.session.work.query(where=where, after=cursor, limit=_STEP),
            lambda row: row.id,
            after,
            context,
            actor,
            limit,
        )
        _audit(unit, actor, action, now)
    return kept, last


def _due_of(row: WorkRow) -> datetime:
    assert row.due_at is not None  # due() returns rows with a due instant only
    return row.due_at


def _scan(
    fetch: Callable[[_C | None], list[WorkRow]],
    position: Callable[[WorkRow], _C],
    after: _C | None,
    context: Context,
    actor: Actor,
    limit: int,
) -> tuple[list[WorkItem], _C | None]:
    """Read raw rows a step at a time from ``after``, keep those the actor may read, stop at
    ``limit`` kept; return them and the position to resume at (``None``: nothing is left)."""
    decide = context.policy.decide
    kept: list[WorkItem] = []
    cursor = after
    while True:
        rows = fetch(cursor)
        for row in rows:
            cursor = position(row)
            if decide(actor, Action.READ, work_resource(row)).allowed:
                kept.append(item_of(row))
                if len(kept) >= limit:
                    return kept, cursor
        if len(rows) < _STEP:
            return kept, None


def _audit(unit: Unit, actor: Actor, action: str, now: datetime) -> None:
    unit.audit(actor, action, at=now)
    unit.commit()


def window(value: object) -> timedelta:
    """A positive duration (``TypeError``/``ValueError`` otherwise)."""
    if not isinstance(value, timedelta):
        raise TypeError("within must be a datetime.timedelta")
    if value <= timedelta(0):
        raise ValueError("within must be positive")
    return value
