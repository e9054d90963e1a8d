"""Benchmark: the due lists of tasks and cases on SQLite at scale (overdue tasks, breached cases).

    python benchmarks/bench_workflow.py [--customers 1000000] [--tasks 5000000] [--cases 500000]
        [--calls 200] [--budget 30] [--chunk 50000] [--seed 7] [--sqlite-path PATH [--reuse]]
        [--json PATH]

Builds a plaintext :class:`~custrec.backends.SQLiteStore` (no keyring, no key file) in a
temporary directory (or ``--sqlite-path``, which is kept) directly through the storage API:
``--customers`` customers through ``customers.add_many`` (dummy payloads of 310 bytes, owned by
200 staff in 20 teams: ``staff-k`` is in ``team-(k % 20)``), then ``--tasks`` tasks and
``--cases`` cases through ``work.add_many``, ``--chunk`` rows per committed session. Work rows are
made in creation order over the two years before a fixed "now" (their UUIDv7 ids and ``pk``\\ s
follow that order, as in a live system), on random customers, assigned to the customer's owner
(tasks 90 %, cases 70 %; else a random member of staff; 10 % of open cases unassigned), with the
assignee's team. Tasks: about 20 % open (55 % of those made in the last 180 days, 8 % of older
ones), due at an instant uniform over now +- 90 days (never before the task was made), so about
half of the open tasks are overdue; the others done (90 %) or cancelled, without ``due_at``.
Cases: about 10 % open (30 % of the last 90 days, 7.2 % of older ones), 15 % of those waiting on
the customer (no ``due_at``: the clock is paused), the rest due uniform over now +- 15 days;
breached: 40 % of the overdue open cases, 20 % of the paused ones, 10 % of the others, 3 % of
the closed ones. Payloads are dummy bytes (240 per task, 420 per case): the due lists return
plain facts and never open them.

Then a :class:`~custrec.Registry` over that store (``keyring=None``, its plaintext warning
silenced, a clock fixed at "now") answers each kind of query ``--calls`` times (or until
``--budget`` seconds have been spent on the kind, at least 5 calls), each call with a random
member of staff or team, after 3 untimed calls; reported: p50, p99 and max in ms and the mean
number of items returned. Each registry list call is audited (one audit append per call), as in
production: that is part of its cost. One kind, a member of staff with no task at all, reads
every overdue task per call and is called 5 times only. The same filters straight on
``session.work.due`` / ``session.work.query`` (one read-only session, one statement of 200
rows, the step the services read) separate storage from service cost. For the service kinds, a
replay of the services' scan on the storage (untimed; 20 draws or half the budget) counts the
raw rows and steps read per call: an actor whose policy scope is narrower than the storage
filter reads rows it may not see. ``--reuse`` measures a file an earlier run kept
(``--sqlite-path``) without building it again.

The JSON (``--json PATH``) holds the machine, the Python and SQLite versions, the sizes, the
data's distribution, the build times, the file size, every kind's figures and the query plans
(``EXPLAIN QUERY PLAN``) of the storage statements. The goal (issue: p99 under 50 ms at
1,000,000 customers, 5,000,000 tasks and 500,000 cases) is shown per kind; it is a benchmark,
never a timed test. The file is built fresh and read warm (the OS page cache holds it after the
build): a cold cache adds disk reads.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from custrec import Actor, Registry
    from custrec.backends import SQLiteStore
    from custrec.storage import WorkRow

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
STAFF = 200
TEAMS = 20
STEP = 200  # rows per storage call of the services' scans (custrec.services._due._STEP)
PAGE = 100  # the services' default page
GOAL_MS = 50.0
WARMUP = 3
MIN_CALLS = 5
REPLAYS = 20
DAY_MS = 86_400_000
WORK_SPAN_DAYS = 730
CUSTOMER_SPAN_DAYS = 5 * 365
CUSTOMER_PAYLOAD = bytes(range(256)) + bytes(54)  # 310 bytes
TASK_PAYLOAD = bytes(240)
CASE_PAYLOAD = bytes(420)
OPEN_CASE_STATUSES = ("open", "in_progress", "in_progress", "reopened")


def staff_id(k: int) -> str:
    return f"staff-{k}"


def team_of(k: int) -> str:
    return f"team-{k % TEAMS}"


def uuid7(ms: int, rng: random.Random) -> str:
    """A UUIDv7 string for millisecond ``ms`` with random bits (strings sort by ``ms``)."""
    value = (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62)
    return str(uuid.UUID(int=value | rng.getrandbits(62)))


def instant(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# --- data ------------------------------------------------------------------------------------


@dataclass
class Population:
    """The customers' ids and owners (staff index per customer)."""

    ids: list[str]
    owners: bytearray


