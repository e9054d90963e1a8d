"""Benchmark: concurrent clients on one database, then an integrity check of what they did.

    python benchmarks/bench_load.py [--backend sqlite,postgres] [--clients 1,2,4,8,16]
        [--preload 20000] [--seconds 90] [--ops 1000000] [--dsn DSN] [--json PATH]

For each backend and each client count, a fresh database (SQLite: a copy of one pre-loaded
file; PostgreSQL: a new schema, pre-loaded and dropped afterwards) holds ``--preload``
encrypted customers, owned by 40 members of staff in 4 teams. ``C`` client processes (started
with ``multiprocessing`` spawn; each opens its own store and :class:`~custrec.Registry` with
the shared key file) start together and run until ``--seconds`` have passed or each has done
``--ops`` operations, drawn at random from this mix:

- 50 % ``customers.get`` of a random pre-loaded customer;
- 20 % ``customers.find`` by that customer's phone (exactly one match is expected);
- 15 % ``customers.update`` (read, then write with ``expected_version``; a
  ``VersionConflict`` or a ``StorageError(retry_safe=True)`` is retried, up to 50 attempts,
  and counted). Half of the updates go to the first 100 customers, so that writers meet;
- 10 % ``customers.intake`` of a new customer. About a third of them use the *contested* phone
  of the current 0.2 s time slot, the same in every client, so that clients take the same
  phone in at once: one wins, the others get ``DuplicateCustomer`` (an expected outcome);
- 5 % ``activities.record_transaction`` or ``record_interaction`` (half each).

Each operation runs as a staff member owning the customer, the manager of its team or an admin
(a third each; all also hold ``unmask``), so that the default access policy allows all of them:
a refusal is a fault of the benchmark and fails the run.

Reported per run: operations per second (all operations over the span from the first client's
start to the last client's end), p50 and p99 latency per kind in ms, the worst single
operation, how many took over 1 s, retries and errors by type, and (a store that queues audit
entries) the share of each kind that sealed the queue after its commit. Then the parent process
checks, on the same database: the customer count is the pre-load plus the successful intakes;
each updated customer's version is 1 + its successful updates (summed over clients), plus at
most one for each activity recorded on it (an activity may move its customer on); no contested
phone has two holders; ``registry.audit.verify`` passes. A failed check is printed and makes
the exit status 1.

Each run also reports the clients' CPU time (``process_time``, every thread) and context
switches (``getrusage``: all, and how many were waits) per operation. With
``CUSTREC_BENCH_PROFILE=DIR`` set, each client writes a ``cProfile`` of its main thread's CPU
time (``time.thread_time``) over the run to ``DIR/client-N.prof``.

PostgreSQL comes from ``--dsn``, else ``CUSTREC_BENCH_POSTGRES_DSN``, else
``CUSTREC_TEST_POSTGRES_DSN``; without one it is skipped with a note. Loopback servers only:
the figures say nothing about a network. Not part of the test suite (speed goals live here,
never in timed tests).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import platform
import random
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # custrec is imported inside functions: client processes import it themselves
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Barrier

    from custrec import Actor, Registry
    from custrec.storage import Store

STAFF = 40  # owners of the pre-loaded customers: staff-0 .. staff-39
TEAMS = 4  # staff-k is in team-(k % 4)
HOT = 100  # half of the updates go to the first HOT customers
SLOT_SECONDS = 0.2  # one contested phone per time slot
MAX_ATTEMPTS = 50  # update attempts before giving up
KINDS = ("get", "find", "update", "intake", "activity")
MIX = (("get", 0.50), ("find", 0.20), ("update", 0.15), ("intake", 0.10), ("activity", 0.05))
ROLES = ("staff", "manager", "admin")
DSN_VARIABLES = ("CUSTREC_BENCH_POSTGRES_DSN", "CUSTREC_TEST_POSTGRES_DSN")
REASON = "load benchmark"


# --- data ------------------------------------------------------------------------------------


def preloaded_phone(i: int) -> str:
    return f"138{i:08d}"


def new_phone(client: int, n: int) -> str:
    return f"186{client:02d}{n:06d}"


def contested_phone(slot: int) -> str:
    return f"199{slot:08d}"


def owner_of(i: int) -> int:
    return i % STAFF


def customer(i: int) -> dict[str, Any]:
    """The pre-loaded customer ``i`` (made-up data; the phone is unique per ``i``)."""
    staff = owner_of(i)
    return {
        "kind": "individual",
        "name": f"测试客户{i}",
        "contacts": [{"phones": [preloaded_phone(i)], "emails": [f"c{i}@example.com"]}],
        "addresses": [{"city": "上海", "street": f"测试路{i}号", "postal_code": "200000"}],
        "owner": f"staff-{staff}",
        "team": f"team-{staff % TEAMS}",
        "tags": ["bench"],
    }


def newcomer(phone: str, label: str) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"新客户{label}",
        "contacts": [{"phones": [phone]}],
        "tags": ["bench-new"],
    }


# --- client processes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a run's database is: an SQLite file or a PostgreSQL schema."""

    backend: str
    key_file: str
    sqlite_path: str | None = None
    dsn: str | None = None
    schema: str | None = None


