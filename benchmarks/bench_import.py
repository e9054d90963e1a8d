"""Benchmark: a legacy-file import into encrypted SQLite, with one and two workers, next to
the bare floor.

    python benchmarks/bench_import.py [N] [--json PATH] [--phases import-1,import-2,floor]
                                      [--cache-mib MIB]

N defaults to 1,000,000. Writes N generated legacy rows (GB18030, Chinese headers, full-width
digits in some phones, amounts like "¥12,800.00" and "1.5万", three date formats) to a
temporary CSV file, then runs each phase in a fresh subprocess, so that peak memory is measured
per phase:

- ``import-W``: ``open_source`` + ``plan_import(dry_run=False)`` into a keyed ``SQLiteStore``
  (``cache_mib=MIB``, default 64, the store's default) with
  ``ImportPolicy(batch_size=5000, workers=W)``: mapping and ``parse_customer`` (in W
  spawned worker processes when W > 1), duplicate checks in the file and against the store,
  ``registry.customers.intake_many`` (per-customer data keys, AES-GCM, HMAC blind indexes,
  history, chained audit);
- ``floor``: the same rows read with ``csv``, the phone through ``phonenumbers`` (E.164), the
  e-mail through ``email-validator``, a random data key wrapped with AES-GCM and the row's
  JSON encrypted with it, then inserted with ``sqlite3`` (one transaction per 5000 rows):
  the least any encrypted import of these rows has to do.

It prints, per phase, wall seconds, rows/s, CPU seconds (the importing process plus its
workers) and CPU milliseconds a row (the importing process, + the workers), the peak resident
memory of the importing process and of the largest worker
(``ru_maxrss`` of ``RUSAGE_SELF`` and ``RUSAGE_CHILDREN``), their sum with every worker (an
upper bound: the peaks need not coincide), and the memory of an idle interpreter with the
same imports. ``--json PATH`` writes the same figures with the machine
(platform, cores, Python version, load average before and after the run) and the sizes. Not
part of the test suite. Figures: docs/import-export.md, "Speed".
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HEADERS = ["客户编号", "姓名", "性别", "手机", "邮箱", "客户类型", "城市", "合同金额", "签约日期"]
MAPPING = {
    "defaults": {"kind": "individual"},
    "date_formats": ["%Y/%m/%d", "%Y-%m-%d", "%Y年%m月%d日"],
    "columns": {
        "客户编号": "identifiers[EXTERNAL:legacy-crm]",
        "姓名": "name",
        "性别": {"field": "gender", "values": {"男": "male", "女": "female"}},
        "手机": "contacts[0].phones[0]",
        "邮箱": "contacts[0].emails[0]",
        "客户类型": {"field": "stage", "values": {"潜在客户": "prospect", "成交客户": "active"}},
        "城市": "addresses[0].city",
        "合同金额": "milestones.contract_amount",
        "签约日期": "milestones.contract_signed_on",
    },
}
CHUNK = 5000


def write_rows(path: Path, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    surnames = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨"
    wide = str.maketrans("0123456789", "０１２３４５６７８９")
    with path.open("w", encoding="gb18030", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADERS)
        for i in range(n):
            phone = f"13{rng.randrange(5, 10)}{i:08d}"
            amount = rng.randrange(1, 90_000) * 10
            writer.writerow(
                [
                    f"L{i:08d}",
                    rng.choice(surnames) + f"客户{i}",
                    rng.choice("男女"),
                    phone.translate(wide) if i % 7 == 0 else phone,
                    f"c{i}@example.com",
                    rng.choice(("潜在客户", "成交客户")),
                    rng.choice(("北京", "上海", "深圳")),
                    rng.choice((f"¥{amount:,}.00", f"{amount / 10_000}万", str(amount))),
                    rng.choice(("2023/05/06", "2023-11-02", "2024年1月15日")),
                ]
            )


def peak_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory in MiB of this process (``RUSAGE_SELF``) or of the largest child
    waited for (``RUSAGE_CHILDREN``); ru_maxrss is KiB on Linux, bytes on macOS."""
    peak = resource.getrusage(who).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def phase_import(source: Path, workdir: Path, workers: int, cache_mib: int) -> dict[str, Any]:
    from custrec import Actor, KeyRing, Registry, SQLiteStore
    from custrec.interchange import (
        ImportMapping,
        ImportPolicy,
        Outcome,
        open_source,
        plan_import,
    )

    idle = peak_mib()
    store = SQLiteStore(workdir / f"import-{workers}.sqlite", cache_mib=cache_mib)
    registry = Registry(store, keyring=KeyRing.generate())
    start, cpu = time.perf_counter(), cpu_seconds()
    with open_source(source) as rows:
        report = plan_import(
            rows,
            ImportMapping.from_dict(MAPPING),
            registry,
            actor=Actor(id="bench", roles={"admin"}),
            import_id="bench",
            policy=ImportPolicy(batch_size=CHUNK, workers=workers),
            dry_run=False,
        )
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds() - cpu
    store.close()
    if report.counts[Outcome.CREATED] != report.rows:
        raise SystemExit(f"unexpected import outcome: {report.render(max_issues=5)}")
    return {
        "rows": report.rows,
        "seconds": elapsed,
        "cpu": cpu,
        "worker_cpu": cpu_seconds(resource.RUSAGE_CHILDREN),  # the workers, joined at the end
        "peak": peak_mib(),
        "worker_peak": peak_mib(resource.RUSAGE_CHILDREN) if workers > 1 else 0.0,
        "workers": workers,
        "idle": idle,
        "cache_mib": cache_mib,
    }


