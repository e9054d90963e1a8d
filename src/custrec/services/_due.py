"""The due lists of cases and tasks: one keyset scan over the store's due-time index that
filters by the access policy before it counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import ClassVar, TypeVar

import attrs

from custrec._checks import aware, check, optional, positive_int, storable_text
from custrec.errors import Erased
from custrec.security import (
    AccessPolicy,
    Action,
    Actor,
    Resource,
    Scope,
    ScopedPolicy,
    mask_record,
)
from custrec.services._records import Records
from custrec.services._work import WorkRecords, work_resource
from custrec.services.context import Context, Unit, check_actor
from custrec.storage import WorkFilter, WorkRow
from custrec.workflow.cases import Case
from custrec.workflow.items import WorkItem, WorkPage
from custrec.workflow.settings import positive_span
from custrec.workflow.tasks import Task

__all__ = ["DueLists", "due_page", "item_of", "list_page", "within_scope"]

_STEP = 200  # raw rows read per step
_C = TypeVar("_C", str, tuple[datetime, str])  # a list's position: an id, or (due_at, id)


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
    check("as_of", before, aware())  # the callers' name for the instant lists are due by
    check("limit", limit, positive_int())
    if after is not None:
        if not (isinstance(after, tuple) and len(after) == 2 and isinstance(after[1], str)):
            raise TypeError("after must be the (due_at, id) pair of a page's next")
        check("after", after[0], aware())
    where = _filter(kind, assignee, team, customer_id, breached, None)
    now = context.now()
    with context.read_unit() as unit:
        kept, last = _union(
            [
                partial(
                    _scan,
                    _due_fetch(unit, before, w),
                    _due_position,
                    after,
                    context,
                    actor,
                    limit,
                )
                for w in within_scope(context.policy, actor, where)
            ],
            _item_due_position,
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
        kept, last = _union(
            [
                partial(
                    _scan,
                    _id_fetch(unit, w),
                    _id_position,
                    after,
                    context,
                    actor,
                    limit,
                )
                for w in within_scope(context.policy, actor, where)
            ],
            _item_id_position,
            limit,
        )
        _audit(unit, actor, action, now)
    return kept, last


def within_scope(policy: AccessPolicy, actor: Actor, where: WorkFilter) -> list[WorkFilter]:
    """Storage filters whose union holds every item matching ``where`` that the actor may
    read: ``where`` itself, unless the policy says the actor's read reaches only their own
    items (assigned to them) or their team's, which the due-time indexes find directly."""
    if not isinstance(policy, ScopedPolicy):
        return [where]
    scope = policy.widest_scope(actor, Action.READ)
    if scope is None:
        return []
    if scope is Scope.ALL:
        return [where]
    filters = []
    if where.assignee in (None, actor.id):
        filters.append(attrs.evolve(where, assignee=actor.id))
    if scope is Scope.TEAM and actor.team is not None and where.team in (None, actor.team):
        filters.append(attrs.evolve(where, team=actor.team))
    return filters


def _union(
    scans: list[Callable[[], tuple[list[WorkItem], _C | None]]],
    position: Callable[[WorkItem], _C],
    limit: int,
) -> tuple[list[WorkItem], _C | None]:
    """The first ``limit`` items of several scans' results (each in order, each of at most
    ``limit`` items), without repeats, and where the next page resumes (``None``: at the
    end). A scan that stopped short has nothing more; one that did not reaches at least as
    far as the ``limit``-th item of the union, so nothing before it is left out."""
    if len(scans) == 1:
        return scans[0]()
    found: dict[str, WorkItem] = {}
    for scan in scans:
        items, _ = scan()
        found.update((item.id, item) for item in items)
    ordered = sorted(found.values(), key=position)
    if len(ordered) < limit:
        return ordered, None
    return ordered[:limit], position(ordered[limit - 1])


