"""Benchmark: bulk loading and server-side summaries, SQLite and PostgreSQL side by side.

Run on demand (not part of the test suite)::

    eval "$(bash .ci/pg-start)"                      # or point CUSTREC_TEST_POSTGRES_DSN anywhere
    .venv/bin/python benchmarks/bench_storage.py                     # 1,000,000 / 10,000,000
    .venv/bin/python benchmarks/bench_storage.py -n 200000 -m 2000000
    bash .ci/pg-stop

Works directly on the storage protocol, the way an import job does: N customers through
``customers.add_many`` and M transactions through ``activities.add_many``, in chunks of
``--chunk`` rows (default 10,000), one committed unit of work per chunk; then every customer's
purchase summary through ``activities.summaries``, paged by ``--page`` customers (default 1,000,
the registry's batch size), one read-only session per page. Payloads are opaque random bytes of
300-600 bytes (sealed documents are about that size), customers carry 2-3 index keys and 0-2
tags, transactions are spread uniformly over customers and three years, 90 % in CNY.

Rows are generated chunk by chunk from a fixed seed (the same rows for both backends), and only
the storage calls are timed: rows/s is rows divided by the seconds spent inside the storage
calls. The PostgreSQL run uses a fresh schema that is dropped afterwards (``--keep`` keeps it);
the SQLite run a file in a temporary directory (or ``--sqlite-path``).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from custrec.backends import SQLiteStore
from custrec.storage import ActivityRow, CustomerRow, Store

EPOCH = datetime(2021, 7, 1, tzinfo=UTC)
AS_OF = datetime(2024, 7, 1, tzinfo=UTC)
SPAN_SECONDS = int((AS_OF - EPOCH).total_seconds())
STAGES = ("lead", "prospect", "active", "active", "active", "dormant", "churned")
TEAMS = tuple(f"team-{i}" for i in range(10))
OWNERS = tuple(f"staff-{i}" for i in range(50))
GRADES = ("A", "B", "C", "D", None)
TAGS = ("vip", "b2b", "export", "risk", "new")
INDEX_KINDS = ("phone", "email", "ric", "uscc")


def uuid7(ms: int, rng: random.Random) -> str:
    """A UUIDv7 string for millisecond ``ms`` with random bits (strings sort by ``ms``)."""
    value = (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62)
    return str(uuid.UUID(int=value | rng.getrandbits(62)))


def customer_ids(n: int, seed: int) -> list[str]:
    """N increasing customer ids (one per simulated millisecond)."""
    rng = random.Random(seed)
    base = int(EPOCH.timestamp() * 1000)
    return [uuid7(base + i, rng) for i in range(n)]


def customer_chunks(ids: list[str], chunk: int, seed: int) -> Iterator[list[CustomerRow]]:
    rng = random.Random(seed + 1)
    for start in range(0, len(ids), chunk):
        rows = []
        for customer_id in ids[start : start + chunk]:
            created = EPOCH + timedelta(seconds=rng.randrange(SPAN_SECONDS))
            keys = {
                f"{kind}:{rng.randbytes(16).hex()}"
                for kind in rng.sample(INDEX_KINDS, rng.randint(2, 3))
            }
            rows.append(
                CustomerRow(
                    id=customer_id,
                    payload=rng.randbytes(rng.randint(300, 600)),
                    index_keys=frozenset(keys),
                    kind="individual" if rng.random() < 0.8 else "organization",
                    stage=rng.choice(STAGES),
                    owner=rng.choice(OWNERS),
                    team=rng.choice(TEAMS),
                    grade=rng.choice(GRADES),
                    tags=tuple(rng.sample(TAGS, rng.randint(0, 2))),
                    created_at=created,
                    updated_at=created,
                )
            )
        yield rows


def transaction_chunks(
    ids: list[str], m: int, chunk: int, seed: int
) -> Iterator[list[ActivityRow]]:
    rng = random.Random(seed + 2)
    base = int(AS_OF.timestamp() * 1000)
    made = 0
    while made < m:
        size = min(chunk, m - made)
        rows = []
        for i in range(size):
            rows.append(
                ActivityRow(
                    id=uuid7(base + made + i, rng),
                    customer_id=rng.choice(ids),
                    kind="transaction",
                    occurred_at=EPOCH + timedelta(microseconds=rng.randrange(SPAN_SECONDS * 10**6)),
                    amount=Decimal(rng.randint(-2_000, 500_000)).scaleb(-2),
                    currency="CNY" if rng.random() < 0.9 else "USD",
                    payload=rng.randbytes(rng.randint(300, 600)),
                )
            )
        made += size
        yield rows


class Timer:
    """Accumulates the seconds spent inside timed calls."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def run(self, call: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            return call()
        finally:
            self.seconds += time.perf_counter() - start