def customer_chunks(n: int, chunk: int, seed: int, population: Population) -> Iterator[list[Any]]:
    from custrec.storage import CustomerRow

    rng = random.Random(seed)
    now_ms = int(NOW.timestamp() * 1000)
    start_ms = now_ms - CUSTOMER_SPAN_DAYS * DAY_MS
    for first in range(0, n, chunk):
        rows = []
        for i in range(first, min(n, first + chunk)):
            ms = start_ms + (i * (CUSTOMER_SPAN_DAYS - 1) * DAY_MS) // n
            owner = rng.randrange(STAFF)
            customer_id = uuid7(ms, rng)
            population.ids.append(customer_id)
            population.owners.append(owner)
            made = instant(ms)
            rows.append(
                CustomerRow(
                    id=customer_id,
                    payload=CUSTOMER_PAYLOAD,
                    kind="individual",
                    stage="active",
                    owner=staff_id(owner),
                    team=team_of(owner),
                    created_at=made,
                    updated_at=made,
                )
            )
        yield rows


def _due_after(rng: random.Random, made_ms: int, now_ms: int, spread_days: int) -> int:
    """A due instant uniform over now +- ``spread_days``, never before ``made_ms``."""
    due = now_ms + rng.randrange(-spread_days * DAY_MS, spread_days * DAY_MS)
    if due < made_ms:
        due = made_ms + rng.randrange(max(1, now_ms + spread_days * DAY_MS - made_ms))
    return due


def work_chunks(
    tasks: int, cases: int, chunk: int, seed: int, population: Population, counts: dict[str, int]
) -> Iterator[list[WorkRow]]:
    """Tasks and cases interleaved in creation order (see the module docs for the mix)."""
    from custrec.storage import WorkRow

    rng = random.Random(seed + 1)
    total = tasks + cases
    now_ms = int(NOW.timestamp() * 1000)
    start_ms = now_ms - WORK_SPAN_DAYS * DAY_MS
    n_customers = len(population.ids)
    rows: list[WorkRow] = []
    for i in range(total):
        made_ms = start_ms + (i * WORK_SPAN_DAYS * DAY_MS) // total
        age_days = (now_ms - made_ms) / DAY_MS
        is_case = (i * cases) // total != ((i + 1) * cases) // total
        c = rng.randrange(n_customers)
        owner = population.owners[c]
        assignee: int | None = owner
        if rng.random() >= (0.7 if is_case else 0.9):
            assignee = rng.randrange(STAFF)
        team = team_of(assignee)
        due_ms: int | None = None
        breached = False
        if is_case:
            is_open = rng.random() < (0.3 if age_days <= 90 else 0.072)
            if is_open:
                if rng.random() < 0.15:
                    status = "waiting_on_customer"
                    breached = rng.random() < 0.2
                else:
                    status = rng.choice(OPEN_CASE_STATUSES)
                    due_ms = _due_after(rng, made_ms, now_ms, 15)
                    breached = rng.random() < (0.4 if due_ms < now_ms else 0.1)
                if rng.random() < 0.1:
                    assignee = None
            else:
                status = "closed" if rng.random() < 0.7 else "resolved"
                breached = rng.random() < 0.03
        else:
            is_open = rng.random() < (0.55 if age_days <= 180 else 0.08)
            if is_open:
                status = "open"
                due_ms = _due_after(rng, made_ms, now_ms, 90)
            else:
                status = "done" if rng.random() < 0.9 else "cancelled"
        kind = "case" if is_case else "task"
        counts[kind] += 1
        counts[f"{kind}_open"] += is_open
        counts[f"{kind}_overdue"] += due_ms is not None and due_ms < now_ms
        counts[f"{kind}_breached"] += breached
        counts[f"{kind}_open_breached"] += breached and is_open
        made = instant(made_ms)
        updated = made if is_open else instant(min(now_ms, made_ms + rng.randrange(30 * DAY_MS)))
        rows.append(
            WorkRow(
                id=uuid7(made_ms, rng),
                kind=kind,
                customer_id=population.ids[c],
                status=status,
                open=is_open,
                assignee=None if assignee is None else staff_id(assignee),
                team=team,
                due_at=None if due_ms is None else instant(due_ms),
                breached=breached,
                created_at=made,
                updated_at=updated,
                payload=CASE_PAYLOAD if is_case else TASK_PAYLOAD,
            )
        )
        if len(rows) >= chunk:
            yield rows
            rows = []
    if rows:
        yield rows


