"""registry.reports: counts by group, new customers per period and repurchase rates, checked
against a brute force over the Customer objects the test made (never the library's own
counting), for an admin (every customer), a manager (team scope) and a staff member (own
scope), through the store (a scoped policy) and row by row (a policy without
``widest_scope``); plus hand-computed figures, the period calendar across daylight-saving
changes, the audit entries and ``custrec.dataframe``.

The scenario helpers (``scenarios``, ``build``, ``check_*``) are also used by
tests/integration/test_aggregates_backends.py on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec import KeyRing, MemoryStore, PlaintextStorageWarning, Registry
from custrec.consent import CaptureChannel
from custrec.model.custom import CustomField, FieldType
from custrec.model.records import Customer
from custrec.security import AccessDecision, Action, Actor, Resource, RoleBasedPolicy
from custrec.services import Between, GroupCounts, PeriodCount, PeriodRate
from custrec.storage import Store
from custrec.testing import TickingClock

T0 = datetime(2025, 1, 1, tzinfo=UTC)
ADMIN = Actor(id="admin", roles={"admin", "erase", "unmask"})
STAFF = Actor(id="u1", roles={"staff"}, team="east")  # own scope
MANAGER = Actor(id="m1", roles={"manager"}, team="east")  # team scope
ACTORS = (ADMIN, STAFF, MANAGER)
AUDITOR = Actor(id="auditor", roles={"auditor"})
UnknownActor = Actor(id="nobody", roles={"sync"})  # no read right: every figure is zero

FIELDS = (
    CustomField(name="budget", type=FieldType.DECIMAL, filterable=True),
    CustomField(name="seats", type=FieldType.NUMBER, filterable=True),
    CustomField(name="vip_since", type=FieldType.DATE, filterable=True),
    CustomField(name="active", type=FieldType.BOOLEAN, filterable=True),
    CustomField(name="plan", type=FieldType.ENUM, options=("annual", "monthly"), filterable=True),
    CustomField(
        name="channels",
        type=FieldType.MULTI_ENUM,
        options=("web", "shop", "phone"),
        filterable=True,
    ),
    CustomField(name="note", type=FieldType.TEXT),
)
OWNERS = ("u1", "u2", "m1")
TEAMS = ("east", "west", None)
INDUSTRIES = ("软件", "零售", "制造", None)
CITIES = {"杭州市": "浙江省", "宁波市": "浙江省", "上海市": "上海市", "广州市": "广东省"}
TAGS = ("vip", "b2b", "new")
BUDGETS = (Decimal("99.5"), Decimal("100"), Decimal("100.50"), Decimal("2500"), None)
STATES = ("live", "live", "archived", "restricted", "erased", "merged")
GROUPINGS = (
    "kind",
    "stage",
    "state",
    "owner",
    "team",
    "grade",
    "tag",
    "industry",
    "province",
    "city",
    "intent",
    "interest",
    "category",
    "source",
    "verification",
    "grade.stars",
    "grade.value_tier",
    "custom.budget",
    "custom.seats",
    "custom.vip_since",
    "custom.active",
    "custom.plan",
    "custom.channels",
)
ZONES: tuple[tzinfo | str, ...] = (
    "UTC",
    "Asia/Shanghai",
    "America/New_York",
    "Europe/London",
    "America/Santiago",
    timezone(-timedelta(hours=3, minutes=30)),
)
PERIODS = ("day", "week", "month", "quarter", "year")
SPAN_HOURS = 24 * 800


# ---------------------------------------------------------------------------------------------
# The scenario: customers, purchases and what happens to them
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class Spec:
    owner: str
    team: str | None
    industry: str | None
    cities: tuple[str, ...]
    grade: str | None
    stars: str | None
    tier: str | None
    tags: tuple[str, ...]
    interests: tuple[str, ...]
    intent: str | None
    custom: dict[str, object]
    hours: int  # created at T0 + hours
    state: str


@attrs.frozen
class Scenario:
    specs: tuple[Spec, ...]
    purchases: tuple[tuple[int, int, str], ...]  # (customer index, hours after T0, amount)
    interactions: tuple[tuple[int, int], ...]


def _custom(draw: st.DrawFn) -> dict[str, object]:
    values: dict[str, object] = {}
    budget = draw(st.sampled_from(BUDGETS))
    if budget is not None:
        values["budget"] = str(budget)
    seats = draw(st.sampled_from((None, 0, 5, 12, -3)))
    if seats is not None:
        values["seats"] = seats
    since = draw(st.sampled_from((None, "2024-02-29", "2025-12-31")))
    if since is not None:
        values["vip_since"] = since
    active = draw(st.sampled_from((None, True, False)))
    if active is not None:
        values["active"] = active
    plan = draw(st.sampled_from((None, "annual", "monthly")))
    if plan is not None:
        values["plan"] = plan
    channels = draw(st.lists(st.sampled_from(("web", "shop", "phone")), unique=True, max_size=2))
    if channels:
        values["channels"] = channels
    return values


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    return Spec(
        owner=draw(st.sampled_from(OWNERS)),
        team=draw(st.sampled_from(TEAMS)),
        industry=draw(st.sampled_from(INDUSTRIES)),
        cities=tuple(draw(st.lists(st.sampled_from(sorted(CITIES)), unique=True, max_size=2))),
        grade=draw(st.sampled_from(("A", "B", None))),
        stars=draw(st.sampled_from(("1", "4", "5", None))),
        tier=draw(st.sampled_from(("A", "B", None))),
        tags=tuple(draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=2))),
        interests=tuple(draw(st.lists(st.sampled_from(("云", "硬件")), unique=True, max_size=2))),
        intent=draw(st.sampled_from(("high", "low", None))),
        custom=_custom(draw),
        hours=draw(st.integers(0, SPAN_HOURS)),
        state=draw(st.sampled_from(STATES)),
    )


@st.composite
def scenarios(draw: st.DrawFn, max_customers: int = 8) -> Scenario:
    people = tuple(draw(st.lists(specs(), max_size=max_customers)))
    n = len(people)
    purchases: tuple[tuple[int, int, str], ...] = ()
    interactions: tuple[tuple[int, int], ...] = ()
    if n:
        purchases = tuple(
            draw(
                st.lists(
                    st.tuples(
                        st.integers(0, n - 1),
                        st.integers(0, SPAN_HOURS),
                        st.sampled_from(("10", "0.5", "199.99", "-5", "0")),
                    ),
                    max_size=16,
                )
            )
        )
        interactions = tuple(
            draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, SPAN_HOURS)), max_size=3))
        )
    return Scenario(specs=people, purchases=purchases, interactions=interactions)


@attrs.frozen
class Model:
    """What the test made: the customers that are still customers (as ``get`` returns them
    after everything happened) and when each one's purchases occurred, with their amounts
    (the purchases of a merged record belong to its survivor)."""

    customers: tuple[Customer, ...]
    purchases: dict[str, tuple[tuple[datetime, Decimal], ...]]


def quiet_registry(store: Store, keyring: KeyRing | None, **options: Any) -> Registry:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextStorageWarning)
        return Registry(store, keyring=keyring, **options)


def _intake_data(n: int, spec: Spec) -> dict[str, object]:
    data: dict[str, object] = {
        "kind": "individual",
        "name": f"客户{n}",
        "contacts": [{"wechat": f"wx_{n}"}],
        "owner": spec.owner,
        "team": spec.team,
        "industry": spec.industry,
        "addresses": [{"province": CITIES[c], "city": c} for c in spec.cities],
        "grade": spec.grade,
        "tags": list(spec.tags),
        "product_interests": list(spec.interests),
        "intent": spec.intent,
        "source": "web" if n % 2 else None,
        "custom": spec.custom,
    }
    graded = "2025-01-01T00:00:00+00:00"
    data["grades"] = [
        {"dimension": dimension, "label": label, "policy_id": "test", "graded_at": graded}
        for dimension, label in (("stars", spec.stars), ("value_tier", spec.tier))
        if label is not None
    ]
    return {k: v for k, v in data.items() if v is not None}


def build(store: Store, keyring: KeyRing, scenario: Scenario) -> Model:
    """Store the scenario through a registry (default policy) and return the model."""
    clock = TickingClock(T0, step=timedelta(microseconds=1))
    registry = quiet_registry(store, keyring, clock=clock)
    for field in FIELDS:
        registry.fields.define(field, actor=ADMIN, reason="reports test")
    order = sorted(range(len(scenario.specs)), key=lambda i: scenario.specs[i].hours)
    ids: dict[int, str] = {}
    for i in order:
        spec = scenario.specs[i]
        at = T0 + timedelta(hours=spec.hours)
        if at > clock.now:
            clock.now = at
        made = registry.customers.intake(_intake_data(i, spec), actor=ADMIN, allow_duplicates=True)
        ids[i] = made.id
    clock.now = max(clock.now, T0 + timedelta(hours=SPAN_HOURS + 24))
    for i, hours, amount in scenario.purchases:
        registry.activities.record_transaction(
            {
                "customer_id": ids[i],
                "occurred_at": (T0 + timedelta(hours=hours)).isoformat(),
                "amount": {"amount": amount, "currency": "CNY" if hours % 2 else "USD"},
            },
            actor=ADMIN,
        )
    for i, hours in scenario.interactions:
        registry.activities.record_interaction(
            {
                "customer_id": ids[i],
                "kind": "call",
                "occurred_at": (T0 + timedelta(hours=hours)).isoformat(),
                "summary": "ok",
            },
            actor=ADMIN,
        )
    hidden: set[str] = set()
    survivor_of: dict[str, str] = {}
    keep = [i for i in order if scenario.specs[i].state not in ("merged", "erased")]
    for i in order:
        if scenario.specs[i].state == "merged" and keep:
            survivor = ids[keep[i % len(keep)]]
            registry.matching.merge(survivor, [ids[i]], actor=ADMIN, reason="duplicate")
            survivor_of[ids[i]] = survivor
            hidden.add(ids[i])
    for i in order:
        state, customer_id = scenario.specs[i].state, ids[i]
        if state == "archived":
            registry.customers.update(
                customer_id, {"state": "archived"}, actor=ADMIN, reason="out of use"
            )
        elif state == "restricted":
            registry.consent.restrict(customer_id, actor=ADMIN, channel=CaptureChannel.APP)
        elif state == "erased":
            registry.privacy.erase(customer_id, actor=ADMIN, reason="subject request")
            hidden.add(customer_id)
    customers = tuple(
        registry.customers.get(ids[i], actor=ADMIN) for i in order if ids[i] not in hidden
    )
    bought: dict[str, list[tuple[datetime, Decimal]]] = {}
    for i, hours, amount in scenario.purchases:
        owner = survivor_of.get(ids[i], ids[i])
        bought.setdefault(owner, []).append((T0 + timedelta(hours=hours), Decimal(amount)))
    return Model(customers=customers, purchases={k: tuple(v) for k, v in bought.items()})


# ---------------------------------------------------------------------------------------------
# Access: the policies and who sees what
# ---------------------------------------------------------------------------------------------


class UnscopedPolicy:
    """The default policy's decisions without ``widest_scope``: figures go row by row."""

    def __init__(self) -> None:
        self._inner = RoleBasedPolicy()

    def decide(self, actor: Actor, action: Action, resource: Resource) -> AccessDecision:
        return self._inner.decide(actor, action, resource)