def load(store: Store, chunks: Iterator[list[Any]], table: str, total: int, label: str) -> float:
    timer = Timer()
    done = 0
    for rows in chunks:

        def write(rows: list[Any] = rows) -> None:
            with store.transaction() as session:
                inserted = getattr(session, table).add_many(rows)
                session.commit()
            assert inserted == len(rows), f"{table}: {inserted} of {len(rows)} inserted"

        timer.run(write)
        done += len(rows)
        progress(label, done, total)
    return timer.seconds


def summarise(store: Store, page: int, label: str, customers: int) -> tuple[float, int, int]:
    """Page through every customer's summaries; return seconds, summaries and customers."""
    start = time.perf_counter()
    after: str | None = None
    summaries = covered = 0
    while True:
        with store.transaction(readonly=True) as session:
            batch = session.activities.summaries(as_of=AS_OF, after=after, limit=page)
        if not batch:
            break
        summaries += len(batch)
        covered += len({s.customer_id for s in batch})
        after = batch[-1].customer_id
        progress(label, covered, customers)
    return time.perf_counter() - start, summaries, covered


def progress(label: str, done: int, total: int) -> None:
    if sys.stderr.isatty():
        print(f"\r  {label}: {done:,}/{total:,}", end="", file=sys.stderr, flush=True)
        if done >= total:
            print(file=sys.stderr)


def run_backend(name: str, store: Store, args: argparse.Namespace) -> dict[str, Any]:
    ids = customer_ids(args.customers, args.seed)
    print(f"[{name}] loading {args.customers:,} customers ...", file=sys.stderr)
    customers_s = load(
        store,
        customer_chunks(ids, args.chunk, args.seed),
        "customers",
        args.customers,
        f"{name} customers",
    )
    print(f"[{name}] loading {args.transactions:,} transactions ...", file=sys.stderr)
    transactions_s = load(
        store,
        transaction_chunks(ids, args.transactions, args.chunk, args.seed),
        "activities",
        args.transactions,
        f"{name} transactions",
    )
    print(f"[{name}] summaries ...", file=sys.stderr)
    summaries_s, summaries, covered = summarise(store, args.page, f"{name} summaries", len(ids))
    return {
        "customers_s": customers_s,
        "transactions_s": transactions_s,
        "summaries_s": summaries_s,
        "summaries": summaries,
        "covered": covered,
    }


