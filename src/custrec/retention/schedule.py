"""Retention schedules: rules, legal holds and statutory floors turned into a plan.

:meth:`RetentionSchedule.plan` is a pure function of the schedule, the per-customer
:class:`~custrec.retention.RetentionFacts` and ``as_of``: the same inputs always give the same,
identically ordered list of :class:`~custrec.retention.PlannedAction` objects.

How a plan is made, per customer:

1. Each rule that selects the customer and whose trigger fact is known is *due* when
   ``as_of >= trigger + period`` (inclusive: an action is due at its due instant).
2. Anonymise and destroy meet the constraints. A statutory floor that selects the customer,
   overlaps the rule's data categories and ends after the due instant postpones the action to
   the floor's end; until then the action is ``restrict`` instead (storage and security only,
   PIPL Art. 47 para. 2). An active legal hold turns it into ``restrict`` with the hold's reason,
   for as long as the hold is in place.
3. Precedence: an action is dropped when another due action of the same customer covers the same
   or more data and is more severe (review < archive < restrict < anonymise < destroy); between
   two of the same kind, the broader one wins, then the earlier due, then the lower rule code.
   Actions on disjoint data categories all stay.
4. Actions whose key is in ``applied_keys`` are left out, so re-planning after executing a plan
   yields nothing new.

The list is sorted by due instant, customer id, severity (most severe first) and rule code.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

import attrs

from custrec._checks import require_aware
from custrec.errors import RetentionError
from custrec.model.records import DataCategory, RecordState
from custrec.retention._checks import each
from custrec.retention.model import (
    CLOSED_STAGES,
    LegalHold,
    PlannedAction,
    RetentionAction,
    RetentionFacts,
    RetentionRule,
    RetentionTrigger,
    StatutoryFloor,
)
from custrec.retention.period import Period

__all__ = ["RESTRICTION_REFERENCE", "RetentionSchedule"]

RESTRICTION_REFERENCE = "PIPL Art. 47 para. 2"
"""Cited on every action a floor or hold turned into ``restrict``."""


def _rules(value: Iterable[RetentionRule]) -> tuple[RetentionRule, ...]:
    return tuple(value)


def _holds(value: Iterable[LegalHold]) -> tuple[LegalHold, ...]:
    return tuple(value)


def _floors(value: Iterable[StatutoryFloor]) -> tuple[StatutoryFloor, ...]:
    return tuple(value)


def _tz(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tzinfo):
        raise TypeError(f"{attribute.name} must be a tzinfo, not {type(value).__name__}")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _overlap(a: tuple[DataCategory, ...], b: tuple[DataCategory, ...]) -> bool:
    return not a or not b or bool(set(a) & set(b))


def _covers(a: tuple[DataCategory, ...], b: tuple[DataCategory, ...]) -> bool:
    """Whether scope ``a`` includes scope ``b`` (an empty scope is all data)."""
    return not a or (bool(b) and set(b) <= set(a))


def _in_effect(action: RetentionAction, facts: RetentionFacts) -> bool:
    """Whether the effect of an action carried out before is still in place for ``facts``."""
    if action is RetentionAction.ARCHIVE:
        return facts.state is not RecordState.LIVE  # archived (or archived and restricted)
    if action is RetentionAction.RESTRICT:
        return facts.state is RecordState.RESTRICTED
    return True  # a review done is done; anonymise and destroy cannot be undone


def _suppresses(a: PlannedAction, b: PlannedAction) -> bool:
    if not _covers(a.categories, b.categories):
        return False
    if a.action.severity != b.action.severity:
        return a.action.severity > b.action.severity
    if not _covers(b.categories, a.categories):
        return True  # strictly broader
    return (a.due_at, a.rule) < (b.due_at, b.rule)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|") or "-"


def _join_references(*references: str) -> str:
    seen: list[str] = []
    for reference in references:
        if reference and reference not in seen:
            seen.append(reference)
    return "; ".join(seen)


@attrs.frozen
class RetentionSchedule:
    """Retention rules with the legal holds and statutory floors that constrain them.

    ``tz`` is the calendar of the schedule: date-only facts (a contract's last day) end at the
    following midnight there, and periods are added on its calendar (use UTC+08:00 for China).
    Raises :class:`~custrec.retention.RetentionError` for repeated rule or floor codes.

    >>> from datetime import UTC, datetime
    >>> from custrec.model.records import CustomerKind, LifecycleStage
    >>> rule = RetentionRule(code="leads", trigger=RetentionTrigger.LAST_ACTIVITY,
    ...                      period=Period(years=2), action=RetentionAction.DESTROY,
    ...                      legal_reference="PIPL Art. 19")
    >>> facts = RetentionFacts(customer_id="c-1", kind=CustomerKind.INDIVIDUAL,
    ...                        stage=LifecycleStage.LEAD,
    ...                        created_at=datetime(2022, 3, 1, tzinfo=UTC))
    >>> [(a.action.value, a.due_at.date().isoformat()) for a in
    ...  RetentionSchedule([rule]).plan([facts], as_of=datetime(2024, 3, 1, tzinfo=UTC))]
    [('destroy', '2024-03-01')]
    """

    rules: tuple[RetentionRule, ...] = attrs.field(converter=_rules, validator=each(RetentionRule))
    holds: tuple[LegalHold, ...] = attrs.field(
        default=(), converter=_holds, validator=each(LegalHold), kw_only=True
    )
    floors: tuple[StatutoryFloor, ...] = attrs.field(
        default=(), converter=_floors, validator=each(StatutoryFloor), kw_only=True
    )
    tz: tzinfo = attrs.field(default=UTC, validator=_tz, kw_only=True)

    def __attrs_post_init__(self) -> None:
        for kind, codes in (
            ("rule", [r.code for r in self.rules]),
            ("floor", [f.code for f in self.floors]),
        ):
            repeated = sorted({c for c in codes if codes.count(c) > 1})
            if repeated:
                raise RetentionError(f"{kind} code {repeated[0]!r} is used twice")

    def with_holds(self, *holds: LegalHold) -> RetentionSchedule:
        """A copy of this schedule with ``holds`` added."""
        return attrs.evolve(self, holds=(*self.holds, *holds))

    # ------------------------------------------------------------------------------- plan

    def plan(self, facts: Iterable[RetentionFacts], *, as_of: datetime) -> list[PlannedAction]:
        """The retention actions due at ``as_of`` for every customer in ``facts``.

        Raises :class:`~custrec.retention.RetentionError` if a customer appears twice,
        ``ValueError`` for a naive ``as_of``. To preview, plan with a later ``as_of``.
        """
        require_aware(as_of, "as_of")
        seen: set[str] = set()
        planned: list[PlannedAction] = []
        for item in facts:
            if not isinstance(item, RetentionFacts):
                raise TypeError(f"plan() takes RetentionFacts, not {type(item).__name__}")
            if item.customer_id in seen:
                raise RetentionError(f"customer {item.customer_id} appears twice in the facts")
            seen.add(item.customer_id)
            planned.extend(self._plan_customer(item, as_of))
        planned.sort(key=lambda a: (a.due_at, a.customer_id, -a.action.severity, a.rule))
        return planned

    def due_at(self, rule: RetentionRule, facts: RetentionFacts) -> datetime | None:
        """When ``rule`` falls due for ``facts`` before holds and floors (``None``: never).

        ``None`` when the rule does not select the customer or its trigger fact is unknown.
        """
        if not rule.applies_to.matches(facts):
            return None
        anchor = self.anchor(rule.trigger, facts)
        return None if anchor is None else self._add(rule.period, anchor)

    def anchor(self, trigger: RetentionTrigger, facts: RetentionFacts) -> datetime | None:
        """The instant ``trigger`` happened for ``facts`` (``None`` if it has not or is unknown)."""
        if trigger is RetentionTrigger.LAST_ACTIVITY:
            known = [t for t in (facts.last_activity_at, facts.created_at) if t is not None]
            return max(known) if known else None
        if trigger is RetentionTrigger.LAST_TRANSACTION:
            return facts.last_transaction_at
        if trigger is RetentionTrigger.CONTRACT_END:
            if facts.contract_end_on is None:
                return None
            try:
                next_day = facts.contract_end_on + timedelta(days=1)
            except OverflowError:
                raise RetentionError("contract_end_on is the last representable day") from None
            return datetime.combine(next_day, time(0), tzinfo=self.tz)
        if trigger is RetentionTrigger.CONSENT_WITHDRAWAL:
            return facts.consent_withdrawn_at
        if trigger is RetentionTrigger.ACCOUNT_CLOSURE:
            closed = facts.stage in CLOSED_STAGES or facts.state is RecordState.ARCHIVED
            return facts.closed_at if closed else None
        if trigger is RetentionTrigger.CREATION:
            return facts.created_at
        if trigger is RetentionTrigger.LAST_VERIFICATION:
            return facts.last_verified_at or facts.created_at
        raise TypeError(f"unknown trigger {trigger!r}")  # pragma: no cover

    def _add(self, period: Period, anchor: datetime) -> datetime:
        return period.add_to(anchor.astimezone(self.tz)).astimezone(UTC)

    def _plan_customer(self, facts: RetentionFacts, as_of: datetime) -> list[PlannedAction]:
        holds = [h for h in self.holds if h.active_at(as_of) and h.covers(facts)]
        floor_ends: list[tuple[StatutoryFloor, datetime]] = []
        for floor in self.floors:
            if not floor.applies_to.matches(facts):
                continue
            start = self.anchor(floor.trigger, facts)
            if start is not None:
                floor_ends.append((floor, self._add(floor.period, start)))
        candidates: list[PlannedAction] = []
        for rule in self.rules:
            if not rule.applies_to.matches(facts):
                continue
            anchor = self.anchor(rule.trigger, facts)
            if anchor is None:
                continue
            due = self._add(rule.period, anchor)
            if due <= as_of:
                candidates.append(
                    self._constrained(rule, facts, anchor, due, holds, floor_ends, as_of)
                )
        # An action carried out before takes part in precedence only while its effect is still
        # in place: a lifted restriction or a record taken back into use no longer suppresses
        # the archive or review that falls due for it, while what an anonymisation or
        # destruction did stays done.
        applied = set(facts.applied_keys)
        pending = [c for c in candidates if c.key not in applied]
        done = [c for c in candidates if c.key in applied and _in_effect(c.action, facts)]
        rivals = pending + done
        return [c for c in pending if not any(_suppresses(o, c) for o in rivals if o is not c)]

    def _constrained(
        self,
        rule: RetentionRule,
        facts: RetentionFacts,
        anchor: datetime,
        due: datetime,
        holds: list[LegalHold],
        floor_ends: list[tuple[StatutoryFloor, datetime]],
        as_of: datetime,
    ) -> PlannedAction:
        action = rule.action
        converted_from: RetentionAction | None = None
        floors: tuple[StatutoryFloor, ...] = ()
        notes = [f"{rule.period} after {rule.trigger.label} on {_iso(anchor)}"]
        if action.irreversible:
            blocking = [
                (floor, end)
                for floor, end in floor_ends
                if end > due and _overlap(floor.categories, rule.categories)
            ]
            running = [(floor, end) for floor, end in blocking if end > as_of]
            if running:
                floors = tuple(floor for floor, _ in running)
                converted_from, action = action, RetentionAction.RESTRICT
                until = max(end for _, end in running)
                notes.append(
                    f"{converted_from.value} waits for statutory floor "
                    f"{', '.join(f.code for f in floors)} until {_iso(until)}; "
                    "storage and security only until then"
                )
            elif blocking:
                floors = tuple(floor for floor, _ in blocking)
                due = max(end for _, end in blocking)
                notes.append(
                    f"postponed to the end of statutory floor {', '.join(f.code for f in floors)}"
                )
            if holds:
                if converted_from is None:
                    converted_from, action = action, RetentionAction.RESTRICT
                notes.append(
                    f"{converted_from.value} held by legal hold: "
                    + "; ".join(h.reason for h in holds)
                    + "; storage and security only"
                )
        references = [rule.legal_reference, *(f.legal_reference for f in floors)]
        if converted_from is not None:
            references.append(RESTRICTION_REFERENCE)
        return PlannedAction(
            customer_id=facts.customer_id,
            action=action,
            due_at=due,
            rule=rule.code,
            trigger=rule.trigger,
            anchor_at=anchor.astimezone(UTC),
            categories=rule.categories,
            reason=f"{rule.action.value} by rule {rule.code}: " + "; ".join(notes),
            legal_reference=_join_references(*references),
            converted_from=converted_from,
            holds=tuple(h.reason for h in holds) if converted_from is not None else (),
            floors=tuple(f.code for f in floors),
        )

    # ----------------------------------------------------------------------------- render

    def to_table(self) -> str:
        """The schedule as a Markdown table for a privacy notice (rules first, then floors).

        >>> rule = RetentionRule(code="r", trigger=RetentionTrigger.CONTRACT_END,
        ...                      period=Period(years=3), action=RetentionAction.ANONYMISE)
        >>> print(RetentionSchedule([rule]).to_table())
        | Data | Applies to | Counted from | Kept for | Then | Legal reference |
        |---|---|---|---|---|---|
        | all personal data | all customers | end of the contract | 3 years | anonymised | - |
        """
        lines = [
            "| Data | Applies to | Counted from | Kept for | Then | Legal reference |",
            "|---|---|---|---|---|---|",
        ]
        for rule in self.rules:
            cells = (
                rule.data,
                rule.applies_to.describe(),
                rule.trigger.label,
                str(rule.period),
                rule.action.label,
                rule.legal_reference,
            )
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        for floor in self.floors:
            cells = (
                floor.records,
                floor.applies_to.describe(),
                floor.trigger.label,
                f"at least {floor.period}",
                "kept; not anonymised or destroyed earlier",
                floor.legal_reference,
            )
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        return "\n".join(lines)