def _odd_reads(resource_id: str | None, owner: str | None) -> bool:
    return owner == "u2" or (resource_id or "x")[-1] in "02468ace"


class OddPolicy:
    """A policy no scope describes: reads of u2's customers and of those whose id ends in an
    even hexadecimal digit, for everyone."""

    def decide(self, actor: Actor, action: Action, resource: Resource) -> AccessDecision:
        if Action(action) is Action.READ and _odd_reads(resource.customer_id, resource.owner):
            return AccessDecision(True, "granted", masked=True)
        return AccessDecision(False, "no_role")


PATHS = ("store", "row_by_row", "odd")


def reporter(store: Store, keyring: KeyRing, path: str) -> Registry:
    policy = {"store": None, "row_by_row": UnscopedPolicy(), "odd": OddPolicy()}[path]
    return quiet_registry(store, keyring, policy=policy)


def visible(path: str, actor: Actor, c: Customer) -> bool:
    if path == "odd":
        return _odd_reads(c.id, c.owner)
    if actor is ADMIN:
        return True
    if actor is MANAGER:
        return c.owner == actor.id or (c.team is not None and c.team == actor.team)
    return c.owner == actor.id


# ---------------------------------------------------------------------------------------------
# The brute force
# ---------------------------------------------------------------------------------------------

