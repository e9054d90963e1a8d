"""Service cases (``registry.cases``): open, move, assign and close them; due, overdue and
breached lists; escalation of missed response-time targets; analytics."""

from __future__ import annotations

import builtins
import typing
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from custrec._checks import aware, check, int_range, optional, positive_int, storable_text
from custrec.errors import Erased, InvalidTransition, ValidationFailed
from custrec.model.issues import Issue, ValidationReport
from custrec.model.serialization import structure_with_issues
from custrec.security import Action, Actor, Resource, mask_record
from custrec.services._due import DueLists, list_page
from custrec.services._lifecycle import Lifecycle
from custrec.services._records import Records
from custrec.services._work import WorkRecords, instant_issues
from custrec.services.context import Context, Unit, check_actor, check_optional_reason
from custrec.storage import WorkFilter, WorkRow
from custrec.workflow.analytics import CaseFacts, CaseStats, case_facts, case_stats
from custrec.workflow.calendar import check_zone
from custrec.workflow.cases import (
    CASE_TRANSITIONS,
    Case,
    CaseEscalation,
    CaseStatus,
    CaseTransition,
)
from custrec.workflow.items import WorkItem, WorkPage
from custrec.workflow.rules import LifecycleEvent

__all__ = ["CaseService"]

_FIRST_RESPONSES = frozenset(
    {CaseStatus.IN_PROGRESS, CaseStatus.WAITING_ON_CUSTOMER, CaseStatus.RESOLVED}
)
_SWEEP_STEP = 200


