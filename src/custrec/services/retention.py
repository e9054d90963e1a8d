"""Retention schedules planned and carried out (``registry.retention``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final

import attrs

from custrec._checks import aware, check
from custrec._log import get_logger, slow_batch
from custrec._progress import Progress, Reporter
from custrec.consent import CaptureChannel, ConsentEvent
from custrec.errors import Erased, NotFound
from custrec.model.records import Customer, RecordState, VerificationStatus
from custrec.retention import (
    CLOSED_STAGES,
    PlannedAction,
    RetentionAction,
    RetentionFacts,
    RetentionSchedule,
)
from custrec.security import Action, Actor, Resource
from custrec.services._records import Records, holds_customer
from custrec.services.consent import ConsentService
from custrec.services.context import Context, Unit, check_actor
from custrec.services.privacy import PrivacyService
from custrec.services.results import RetentionReport
from custrec.storage import HIDDEN_STATES, CustomerFilter, CustomerRow, HistoryRecord

__all__ = ["RETENTION_PRINCIPAL", "RetentionService"]

RETENTION_PRINCIPAL = "custrec:retention"
"""The actor id under which the retention job's effects (archive, review, restrict, erase) are
audited, with ``on_behalf_of`` naming the operator who applied the plan."""

_SCAN_BATCH = 500
_log: Final = get_logger(__name__)


class RetentionService:
    """Plan retention actions and carry out those due now, each in one unit of work."""

    def __init__(
        self,
        context: Context,
        records: Records,
        consent: ConsentService,
        privacy: PrivacyService,
    ) -> None:
        self._context = context
        self._records = records
        self._consent = consent
        self._privacy = privacy

    def _retention_facts(self, unit: Unit, row: CustomerRow, at: datetime) -> RetentionFacts:
        customer = self._records.customer(unit, row)
        activities = unit.session.activities.list_for(row.id, limit=1_000_000)
        instants = [a.occurred_at for a in activities if a.occurred_at <= at]
        purchases = [
            a.occurred_at for a in activities if a.kind == "transaction" and a.occurred_at <= at
        ]
        history = unit.session.history.list_for(row.id)
        closed_at = None
        if customer.stage in CLOSED_STAGES:
            stage_changes = [h.at for h in history if h.path == "stage"]
            closed_at = stage_changes[-1] if stage_changes else customer.created_at
        elif customer.state is RecordState.ARCHIVED:
            closed_at = self._records.state_story(unit, customer)[1] or customer.created_at
        applied = [h.reason for h in history if h.action == "retention" and h.reason]
        ledger = self._records.ledger(unit, row.id)
        return RetentionFacts.from_customer(
            customer,
            last_activity_at=max(instants, default=None),
            last_transaction_at=max(purchases, default=None),
            consent_withdrawn_at=ledger.consent_withdrawn_at(as_of=at),
            closed_at=closed_at,
            applied_keys=applied,
        )

    def _schedule(self, schedule: RetentionSchedule | None) -> RetentionSchedule:
        rules = schedule if schedule is not None else self._context.retention
        if rules is None:
            raise ValueError("no retention schedule: pass one or give the registry one")
        if not isinstance(rules, RetentionSchedule):
            raise TypeError("schedule must be a custrec.retention.RetentionSchedule")
        return rules

    def plan(
        self,
        *,
        as_of: datetime,
        actor: Actor,
        schedule: RetentionSchedule | None = None,
        progress: Progress | None = None,
    ) -> list[PlannedAction]:
        """Plan the retention actions due at ``as_of`` for every stored customer.

        Uses ``schedule`` or the registry's own; actions already applied are left out. A plan at
        a later ``as_of`` is a preview: :meth:`apply` carries out only the actions due
        at its clock. Needs the ``retention`` right; audited.

        ``progress(customers_read)`` is called after each batch of customers read and at the
        end with every customer read; a callback that raises stops the plan (nothing is
        written).
        """
        actor = check_actor(actor)
        check("as_of", as_of, aware())
        rules = self._schedule(schedule)
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.RETENTION, Resource(), at=now)
            unit.audit(actor, "retention.plan", at=now, reason=f"as of {as_of.isoformat()}")
            unit.commit()
        facts: list[RetentionFacts] = []
        after: str | None = None
        reporter = Reporter(progress)
        while True:
            started = time.monotonic()
            with self._context.unit(readonly=True) as unit:
                rows, after = unit.seek(
                    CustomerFilter(),
                    after,
                    _SCAN_BATCH,
                    lambda batch: [r for r in batch if holds_customer(r)],
                )
                for row in rows:
                    try:
                        facts.append(self._retention_facts(unit, row, as_of))
                    except Erased:  # its key is gone: an interrupted erasure, finished elsewhere
                        continue
            slow_batch(_log, "retention plan", started, len(rows))
            reporter.add(len(rows))
            if after is None:
                break
        reporter.finish()
        planned = rules.plan(facts, as_of=as_of)
        _log.info("retention plan: %d actions for %d customers", len(planned), len(facts))
        return planned

    def apply(
        self,
        plan: Iterable[PlannedAction],
        *,
        actor: Actor,
        schedule: RetentionSchedule | None = None,
        progress: Progress | None = None,
    ) -> RetentionReport:
        """Carry out the actions of a retention plan that are due now; report on each.

        Only actions due at the registry's clock now are carried out; an action due later (a
        plan made at a future ``as_of``, as a preview) is reported as ``not_due`` and left
        alone. Each due action is checked against the plan ``schedule`` (or the registry's
        schedule: pass the one the plan was made with) gives for its customer now, so an action
        whose customer changed since the plan (new activity, a legal hold, an erasure) is
        reported as ``superseded`` and left alone.

        ``archive`` makes the record's state ``archived`` (its lifecycle stage is kept);
        ``restrict`` records a restriction (storage only) in the consent ledger and makes the
        state ``restricted``; ``review`` marks the record for re-verification; ``anonymise``
        and ``destroy`` crypto-shred the customer (see ``registry.privacy.erase``), keeping only
        non-personal facts. Each action and its effect are written in one unit of work, with
        the action's key in the customer's history, so applying the same plan again is a no-op
        and an action that failed or was interrupted stays pending until a re-run completes it.
        The effects are audited as done by :data:`RETENTION_PRINCIPAL` on behalf of ``actor``,
        who needs the ``retention`` right (not ``erase``: the schedule is the authority);
        anonymise and destroy need a keyring (:class:`ErasureUnavailable`, before anything is
        done).

        ``progress(actions_done)`` is called after each action (carried out, or found not due,
        already applied or superseded) and at the end with every action of the plan; a
        callback that raises stops the run there: the actions done before stay done, the rest
        stay pending for a re-run.
        """
        actor = check_actor(actor)
        rules = self._schedule(schedule)
        actions = list(plan)
        for action in actions:
            if not isinstance(action, PlannedAction):
                raise TypeError("retention.apply() takes PlannedAction objects")
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.RETENTION, Resource(), at=now)
            unit.audit(actor, "retention.apply", at=now, reason=f"{len(actions)} actions")
            unit.commit()
        if any(action.action.irreversible for action in actions):
            self._context.require_keyring("anonymising or destroying")
        outcomes: dict[str, list[str]] = {
            "applied": [],
            "already_applied": [],
            "not_due": [],
            "superseded": [],
        }
        reporter = Reporter(progress)
        for action in actions:
            if action.due_at > now:
                outcomes["not_due"].append(action.key)
            else:
                outcomes[self._apply_one(action, actor, rules, now)].append(action.key)
            reporter.add(1)
        reporter.finish()
        _log.info(
            "retention apply: %s",
            ", ".join(f"{name}={len(keys)}" for name, keys in outcomes.items()),
        )
        return RetentionReport(**{name: tuple(keys) for name, keys in outcomes.items()})

    def _apply_one(
        self, action: PlannedAction, actor: Actor, rules: RetentionSchedule, now: datetime
    ) -> str:
        """Carry out one due action with its history marker in one unit of work; return the
        outcome (``applied``, ``already_applied`` or ``superseded``)."""
        irreversible = action.action.irreversible
        with self._context.unit() as unit:
            try:
                row = unit.session.customers.get(action.customer_id)
            except NotFound:
                return "superseded"
            history = unit.session.history.list_for(row.id)
            marked = any(h.action == "retention" and h.reason == action.key for h in history)
            if row.state in HIDDEN_STATES:
                done = marked and irreversible and row.state == "erased"
                return "already_applied" if done else "superseded"
            if marked and not irreversible:
                return "already_applied"
            # An irreversible action marked as applied on a record still holding data (written
            # by an earlier version, which marked before erasing) is completed, not skipped.
            if not marked:
                try:
                    facts = self._retention_facts(unit, row, now)
                except Erased:  # the key is gone: an erasure interrupted before its commit
                    if not irreversible:
                        return "superseded"
                else:
                    if action.key not in {a.key for a in rules.plan([facts], as_of=now)}:
                        return "superseded"
            self._retention_effect(unit, row, action, actor, now)
            unit.session.history.append(
                [
                    HistoryRecord(
                        customer_id=row.id,
                        at=now,
                        actor_id=actor.id,
                        action="retention",
                        path=action.action.value,
                        reason=action.key,
                        payload=b"null"
                        if irreversible
                        else unit.sealer.seal_value(
                            {"old": None, "new": action.action.value},
                            customer_id=row.id,
                            field=f"history:{action.action.value}",
                        ),
                    )
                ]
            )
            unit.audit(
                actor,
                f"retention.{action.action.value}",
                at=now,
                customer_id=row.id,
                reason=action.key,
                change=True,
            )
            unit.commit()
        return "applied"

    def _retention_effect(
        self, unit: Unit, row: CustomerRow, action: PlannedAction, actor: Actor, now: datetime
    ) -> None:
        """What a retention action does to the record, by :data:`RETENTION_PRINCIPAL` on behalf
        of ``actor``."""
        reason = f"retention {action.key}"
        if action.action.irreversible:
            self._privacy.erase_in(
                unit,
                row,
                actor_id=RETENTION_PRINCIPAL,
                reason=reason,
                now=now,
                on_behalf_of=actor.id,
            )
            return
        customer = self._records.customer(unit, row)
        if action.action is RetentionAction.RESTRICT:
            event = ConsentEvent.restrict(
                row.id, at=now, channel=CaptureChannel.API, jurisdiction=self._context.jurisdiction
            )
            self._consent.append(
                unit, row, event, RETENTION_PRINCIPAL, now, on_behalf_of=actor.id, reason=reason
            )
            return
        state = customer.state
        also: Callable[[Customer], Customer] | None = None
        if action.action is RetentionAction.ARCHIVE and state is RecordState.LIVE:
            state = RecordState.ARCHIVED  # a restricted record stays restricted
        elif action.action is RetentionAction.REVIEW:

            def also(c: Customer) -> Customer:
                return attrs.evolve(c, verification=VerificationStatus.PENDING_REVIEW)

        self._records.set_state(
            unit,
            row,
            customer,
            state,
            RETENTION_PRINCIPAL,
            now,
            action="retention",
            audit_action=f"customer.{action.action.value}",
            reason=reason,
            on_behalf_of=actor.id,
            also=also,
        )