FILTERS: dict[str, tuple[dict[str, Any], Callable[[Customer], bool]]] = {
    "none": ({}, lambda c: True),
    "industry": ({"industry": ["软件", "零售"]}, lambda c: c.industry in ("软件", "零售")),
    "city": ({"city": "杭州市"}, lambda c: any(a.city == "杭州市" for a in c.addresses)),
    "stars": (
        {"grades": {"stars": ["4", "5"]}},
        lambda c: any(g.dimension == "stars" and g.label in ("4", "5") for g in c.grades),
    ),
    "budget": (
        {"custom": {"budget": Between(at_least=Decimal(100), below=Decimal(1000))}},
        lambda c: Decimal(100) <= c.custom.get("budget", Decimal(-1)) < Decimal(1000),  # type: ignore[operator]
    ),
    "plan": ({"custom": {"plan": "annual"}}, lambda c: c.custom.get("plan") == "annual"),
    "tag": ({"tag": "vip"}, lambda c: "vip" in c.tags),
    "archived": ({"state": "archived"}, lambda c: c.state.value == "archived"),
}


def values_of(c: Customer, name: str) -> set[Any]:
    """The values of one grouping of a customer, read off the Customer object."""

    def present(values: Any) -> set[Any]:
        found = {v for v in values if v not in (None, "")}
        return found or {None}

    simple: dict[str, Callable[[], Any]] = {
        "kind": lambda: [c.kind.value],
        "stage": lambda: [c.stage.value],
        "state": lambda: [c.state.value],
        "owner": lambda: [c.owner],
        "team": lambda: [c.team],
        "grade": lambda: [c.grade],
        "tag": lambda: c.tags,
        "industry": lambda: [c.industry],
        "province": lambda: [a.province for a in c.addresses],
        "city": lambda: [a.city for a in c.addresses],
        "intent": lambda: [None if c.intent is None else c.intent.value],
        "interest": lambda: c.product_interests,
        "category": lambda: [None if c.category is None else c.category.value],
        "source": lambda: [c.source],
        "verification": lambda: [c.verification.value],
    }
    if name in simple:
        return present(simple[name]())
    kind, _, rest = name.partition(".")
    if kind == "grade":
        return present(g.label for g in c.grades if g.dimension == rest)
    value = c.custom.get(rest) if c.custom else None
    return present(value if isinstance(value, tuple) else [value])


