"""Benchmark: duplicate detection quality and cost on labelled synthetic customers.

    python benchmarks/bench_matching.py [N] [--set hard|default] [--plaintext] [--memory]
                                        [--probes P] [--db PATH [--keys PATH]] [--no-batch]
                                        [--json PATH] [--workers 1|2]

Generates N labelled customers with realistic duplicates (:mod:`custrec.testing.synthetic`:
typos, swapped name order, full-width digits, legal-form variants, changed phones, ...; by
default the *harder* set, ``hard_labelled_customers``, with namesakes, family phones, company
groups sharing a switchboard and an ``info@`` mailbox and copies without their id), takes
them into a fresh SQLite file through ``registry.customers.intake_many`` (keyring on unless
``--plaintext``; duplicates allowed in, as in a legacy database), then

1. runs ``registry.matching.clusters()`` at the default decision (``probable``) and reports
   pairwise precision, recall and F1 against the labels, overall and per case type
   (``case_metrics``), the conflicts refused to keep clusters consistent, and the run's
   CPU-seconds (``time.process_time``, robust to other jobs on the machine), wall seconds and
   peak memory (RSS);
2. runs ``registry.matching.find_duplicates()`` for P fresh variants of stored customers
   (default 1000) and reports p50/p99 latency and how often the right customer came back first.

Default N = 100000 (pass 1000000 for the million run). The issue's goals: precision >= 0.98 and
recall >= 0.95 at the default thresholds on the harder set; 1,000,000 customers clustered in under
3 minutes with peak memory under 1 GB; figures are in docs/matching.md. Not part of
the test suite (tests/integration/test_matching_quality.py checks the quality goal on a smaller
set; ``benchmarks/compare_splink.py`` runs the clustering beside splink on the same rows).
``--db`` keeps the SQLite file (with ``--keys``, the keyring file) so that a second run
with the same N and seed skips the intake; ``--no-batch`` measures only the incremental search.
``--workers 2`` clusters with a second process (``clusters(workers=2)``: blocks scored in both;
with ``--db`` and ``--keys`` also ``reopen``, so that it opens half of the stored customers
with keys it reads from the key file itself).
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import resource
import statistics
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

from custrec import Actor, KeyRing, MemoryStore, PlaintextStorageWarning, Registry, SQLiteStore
from custrec.security.keys import generate_key_file
from custrec.storage import Store
from custrec.testing.synthetic import (
    Label,
    case_metrics,
    hard_labelled_customers,
    labelled_customers,
)

ACTOR = Actor(id="bench", roles={"admin"})


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--plaintext", action="store_true")
    parser.add_argument("--memory", action="store_true", help="MemoryStore instead of SQLite")
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", type=Path, help="keep (or reuse) the SQLite file here")
    parser.add_argument("--keys", type=Path, help="with --db: keep (or reuse) the keyring here")
    parser.add_argument("--no-batch", action="store_true", help="skip the batch clustering run")
    parser.add_argument(
        "--set", choices=("hard", "default"), default="hard", help="which labelled set"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--workers",
        type=int,
        choices=(1, 2),
        default=1,
        help="processes for the batch run (2: scoring shared; with --db and --keys, reading too)",
    )
    parser.add_argument(
        "--cost-only",
        action="store_true",
        help="with an existing --db and --keys: only the batch run's CPU, wall time and peak "
        "memory, in a process that holds nothing else (no labels: no quality figures)",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore", PlaintextStorageWarning)
    if args.cost_only:
        if args.db is None or args.keys is None or not args.db.exists():
            parser.error("--cost-only needs an existing --db and its --keys")
        cost_only(args.db, args.keys, args.workers, args.json)
        return

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.sqlite"
        reuse = args.db is not None and args.db.exists()
        store: Store = MemoryStore() if args.memory else SQLiteStore(db)
        keyring = None
        if not args.plaintext:
            if args.keys is not None:
                if not args.keys.exists():
                    generate_key_file(args.keys)
                keyring = KeyRing.from_file(args.keys)
            else:
                keyring = KeyRing.generate()
        registry = Registry(store, keyring=keyring)
        truth: dict[str, Label] = {}
        by_entity: dict[str, list[str]] = defaultdict(list)
        samples: list[dict[str, Any]] = []
        generate = hard_labelled_customers if args.set == "hard" else labelled_customers
        figures: dict[str, Any] = {"n": args.n, "set": args.set, "seed": args.seed}

        def items() -> Any:
            for n, rec in enumerate(generate(args.n, seed=args.seed)):
                cid = f"r{n:08d}"
                truth[cid] = rec.label
                by_entity[rec.entity].append(cid)
                if len(samples) < 5 * args.probes and rec.variant != "original":
                    samples.append({"entity": rec.entity, "data": rec.data})
                yield {**rec.data, "id": cid}

        marker = db.with_name(db.name + ".bench.json")  # what the store was filled with
        filled = {"n": args.n, "set": args.set, "seed": args.seed}
        if reuse:
            if not marker.exists() or json.loads(marker.read_text()) != filled:
                was = json.loads(marker.read_text()) if marker.exists() else "unknown"
                parser.error(
                    f"{db} holds another labelled set ({was}), not {filled}: pass the same n, "
                    "--set and --seed, or another --db"
                )
            for _ in items():  # the labels only: the store already holds the records
                pass
            print(f"reusing {db} ({len(truth):,} labelled customers)")
        else:
            started = time.perf_counter()
            result = registry.customers.intake_many(
                items(), actor=ACTOR, allow_duplicates=True, batch_size=5000
            )
            load = time.perf_counter() - started
            if args.db is not None:
                marker.write_text(json.dumps(filled))
            print(
                f"stored {len(result.added):,} customers in {load:.0f} s "
                f"({len(result.added) / load:,.0f}/s, {len(result.rejected)} rejected), "
                f"{'plaintext' if keyring is None else 'encrypted'}, "
                f"{'MemoryStore' if args.memory else 'SQLiteStore'}; "
                f"peak RSS {peak_rss_mib():,.0f} MiB"
            )

        if not args.no_batch:
            reopen = None
            if args.workers > 1 and not args.memory and args.keys is not None:
                reopen = functools.partial(open_registry, db, args.keys)
            figures["batch"] = batch(registry, truth, args.workers, reopen)

        # incremental: fresh variants of stored entities, searched before intake
        rng = random.Random(args.seed)
        probes = rng.sample(samples, min(args.probes, len(samples)))
        latencies: list[float] = []
        hits = 0
        for probe in probes:
            started = time.perf_counter()
            try:
                search = registry.matching.find_duplicates(probe["data"], actor=ACTOR)
            except Exception:  # a variant the validator refuses: skip it
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            best = search.best
            found = truth.get(best.customer_id) if best is not None else None
            if found is not None and found.entity == probe["entity"]:
                hits += 1
        latencies.sort()
        if latencies:
            p50 = statistics.median(latencies)
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            print(
                f"incremental: {len(latencies)} searches with {len(truth):,} stored: "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms; "
                f"right customer first in {hits / len(latencies):.1%}"
            )
            figures["incremental"] = {"p50_ms": p50, "p99_ms": p99, "first": hits / len(latencies)}
        store.close()
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))


def cost_only(db: Path, keys: Path, workers: int, out: Path | None) -> None:
    """The batch run alone, in this process: its CPU, wall time and this process's peak RSS
    (the labels the quality figures need are never loaded, so the peak is the run's own)."""
    registry = open_registry(db, keys)
    reopen = functools.partial(open_registry, db, keys) if workers > 1 else None
    run, cpu, kids, seconds, rss_before, kids_rss = timed_run(registry, workers, reopen)
    figures = {
        "records": run.records,
        "clusters": len(run.clusters),
        "cpu_seconds": cpu,
        "worker_cpu_seconds": kids,
        "wall_seconds": seconds,
        "workers": workers,
        "peak_rss_mib": peak_rss_mib(),
        "peak_rss_before_mib": rss_before,
        "worker_peak_rss_mib": kids_rss if workers > 1 else 0.0,
    }
    print(
        f"batch alone: {run.records:,} records, {len(run.clusters):,} clusters in {cpu:.1f} "
        f"CPU-s (+ {kids:.1f} in {workers - 1} more process(es)), {seconds:.1f} s wall; peak "
        f"RSS {figures['peak_rss_mib']:,.0f} MiB (opened: {rss_before:,.0f} MiB"
        + (f"; a second process: {kids_rss:,.0f} MiB)" if workers > 1 else ")")
    )
    if out is not None:
        out.write_text(json.dumps(figures, indent=2))


def open_registry(db: Path, keys: Path) -> Registry:
    """The same registry, opened in a second process of ``clusters(workers=2, reopen=...)``:
    the same SQLite file, keys read from the same key file."""
    warnings.simplefilter("ignore", PlaintextStorageWarning)
    return Registry(SQLiteStore(db), keyring=KeyRing.from_file(keys))


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed_run(
    registry: Registry, workers: int, reopen: Any
) -> tuple[Any, float, float, float, float, float]:
    """A batch run with what it cost: the run, CPU-s here and in the other processes, wall
    seconds, this process's peak RSS before it (MiB) and the other processes' peak RSS."""
    rss_before = peak_rss_mib()
    started, cpu, kids = time.perf_counter(), time.process_time(), children_cpu()
    run = registry.matching.clusters(actor=ACTOR, workers=workers, reopen=reopen)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    kids = children_cpu() - kids
    kids_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return run, cpu, kids, seconds, rss_before, kids_rss


def batch(registry: Registry, truth: dict[str, Label], workers: int, reopen: Any) -> dict[str, Any]:
    run, cpu, kids, seconds, rss_before, kids_rss = timed_run(registry, workers, reopen)
    metrics = case_metrics(run, truth)
    overall = metrics.overall
    print(
        f"batch: {run.records:,} records, {run.blocks:,} blocks, "
        f"{run.comparisons_planned:,} comparisons planned, {run.comparisons:,} made, "
        f"{len(run.stop_keys)} stop keys, {len(run.clusters):,} clusters, "
        f"{len(run.conflicts):,} links refused as conflicts, in {cpu:.1f} CPU-s "
        f"(+ {kids:.1f} CPU-s in {workers - 1} more process(es); {seconds:.1f} s wall); "
        f"peak RSS {peak_rss_mib():,.0f} MiB (before: {rss_before:,.0f} MiB; a second "
        f"process: {kids_rss:,.0f} MiB)"
    )
    print(
        f"quality: precision {overall.precision:.4f}, recall {overall.recall:.4f}, "
        f"F1 {overall.f1:.4f} (TP {overall.true_positives:,}, FP {overall.false_positives:,}, "
        f"FN {overall.false_negatives:,})"
    )
    print(metrics.table())
    for stop in run.stop_keys[:5]:
        print(f"  stop key {stop.kind} shared by {stop.records:,} records")
    return {
        "cpu_seconds": cpu,
        "worker_cpu_seconds": kids,
        "workers": workers,
        "wall_seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "comparisons": run.comparisons,
        "conflicts": len(run.conflicts),
        "precision": overall.precision,
        "recall": overall.recall,
        "by_case": {
            case: {"precision": m.precision, "recall": m.recall}
            for case, m in metrics.by_case.items()
        },
    }


if __name__ == "__main__":
    main()
