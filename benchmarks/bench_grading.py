"""Benchmark: fit and grade N summaries with the RFM, Pareto and star policies, beside pandas.

Run on demand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_grading.py            # 1,000,000 summaries
    .venv/bin/python benchmarks/bench_grading.py -n 100000 --repeats 5 --json grading.json

For each policy, on the same generated summaries and in the same run, it measures "fit + grade
everyone" by

- ``custrec (pure Python)``: ``policy.fit(summaries, as_of=...).grade_many(summaries, as_of=...)``
  with the numpy kernels switched off, as on an install without the ``numeric`` extra;
- ``custrec + numpy``: the same calls on the numpy kernels (the ``numeric`` extra);
- ``pandas``: the same cut rule written the usual pandas way (``rank(method="max")``, ``cumsum``),
  a benchmark-only peer from the ``bench`` extra. It starts from the same ``ActivitySummary``
  objects (reading them into columns is part of its time, as it is of custrec's) and reads amounts
  as floats, where custrec keeps them exact.

Each figure is the median CPU time (``time.process_time``) of ``--repeats`` runs; within a repeat
the implementations alternate, so drifting machine load hits them alike. Both sides produce a label
and a score per summary; custrec builds each explained ``Grade`` only when it is read, so reading
grades is not timed (``--per-summary`` times one ``grade()`` call per summary, the path before
``grade_many``, once). The summaries graded are the ones just fitted, in the same order, as in
``registry.grading.regrade``: Pareto and star grading reuse the ranks found while fitting there.
The labels of the peer are compared with custrec's and the agreement is printed. ``--json PATH``
writes the machine, the Python version, the sizes, every figure and the ratios.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from custrec.grading import (
    STAR_LABELS,
    ActivitySummary,
    ParetoPolicy,
    RFMPolicy,
    StarPolicy,
    rfm_segment,
)
from custrec.grading._engine import forced, numpy_available

AS_OF = datetime(2024, 7, 1, tzinfo=UTC)
BINS = 5
BREAKPOINTS = (0.80, 0.95)
STAR_WEIGHTS = (0.6, 0.4)
STAR_CUTS = (0.2, 0.4, 0.6, 0.8)

Labels = Sequence[str]
Run = Callable[[list[ActivitySummary]], Labels]


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


# --- custrec ---------------------------------------------------------------------------------

POLICIES: dict[str, Any] = {
    "rfm": RFMPolicy(bins=BINS),
    "pareto": ParetoPolicy(basis="value", breakpoints=BREAKPOINTS),
    "stars": StarPolicy(amount_weight=STAR_WEIGHTS[0], frequency_weight=STAR_WEIGHTS[1]),
}


def custrec_run(policy_name: str, engine: str) -> Run:
    policy = POLICIES[policy_name]

    def run(summaries: list[ActivitySummary]) -> Labels:
        with forced(engine):  # type: ignore[arg-type]
            grades = policy.fit(summaries, as_of=AS_OF).grade_many(summaries, as_of=AS_OF)
        assert len(grades.scores) == len(summaries)
        labels: Labels = grades.labels
        return labels

    return run


def per_summary_run(policy_name: str) -> Run:
    policy = POLICIES[policy_name]

    def run(summaries: list[ActivitySummary]) -> Labels:
        fitted = policy.fit(summaries, as_of=AS_OF)
        return [fitted.grade(s, as_of=AS_OF).label for s in summaries]

    return run


# --- pandas peers: the same cut rules, the usual pandas way ------------------------------------


def pandas_rfm(summaries: list[ActivitySummary]) -> Labels:
    import numpy as np
    import pandas as pd

    lasts = [s.last_purchase_at for s in summaries]
    frame = pd.DataFrame(
        {
            "recency": [-1 if last is None else (AS_OF - last).days for last in lasts],
            "frequency": [s.purchase_count for s in summaries],
            "monetary": [float(s.total_spent) for s in summaries],
        }
    )
    buyers = frame[frame["recency"] >= 0]
    n = len(buyers)
    # score = ceil(bins * #{population: value on the worse side or equal} / n)
    r = np.ceil(BINS * buyers["recency"].rank(method="max", ascending=False) / n).astype(int)
    f = np.ceil(BINS * buyers["frequency"].rank(method="max") / n).astype(int)
    m = np.ceil(BINS * buyers["monetary"].rank(method="max") / n).astype(int)
    table = ["no purchases"] * (BINS + 1) ** 3
    for rr in range(1, BINS + 1):
        for ff in range(1, BINS + 1):
            for mm in range(1, BINS + 1):
                table[(rr * (BINS + 1) + ff) * (BINS + 1) + mm] = rfm_segment(rr, ff, mm, bins=BINS)
    codes = np.zeros(len(frame), dtype=np.int64)
    codes[buyers.index.to_numpy()] = ((r * (BINS + 1) + f) * (BINS + 1) + m).to_numpy()
    scores = np.ones(len(frame))
    scores[buyers.index.to_numpy()] = ((r + f + m) / 3).to_numpy()
    labels: Labels = np.array(table, dtype=object)[codes]
    return labels


def pandas_pareto(summaries: list[ActivitySummary]) -> Labels:
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(
        {
            "customer_id": [s.customer_id for s in summaries],
            "total": [float(s.total_spent) for s in summaries],
        }
    )
    ordered = frame.sort_values(["total", "customer_id"], ascending=[False, True])
    total = ordered["total"].sum()
    before = ordered["total"].cumsum() - ordered["total"]
    share = before / total if total > 0 else pd.Series(1.0, index=ordered.index)
    classes = np.searchsorted(np.array(BREAKPOINTS), share.to_numpy(), side="right")
    labels_sorted = np.array(["A", "B", "C"], dtype=object)[classes]
    labels = np.empty(len(frame), dtype=object)
    labels[ordered.index.to_numpy()] = labels_sorted
    scores = np.empty(len(frame))
    scores[ordered.index.to_numpy()] = share.to_numpy()
    result: Labels = labels
    return result


def pandas_stars(summaries: list[ActivitySummary]) -> Labels:
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(
        {
            "total": [float(s.total_spent) for s in summaries],
            "count": [s.purchase_count for s in summaries],
        }
    )
    n = len(frame)
    amount = np.where(frame["total"] > 0, frame["total"].rank(method="max") / n, 0.0)
    frequency = np.where(frame["count"] > 0, frame["count"].rank(method="max") / n, 0.0)
    wa, wq = (w / sum(STAR_WEIGHTS) for w in STAR_WEIGHTS)
    combined = wa * amount + wq * frequency
    stars = np.searchsorted(np.array(STAR_CUTS), combined, side="right")
    labels: Labels = np.array(STAR_LABELS, dtype=object)[stars]
    return labels


PANDAS: dict[str, Run] = {"rfm": pandas_rfm, "pareto": pandas_pareto, "stars": pandas_stars}


# --- measuring ------------------------------------------------------------------------------


def cpu_seconds(run: Run, summaries: list[ActivitySummary]) -> tuple[float, Labels]:
    start = time.process_time()
    labels = run(summaries)
    return time.process_time() - start, labels


def agreement(a: Labels, b: Labels) -> float:
    same = sum(1 for x, y in zip(a, b, strict=True) if x == y)
    return same / len(a) if len(a) else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="number of summaries")
    parser.add_argument("--seed", type=int, default=20240701)
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--policies", default="rfm,pareto,stars", help="comma-separated")
    parser.add_argument("--per-summary", action="store_true", help="also time grade() per summary")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    args = parser.parse_args()
    policies = [p for p in args.policies.split(",") if p]

    try:
        import pandas
    except ImportError:
        pandas = None
    have_numpy = numpy_available()
    machine = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": __import__("numpy").__version__ if have_numpy else None,
        "pandas": pandas.__version__ if pandas is not None else None,
    }
    print(
        f"custrec grading benchmark: n={args.n:,}, median of {args.repeats} runs (CPU seconds); "
        f"Python {machine['python']}; {machine['cpu']}, {machine['cores']} cores; "
        f"numpy {machine['numpy']}, pandas {machine['pandas']}",
        flush=True,
    )
    start = time.process_time()
    summaries = generate(args.n, args.seed)
    print(f"generated {args.n:,} summaries in {time.process_time() - start:.2f} s", flush=True)

    results: dict[str, Any] = {}
    header = f"{'policy':<8} {'implementation':<28} {'fit + grade':>12} {'vs pandas':>10}  labels"
    print(header)
    print("-" * len(header))
    for name in policies:
        runs: dict[str, Run] = {"custrec (pure Python)": custrec_run(name, "python")}
        if have_numpy:
            runs["custrec + numpy"] = custrec_run(name, "numpy")
        if pandas is not None:
            runs["pandas"] = PANDAS[name]
        times: dict[str, list[float]] = {key: [] for key in runs}
        labels: dict[str, Labels] = {}
        for _ in range(args.repeats):
            for key, run in runs.items():
                seconds, labels[key] = cpu_seconds(run, summaries)
                times[key].append(seconds)
        if args.per_summary:
            seconds, labels["custrec grade() per summary"] = cpu_seconds(
                per_summary_run(name), summaries
            )
            times["custrec grade() per summary"] = [seconds]
        medians = {key: statistics.median(values) for key, values in times.items()}
        base = labels["custrec (pure Python)"]
        peer = medians.get("pandas")
        entry: dict[str, Any] = {}
        for key, median in medians.items():
            ratio = median / peer if peer else math.nan
            same = agreement(base, labels[key])
            entry[key] = {
                "cpu_seconds_median": median,
                "cpu_seconds_runs": times[key],
                "ratio_to_pandas": ratio,
                "label_agreement_with_custrec": same,
            }
            shown_ratio = f"{ratio:9.2f}x" if peer else f"{'-':>10}"
            print(
                f"{name:<8} {key:<28} {median:10.2f} s {shown_ratio}  {same:.4%} equal",
                flush=True,
            )
        results[name] = entry
    if args.json:
        document = {
            "benchmark": "grading fit + grade",
            "machine": machine,
            "sizes": {"summaries": args.n, "repeats": args.repeats, "seed": args.seed},
            "as_of": AS_OF.isoformat(),
            "figures": results,
        }
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    sys.exit(main())