def _sort_key(values: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    return tuple((v is None, v if v is not None else 0) for v in values)


def expected_counts(
    model: Model, path: str, actor: Actor, by: tuple[str, ...], wanted: Callable[[Customer], bool]
) -> tuple[list[tuple[tuple[Any, ...], int]], int]:
    counts: Counter[tuple[Any, ...]] = Counter()
    total = 0
    for c in model.customers:
        if visible(path, actor, c) and wanted(c):
            total += 1
            groups: list[tuple[Any, ...]] = [()]
            for name in by:
                groups = [(*g, v) for g in groups for v in values_of(c, name)]
            counts.update(groups)
    return sorted(counts.items(), key=lambda item: _sort_key(item[0])), total


def zone_of(zone: tzinfo | str) -> tzinfo:
    return zone if isinstance(zone, tzinfo) else ZoneInfo(zone)


def period_key(instant: datetime, period: str, zone: tzinfo) -> object:
    """Which calendar period (in ``zone``) an instant falls in, from its local date alone."""
    day = instant.astimezone(zone).date()
    return {
        "day": day,
        "week": day.isocalendar()[:2],
        "month": (day.year, day.month),
        "quarter": (day.year, (day.month - 1) // 3),
        "year": day.year,
    }[period]


def check_calendar(
    got: tuple[PeriodCount, ...] | tuple[PeriodRate, ...],
    period: str,
    zone: tzinfo,
    since: datetime,
    until: datetime,
) -> None:
    """The periods are whole calendar periods in ``zone``, one after the other, from the one
    holding ``since`` to the first one ending at or after ``until``."""
    tick = timedelta(microseconds=1)
    assert got, "at least one period"
    assert got[0].start <= since < got[0].end
    assert got[-1].end >= until
    assert len(got) == 1 or got[-2].end < until
    for p in got:
        assert p.start.utcoffset() == p.start.astimezone(zone).utcoffset()  # shown in the zone
        # the instant just before, in UTC: aware arithmetic in the zone is wall-clock time, and a
        # day that starts at 01:00 (a spring-forward midnight, America/Santiago) has no 00:59
        just_before_start = p.start.astimezone(UTC) - tick
        just_before_end = p.end.astimezone(UTC) - tick
        assert period_key(just_before_start, period, zone) != period_key(p.start, period, zone)
        assert period_key(just_before_end, period, zone) == period_key(p.start, period, zone)
        assert period_key(p.end, period, zone) != period_key(p.start, period, zone)
    for before, after in itertools.pairwise(got):
        assert before.end == after.start


def expected_new(
    model: Model,
    path: str,
    actor: Actor,
    got: tuple[PeriodCount, ...],
    period: str,
    zone: tzinfo,
    field: str,
    wanted: Callable[[Customer], bool],
) -> list[int]:
    found = Counter(
        period_key(getattr(c, field), period, zone)
        for c in model.customers
        if visible(path, actor, c) and wanted(c)
    )
    return [found[period_key(p.start, period, zone)] for p in got]


def expected_rates(
    model: Model,
    path: str,
    actor: Actor,
    got: tuple[PeriodRate, ...],
    period: str,
    zone: tzinfo,
    wanted: Callable[[Customer], bool],
) -> list[tuple[int, int, Decimal | None]]:
    result = []
    for p in got:
        key = period_key(p.start, period, zone)
        buyers = repeat = 0
        for c in model.customers:
            if not (visible(path, actor, c) and wanted(c)):
                continue
            n = sum(
                1
                for at, amount in model.purchases.get(c.id, ())
                if amount > 0 and period_key(at, period, zone) == key
            )
            buyers += n >= 1
            repeat += n >= 2
        rate = (
            None
            if not buyers
            else (Decimal(repeat) / Decimal(buyers)).quantize(
                Decimal("0.0001"), rounding=ROUND_HALF_UP
            )
        )
        result.append((buyers, repeat, rate))
    return result


def check_counts(
    registry: Registry, model: Model, path: str, by: tuple[str, ...], filter_name: str
) -> None:
    facets, wanted = FILTERS[filter_name]
    for actor in ACTORS:
        got = registry.reports.counts(by, actor=actor, **facets)
        rows, total = expected_counts(model, path, actor, by, wanted)
        assert got.by == by
        assert list(got.rows) == rows, actor.id
        assert got.total == total, actor.id


def check_new_customers(
    registry: Registry,
    model: Model,
    path: str,
    period: str,
    zone: tzinfo | str,
    since: datetime,
    until: datetime,
    field: str,
    filter_name: str,
) -> None:
    facets, wanted = FILTERS[filter_name]
    local = zone_of(zone)
    for actor in ACTORS:
        got = registry.reports.new_customers(
            period,  # type: ignore[arg-type]
            since=since,
            until=until,
            zone=zone,
            field=field,  # type: ignore[arg-type]
            actor=actor,
            **facets,
        )
        check_calendar(got, period, local, since, until)
        counts = expected_new(model, path, actor, got, period, local, field, wanted)
        assert [p.count for p in got] == counts, actor.id


def check_repurchase(
    registry: Registry,
    model: Model,
    path: str,
    period: str,
    zone: tzinfo | str,
    since: datetime,
    until: datetime,
    filter_name: str,
) -> None:
    facets, wanted = FILTERS[filter_name]
    local = zone_of(zone)
    for actor in ACTORS:
        got = registry.reports.repurchase(
            period,  # type: ignore[arg-type]
            since=since,
            until=until,
            zone=zone,
            actor=actor,
            **facets,
        )
        check_calendar(got, period, local, since, until)
        expected = expected_rates(model, path, actor, got, period, local, wanted)
        assert [(p.buyers, p.repeat_buyers, p.rate) for p in got] == expected, actor.id


groupings = st.lists(st.sampled_from(GROUPINGS), min_size=1, max_size=2, unique=True).map(tuple)
filters = st.sampled_from(sorted(FILTERS))
instants = st.integers(-24 * 40, SPAN_HOURS + 24 * 40).map(lambda h: T0 + timedelta(hours=h))


@st.composite
def ranges(draw: st.DrawFn) -> tuple[str, tzinfo | str, datetime, datetime]:
    period = draw(st.sampled_from(PERIODS))
    since = draw(instants)
    longest = {"day": 60, "week": 200, "month": 900, "quarter": 900, "year": 900}[period]
    until = since + timedelta(days=draw(st.integers(0, longest)), hours=draw(st.integers(0, 23)))
    return period, draw(st.sampled_from(ZONES)), since, until


# ---------------------------------------------------------------------------------------------
# Against the brute force, on the memory store
# ---------------------------------------------------------------------------------------------

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def made(scenario: Scenario, path: str) -> tuple[Registry, Model]:
    store, keyring = MemoryStore(), KeyRing.generate()
    model = build(store, keyring, scenario)
    return reporter(store, keyring, path), model


@pytest.mark.parametrize("path", PATHS)
@SETTINGS
@given(scenario=scenarios(), by=groupings, filter_name=filters)
def test_counts_match_a_brute_force(
    path: str, scenario: Scenario, by: tuple[str, ...], filter_name: str
) -> None:
    registry, model = made(scenario, path)
    check_counts(registry, model, path, by, filter_name)


@pytest.mark.parametrize("path", PATHS)
@SETTINGS
@given(
    scenario=scenarios(),
    when=ranges(),
    field=st.sampled_from(("created_at", "updated_at")),
    filter_name=filters,
)
def test_new_customers_match_a_brute_force(
    path: str,
    scenario: Scenario,
    when: tuple[str, tzinfo | str, datetime, datetime],
    field: str,
    filter_name: str,
) -> None:
    registry, model = made(scenario, path)
    check_new_customers(registry, model, path, *when, field, filter_name)


@pytest.mark.parametrize("path", PATHS)
@SETTINGS
@given(scenario=scenarios(), when=ranges(), filter_name=filters)
def test_repurchase_matches_a_brute_force(
    path: str,
    scenario: Scenario,
    when: tuple[str, tzinfo | str, datetime, datetime],
    filter_name: str,
) -> None:
    registry, model = made(scenario, path)
    check_repurchase(registry, model, path, *when, filter_name)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), by=groupings, when=ranges(), filter_name=filters)
