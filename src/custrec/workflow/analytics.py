"""Service analytics as data: response and resolution times, breach, reopen and satisfaction
figures per period and group, computed from cases (pure functions).

Times are working time where the case had a response-time target (the policy's calendar,
pauses left out, as the target counted them) and wall-clock time otherwise. The median of an
even count is the mean of the two middle values; p90 is the nearest-rank 90th percentile (the
value at rank ``ceil(0.9 * n)`` in ascending order).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import attrs

from custrec.workflow.calendar import check_zone
from custrec.workflow.cases import Case, CaseStatus, case_status
from custrec.workflow.sla import SlaPolicy

__all__ = ["GROUPS", "PERIODS", "CaseFacts", "CaseStats", "case_facts", "case_stats", "p90"]

GROUPS: Final = ("team", "assignee", "category", "kind", "priority", "grade")
"""What :func:`case_stats` can group by."""
PERIODS: Final = ("day", "week", "month", "quarter")
"""The periods :func:`case_stats` can split by (of the opening instant, in UTC)."""


@attrs.frozen(kw_only=True)
class CaseFacts:
    """What analytics needs of one case (no personal data)."""

    case_id: str
    opened_at: datetime
    kind: str
    priority: str
    category: str | None
    team: str | None
    assignee: str | None
    grade: str | None
    first_response: timedelta | None
    resolution: timedelta | None
    breached: bool
    reopened: bool
    satisfaction: int | None


@attrs.frozen(kw_only=True)
class CaseStats:
    """The figures of one group of cases (``group`` and ``period`` ``None`` when not split).

    Rates are shares of ``cases`` (``None`` for no cases); the medians and p90 cover the cases
    that had a first response or a resolution; ``satisfaction`` is the mean score of the
    ``rated`` cases.
    """

    group: str | None
    period: str | None
    cases: int
    first_response_median: timedelta | None
    first_response_p90: timedelta | None
    resolution_median: timedelta | None
    resolution_p90: timedelta | None
    breach_rate: float | None
    reopen_rate: float | None
    satisfaction: float | None
    rated: int


def case_facts(case: Case, policy: SlaPolicy | None, now: datetime) -> CaseFacts:
    """The facts of a case as of ``now``."""
    first = case.first_response_at - case.opened_at if case.first_response_at else None
    resolution = case.resolved_at - case.opened_at if case.resolved_at else None
    breached = bool(case.breached)
    status = case_status(
        case, policy, max(now, case.resolved_at or now, case.first_response_at or now)
    )
    if status is not None:
        if case.first_response_at is not None:
            first = status.first_response.counted
        if case.resolved_at is not None:
            resolution = status.resolution.counted
        breached = breached or any(d.breached for d in status.deadlines)
    return CaseFacts(
        case_id=case.id,
        opened_at=case.opened_at,
        kind=case.kind.value,
        priority=case.priority.value,
        category=case.category,
        team=case.team,
        assignee=case.assignee,
        grade=case.grade,
        first_response=first,
        resolution=resolution,
        breached=breached,
        reopened=any(t.to_status is CaseStatus.REOPENED for t in case.transitions),
        satisfaction=case.satisfaction,
    )


def p90(values: Sequence[timedelta]) -> timedelta | None:
    """The nearest-rank 90th percentile (``None`` for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def _median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def period_of(moment: datetime, period: str, zone: str = "UTC") -> str:
    """The name of the period ``moment`` falls in: ``2026-12-06``, ``2026-W49`` (ISO week),
    ``2026-12`` or ``2026-Q4``, by its calendar day in ``zone`` (an IANA name)."""
    day = moment.astimezone(UTC if zone == "UTC" else ZoneInfo(zone)).date()
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    raise ValueError(f"period must be one of {', '.join(PERIODS)}")


def case_stats(
    facts: Iterable[CaseFacts],
    *,
    by: str | None = None,
    period: str | None = None,
    zone: str = "UTC",
) -> list[CaseStats]:
    """The figures overall, or one row per group (``by``: one of :data:`GROUPS`) and period
    (one of :data:`PERIODS`, each case in the period of its opening day in ``zone``, an IANA
    name), ordered by period then group (a missing group value is ``None`` and sorts
    first)."""
    if by is not None and by not in GROUPS:
        raise ValueError(f"by must be one of {', '.join(GROUPS)}")
    if period is not None and period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    check_zone(zone)
    groups: dict[tuple[str | None, str | None], list[CaseFacts]] = {}
    for fact in facts:
        key = (
            period_of(fact.opened_at, period, zone) if period is not None else None,
            getattr(fact, by) if by is not None else None,
        )
        groups.setdefault(key, []).append(fact)
    if not groups and by is None and period is None:
        groups[(None, None)] = []
    return [
        _stats(group, when, items)
        for (when, group), items in sorted(
            groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] is not None, kv[0][1] or "")
        )
    ]


def _stats(group: str | None, period: str | None, items: list[CaseFacts]) -> CaseStats:
    firsts = [f.first_response for f in items if f.first_response is not None]
    resolutions = [f.resolution for f in items if f.resolution is not None]
    scores = [f.satisfaction for f in items if f.satisfaction is not None]
    count = len(items)
    return CaseStats(
        group=group,
        period=period,
        cases=count,
        first_response_median=_median(firsts),
        first_response_p90=p90(firsts),
        resolution_median=_median(resolutions),
        resolution_p90=p90(resolutions),
        breach_rate=sum(f.breached for f in items) / count if count else None,
        reopen_rate=sum(f.reopened for f in items) / count if count else None,
        satisfaction=sum(scores) / len(scores) if scores else None,
        rated=len(scores),
    )