@dataclass
class ClientResult:
    """What one client did; sent back to the parent."""

    client: int
    started: float = 0.0
    ended: float = 0.0
    ops: int = 0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    # operations that sealed the audit queue after their commit (a store that queues entries)
    sealed: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    denied: int = 0
    version_retries: int = 0
    storage_retries: int = 0
    updates_given_up: int = 0
    updated: Counter[int] = field(default_factory=Counter)  # customer index -> successes
    # activities recorded on pre-loaded customers (one may move a customer on: a version)
    touched: Counter[int] = field(default_factory=Counter)
    uncertain_updates: Counter[int] = field(default_factory=Counter)
    intakes: int = 0
    uncertain_intakes: int = 0
    contested: dict[int, str] = field(default_factory=dict)  # slot -> "won" / "duplicate"
    duplicates_refused: int = 0
    find_misses: int = 0
    cpu_seconds: float = 0.0  # this client's CPU time (user + system) over the run
    switches: int = 0  # this client's context switches (voluntary + involuntary) over the run
    waits: int = 0  # ... of which voluntary (it waited: a lock, the gate, I/O)
    fatal: str | None = None


def open_store(target: Target, pool: int = 2) -> Store:
    from custrec import SQLiteStore
    from custrec.backends import PostgresStore

    if target.backend == "sqlite":
        assert target.sqlite_path is not None
        return SQLiteStore(target.sqlite_path)
    assert target.dsn is not None and target.schema is not None
    return PostgresStore(target.dsn, schema=target.schema, min_size=1, max_size=pool)


_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|[0-9a-f]{16,}")


def error_key(kind: str, exc: BaseException) -> str:
    """``kind: Type: message`` with ids replaced, so that equal failures count together."""
    message = _ID.sub("<id>", str(exc))
    message = re.sub(r"\d{6,}", "<n>", message)[:120]
    return f"{kind}: {type(exc).__name__}: {message}"


def actor_for(rng: random.Random, i: int, client: int) -> Actor:
    """A random actor the default policy lets read and change pre-loaded customer ``i``."""
    from custrec import Actor

    role = rng.choice(ROLES)
    staff = owner_of(i)
    team = f"team-{staff % TEAMS}"
    if role == "staff":
        return Actor(id=f"staff-{staff}", roles={"staff", "unmask"}, team=team)
    if role == "manager":
        return Actor(id=f"manager-{staff % TEAMS}", roles={"manager", "unmask"}, team=team)
    return Actor(id=f"admin-{client}", roles={"admin", "unmask"})


def client_main(
    client: int,
    target: Target,
    ids: list[str],
    seconds: float,
    max_ops: int,
    seed: int,
    barrier: Barrier,
    results: Queue[dict[str, Any]],
) -> None:
    """One client process: open, wait for the others, run the mix, send the result back."""
    result = ClientResult(client=client)
    try:
        _run_client(result, target, ids, seconds, max_ops, seed, barrier)
    except BaseException as exc:  # the parent must hear of it rather than wait
        result.fatal = error_key("client", exc)
        barrier.abort()
    results.put({f.name: getattr(result, f.name) for f in fields(result)})


