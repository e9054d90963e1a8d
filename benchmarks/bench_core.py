"""Benchmark: custrec's intake path beside its floor, measured in the same run.

    python benchmarks/bench_core.py [-n 50000] [--repeat 3] [--stored 20000] [--json PATH]

Three measurements on the same generated customers (85 % individuals with a resident identity
card number, 15 % organisations with a USCC; one mobile phone, one e-mail, one address each):

- **bulk intake** (customers per CPU-second, pinned to one core): ``registry.customers.
  intake_many`` into a fresh encrypted SQLite file (per-customer data keys, AES-GCM per personal
  field, HMAC blind indexes, duplicate checks, history, chained audit), beside **the floor**
  (:func:`floor_intake`): the least any encrypted intake of these records has to do, written with
  custrec's dependencies directly: NFKC, ``phonenumbers`` (parse, validity, E.164),
  ``email-validator``, the RIC / USCC checksums, a wrapped data key and AES-GCM on the five
  personal fields with associated data, three HMAC blind indexes, JSON, and SQLite in
  20,000-row transactions with an index over the blind-index tokens. The two alternate
  ``--repeat`` times; medians of CPU-seconds (``time.process_time``) are compared;
- **bytes on disk per customer** after each run (database, key store and WAL files);
- **interactive intake**: with ``--stored`` customers already in the store, the latency of
  ``registry.customers.intake`` (one customer, duplicate check on) over 2,000 new customers:
  p50, p99 and the worst.

With ``--against OTHER/src`` it compares two trees instead: ``--pairs`` (default 8) warm runs
of each (one process each, by turns; the better of two bulk intakes of ``-n`` customers after
one of 300, and the floor's) and the median of the pairs' CPU ratios.

Prints a table and, with ``--json``, writes the figures with the machine, the Python version and
the sizes. Not part of the test suite (speed goals live here, never in timed tests).
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import hmac
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from email_validator import validate_email

BATCH = 20_000
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
RIC_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "158",
    "186",
    "188",
]
DIVISIONS = ("110101", "310104", "440305", "330106", "510107")


def ric(rng: random.Random, i: int) -> str:
    """A valid resident identity card number, unique per ``i``."""
    born = date(1950, 1, 1) + timedelta(days=i // 1000)
    body = rng.choice(DIVISIONS) + born.strftime("%Y%m%d") + f"{i % 1000:03d}"
    check = (12 - sum(int(c) * w for c, w in zip(body, RIC_WEIGHTS, strict=True)) % 11) % 11
    return body + ("X" if check == 10 else str(check))


def uscc(rng: random.Random, i: int) -> str:
    """A valid unified social credit code, unique per ``i``."""
    digits = []
    for _ in range(9):
        i, symbol = divmod(i, 31)
        digits.append(USCC_ALPHABET[symbol])
    body = "91" + rng.choice(DIVISIONS) + "".join(reversed(digits))
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return body + USCC_ALPHABET[-total % 31]


def generate(n: int, seed: int = 1, offset: int = 0) -> list[dict[str, Any]]:
    """N raw customers as a web form or an API would hand them over, in no particular order."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for j in range(n):
        i = offset + j
        # 48271 is prime to 10**8: numbers stay unique for the first 10**8 customers
        phone = f"{rng.choice(MOBILE_PREFIXES)}{(i * 48271 + 12345) % 10**8:08d}"
        organisation = rng.random() < 0.15
        item: dict[str, Any] = {
            "kind": "organization" if organisation else "individual",
            "name": (
                f"{rng.choice(SURNAMES)}氏贸易有限公司{i}"
                if organisation
                else rng.choice(SURNAMES) + f"客户{i}"
            ),
            "contacts": [
                {
                    "phones": [phone],
                    "emails": [f"c{i}.{rng.randrange(10**6)}@example.com"],
                    **({"name": "王经理"} if organisation else {}),
                }
            ],
            "addresses": [
                {
                    "city": rng.choice(("北京", "上海", "深圳")),
                    "street": f"长安街{i}号",
                    "postal_code": "100000",
                }
            ],
            "identifiers": [
                {"scheme": "CN-USCC", "value": uscc(rng, i)}
                if organisation
                else {"scheme": "CN-RIC", "value": ric(rng, i)}
            ],
            "tags": ["bench"],
        }
        if organisation:
            item["industry"] = rng.choice(("批发", "制造", "软件"))
        items.append(item)
    rng.shuffle(items)
    return items


# --- the floor -------------------------------------------------------------------------------


def _ric_ok(value: str) -> bool:
    if len(value) != 18 or not value[:17].isdigit():
        return False
    check = (12 - sum(int(c) * w for c, w in zip(value[:17], RIC_WEIGHTS, strict=True)) % 11) % 11
    return value[17] == ("X" if check == 10 else str(check))


def _uscc_ok(value: str) -> bool:
    if len(value) != 18 or any(c not in USCC_ALPHABET for c in value):
        return False
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(value[:17], USCC_WEIGHTS, strict=True))
    return value[17] == USCC_ALPHABET[-total % 31]


