"""Benchmark: what encryption and blind indexing add to intake on SQLite.

    python benchmarks/bench_intake.py [N]        # default N = 100000

Takes the same N generated customers into two fresh SQLite files through
``Registry.intake_many`` (chunks of 1000), once without a keyring (plain JSON, plain index keys)
and once with one (per-customer data keys, AES-GCM per personal field, HMAC blind indexes,
chained audit), and prints customers/s for each and the overhead of the keyed run. The goal
(issue: security) is an overhead of at most 15 %. Not part of the test suite.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from custrec import Actor, KeyRing, PlaintextStorageWarning, Registry, SQLiteStore

ACTOR = Actor(id="bench", roles={"admin"})


def customers(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    surnames = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨"
    items = []
    for i in range(n):
        items.append(
            {
                "kind": "individual",
                "name": rng.choice(surnames) + f"客户{i}",
                "contacts": [
                    {
                        "phones": [f"13{rng.randrange(3, 10)}{i:08d}"],
                        "emails": [f"c{i}@example.com"],
                    }
                ],
                "addresses": [{"city": "北京", "street": f"长安街{i}号", "postal_code": "100000"}],
                "tags": ["bench"],
            }
        )
    return items


def run(items: list[dict[str, Any]], keyring: KeyRing | None, path: Path) -> float:
    store = SQLiteStore(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextStorageWarning)
        registry = Registry(store, keyring=keyring)
    start = time.perf_counter()
    result = registry.intake_many(items, actor=ACTOR, chunk_size=1000)
    elapsed = time.perf_counter() - start
    store.close()
    assert len(result.added) == len(items), "every generated customer must be taken in"
    return elapsed


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 100_000
    items = customers(n)
    with tempfile.TemporaryDirectory() as tmp:
        plain = run(items, None, Path(tmp) / "plain.sqlite")
        keyed = run(items, KeyRing.generate(), Path(tmp) / "keyed.sqlite")
    overhead = (keyed - plain) / plain * 100
    print(f"customers: {n}")
    print(f"plaintext: {plain:8.1f} s  {n / plain:8.0f} customers/s")
    print(f"encrypted: {keyed:8.1f} s  {n / keyed:8.0f} customers/s")
    print(f"overhead:  {overhead:+8.1f} %  (goal: at most +15 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