def test_the_store_and_the_row_by_row_path_give_the_same_figures(
    scenario: Scenario,
    by: tuple[str, ...],
    when: tuple[str, tzinfo | str, datetime, datetime],
    filter_name: str,
) -> None:
    store, keyring = MemoryStore(), KeyRing.generate()
    build(store, keyring, scenario)
    scoped, unscoped = reporter(store, keyring, "store"), reporter(store, keyring, "row_by_row")
    period, zone, since, until = when
    facets = FILTERS[filter_name][0]
    for actor in (*ACTORS, AUDITOR, UnknownActor):
        assert scoped.reports.counts(by, actor=actor, **facets) == unscoped.reports.counts(
            by, actor=actor, **facets
        )
        for name in ("new_customers", "repurchase"):
            a = getattr(scoped.reports, name)(
                period, since=since, until=until, zone=zone, actor=actor, **facets
            )
            b = getattr(unscoped.reports, name)(
                period, since=since, until=until, zone=zone, actor=actor, **facets
            )
            assert a == b


# ---------------------------------------------------------------------------------------------
# Hand-computed figures
# ---------------------------------------------------------------------------------------------


def _day(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


@pytest.fixture
def shop() -> tuple[Registry, dict[str, str]]:
    """Five customers (a..e; e erased) and their purchases in 2025 (UTC):

    ====  =========================================  ===========================
    who   January                                    February
    ====  =========================================  ===========================
    a     10 (1 Jan), 20 (20 Jan)                    5 (3 Feb)
    b     7 (5 Jan), refund -7 (6 Jan)               8 (1 Feb), 9 (2 Feb), 1 (28 Feb)
    c     0 (9 Jan), 30 (10 Jan)                     --
    d     interaction only                           --
    e     15 (2 Jan), 15 (3 Jan) -- erased           --
    ====  =========================================  ===========================

    January: buyers a, b, c (e is erased) = 3; at least two purchases: a only (b's refund and
    c's zero are not purchases) = 1; rate 1/3 = 0.3333. February: buyers a, b = 2; repeat b =
    1; rate 0.5000. March: no buyer, rate None.
    """
    store, keyring = MemoryStore(), KeyRing.generate()
    clock = TickingClock(_day(3, 31))
    registry = quiet_registry(store, keyring, clock=clock)
    ids = {}
    for n, name in enumerate("abcde"):
        ids[name] = registry.customers.intake(
            {
                "kind": "individual",
                "name": f"客户{name}",
                "contacts": [{"wechat": f"wx{n}"}],
                "owner": "u1" if name in "ab" else "u2",
                "team": "east" if name != "c" else "west",
            },
            actor=ADMIN,
        ).id
    purchases = {
        "a": [(_day(1, 1), "10"), (_day(1, 20), "20"), (_day(2, 3), "5")],
        "b": [
            (_day(1, 5), "7"),
            (_day(1, 6), "-7"),
            (_day(2, 1), "8"),
            (_day(2, 2), "9"),
            (_day(2, 28, 23), "1"),
        ],
        "c": [(_day(1, 9), "0"), (_day(1, 10), "30")],
        "e": [(_day(1, 2), "15"), (_day(1, 3), "15")],
    }
    for name, bought in purchases.items():
        for at, amount in bought:
            registry.activities.record_transaction(
                {
                    "customer_id": ids[name],
                    "occurred_at": at.isoformat(),
                    "amount": {"amount": amount},
                },
                actor=ADMIN,
            )
    registry.activities.record_interaction(
        {"customer_id": ids["d"], "kind": "call", "occurred_at": _day(1, 4).isoformat()},
        actor=ADMIN,
    )
    registry.privacy.erase(ids["e"], actor=ADMIN, reason="subject request")
    return registry, ids


def test_the_repurchase_rate_by_hand(shop: tuple[Registry, dict[str, str]]) -> None:
    registry, _ = shop
    got = registry.reports.repurchase(
        "month", since=_day(1, 1, 0), until=_day(4, 1, 0), actor=ADMIN
    )
    assert [(p.start.month, p.buyers, p.repeat_buyers, p.rate) for p in got] == [
        (1, 3, 1, Decimal("0.3333")),
        (2, 2, 1, Decimal("0.5000")),
        (3, 0, 0, None),
    ]
    # u1 owns a and b: January a twice and b once, February a once and b three times
    staff = registry.reports.repurchase(
        "month", since=_day(1, 1, 0), until=_day(3, 1, 0), actor=STAFF
    )
    assert [(p.buyers, p.repeat_buyers, p.rate) for p in staff] == [
        (2, 1, Decimal("0.5000")),
        (2, 1, Decimal("0.5000")),
    ]
    # the first quarter as one period: a 3 purchases, b 4, c 1: 3 buyers, 2 repeat buyers
    quarter = registry.reports.repurchase(
        "quarter", since=_day(2, 1), until=_day(2, 2), actor=ADMIN
    )
    assert [(p.buyers, p.repeat_buyers, p.rate) for p in quarter] == [(3, 2, Decimal("0.6667"))]
    # in Shanghai (UTC+8) b's purchase at 23:00 UTC on 28 February falls on 1 March
    east = registry.reports.repurchase(
        "month", since=_day(2, 1, 0), until=_day(3, 2, 0), zone="Asia/Shanghai", actor=ADMIN
    )
    assert [(p.start.month, p.buyers, p.repeat_buyers) for p in east] == [(2, 2, 1), (3, 1, 0)]
    # the facets narrow the customers: team west is c alone
    west = registry.reports.repurchase(
        "month", since=_day(1, 1), until=_day(1, 2), team="west", actor=ADMIN
    )
    assert [(p.buyers, p.repeat_buyers, p.rate) for p in west] == [(1, 0, Decimal("0.0000"))]


def test_the_rate_rounds_half_up_to_four_places(shop: tuple[Registry, dict[str, str]]) -> None:
    from custrec.services.aggregates import _rate

    assert _rate(8, 3) == Decimal("0.3750")
    assert _rate(3, 2) == Decimal("0.6667")
    assert _rate(20000, 1) == Decimal("0.0001")  # 0.00005 rounds up
    assert _rate(40000, 1) == Decimal("0.0000")
    assert _rate(7, 7) == Decimal("1.0000")
    assert _rate(0, 0) is None


def test_counts_by_hand(shop: tuple[Registry, dict[str, str]]) -> None:
    registry, _ = shop
    got = registry.reports.counts(["owner", "team"], actor=ADMIN)
    assert got.rows == ((("u1", "east"), 2), (("u2", "east"), 1), (("u2", "west"), 1))
    assert got.total == 4  # e is erased
    assert registry.reports.counts("team", actor=MANAGER).as_rows() == [
        {"team": "east", "count": 3}
    ]
    assert registry.reports.counts("team", actor=STAFF).total == 2


# ---------------------------------------------------------------------------------------------
# The calendar of periods
# ---------------------------------------------------------------------------------------------


def empty_registry() -> Registry:
    return quiet_registry(MemoryStore(), None)


def starts(got: tuple[PeriodCount, ...]) -> list[datetime]:
    return [p.start for p in got]


def test_months_start_at_local_midnight_across_daylight_saving() -> None:
    registry = empty_registry()
    new_york = ZoneInfo("America/New_York")
    got = registry.reports.new_customers(
        since=datetime(2025, 2, 10, tzinfo=new_york),
        until=datetime(2025, 4, 1, tzinfo=new_york),
        zone="America/New_York",
        actor=ADMIN,
    )
    assert [(p.start.astimezone(UTC), p.end.astimezone(UTC)) for p in got] == [
        (datetime(2025, 2, 1, 5, tzinfo=UTC), datetime(2025, 3, 1, 5, tzinfo=UTC)),
        (datetime(2025, 3, 1, 5, tzinfo=UTC), datetime(2025, 4, 1, 4, tzinfo=UTC)),  # EDT
    ]
    assert [p.start.timetz() for p in got] == [time(tzinfo=new_york)] * 2
    assert all(p.start.tzinfo is new_york for p in got)


def test_a_day_whose_midnight_the_clocks_skip_starts_when_they_resume() -> None:
    # Chile moved its clocks from 00:00 to 01:00 on 8 September 2024
    registry = empty_registry()
    santiago = ZoneInfo("America/Santiago")
    got = registry.reports.new_customers(
        "day",
        since=datetime(2024, 9, 7, 12, tzinfo=santiago),
        until=datetime(2024, 9, 8, 12, tzinfo=santiago),
        zone=santiago,
        actor=ADMIN,
    )
    assert [p.start.astimezone(UTC) for p in got] == [
        datetime(2024, 9, 7, 4, tzinfo=UTC),  # 00:00 at UTC-4
        datetime(2024, 9, 8, 4, tzinfo=UTC),  # 01:00 at UTC-3: the day's first instant
    ]
    assert got[1].start.hour == 1 and got[0].end == got[1].start
    assert got[1].end == datetime(2024, 9, 9, 3, tzinfo=UTC)


def test_weeks_are_iso_weeks_and_quarters_and_years_are_calendar_ones() -> None:
    registry = empty_registry()
    wednesday = datetime(2025, 1, 1, 9, tzinfo=UTC)
    weeks = registry.reports.new_customers(
        "week", since=wednesday, until=wednesday + timedelta(days=7), actor=ADMIN
    )
    assert starts(weeks) == [datetime(2024, 12, 30, tzinfo=UTC), datetime(2025, 1, 6, tzinfo=UTC)]
    quarters = registry.reports.new_customers(
        "quarter",
        since=datetime(2025, 5, 5, tzinfo=UTC),
        until=datetime(2025, 7, 1, tzinfo=UTC),
        actor=ADMIN,
    )
    assert starts(quarters) == [datetime(2025, 4, 1, tzinfo=UTC)]
    assert quarters[0].end == datetime(2025, 7, 1, tzinfo=UTC)  # ends at until: no more
    years = registry.reports.new_customers(
        "year",
        since=datetime(2025, 12, 31, 20, tzinfo=UTC),  # 1 January 2026 in Shanghai
        until=datetime(2026, 1, 1, 1, tzinfo=UTC),
        zone="Asia/Shanghai",
        actor=ADMIN,
    )
    shanghai = ZoneInfo("Asia/Shanghai")
    assert starts(years) == [datetime(2026, 1, 1, tzinfo=shanghai)]
    same = registry.reports.new_customers("day", since=wednesday, until=wednesday, actor=ADMIN)
    assert [(p.start, p.end) for p in same] == [
        (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC))
    ]


