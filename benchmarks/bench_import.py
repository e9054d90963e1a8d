"""Benchmark: a legacy-file import into encrypted SQLite, next to the bare floor.

    python benchmarks/bench_import.py [N]        # default N = 1000000

Writes N generated legacy rows (GB18030, Chinese headers, full-width digits in some phones,
amounts like "¥12,800.00" and "1.5万", three date formats) to a temporary CSV file, then, each
in a fresh subprocess so that peak memory is measured per phase:

- ``import``: ``open_source`` + ``plan_import(dry_run=False)`` into a keyed ``SQLiteStore``
  (``ImportPolicy(batch_size=5000)``): mapping, ``parse_customer``, duplicate checks in the file
  and against the store, ``registry.customers.intake_many`` (validation again, per-customer data
  keys, AES-GCM per personal field, HMAC blind indexes, history, chained audit);
- ``floor``: the same rows read with ``csv``, the phone through ``phonenumbers`` (E.164), the
  e-mail through ``email-validator``, a random data key wrapped with AES-GCM and the row's
  JSON encrypted with it, then inserted with ``sqlite3`` (one transaction per 5000 rows):
  the least any encrypted import of these rows has to do.

It prints rows/s and peak resident memory (``ru_maxrss``) of each phase, and the memory of an
idle interpreter with the same imports, so that the import's own growth is visible. Not part of
the test suite.

Measured on the development machine (2 cores shared with other jobs, load about 1.7, Python
3.11), N = 100,000::

    phase       rows  seconds    rows/s  peak MiB  idle MiB
    import   100,000    181.2       552     123.5      38.0
    floor    100,000      8.5    11,808      30.1      22.9

(an earlier, quieter run: import 618 rows/s). With N = 25,000 the import ran at 595 rows/s with
a peak of 119.0 MiB: the peak does not grow with N, because rows are streamed, a batch of 5000
rows is the most held at once, and the identifiers seen so far live in a temporary SQLite file.
The million rows of the issue would take about half an hour at this rate; they were not run
here. The import is about 20 times slower than the floor: profiling shows about 45 % of its time
in ``parse_customer`` (the plan), 35 % in ``registry.customers.intake_many`` (of which most is
validating the same records again, the rest sealing and writing) and about 10 % in the mapping.
"""

from __future__ import annotations

import csv
import json
import os
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


def peak_mib() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def phase_import(source: Path, workdir: Path) -> dict[str, Any]:
    from custrec import Actor, KeyRing, Registry, SQLiteStore
    from custrec.interchange import (
        ImportMapping,
        ImportPolicy,
        Outcome,
        open_source,
        plan_import,
    )

    idle = peak_mib()
    store = SQLiteStore(workdir / "import.sqlite")
    registry = Registry(store, keyring=KeyRing.generate())
    start = time.perf_counter()
    with open_source(source) as rows:
        report = plan_import(
            rows,
            ImportMapping.from_dict(MAPPING),
            registry,
            actor=Actor(id="bench", roles={"admin"}),
            import_id="bench",
            policy=ImportPolicy(batch_size=CHUNK),
            dry_run=False,
        )
    elapsed = time.perf_counter() - start
    store.close()
    if report.counts[Outcome.CREATED] != report.rows:
        raise SystemExit(f"unexpected import outcome: {report.render(max_issues=5)}")
    return {"rows": report.rows, "seconds": elapsed, "peak": peak_mib(), "idle": idle}


def phase_floor(source: Path, workdir: Path) -> dict[str, Any]:
    import sqlite3

    import phonenumbers
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from email_validator import validate_email

    idle = peak_mib()
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
    return {"rows": rows, "seconds": elapsed, "peak": peak_mib(), "idle": idle}


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[1] in ("--import", "--floor"):
        phase = phase_import if argv[1] == "--import" else phase_floor
        print(json.dumps(phase(Path(argv[2]), Path(argv[3]))))
        return 0
    n = int(argv[1]) if len(argv) > 1 else 1_000_000
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "legacy.csv"
        write_rows(source, n)
        for name in ("import", "floor"):
            done = subprocess.run(
                [sys.executable, __file__, f"--{name}", str(source), tmp],
                capture_output=True,
                text=True,
                check=True,
            )
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{'phase':<6} {'rows':>9} {'seconds':>8} {'rows/s':>9} {'peak MiB':>9} {'idle MiB':>9}")
    for name, r in results.items():
        rate = r["rows"] / r["seconds"]
        print(
            f"{name:<6} {r['rows']:>9,} {r['seconds']:>8.1f} {rate:>9,.0f} "
            f"{r['peak']:>9.1f} {r['idle']:>9.1f}"
        )
    ratio = (
        results["floor"]["seconds"] and results["import"]["seconds"] / results["floor"]["seconds"]
    )
    print(f"the import takes {ratio:.1f}x the floor's time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