def _run_client(
    result: ClientResult,
    target: Target,
    ids: list[str],
    seconds: float,
    max_ops: int,
    seed: int,
    barrier: Barrier,
) -> None:
    from custrec import KeyRing, Registry
    from custrec.errors import AccessDenied, DuplicateCustomer
    from custrec.services import context as context_module

    sealings = [0]  # Context.seal_now calls in this process (one operation at a time)
    seal_now = context_module.Context.seal_now

    def counted(self: Any) -> None:
        sealings[0] += 1
        seal_now(self)

    context_module.Context.seal_now = counted  # type: ignore[method-assign]
    client = result.client
    rng = random.Random(seed * 1000 + client)
    store = open_store(target)
    registry = Registry(store, keyring=KeyRing.from_file(target.key_file))
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    hot = min(HOT, len(ids))
    fresh = 0
    profile_dir = os.environ.get("CUSTREC_BENCH_PROFILE")
    profiler = cProfile.Profile(time.thread_time) if profile_dir else None  # main thread CPU
    barrier.wait()
    start = time.perf_counter()
    cpu_start = time.process_time()
    switches_start, waits_start = _switches()
    if profiler is not None:
        profiler.enable()
    deadline = start + seconds
    result.started = start
    now = start
    while result.ops < max_ops and now < deadline:
        kind = rng.choices(kinds, weights)[0]
        i = (
            rng.randrange(hot)
            if kind == "update" and rng.random() < 0.5
            else rng.randrange(len(ids))
        )
        actor = actor_for(rng, i, client)
        contested_slot: int | None = None
        sealed_before = sealings[0]
        t0 = time.perf_counter()
        try:
            if kind == "get":
                registry.customers.get(ids[i], actor=actor)
            elif kind == "find":
                found = registry.customers.find(phone=preloaded_phone(i), actor=actor)
                if [c.id for c in found] != [ids[i]]:
                    result.find_misses += 1
            elif kind == "update":
                _update(registry, result, ids, i, actor, rng)
            elif kind == "intake":
                slot = int((t0 - start) / SLOT_SECONDS)
                if rng.random() < 1 / 3 and slot not in result.contested:
                    contested_slot = slot
                    phone, label = contested_phone(slot), f"争{slot}"
                else:
                    fresh += 1
                    phone, label = new_phone(client, fresh), f"{client}-{fresh}"
                registry.customers.intake(newcomer(phone, label), actor=actor)
                result.intakes += 1
                if contested_slot is not None:
                    result.contested[contested_slot] = "won"
            else:
                occurred = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
                result.touched[i] += 1  # counted before: a failure may still have committed
                if rng.random() < 0.5:
                    registry.activities.record_transaction(
                        {
                            "customer_id": ids[i],
                            "occurred_at": occurred,
                            "amount": {"amount": f"{rng.randrange(100, 100000) / 100:.2f}"},
                        },
                        actor=actor,
                    )
                else:
                    registry.activities.record_interaction(
                        {
                            "customer_id": ids[i],
                            "kind": "call",
                            "occurred_at": occurred,
                            "summary": "回访",
                        },
                        actor=actor,
                    )
        except DuplicateCustomer:
            if contested_slot is None:
                result.errors[f"{kind}: DuplicateCustomer (uncontested phone)"] += 1
            else:
                result.contested[contested_slot] = "duplicate"
                result.duplicates_refused += 1
        except AccessDenied as exc:
            result.denied += 1
            result.errors[error_key(kind, exc)] += 1
        except Exception as exc:
            result.errors[error_key(kind, exc)] += 1
            if kind == "intake":
                # committed or not, nobody can tell from here: the check allows either
                result.uncertain_intakes += 1
                if contested_slot is not None:
                    result.contested[contested_slot] = "uncertain"
        now = time.perf_counter()
        result.latencies[kind].append(now - t0)
        if sealings[0] != sealed_before:
            result.sealed[kind] += 1
        result.ops += 1
    if profiler is not None:
        profiler.disable()
    result.ended = time.perf_counter()
    result.cpu_seconds = time.process_time() - cpu_start
    switches, waits = _switches()
    result.switches, result.waits = switches - switches_start, waits - waits_start
    if profiler is not None and profile_dir:
        profiler.dump_stats(os.path.join(profile_dir, f"client-{client}.prof"))
    store.close()


