"""Benchmark: what encryption and blind indexing add to intake on SQLite.

    python benchmarks/bench_intake.py [N] [--repeat R] [--order shuffled|sequential]

Takes the same N generated customers (default 100,000) into fresh SQLite files through
``registry.customers.intake_many`` (``batch_size=1000``), once without a keyring (plain JSON,
plain index keys) and once with one (per-customer data keys, AES-GCM per personal field, HMAC
blind indexes, chained audit). The two runs alternate ``R`` times (default 3) so that a slow
spell of the machine hits both alike; the medians are compared. The goal (issue: security) is an
overhead of at most 15 %. Not part of the test suite.

``--order`` is the order the customers arrive in. ``shuffled`` (the default) is what an import
looks like: records come in no particular order of phone number, e-mail or name. ``sequential``
takes customer 0, 1, 2, ... whose generated phones, e-mails, names and streets all grow with the
number, so the plaintext index keys arrive almost sorted and every plaintext index insert is an
append, while blind-index tokens are random either way: that order measures the locality the
plaintext run loses as much as the cost of encryption. docs/security.md gives both.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
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


def arrange(items: list[dict[str, Any]], order: str, seed: int = 7) -> list[dict[str, Any]]:
    """The items in the order they are taken in (see the module docstring)."""
    if order == "sequential":
        return list(items)
    if order == "shuffled":
        arranged = list(items)
        random.Random(seed).shuffle(arranged)
        return arranged
    raise ValueError(f"unknown order {order!r}")


def run(items: list[dict[str, Any]], keyring: KeyRing | None, path: Path) -> float:
    store = SQLiteStore(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextStorageWarning)
        registry = Registry(store, keyring=keyring)
    gc.collect()
    start = time.perf_counter()
    result = registry.customers.intake_many(items, actor=ACTOR, batch_size=1000)
    elapsed = time.perf_counter() - start
    store.close()
    assert len(result.added) == len(items), "every generated customer must be taken in"
    return elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="customers per run")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each kind")
    parser.add_argument("--order", choices=("shuffled", "sequential"), default="shuffled")
    args = parser.parse_args(argv[1:])
    if args.n <= 0 or args.repeat <= 0:
        parser.error("n and --repeat must be positive")
    items = arrange(customers(args.n), args.order)
    plain: list[float] = []
    keyed: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            plain.append(run(items, None, Path(tmp) / f"plain{i}.sqlite"))
            keyed.append(run(items, KeyRing.generate(), Path(tmp) / f"keyed{i}.sqlite"))
            print(f"run {i + 1}: plaintext {plain[-1]:6.1f} s, encrypted {keyed[-1]:6.1f} s")
    p, k = statistics.median(plain), statistics.median(keyed)
    print(f"customers: {args.n} ({args.order} order, median of {args.repeat} runs each)")
    print(f"plaintext: {p:8.1f} s  {args.n / p:8.0f} customers/s")
    print(f"encrypted: {k:8.1f} s  {args.n / k:8.0f} customers/s")
    print(f"overhead:  {(k - p) / p * 100:+8.1f} %  (goal: at most +15 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
