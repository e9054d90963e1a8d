"""Recurring tasks: return visits every N days, re-verification every quarter.

A :class:`RecurringTask` says which customers get a task (by grade and stage, the plain facets
of a stored customer, so a sweep never opens a record) and how often. For an instant ``as_of``
it names the current period and its due instant; the task's id is derived from the rule, the
customer and the period (:func:`occurrence_id`), so a sweep run twice, or by two processes at
once, makes each task once. The task goes to the customer's owner and team.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from custrec._checks import check, optional, positive_int, require_aware
from custrec.workflow.tasks import TaskKind

__all__ = ["RecurringTask", "occurrence_id"]

_EPOCH: Final = date(2000, 1, 3)  # a Monday: periods of whole weeks start on Mondays


def _zone(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be an IANA time zone name")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc


def occurrence_id(rule_id: str, customer_id: str, period: str) -> str:
    """The id of the task a rule makes for a customer in a period (the same on every sweep)."""
    digest = hashlib.sha256("\x1f".join((rule_id, customer_id, period)).encode()).hexdigest()
    return f"rt-{digest[:32]}"


@attrs.frozen(kw_only=True)
class RecurringTask:
    """A task every customer in scope gets once per period.

    Exactly one of ``every_days`` (periods of that many days counted from Monday 3 January
    2000) and ``quarterly`` (calendar quarters) is set. ``grades`` and ``stages`` limit the
    customers (``None``: all). The task is due at the end of its period, midnight in ``zone``.
    """

    id: str
    kind: TaskKind = attrs.field(default=TaskKind.RETURN_VISIT, converter=TaskKind)
    every_days: int | None = None
    quarterly: bool = False
    grades: frozenset[str] | None = None
    stages: frozenset[str] | None = None
    zone: str = attrs.field(default="UTC", validator=_zone)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id or "\x00" in self.id:
            raise ValueError("a recurring task needs an id (non-empty text)")
        if (self.every_days is None) == (not self.quarterly):
            raise ValueError("set exactly one of every_days= and quarterly=True")
        check("every_days", self.every_days, optional(positive_int()))

    def applies(self, *, grade: str | None, stage: str) -> bool:
        """Whether a customer with this grade and stage gets the task."""
        return (self.grades is None or grade in self.grades) and (
            self.stages is None or stage in self.stages
        )

    def period(self, as_of: datetime) -> tuple[str, datetime]:
        """The period ``as_of`` falls in (its name) and its due instant (the period's end)."""
        zone = ZoneInfo(self.zone)
        day = require_aware(as_of, "as_of").astimezone(zone).date()
        if self.quarterly:
            quarter = (day.month - 1) // 3
            name = f"{day.year}-Q{quarter + 1}"
            year, month = (day.year + 1, 1) if quarter == 3 else (day.year, 3 * quarter + 4)
            end = date(year, month, 1)
        else:
            assert self.every_days is not None
            index = (day - _EPOCH).days // self.every_days
            name = f"{self.every_days}d-{index}"
            end = _EPOCH + timedelta(days=(index + 1) * self.every_days)
        due = datetime(end.year, end.month, end.day, tzinfo=zone).astimezone(UTC)
        return name, due