def _switches() -> tuple[int, int]:
    """This process's context switches so far, all and voluntary (0 without ``resource``)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0, 0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw + usage.ru_nivcsw, usage.ru_nvcsw


def _update(
    registry: Registry,
    result: ClientResult,
    ids: list[str],
    i: int,
    actor: Actor,
    rng: random.Random,
) -> None:
    """Read customer ``i``, change its tags with ``expected_version``; retry conflicts."""
    from custrec.errors import StorageError, VersionConflict

    for _ in range(MAX_ATTEMPTS):
        current = registry.customers.get(ids[i], actor=actor)
        try:
            registry.customers.update(
                ids[i],
                {"tags": ["bench", f"u{result.client}x{rng.randrange(10**9)}"]},
                actor=actor,
                reason=REASON,
                expected_version=current.version,
            )
        except VersionConflict:
            result.version_retries += 1
            continue
        except StorageError as exc:
            if not exc.retry_safe:
                result.uncertain_updates[i] += 1
                raise
            result.storage_retries += 1
            continue
        except Exception:
            result.uncertain_updates[i] += 1
            raise
        result.updated[i] += 1
        return
    result.updates_given_up += 1


# --- one run ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def preload(target: Target, n: int) -> tuple[list[str], float]:
    """Pre-load ``n`` customers; return their ids (in order) and the seconds it took."""
    from custrec import Actor, KeyRing, Registry

    admin = Actor(id="bench-loader", roles={"admin", "unmask"})
    store = open_store(target)
    try:
        registry = Registry(store, keyring=KeyRing.from_file(target.key_file))
        start = time.perf_counter()
        ids: list[str] = []
        for first in range(0, n, 5000):
            batch = [customer(i) for i in range(first, min(n, first + 5000))]
            done = registry.customers.intake_many(batch, actor=admin)
            if len(done.added) != len(batch):
                raise SystemExit(f"pre-load took {len(done.added)} of {len(batch)} customers")
            ids.extend(done.added)
        seconds = time.perf_counter() - start
        for i in {0, n // 2, n - 1}:  # ids come back in input order
            if [c.id for c in registry.customers.find(phone=preloaded_phone(i), actor=admin)] != [
                ids[i]
            ]:
                raise SystemExit(f"pre-load: customer {i} is not where it should be")
    finally:
        store.close()
    return ids, seconds


def run_clients(
    target: Target, ids: list[str], clients: int, seconds: float, ops: int, seed: int
) -> list[ClientResult]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(clients + 1)
    queue = ctx.Queue()
    procs = [
        ctx.Process(
            target=client_main,
            args=(c, target, ids, seconds, ops, seed, barrier, queue),
            name=f"bench-load-client-{c}",
        )
        for c in range(clients)
    ]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=120)
    except Exception:
        pass  # a client failed to open: its result says why
    raw: list[dict[str, Any]] = []
    limit = time.monotonic() + seconds + 300
    while len(raw) < clients and time.monotonic() < limit:
        try:
            raw.append(queue.get(timeout=5))
        except Exception:
            if not any(p.is_alive() for p in procs) and queue.empty():
                break
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.terminate()
    out = []
    for r in raw:
        res = ClientResult(client=r["client"])
        for key, value in r.items():
            setattr(res, key, value)
        res.errors = Counter(r["errors"])
        res.updated = Counter({int(k): v for k, v in r["updated"].items()})
        res.uncertain_updates = Counter({int(k): v for k, v in r["uncertain_updates"].items()})
        res.touched = Counter({int(k): v for k, v in r["touched"].items()})
        res.contested = {int(k): v for k, v in r["contested"].items()}
        out.append(res)
    if len(out) != clients:
        raise RuntimeError(f"only {len(out)} of {clients} clients reported back")
    return out


def check_integrity(target: Target, ids: list[str], results: list[ClientResult]) -> dict[str, Any]:
    """Count, versions, contested phones and the audit chain, checked on the database."""
    from custrec import Actor, KeyRing, Registry

    admin = Actor(id="bench-checker", roles={"admin"})
    auditor = Actor(id="bench-auditor", roles={"auditor"})
    problems: list[str] = []
    store = open_store(target)
    try:
        registry = Registry(store, keyring=KeyRing.from_file(target.key_file))
        intakes = sum(r.intakes for r in results)
        uncertain = sum(r.uncertain_intakes for r in results)
        count = registry.customers.count(actor=admin)
        expected = len(ids) + intakes
        if not expected <= count <= expected + uncertain:
            problems.append(
                f"customer count {count}, expected {expected}"
                + (f" (+ up to {uncertain} uncertain intakes)" if uncertain else "")
            )
        updated: Counter[int] = Counter()
        doubtful: Counter[int] = Counter()
        touched: Counter[int] = Counter()
        for r in results:
            updated.update(r.updated)
            doubtful.update(r.uncertain_updates)
            touched.update(r.touched)
        wrong_versions = 0
        for i in sorted(set(updated) | set(doubtful)):
            version = registry.customers.get(ids[i], actor=admin).version
            low = 1 + updated[i]
            # an activity may move its customer on (the lifecycle rules): a version at most
            if not low <= version <= low + doubtful[i] + touched[i]:
                wrong_versions += 1
                if wrong_versions <= 5:
                    problems.append(
                        f"customer {ids[i]}: version {version} after {updated[i]} updates"
                    )
        if wrong_versions > 5:
            problems.append(f"... {wrong_versions} customers with a wrong version in all")
        slots: dict[int, list[str]] = {}
        for r in results:
            for slot, outcome in r.contested.items():
                slots.setdefault(slot, []).append(outcome)
        shared = 0
        for slot, outcomes in sorted(slots.items()):
            holders = len(registry.customers.find(phone=contested_phone(slot), actor=admin))
            won = outcomes.count("won")
            # never two holders; and as many holders as wins unless an outcome is unknown
            if holders > 1 or won > 1 or (holders != won and "uncertain" not in outcomes):
                problems.append(f"contested phone of slot {slot}: {holders} holders, {won} won")
            if len(outcomes) > 1:
                shared += 1
        denied = sum(r.denied for r in results)
        if denied:
            problems.append(f"{denied} operations were denied (a fault of the benchmark)")
        misses = sum(r.find_misses for r in results)
        if misses:
            problems.append(f"{misses} finds by phone did not return exactly their customer")
        fatal = [r.fatal for r in results if r.fatal]
        problems.extend(f"client failed: {f}" for f in fatal)
        verification = registry.audit.verify(actor=auditor)
        if not verification.ok:
            problems.append(
                f"audit verification failed: {verification.problem} at {verification.seq}"
            )
    finally:
        store.close()
    return {
        "ok": not problems,
        "problems": problems,
        "customers": count,
        "expected_customers": expected,
        "uncertain_intakes": uncertain,
        "customers_updated": len(updated),
        "updates": sum(updated.values()),
        "wrong_versions": wrong_versions,
        "contested_phones": len(slots),
        "contested_by_several_clients": shared,
        "audit_entries_checked": verification.checked,
        "audit_ok": verification.ok,
    }


def summarise(results: list[ClientResult], clients: int) -> dict[str, Any]:
    span = max(r.ended for r in results) - min(r.started for r in results)
    ops = sum(r.ops for r in results)
    kinds: dict[str, dict[str, Any]] = {}
    worst = ("", 0.0)
    over = 0
    for kind in KINDS:
        values = [v for r in results for v in r.latencies[kind]]
        over += sum(1 for v in values if v > 1.0)
        if values and max(values) > worst[1]:
            worst = (kind, max(values))
        kinds[kind] = {
            "count": len(values),
            "p50_ms": percentile(values, 0.50),
            "p99_ms": percentile(values, 0.99),
            "max_ms": 1000 * max(values) if values else None,
            "sealed": sum(r.sealed[kind] for r in results),
        }
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r.errors)
    cpu = sum(r.cpu_seconds for r in results)
    return {
        "clients": clients,
        "operations": ops,
        "seconds": span,
        "ops_per_second": ops / span if span > 0 else 0.0,
        "client_cpu_ms_per_op": 1000 * cpu / ops if ops else None,
        "client_switches_per_op": sum(r.switches for r in results) / ops if ops else None,
        "client_waits_per_op": sum(r.waits for r in results) / ops if ops else None,
        "per_client_ops": [r.ops for r in sorted(results, key=lambda r: r.client)],
        "kinds": kinds,
        "worst": {"kind": worst[0], "ms": 1000 * worst[1]},
        "over_1s": over,
        "errors": dict(errors.most_common()),
        "error_count": sum(errors.values()),
        "retries": {
            "version_conflict": sum(r.version_retries for r in results),
            "storage_retry_safe": sum(r.storage_retries for r in results),
            "updates_given_up": sum(r.updates_given_up for r in results),
        },
        "intakes": {
            "succeeded": sum(r.intakes for r in results),
            "contested_refused_as_duplicate": sum(r.duplicates_refused for r in results),
        },
    }


# --- backends --------------------------------------------------------------------------------


@contextmanager
def postgres_schema(dsn: str, keep: bool) -> Iterator[str]:
    import psycopg

    name = f"bench_load_{secrets.token_hex(6)}"
    try:
        yield name
    finally:
        if keep:
            print(f"[postgres] kept schema {name}", file=sys.stderr)
        else:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'.encode())


def postgres_version(dsn: str) -> str | None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        settings = {
            name: conn.execute(f"SHOW {name}".encode()).fetchone()
            for name in ("fsync", "synchronous_commit", "max_connections")
        }
    described = ", ".join(f"{k}={v[0]}" for k, v in settings.items() if v)
    return f"{row[0]} ({described})" if row else None


def server_processes(dsn: str) -> int | None:
    """The PostgreSQL server's postmaster process id, when it runs on this machine (loopback)
    and /proc shows it; else ``None``."""
    import psycopg

    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            stat = Path(f"/proc/{int(row[0])}/stat").read_text()  # while the backend runs
        return int(stat.rsplit(")", 1)[1].split()[1])  # the backend's parent
    except (OSError, ValueError, IndexError, psycopg.Error):
        return None


def server_cpu_seconds(postmaster: int | None) -> float | None:
    """CPU seconds (user + system) the server's processes used so far: the postmaster's own
    and its exited children's, plus those of its children still running."""
    if postmaster is None:
        return None
    ticks = 0
    try:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry) == postmaster:
                ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
            elif int(fields[1]) == postmaster:
                ticks += int(fields[11]) + int(fields[12])
    except OSError:
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def one_run(
    backend: str, target: Target, ids: list[str], clients: int, args: argparse.Namespace
) -> dict[str, Any]:
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"[{backend}] {clients} client(s) for up to {args.seconds:g} s ...", file=sys.stderr)
    postmaster = server_processes(target.dsn) if target.dsn else None
    server_before = server_cpu_seconds(postmaster)
    results = run_clients(target, ids, clients, args.seconds, args.ops, args.seed)
    server_after = server_cpu_seconds(postmaster)
    summary = summarise(results, clients)
    summary["server_cpu_ms_per_op"] = (
        1000 * (server_after - server_before) / summary["operations"]
        if server_before is not None and server_after is not None and summary["operations"]
        else None
    )
    print(f"[{backend}] {clients} client(s): integrity check ...", file=sys.stderr)
    summary["integrity"] = check_integrity(target, ids, results)
    summary["load_average_before"] = load_before
    if not summary["integrity"]["ok"]:
        for problem in summary["integrity"]["problems"]:
            print(f"INTEGRITY FAILURE [{backend}, {clients} clients]: {problem}", file=sys.stderr)
    return summary