def floor_intake(items: list[dict[str, Any]], path: Path) -> int:
    """Take ``items`` into ``path`` doing only what an encrypted intake cannot avoid."""
    master = AESGCM(AESGCM.generate_key(bit_length=256))
    index_keys = [os.urandom(32) for _ in range(3)]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE customers (id TEXT PRIMARY KEY, data_key BLOB, document BLOB)")
    conn.execute("CREATE TABLE lookup (token BLOB, customer_id TEXT)")
    conn.execute("CREATE INDEX lookup_token ON lookup (token)")
    rows: list[tuple[str, bytes, bytes]] = []
    tokens: list[tuple[bytes, str]] = []

    def seal(aead: AESGCM, value: str, associated: bytes) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + aead.encrypt(nonce, value.encode(), associated)).decode()

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?)", rows)
        conn.executemany("INSERT INTO lookup VALUES (?, ?)", tokens)
        conn.execute("COMMIT")
        rows.clear()
        tokens.clear()

    accepted = 0
    for item in items:
        contact = item["contacts"][0]
        address = item["addresses"][0]
        identifier = item["identifiers"][0]
        name = " ".join(unicodedata.normalize("NFKC", item["name"]).split())
        street = " ".join(unicodedata.normalize("NFKC", address["street"]).split())
        number = phonenumbers.parse(contact["phones"][0], "CN")
        if not phonenumbers.is_valid_number(number):
            continue
        phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        email = validate_email(contact["emails"][0], check_deliverability=False).normalized
        id_value = unicodedata.normalize("NFKC", identifier["value"]).upper()
        valid = _uscc_ok(id_value) if identifier["scheme"] == "CN-USCC" else _ric_ok(id_value)
        if not valid:
            continue
        customer_id = os.urandom(13).hex()
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        wrapped = nonce + master.encrypt(nonce, data_key, customer_id.encode())
        aead = AESGCM(data_key)
        document = {
            "id": customer_id,
            "kind": item["kind"],
            "name": seal(aead, name, f"{customer_id}|name".encode()),
            "phone": seal(aead, phone, f"{customer_id}|phone".encode()),
            "email": seal(aead, email, f"{customer_id}|email".encode()),
            "street": seal(aead, street, f"{customer_id}|street".encode()),
            "identifier": seal(aead, id_value, f"{customer_id}|identifier".encode()),
            "city": address["city"],
            "postal_code": address["postal_code"],
            "tags": item["tags"],
        }
        rows.append((customer_id, wrapped, json.dumps(document, ensure_ascii=False).encode()))
        for key, value in zip(index_keys, (phone, email, id_value), strict=True):
            tokens.append((hmac.new(key, value.encode(), hashlib.sha256).digest(), customer_id))
        accepted += 1
        if len(rows) >= BATCH:
            flush()
    if rows:
        flush()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return accepted


# --- custrec ---------------------------------------------------------------------------------


def custrec_intake(items: list[dict[str, Any]], path: Path) -> int:
    from custrec import Actor, KeyRing, Registry, SQLiteStore

    store = SQLiteStore(path)
    registry = Registry(store, keyring=KeyRing.generate())
    result = registry.customers.intake_many(
        items, actor=Actor(id="bench", roles={"admin"}), batch_size=BATCH
    )
    store.close()
    if result.rejected:
        position, report = next(iter(result.rejected.items()))
        raise SystemExit(f"item {position} rejected: {[i.code for i in report.issues]}")
    return len(result.added)


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.iterdir() if p.name.startswith(path.stem))


def run_once(
    work: Callable[[list[dict[str, Any]], Path], int], items: list[dict[str, Any]]
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite"
        gc.collect()
        start = time.process_time()
        count = work(items, path)
        cpu = time.process_time() - start
        size = disk_bytes(path)
    if count != len(items):
        raise SystemExit(f"{work.__name__} took {count} of {len(items)} customers")
    return {"cpu_seconds": cpu, "per_cpu_second": count / cpu, "bytes_per_customer": size / count}


def interactive(stored: int, probes: int = 2_000) -> dict[str, float]:
    """Latency of one-at-a-time intake (duplicate check on) with ``stored`` customers present."""
    from custrec import Actor, KeyRing, Registry, SQLiteStore

    actor = Actor(id="bench", roles={"admin"})
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "interactive.sqlite")
        registry = Registry(store, keyring=KeyRing.generate())
        done = 0
        while done < stored:
            size = min(100_000, stored - done)
            registry.customers.intake_many(
                generate(size, seed=1000 + done, offset=done), actor=actor, batch_size=BATCH
            )
            done += size
        fresh = generate(probes, seed=99, offset=10**7)
        times: list[float] = []
        for item in fresh:
            start = time.perf_counter()
            registry.customers.intake(item, actor=actor)
            times.append(time.perf_counter() - start)
        store.close()
    times.sort()
    return {
        "stored": stored,
        "probes": probes,
        "p50_ms": 1000 * times[len(times) // 2],
        "p99_ms": 1000 * times[int(len(times) * 0.99)],
        "max_ms": 1000 * times[-1],
    }


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
    }