class CaseService(DueLists):
    """Complaints, inquiries, service requests and repairs, with response-time targets.

    A case belongs to a customer: opening, moving and closing it need the ``update`` right on
    the customer, reading it the ``read`` right (its subject and description are personal and
    masked unless the actor may unmask). The due lists show plain facts only and cover the
    cases assigned to the actor (own scope) or to the actor's team (team scope).
    """

    _kind = "case"

    def __init__(
        self, context: Context, records: Records, work: WorkRecords, lifecycle: Lifecycle
    ) -> None:
        self._context = context
        self._records = records
        self._work = work
        self._lifecycle = lifecycle

    # ------------------------------------------------------------------------------ writing

    def open(
        self, data: Mapping[str, Any] | Case, *, actor: Actor, reason: str | None = None
    ) -> Case:
        """Open a case for an existing customer and return it (as the actor may see it).

        ``data`` is a :class:`~custrec.workflow.Case` or a mapping of its fields
        (``customer_id`` required; ``opened_at`` defaults to now, ``grade``, ``assignee`` and
        ``team`` to the customer's). Its response-time targets come from the registry's SLA
        policy. ``ValidationFailed`` for bad fields (an ``opened_at`` in the future),
        ``NotFound``, ``Erased``, ``AccessDenied``, ``DuplicateKey`` for a taken id.
        """
        actor = check_actor(actor)
        reason = check_optional_reason(reason)
        now = self._context.now()
        case = _structure_case(data, now)
        with self._context.unit() as unit:
            row = self._records.live_row(unit, case.customer_id)
            unit.authorize(actor, Action.UPDATE, Resource.of(row), at=now)
            if row.state == "erased":
                raise Erased(row.id)
            if case.source_id is not None:
                self._work.require_activity(unit, row.id, case.source_id, "source_id")
            if case.grade is None:
                case = attrs.evolve(case, grade=row.grade)
            case = self._work.add_case(unit, self._work.assigned(case, row), actor, now, reason)
            unit.commit()
        return self._shown(actor, case)

    def transition(
        self,
        case_id: str,
        to: CaseStatus | str,
        *,
        actor: Actor,
        reason: str | None = None,
        expected_version: int | None = None,
        satisfaction: int | None = None,
    ) -> Case:
        """Move a case to status ``to`` along :data:`~custrec.workflow.CASE_TRANSITIONS`,
        recorded with who, when and why.

        The first move out of ``open`` (to in progress, waiting on the customer, or resolved)
        is the first response. Waiting on the customer stops the response-time clock until the
        next move; so does a resolution until a reopening. ``satisfaction`` (1-5) may be given
        when closing: it is stored on the case and the lifecycle rules see a ``case.close``
        event (the built-in :class:`~custrec.workflow.rules.SatisfactionFromCase` copies it to
        the customer's milestones). ``InvalidTransition`` for a move not allowed,
        ``VersionConflict`` for a stale ``expected_version``.
        """
        actor = check_actor(actor)
        reason = check_optional_reason(reason)
        target = _status(to)
        check("satisfaction", satisfaction, optional(int_range(1, 5)))
        if satisfaction is not None and target is not CaseStatus.CLOSED:
            raise ValueError("a satisfaction score is recorded when a case closes")
        now = self._context.now()
        with self._context.unit() as unit:
            row, case = self._load(unit, case_id, actor, now, expected_version)
            if target not in CASE_TRANSITIONS[case.status]:
                allowed = ", ".join(sorted(s.value for s in CASE_TRANSITIONS[case.status]))
                raise InvalidTransition(
                    f"case {case.id} cannot move from {case.status.value} to {target.value} "
                    f"(allowed: {allowed or 'none'})"
                )
            changes: dict[str, Any] = {
                "status": target,
                "transitions": (
                    *case.transitions,
                    CaseTransition(
                        at=now,
                        actor_id=actor.id,
                        from_status=case.status,
                        to_status=target,
                        reason=reason,
                    ),
                ),
            }
            if case.first_response_at is None and target in _FIRST_RESPONSES:
                changes["first_response_at"] = now
            if target is CaseStatus.RESOLVED:
                changes["resolved_at"] = now
            elif target is CaseStatus.REOPENED:
                changes["resolved_at"] = None
                changes["closed_at"] = None
            elif target is CaseStatus.CLOSED:
                changes["closed_at"] = now
                if case.resolved_at is None:
                    changes["resolved_at"] = now
                if satisfaction is not None:
                    changes["satisfaction"] = satisfaction
            fields = tuple(sorted(k for k in changes if k != "transitions"))
            case, _ = self._work.save_case(
                unit,
                row,
                attrs.evolve(case, **changes),
                actor,
                now,
                action="case.transition",
                fields=fields,
                reason=reason,
            )
            if target is CaseStatus.CLOSED and self._context.workflow.rules:
                customer_row = self._records.live_row(unit, case.customer_id)
                event = LifecycleEvent(
                    kind="case.close",
                    customer=self._records.customer(unit, customer_row),
                    at=now,
                    record=case,
                )
                self._lifecycle.react(unit, event, actor, customer_row)
            unit.commit()
        return self._shown(actor, case)

    def assign(
        self,
        case_id: str,
        *,
        assignee: str | None,
        team: str | None,
        actor: Actor,
        reason: str | None = None,
        expected_version: int | None = None,
    ) -> Case:
        """Give a case to another assignee and team (``None`` leaves it unassigned)."""
        actor = check_actor(actor)
        reason = check_optional_reason(reason)
        check("assignee", assignee, optional(storable_text()))
        check("team", team, optional(storable_text()))
        now = self._context.now()
        with self._context.unit() as unit:
            row, case = self._load(unit, case_id, actor, now, expected_version)
            case, _ = self._work.save_case(
                unit,
                row,
                attrs.evolve(case, assignee=assignee, team=team),
                actor,
                now,
                action="case.assign",
                fields=("assignee", "team"),
                reason=reason,
            )
            unit.commit()
        return self._shown(actor, case)

    def escalate(
        self, *, actor: Actor, as_of: datetime | None = None
    ) -> builtins.list[tuple[str, CaseEscalation]]:
        """Record every response-time target missed by ``as_of`` (default now) and not escalated
        yet, exactly once each, and mark those cases breached; return ``(case id,
        escalation)`` pairs. Only overdue open cases are read (through the due-time index).
        Run it on a schedule; running it again escalates nothing twice. Needs the ``update``
        right over every customer (a system job)."""
        actor = check_actor(actor)
        now = self._context.now()
        as_of = now if as_of is None else check("as_of", as_of, aware())
        with self._context.unit() as unit:
            unit.authorize(actor, Action.UPDATE, Resource(), at=now)
            unit.commit()
        done: builtins.list[tuple[str, CaseEscalation]] = []
        after: tuple[datetime, str] | None = None
        while True:
            with self._context.unit() as unit:
                rows = unit.session.work.due(
                    before=as_of,
                    where=WorkFilter(kind="case"),
                    after=after,
                    limit=_SWEEP_STEP,
                )
                for row in rows:
                    assert row.due_at is not None
                    after = (row.due_at, row.id)
                    try:
                        case = self._work.open_case(unit, row)
                    except Erased:
                        continue
                    case, new = self._work.escalate(case, as_of)
                    if not new:
                        continue
                    self._work.save_case(
                        unit,
                        row,
                        case,
                        actor,
                        now,
                        action="case.escalate",
                        fields=tuple(e.target for e in new),
                        reason=", ".join(f"{e.target} to {e.to or 'nobody'}" for e in new),
                    )
                    done.extend((case.id, e) for e in new)
                unit.commit()
            if len(rows) < _SWEEP_STEP:
                return done

    # ------------------------------------------------------------------------------ reading

    def get(self, case_id: str, *, actor: Actor) -> Case:
        """Return a case (subject and description masked unless the actor may unmask); audited."""
        return typing.cast(Case, self._read_one(case_id, actor))

    def list_for(self, customer_id: str, *, actor: Actor) -> builtins.list[Case]:
        """Every case of a customer, oldest first (masked unless unmasked); audited."""
        return typing.cast(builtins.list[Case], self._read_all(customer_id, actor))

    def due_soon(
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
        """Open cases due within ``within`` from now (default the workflow's ``due_soon``
        window), overdue ones included, earliest first."""
        return self._due_within(
            within,
            actor=actor,
            assignee=assignee,
            team=team,
            customer_id=customer_id,
            after=after,
            limit=limit,
            action="case.due_soon",
        )

    def listed(
        self,
        *,
        actor: Actor,
        open_only: bool | None = True,
        breached: bool | None = None,
        assignee: str | None = None,
        team: str | None = None,
        customer_id: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> tuple[builtins.list[WorkItem], str | None]:
        """Cases by id with plain facts only: open ones (``open_only=False``: closed ones,
        ``None``: all), breached ones (``breached=True``), per assignee, team or customer.
        Returns the page and the ``after`` of the next (``None`` at the end)."""
        return list_page(
            self._context,
            "case",
            actor=actor,
            assignee=assignee,
            team=team,
            customer_id=customer_id,
            breached=breached,
            open_only=open_only,
            after=after,
            limit=limit,
            action="case.list",
        )

    def stats(
        self,
        *,
        actor: Actor,
        since: datetime | None = None,
        until: datetime | None = None,
        by: str | None = None,
        period: str | None = None,
        zone: str = "UTC",
        batch_size: int = 500,
    ) -> builtins.list[CaseStats]:
        """Response-time analytics of the cases opened in ``[since, until)``: first-response
        and resolution times (median, p90, in working time where the SLA counts it so), breach
        rate, reopen rate and satisfaction, overall or grouped ``by`` ``"team"``,
        ``"assignee"``, ``"category"``, ``"kind"``, ``"priority"`` or ``"grade"`` and per
        ``period`` (``"day"``, ``"week"``, ``"month"``, ``"quarter"``; a case's period is that
        of its opening day in ``zone``, an IANA name such as ``"Asia/Shanghai"``; ``since`` and
        ``until`` are instants). Reads every case (a
        report, not an interactive query); the actor needs the ``grade`` right over all
        customers, as for other population figures. Cases of erased customers are left out."""
        actor = check_actor(actor)
        check("batch_size", batch_size, positive_int())
        check_zone(zone)
        for name, value in (("since", since), ("until", until)):
            check(name, value, optional(aware()))
        now = self._context.now()
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.GRADE, Resource(), at=now)
            unit.audit(actor, "case.stats", at=now)
            unit.commit()
        facts: builtins.list[CaseFacts] = []
        after: str | None = None
        policy = self._context.workflow.sla
        while True:
            with self._context.unit(readonly=True) as unit:
                rows = unit.session.work.query(
                    where=WorkFilter(kind="case"), after=after, limit=batch_size
                )
                for row in rows:
                    try:
                        case = self._work.open_case(unit, row)
                    except Erased:
                        continue
                    if (since is None or case.opened_at >= since) and (
                        until is None or case.opened_at < until
                    ):
                        facts.append(case_facts(case, policy, now))
            if len(rows) < batch_size:
                break
            after = rows[-1].id
        return case_stats(facts, by=by, period=period, zone=zone)

    # ------------------------------------------------------------------------------ helpers

    def _load(
        self,
        unit: Unit,
        case_id: str,
        actor: Actor,
        now: datetime,
        expected_version: int | None,
    ) -> tuple[WorkRow, Case]:
        row, item = self._work.load(unit, case_id, "case", actor, now, expected_version)
        return row, typing.cast(Case, item)

    def _shown(self, actor: Actor, case: Case) -> Case:
        with self._context.unit(readonly=True) as unit:
            customer = unit.session.customers.get(case.customer_id)
        decision = self._context.policy.decide(actor, Action.READ, Resource.of(customer))
        return mask_record(case) if decision.masked or not decision.allowed else case


def _status(value: object) -> CaseStatus:
    try:
        return CaseStatus(typing.cast(str, value))
    except ValueError:
        raise ValueError(
            f"unknown case status {value!r} (one of {', '.join(s.value for s in CaseStatus)})"
        ) from None


def _structure_case(data: object, now: datetime) -> Case:
    if isinstance(data, Case):
        case = data
        report = ValidationReport(())
    elif isinstance(data, Mapping):
        values = dict(data)
        values.setdefault("opened_at", now)
        for managed in ("status", "transitions", "escalations", "breached"):
            if managed in values:
                raise ValueError(f"{managed} is set by the case service, not by the caller")
        built, report = structure_with_issues(values, Case)
        if built is None:
            raise ValidationFailed(report)
        case = built
    else:
        raise TypeError("expected a mapping or a Case")
    issues = list(report.issues)
    found = instant_issues("opened_at", case.opened_at)
    issues += found
    if not found and case.opened_at > now:
        issues.append(Issue(path="opened_at", code="date.future", message="in the future"))
    if case.satisfaction is not None:
        issues.append(
            Issue(path="satisfaction", code="case.satisfaction", message="set when closing")
        )
    if not isinstance(case.customer_id, str) or not case.customer_id:
        issues.append(Issue(path="customer_id", code="required", message="required"))
    if issues:
        raise ValidationFailed(ValidationReport(tuple(issues)))
    return case
