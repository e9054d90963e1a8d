"""Cases and tasks inside a unit of work, written once: sealing, opening, response-time
targets, and storing each change with its audit entry and change event."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final, TypeVar

import attrs

from custrec._checks import check, is_aware, storable_text
from custrec.errors import Erased, NotFound, ValidationFailed, VersionConflict
from custrec.model.issues import Issue, ValidationReport
from custrec.model.records import Customer
from custrec.security import Action, Actor, Resource
from custrec.services._records import Records
from custrec.services.context import Context, Unit
from custrec.storage import CustomerRow, WorkFilter, WorkRow
from custrec.workflow.cases import (
    Case,
    CaseEscalation,
    CaseStatus,
    CaseTransition,
    case_status,
)
from custrec.workflow.sla import escalations_due, next_due
from custrec.workflow.tasks import Task

__all__ = ["WorkRecords", "work_resource"]

_PAGE = 500
_ASSIGN: Final = ("assignee", "team")
_Item = TypeVar("_Item", Case, Task)


def instant_issues(path: str, value: object) -> list[Issue]:
    """What is wrong with an instant given for a case or task: naive, or not representable in
    UTC (the year 1 east of Greenwich, the year 9999 west of it)."""
    if not is_aware(value):
        return [Issue(path=path, code="date.naive", message="needs a time zone")]
    try:
        typing.cast(datetime, value).astimezone(UTC)
    except OverflowError:
        return [Issue(path=path, code="date.range", message="outside the range of instants")]
    return []


RESERVED_PREFIX: Final = "rt-"
"""Ids of this prefix are made by recurring rules only (:func:`~custrec.workflow.occurrence_id`)."""


def work_resource(row: WorkRow) -> Resource:
    """The resource a case or task is to the access policy: its customer, with the item's
    assignee as owner and its team (so an assignee sees their own items, a team lead the
    team's)."""
    return Resource(customer_id=row.customer_id, owner=row.assignee, team=row.team)


class WorkRecords:
    """Seal, open, time and store cases and tasks."""

    def __init__(self, context: Context, records: Records) -> None:
        self._context = context
        self._records = records

    # ------------------------------------------------------------------------------ opening

    def open(self, unit: Unit, row: WorkRow) -> Case | Task:
        """The case or task a row holds; ``Erased`` if its customer's key is gone."""
        cls: type[Case | Task] = Case if row.kind == "case" else Task
        return typing.cast(
            Case | Task, self._records.open(unit, cls, row.id, row.customer_id, row.payload)
        )

    def open_case(self, unit: Unit, row: WorkRow) -> Case:
        """The case a row holds (``ValueError`` for a task's row)."""
        if row.kind != "case":
            raise ValueError(f"{row.id} is not a case")
        return typing.cast(Case, self.open(unit, row))

    def open_task(self, unit: Unit, row: WorkRow) -> Task:
        """The task a row holds (``ValueError`` for a case's row)."""
        if row.kind != "task":
            raise ValueError(f"{row.id} is not a task")
        return typing.cast(Task, self.open(unit, row))

    def rows_of(self, unit: Unit, customer_id: str, kind: str | None = None) -> Iterator[WorkRow]:
        """Every case and task (or one ``kind``) of a customer, by id."""
        after: str | None = None
        where = WorkFilter(customer_id=customer_id, kind=kind)
        while True:
            rows = unit.session.work.query(where=where, after=after, limit=_PAGE)
            yield from rows
            if len(rows) < _PAGE:
                return
            after = rows[-1].id

    def load(
        self,
        unit: Unit,
        work_id: str,
        kind: str,
        actor: Actor,
        now: datetime,
        expected_version: int | None,
    ) -> tuple[WorkRow, Case | Task]:
        """The row and record of a case or task about to change: ``ValueError`` for the other
        kind, the ``update`` right on its customer (a refusal audited), ``Erased``, and
        ``VersionConflict`` for a stale ``expected_version``."""
        row = unit.session.work.get(check(f"{kind}_id", work_id, storable_text()))
        if row.kind != kind:
            raise ValueError(f"{work_id} is not a {kind}")
        customer = unit.session.customers.get(row.customer_id)
        unit.authorize(actor, Action.UPDATE, Resource.of(customer), at=now)
        if customer.state == "erased":
            raise Erased(customer.id)
        if expected_version is not None and expected_version != row.version:
            raise VersionConflict(
                f"{kind} {work_id}", expected=expected_version, actual=row.version
            )
        return row, self.open(unit, row)

    def require_activity(
        self, unit: Unit, customer_id: str, activity_id: str, path: str, kind: str | None = None
    ) -> None:
        """``ValidationFailed`` (at ``path``) unless ``activity_id`` is one of the customer's
        activities (of ``kind`` when given)."""
        if not any(
            a.id == activity_id for a in self._records.activity_rows(unit, customer_id, kind=kind)
        ):
            what = kind or "activity"
            raise ValidationFailed(
                ValidationReport(
                    (
                        Issue(
                            path=path,
                            code="work.activity",
                            message=f"not an {what} of this customer",
                        ),
                    )
                )
            )

    @staticmethod
    def assigned(item: _Item, customer: Customer | CustomerRow) -> _Item:
        """``item`` for ``customer``, with the customer's owner and team where it names none."""
        return attrs.evolve(
            item,
            customer_id=customer.id,
            assignee=item.assignee if item.assignee is not None else customer.owner,
            team=item.team if item.team is not None else customer.team,
        )

    @staticmethod
    def _announce(
        unit: Unit,
        actor: Actor | str,
        action: str,
        item: Case | Task,
        now: datetime,
        fields: tuple[str, ...] = (),
        reason: str | None = None,
    ) -> None:
        """The audit entry (and change event) of a change to a case or task."""
        unit.audit(
            actor,
            action,
            at=now,
            customer_id=item.customer_id,
            fields=fields,
            reason=reason,
            change=True,
            record_id=item.id,
        )

    # ------------------------------------------------------------------------ response times

    def timed(self, case: Case, now: datetime) -> tuple[Case, datetime | None]:
        """The case with its response-time fields computed as of ``now`` (targets, warning,
        breaches) and its next due instant (``None``: nothing due: met, paused or closed)."""
        policy = self._context.workflow.sla
        status = case_status(case, policy, now)
        if policy is None or status is None:
            return attrs.evolve(case, sla_policy=None), None
        breached = tuple(d.name for d in status.deadlines if d.breached)
        warnings = [
            d.warn_at for d in status.deadlines if d.met_at is None and d.warn_at is not None
        ]
        timed = attrs.evolve(
            case,
            sla_policy=policy.id,
            first_response_due=status.first_response.due_at,
            resolution_due=status.resolution.due_at,
            warn_at=min(warnings) if warnings else None,
            breached=tuple(sorted(set(case.breached) | set(breached))),
        )
        due = next_due(status) if case.is_open else None
        return timed, due

    def escalate(self, case: Case, now: datetime) -> tuple[Case, list[CaseEscalation]]:
        """Record each breached target not escalated yet, once; return the case and the new
        escalations."""
        policy = self._context.workflow.sla
        status = case_status(case, policy, now)
        if policy is None or status is None:
            return case, []
        done = [e.target for e in case.escalations]
        to = policy.escalation_for(case.kind.value, case.priority.value, case.grade)
        new = [CaseEscalation(target=name, at=now, to=to) for name in escalations_due(status, done)]
        if not new:
            return case, []
        return attrs.evolve(case, escalations=(*case.escalations, *new)), new

    # ------------------------------------------------------------------------------- storing

    def _seal(self, unit: Unit, item: Case | Task) -> bytes:
        """The sealed payload of a case or task, under its customer's data key."""
        return unit.sealer.seal_record(
            type(item),
            self._records.document(item),
            customer_id=item.customer_id,
            record_id=item.id,
        )

    def _row(
        self,
        unit: Unit,
        item: Case | Task,
        due: datetime | None,
        *,
        created_at: datetime,
        now: datetime,
    ) -> WorkRow:
        """The stored row of a case or task: its plain facets and its sealed record."""
        return WorkRow(
            id=item.id,
            kind="case" if isinstance(item, Case) else "task",
            customer_id=item.customer_id,
            status=item.status.value,
            open=item.is_open,
            assignee=item.assignee,
            team=item.team,
            due_at=due,
            breached=isinstance(item, Case) and bool(item.breached),
            created_at=created_at,
            updated_at=now,
            payload=self._seal(unit, item),
        )

    def _case_row(
        self, unit: Unit, case: Case, due: datetime | None, *, created_at: datetime, now: datetime
    ) -> WorkRow:
        return self._row(unit, case, due, created_at=created_at, now=now)

    def _task_row(self, unit: Unit, task: Task, *, created_at: datetime, now: datetime) -> WorkRow:
        due = task.due_at if task.is_open else None
        return self._row(unit, task, due, created_at=created_at, now=now)

    def add_case(
        self, unit: Unit, case: Case, actor: Actor | str, now: datetime, reason: str | None
    ) -> Case:
        """Store a new case (its opening recorded as its first transition) with its targets;
        audited as ``case.open``."""
        actor_id = actor if isinstance(actor, str) else actor.id
        case = attrs.evolve(
            case,
            status=CaseStatus.OPEN,
            transitions=(
                CaseTransition(
                    at=case.opened_at,
                    actor_id=actor_id,
                    from_status=None,
                    to_status=CaseStatus.OPEN,
                    reason=reason,
                ),
            ),
        )
        case, due = self.timed(case, now)
        unit.session.work.add(self._case_row(unit, case, due, created_at=now, now=now))
        self._announce(unit, actor_id, "case.open", case, now, reason=reason)
        return case

    def save_case(
        self,
        unit: Unit,
        row: WorkRow,
        case: Case,
        actor: Actor | str,
        now: datetime,
        *,
        action: str,
        fields: tuple[str, ...] = (),
        reason: str | None = None,
    ) -> tuple[Case, WorkRow]:
        """Store a changed case (compare-and-set on ``row``'s version), re-timed; audited as
        ``action``. Returns the case and its new row."""
        case, due = self.timed(case, now)
        new_row = self._case_row(unit, case, due, created_at=row.created_at, now=now)
        version = unit.session.work.update(new_row, expected_version=row.version)
        self._announce(unit, actor, action, case, now, fields, reason)
        return case, attrs.evolve(new_row, version=version)

    def add_task(
        self,
        unit: Unit,
        task: Task,
        actor: Actor | str,
        now: datetime,
        reason: str | None,
    ) -> Task:
        """Store a new task; audited as ``task.create``."""
        task = attrs.evolve(task, created_at=task.created_at or now)
        unit.session.work.add(self._task_row(unit, task, created_at=now, now=now))
        self._announce(unit, actor, "task.create", task, now, reason=reason)
        return task

    def add_tasks_once(
        self, unit: Unit, tasks: list[Task], actor: Actor | str, now: datetime, reason: str
    ) -> int:
        """Store tasks whose ids are deterministic, skipping those that exist (a sweep run
        again); audit and announce only the new ones. Returns how many were new."""
        if not tasks:
            return 0
        existing: set[str] = set()
        for task in tasks:
            try:
                unit.session.work.get(task.id)
            except NotFound:
                continue
            existing.add(task.id)
        fresh = [attrs.evolve(t, created_at=now) for t in tasks if t.id not in existing]
        if not fresh:
            return 0
        rows = [self._task_row(unit, t, created_at=now, now=now) for t in fresh]
        added = unit.session.work.add_many(rows, skip_existing=True)
        for task in fresh:
            self._announce(unit, actor, "task.create", task, now, reason=reason)
        return added

    def save_task(
        self,
        unit: Unit,
        row: WorkRow,
        task: Task,
        actor: Actor | str,
        now: datetime,
        *,
        action: str,
        fields: tuple[str, ...] = (),
        reason: str | None = None,
    ) -> Task:
        """Store a changed task (compare-and-set on ``row``'s version); audited as ``action``."""
        new_row = self._task_row(unit, task, created_at=row.created_at, now=now)
        unit.session.work.update(new_row, expected_version=row.version)
        self._announce(unit, actor, action, task, now, fields, reason)
        return task

    def follow_owner(
        self, unit: Unit, before: Customer, after: Customer, actor: Actor | str, now: datetime
    ) -> int:
        """When a customer changes owner or team, give their open cases and tasks that were
        the old owner's (or the old team's) to the new one, so that due lists follow the
        customer; return how many moved (each audited as ``case.assign``/``task.assign``)."""
        if (before.owner, before.team) == (after.owner, after.team):
            return 0
        moved = 0
        for row in list(self.rows_of(unit, after.id)):
            if not row.open:
                continue
            assignee = after.owner if row.assignee == before.owner else row.assignee
            team = after.team if row.team == before.team else row.team
            if (assignee, team) == (row.assignee, row.team):
                continue
            item = attrs.evolve(self.open(unit, row), assignee=assignee, team=team)
            why = "the customer's owner or team changed"
            if isinstance(item, Case):
                self.save_case(
                    unit, row, item, actor, now, action="case.assign", fields=_ASSIGN, reason=why
                )
            else:
                self.save_task(
                    unit, row, item, actor, now, action="task.assign", fields=_ASSIGN, reason=why
                )
            moved += 1
        return moved

    def move(self, unit: Unit, from_id: str, to_id: str, now: datetime) -> int:
        """Move every case and task of a merged customer to the survivor, sealed again under
        the survivor's key (merges); return how many moved."""
        moved = 0
        for row in list(self.rows_of(unit, from_id)):
            item = self.open(unit, row)
            item = attrs.evolve(item, customer_id=to_id)
            payload = self._seal(unit, item)
            unit.session.work.update(
                attrs.evolve(row, customer_id=to_id, payload=payload, updated_at=now),
                expected_version=row.version,
            )
            moved += 1
        return moved
