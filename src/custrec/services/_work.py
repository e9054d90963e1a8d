"""Cases and tasks inside a unit of work, written once: sealing, opening, response-time
targets, and storing each change with its audit entry and change event."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from datetime import datetime

import attrs

from custrec.errors import NotFound
from custrec.security import Actor, Resource
from custrec.services._records import Records
from custrec.services.context import Context, Unit
from custrec.storage import WorkFilter, WorkRow
from custrec.workflow.cases import Case, CaseEscalation, CaseStatus, CaseTransition, case_pauses
from custrec.workflow.sla import escalations_due, next_due, sla_status
from custrec.workflow.tasks import Task

__all__ = ["WorkRecords", "work_resource"]

_PAGE = 500


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

    # ------------------------------------------------------------------------ response times

    def timed(self, case: Case, now: datetime) -> tuple[Case, datetime | None]:
        """The case with its response-time fields computed as of ``now`` (targets, warning,
        breaches) and its next due instant (``None``: nothing due: met, paused or closed)."""
        policy = self._context.workflow.sla
        target = (
            None
            if policy is None
            else policy.target_for(case.kind.value, case.priority.value, case.grade)
        )
        if policy is None or target is None:
            return attrs.evolve(case, sla_policy=None), None
        status = sla_status(
            target,
            policy.time,
            opened_at=case.opened_at,
            pauses=tuple(case_pauses(case)),
            first_response_at=case.first_response_at,
            resolved_at=case.resolved_at,
            as_of=max(now, case.opened_at),
        )
        breached = tuple(
            name
            for name, deadline in (
                ("first_response", status.first_response),
                ("resolution", status.resolution),
            )
            if deadline.breached
        )
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
        if policy is None:
            return case, []
        target = policy.target_for(case.kind.value, case.priority.value, case.grade)
        if target is None:
            return case, []
        status = sla_status(
            target,
            policy.time,
            opened_at=case.opened_at,
            pauses=tuple(case_pauses(case)),
            first_response_at=case.first_response_at,
            resolved_at=case.resolved_at,
            as_of=max(now, case.opened_at),
        )
        done = [e.target for e in case.escalations]
        to = policy.escalation_for(case.kind.value, case.priority.value, case.grade)
        new = [CaseEscalation(target=name, at=now, to=to) for name in escalations_due(status, done)]
        if not new:
            return case, []
        return attrs.evolve(case, escalations=(*case.escalations, *new)), new

    # ------------------------------------------------------------------------------- storing

    def _case_row(
        self, unit: Unit, case: Case, due: datetime | None, *, created_at: datetime, now: datetime
    ) -> WorkRow:
        return WorkRow(
            id=case.id,
            kind="case",
            customer_id=case.customer_id,
            status=case.status.value,
            open=case.is_open,
            assignee=case.assignee,
            team=case.team,
            due_at=due,
            breached=bool(case.breached),
            created_at=created_at,
            updated_at=now,
            payload=unit.sealer.seal_record(
                Case,
                self._records.document(case),
                customer_id=case.customer_id,
                record_id=case.id,
            ),
        )

    def _task_row(self, unit: Unit, task: Task, *, created_at: datetime, now: datetime) -> WorkRow:
        return WorkRow(
            id=task.id,
            kind="task",
            customer_id=task.customer_id,
            status=task.status.value,
            open=task.is_open,
            assignee=task.assignee,
            team=task.team,
            due_at=task.due_at if task.is_open else None,
            created_at=created_at,
            updated_at=now,
            payload=unit.sealer.seal_record(
                Task,
                self._records.document(task),
                customer_id=task.customer_id,
                record_id=task.id,
            ),
        )

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
        unit.audit(
            actor_id,
            "case.open",
            at=now,
            customer_id=case.customer_id,
            reason=reason,
            change=True,
            record_id=case.id,
        )
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
        unit.audit(
            actor,
            action,
            at=now,
            customer_id=case.customer_id,
            fields=fields,
            reason=reason,
            change=True,
            record_id=case.id,
        )
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
        unit.audit(
            actor,
            "task.create",
            at=now,
            customer_id=task.customer_id,
            reason=reason,
            change=True,
            record_id=task.id,
        )
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
            unit.audit(
                actor,
                "task.create",
                at=now,
                customer_id=task.customer_id,
                reason=reason,
                change=True,
                record_id=task.id,
            )
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
        unit.audit(
            actor,
            action,
            at=now,
            customer_id=task.customer_id,
            fields=fields,
            reason=reason,
            change=True,
            record_id=task.id,
        )
        return task

    def move(self, unit: Unit, from_id: str, to_id: str, now: datetime) -> int:
        """Move every case and task of a merged customer to the survivor, sealed again under
        the survivor's key (merges); return how many moved."""
        moved = 0
        for row in list(self.rows_of(unit, from_id)):
            item = self.open(unit, row)
            item = attrs.evolve(item, customer_id=to_id)
            payload = unit.sealer.seal_record(
                type(item), self._records.document(item), customer_id=to_id, record_id=row.id
            )
            unit.session.work.update(
                attrs.evolve(row, customer_id=to_id, payload=payload, updated_at=now),
                expected_version=row.version,
            )
            moved += 1
        return moved
