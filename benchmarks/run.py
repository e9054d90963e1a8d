"""Run every performance benchmark with one command and collect one JSON of results.

    python benchmarks/run.py                 # the sizes of the performance goals (long)
    python benchmarks/run.py --quick         # small sizes: checks that everything runs
    python benchmarks/run.py --only core,grading --out results.json
    python benchmarks/run.py --only load     # optional: concurrent clients, SQLite and PostgreSQL
    python benchmarks/run.py --only workflow # optional: due lists on 5,500,000 cases and tasks
    python benchmarks/run.py --only search   # optional: grouped counts and name search, 1,000,000

Each benchmark runs in its own process (so that peak memory is its own) and writes its figures,
with the machine, the Python version and the sizes, beside the floor or peer measured in the
same run; this script gathers them under one key per benchmark in ``--out`` (default
``benchmarks/results.json``) and prints each benchmark's table as it goes. docs/performance.md
explains the figures and what dominates each path.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

# name -> (script, arguments at the goals' sizes, arguments for --quick)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "core": (
        "bench_core.py",
        ["-n", "200000", "--repeat", "3", "--stored", "1000000"],
        ["-n", "5000", "--repeat", "1", "--stored", "2000"],
    ),
    "validation": (
        "bench_validation.py",
        [],
        ["--customers", "500", "--vectors", "2000", "--repeat", "1"],
    ),
    "grading": ("bench_grading.py", ["-n", "1000000"], ["-n", "20000", "--repeats", "1"]),
    "import": ("bench_import.py", ["1000000"], ["5000"]),
    "workflow": (
        "bench_workflow.py",
        ["--customers", "1000000", "--tasks", "5000000", "--cases", "500000"],
        ["--customers", "20000", "--tasks", "100000", "--cases", "10000", "--budget", "10"],
    ),
    "load": (
        "bench_load.py",
        [],
        ["--preload", "500", "--clients", "1,2", "--seconds", "5", "--ops", "200"],
    ),
    "search": (
        "bench_search.py",
        ["--customers", "1000000", "--repeat", "3", "--searches", "200"],
        ["--customers", "20000", "--repeat", "1", "--searches", "20"],
    ),
}

# run only when named with --only (they take long, or need a PostgreSQL server to say much;
# workflow builds 5,500,000 work rows first: about 9 minutes, 12-13 in all; search builds
# 1,000,000 customers in SQLite and, with a DSN, in PostgreSQL)
OPTIONAL = frozenset({"load", "search", "workflow"})


def run(name: str, quick: bool) -> dict[str, Any]:
    script, full, small = BENCHMARKS[name]
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / f"{name}.json"
        command = [sys.executable, str(HERE / script), *(small if quick else full)]
        command += ["--json", str(target)]
        print(f"$ {' '.join(command[1:])}", flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True)
        result: dict[str, Any] = json.loads(target.read_text())
    result["wall_seconds_total"] = time.perf_counter() - start
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument(
        "--only",
        help="comma-separated names: "
        + ", ".join(BENCHMARKS)
        + " (default: all but the optional "
        + ", ".join(sorted(OPTIONAL))
        + ")",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else [n for n in BENCHMARKS if n not in OPTIONAL]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "quick": args.quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "benchmarks": {},
    }
    for name in names:
        results["benchmarks"][name] = run(name, args.quick)
        args.out.write_text(json.dumps(results, indent=2))
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
