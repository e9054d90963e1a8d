"""Tasks (``registry.tasks``): follow-ups, return visits and re-verifications that come due."""

from __future__ import annotations

import builtins
import typing
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from custrec._checks import check, optional, storable_text
from custrec.errors import Erased, InvalidTransition, ValidationFailed
from custrec.model.issues import Issue, ValidationReport
from custrec.model.serialization import structure_with_issues
from custrec.security import Action, Actor, Resource
from custrec.services._due import DueLists, list_page
from custrec.services._records import Records
from custrec.services._work import RESERVED_PREFIX, WorkRecords, instant_issues
from custrec.services.context import Context, Unit, check_actor, check_optional_reason
from custrec.storage import WorkRow
from custrec.workflow.items import WorkItem, WorkPage
from custrec.workflow.tasks import Task, TaskStatus

__all__ = ["TaskService"]


class TaskService(DueLists):
    """Make, complete and list tasks.

    A task belongs to a customer: making, completing and cancelling one need the ``update``
    right on the customer, reading it the ``read`` right (its note is personal). The due lists
    show plain facts only and cover the tasks assigned to the actor (own scope) or to the
    actor's team (team scope): the quarterly re-verification list is visible to the owner and
    the team, not only to administrators.
    """

    _kind = "task"

    def __init__(self, context: Context, records: Records, work: WorkRecords) -> None:
        self._context = context
        self._records = records
        self._work = work

    def create(
        self, data: Mapping[str, Any] | Task, *, actor: Actor, reason: str | None = None
    ) -> Task:
        """Make a task for an existing customer (``customer_id`` and ``due_at`` required;
        ``assignee`` and ``team`` default to the customer's owner and team)."""
        actor = check_actor(actor)
        reason = check_optional_reason(reason)
        now = self._context.now()
        task = _structure_task(data)
        with self._context.unit() as unit:
            row = self._records.live_row(unit, task.customer_id)
            unit.authorize(actor, Action.UPDATE, Resource.of(row), at=now)
            if row.state == "erased":
                raise Erased(row.id)
            task = self._work.add_task(unit, self._work.assigned(task, row), actor, now, reason)
            unit.commit()
        return task

    def complete(
        self,
        task_id: str,
        *,
        actor: Actor,
        interaction_id: str | None = None,
        outcome: str | None = None,
        expected_version: int | None = None,
    ) -> Task:
        """Mark an open task done, linking the interaction that did it (which must be one of
        the customer's) and its outcome (no personal data in it). ``InvalidTransition`` when
        the task is not open."""
        return self._finish(
            task_id, TaskStatus.DONE, actor, interaction_id, outcome, expected_version
        )

    def cancel(
        self,
        task_id: str,
        *,
        actor: Actor,
        reason: str | None = None,
        expected_version: int | None = None,
    ) -> Task:
        """Cancel an open task (``reason`` is kept as its outcome)."""
        reason = check_optional_reason(reason)
        return self._finish(task_id, TaskStatus.CANCELLED, actor, None, reason, expected_version)

    def _finish(
        self,
        task_id: str,
        status: TaskStatus,
        actor: Actor,
        interaction_id: str | None,
        outcome: str | None,
        expected_version: int | None,
    ) -> Task:
        actor = check_actor(actor)
        check("interaction_id", interaction_id, optional(storable_text()))
        check("outcome", outcome, optional(storable_text()))
        now = self._context.now()
        with self._context.unit() as unit:
            row, task = self._load(unit, task_id, actor, now, expected_version)
            if not task.is_open:
                raise InvalidTransition(
                    f"task {task.id} is {task.status.value}; only open tasks can be "
                    f"{'completed' if status is TaskStatus.DONE else 'cancelled'}"
                )
            if interaction_id is not None:
                self._work.require_activity(
                    unit, task.customer_id, interaction_id, "interaction_id", "interaction"
                )
            task = attrs.evolve(
                task,
                status=status,
                completed_at=now,
                completed_by=actor.id,
                interaction_id=interaction_id,
                outcome=outcome,
            )
            task = self._work.save_task(
                unit,
                row,
                task,
                actor,
                now,
                action="task.complete" if status is TaskStatus.DONE else "task.cancel",
                fields=tuple(
                    name
                    for name, value in (
                        ("status", True),
                        ("completed_at", True),
                        ("completed_by", True),
                        ("interaction_id", interaction_id),
                        ("outcome", outcome),
                    )
                    if value is not None
                ),
                reason=outcome if status is TaskStatus.CANCELLED else None,
            )
            unit.commit()
        return task

    def get(self, task_id: str, *, actor: Actor) -> Task:
        """Return a task (its note masked unless the actor may unmask); audited."""
        return typing.cast(Task, self._read_one(task_id, actor))

    def list_for(self, customer_id: str, *, actor: Actor) -> builtins.list[Task]:
        """Every task of a customer, oldest first (masked unless unmasked); audited."""
        return typing.cast(builtins.list[Task], self._read_all(customer_id, actor))

    def due(
        self,
        *,
        actor: Actor,
        within: timedelta | None = None,
        assignee: str | None = None,
        team: str | None = None,
        customer_id: str | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> WorkPage:
        """Open tasks due within ``within`` from now (default the workflow's ``due_soon``
        window), overdue ones included, earliest first."""
        return self._due_within(
            within,
            actor=actor,
            assignee=assignee,
            team=team,
            customer_id=customer_id,
            after=after,
            limit=limit,
            action="task.due",
        )

    def listed(
        self,
        *,
        actor: Actor,
        open_only: bool | None = True,
        assignee: str | None = None,
        team: str | None = None,
        customer_id: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> tuple[builtins.list[WorkItem], str | None]:
        """Tasks by id with plain facts only (``open_only=False``: finished ones, ``None``:
        all); the page and the ``after`` of the next (``None`` at the end)."""
        return list_page(
            self._context,
            "task",
            actor=actor,
            assignee=assignee,
            team=team,
            customer_id=customer_id,
            breached=None,
            open_only=open_only,
            after=after,
            limit=limit,
            action="task.list",
        )

    def _load(
        self,
        unit: Unit,
        task_id: str,
        actor: Actor,
        now: datetime,
        expected_version: int | None,
    ) -> tuple[WorkRow, Task]:
        row, item = self._work.load(unit, task_id, "task", actor, now, expected_version)
        return row, typing.cast(Task, item)


def _structure_task(data: object) -> Task:
    if isinstance(data, Task):
        task = data
        issues: list[Issue] = []
    elif isinstance(data, Mapping):
        values = dict(data)
        for managed in ("status", "completed_at", "completed_by", "created_at"):
            if managed in values:
                raise ValueError(f"{managed} is set by the task service, not by the caller")
        built, report = structure_with_issues(values, Task)
        if built is None:
            raise ValidationFailed(report)
        task = built
        issues = list(report.issues)
    else:
        raise TypeError("expected a mapping or a Task")
    issues += instant_issues("due_at", task.due_at)
    if task.id.startswith(RESERVED_PREFIX):
        issues.append(
            Issue(
                path="id",
                code="task.id_reserved",
                message="ids of recurring tasks are made by their rule",
            )
        )
    if task.status is not TaskStatus.OPEN:
        issues.append(Issue(path="status", code="task.status", message="a new task is open"))
    if issues:
        raise ValidationFailed(ValidationReport(tuple(issues)))
    return task