def test_a_report_spans_at_most_ten_thousand_periods() -> None:
    registry = empty_registry()
    since = datetime(2000, 1, 1, tzinfo=UTC)
    got = registry.reports.new_customers(
        "day", since=since, until=since + timedelta(days=10_000), actor=ADMIN
    )
    assert len(got) == 10_000 and got[-1].end == since + timedelta(days=10_000)
    rates = registry.reports.repurchase(
        "day", since=since, until=since + timedelta(days=10_000), actor=ADMIN
    )
    assert len(rates) == 10_000
    with pytest.raises(ValueError, match="at most 10000 periods"):
        registry.reports.new_customers(
            "day", since=since, until=since + timedelta(days=10_000, microseconds=1), actor=ADMIN
        )


def long_report(store: Store, keyring: KeyRing) -> None:
    """10,000 days in one report: the storage takes 9,999 periods a call, so the figures
    of days 9,998 and 9,999 come from two calls; the same row by row."""
    since = datetime(2000, 1, 1, tzinfo=UTC)
    clock = TickingClock(since)
    registry = quiet_registry(store, keyring, clock=clock)
    ids = []
    for n, day in enumerate((0, 9_998, 9_999)):
        clock.now = since + timedelta(days=day, hours=12)
        ids.append(
            registry.customers.intake(
                {"kind": "individual", "name": "张三", "contacts": [{"wechat": f"w{n}"}]},
                actor=ADMIN,
            ).id
        )
    for day in (9_998, 9_998, 9_999):
        registry.activities.record_transaction(
            {
                "customer_id": ids[0],
                "occurred_at": (since + timedelta(days=day, hours=1)).isoformat(),
                "amount": {"amount": "10"},
            },
            actor=ADMIN,
        )
    until = since + timedelta(days=10_000)
    for path in ("store", "row_by_row"):
        reports = reporter(store, keyring, path).reports
        got = reports.new_customers("day", since=since, until=until, actor=ADMIN)
        assert len(got) == 10_000
        assert [i for i, p in enumerate(got) if p.count] == [0, 9_998, 9_999]
        rates = reports.repurchase("day", since=since, until=until, actor=ADMIN)
        assert [(i, p.buyers, p.repeat_buyers) for i, p in enumerate(rates) if p.buyers] == [
            (9_998, 1, 1),
            (9_999, 1, 0),
        ]