def load(store: SQLiteStore, chunks: Iterator[list[Any]], table: str, label: str) -> float:
    """Write each chunk in one committed session; return the seconds spent in storage calls."""
    seconds = 0.0
    done = 0
    for rows in chunks:
        start = time.perf_counter()
        with store.transaction() as session:
            inserted = getattr(session, table).add_many(rows)
            session.commit()
        seconds += time.perf_counter() - start
        if inserted != len(rows):
            raise SystemExit(f"{table}: {inserted} of {len(rows)} inserted")
        done += len(rows)
        if sys.stderr.isatty():
            print(f"\r  {label}: {done:,}", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return seconds


def build(store: SQLiteStore, args: argparse.Namespace) -> tuple[Population, dict[str, Any]]:
    population = Population(ids=[], owners=bytearray())
    counts = {
        f"{kind}{what}": 0
        for kind in ("task", "case")
        for what in ("", "_open", "_overdue", "_breached", "_open_breached")
    }
    print(f"building: {args.customers:,} customers ...", file=sys.stderr)
    start = time.perf_counter()
    customers_storage = load(
        store,
        customer_chunks(args.customers, args.chunk, args.seed, population),
        "customers",
        "customers",
    )
    customers_wall = time.perf_counter() - start
    print(f"building: {args.tasks:,} tasks and {args.cases:,} cases ...", file=sys.stderr)
    start = time.perf_counter()
    work_storage = load(
        store,
        work_chunks(args.tasks, args.cases, args.chunk, args.seed, population, counts),
        "work",
        "work rows",
    )
    work_wall = time.perf_counter() - start
    timings = {
        "customers_s": customers_wall,
        "customers_storage_s": customers_storage,
        "work_s": work_wall,
        "work_storage_s": work_storage,
        "total_s": customers_wall + work_wall,
        "customers_per_s": args.customers / customers_wall if customers_wall else None,
        "work_rows_per_s": (args.tasks + args.cases) / work_wall if work_wall else None,
    }
    return population, {"build": timings, "data": counts}


# --- measuring -------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (sorted here)."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Kind:
    """One kind of query: its label, layer and a call that takes a random generator and
    returns how many items it got."""

    name: str
    layer: str
    description: str
    call: Callable[[random.Random], int]
    replay: Callable[[random.Random], tuple[int, int]] | None = None
    most: int | None = None  # at most this many timed calls (a kind known to be slow)
    warmup: int = WARMUP


def measure(kind: Kind, calls: int, budget: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    for _ in range(kind.warmup):
        kind.call(rng)
    if kind.most is not None:
        calls = min(calls, kind.most)
    times: list[float] = []
    items: list[int] = []
    spent = 0.0
    while len(times) < calls and (spent < budget or len(times) < min(calls, MIN_CALLS)):
        start = time.perf_counter()
        got = kind.call(rng)
        elapsed = time.perf_counter() - start
        spent += elapsed
        times.append(elapsed * 1000)
        items.append(got)
    p99 = percentile(times, 0.99)
    result: dict[str, Any] = {
        "layer": kind.layer,
        "description": kind.description,
        "calls": len(times),
        "p50_ms": percentile(times, 0.50),
        "p99_ms": p99,
        "max_ms": max(times),
        "mean_ms": statistics.fmean(times),
        "mean_items": statistics.fmean(items),
        "goal_met": p99 < GOAL_MS,
    }
    if kind.replay is not None:
        replay_rng = random.Random(seed + 1)
        read: list[tuple[int, int]] = []
        start = time.perf_counter()
        while len(read) < REPLAYS and (
            time.perf_counter() - start < budget / 2 or len(read) < MIN_CALLS
        ):
            read.append(kind.replay(replay_rng))
        result["replays"] = len(read)
        result["rows_read_median"] = statistics.median(r for r, _ in read)
        result["rows_read_max"] = max(r for r, _ in read)
        result["steps_median"] = statistics.median(s for _, s in read)
    return result


def kinds(registry: Registry, store: SQLiteStore) -> list[Kind]:
    """The kinds of query measured: services first, then storage."""
    from custrec import Actor
    from custrec.security import Action, Resource, RoleBasedPolicy
    from custrec.services._due import within_scope
    from custrec.storage import WorkFilter

    admin = Actor(id="admin-1", roles={"admin"})
    policy = RoleBasedPolicy()

    def staff(rng: random.Random) -> tuple[Actor, str]:
        k = rng.randrange(STAFF)
        return Actor(id=staff_id(k), roles={"staff"}, team=team_of(k)), staff_id(k)

    def manager(rng: random.Random) -> tuple[Actor, str]:
        t = team_of(rng.randrange(TEAMS))
        return Actor(id=f"manager-{t}", roles={"manager"}, team=t), t

    def team(rng: random.Random) -> str:
        return team_of(rng.randrange(TEAMS))

    def assignee(rng: random.Random) -> str:
        return staff_id(rng.randrange(STAFF))

    def scan(
        actor: Actor,
        fetch: Callable[[Any, Any], list[WorkRow]],
        position: Callable[[WorkRow], Any],
    ) -> tuple[int, int]:
        """The services' scan (custrec.services._due._scan) on storage: rows read, steps."""
        read = steps = kept = 0
        cursor = None
        with store.transaction(readonly=True) as session:
            while True:
                rows = fetch(session, cursor)
                steps += 1
                for row in rows:
                    read += 1
                    cursor = position(row)
                    resource = Resource(
                        customer_id=row.customer_id, owner=row.assignee, team=row.team
                    )
                    if policy.decide(actor, Action.READ, resource).allowed:
                        kept += 1
                        if kept >= PAGE:
                            return read, steps
                if len(rows) < STEP:
                    return read, steps

    def scans(
        actor: Actor,
        where: WorkFilter,
        fetch: Callable[[Any, WorkFilter, Any], list[WorkRow]],
        position: Callable[[WorkRow], Any],
    ) -> tuple[int, int]:
        read = steps = 0
        for narrowed in within_scope(policy, actor, where):  # as the services narrow
            more, more_steps = scan(actor, lambda s, c, w=narrowed: fetch(s, w, c), position)
            read += more
            steps += more_steps
        return read, steps

    def due_replay(
        who: Callable[[random.Random], tuple[Actor, dict[str, Any]]], kind: str
    ) -> Callable[[random.Random], tuple[int, int]]:
        def replay(rng: random.Random) -> tuple[int, int]:
            actor, where = who(rng)
            return scans(
                actor,
                WorkFilter(kind=kind, **where),
                lambda s, w, c: s.work.due(before=NOW, where=w, after=c, limit=STEP),
                lambda row: (row.due_at, row.id),
            )

        return replay

    def list_replay(
        who: Callable[[random.Random], tuple[Actor, dict[str, Any]]],
    ) -> Callable[[random.Random], tuple[int, int]]:
        def replay(rng: random.Random) -> tuple[int, int]:
            actor, where = who(rng)
            return scans(
                actor,
                WorkFilter(kind="case", open=True, breached=True, **where),
                lambda s, w, c: s.work.query(where=w, after=c, limit=STEP),
                lambda row: row.id,
            )

        return replay

    # who: (actor, filter) for both the timed call and its replay
    def staff_own(rng: random.Random) -> tuple[Actor, dict[str, Any]]:
        return staff(rng)[0], {}

    def staff_new(rng: random.Random) -> tuple[Actor, dict[str, Any]]:
        return Actor(id="staff-new", roles={"staff"}, team=team(rng)), {}

    def staff_self(rng: random.Random) -> tuple[Actor, dict[str, Any]]:
        actor, me = staff(rng)
        return actor, {"assignee": me}

    def manager_team(rng: random.Random) -> tuple[Actor, dict[str, Any]]:
        actor, t = manager(rng)
        return actor, {"team": t}

    def manager_all(rng: random.Random) -> tuple[Actor, dict[str, Any]]:
        return manager(rng)[0], {}

    def admin_assignee(rng: random.Random) -> tuple[Actor, dict[str, Any]]:
        return admin, {"assignee": assignee(rng)}

    def admin_all(rng: random.Random) -> tuple[Actor, dict[str, Any]]:
        return admin, {}

    def admin_team(rng: random.Random) -> tuple[Actor, dict[str, Any]]:
        return admin, {"team": team(rng)}

    def overdue_tasks(who: Callable[[random.Random], tuple[Actor, dict[str, Any]]]) -> Any:
        def call(rng: random.Random) -> int:
            actor, where = who(rng)
            return len(registry.tasks.overdue(actor=actor, **where).items)

        return call

    def due_tasks(rng: random.Random) -> int:
        actor, where = staff_self(rng)
        return len(registry.tasks.due(actor=actor, **where).items)

    def overdue_cases(rng: random.Random) -> int:
        actor, where = manager_team(rng)
        return len(registry.cases.overdue(actor=actor, **where).items)

    def breached_cases(who: Callable[[random.Random], tuple[Actor, dict[str, Any]]]) -> Any:
        def call(rng: random.Random) -> int:
            actor, where = who(rng)
            return len(registry.cases.listed(actor=actor, breached=True, **where)[0])

        return call

    def storage_due(kind: str, facet: Callable[[random.Random], dict[str, Any]]) -> Any:
        def call(rng: random.Random) -> int:
            where = WorkFilter(kind=kind, **facet(rng))
            with store.transaction(readonly=True) as session:
                return len(session.work.due(before=NOW, where=where, limit=STEP))

        return call

    def storage_breached(facet: Callable[[random.Random], dict[str, Any]]) -> Any:
        def call(rng: random.Random) -> int:
            where = WorkFilter(kind="case", open=True, breached=True, **facet(rng))
            with store.transaction(readonly=True) as session:
                return len(session.work.query(where=where, limit=STEP))

        return call

    def nothing(rng: random.Random) -> dict[str, Any]:
        return {}

    def by_assignee(rng: random.Random) -> dict[str, Any]:
        return {"assignee": assignee(rng)}

    def by_team(rng: random.Random) -> dict[str, Any]:
        return {"team": team(rng)}

    return [
        Kind(
            "tasks.overdue staff (own scope)",
            "service",
            "registry.tasks.overdue(actor=staff-k): no filter, the policy keeps the actor's rows",
            overdue_tasks(staff_own),
            due_replay(staff_own, "task"),
        ),
        Kind(
            "tasks.overdue staff, none assigned",
            "service",
            "registry.tasks.overdue(actor=a member of staff with no task): the scan reads every "
            "overdue task (at most 5 calls)",
            overdue_tasks(staff_new),
            most=5,
            warmup=1,
        ),
        Kind(
            "tasks.overdue staff, assignee=self",
            "service",
            "registry.tasks.overdue(actor=staff-k, assignee=staff-k)",
            overdue_tasks(staff_self),
            due_replay(staff_self, "task"),
        ),
        Kind(
            "tasks.due staff, assignee=self",
            "service",
            "registry.tasks.due(actor=staff-k, assignee=staff-k): the due-soon window, overdue too",
            due_tasks,
        ),
        Kind(
            "tasks.overdue manager, team=t",
            "service",
            "registry.tasks.overdue(actor=manager of t, team=t)",
            overdue_tasks(manager_team),
            due_replay(manager_team, "task"),
        ),
        Kind(
            "tasks.overdue manager (team scope)",
            "service",
            "registry.tasks.overdue(actor=manager of t): no filter, the policy keeps team t's rows",
            overdue_tasks(manager_all),
            due_replay(manager_all, "task"),
        ),
        Kind(
            "tasks.overdue admin, assignee=s",
            "service",
            "registry.tasks.overdue(actor=admin, assignee=staff-k)",
            overdue_tasks(admin_assignee),
            due_replay(admin_assignee, "task"),
        ),
        Kind(
            "tasks.overdue admin (all)",
            "service",
            "registry.tasks.overdue(actor=admin): the first page of everything overdue",
            overdue_tasks(admin_all),
            due_replay(admin_all, "task"),
        ),
        Kind(
            "cases.overdue manager, team=t",
            "service",
            "registry.cases.overdue(actor=manager of t, team=t)",
            overdue_cases,
            due_replay(manager_team, "case"),
        ),
        Kind(
            "cases.listed admin, breached",
            "service",
            "registry.cases.listed(actor=admin, breached=True): open breached cases by id",
            breached_cases(admin_all),
            list_replay(admin_all),
        ),
        Kind(
            "cases.listed admin, breached, team=t",
            "service",
            "registry.cases.listed(actor=admin, breached=True, team=t)",
            breached_cases(admin_team),
            list_replay(admin_team),
        ),
        Kind(
            "work.due task",
            "storage",
            "session.work.due(before=now, where=WorkFilter(kind='task'), limit=200)",
            storage_due("task", nothing),
        ),
        Kind(
            "work.due task, assignee=s",
            "storage",
            "session.work.due(... WorkFilter(kind='task', assignee=staff-k), limit=200)",
            storage_due("task", by_assignee),
        ),
        Kind(
            "work.due task, team=t",
            "storage",
            "session.work.due(... WorkFilter(kind='task', team=t), limit=200)",
            storage_due("task", by_team),
        ),
        Kind(
            "work.due case, team=t",
            "storage",
            "session.work.due(... WorkFilter(kind='case', team=t), limit=200)",
            storage_due("case", by_team),
        ),
        Kind(
            "work.query case open breached",
            "storage",
            "session.work.query(where=WorkFilter(kind='case', open=True, breached=True))",
            storage_breached(nothing),
        ),
        Kind(
            "work.query case open breached, team=t",
            "storage",
            "session.work.query(where=WorkFilter(kind='case', open=True, breached=True, team=t))",
            storage_breached(by_team),
        ),
    ]


# --- query plans -----------------------------------------------------------------------------


class _Recorder:
    """Stands in for a session's sqlite3 connection and records the statements run."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._real = conn
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        self.statements.append((sql, tuple(params)))
        return self._real.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def query_plans(store: SQLiteStore) -> dict[str, Any]:
    """``EXPLAIN QUERY PLAN`` of the statements behind each storage call (recorded as run,
    with their parameters: a partial index is usable only where its condition is literal)."""
    from custrec.storage import WorkFilter

    later = (NOW - timedelta(days=30), "0")  # a next step's keyset start
    calls: dict[str, Callable[[Any], object]] = {
        "due task": lambda s: s.work.due(before=NOW, where=WorkFilter(kind="task"), limit=STEP),
        "due task, next step": lambda s: s.work.due(
            before=NOW, where=WorkFilter(kind="task"), after=later, limit=STEP
        ),
        "due task, assignee": lambda s: s.work.due(
            before=NOW, where=WorkFilter(kind="task", assignee=staff_id(0)), limit=STEP
        ),
        "due task, team": lambda s: s.work.due(
            before=NOW, where=WorkFilter(kind="task", team=team_of(0)), limit=STEP
        ),
        "due case, team": lambda s: s.work.due(
            before=NOW, where=WorkFilter(kind="case", team=team_of(0)), limit=STEP
        ),
        "query case open breached": lambda s: s.work.query(
            where=WorkFilter(kind="case", open=True, breached=True), limit=STEP
        ),
        "query case open breached, team": lambda s: s.work.query(
            where=WorkFilter(kind="case", open=True, breached=True, team=team_of(0)), limit=STEP
        ),
    }
    plans: dict[str, Any] = {}
    for name, call in calls.items():
        with store.transaction(readonly=True) as session:
            real = getattr(session, "_conn", None)
            if not isinstance(real, sqlite3.Connection):
                return {"unavailable": "the session's connection is not reachable"}
            recorder = _Recorder(real)
            session._conn = recorder
            try:
                call(session)
            finally:
                session._conn = real
            plans[name] = [
                {
                    "sql": sql,
                    "plan": [row[3] for row in real.execute("EXPLAIN QUERY PLAN " + sql, params)],
                }
                for sql, params in recorder.statements
            ]
    return plans


# --- report ----------------------------------------------------------------------------------


def git_commit() -> str | None:
    """The checked-out commit of this repository (a dirty src/ is marked), if git is there."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "../src"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + (" (src modified)" if dirty else "")


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "commit": git_commit(),
    }


def file_size(path: Path) -> int:
    return sum(
        Path(f"{path}{suffix}").stat().st_size
        for suffix in ("", "-wal")
        if Path(f"{path}{suffix}").exists()
    )


def print_table(results: dict[str, dict[str, Any]]) -> None:
    header = (
        f"{'kind':<40} {'calls':>5} {'items':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        f" {'rows read':>9} {'steps':>5}  p99<{GOAL_MS:g}"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        rows = "-" if "rows_read_median" not in r else f"{r['rows_read_median']:,.0f}"
        steps = "-" if "steps_median" not in r else f"{r['steps_median']:g}"
        print(
            f"{name:<40} {r['calls']:>5} {r['mean_items']:>6.0f} {r['p50_ms']:>8.2f}"
            f" {r['p99_ms']:>8.2f} {r['max_ms']:>8.2f} {rows:>9} {steps:>5}  "
            + ("yes" if r["goal_met"] else "NO")
        )


def counted(path: Path) -> dict[str, int]:
    """The data's counts, read from a file built earlier (``--reuse``)."""
    now = int(NOW.timestamp() * 1_000_000)  # instants are stored as microseconds
    counts: dict[str, int] = {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        counts["customers"] = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        for kind, *figures in conn.execute(
            "SELECT kind, count(*), sum(open), sum(open AND due_at < ?), sum(breached),"
            " sum(open AND breached) FROM work GROUP BY kind",
            (now,),
        ):
            for what, value in zip(
                ("", "_open", "_overdue", "_breached", "_open_breached"), figures, strict=True
            ):
                counts[f"{kind}{what}"] = int(value or 0)
    conn.close()
    return counts


def run(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    from custrec import Registry
    from custrec.backends import SQLiteStore
    from custrec.errors import PlaintextStorageWarning

    reuse = args.reuse and path.exists()
    if not reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = SQLiteStore(path, key_file=False)
    try:
        if reuse:
            print(f"reusing {path} (no build)", file=sys.stderr)
            built: dict[str, Any] = {"build": None, "data": counted(path)}
        else:
            _, built = build(store, args)
            b = built["build"]
            print(
                f"build: customers {b['customers_s']:.1f} s ({b['customers_per_s']:,.0f}/s), "
                f"tasks and cases {b['work_s']:.1f} s ({b['work_rows_per_s']:,.0f} rows/s), "
                f"total {b['total_s']:.1f} s"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PlaintextStorageWarning)
            registry = Registry(store, keyring=None, clock=lambda: NOW)
        print("measuring ...", file=sys.stderr)
        results: dict[str, dict[str, Any]] = {}
        for i, kind in enumerate(kinds(registry, store)):
            results[kind.name] = measure(kind, args.calls, args.budget, args.seed + 100 * i)
            if sys.stderr.isatty():
                print(f"  {kind.name}: {results[kind.name]['p99_ms']:.1f} ms", file=sys.stderr)
        plans = query_plans(store)
    finally:
        store.close()
    return {**built, "file_size_bytes": file_size(path), "kinds": results, "query_plans": plans}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=5_000_000)
    parser.add_argument("--cases", type=int, default=500_000)
    parser.add_argument("--calls", type=int, default=200, help="timed calls per kind")
    parser.add_argument(
        "--budget", type=float, default=30.0, help="seconds per kind before stopping early"
    )
    parser.add_argument("--chunk", type=int, default=50_000, help="rows per add_many session")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sqlite-path", type=Path, help="SQLite file to (re)create and keep")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --sqlite-path: measure a file built by an earlier run (no build)",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if min(args.customers, args.chunk, args.calls) < 1 or min(args.tasks, args.cases) < 0:
        parser.error("sizes must be positive")
    if args.budget <= 0:
        parser.error("--budget must be positive")
    if args.reuse and args.sqlite_path is None:
        parser.error("--reuse needs --sqlite-path")
    output: dict[str, Any] = {
        "benchmark": "workflow",
        "machine": machine(),
        "sizes": {
            "customers": args.customers,
            "tasks": args.tasks,
            "cases": args.cases,
            "staff": STAFF,
            "teams": TEAMS,
            "calls": args.calls,
            "budget_s": args.budget,
            "chunk": args.chunk,
            "seed": args.seed,
            "now": NOW.isoformat(),
        },
        "settings": "WAL, synchronous=NORMAL, cache 64 MiB (SQLiteStore defaults), no ANALYZE",
        "goal_p99_ms": GOAL_MS,
    }
    if args.sqlite_path is not None:
        output |= run(args, args.sqlite_path.resolve())
    else:
        workdir = tempfile.mkdtemp(prefix="custrec-workflow-")
        try:
            output |= run(args, Path(workdir) / "workflow.sqlite")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    output["goal_met"] = all(k["goal_met"] for k in output["kinds"].values())
    d = output["data"]
    sizes = output["sizes"]
    if output["build"] is None:  # --reuse: the sizes are the file's
        sizes |= {"customers": d.pop("customers"), "tasks": d["task"], "cases": d["case"]}
    print(
        f"\nworkflow due lists: {sizes['customers']:,} customers, {sizes['tasks']:,} tasks "
        f"({d['task_open']:,} open, {d['task_overdue']:,} overdue), {sizes['cases']:,} cases "
        f"({d['case_open']:,} open, {d['case_overdue']:,} overdue, "
        f"{d['case_open_breached']:,} open and breached); {STAFF} staff in {TEAMS} teams"
    )
    m = output["machine"]
    print(
        f"machine: {m['processor']}, {m['cpus']} CPUs, Python {m['python']}, SQLite {m['sqlite']}"
        f"; file {output['file_size_bytes'] / 2**20:,.0f} MiB; build "
        + ("reused" if output["build"] is None else f"{output['build']['total_s']:.1f} s")
        + "\n"
    )
    print_table(output["kinds"])
    print(
        "(items: mean returned per call; rows read / steps: median raw rows and storage calls "
        f"of the services' scan, replayed up to {REPLAYS} times; storage kinds read one step)"
    )
    if args.json:
        args.json.write_text(json.dumps(output, indent=2, ensure_ascii=False, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
