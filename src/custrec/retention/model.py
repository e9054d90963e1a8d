"""Retention value objects: triggers, actions, selectors, facts, rules, floors, holds, plans.

Everything here is a frozen, keyword-only attrs class of enums, tuples, dates and aware
datetimes, so it round-trips through a cattrs converter and renders as data (no callables).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import attrs

from custrec._checks import (
    aware,
    calendar_date,
    non_empty_text,
    optional,
    require_aware,
    unique_items,
)
from custrec.errors import RetentionError
from custrec.model.records import Customer, CustomerKind, DataCategory, LifecycleStage, RecordState
from custrec.retention._checks import each, to_tuple
from custrec.retention.period import Period

__all__ = [
    "CLOSED_STAGES",
    "LegalHold",
    "PlannedAction",
    "RetentionAction",
    "RetentionFacts",
    "RetentionRule",
    "RetentionTrigger",
    "Selector",
    "StatutoryFloor",
]


class RetentionTrigger(enum.StrEnum):
    """The event a retention period counts from."""

    LAST_ACTIVITY = "last_activity"  # last transaction or interaction; creation if none
    LAST_TRANSACTION = "last_transaction"  # last transaction; never fires without one
    CONTRACT_END = "contract_end"  # the end of the day the service or contract expires
    CONSENT_WITHDRAWAL = "consent_withdrawal"
    # closed_at, while the stage is churned or archived or the record's state is archived
    ACCOUNT_CLOSURE = "account_closure"
    CREATION = "creation"
    LAST_VERIFICATION = "last_verification"  # last verification; creation if never verified

    @property
    def label(self) -> str:
        """Words for a privacy notice."""
        return _TRIGGER_LABELS[self]


_TRIGGER_LABELS: Final = {
    RetentionTrigger.LAST_ACTIVITY: "last activity",
    RetentionTrigger.LAST_TRANSACTION: "last transaction",
    RetentionTrigger.CONTRACT_END: "end of the contract",
    RetentionTrigger.CONSENT_WITHDRAWAL: "withdrawal of consent",
    RetentionTrigger.ACCOUNT_CLOSURE: "closure of the account",
    RetentionTrigger.CREATION: "creation of the record",
    RetentionTrigger.LAST_VERIFICATION: "last verification",
}


class RetentionAction(enum.StrEnum):
    """What happens when a retention period ends, from least to most severe.

    ``review``: re-verify the record (the quarterly check); ``archive``: move out of active use;
    ``restrict``: storage and security only (PIPL Art. 47 para. 2); ``anonymise``: irreversibly
    remove the link to the person (PIPL Art. 73(4)); ``destroy``: delete (crypto-shred).
    """

    REVIEW = "review"
    ARCHIVE = "archive"
    RESTRICT = "restrict"
    ANONYMISE = "anonymise"
    DESTROY = "destroy"

    @property
    def severity(self) -> int:
        """0 (review) to 4 (destroy)."""
        return _SEVERITY[self]

    @property
    def irreversible(self) -> bool:
        """Anonymise and destroy: the ones legal holds and statutory floors stop."""
        return self in (RetentionAction.ANONYMISE, RetentionAction.DESTROY)

    @property
    def label(self) -> str:
        """Words for a privacy notice."""
        return _ACTION_LABELS[self]


_SEVERITY: Final = {action: index for index, action in enumerate(RetentionAction)}
_ACTION_LABELS: Final = {
    RetentionAction.REVIEW: "reviewed and re-verified",
    RetentionAction.ARCHIVE: "archived",
    RetentionAction.RESTRICT: "restricted to storage and security",
    RetentionAction.ANONYMISE: "anonymised",
    RetentionAction.DESTROY: "destroyed",
}

CLOSED_STAGES: Final = frozenset({LifecycleStage.CHURNED, LifecycleStage.ARCHIVED})
"""Stages in which an account counts as closed (the ``account_closure`` trigger)."""


def _kinds(value: Iterable[CustomerKind]) -> tuple[CustomerKind, ...]:
    return tuple(value)


def _stages(value: Iterable[LifecycleStage]) -> tuple[LifecycleStage, ...]:
    return tuple(value)


def _states(value: Iterable[RecordState]) -> tuple[RecordState, ...]:
    return tuple(value)


def _strings(value: str | Iterable[str]) -> tuple[str, ...]:
    return to_tuple(value)


def _categories(value: Iterable[DataCategory]) -> tuple[DataCategory, ...]:
    return tuple(value)


_KIND_WORDS: Final = {
    CustomerKind.INDIVIDUAL: "individuals",
    CustomerKind.ORGANIZATION: "organisations",
}


@attrs.frozen(kw_only=True)
class Selector:
    """Which customers something applies to: every listed criterion must match.

    An empty criterion matches everything, so ``Selector()`` selects all customers.
    ``states`` selects by :class:`~custrec.model.records.RecordState` (live, archived, restricted),
    which archiving sets beside the lifecycle stage: an archived lead is still in stage ``lead``.
    """

    kinds: tuple[CustomerKind, ...] = attrs.field(
        default=(), converter=_kinds, validator=[each(CustomerKind), unique_items()]
    )
    stages: tuple[LifecycleStage, ...] = attrs.field(
        default=(), converter=_stages, validator=[each(LifecycleStage), unique_items()]
    )
    customer_ids: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, validator=[each(str), unique_items()]
    )
    states: tuple[RecordState, ...] = attrs.field(
        default=(), converter=_states, validator=[each(RecordState), unique_items()]
    )

    def matches(self, facts: RetentionFacts) -> bool:
        """Whether ``facts`` describe a selected customer."""
        return (
            (not self.kinds or facts.kind in self.kinds)
            and (not self.stages or facts.stage in self.stages)
            and (not self.states or facts.state in self.states)
            and (not self.customer_ids or facts.customer_id in self.customer_ids)
        )

    def describe(self) -> str:
        """Words for a privacy notice, e.g. ``"individuals in stage churned or archived"``."""
        if self.kinds:
            who = " and ".join(_KIND_WORDS[k] for k in self.kinds)
        else:
            specific = self.stages or self.customer_ids or self.states
            who = "customers" if specific else "all customers"
        if self.customer_ids:
            who += " " + ", ".join(self.customer_ids)
        if self.stages:
            who += " in stage " + " or ".join(s.value for s in self.stages)
        if self.states:
            who += (" and" if self.stages else "") + " " + " or ".join(s.value for s in self.states)
        return who


@attrs.frozen(kw_only=True)
class RetentionFacts:
    """The per-customer facts a retention schedule needs (built by the registry).

    All instants are timezone-aware. ``last_transaction_at`` is ``None`` for a customer without
    transactions (floors for transaction records then do not apply). ``contract_end_on`` is the
    last day of service (from ``milestones.service_expires_on``). ``closed_at`` counts only while
    ``stage`` is churned or archived, or ``state`` is archived. ``applied_keys`` are the
    :attr:`PlannedAction.key` values already executed for this customer; a plan never repeats
    them. ``state`` is the record's :class:`~custrec.model.records.RecordState` (``live`` unless
    archived or restricted).
    """

    customer_id: str = attrs.field(validator=non_empty_text())
    kind: CustomerKind = attrs.field(validator=attrs.validators.instance_of(CustomerKind))
    stage: LifecycleStage = attrs.field(validator=attrs.validators.instance_of(LifecycleStage))
    state: RecordState = attrs.field(
        default=RecordState.LIVE, validator=attrs.validators.instance_of(RecordState)
    )
    created_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    last_activity_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    last_transaction_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    contract_end_on: date | None = attrs.field(default=None, validator=optional(calendar_date()))
    consent_withdrawn_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    closed_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    last_verified_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    applied_keys: tuple[str, ...] = attrs.field(default=(), converter=_strings, validator=each(str))

    def applying(self, actions: Iterable[PlannedAction]) -> RetentionFacts:
        """These facts after ``actions`` of this customer were carried out: their keys added to
        :attr:`applied_keys`, and the state an ``archive`` (``archived``, unless restricted) or a
        ``restrict`` (``restricted``) leaves, as the registry records them."""
        keys = list(self.applied_keys)
        state = self.state
        for action in actions:
            if action.customer_id != self.customer_id:
                continue
            keys.append(action.key)
            if action.action is RetentionAction.RESTRICT:
                state = RecordState.RESTRICTED
            elif action.action is RetentionAction.ARCHIVE and state is RecordState.LIVE:
                state = RecordState.ARCHIVED
        return attrs.evolve(self, applied_keys=tuple(keys), state=state)

    @classmethod
    def from_customer(
        cls,
        customer: Customer,
        *,
        last_activity_at: datetime | None = None,
        last_transaction_at: datetime | None = None,
        consent_withdrawn_at: datetime | None = None,
        closed_at: datetime | None = None,
        applied_keys: Iterable[str] = (),
    ) -> RetentionFacts:
        """The facts of ``customer``; pass what the record itself does not hold.

        Taken from the record: ``kind``, ``stage``, ``state``, ``created_at``,
        ``last_verified_at`` and ``milestones.service_expires_on``. ``last_activity_at``
        (latest transaction or interaction) and ``last_transaction_at`` come from the activity
        summaries,
        ``consent_withdrawn_at`` from the consent ledger, ``closed_at`` from the change history.
        """
        if not isinstance(customer, Customer):
            raise TypeError("from_customer() needs a Customer")
        return cls(
            customer_id=customer.id,
            kind=customer.kind,
            stage=customer.stage,
            state=customer.state,
            created_at=customer.created_at,
            last_activity_at=last_activity_at,
            last_transaction_at=last_transaction_at,
            contract_end_on=customer.milestones.service_expires_on,
            consent_withdrawn_at=consent_withdrawn_at,
            closed_at=closed_at,
            last_verified_at=customer.last_verified_at,
            applied_keys=tuple(applied_keys),
        )


_TEXT = non_empty_text()


def _rule_code(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _TEXT(_, attribute, value)
    if str(value) != str(value).strip() or "|" in str(value):
        raise ValueError(f"{attribute.name} must not contain '|' or surrounding spaces")


def _period(value: Period | timedelta) -> Period:
    return Period.of(value)


@attrs.frozen(kw_only=True)
class RetentionRule:
    """After ``period`` from ``trigger``, ``action`` happens to the selected customers' data.

    ``code`` names the rule stably (it is part of every planned action's key). ``categories``
    limits the rule to some data categories (empty: all of the customer's personal data);
    ``description`` says what data it covers in a notice (default: from ``categories``).
    ``period`` accepts a :class:`Period` or a whole-day ``timedelta``.
    """

    code: str = attrs.field(validator=_rule_code)
    applies_to: Selector = attrs.field(
        factory=Selector, validator=attrs.validators.instance_of(Selector)
    )
    trigger: RetentionTrigger = attrs.field(
        validator=attrs.validators.instance_of(RetentionTrigger)
    )
    period: Period = attrs.field(converter=_period)
    action: RetentionAction = attrs.field(validator=attrs.validators.instance_of(RetentionAction))
    legal_reference: str = attrs.field(default="", validator=attrs.validators.instance_of(str))
    categories: tuple[DataCategory, ...] = attrs.field(
        default=(), converter=_categories, validator=[each(DataCategory), unique_items()]
    )
    description: str = attrs.field(default="", validator=attrs.validators.instance_of(str))

    @property
    def data(self) -> str:
        """What data the rule covers, in words."""
        return self.description or _describe_categories(self.categories)


def _describe_categories(categories: tuple[DataCategory, ...]) -> str:
    if not categories:
        return "all personal data"
    return ", ".join(c.value for c in categories) + " data"


@attrs.frozen(kw_only=True)
class StatutoryFloor:
    """A minimum retention period set by law: no anonymisation or destruction before it ends.

    The floor runs for ``period`` from ``trigger`` for the selected customers and protects the
    data in ``categories`` (empty: all). ``records`` says what is kept, for the notice (e.g.
    "transaction records"). A floor whose trigger fact is absent does not apply (nothing of that
    kind exists to keep). See :class:`~custrec.retention.RetentionSchedule` for its effect.
    """

    code: str = attrs.field(validator=_rule_code)
    records: str = attrs.field(validator=non_empty_text())
    trigger: RetentionTrigger = attrs.field(
        validator=attrs.validators.instance_of(RetentionTrigger)
    )
    period: Period = attrs.field(converter=_period)
    legal_reference: str = attrs.field(validator=non_empty_text())
    applies_to: Selector = attrs.field(
        factory=Selector, validator=attrs.validators.instance_of(Selector)
    )
    categories: tuple[DataCategory, ...] = attrs.field(
        default=(), converter=_categories, validator=[each(DataCategory), unique_items()]
    )


@attrs.frozen(kw_only=True)
class LegalHold:
    """A legal hold: while active, anonymise and destroy become restrict (storage only).

    It selects customers by ``customer_ids`` and/or ``applies_to`` (at least one is required; use
    ``applies_to=Selector()`` to hold everyone). Active from ``placed_at`` (inclusive) to
    ``lifted_at`` (exclusive; ``None`` while in place). ``reason`` is shown on every action it
    blocks, so keep personal data out of it (cite a case or matter number).
    """

    reason: str = attrs.field(validator=non_empty_text())
    placed_at: datetime = attrs.field(validator=aware())
    lifted_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    customer_ids: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, validator=[each(str), unique_items()]
    )
    applies_to: Selector | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Selector))
    )

    def __attrs_post_init__(self) -> None:
        if not self.customer_ids and self.applies_to is None:
            raise RetentionError("a legal hold needs customer_ids or applies_to")
        if self.lifted_at is not None and self.lifted_at <= self.placed_at:
            raise RetentionError("a legal hold must be lifted after it was placed")

    def active_at(self, as_of: datetime) -> bool:
        """Whether the hold is in place at ``as_of``."""
        require_aware(as_of, "as_of")
        return self.placed_at <= as_of and (self.lifted_at is None or as_of < self.lifted_at)

    def covers(self, facts: RetentionFacts) -> bool:
        """Whether the hold selects the customer of ``facts``."""
        if facts.customer_id in self.customer_ids:
            return True
        return self.applies_to is not None and self.applies_to.matches(facts)


def _key_instant(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@attrs.frozen(kw_only=True)
class PlannedAction:
    """One retention action a plan asks for, with why and what stopped it.

    ``rule`` is the code of the rule that fired, ``anchor_at`` the trigger instant and
    ``due_at`` when the action became due (UTC). When a legal hold or statutory floor turned an
    irreversible action into ``restrict``, ``converted_from`` names the original action and
    ``holds`` / ``floors`` the hold reasons and floor codes; a floor that only postponed the
    action (it has ended by now) is listed in ``floors`` with ``converted_from`` ``None``.
    """

    customer_id: str
    action: RetentionAction
    due_at: datetime
    rule: str
    trigger: RetentionTrigger
    anchor_at: datetime
    categories: tuple[DataCategory, ...] = ()
    reason: str
    legal_reference: str = ""
    converted_from: RetentionAction | None = None
    holds: tuple[str, ...] = ()
    floors: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """A stable identity: customer, rule, action and due instant.

        Executing an action with a key already executed is a no-op; feed executed keys back as
        :attr:`RetentionFacts.applied_keys` and later plans leave them out. The due instant is
        part of the key so that recurring actions (a review after each verification, an archive
        after a reactivation) get new keys.
        """
        return f"{self.customer_id}|{self.rule}|{self.action.value}|{_key_instant(self.due_at)}"

    @property
    def blocked(self) -> bool:
        """Whether a hold or floor replaced the rule's action with ``restrict``."""
        return self.converted_from is not None