def test_counts_cover_every_period_of_a_long_report() -> None:
    long_report(MemoryStore(), KeyRing.generate())


# ---------------------------------------------------------------------------------------------
# Arguments, audit, access
# ---------------------------------------------------------------------------------------------


def test_unknown_groupings_name_the_allowed_ones() -> None:
    registry = empty_registry()
    for field in FIELDS:
        registry.fields.define(field, actor=ADMIN, reason="test")
    with pytest.raises(ValueError, match=r"unknown grouping 'region'.*kind, stage.*custom\.plan"):
        registry.reports.counts("region", actor=ADMIN)
    with pytest.raises(ValueError, match="no filterable custom field 'note'"):
        registry.reports.counts("custom.note", actor=ADMIN)
    with pytest.raises(ValueError, match="no filterable custom field 'colour'"):
        registry.reports.counts("custom.colour", actor=ADMIN)
    for bad in ([], ["kind", "stage", "team"], "grade.", "grade.Stars", "verified_at"):
        with pytest.raises(ValueError, match="group by one or two of"):
            registry.reports.counts(bad, actor=ADMIN)
    with pytest.raises(ValueError, match="twice"):
        registry.reports.counts(["city", "city"], actor=ADMIN)
    with pytest.raises(TypeError):
        registry.reports.counts(3, actor=ADMIN)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown facet"):
        registry.reports.counts("city", actor=ADMIN, region="x")  # type: ignore[call-arg]
    assert registry.reports.counts("grade.anything", actor=ADMIN) == GroupCounts(
        by=("grade.anything",), rows=(), total=0
    )


def test_period_arguments_are_checked() -> None:
    registry = empty_registry()
    report = registry.reports.new_customers
    with pytest.raises(ValueError, match="period must be one of day, week"):
        report("fortnight", since=T0, until=T0, actor=ADMIN)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="since must be timezone-aware"):
        report(since=datetime(2025, 1, 1), until=T0, actor=ADMIN)
    with pytest.raises(TypeError, match="until must be a timezone-aware datetime"):
        report(since=T0, until=date(2025, 1, 1), actor=ADMIN)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="until must not be before since"):
        report(since=T0, until=T0 - timedelta(microseconds=1), actor=ADMIN)
    with pytest.raises(ValueError, match="zone is not a time zone"):
        report(since=T0, until=T0, zone="Mars/Olympus", actor=ADMIN)
    with pytest.raises(TypeError, match="zone must be"):
        report(since=T0, until=T0, zone=8, actor=ADMIN)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="field must be one of created_at, updated_at"):
        report(since=T0, until=T0, field="verified_at", actor=ADMIN)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"years 1\.\.9999"):
        report(
            since=datetime.max.replace(tzinfo=UTC) - timedelta(days=2),
            until=datetime.max.replace(tzinfo=UTC),
            actor=ADMIN,
        )
    with pytest.raises(TypeError, match="actor"):
        report(since=T0, until=T0, actor="admin")  # type: ignore[arg-type]


def test_each_call_writes_one_audit_entry_naming_what_was_counted(
    shop: tuple[Registry, dict[str, str]],
) -> None:
    registry, _ = shop
    before = len(registry.audit.trail(actor=AUDITOR, limit=1000))
    registry.reports.counts(["city", "grade.stars"], actor=STAFF, industry="软件")
    registry.reports.new_customers("week", since=T0, until=T0, field="updated_at", actor=MANAGER)
    registry.reports.repurchase("day", since=T0, until=T0, actor=ADMIN)
    registry.reports.counts("kind", actor=UnknownActor)
    entries = registry.audit.trail(actor=AUDITOR, limit=1000)[before:]
    reports = [e for e in entries if e.action.startswith("report.")]
    assert [(e.actor_id, e.action, e.fields, e.reason, e.customer_id) for e in reports] == [
        ("u1", "report.counts", ("city", "grade.stars"), None, None),
        ("m1", "report.new_customers", ("updated_at",), "week", None),
        ("admin", "report.repurchase", ("occurred_at",), "day", None),
        ("nobody", "report.counts", ("kind",), None, None),
    ]
    with pytest.raises(ValueError, match="unknown grouping"):  # nothing read: not audited
        registry.reports.counts("nope", actor=ADMIN)
    after = registry.audit.trail(actor=AUDITOR, limit=1000)
    assert [e for e in after if e.action.startswith("report.")] == reports


