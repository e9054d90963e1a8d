"""Benchmark: fit and grade N generated activity summaries with RFMPolicy and ParetoPolicy.

Run on demand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_grading.py            # 1,000,000 summaries
    .venv/bin/python benchmarks/bench_grading.py -n 100000 --tracemalloc

Prints wall-clock seconds per phase and the process's peak resident memory after each phase
(``resource.getrusage``). With ``--tracemalloc`` it also prints the peak Python allocation of
each phase (fit/grade), at the cost of a much slower run; the seconds are then not comparable.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from custrec.grading import ActivitySummary, GradingPolicy, ParetoPolicy, RFMPolicy

AS_OF = datetime(2024, 7, 1, tzinfo=UTC)


def generate(n: int, seed: int) -> list[ActivitySummary]:
    """N summaries: 5% prospects, the rest with skewed counts and spend over two years."""
    rng = random.Random(seed)
    summaries: list[ActivitySummary] = []
    for i in range(n):
        customer_id = f"c{i:08d}"
        if rng.random() < 0.05:
            summaries.append(ActivitySummary.empty(customer_id))
            continue
        count = 1 + int(rng.expovariate(1 / 4))
        last = AS_OF - timedelta(days=rng.randrange(730), seconds=rng.randrange(86_400))
        first = last - timedelta(days=rng.randrange(365) if count > 1 else 0)
        cents = int(rng.paretovariate(1.2) * 5_000 * count)
        if rng.random() < 0.01:
            cents = -cents // 10  # refund-heavy
        summaries.append(
            ActivitySummary(
                customer_id=customer_id,
                first_purchase_at=first,
                last_purchase_at=last,
                purchase_count=count,
                total_spent=Decimal(cents).scaleb(-2),
            )
        )
    return summaries


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo when available."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@contextmanager
def phase(name: str, *, traced: bool) -> Iterator[None]:
    if traced:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    line = f"{name:<28} {seconds:8.2f} s   peak RSS {peak_rss_mib():6.0f} MiB"
    if traced:
        current, peak = tracemalloc.get_traced_memory()
        mib = 2**20
        line += (
            f"   traced: peak {peak / mib:4.0f} MiB, phase peak +{(peak - before) / mib:.0f} MiB,"
            f" retained +{(current - before) / mib:.0f} MiB"
        )
    print(line, flush=True)


def grade_everyone(
    policy: GradingPolicy, summaries: list[ActivitySummary], grade_as_of: datetime
) -> Counter[str]:
    labels: Counter[str] = Counter()
    for summary in summaries:
        labels[policy.grade(summary, as_of=grade_as_of).label] += 1
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="number of summaries")
    parser.add_argument("--seed", type=int, default=20240701)
    parser.add_argument("--tracemalloc", action="store_true", help="also trace allocations")
    args = parser.parse_args()
    traced: bool = args.tracemalloc
    if traced:
        tracemalloc.start()

    print(
        f"custrec grading benchmark: n={args.n:,}; Python {platform.python_version()}; "
        f"{cpu_model()}, {os.cpu_count()} cores"
    )
    with phase(f"generate {args.n:,} summaries", traced=traced):
        summaries = generate(args.n, args.seed)

    with phase("RFMPolicy.fit", traced=traced):
        rfm = RFMPolicy().fit(summaries, as_of=AS_OF)
    with phase("RFM grade all", traced=traced):
        rfm_labels = grade_everyone(rfm, summaries, AS_OF)
    print(f"  fitted on {rfm.population_size:,}; segments: {dict(rfm_labels.most_common())}")

    with phase("ParetoPolicy.fit", traced=traced):
        pareto = ParetoPolicy(basis="value").fit(summaries, as_of=AS_OF)
    with phase("Pareto grade all", traced=traced):
        pareto_labels = grade_everyone(pareto, summaries, AS_OF)
    print(f"  fitted on {pareto.population_size:,}; classes: {dict(sorted(pareto_labels.items()))}")


if __name__ == "__main__":
    main()
