"""Figures for dashboards: customers counted by group, new customers per period and the
repurchase rate per period (``registry.reports``).

Every figure counts only the customers the actor may read, and never an erased or merged
record. When the access policy says how far a right reaches (a
:class:`~custrec.security.ScopedPolicy`, as the default
:class:`~custrec.security.RoleBasedPolicy` does), the store computes each figure with that
reach as one more condition (``GROUP BY`` and counts in SQL; no row is read into Python), so
the policy's ``widest_scope(actor, "read")`` must be exactly what its ``decide`` allows for
reads (``own``: the customers the actor owns; ``team``: those and the actor's team's;
``all``; ``None``: none). With any other policy the customers' facets are read page by page
and the policy decides each one: the same figures, more slowly. Nothing is decrypted, and
each call writes one audit entry (``report.counts``, ``report.new_customers``,
``report.repurchase``) naming what was grouped or counted, never a value.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Final, Literal, Unpack

import attrs

from custrec.model.custom import CustomFieldSet
from custrec.security import AccessPolicy, Action, Actor, Resource, Scope, ScopedPolicy
from custrec.services._aggregate_groups import check_groupings, ordered, row_groups
from custrec.services._aggregate_periods import (
    MAX_PERIODS,
    PERIODS,
    Period,
    check_zone,
    edge_chunks,
    period_edges,
)
from custrec.services.context import Context as ServiceContext
from custrec.services.context import check_actor
from custrec.services.facets import CustomerFacets, facet_filter
from custrec.services.results import GroupCounts, PeriodCount, PeriodRate
from custrec.storage import (
    HIDDEN_STATES,
    PERIOD_FIELDS,
    ROW_STATES,
    CustomerFilter,
    CustomerRow,
    Reach,
)
from custrec.storage.protocols import Session

__all__ = ["MAX_PERIODS", "PERIODS", "Period", "PeriodField", "ReportService"]

PeriodField = Literal["created_at", "updated_at"]

_CUSTOMERS: Final = frozenset(ROW_STATES) - HIDDEN_STATES  # live, archived, restricted
_BATCH: Final = 1000  # rows (or one customer's activities) read per step, row by row
_RATE_PLACES: Final = Decimal("0.0001")
_DECIMALS: Final = Context(prec=28, rounding=ROUND_HALF_UP)


@attrs.frozen
class _Plan:
    """How the figures are computed for one actor: in the store within ``reach``
    (``None``: every customer), row by row through the policy (``per_row``), or not at all
    (``nothing``: the actor may read no customer)."""

    reach: Reach | None = None
    per_row: bool = False
    nothing: bool = False


def _plan(policy: AccessPolicy, actor: Actor) -> _Plan:
    if not isinstance(policy, ScopedPolicy):
        return _Plan(per_row=True)
    scope = policy.widest_scope(actor, Action.READ)
    if scope is None:
        return _Plan(nothing=True)
    scope = Scope(scope)
    if scope is Scope.ALL:
        return _Plan()
    return _Plan(reach=Reach(owner=actor.id, team=actor.team if scope is Scope.TEAM else None))


def _rate(buyers: int, repeat_buyers: int) -> Decimal | None:
    """``repeat_buyers / buyers`` rounded half up to four decimal places; ``None`` for no
    buyers."""
    if not buyers:
        return None
    ratio = _DECIMALS.divide(Decimal(repeat_buyers), Decimal(buyers))
    return ratio.quantize(_RATE_PLACES, context=_DECIMALS)


class ReportService:
    """Dashboard figures over the customers an actor may read (``registry.reports``)."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    # --------------------------------------------------------------------------- figures

    def counts(
        self, by: str | Sequence[str], *, actor: Actor, **facets: Unpack[CustomerFacets]
    ) -> GroupCounts:
        """Count the customers the actor may read that match the facets
        (:class:`~custrec.services.CustomerFacets`), per group of one or two groupings.

        ``by`` is a grouping name or a sequence of one or two: ``kind``, ``stage``, ``state``,
        ``owner``, ``team``, ``grade`` (the primary grade), ``tag``, ``industry``,
        ``province``, ``city``, ``intent``, ``interest``, ``category``, ``source``,
        ``verification``, ``grade.<dimension>`` (a grade dimension, ``grade.stars``) or
        ``custom.<field>`` (a filterable custom field; its values come back as the field's
        type holds them: ``int``, ``Decimal``, ``date``, ``bool`` or text). An unknown name
        raises ``ValueError`` naming the groupings allowed.

        A customer counts once in each of its groups: a customer with two cities counts in
        both, one without any in the group ``None``; with two groupings, once per pair of its
        values. ``total`` counts each matching customer once. Erased and merged records never
        count. Audited as ``report.counts`` with the grouping names.
        """
        actor = check_actor(actor)
        plan = _plan(self._context.policy, actor)
        now = self._context.now()
        groups: dict[tuple[str | None, ...], int] = {}
        total = 0
        with self._context.read_unit() as unit:
            fields = self._context.fields.read(unit.session)
            names, decoders = check_groupings(by, fields)
            where = self._where(facets, fields, plan)
            if not (plan.per_row or plan.nothing):
                groups = unit.session.customers.group_count(names, where=where)
                total = unit.session.customers.count(where=where)
            unit.audit(actor, "report.counts", at=now, fields=names)
            unit.commit()
        if plan.per_row:
            found: Counter[tuple[str | None, ...]] = Counter()
            for _, rows in self._readable(actor, where):
                for row in rows:
                    total += 1
                    found.update(row_groups(row, names))
            groups = dict(found)
        return GroupCounts(by=names, rows=ordered(groups, decoders), total=total)

    def new_customers(
        self,
        period: Period = "month",
        *,
        since: datetime,
        until: datetime,
        zone: str | tzinfo = "UTC",
        field: PeriodField = "created_at",
        actor: Actor,
        **facets: Unpack[CustomerFacets],
    ) -> tuple[PeriodCount, ...]:
        """How many of the customers the actor may read (and matching the facets) were
        created (``field="updated_at"``: last changed) in each period.

        ``period`` is ``"day"``, ``"week"`` (ISO weeks, Monday first), ``"month"``,
        ``"quarter"`` or ``"year"``, in the calendar of ``zone`` (an IANA name such as
        ``"Asia/Shanghai"``, or a ``tzinfo``; default UTC): each period starts at local
        midnight, also across daylight-saving changes. The periods are whole and follow each
        other: the first is the one holding ``since``, the last the first one that ends at
        or after ``until`` (so ``since=2026-01-15``, ``until=2026-03-01`` by month gives
        January and February, whole); ``start`` and ``end`` are aware datetimes in ``zone``.
        ``since`` and ``until`` are aware datetimes, ``until`` not before ``since``; a
        report spans at most :data:`MAX_PERIODS` periods (``ValueError``). Erased and merged
        records never count. Audited as ``report.new_customers`` with ``field``.
        """
        actor = check_actor(actor)
        local, edges = self._edges(period, since, until, zone)
        if field not in PERIOD_FIELDS:
            raise ValueError(f"field must be one of {', '.join(PERIOD_FIELDS)}")
        plan = _plan(self._context.policy, actor)
        now = self._context.now()
        counts = [0] * (len(edges) - 1)
        with self._context.read_unit() as unit:
            where = self._where(facets, self._context.fields.read(unit.session), plan)
            if not (plan.per_row or plan.nothing):
                counts = [
                    n
                    for chunk in edge_chunks(edges)
                    for n in unit.session.customers.count_by_period(chunk, field=field, where=where)
                ]
            unit.audit(actor, "report.new_customers", at=now, fields=(field,), reason=period)
            unit.commit()
        if plan.per_row:
            for _, rows in self._readable(actor, where):
                for row in rows:
                    at = _period_of(edges, getattr(row, field))
                    if at is not None:
                        counts[at] += 1
        return tuple(
            PeriodCount(start=start.astimezone(local), end=end.astimezone(local), count=count)
            for (start, end), count in zip(itertools.pairwise(edges), counts, strict=True)
        )

    def repurchase(
        self,
        period: Period = "month",
        *,
        since: datetime,
        until: datetime,
        zone: str | tzinfo = "UTC",
        actor: Actor,
        **facets: Unpack[CustomerFacets],
    ) -> tuple[PeriodRate, ...]:
        """The repurchase rate (复购率) of each period, over the customers the actor may read
        that match the facets.

        In each period, ``buyers`` is the number of those customers with at least one
        purchase in it and ``repeat_buyers`` the number with at least two; ``rate`` is
        ``repeat_buyers / buyers`` rounded half up to four decimal places (``None`` without
        buyers). A purchase is a transaction with an amount above zero, whatever its
        currency, counted by when it occurred: refunds (amounts of zero or below) and
        interactions are not purchases, and purchases in other periods do not count towards
        this one (a customer buying once in January and once in February is a buyer in
        each, a repeat buyer in neither). Purchases of a merged record count for the
        customer it was merged into; erased customers never count.

        Periods, ``since``, ``until`` and ``zone`` as for :meth:`new_customers`. Audited as
        ``report.repurchase``.
        """
        actor = check_actor(actor)
        local, edges = self._edges(period, since, until, zone)
        plan = _plan(self._context.policy, actor)
        now = self._context.now()
        pairs = [(0, 0)] * (len(edges) - 1)
        with self._context.read_unit() as unit:
            where = self._where(facets, self._context.fields.read(unit.session), plan)
            if not (plan.per_row or plan.nothing):
                pairs = [
                    pair
                    for chunk in edge_chunks(edges)
                    for pair in unit.session.activities.buyers_by_period(chunk, where=where)
                ]
            unit.audit(actor, "report.repurchase", at=now, fields=("occurred_at",), reason=period)
            unit.commit()
        if plan.per_row:
            pairs = self._buyers_row_by_row(actor, where, edges)
        return tuple(
            PeriodRate(
                start=start.astimezone(local),
                end=end.astimezone(local),
                buyers=buyers,
                repeat_buyers=repeat,
                rate=_rate(buyers, repeat),
            )
            for (start, end), (buyers, repeat) in zip(itertools.pairwise(edges), pairs, strict=True)
        )

    # --------------------------------------------------------------------------- helpers

    @staticmethod
    def _edges(
        period: object, since: datetime, until: datetime, zone: object
    ) -> tuple[tzinfo, tuple[datetime, ...]]:
        """The checked zone, and the period edges (in UTC)."""
        checked = check_zone(zone)
        return checked, period_edges(period, since, until, checked)

    @staticmethod
    def _where(facets: CustomerFacets, fields: CustomFieldSet, plan: _Plan) -> CustomerFilter:
        """The storage filter: the facets, customers only (no erased or merged record), and
        the actor's reach when the store applies it."""
        where = facet_filter(facets, fields=fields)
        return attrs.evolve(where, states=_CUSTOMERS, reach=plan.reach)

    def _readable(
        self, actor: Actor, where: CustomerFilter
    ) -> Iterator[tuple[Session, list[CustomerRow]]]:
        """The rows matching ``where`` that the policy lets the actor read, a page at a time,
        each page with the read-only session it was read in."""
        decide = self._context.policy.decide
        after: str | None = None
        while True:
            with self._context.unit(readonly=True) as unit:
                rows = unit.session.customers.query(where=where, after=after, limit=_BATCH)
                yield (
                    unit.session,
                    [r for r in rows if decide(actor, Action.READ, Resource.of(r)).allowed],
                )
            if len(rows) < _BATCH:
                return
            after = rows[-1].id

    def _buyers_row_by_row(
        self, actor: Actor, where: CustomerFilter, edges: Sequence[datetime]
    ) -> list[tuple[int, int]]:
        buyers = [0] * (len(edges) - 1)
        repeat = [0] * (len(edges) - 1)
        for session, rows in self._readable(actor, where):
            for row in rows:
                bought: Counter[int] = Counter()
                for occurred_at in _purchases(session, row.id):
                    at = _period_of(edges, occurred_at)
                    if at is not None:
                        bought[at] += 1
                for at, n in bought.items():
                    buyers[at] += 1
                    repeat[at] += n >= 2
        return list(zip(buyers, repeat, strict=True))


def _period_of(edges: Sequence[datetime], instant: datetime) -> int | None:
    """The index of the period holding ``instant``, ``None`` outside the edges."""
    at = bisect.bisect_right(edges, instant) - 1
    return at if 0 <= at < len(edges) - 1 else None


def _purchases(session: Session, customer_id: str) -> Iterator[datetime]:
    """When the customer's purchases (transactions above zero) occurred."""
    after: str | None = None
    while True:
        page = session.activities.list_for(
            customer_id, kind="transaction", after=after, limit=_BATCH
        )
        for activity in page:
            if activity.amount is not None and activity.amount > 0:
                yield activity.occurred_at
        if len(page) < _BATCH:
            return
        after = page[-1].id