def test_an_actor_who_may_read_nobody_gets_zeros(shop: tuple[Registry, dict[str, str]]) -> None:
    registry, _ = shop
    assert registry.reports.counts("kind", actor=UnknownActor) == GroupCounts(
        by=("kind",), rows=(), total=0
    )
    got = registry.reports.repurchase(since=_day(1, 1), until=_day(2, 1), actor=UnknownActor)
    assert [(p.buyers, p.rate) for p in got] == [(0, None), (0, None)]
    assert registry.reports.counts("kind", actor=AUDITOR).total == 4  # masked reads count


def test_as_rows_is_json_safe() -> None:
    counts = GroupCounts(
        by=("custom.budget", "custom.vip_since"),
        rows=(((Decimal("100.5"), date(2025, 1, 31)), 2), ((True, None), 1)),
        total=3,
    )
    rows = counts.as_rows()
    assert rows == [
        {"custom.budget": "100.5", "custom.vip_since": "2025-01-31", "count": 2},
        {"custom.budget": True, "custom.vip_since": None, "count": 1},
    ]
    assert json.loads(json.dumps(rows)) == rows


# ---------------------------------------------------------------------------------------------
# custrec.dataframe
# ---------------------------------------------------------------------------------------------


def test_importing_custrec_and_its_dataframe_module_does_not_import_pyarrow() -> None:
    code = (
        "import sys, custrec, custrec.dataframe, custrec.services;"
        "assert 'pyarrow' not in sys.modules, 'pyarrow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_to_arrow_without_pyarrow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from custrec.dataframe import to_arrow

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"pip install 'custrec\[dataframe\]'"):
        to_arrow(GroupCounts(by=("kind",), rows=(), total=0))


def test_to_arrow_builds_typed_tables(shop: tuple[Registry, dict[str, str]]) -> None:
    pa = pytest.importorskip("pyarrow")
    from custrec.dataframe import to_arrow
    from custrec.grading import ActivitySummary
    from custrec.model.records import DimensionGrade

    registry, ids = shop
    counts = to_arrow(
        GroupCounts(
            by=("city", "custom.budget"),
            rows=((("杭州市", Decimal("100.5")), 2), ((None, Decimal("7")), 1), ((None, None), 1)),
            total=3,
        )
    )
    assert counts.schema.names == ["city", "custom.budget", "count"]
    assert counts.schema.field("city").type == pa.string()
    assert counts.schema.field("custom.budget").type == pa.decimal128(4, 1)
    assert counts.column("custom.budget").to_pylist() == [Decimal("100.5"), Decimal("7"), None]
    assert counts.column("count").to_pylist() == [2, 1, 1]
    typed = to_arrow(
        GroupCounts(
            by=("custom.seats", "custom.vip_since"),
            rows=(((3, date(2025, 1, 1)), 1), ((True, None), 1)),
            total=2,
        )
    )
    assert typed.schema.field("custom.seats").type == pa.string()  # mixed: as text
    assert typed.schema.field("custom.vip_since").type == pa.date32()

    months = registry.reports.new_customers(
        since=_day(1, 1), until=_day(3, 1), zone="Asia/Shanghai", actor=ADMIN
    )
    table = to_arrow(months)
    assert table.schema.field("start").type == pa.timestamp("us", tz="Asia/Shanghai")
    assert table.column("start").to_pylist()[0] == months[0].start
    assert table.column("count").to_pylist() == [p.count for p in months]

    rates = to_arrow(
        registry.reports.repurchase(since=_day(1, 1), until=_day(4, 1, 0), actor=ADMIN)
    )
    assert rates.schema.names == ["start", "end", "buyers", "repeat_buyers", "rate"]
    assert rates.column("rate").to_pylist() == [Decimal("0.3333"), Decimal("0.5"), None]

    graded = DimensionGrade(dimension="stars", label="4", policy_id="p", graded_at=T0)
    customer = registry.customers.get(ids["a"], actor=ADMIN)
    customer = attrs.evolve(customer, grades=(graded,))
    grades = to_arrow([("c-1", graded), customer])
    assert grades.to_pylist() == [
        {
            "customer_id": "c-1",
            "dimension": "stars",
            "label": "4",
            "policy_id": "p",
            "graded_at": T0,
        },
        {
            "customer_id": ids["a"],
            "dimension": "stars",
            "label": "4",
            "policy_id": "p",
            "graded_at": T0,
        },
    ]
    summaries = list(registry.activities.summaries(as_of=_day(3, 31), actor=ADMIN))
    table = to_arrow(summaries)
    assert table.num_rows == len(summaries)
    assert table.column("total_spent").to_pylist() == [s.total_spent for s in summaries]
    assert isinstance(summaries[0], ActivitySummary)
    assert to_arrow([]).num_columns == 0
    with pytest.raises(TypeError, match="to_arrow takes"):
        to_arrow([months[0], graded])
    with pytest.raises(TypeError, match="to_arrow takes"):
        to_arrow("GroupCounts")


def test_to_arrow_keeps_numbers_beyond_arrow_types_as_text() -> None:
    pytest.importorskip("pyarrow")
    from custrec.dataframe import to_arrow
    from custrec.services import GroupCounts

    huge = GroupCounts(by=("custom.n",), rows=(((10**30,), 1), ((5,), 2)), total=3)
    wide = GroupCounts(
        by=("custom.d",), rows=(((Decimal("1" * 41),), 1), ((Decimal("1E-50"),), 1)), total=2
    )
    assert to_arrow(huge).column("custom.n").to_pylist() == [str(10**30), "5"]
    assert to_arrow(wide).column("custom.d").to_pylist() == ["1" * 41, "1E-50"]
    small = GroupCounts(by=("custom.d",), rows=(((Decimal("12.50"),), 1),), total=1)
    assert str(to_arrow(small).schema.field("custom.d").type).startswith("decimal128")
