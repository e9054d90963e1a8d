"""How a registry runs its workflow: rules, response-time policy, recurring tasks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import attrs

from custrec._checks import int_range
from custrec.workflow.recurring import RecurringTask
from custrec.workflow.rules import DEFAULT_RULES, LifecycleRule
from custrec.workflow.sla import SlaPolicy

__all__ = ["WorkflowSettings", "positive_span"]


def _rules(values: Iterable[LifecycleRule]) -> tuple[LifecycleRule, ...]:
    rules = tuple(values)
    for rule in rules:
        if not isinstance(rule, LifecycleRule):
            raise TypeError("lifecycle rules need an id and a react(event) method")
        if not isinstance(rule.id, str) or not rule.id.strip() or "\x00" in rule.id:
            raise ValueError("a lifecycle rule's id must be non-blank text")
    ids = [rule.id for rule in rules]
    if len(set(ids)) != len(ids):
        raise ValueError("lifecycle rule ids must be unique")
    return rules


def _recurring(values: Iterable[RecurringTask]) -> tuple[RecurringTask, ...]:
    items = tuple(values)
    if not all(isinstance(item, RecurringTask) for item in items):
        raise TypeError("recurring must hold RecurringTask objects")
    if len({item.id for item in items}) != len(items):
        raise ValueError("recurring task ids must be unique")
    return items


def positive_span(value: object, name: str) -> timedelta:
    """``value`` if it is a positive ``timedelta`` (``TypeError``, ``ValueError`` otherwise)."""
    if not isinstance(value, timedelta):
        raise TypeError(f"{name} must be a datetime.timedelta")
    if value <= timedelta(0):
        raise ValueError(f"{name} must be positive")
    return value


def _positive_span(_: object, attribute: attrs.Attribute[timedelta], value: object) -> None:
    positive_span(value, attribute.name)


@attrs.frozen(kw_only=True)
class WorkflowSettings:
    """The workflow of a registry.

    ``rules`` run inside every unit of work that records an activity, updates a customer or
    closes a case (:data:`~custrec.workflow.rules.DEFAULT_RULES` unless given; ``()`` runs
    none); ``max_depth`` bounds how far rules' changes may trigger other rules. ``sla`` is the
    response-time policy of service cases (``None``: cases have no targets). ``recurring``
    lists the tasks the sweep makes every period. ``due_soon`` is the window of the "due soon"
    lists.
    """

    rules: tuple[LifecycleRule, ...] = attrs.field(default=DEFAULT_RULES, converter=_rules)
    max_depth: int = attrs.field(default=8, validator=int_range(1, 64))
    sla: SlaPolicy | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(SlaPolicy))
    )
    recurring: tuple[RecurringTask, ...] = attrs.field(default=(), converter=_recurring)
    due_soon: timedelta = attrs.field(default=timedelta(hours=4), validator=_positive_span)