def phase_floor(source: Path, workdir: Path) -> dict[str, Any]:
    import sqlite3

    import phonenumbers
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from email_validator import validate_email

    idle = peak_mib()
    cpu = cpu_seconds()
    master = AESGCM(AESGCM.generate_key(bit_length=256))
    conn = sqlite3.connect(workdir / "floor.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE customers (id TEXT PRIMARY KEY, key BLOB, payload BLOB)")
    start = time.perf_counter()
    rows = 0
    batch: list[tuple[str, bytes, bytes]] = []

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?)", batch)
        conn.execute("COMMIT")
        batch.clear()

    with source.open(encoding="gb18030", newline="") as stream:
        reader = csv.reader(stream)
        next(reader)
        for record in reader:
            number = phonenumbers.parse(record[3], "CN")
            phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            email = validate_email(record[4], check_deliverability=False).normalized
            data_key = AESGCM.generate_key(bit_length=256)
            nonce = os.urandom(12)
            wrapped = nonce + master.encrypt(nonce, data_key, record[0].encode())
            document = json.dumps(
                {"name": record[1], "phone": phone, "email": email, "rest": record[5:]},
                ensure_ascii=False,
            ).encode()
            nonce = os.urandom(12)
            payload = nonce + AESGCM(data_key).encrypt(nonce, document, record[0].encode())
            batch.append((record[0], wrapped, payload))
            rows += 1
            if len(batch) >= CHUNK:
                flush()
    if batch:
        flush()
    elapsed = time.perf_counter() - start
    conn.close()
    return {
        "rows": rows,
        "seconds": elapsed,
        "cpu": cpu_seconds() - cpu,
        "worker_cpu": 0.0,
        "peak": peak_mib(),
        "worker_peak": 0.0,
        "workers": 1,
        "idle": idle,
    }


PHASES = ("import-1", "import-2", "floor")


def run_phase(name: str, source: Path, workdir: Path, cache_mib: int) -> dict[str, Any]:
    """One phase in a fresh interpreter, so that its peak memory is its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--phase", name, str(source), str(workdir), str(cache_mib)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }
    if hasattr(os, "getloadavg"):
        info["load_before"] = round(os.getloadavg()[0], 2)
    return info


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"{'phase':<9} {'rows':>9} {'wall s':>8} {'rows/s':>8} {'CPU s':>8} "
        f"{'ms/row':>13} {'parent MiB':>10} {'worker MiB':>10} {'sum MiB':>8} {'idle MiB':>8}"
    ]
    for name, r in results.items():
        cpu = r["cpu"] + r["worker_cpu"]
        worker = f"{r['workers']} x {r['worker_peak']:.0f}" if r["workers"] > 1 else "-"
        total = r["peak"] + (r["workers"] * r["worker_peak"] if r["workers"] > 1 else 0.0)
        per_row = f"{r['cpu'] / r['rows'] * 1000:.2f}"  # the importing process (the writer)
        if r["workers"] > 1:
            per_row += f" + {r['worker_cpu'] / r['rows'] * 1000:.2f}"  # ... + the workers
        lines.append(
            f"{name:<9} {r['rows']:>9,} {r['seconds']:>8.1f} {r['rows'] / r['seconds']:>8,.0f} "
            f"{cpu:>8.1f} {per_row:>13} {r['peak']:>10.1f} {worker:>10} {total:>8.0f} "
            f"{r['idle']:>8.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) == 6 and argv[1] == "--phase":
        name, source, workdir, cache_mib = argv[2], Path(argv[3]), Path(argv[4]), int(argv[5])
        if name == "floor":
            result = phase_floor(source, workdir)
        else:
            result = phase_import(source, workdir, int(name.removeprefix("import-")), cache_mib)
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=1_000_000, help="rows (1000000)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated phases to run (default: {','.join(PHASES)})",
    )
    parser.add_argument(
        "--cache-mib",
        type=int,
        default=64,
        metavar="MIB",
        help="the store's page cache per connection (SQLiteStore cache_mib, default 64)",
    )
    args = parser.parse_args(argv[1:])
    phases = [p for p in args.phases.split(",") if p]
    unknown = [p for p in phases if not (p == "floor" or p.removeprefix("import-").isdigit())]
    if unknown:
        parser.error(f"unknown phases: {', '.join(unknown)} (import-<workers> or floor)")
    info = machine()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "legacy.csv"
        write_rows(source, args.n)
        size = source.stat().st_size
        for name in phases:
            results[name] = run_phase(name, source, Path(tmp), args.cache_mib)
    if hasattr(os, "getloadavg"):
        info["load_after"] = round(os.getloadavg()[0], 2)
    print(table(results))
    if "load_before" in info:
        print(f"load average (1 min) before {info['load_before']}, after {info['load_after']}")
    if "floor" in results:
        for name, r in results.items():
            if name != "floor":
                ratio = r["seconds"] / results["floor"]["seconds"]
                print(f"{name} takes {ratio:.1f}x the floor's wall time")
    if args.json:
        document = {
            "benchmark": "bench_import",
            "machine": info,
            "sizes": {"rows": args.n, "source_bytes": size, "batch_size": CHUNK},
            "phases": results,
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
