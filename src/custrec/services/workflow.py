"""The scheduled sweep (``registry.workflow``): lifecycle rules that depend on time passing,
recurring tasks, and escalation of missed response-time targets."""

from __future__ import annotations

from datetime import datetime
from functools import partial

import attrs

from custrec._checks import aware, check, positive_int
from custrec.errors import Erased
from custrec.retry import retry
from custrec.security import Action, Actor, Resource
from custrec.services._lifecycle import Lifecycle
from custrec.services._records import Records
from custrec.services._work import WorkRecords
from custrec.services.cases import CaseService
from custrec.services.context import Context, Unit, check_actor
from custrec.storage import CustomerFilter, CustomerRow
from custrec.workflow.recurring import occurrence_id
from custrec.workflow.rules import LifecycleEvent
from custrec.workflow.tasks import Task

__all__ = ["SweepReport", "WorkflowService"]

_RETRIES = 3


@attrs.frozen(kw_only=True)
class SweepReport:
    """What a sweep did: customers the lifecycle rules looked at and changed, tasks made by
    recurring rules, and response-time targets escalated (each once)."""

    as_of: datetime
    swept: int
    changed: int
    tasks_created: int
    escalated: int


class WorkflowService:
    """Run the time-driven part of the workflow (``registry.workflow.sweep``)."""

    def __init__(
        self,
        context: Context,
        records: Records,
        work: WorkRecords,
        lifecycle: Lifecycle,
        cases: CaseService,
    ) -> None:
        self._context = context
        self._records = records
        self._work = work
        self._lifecycle = lifecycle
        self._cases = cases

    def sweep(
        self, *, actor: Actor, as_of: datetime | None = None, batch_size: int = 500
    ) -> SweepReport:
        """Run the sweep as of ``as_of`` (default now); run it on a schedule (nightly).

        1. Customers in the stages that sweeping rules name (``sweep_stages``, such as
           :class:`~custrec.workflow.rules.DormantAfter`'s ``active``) get a ``sweep`` event
           with their last activity (latest purchase, contact or creation); what the rules
           change is recorded with the rule's id as the reason.
        2. Every :class:`~custrec.workflow.RecurringTask` makes this period's task for each
           customer in its scope (by grade and stage facets; nothing is decrypted), assigned to
           the customer's owner and team, with a deterministic id.
        3. Missed response-time targets are escalated (:meth:`CaseService.escalate`).

        Idempotent: a second run at the same ``as_of`` changes nothing and makes nothing.
        Each batch is its own unit of work (a batch that meets a concurrent update is tried
        again). Needs the ``update`` right over every customer.
        """
        actor = check_actor(actor)
        check("batch_size", batch_size, positive_int())
        now = self._context.now()
        as_of = now if as_of is None else check("as_of", as_of, aware())
        with self._context.unit() as unit:
            unit.authorize(actor, Action.UPDATE, Resource(), at=now)
            unit.commit()
        settings = self._context.workflow
        stages = sorted(
            {stage for rule in settings.rules for stage in getattr(rule, "sweep_stages", ())}
        )
        swept = changed = 0
        for stage in stages:
            where = CustomerFilter(stage=stage, state="live")
            start: str | None = None  # the batch before's last id: purchases are read after it
            for batch in self._batches(where, batch_size):
                visited, moved = retry(
                    partial(self._sweep_rules, batch, start, actor, as_of),
                    attempts=_RETRIES,
                    what="workflow sweep batch",
                )
                start = batch[-1]
                swept += visited
                changed += moved
        created = 0
        if settings.recurring:
            for batch in self._batches(CustomerFilter(state="live"), batch_size):
                created += retry(
                    partial(self._make_tasks, batch, actor, as_of, now),
                    attempts=_RETRIES,
                    what="recurring tasks batch",
                )
        escalated = len(self._cases.escalate(actor=actor, as_of=as_of))
        return SweepReport(
            as_of=as_of, swept=swept, changed=changed, tasks_created=created, escalated=escalated
        )

    def _batches(self, where: CustomerFilter, size: int) -> list[list[str]]:
        """The ids of the customers matching ``where``, read by the context's one keyset scan,
        in batches of ``size`` (each batch is then swept in a unit of work of its own)."""
        ids = [row.id for row in self._context.scan(where, _any_row, batch_size=size)]
        return [ids[i : i + size] for i in range(0, len(ids), size)]

    def _sweep_rules(
        self, ids: list[str], start: str | None, actor: Actor, as_of: datetime
    ) -> tuple[int, int]:
        visited = changed = 0
        with self._context.unit() as unit:
            rows = unit.session.customers.get_many(ids)
            last_purchase = self._last_purchases(unit, rows, start, as_of)
            for row in rows:
                if row.state != "live":
                    continue
                try:
                    customer = self._records.customer(unit, row)
                except Erased:
                    continue
                moments = [
                    m
                    for m in (
                        customer.last_contacted_at,
                        last_purchase.get(row.id),
                        customer.created_at,
                    )
                    if m is not None
                ]
                event = LifecycleEvent(
                    kind="sweep",
                    customer=customer,
                    at=as_of,
                    last_activity_at=max(moments) if moments else None,
                )
                visited += 1
                after = self._lifecycle.react(unit, event, actor, row)
                changed += after.version != customer.version
            unit.commit()
        return visited, changed

    @staticmethod
    def _last_purchases(
        unit: Unit, rows: list[CustomerRow], start: str | None, as_of: datetime
    ) -> dict[str, datetime]:
        """The latest purchase of each of ``rows`` (ids in one range after ``start``), from the
        store's summaries read from ``start`` on."""
        if not rows:
            return {}
        wanted = {r.id for r in rows}
        last_id = max(wanted)
        found: dict[str, datetime] = {}
        after = start
        while True:
            summaries = unit.session.activities.summaries(as_of=as_of, after=after, limit=500)
            for s in summaries:
                if s.customer_id in wanted and s.last_purchase_at is not None:
                    seen = found.get(s.customer_id)
                    if seen is None or s.last_purchase_at > seen:
                        found[s.customer_id] = s.last_purchase_at
            if not summaries or summaries[-1].customer_id >= last_id or len(summaries) < 500:
                return found
            after = summaries[-1].customer_id

    def _make_tasks(self, ids: list[str], actor: Actor, as_of: datetime, now: datetime) -> int:
        recurring = self._context.workflow.recurring
        periods = {rule.id: rule.period(as_of) for rule in recurring}
        with self._context.unit() as unit:
            tasks: list[Task] = []
            for row in unit.session.customers.get_many(ids):
                if row.state != "live":
                    continue
                for rule in recurring:
                    if not rule.applies(grade=row.grade, stage=row.stage):
                        continue
                    name, due = periods[rule.id]
                    tasks.append(
                        Task(
                            id=occurrence_id(rule.id, row.id, name),
                            customer_id=row.id,
                            kind=rule.kind,
                            due_at=due,
                            assignee=row.owner,
                            team=row.team,
                            source=f"rule:{rule.id}",
                        )
                    )
            created = self._work.add_tasks_once(unit, tasks, actor, now, "recurring")
            unit.commit()
        return created


def _any_row(_: CustomerRow) -> bool:
    return True