def warm_once(n: int) -> dict[str, float]:
    """CPU microseconds a customer of a warm bulk intake (after one of 300 customers, so that
    imports and compiled code are not counted) and of the floor, the better of two runs each."""
    items = generate(n)
    with tempfile.TemporaryDirectory() as tmp:
        custrec_intake(items[:300], Path(tmp) / "warm.sqlite")
    best = {"custrec": math.inf, "floor": math.inf}
    for _ in range(2):
        for name, work in (("custrec", custrec_intake), ("floor", floor_intake)):
            best[name] = min(best[name], run_once(work, items)["cpu_seconds"] / n * 1e6)
    return {"custrec_us": best["custrec"], "floor_us": best["floor"]}


def against(other_src: Path, n: int, pairs: int) -> dict[str, Any]:
    """``pairs`` warm runs (:func:`warm_once`, each in a new process) of this tree's ``src`` and
    of ``other_src`` by turns: short alternating runs keep a slow spell of a shared machine from
    falling on one side only."""
    here = Path(__file__).resolve().parent.parent / "src"
    runs: dict[str, list[dict[str, float]]] = {"this": [], "other": []}
    for _ in range(pairs):
        for side, src in (("this", here), ("other", other_src.resolve())):
            env = {**os.environ, "PYTHONPATH": str(src)}
            command = [sys.executable, str(Path(__file__).resolve()), "--warm-once", "-n", str(n)]
            out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
            runs[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            runs[side][-1]["load"] = load
    pairwise = [
        a["custrec_us"] / b["custrec_us"] for a, b in zip(runs["this"], runs["other"], strict=True)
    ]
    summary = {
        side: {
            "custrec_us": statistics.median(r["custrec_us"] for r in found),
            "floor_us": statistics.median(r["floor_us"] for r in found),
            "ratio_speed": statistics.median(r["floor_us"] / r["custrec_us"] for r in found),
        }
        for side, found in runs.items()
    }
    return {"runs": runs, "median": summary, "this_over_other_cpu": statistics.median(pairwise)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=50_000, help="customers per bulk run")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each")
    parser.add_argument("--stored", type=int, default=20_000, help="customers before probing")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--against", type=Path, help="another tree's src: warm runs of both by turns instead"
    )
    parser.add_argument("--pairs", type=int, default=8, help="pairs of runs with --against")
    parser.add_argument("--warm-once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    if args.warm_once:
        print(json.dumps(warm_once(args.n)))
        return 0
    if args.against is not None:
        return compare(args.against, args.n, args.pairs, args.json)
    items = generate(args.n)
    runs: dict[str, list[dict[str, float]]] = {"custrec": [], "floor": []}
    for _ in range(args.repeat):
        runs["floor"].append(run_once(floor_intake, items))
        runs["custrec"].append(run_once(custrec_intake, items))
    medians = {
        name: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for name, results in runs.items()
    }
    latency = interactive(args.stored) if args.stored >= 0 else None
    ratio = medians["custrec"]["per_cpu_second"] / medians["floor"]["per_cpu_second"]
    size_ratio = medians["custrec"]["bytes_per_customer"] / medians["floor"]["bytes_per_customer"]
    print(
        f"bulk intake of {args.n:,} customers, encrypted SQLite, one core, median of {args.repeat}"
    )
    print(f"{'':10} {'per CPU-s':>10} {'CPU-s':>8} {'bytes/customer':>15}")
    for name, m in medians.items():
        print(
            f"{name:10} {m['per_cpu_second']:>10,.0f} {m['cpu_seconds']:>8.2f} "
            f"{m['bytes_per_customer']:>15,.0f}"
        )
    print(f"custrec / floor: {ratio:.2f}x the speed, {size_ratio:.2f}x the bytes")
    if latency:
        print(
            f"interactive intake at {latency['stored']:,} stored: p50 {latency['p50_ms']:.2f} ms, "
            f"p99 {latency['p99_ms']:.2f} ms, max {latency['max_ms']:.1f} ms"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "benchmark": "core",
                    "machine": machine(),
                    "sizes": {"customers": args.n, "repeat": args.repeat, "batch": BATCH},
                    "runs": runs,
                    "median": medians,
                    "ratio_speed": ratio,
                    "ratio_bytes": size_ratio,
                    "interactive": latency,
                },
                indent=2,
            )
        )
    return 0


def compare(other_src: Path, n: int, pairs: int, json_path: Path | None) -> int:
    found = against(other_src, n, pairs)
    print(f"warm bulk intake of {n:,} customers, {pairs} pairs by turns, one core, medians")
    print(f"{'':8} {'custrec us':>11} {'floor us':>9} {'ratio':>6}")
    for side, m in found["median"].items():
        print(f"{side:8} {m['custrec_us']:>11.1f} {m['floor_us']:>9.1f} {m['ratio_speed']:>6.2f}")
    print(
        f"custrec CPU, this tree over the other, median of the pairs: "
        f"{found['this_over_other_cpu']:.3f}"
    )
    if json_path:
        record = {"benchmark": "core-against", "machine": machine(), "customers": n, **found}
        json_path.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
