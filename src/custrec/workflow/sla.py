"""Service-level targets for cases, and the case clock that tells when each comes due.

An :class:`SlaPolicy` holds :class:`SlaRule` objects; :meth:`SlaPolicy.target_for` picks the
:class:`SlaTarget` of the most specific rule matching a case's kind, priority and customer
grade. :func:`sla_status` is the clock, a pure function of the case's facts: working time
(on the policy's :class:`~custrec.workflow.calendar.WorkingTime`) counts from ``opened_at``,
except while the case waits on the customer (``pauses``). Each target's :class:`Deadline` is
due when the counted time reaches it.

>>> from datetime import UTC, datetime, timedelta
>>> from custrec.workflow.calendar import BusinessCalendar
>>> office = BusinessCalendar(zone="Asia/Shanghai")
>>> target = SlaTarget(first_response=timedelta(hours=2))
>>> opened = datetime(2025, 6, 3, 8, 0, tzinfo=UTC)  # Tuesday 16:00 in Shanghai
>>> status = sla_status(target, office, opened_at=opened, as_of=opened)
>>> status.first_response.due_at  # Tuesday 18:00 in Shanghai, the end of the working day
datetime.datetime(2025, 6, 3, 10, 0, tzinfo=datetime.timezone.utc)
>>> later = sla_status(target, office, opened_at=opened, as_of=datetime(2025, 6, 4, 2, tzinfo=UTC))
>>> later.first_response.breached, escalations_due(later, already=())
(True, ['first_response'])

Facts recorded after ``as_of`` (a response, a resolution, a pause or its end) are ignored, so
the status as of a past instant is what it was then.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import attrs

from custrec._checks import check, number_range
from custrec.workflow.calendar import CalendarTime, WorkingTime, _aware, _type

__all__ = [
    "FIRST_RESPONSE",
    "RESOLUTION",
    "TARGET_NAMES",
    "Deadline",
    "Pause",
    "SlaPolicy",
    "SlaRule",
    "SlaStatus",
    "SlaTarget",
    "escalations_due",
    "next_due",
    "sla_status",
]

FIRST_RESPONSE: Final = "first_response"
"""The name of the first-response target (a :class:`Deadline`'s ``name``)."""

RESOLUTION: Final = "resolution"
"""The name of the resolution target."""

TARGET_NAMES: Final = (FIRST_RESPONSE, RESOLUTION)
"""Both target names, in the order :attr:`SlaStatus.deadlines` lists them."""

Pause = tuple[datetime, datetime | None]
"""A span ``(start, end)`` during which a case waits on the customer; ``end`` is ``None`` while
it still does."""

_ZERO: Final = timedelta(0)


# ------------------------------------------------------------------------------- checks


def _optional_target(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, timedelta):
        raise TypeError(f"{attribute.name} must be a timedelta or None, not {_type(value)}")
    if value <= _ZERO:
        raise ValueError(f"{attribute.name} must be positive")


def _ratio(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check(attribute.name, value, number_range(0, 1))
    if not 0 < value < 1:  # type: ignore[operator]
        raise ValueError(f"{attribute.name} must be between 0 and 1 (exclusive)")


def _optional_name(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _criterion(value, attribute.name)


def _criterion(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None, not {_type(value)}")
    if not value.strip():
        raise ValueError(f"{name} must not be blank")
    return value


def _instance_of(cls: type) -> Any:
    def validate(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, cls):
            raise TypeError(f"{attribute.name} must be a {cls.__name__}, not {_type(value)}")

    return validate


def _rules(value: object) -> tuple[SlaRule, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"rules must be a sequence of SlaRule, not {_type(value)}")
    rules = tuple(value)
    for rule in rules:
        if not isinstance(rule, SlaRule):
            raise TypeError(f"rules must hold SlaRule objects, not {_type(rule)}")
    return rules


def _policy_id(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        raise TypeError(f"{attribute.name} must be a string, not NoneType")
    _criterion(value, attribute.name)


# ------------------------------------------------------------------------------ targets


@attrs.frozen(kw_only=True)
class SlaTarget:
    """How much counted time a case may take to a first response and to its resolution.

    ``None`` means no such target. ``warn_ratio`` is the share of a target after which a
    :class:`Deadline` has its ``warn_at`` (0 < ratio < 1).
    """

    first_response: timedelta | None = attrs.field(default=None, validator=_optional_target)
    resolution: timedelta | None = attrs.field(default=None, validator=_optional_target)
    warn_ratio: float = attrs.field(default=0.8, validator=_ratio)


@attrs.frozen(kw_only=True)
class SlaRule:
    """A target for the cases matching ``kind``, ``priority`` and ``grade`` (``None``: any).

    ``escalate_to`` (a role or team-lead id) receives this rule's breaches; ``None`` defers to
    the policy's :attr:`SlaPolicy.escalate_to`.
    """

    target: SlaTarget = attrs.field(validator=_instance_of(SlaTarget))
    kind: str | None = attrs.field(default=None, validator=_optional_name)
    priority: str | None = attrs.field(default=None, validator=_optional_name)
    grade: str | None = attrs.field(default=None, validator=_optional_name)
    escalate_to: str | None = attrs.field(default=None, validator=_optional_name)

    @property
    def specificity(self) -> int:
        """How many criteria the rule sets (0 to 3)."""
        return sum(value is not None for value in (self.kind, self.priority, self.grade))

    def matches(self, kind: str | None, priority: str | None, grade: str | None) -> bool:
        """Whether every criterion the rule sets equals the case's."""
        return all(
            wanted is None or wanted == given
            for wanted, given in (
                (self.kind, _criterion(kind, "kind")),
                (self.priority, _criterion(priority, "priority")),
                (self.grade, _criterion(grade, "grade")),
            )
        )


@attrs.frozen(kw_only=True)
class SlaPolicy:
    """Named SLA rules counted on one clock, ``time`` (24x7 by default).

    ``escalate_to`` is where a breach goes when the matching rule names no one.

    >>> from datetime import timedelta
    >>> hour = timedelta(hours=1)
    >>> policy = SlaPolicy(id="support", escalate_to="support-lead", rules=(
    ...     SlaRule(target=SlaTarget(first_response=8 * hour)),
    ...     SlaRule(target=SlaTarget(first_response=2 * hour), grade="A", escalate_to="key-acct"),
    ... ))
    >>> policy.target_for("complaint", "high", "A").first_response == 2 * hour
    True
    >>> policy.escalation_for("complaint", "high", "B")
    'support-lead'
    """

    id: str = attrs.field(validator=_policy_id)
    rules: tuple[SlaRule, ...] = attrs.field(converter=_rules)
    time: WorkingTime = attrs.field(factory=CalendarTime, validator=_instance_of(WorkingTime))
    escalate_to: str | None = attrs.field(default=None, validator=_optional_name)

    def rule_for(self, kind: str | None, priority: str | None, grade: str | None) -> SlaRule | None:
        """The matching rule that sets the most criteria, the first listed on a tie; ``None``
        if no rule matches."""
        best: SlaRule | None = None
        for rule in self.rules:
            if rule.matches(kind, priority, grade) and (
                best is None or rule.specificity > best.specificity
            ):
                best = rule
        return best

    def target_for(
        self, kind: str | None, priority: str | None, grade: str | None
    ) -> SlaTarget | None:
        """The target of :meth:`rule_for`; ``None`` if no rule matches."""
        rule = self.rule_for(kind, priority, grade)
        return None if rule is None else rule.target

    def escalation_for(
        self, kind: str | None, priority: str | None, grade: str | None
    ) -> str | None:
        """Who receives a breach: the matching rule's ``escalate_to``, else the policy's;
        ``None`` if no rule matches (no target, no breach)."""
        rule = self.rule_for(kind, priority, grade)
        if rule is None:
            return None
        return rule.escalate_to if rule.escalate_to is not None else self.escalate_to


# -------------------------------------------------------------------------------- status


@attrs.frozen(kw_only=True)
class Deadline:
    """Where one target of a case stands.

    ``due_at`` is when the counted time reaches ``target``: ``None`` without a target, or while
    the clock is stopped (paused) short of it. ``warn_at`` likewise for ``warn_ratio`` of it.
    ``met_at`` is when the target was met. ``breached``: unmet at a ``due_at`` before
    ``as_of`` (an answer at ``due_at`` itself is on time, so the instant ``due_at`` is not
    yet a breach), or met after ``due_at``; ``breached_at`` is then ``due_at``. ``counted`` is the
    working time counted up to ``met_at`` (or ``as_of`` while unmet).
    """

    name: str
    target: timedelta | None
    due_at: datetime | None
    warn_at: datetime | None
    met_at: datetime | None
    breached: bool
    breached_at: datetime | None
    counted: timedelta


@attrs.frozen(kw_only=True)
class SlaStatus:
    """A case's two :class:`Deadline` objects as of ``as_of``, and whether its clock is stopped
    (``paused``: waiting on the customer at ``as_of``)."""

    as_of: datetime
    paused: bool
    first_response: Deadline
    resolution: Deadline

    @property
    def deadlines(self) -> tuple[Deadline, Deadline]:
        """``(first_response, resolution)``."""
        return (self.first_response, self.resolution)


def _pauses(value: object, opened: datetime) -> list[tuple[datetime, datetime | None]]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"pauses must be a sequence of (start, end) pairs, not {_type(value)}")
    found: list[tuple[datetime, datetime | None]] = []
    for item in value:
        if not isinstance(item, Sequence) or isinstance(item, str | bytes) or len(item) != 2:
            raise TypeError(f"pauses must hold (start, end) pairs, not {_type(item)}")
        start = _aware(item[0], "a pause's start")
        end = None if item[1] is None else _aware(item[1], "a pause's end")
        if start < opened:
            raise ValueError("pauses must not start before opened_at")
        if end is not None and end < start:
            raise ValueError("a pause must not end before it starts")
        if found:
            previous = found[-1][1]
            if previous is None or start < previous:
                raise ValueError("pauses must be in order and must not overlap")
        found.append((start, end))
    return found


def _segments(
    opened: datetime, pauses: list[tuple[datetime, datetime | None]], horizon: datetime
) -> tuple[list[tuple[datetime, datetime]], bool]:
    """The spans the clock ran in ``[opened, horizon)``, and whether it runs at ``horizon``."""
    spans: list[tuple[datetime, datetime]] = []
    cursor = opened
    for start, end in pauses:
        if start > horizon:
            break
        if cursor < start:
            spans.append((cursor, start))
        if end is None or end > horizon:
            return spans, False
        cursor = end
    if cursor < horizon:
        spans.append((cursor, horizon))
    return spans, True


class _Clock:
    """One target's counting: the spans run up to a horizon, and the time they hold."""

    def __init__(
        self,
        time: WorkingTime,
        opened: datetime,
        pauses: list[tuple[datetime, datetime | None]],
        horizon: datetime,
    ) -> None:
        self.time = time
        self.opened = opened
        self.horizon = horizon
        self.spans, self.running = _segments(opened, pauses, horizon)
        self.parts = [time.elapsed(start, end) for start, end in self.spans]
        self.counted = sum(self.parts, _ZERO)

    def reach(self, amount: timedelta) -> datetime | None:
        """When the counted time reaches ``amount``; ``None`` if the clock stopped short."""
        if amount <= self.counted:
            if not amount:
                return self.opened
            for (start, _), part in zip(self.spans, self.parts, strict=True):
                if amount <= part:
                    return self.time.add(start, amount).astimezone(UTC)
                amount -= part
            raise AssertionError("unreachable: the spans hold the counted time")
        if not self.running:
            return None
        return self.time.add(self.horizon, amount - self.counted).astimezone(UTC)


def _deadline(
    name: str,
    goal: timedelta | None,
    ratio: float,
    clock: _Clock,
    met_at: datetime | None,
    as_of: datetime,
) -> Deadline:
    due = warn = None
    if goal is not None:
        due, warn = clock.reach(goal), clock.reach(goal * ratio)
    breached = due is not None and (due < met_at if met_at is not None else due < as_of)
    return Deadline(
        name=name,
        target=goal,
        due_at=due,
        warn_at=warn,
        met_at=met_at,
        breached=breached,
        breached_at=due if breached else None,
        counted=clock.counted,
    )


def sla_status(
    target: SlaTarget,
    time: WorkingTime,
    *,
    opened_at: datetime,
    pauses: Iterable[Pause] = (),
    first_response_at: datetime | None = None,
    resolved_at: datetime | None = None,
    as_of: datetime,
) -> SlaStatus:
    """Where a case stands against ``target`` as of ``as_of``, counted on ``time``.

    Working time counts from ``opened_at`` except during ``pauses`` (ordered, not overlapping,
    none before ``opened_at``; only the last may be open; an empty one changes nothing). The
    first response is met at ``first_response_at``, or at ``resolved_at`` if that is earlier
    (resolving answers the case). A pause that began before a due instant and has ended moves
    it later by exactly the working time the pause covered; while a case is paused short of a
    target, that target has no due instant and cannot breach (one breached before the pause
    stays breached). Every instant returned is in UTC.
    """
    if not isinstance(target, SlaTarget):
        raise TypeError(f"target must be an SlaTarget, not {_type(target)}")
    if not isinstance(time, WorkingTime):
        raise TypeError(f"time must be a WorkingTime, not {_type(time)}")
    opened = _aware(opened_at, "opened_at")
    now = _aware(as_of, "as_of")
    if now < opened:
        raise ValueError("as_of must not be before opened_at")
    stops = _pauses(pauses, opened)
    facts: dict[str, datetime | None] = {}
    for name, value in (("first_response_at", first_response_at), ("resolved_at", resolved_at)):
        instant = None if value is None else _aware(value, name)
        if instant is not None and instant < opened:
            raise ValueError(f"{name} must not be before opened_at")
        facts[name] = instant if instant is not None and instant <= now else None
    resolved = facts["resolved_at"]
    answered = [instant for instant in facts.values() if instant is not None]
    responded = min(answered) if answered else None

    deadlines = []
    for name, goal, met_at in (
        (FIRST_RESPONSE, target.first_response, responded),
        (RESOLUTION, target.resolution, resolved),
    ):
        clock = _Clock(time, opened, stops, met_at if met_at is not None else now)
        deadlines.append(_deadline(name, goal, target.warn_ratio, clock, met_at, now))
    return SlaStatus(
        as_of=now,
        paused=not _segments(opened, stops, now)[1],
        first_response=deadlines[0],
        resolution=deadlines[1],
    )


def next_due(status: SlaStatus) -> datetime | None:
    """The earliest ``due_at`` of an unmet target (a past one if breached): the case's place
    in a due list. ``None`` when nothing is pending or the case is paused (nothing comes due
    while it waits on the customer)."""
    if not isinstance(status, SlaStatus):
        raise TypeError(f"status must be an SlaStatus, not {_type(status)}")
    if status.paused:
        return None
    pending = [
        deadline.due_at
        for deadline in status.deadlines
        if deadline.met_at is None and deadline.due_at is not None
    ]
    return min(pending, default=None)


def escalations_due(status: SlaStatus, already: Iterable[str]) -> list[str]:
    """The names of the breached targets not in ``already`` (those escalated before), in
    :data:`TARGET_NAMES` order, so that each breach is escalated exactly once."""
    if not isinstance(status, SlaStatus):
        raise TypeError(f"status must be an SlaStatus, not {_type(status)}")
    if isinstance(already, str | bytes) or not isinstance(already, Iterable):
        raise TypeError(f"already must be an iterable of target names, not {_type(already)}")
    done = set()
    for name in already:
        if not isinstance(name, str):
            raise TypeError(f"already must hold target names, not {_type(name)}")
        if name not in TARGET_NAMES:
            raise ValueError(f"already may hold only {', '.join(TARGET_NAMES)}")
        done.add(name)
    return [d.name for d in status.deadlines if d.breached and d.name not in done]