def _due_fetch(
    unit: Unit, before: datetime, where: WorkFilter
) -> Callable[[tuple[datetime, str] | None], list[WorkRow]]:
    def fetch(cursor: tuple[datetime, str] | None) -> list[WorkRow]:
        return unit.session.work.due(before=before, where=where, after=cursor, limit=_STEP)

    return fetch


def _id_fetch(unit: Unit, where: WorkFilter) -> Callable[[str | None], list[WorkRow]]:
    def fetch(cursor: str | None) -> list[WorkRow]:
        return unit.session.work.query(where=where, after=cursor, limit=_STEP)

    return fetch


def _due_position(row: WorkRow) -> tuple[datetime, str]:
    return _due_of(row), row.id


def _id_position(row: WorkRow) -> str:
    return row.id


def _item_due_position(item: WorkItem) -> tuple[datetime, str]:
    assert item.due_at is not None
    return item.due_at, item.id


def _item_id_position(item: WorkItem) -> str:
    return item.id


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
    """A due list's positive window (``TypeError``/``ValueError`` otherwise)."""
    return positive_span(value, "within")


class DueLists:
    """What every kind of work item has: reads and due lists (a base of the case and task
    services)."""

    _kind: ClassVar[str]
    _context: Context
    _records: Records
    _work: WorkRecords

    def _read_one(self, work_id: str, actor: Actor) -> Case | Task:
        """One item, masked unless the actor may unmask its customer; audited."""
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.read_unit() as unit:
            row = unit.session.work.get(check(f"{self._kind}_id", work_id, storable_text()))
            if row.kind != self._kind:
                raise ValueError(f"{work_id} is not a {self._kind}")
            customer = unit.session.customers.get(row.customer_id)
            decision = unit.authorize(actor, Action.READ, Resource.of(customer), at=now)
            item = self._work.open(unit, row)
            unit.audit(actor, f"{self._kind}.read", at=now, customer_id=row.customer_id)
            unit.commit()
        return mask_record(item) if decision.masked else item

    def _read_all(self, customer_id: str, actor: Actor) -> list[Case | Task]:
        """Every item of a customer, oldest first, masked unless unmasked; audited."""
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.read_unit() as unit:
            row = self._records.live_row(unit, customer_id)
            decision = unit.authorize(actor, Action.READ, Resource.of(row), at=now)
            if row.state == "erased":
                raise Erased(row.id)
            items = [self._work.open(unit, r) for r in self._work.rows_of(unit, row.id, self._kind)]
            unit.audit(actor, f"{self._kind}.read", at=now, customer_id=row.id)
            unit.commit()
        return [mask_record(i) for i in items] if decision.masked else items

    def overdue(
        self,
        *,
        actor: Actor,
        as_of: datetime | None = None,
        assignee: str | None = None,
        team: str | None = None,
        customer_id: str | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> WorkPage:
        """Open items (cases: with a response-time target not met; tasks) due before
        ``as_of`` (default now) that the actor may see, earliest first, per assignee, team or
        customer, read through the due-time index; a page at a time (pass the page's
        ``next`` as ``after``). Audited; the items hold no personal data."""
        return due_page(
            self._context,
            self._kind,
            actor=actor,
            before=self._context.now() if as_of is None else as_of,
            assignee=assignee,
            team=team,
            customer_id=customer_id,
            breached=None,
            after=after,
            limit=limit,
            action=f"{self._kind}.overdue",
        )

    def _due_within(
        self,
        within: timedelta | None,
        *,
        actor: Actor,
        assignee: str | None,
        team: str | None,
        customer_id: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
        action: str,
    ) -> WorkPage:
        span = self._context.workflow.due_soon if within is None else window(within)
        return due_page(
            self._context,
            self._kind,
            actor=actor,
            before=self._context.now() + span,
            assignee=assignee,
            team=team,
            customer_id=customer_id,
            breached=None,
            after=after,
            limit=limit,
            action=action,
        )