def run_sqlite(args: argparse.Namespace, key_file: str, work: Path) -> dict[str, Any]:
    template = work / "template"
    template.mkdir()
    source = Target("sqlite", key_file, sqlite_path=str(template / "load.sqlite"))
    print(f"[sqlite] pre-loading {args.preload:,} customers ...", file=sys.stderr)
    ids, preload_seconds = preload(source, args.preload)
    runs = []
    for clients in args.clients:
        run_dir = work / f"sqlite-{clients}"
        shutil.copytree(template, run_dir)
        target = Target("sqlite", key_file, sqlite_path=str(run_dir / "load.sqlite"))
        runs.append(one_run("sqlite", target, ids, clients, args))
        shutil.rmtree(run_dir)
    return {"preload_seconds": preload_seconds, "runs": runs}


def run_postgres(args: argparse.Namespace, key_file: str) -> dict[str, Any]:
    runs = []
    preload_seconds = []
    for clients in args.clients:
        with postgres_schema(args.dsn, args.keep) as schema:
            target = Target("postgres", key_file, dsn=args.dsn, schema=schema)
            print(f"[postgres] pre-loading {args.preload:,} customers ...", file=sys.stderr)
            ids, seconds = preload(target, args.preload)
            preload_seconds.append(seconds)
            runs.append(one_run("postgres", target, ids, clients, args))
    return {"preload_seconds": preload_seconds, "runs": runs}


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


