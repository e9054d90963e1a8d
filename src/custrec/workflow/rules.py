"""Lifecycle rules: what a change to a customer sets in motion, declared and explained.

A rule is anything with an ``id`` and a ``react(event)`` method (:class:`LifecycleRule`). The
registry hands every rule a :class:`LifecycleEvent` inside the unit of work of the change (a
transaction or interaction recorded, a customer updated, a case closed, or a scheduled sweep)
and applies the :class:`Reaction` it returns in that same unit: field changes recorded in the
history with the rule's id as the reason, cases opened, tasks made. A rule's changes are
themselves an event (``customer.update``) that the other rules see, never the rule that made
them; a chain deeper than ``max_depth`` raises :class:`~custrec.errors.LifecycleLoop` and the
whole unit of work is rolled back. :func:`run_rules` is that evaluation, pure.

The built-in rules (:data:`DEFAULT_RULES`) are small frozen classes with settings:
:class:`ContractSigned`, :class:`ComplaintOpensCase`, :class:`LastContacted`,
:class:`FirstPayment`, :class:`NextFollowUp`, :class:`SatisfactionFromCase` and, for the
sweep, :class:`DormantAfter`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import attrs

from custrec._checks import check, positive_int
from custrec.errors import LifecycleLoop, ValidationFailed
from custrec.model.records import (
    Customer,
    Interaction,
    InteractionKind,
    LifecycleStage,
    Transaction,
)
from custrec.model.serialization import make_converter, structure_with_issues
from custrec.workflow.calendar import check_zone
from custrec.workflow.cases import Case, CaseKind, CasePriority
from custrec.workflow.tasks import Task, TaskKind

__all__ = [
    "DEFAULT_RULES",
    "EVENT_KINDS",
    "Applied",
    "ComplaintOpensCase",
    "ContractSigned",
    "DormantAfter",
    "FirstPayment",
    "LastContacted",
    "LifecycleEvent",
    "LifecycleRule",
    "NextFollowUp",
    "Reaction",
    "RuleOutcome",
    "SatisfactionFromCase",
    "in_zone",
    "run_rules",
]

EVENT_KINDS: Final = ("transaction", "interaction", "customer.update", "case.close", "sweep")
"""What a :class:`LifecycleEvent` can be about."""


@attrs.frozen(kw_only=True)
class LifecycleEvent:
    """A change a rule may react to.

    ``customer`` is the customer as it stands (after the change, and after the changes rules
    made before this one). ``record`` is the transaction, interaction or case concerned.
    ``fields`` lists the changed field paths of a ``customer.update``. ``rule_id`` names the
    rule whose changes made this event (``None``: the user's own change). ``last_activity_at``
    (sweeps) is the latest of the customer's purchases, contacts and creation.
    """

    kind: str = attrs.field(validator=attrs.validators.in_(EVENT_KINDS))
    customer: Customer
    at: datetime
    record: Transaction | Interaction | Case | None = None
    fields: tuple[str, ...] = ()
    rule_id: str | None = None
    last_activity_at: datetime | None = None


def _field_names(changes: Mapping[str, Any]) -> str:
    """A reaction's changes in a repr: the field names only (the values may be personal)."""
    return f"<{', '.join(sorted(changes))}>"


@attrs.frozen(kw_only=True)
class Reaction:
    """What a rule wants done: ``changes`` to the customer's top-level fields (attribute
    values, as on :class:`~custrec.model.records.Customer`), ``cases`` to open and ``tasks``
    to make (the service fills in what they leave out: ids, instants, assignee and team)."""

    changes: Mapping[str, Any] = attrs.field(factory=dict, repr=_field_names)
    cases: tuple[Case, ...] = ()
    tasks: tuple[Task, ...] = ()


@runtime_checkable
class LifecycleRule(Protocol):
    """A lifecycle rule: an ``id`` (stored as the reason of what it changes) and ``react``.

    ``react`` is pure: it looks at the event and returns a :class:`Reaction`, or ``None`` when
    the event does not concern it. A rule that also wants the scheduled sweep's events
    (``kind == "sweep"``) names the stages it sweeps in a ``sweep_stages`` attribute.
    """

    @property
    def id(self) -> str: ...

    def react(self, event: LifecycleEvent) -> Reaction | None: ...


@attrs.frozen(kw_only=True)
class Applied:
    """What one rule did: its id, the customer fields it changed (top-level names), the
    customer after its changes, and the cases and tasks it asked for."""

    rule_id: str
    fields: tuple[str, ...]
    customer: Customer
    cases: tuple[Case, ...] = ()
    tasks: tuple[Task, ...] = ()


@attrs.frozen(kw_only=True)
class RuleOutcome:
    """Everything the rules did for one event: the customer after their changes, and each
    rule's part in order."""

    customer: Customer
    applied: tuple[Applied, ...]

    @property
    def changed(self) -> bool:
        """Whether any rule changed the customer."""
        return any(a.fields for a in self.applied)


def _changed_fields(before: Customer, after: Customer, names: Iterable[str]) -> tuple[str, ...]:
    return tuple(n for n in names if getattr(before, n) != getattr(after, n))


def run_rules(
    rules: Sequence[LifecycleRule], event: LifecycleEvent, *, max_depth: int = 8
) -> RuleOutcome:
    """Evaluate ``rules`` on ``event`` and on the changes they make, breadth first.

    Each rule sees the customer as the rules before it left it. A rule never sees the events
    its own changes make. ``LifecycleLoop`` when changes keep triggering changes deeper than
    ``max_depth``; ``ValueError`` when a rule changes a field the customer does not have (or
    its ``id``, ``version``, ``created_at`` or ``updated_at``).
    """
    customer = event.customer
    applied: list[Applied] = []
    queue: list[tuple[LifecycleEvent, int]] = [(event, 0)]
    while queue:
        current, depth = queue.pop(0)
        for rule in rules:
            if current.rule_id is not None and current.rule_id == rule.id:
                continue
            if current.kind == "sweep" and customer.stage.value not in getattr(
                rule, "sweep_stages", ()
            ):
                continue
            reaction = rule.react(attrs.evolve(current, customer=customer))
            if reaction is None:
                continue
            if not isinstance(reaction, Reaction):
                raise TypeError(
                    f"rule {rule.id} returned a {type(reaction).__name__}, not a Reaction or None"
                )
            changes = dict(reaction.changes)
            bad = sorted(set(changes) - _CHANGEABLE)
            if bad:
                raise ValueError(f"rule {rule.id} changes fields it may not: {', '.join(bad)}")
            after = _changed(customer, changes, rule.id) if changes else customer
            fields = _changed_fields(customer, after, changes)
            if fields:
                if depth + 1 > max_depth:
                    raise LifecycleLoop(
                        f"lifecycle rules kept changing customer {customer.id} deeper than "
                        f"{max_depth} steps (last: rule {rule.id} changing {', '.join(fields)})"
                    )
                queue.append(
                    (
                        LifecycleEvent(
                            kind="customer.update",
                            customer=after,
                            at=current.at,
                            fields=fields,
                            rule_id=rule.id,
                        ),
                        depth + 1,
                    )
                )
            customer = after
            if fields or reaction.cases or reaction.tasks:
                applied.append(
                    Applied(
                        rule_id=rule.id,
                        fields=fields,
                        customer=after,
                        cases=tuple(reaction.cases),
                        tasks=tuple(reaction.tasks),
                    )
                )
    return RuleOutcome(customer=customer, applied=tuple(applied))


_CONVERTER: Final = make_converter()


def _changed(customer: Customer, changes: Mapping[str, Any], rule_id: str) -> Customer:
    """The customer with ``changes`` applied; values may be attribute values (enums, records)
    or their raw forms (``"active"``, a mapping for ``milestones``), read as
    ``customers.update`` reads them (``ValidationFailed``, with a note naming the rule, for
    what a customer cannot hold)."""
    data = _CONVERTER.unstructure(customer)
    for name, value in changes.items():
        data[name] = _CONVERTER.unstructure(value)
    changed, report = structure_with_issues(data, Customer)  # as customers.update reads values
    if changed is None or not report.ok:
        error = ValidationFailed(report)
        error.add_note(f"the values were set by lifecycle rule {rule_id}")
        raise error
    return attrs.evolve(changed, version=customer.version)


_CHANGEABLE: Final = frozenset(
    f.name
    for f in attrs.fields(Customer)
    if f.name not in {"id", "version", "created_at", "updated_at"}
)

_MOVES_TO_ACTIVE: Final = frozenset(
    {
        LifecycleStage.LEAD,
        LifecycleStage.PROSPECT,
        LifecycleStage.NEW,
        LifecycleStage.DORMANT,
        LifecycleStage.CHURNED,
    }
)


def _zone_name(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_zone(value, attribute.name)


def _day(at: datetime, zone: str) -> date:
    """The calendar day of ``at`` in ``zone`` (an aware instant, as records hold)."""
    return at.astimezone(ZoneInfo(zone)).date()


@attrs.frozen(kw_only=True)
class ContractSigned:
    """A signed contract makes the customer active and fills the cooperation fields.

    Fires on a transaction whose ``category`` is ``contract_category`` (the contract's date and
    amount fill ``milestones.contract_signed_on`` and ``contract_amount`` where empty), and on
    an update that sets ``milestones.contract_signed_on``. The stage moves to ``active`` from
    any of ``from_stages``. The date filled is the transaction's day in ``zone`` (an IANA name;
    set it to where the business keeps its calendar: ``"Asia/Shanghai"``, a contract signed at
    07:30 there on 1 March is 28 February in UTC).
    """

    id: str = "lifecycle.contract_signed"
    contract_category: str = "contract"
    from_stages: frozenset[LifecycleStage] = _MOVES_TO_ACTIVE
    zone: str = attrs.field(default="UTC", validator=_zone_name)

    def react(self, event: LifecycleEvent) -> Reaction | None:
        """Move to active (and fill the milestones) on a contract."""
        customer = event.customer
        changes: dict[str, Any] = {}
        record = event.record
        if event.kind == "transaction" and isinstance(record, Transaction):
            if record.category != self.contract_category:
                return None
            milestones = customer.milestones
            changes["milestones"] = attrs.evolve(
                milestones,
                contract_signed_on=(
                    milestones.contract_signed_on or _day(record.occurred_at, self.zone)
                ),
                contract_amount=milestones.contract_amount or record.amount,
            )
        elif not (
            event.kind == "customer.update"
            and "milestones.contract_signed_on" in event.fields
            and customer.milestones.contract_signed_on is not None
        ):
            return None
        if customer.stage in self.from_stages:
            changes["stage"] = LifecycleStage.ACTIVE
        return Reaction(changes=changes)


@attrs.frozen(kw_only=True)
class ComplaintOpensCase:
    """A complaint interaction opens a service case linked to it (kind complaint, the
    interaction's summary as its description, assigned to the customer's owner and team)."""

    id: str = "lifecycle.complaint_opens_case"
    priority: CasePriority = CasePriority.HIGH

    def react(self, event: LifecycleEvent) -> Reaction | None:
        """Open a case for a complaint."""
        record = event.record
        if not (
            event.kind == "interaction"
            and isinstance(record, Interaction)
            and record.kind is InteractionKind.COMPLAINT
        ):
            return None
        case = Case(
            customer_id=event.customer.id,
            kind=CaseKind.COMPLAINT,
            priority=self.priority,
            description=record.summary,
            source_id=record.id,
            assignee=event.customer.owner,
            team=event.customer.team,
            opened_at=record.occurred_at,
        )
        return Reaction(cases=(case,))


@attrs.frozen(kw_only=True)
class LastContacted:
    """Any interaction moves ``last_contacted_at`` to its instant (never backwards)."""

    id: str = "lifecycle.last_contacted"

    def react(self, event: LifecycleEvent) -> Reaction | None:
        """Record the contact."""
        record = event.record
        if event.kind != "interaction" or not isinstance(record, Interaction):
            return None
        last = event.customer.last_contacted_at
        if last is not None and last >= record.occurred_at:
            return None
        return Reaction(changes={"last_contacted_at": record.occurred_at})


@attrs.frozen(kw_only=True)
class FirstPayment:
    """The earliest paying transaction (a positive amount) fills ``milestones.first_payment_on``
    with its day in ``zone`` (an IANA name, as :class:`ContractSigned`'s)."""

    id: str = "lifecycle.first_payment"
    zone: str = attrs.field(default="UTC", validator=_zone_name)

    def react(self, event: LifecycleEvent) -> Reaction | None:
        """Fill (or move earlier) the first payment date."""
        record = event.record
        if not (
            event.kind == "transaction"
            and isinstance(record, Transaction)
            and record.amount.amount > 0
        ):
            return None
        milestones = event.customer.milestones
        day = _day(record.occurred_at, self.zone)
        if milestones.first_payment_on is not None and milestones.first_payment_on <= day:
            return None
        return Reaction(changes={"milestones": attrs.evolve(milestones, first_payment_on=day)})


@attrs.frozen(kw_only=True)
class NextFollowUp:
    """An interaction with ``next_action_at`` makes a follow-up task due then (assigned to
    the interaction's staff member, else the customer's owner)."""

    id: str = "lifecycle.next_follow_up"

    def react(self, event: LifecycleEvent) -> Reaction | None:
        """Make the follow-up task."""
        record = event.record
        if not (
            event.kind == "interaction"
            and isinstance(record, Interaction)
            and record.next_action_at is not None
        ):
            return None
        task = Task(
            customer_id=event.customer.id,
            kind=TaskKind.FOLLOW_UP,
            due_at=record.next_action_at,
            assignee=record.staff_id or event.customer.owner,
            team=event.customer.team,
            source=f"interaction:{record.id}",
        )
        return Reaction(tasks=(task,))


@attrs.frozen(kw_only=True)
class DormantAfter:
    """The sweep moves an active customer with no purchase or contact for ``days`` days to
    dormant (idempotent: a dormant customer is not swept again)."""

    days: int = 180
    id: str = "lifecycle.dormant_after"
    sweep_stages: frozenset[str] = frozenset({LifecycleStage.ACTIVE.value})

    def __attrs_post_init__(self) -> None:
        check("DormantAfter.days", self.days, positive_int())

    def react(self, event: LifecycleEvent) -> Reaction | None:
        """Move a quiet active customer to dormant."""
        if event.kind != "sweep" or event.customer.stage is not LifecycleStage.ACTIVE:
            return None
        last = event.last_activity_at
        if last is not None and event.at - last < timedelta(days=self.days):
            return None
        return Reaction(changes={"stage": LifecycleStage.DORMANT})


@attrs.frozen(kw_only=True)
class SatisfactionFromCase:
    """A case closed with a satisfaction score (1-5) sets ``milestones.satisfaction``."""

    id: str = "lifecycle.satisfaction_from_case"

    def react(self, event: LifecycleEvent) -> Reaction | None:
        """Copy the closed case's score to the customer."""
        record = event.record
        if not (
            event.kind == "case.close"
            and isinstance(record, Case)
            and record.satisfaction is not None
        ):
            return None
        milestones = attrs.evolve(event.customer.milestones, satisfaction=record.satisfaction)
        return Reaction(changes={"milestones": milestones})


DEFAULT_RULES: Final[tuple[LifecycleRule, ...]] = (
    ContractSigned(),
    FirstPayment(),
    LastContacted(),
    ComplaintOpensCase(),
    NextFollowUp(),
    SatisfactionFromCase(),
    DormantAfter(),
)
"""The rules a registry runs unless given others."""


def in_zone(rules: Iterable[LifecycleRule], zone: str) -> tuple[LifecycleRule, ...]:
    """``rules`` with every built-in rule that fills a date by its day (:class:`ContractSigned`,
    :class:`FirstPayment`) counting days in ``zone`` (an IANA name); the others as given.

    >>> [getattr(r, "zone", None) for r in in_zone(DEFAULT_RULES, "Asia/Shanghai")][:2]
    ['Asia/Shanghai', 'Asia/Shanghai']
    """
    zone = check_zone(zone)
    return tuple(
        attrs.evolve(rule, zone=zone) if isinstance(rule, ContractSigned | FirstPayment) else rule
        for rule in rules
    )
