"""The data-quality report broken down by staff: who entered, who owns, which team.

:func:`breakdown` streams once over the customers, as :func:`custrec.quality.assess` does, and
keeps one :class:`~custrec.quality.QualityTally` per group, so each group's
:class:`~custrec.quality.QualityReport` counts exactly what ``assess`` would count over that
group's customers, and the groups add up to the whole (:attr:`QualityBreakdown.overall`). Each
group also gets its customers' review turnaround (intake to approval), the timeliness of their
tasks, and, from the audit log, how often the staff member (or the team's members) read
customers unmasked and exported them. Pure logic: no I/O, no clock; the registry reads the facts
(``registry.quality.breakdown``).

>>> from datetime import UTC, datetime, timedelta
>>> from custrec.model.records import Contact, Customer, CustomerKind
>>> as_of = datetime(2025, 6, 30, tzinfo=UTC)
>>> people = [
...     Customer(id="c1", kind=CustomerKind.INDIVIDUAL, name="Li", owner="s-1",
...              contacts=[Contact(phones=["+8613800138000"])]),
...     Customer(id="c2", kind=CustomerKind.INDIVIDUAL, name="Wang", owner="s-2"),
... ]
>>> intake = Provenance(entered_by="s-9", entered_at=as_of - timedelta(days=3),
...                     approved_at=as_of - timedelta(days=1))
>>> result = breakdown(people, by="owner", as_of=as_of, provenance={"c1": intake}.get)
>>> [(g.key, g.quality.total, g.quality.valid_records) for g in result.groups]
[('s-1', 1, 1), ('s-2', 1, 0)]
>>> result.group("s-1").review.median
datetime.timedelta(days=2)
>>> result.overall.quality.total
2

See ``docs/quality.md`` ("By operator and team") for what each figure counts.
"""

from __future__ import annotations

import enum
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from custrec._checks import aware, optional, require_aware
from custrec.consent import ConsentLedger
from custrec.model.records import Customer
from custrec.quality import QualityReport, QualityTally
from custrec.security import AuditEntry
from custrec.validation import RuleSet
from custrec.workflow.tasks import Task, TaskStatus

__all__ = [
    "EXPORT_ACTIONS",
    "UNMASK_ACTIONS",
    "AccessCounts",
    "ActorAccess",
    "FollowUpTimeliness",
    "GroupQuality",
    "Grouping",
    "Provenance",
    "QualityBreakdown",
    "ReviewTurnaround",
    "breakdown",
]

UNMASK_ACTIONS: Final = frozenset({"customer.unmask", "history.unmask"})
"""Audit actions of a read that showed personal values in the clear (a customer, its history)."""

EXPORT_ACTIONS: Final = frozenset({"customer.export", "customer.disclose"})
"""Audit actions of an export of a customer: ``customer.export`` (``privacy.export_subject``,
one per customer a file export wrote) and ``customer.disclose`` (one per customer a disclosure
to a third party sent, by ``registry.disclosures`` or a file export with ``disclose=``)."""

_MICROSECOND: Final = timedelta(microseconds=1)


class Grouping(enum.StrEnum):
    """What a breakdown groups customers by."""

    ENTERED_BY = "entered_by"  # the actor who created the record (intake or import)
    OWNER = "owner"  # the account owner
    TEAM = "team"  # the customer's team

    @classmethod
    def parse(cls, value: object) -> Grouping:
        """``value`` as a grouping: ``TypeError`` for a non-string, ``ValueError`` for an
        unknown name (the message lists the known ones)."""
        if not isinstance(value, str):
            raise TypeError(f"by must be a string, not {type(value).__name__}")
        try:
            return cls(value)
        except ValueError:
            known = ", ".join(repr(g.value) for g in cls)
            raise ValueError(f"by must be one of {known}") from None


# ----------------------------------------------------------------------------------- inputs