def git_commit() -> str | None:
    """The checked-out commit of this repository (a dirty tree is marked), if git is there."""
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


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_table(backend: str, runs: list[dict[str, Any]]) -> None:
    print(f"\n{backend}: p50 / p99 in ms")
    header = f"{'clients':>7} {'ops/s':>7}"
    for kind in KINDS:
        header += f" {kind:>15}"
    header += f" {'worst':>14} {'>1 s':>5} {'errors':>6} {'retries':>7} {'cpu ms/op':>11}"
    header += f" {'cs/op':>6}"
    header += " integrity"
    print(header)
    for run in runs:
        line = f"{run['clients']:>7} {run['ops_per_second']:>7,.0f}"
        for kind in KINDS:
            k = run["kinds"][kind]
            line += f" {fmt(k['p50_ms']) + ' / ' + fmt(k['p99_ms']):>15}"
        worst = f"{run['worst']['ms']:,.0f} {run['worst']['kind']}"
        retries = run["retries"]["version_conflict"] + run["retries"]["storage_retry_safe"]
        client_cpu, server_cpu = run.get("client_cpu_ms_per_op"), run.get("server_cpu_ms_per_op")
        cpu = "-" if client_cpu is None else f"{client_cpu:.2f}"
        if server_cpu is not None:
            cpu += f"+{server_cpu:.2f}"
        switches = run.get("client_switches_per_op")
        line += (
            f" {worst:>14} {run['over_1s']:>5} {run['error_count']:>6} {retries:>7} {cpu:>11} "
            f"{'-' if switches is None else f'{switches:.1f}':>6} "
            f"{'ok' if run['integrity']['ok'] else 'FAILED'}"
        )
        print(line)
    for run in runs:
        shares = [
            f"{kind} {100 * k['sealed'] / k['count']:.1f} %"
            for kind, k in run["kinds"].items()
            if k["count"] and k.get("sealed")
        ]
        if shares:
            print(f"  {run['clients']} clients: sealed the audit queue after: {', '.join(shares)}")
    for run in runs:
        for error, count in run["errors"].items():
            print(f"  {run['clients']} clients: {count} x {error}")


