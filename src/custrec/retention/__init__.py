"""Computable retention: typed rules produce a deterministic plan that holds and floors constrain.

A :class:`RetentionRule` says what happens to whose data how long after which trigger
(``archive``, ``restrict``, ``anonymise``, ``destroy`` or ``review``). A
:class:`RetentionSchedule` combines rules with :class:`LegalHold` objects (which turn anonymise
and destroy into restrict while in place) and :class:`StatutoryFloor` objects (minimum periods
set by law, before which nothing is anonymised or destroyed). :meth:`RetentionSchedule.plan`
turns per-customer :class:`RetentionFacts` into a sorted list of :class:`PlannedAction` objects,
each with a stable :attr:`~PlannedAction.key` so that executing a plan twice is a no-op.

This package is pure logic: no I/O, no clock (every call takes ``as_of``), deterministic. It does
not execute anything; the registry applies plans. See ``docs/consent-and-retention.md``.
"""

from custrec.errors import RetentionError
from custrec.retention.model import (
    CLOSED_STAGES,
    LegalHold,
    PlannedAction,
    RetentionAction,
    RetentionFacts,
    RetentionRule,
    RetentionTrigger,
    Selector,
    StatutoryFloor,
)
from custrec.retention.period import Period
from custrec.retention.schedule import RESTRICTION_REFERENCE, RetentionSchedule

__all__ = [
    "CLOSED_STAGES",
    "RESTRICTION_REFERENCE",
    "LegalHold",
    "Period",
    "PlannedAction",
    "RetentionAction",
    "RetentionError",
    "RetentionFacts",
    "RetentionRule",
    "RetentionSchedule",
    "RetentionTrigger",
    "Selector",
    "StatutoryFloor",
]