@attrs.frozen(kw_only=True)
class Provenance:
    """Who took a customer in and when, and when its review approved it.

    ``entered_by`` is the actor of the record's creation (its first history entry: an intake, or
    an import, which takes records in through ``intake_many``); ``entered_at`` that instant;
    ``approved_at`` the instant of its first approval (``registry.review.approve``), ``None``
    when it was never approved. Instants are timezone-aware (``ValueError`` otherwise).
    """

    entered_by: str | None = None
    entered_at: datetime | None = attrs.field(default=None, validator=optional(aware()))
    approved_at: datetime | None = attrs.field(default=None, validator=optional(aware()))


# ---------------------------------------------------------------------------------- results


def _share(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


@attrs.frozen(kw_only=True)
class ReviewTurnaround:
    """How long review took, from intake to approval, over the customers approved by ``as_of``.

    ``median`` and ``p90`` are nearest-rank percentiles: the ``ceil(q * approved)``-th shortest
    turnaround (so always one that happened; the median of an even count is the lower middle
    one). They and ``longest`` are ``None`` when nothing was approved.
    """

    approved: int
    median: timedelta | None
    p90: timedelta | None
    longest: timedelta | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the count and the durations in seconds (``None`` when not known)."""

        def seconds(value: timedelta | None) -> float | None:
            return None if value is None else value.total_seconds()

        return {
            "approved": self.approved,
            "median_seconds": seconds(self.median),
            "p90_seconds": seconds(self.p90),
            "longest_seconds": seconds(self.longest),
        }


@attrs.frozen(kw_only=True)
class FollowUpTimeliness:
    """Whether tasks were done by their due instant, as of ``as_of``.

    A cancelled task is ``cancelled``. A task done at or before ``as_of`` is ``on_time`` when it
    was done at or before its due instant, else ``late``. Any other task (open, or done only
    after ``as_of``) is ``overdue`` when its due instant is before ``as_of``, else ``not_due``.
    """

    on_time: int
    late: int
    overdue: int
    not_due: int
    cancelled: int

    @property
    def tasks(self) -> int:
        """Every task counted."""
        return self.on_time + self.late + self.overdue + self.not_due + self.cancelled

    @property
    def due(self) -> int:
        """The tasks timeliness is judged on: done (on time or late) or overdue."""
        return self.on_time + self.late + self.overdue

    @property
    def on_time_percentage(self) -> float:
        """``on_time`` as a percentage of :attr:`due` (0.0 when nothing is due)."""
        return _share(self.on_time, self.due)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe counts and the on-time percentage."""
        return {
            "tasks": self.tasks,
            "due": self.due,
            "on_time": self.on_time,
            "late": self.late,
            "overdue": self.overdue,
            "not_due": self.not_due,
            "cancelled": self.cancelled,
            "on_time_percentage": self.on_time_percentage,
        }


@attrs.frozen(kw_only=True)
class AccessCounts:
    """Audited reads that showed personal values in the clear (:data:`UNMASK_ACTIONS`) and
    exports (:data:`EXPORT_ACTIONS`)."""

    unmask_reads: int
    exports: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe counts."""
        return {"unmask_reads": self.unmask_reads, "exports": self.exports}


@attrs.frozen(kw_only=True)
class ActorAccess:
    """One actor's :class:`AccessCounts`."""

    actor_id: str
    access: AccessCounts


@attrs.frozen(kw_only=True)
class GroupQuality:
    """The figures of one group of customers.

    ``key`` is the group's staff id or team, ``None`` for the customers without one (no owner,
    no team, no known creator). ``review`` is ``None`` without provenance, ``follow_up`` without
    tasks. ``access`` counts what the group's actor did (by ``entered_by`` or ``owner``), or the
    team's actors (by ``team``, given each actor's team); ``None`` when not computed, and for
    the group without a key.
    """

    key: str | None
    quality: QualityReport
    review: ReviewTurnaround | None
    follow_up: FollowUpTimeliness | None
    access: AccessCounts | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the key, the quality report's dictionary and the other measures."""
        return {
            "key": self.key,
            "quality": self.quality.to_dict(),
            "review": None if self.review is None else self.review.to_dict(),
            "follow_up": None if self.follow_up is None else self.follow_up.to_dict(),
            "access": None if self.access is None else self.access.to_dict(),
        }


@attrs.frozen(kw_only=True)
class QualityBreakdown:
    """The outcome of :func:`breakdown`: one :class:`GroupQuality` per group, and the whole.

    ``groups`` are ordered by key, the group without a key last. ``overall`` covers every
    customer (its ``key`` is ``None``): its quality report is what
    :func:`~custrec.quality.assess` reports over the whole population, and its counts are the
    sums of the groups' (its review percentiles are over every approved customer). Its
    ``access`` sums every actor in ``actors``, whether or not a group names them.
    ``actors`` is ``None`` when no audit entries were given.
    """

    by: Grouping
    as_of: datetime
    access_since: datetime | None
    groups: tuple[GroupQuality, ...]
    overall: GroupQuality
    actors: tuple[ActorAccess, ...] | None

    def group(self, key: str | None) -> GroupQuality:
        """The group with ``key`` (``KeyError`` when there is none)."""
        for found in self.groups:
            if found.key == key:
                return found
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dictionary (strings, numbers, lists, dicts and ``None`` only)."""
        return {
            "by": self.by.value,
            "as_of": self.as_of.isoformat(),
            "access_since": None if self.access_since is None else self.access_since.isoformat(),
            "groups": [g.to_dict() for g in self.groups],
            "overall": self.overall.to_dict(),
            "actors": None
            if self.actors is None
            else [{"actor_id": a.actor_id, **a.access.to_dict()} for a in self.actors],
        }

    def to_table(self) -> str:
        """A fixed-width text table: one section per measure, one line per group."""
        return _table(self)


# ----------------------------------------------------------------------------- computation


class _Durations:
    """Turnarounds in whole microseconds, 8 bytes each (exact percentiles need them all)."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values = array("q")

    def result(self) -> ReviewTurnaround:
        ordered = sorted(self.values)
        n = len(ordered)
        if not n:
            return ReviewTurnaround(approved=0, median=None, p90=None, longest=None)

        def rank(numerator: int, denominator: int) -> timedelta:  # the ceil(q * n)-th shortest
            return ordered[-(-numerator * n // denominator) - 1] * _MICROSECOND

        return ReviewTurnaround(
            approved=n, median=rank(1, 2), p90=rank(9, 10), longest=ordered[-1] * _MICROSECOND
        )


class _Group:
    """The running counts of one group."""

    __slots__ = ("durations", "tally", "tasks")

    def __init__(self, tally: QualityTally) -> None:
        self.tally = tally
        self.durations = _Durations()
        self.tasks = [0, 0, 0, 0, 0]  # on time, late, overdue, not due, cancelled


_ON_TIME, _LATE, _OVERDUE, _NOT_DUE, _CANCELLED = range(5)


def _key(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _task_class(task: Task, as_of: datetime) -> int:
    """Where a task stands at ``as_of`` (see :class:`FollowUpTimeliness`)."""
    due = require_aware(task.due_at, "a task's due_at")
    if task.status is TaskStatus.CANCELLED:
        return _CANCELLED
    if task.status is TaskStatus.DONE:
        if task.completed_at is None:
            raise ValueError("a done task needs completed_at")
        done = require_aware(task.completed_at, "a task's completed_at")
        if done <= as_of:
            return _ON_TIME if done <= due else _LATE
    return _OVERDUE if due < as_of else _NOT_DUE


def _check_teams(actor_teams: object, by: Grouping) -> Mapping[str, str] | None:
    if actor_teams is None:
        return None
    if by is not Grouping.TEAM:
        raise ValueError("actor_teams is only used with by='team'")
    if not isinstance(actor_teams, Mapping):
        raise TypeError("actor_teams must be a mapping of actor ids to teams")
    for actor_id, team in actor_teams.items():
        if not isinstance(actor_id, str) or not isinstance(team, str):
            raise TypeError("actor_teams must map actor ids (strings) to teams (strings)")
    return actor_teams


def breakdown(
    customers: Iterable[Customer],
    *,
    by: Grouping | str,
    as_of: datetime,
    stale_after: timedelta = timedelta(days=365),
    rules: RuleSet | None = None,
    ledgers: Callable[[str], ConsentLedger | None] | None = None,
    purposes: Sequence[str] | None = None,
    duplicate_ids: Collection[str] | None = None,
    fields: Sequence[str] | None = None,
    provenance: Callable[[str], Provenance | None] | None = None,
    tasks: Callable[[str], Iterable[Task]] | None = None,
    audit: Iterable[AuditEntry] | None = None,
    access_since: datetime | None = None,
    actor_teams: Mapping[str, str] | None = None,
) -> QualityBreakdown:
    """Measure the data quality of ``customers`` at ``as_of``, group by group.

    ``by`` is a :class:`Grouping` (``"entered_by"``, ``"owner"`` or ``"team"``): the owner and
    team are the customer's fields, the creator comes from ``provenance``. The arguments of
    :func:`~custrec.quality.assess` mean what they mean there; further:

    - ``provenance(customer_id)``: the customer's :class:`Provenance` or ``None``; needed by
      ``entered_by``, and gives the review turnaround (``None`` without it).
    - ``tasks(customer_id)``: the customer's tasks (:class:`~custrec.workflow.Task`), judged as
      :class:`FollowUpTimeliness` says (``None`` without it).
    - ``audit``: audit entries (:class:`custrec.storage.AuditRecord`), read once after the
      customers; those with outcome ``ok`` at or after ``access_since`` (when given) and at
      or before ``as_of`` are counted per actor.
      A group's key is an actor id by ``entered_by`` and ``owner``; by ``team``, give
      ``actor_teams`` (actor id to team) to count the team's actors, else no group has access
      counts (the per-actor counts are still there).

    Keeps one set of counters per group, one 8-byte duration per approved customer, and one
    count per actor. Raises what ``assess`` raises, and ``ValueError`` for an unknown ``by``,
    ``entered_by`` without ``provenance``, a naive ``access_since``, ``access_since`` after
    ``as_of``, ``access_since`` or ``actor_teams`` without ``audit``, ``actor_teams`` by
    another grouping, a task of another customer, a naive task instant or a done task without
    ``completed_at``; ``TypeError`` for wrongly typed arguments or what the callables return.
    """
    grouping = Grouping.parse(by)
    base = QualityTally(
        as_of=as_of,
        stale_after=stale_after,
        rules=rules,
        ledgers=ledgers,
        purposes=purposes,
        duplicate_ids=duplicate_ids,
        fields=fields,
    )
    as_of = base.as_of
    if grouping is Grouping.ENTERED_BY and provenance is None:
        raise ValueError("by='entered_by' needs provenance")
    if audit is None and (access_since is not None or actor_teams is not None):
        raise ValueError("access_since and actor_teams are only used with audit entries")
    since = None if access_since is None else require_aware(access_since, "access_since")
    if since is not None and since > as_of:
        raise ValueError("access_since must not be after as_of (the counted period is empty)")
    teams = _check_teams(actor_teams, grouping)

    groups: dict[str | None, _Group] = {}
    for customer in customers:
        if not isinstance(customer, Customer):
            raise TypeError(f"breakdown() takes Customer records, not {type(customer).__name__}")
        facts = None if provenance is None else provenance(customer.id)
        if facts is not None and not isinstance(facts, Provenance):
            raise TypeError("provenance() must return a Provenance or None")
        if grouping is Grouping.ENTERED_BY:
            key = None if facts is None else _key(facts.entered_by)
        else:
            key = _key(customer.owner if grouping is Grouping.OWNER else customer.team)
        classes = []
        for task in () if tasks is None else tasks(customer.id):
            if not isinstance(task, Task):
                raise TypeError("tasks() must give Task records")
            if task.customer_id != customer.id:
                raise ValueError("tasks() gave a task of another customer")
            classes.append(_task_class(task, as_of))
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(base.empty())
        group.tally.add(customer)  # raises before anything of this customer is counted
        for index in classes:
            group.tasks[index] += 1
        entered, approved = (None, None) if facts is None else (facts.entered_at, facts.approved_at)
        if entered is not None and approved is not None and approved <= as_of:
            group.durations.values.append((approved - entered) // _MICROSECOND)

    actors = None if audit is None else _access(audit, as_of, since)

    def access_of(key: str | None) -> AccessCounts | None:
        if actors is None or key is None:
            return None
        if grouping is Grouping.TEAM:
            if teams is None:
                return None
            members = [a for a in actors if teams.get(a.actor_id) == key]
            return _sum_access(a.access for a in members)
        return next(
            (a.access for a in actors if a.actor_id == key),
            AccessCounts(unmask_reads=0, exports=0),
        )

    def finished(key: str | None, group: _Group, access: AccessCounts | None) -> GroupQuality:
        return GroupQuality(
            key=key,
            quality=group.tally.report(),
            review=None if provenance is None else group.durations.result(),
            follow_up=None
            if tasks is None
            else FollowUpTimeliness(
                on_time=group.tasks[_ON_TIME],
                late=group.tasks[_LATE],
                overdue=group.tasks[_OVERDUE],
                not_due=group.tasks[_NOT_DUE],
                cancelled=group.tasks[_CANCELLED],
            ),
            access=access,
        )

    ordered = sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or ""))
    whole = _Group(base.empty().merged(*(g.tally for _, g in ordered)))
    for _, group in ordered:
        whole.durations.values.extend(group.durations.values)
        whole.tasks = [a + b for a, b in zip(whole.tasks, group.tasks, strict=True)]
    overall_access = None if actors is None else _sum_access(a.access for a in actors)
    return QualityBreakdown(
        by=grouping,
        as_of=as_of,
        access_since=since,
        groups=tuple(finished(key, group, access_of(key)) for key, group in ordered),
        overall=finished(None, whole, overall_access),
        actors=actors,
    )


def _sum_access(counts: Iterable[AccessCounts]) -> AccessCounts:
    unmask = exports = 0
    for count in counts:
        unmask += count.unmask_reads
        exports += count.exports
    return AccessCounts(unmask_reads=unmask, exports=exports)


def _access(
    entries: Iterable[AuditEntry], as_of: datetime, since: datetime | None
) -> tuple[ActorAccess, ...]:
    """Unmasked reads and exports per actor, by actor id."""
    unmask: Counter[str] = Counter()
    exports: Counter[str] = Counter()
    for entry in entries:
        action = entry.action
        if action not in UNMASK_ACTIONS and action not in EXPORT_ACTIONS:
            continue
        if entry.outcome != "ok":
            continue
        at = require_aware(entry.at, "an audit entry's at")
        if at > as_of or (since is not None and at < since):
            continue
        if action in UNMASK_ACTIONS:
            unmask[entry.actor_id] += 1
        else:
            exports[entry.actor_id] += 1
    return tuple(
        ActorAccess(
            actor_id=actor_id,
            access=AccessCounts(unmask_reads=unmask[actor_id], exports=exports[actor_id]),
        )
        for actor_id in sorted(unmask.keys() | exports.keys())
    )


# ------------------------------------------------------------------------------- the table


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _duration(value: timedelta | None) -> str:
    """A duration to the unit shown, rounded down: ``2d 3h``, ``4h 5m``, ``6m 7s``, ``8s``."""
    if value is None:
        return "-"
    sign = "-" if value < timedelta(0) else ""
    seconds = abs(value) // timedelta(seconds=1)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes}m"
    if minutes:
        return f"{sign}{minutes}m {secs}s"
    return f"{sign}{secs}s"


def _label(key: str | None) -> str:
    return "(none)" if key is None else key


_Line = tuple[str, ...]


def _table(result: QualityBreakdown) -> str:
    rows = [*result.groups, result.overall]
    labels = [_label(g.key) for g in result.groups] + ["all"]
    sections: list[tuple[str, _Line, list[_Line]]] = []

    quality: list[_Line] = []
    for label, group in zip(labels, rows, strict=True):
        q = group.quality
        duplicates = "-" if q.duplicates is None else _percent(q.duplicates, q.total)
        quality.append(
            (
                label,
                str(q.total),
                _percent(q.filled, q.applicable),
                _percent(q.valid_records, q.total),
                duplicates,
                _percent(q.stale, q.total),
            )
        )
    heads: _Line = ("customers", "complete", "valid", "duplicates", "stale")
    sections.append(("QUALITY", heads, quality))

    if result.overall.review is None:
        sections.append(("REVIEW", (), [("not computed (no provenance given)",)]))
    else:
        review: list[_Line] = []
        for label, group in zip(labels, rows, strict=True):
            r = group.review
            assert r is not None
            review.append(
                (
                    label,
                    str(r.approved),
                    _duration(r.median),
                    _duration(r.p90),
                    _duration(r.longest),
                )
            )
        sections.append(("REVIEW", ("approved", "median", "p90", "longest"), review))

    if result.overall.follow_up is None:
        sections.append(("FOLLOW-UP", (), [("not computed (no tasks given)",)]))
    else:
        follow: list[_Line] = []
        for label, group in zip(labels, rows, strict=True):
            f = group.follow_up
            assert f is not None
            follow.append(
                (
                    label,
                    str(f.due),
                    str(f.on_time),
                    str(f.late),
                    str(f.overdue),
                    _percent(f.on_time, f.due),
                    str(f.not_due),
                    str(f.cancelled),
                )
            )
        heads = ("due", "on time", "late", "overdue", "share", "not due", "cancelled")
        sections.append(("FOLLOW-UP", heads, follow))

    sections.append(_access_section(result, labels))
    total, count = result.overall.quality.total, len(result.groups)
    title = (
        f"Data quality by {result.by.value} as of {result.as_of.isoformat()}: "
        f"{total} {'customer' if total == 1 else 'customers'} "
        f"in {count} {'group' if count == 1 else 'groups'}"
    )
    if result.access_since is not None:
        title += f"\n(access counted from {result.access_since.isoformat()})"
    return "\n".join([title, *_render(sections)])


def _access_section(result: QualityBreakdown, labels: list[str]) -> tuple[str, _Line, list[_Line]]:
    heads = ("unmask reads", "exports")
    if result.actors is None:
        return ("ACCESS", (), [("not computed (no audit entries)",)])
    total = result.overall.access
    assert total is not None
    if all(g.access is None for g in result.groups) and result.by is Grouping.TEAM:
        lines: list[_Line] = [
            (a.actor_id, str(a.access.unmask_reads), str(a.access.exports)) for a in result.actors
        ]
        lines.append(("all", str(total.unmask_reads), str(total.exports)))
        return ("ACCESS BY ACTOR", heads, lines)  # by team without actor_teams
    lines = []
    unmask = exports = 0
    for label, group in zip(labels[:-1], result.groups, strict=True):
        if group.access is not None:
            unmask += group.access.unmask_reads
            exports += group.access.exports
            lines.append((label, str(group.access.unmask_reads), str(group.access.exports)))
    rest = (total.unmask_reads - unmask, total.exports - exports)
    if any(rest):
        lines.append(("other actors", str(rest[0]), str(rest[1])))
    lines.append(("all", str(total.unmask_reads), str(total.exports)))
    return ("ACCESS", heads, lines)


def _render(sections: list[tuple[str, _Line, list[_Line]]]) -> list[str]:
    """Each section as a heading line and its rows: the labels in one left-aligned column
    shared by every section, the figures right-aligned under their headings."""
    width = max(
        [len(title) for title, heads, _ in sections if heads]
        + [len(row[0]) + 2 for _, heads, rows in sections if heads for row in rows]
    )
    out: list[str] = []
    for title, heads, rows in sections:
        out.append("")
        if not heads:
            out += [title, *(f"  {row[0]}" for row in rows)]
            continue
        widths = [max(len(h), *(len(row[i + 1]) for row in rows)) for i, h in enumerate(heads)]

        def line(label: str, cells: Sequence[str], widths: list[int] = widths) -> str:
            figures = "".join(f"  {c:>{w}}" for c, w in zip(cells, widths, strict=True))
            return f"{label:<{width}}{figures}".rstrip()

        out.append(line(title, heads))
        out += [line(f"  {row[0]}", row[1:]) for row in rows]
    return out