def parse_clients(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("clients must be comma-separated integers") from None
    if not values or any(v < 1 or v > 99 for v in values):
        raise argparse.ArgumentTypeError("each client count must be between 1 and 99")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--clients", type=parse_clients, default=[1, 2, 4, 8, 16])
    parser.add_argument("--preload", type=int, default=20_000, help="customers before the run")
    parser.add_argument("--seconds", type=float, default=90.0, help="time limit of each run")
    parser.add_argument("--ops", type=int, default=1_000_000, help="operations per client")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: $" + " or $".join(DSN_VARIABLES))
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schemas")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgres"}
    if unknown or not backends:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if args.preload < 1 or args.ops < 1 or args.seconds <= 0:
        parser.error("--preload, --ops and --seconds must be positive")
    if args.dsn is None:
        args.dsn = next((os.environ[v] for v in DSN_VARIABLES if os.environ.get(v)), None)
    from custrec.security import generate_key_file

    output: dict[str, Any] = {
        "benchmark": "load",
        "machine": machine(),
        "postgres_server": None,
        "sizes": {
            "preload": args.preload,
            "clients": args.clients,
            "seconds": args.seconds,
            "ops_per_client": args.ops,
            "mix": dict(MIX),
            "hot_customers": HOT,
            "contested_slot_seconds": SLOT_SECONDS,
            "seed": args.seed,
        },
        "backends": {},
    }
    with tempfile.TemporaryDirectory(prefix="custrec-load-") as tmp:
        work = Path(tmp)
        key_file = str(generate_key_file(work / "keys.json"))
        for backend in backends:
            if backend == "sqlite":
                output["backends"]["sqlite"] = run_sqlite(args, key_file, work)
            elif not args.dsn:
                note = "no DSN (--dsn, " + ", ".join(DSN_VARIABLES) + "): PostgreSQL skipped"
                print(f"note: {note}")
                output["backends"]["postgres"] = {"skipped": note}
            else:
                output["postgres_server"] = postgres_version(args.dsn)
                output["backends"]["postgres"] = run_postgres(args, key_file)
    print(
        f"load: {args.preload:,} customers pre-loaded, up to {args.seconds:g} s and "
        f"{args.ops:,} operations per client; {output['machine']['cpus']} CPUs, "
        f"SQLite {output['machine']['sqlite']}"
        + (f", PostgreSQL {output['postgres_server']}" if output["postgres_server"] else "")
    )
    ok = True
    for backend, result in output["backends"].items():
        if "runs" in result:
            print_table(backend, result["runs"])
            ok = ok and all(run["integrity"]["ok"] for run in result["runs"])
    output["integrity_ok"] = ok
    print("\nintegrity: " + ("all checks passed" if ok else "FAILED (see above)"))
    if args.json:
        args.json.write_text(json.dumps(output, indent=2, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