def run_sqlite(args: argparse.Namespace) -> dict[str, Any]:
    workdir = None
    if args.sqlite_path:
        path = Path(args.sqlite_path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        workdir = tempfile.mkdtemp(prefix="custrec-bench-")
        path = Path(workdir) / "bench.sqlite"
    store = SQLiteStore(path)
    try:
        result = run_backend("sqlite", store, args)
    finally:
        store.close()
    result["size"] = sum(
        Path(f"{path}{suffix}").stat().st_size
        for suffix in ("", "-wal")
        if Path(f"{path}{suffix}").exists()
    )
    result["settings"] = "WAL, synchronous=NORMAL (SQLiteStore defaults)"
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def run_postgres(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    from custrec.backends import PostgresStore

    schema = f"bench_{os.getpid()}_{int(time.time())}"
    store = PostgresStore(args.dsn, schema=schema, max_size=2)
    try:
        result = run_backend("postgres", store, args)
        # Right after a bulk load the visibility map is unset, so the summaries' index-only
        # scan still visits the heap; autovacuum fixes that within minutes, VACUUM at once.
        print("[postgres] VACUUM (ANALYZE) ...", file=sys.stderr)
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            start = time.perf_counter()
            for table in ("customers", "customer_index", "customer_tags", "activities"):
                conn.execute(f'VACUUM (ANALYZE) "{schema}".{table}'.encode())
            result["vacuum_s"] = time.perf_counter() - start
        print("[postgres] summaries after VACUUM ...", file=sys.stderr)
        result["summaries_vacuumed_s"], _, _ = summarise(
            store, args.page, "postgres summaries", args.customers
        )
    finally:
        store.close()
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema,),
        ).fetchone()
        result["size"] = int(row[0]) if row else 0
        settings = [
            f"{name}={conn.execute(f'SHOW {name}'.encode()).fetchone()[0]}"  # type: ignore[index]
            for name in ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers")
        ]
        result["settings"] = f"{conn.info.parameter_status('server_version')}, " + ", ".join(
            settings
        )
        if args.keep:
            print(f"[postgres] kept schema {schema}", file=sys.stderr)
        else:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())
    return result


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    names = list(results)
    print(
        f"\ncustrec storage benchmark: {args.customers:,} customers, "
        f"{args.transactions:,} transactions, chunks of {args.chunk:,}, summary pages of "
        f"{args.page:,} customers"
    )
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    for name in names:
        print(f"{name}: {results[name]['settings']}")
    header = f"{'phase':<24}" + "".join(f"{n + ' s':>14}{n + ' rows/s':>18}" for n in names)
    print("\n" + header)
    print("-" * len(header))
    phases = (
        ("customers.add_many", "customers_s", args.customers),
        ("activities.add_many", "transactions_s", args.transactions),
        ("activities.summaries", "summaries_s", args.customers),
        ("VACUUM (ANALYZE)", "vacuum_s", None),
        ("summaries after VACUUM", "summaries_vacuumed_s", args.customers),
    )
    for label, key, rows in phases:
        if not any(key in results[name] for name in names):
            continue
        line = f"{label:<24}"
        for name in names:
            seconds = results[name].get(key)
            if seconds is None:
                line += f"{'-':>14}{'-':>18}"
            elif rows is None:
                line += f"{seconds:>14.1f}{'-':>18}"
            else:
                line += f"{seconds:>14.1f}{rows / seconds if seconds else 0:>18,.0f}"
        print(line)
    print(
        "(summaries: rows/s counts customers summarised; "
        + ", ".join(
            f"{n}: {results[n]['summaries']:,} summaries for {results[n]['covered']:,} customers"
            for n in names
        )
        + ")"
    )
    print("database size: " + ", ".join(f"{n} {results[n]['size'] / 2**30:.2f} GiB" for n in names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--customers", type=int, default=1_000_000)
    parser.add_argument("-m", "--transactions", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="rows per add_many call")
    parser.add_argument("--page", type=int, default=1_000, help="customers per summaries call")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres"
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get("CUSTREC_TEST_POSTGRES_DSN"),
        help="PostgreSQL DSN (default: $CUSTREC_TEST_POSTGRES_DSN)",
    )
    parser.add_argument("--sqlite-path", help="SQLite file to (re)create (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.transactions < 0 or args.chunk < 1 or args.page < 1:
        parser.error("sizes must be positive")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    if "postgres" in backends and not args.dsn:
        parser.error("PostgreSQL needs --dsn or CUSTREC_TEST_POSTGRES_DSN (bash .ci/pg-start)")
    runners = {"sqlite": run_sqlite, "postgres": run_postgres}
    results = {name: runners[name](args) for name in backends}
    report(args, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
