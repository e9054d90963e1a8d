"""Benchmark: the validation path against its pre-optimisation reference and python-stdnum.

    python benchmarks/bench_validation.py [--customers N] [--vectors M] [--repeat R] [--json PATH]

Three measurements, in one run so that a slow spell of the machine hits both sides of each
comparison alike (the two sides alternate ``R`` times, default 5, and the medians are compared;
all times are CPU seconds, ``time.process_time``):

- ``parse_customer`` on the N (default 5,000) generated customers of ``bench_intake.py``, now and
  as it was before issue 16 (the test-only oracle in ``tests/unit/validation/_oracle``, a verbatim
  copy of the old code). The phone-number caches are emptied before each pass, so that every
  number is parsed as in a real import. Goal: at least 3x the customers per CPU-second.
- USCC (GB 32100-2015) and RIC (GB 11643-1999) ``is_valid`` beside python-stdnum's
  (``stdnum.cn.uscc.is_valid``, ``stdnum.cn.ric.is_valid``) on the same M (default 20,000)
  generated numbers per kind: ``valid`` (compact valid numbers), ``invalid`` (a wrong check
  character, a wrong length, a letter outside the alphabet, an impossible birth date) and
  ``formatted`` (valid numbers written with spaces, hyphens or lower case). Goal: at least 5x
  stdnum's throughput. RIC numbers use address codes stdnum's database knows (stdnum looks the
  code up; an unknown one makes it answer False, or raise for some partial entries).

Prints a table and, with ``--json PATH``, writes the machine, the Python version, the sizes, the
figures and the ratios. Needs python-stdnum (``pip install python-stdnum``). Not part of the test
suite: benchmarks are never timed unit tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib.util
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from bench_intake import customers

from custrec.validation import parse_customer, phone, ric, uscc

ROOT = Path(__file__).resolve().parents[1]
ORACLE_DIR = ROOT / "tests" / "unit" / "validation" / "_oracle"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def load_oracle() -> ModuleType:
    """The pre-optimisation validation path (see ``tests/unit/validation/_oracle``)."""
    name = "custrec_validation_oracle"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, ORACLE_DIR / "__init__.py", submodule_search_locations=[str(ORACLE_DIR)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------ vectors


def formatted(rng: random.Random, number: str) -> str:
    """A valid number as people write it: spaced, hyphenated or in lower case."""
    style = rng.randrange(3)
    if style == 0:
        return " ".join(number[i : i + 6] for i in range(0, len(number), 6))
    if style == 1:
        return f"{number[:6]}-{number[6:14]}-{number[14:]}"
    return number.lower()


def uscc_vectors(m: int, rng: random.Random) -> dict[str, list[str]]:
    def valid() -> str:
        body = (
            rng.choice("159")  # stdnum (rightly or not) wants digits in positions 1-8
            + rng.choice("123")
            + "".join(rng.choice("0123456789") for _ in range(6))
            + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
        )
        return body + uscc.calc_check_digit(body)

    def invalid() -> str:
        number = valid()
        kind = rng.randrange(3)
        if kind == 0:  # another check character
            wrong = rng.choice(USCC_ALPHABET.replace(number[-1], ""))
            return number[:-1] + wrong
        if kind == 1:  # a character missing or one too many
            return number[:-1] if rng.random() < 0.5 else number + rng.choice(USCC_ALPHABET)
        i = rng.randrange(8, 17)  # a letter outside the alphabet
        return number[:i] + rng.choice("IOSVZ") + number[i + 1 :]

    return {
        "valid": [valid() for _ in range(m)],
        "invalid": [invalid() for _ in range(m)],
        "formatted": [formatted(rng, valid()) for _ in range(m)],
    }


def stdnum_knows(stdnum_ric: ModuleType, number: str) -> bool:
    try:
        return bool(stdnum_ric.is_valid(number))
    except Exception:  # stdnum raises KeyError for some partial database entries
        return False


def ric_vectors(m: int, rng: random.Random, stdnum_ric: ModuleType) -> dict[str, list[str]]:
    today = dt.date.today()
    codes: list[str] = []
    while len(codes) < 200:  # address codes stdnum accepts for people born in any year
        code = f"{rng.randrange(11, 66)}{rng.randrange(1, 30):02d}{rng.randrange(1, 30):02d}"
        bodies = [f"{code}{year}0101001" for year in (1930, 1960, 1990, today.year - 1)]
        if all(stdnum_knows(stdnum_ric, b + ric.calc_check_digit(b)) for b in bodies):
            codes.append(code)

    def valid() -> str:
        born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange((today.year - 1931) * 365))
        body = f"{rng.choice(codes)}{born:%Y%m%d}{rng.randrange(1000):03d}"
        return body + ric.calc_check_digit(body)

    def invalid() -> str:
        number = valid()
        kind = rng.randrange(4)
        if kind == 0:
            return number[:-1] + rng.choice("0123456789X".replace(number[-1], ""))
        if kind == 1:
            return number[:-1] if rng.random() < 0.5 else number + "1"
        if kind == 2:  # 13th month
            body = f"{number[:10]}13{number[12:17]}"
            return body + ric.calc_check_digit(body)
        i = rng.randrange(6, 17)
        return number[:i] + "A" + number[i + 1 :]

    return {
        "valid": [valid() for _ in range(m)],
        "invalid": [invalid() for _ in range(m)],
        "formatted": [formatted(rng, valid()) for _ in range(m)],
    }


# ------------------------------------------------------------------------------ timing


def cpu_seconds(run: Callable[[], object], before: Callable[[], object] = lambda: None) -> float:
    before()
    gc.collect()
    start = time.process_time()
    run()
    return time.process_time() - start


def alternate(
    sides: dict[str, Callable[[], object]],
    repeat: int,
    before: dict[str, Callable[[], object]] | None = None,
) -> dict[str, float]:
    """Median CPU seconds of each side, the sides taking turns ``repeat`` times."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeat):
        for name, run in sides.items():
            times[name].append(cpu_seconds(run, (before or {}).get(name, lambda: None)))
    return {name: statistics.median(values) for name, values in times.items()}


def check_all(function: Callable[[str], object], numbers: Sequence[str]) -> Callable[[], object]:
    def run() -> object:
        for number in numbers:
            try:
                function(number)
            except Exception:  # stdnum raises KeyError on some address codes: not counted
                pass
        return None

    return run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=5000, help="generated customers")
    parser.add_argument("--vectors", type=int, default=20000, help="numbers per kind and set")
    parser.add_argument("--repeat", type=int, default=5, help="alternating runs of each side")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv[1:])
    if args.customers <= 0 or args.vectors <= 0 or args.repeat <= 0:
        parser.error("--customers, --vectors and --repeat must be positive")
    try:
        import stdnum.cn.ric as stdnum_ric
        import stdnum.cn.uscc as stdnum_uscc
        from stdnum import __version__ as stdnum_version
    except ImportError:
        parser.error("python-stdnum is needed: pip install python-stdnum")
    oracle = load_oracle()
    rng = random.Random(16)
    results: dict[str, Any] = {}

    # parse_customer, now and before
    items = customers(args.customers)
    median = alternate(
        {
            "now": lambda: [parse_customer(item) for item in items],
            "before": lambda: [oracle.parse_customer(item) for item in items],
        },
        args.repeat,
        before={"now": phone._clear_cache, "before": oracle.phone._e164.cache_clear},
    )
    results["parse_customer"] = {
        "customers": len(items),
        "now_per_cpu_second": len(items) / median["now"],
        "before_per_cpu_second": len(items) / median["before"],
        "ratio": median["before"] / median["now"],
    }

    # USCC and RIC beside stdnum
    vectors = {
        "uscc": uscc_vectors(args.vectors, rng),
        "ric": ric_vectors(args.vectors, rng, stdnum_ric),
    }
    functions = {
        "uscc": {
            "custrec": uscc.is_valid,
            "stdnum": stdnum_uscc.is_valid,
            "before": oracle.uscc.is_valid,
        },
        "ric": {
            "custrec": ric.is_valid,
            "stdnum": stdnum_ric.is_valid,
            "before": oracle.ric.is_valid,
        },
    }
    for kind, sets in vectors.items():
        results[kind] = {}
        for set_name, numbers in [*sets.items(), ("all", [n for s in sets.values() for n in s])]:
            median = alternate(
                {side: check_all(f, numbers) for side, f in functions[kind].items()}, args.repeat
            )
            agree = sum(
                functions[kind]["custrec"](n) == stdnum_knows(stdnum_ric, n)
                if kind == "ric"
                else functions[kind]["custrec"](n) == stdnum_uscc.is_valid(n)
                for n in numbers
            )
            results[kind][set_name] = {
                "numbers": len(numbers),
                **{f"{side}_per_cpu_second": len(numbers) / t for side, t in median.items()},
                "ratio_to_stdnum": median["stdnum"] / median["custrec"],
                "ratio_to_before": median["before"] / median["custrec"],
                "same_answer_as_stdnum": agree,
            }

    report = {
        "benchmark": "bench_validation",
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
        },
        "python": platform.python_version(),
        "stdnum": stdnum_version,
        "sizes": {"customers": args.customers, "vectors": args.vectors, "repeat": args.repeat},
        "results": results,
    }
    pc = results["parse_customer"]
    print(f"Python {report['python']} on {report['machine']['platform']}, stdnum {stdnum_version}")
    print(f"median of {args.repeat} alternating runs, CPU time\n")
    print(f"{'parse_customer':<22}{'now /s':>12}{'before /s':>12}{'now/before':>12}")
    print(
        f"{pc['customers']:>8} customers{'':<5}"
        f"{pc['now_per_cpu_second']:>12.0f}{pc['before_per_cpu_second']:>12.0f}{pc['ratio']:>11.2f}x"
    )
    print(
        f"\n{'is_valid':<22}{'custrec /s':>12}{'stdnum /s':>12}{'before /s':>12}"
        f"{'vs stdnum':>11}{'vs before':>11}{'agree':>8}"
    )
    for kind in ("uscc", "ric"):
        for set_name, row in results[kind].items():
            print(
                f"{kind + ' ' + set_name:<22}{row['custrec_per_cpu_second']:>12.0f}"
                f"{row['stdnum_per_cpu_second']:>12.0f}{row['before_per_cpu_second']:>12.0f}"
                f"{row['ratio_to_stdnum']:>10.2f}x{row['ratio_to_before']:>10.2f}x"
                f"{row['same_answer_as_stdnum'] / row['numbers']:>8.1%}"
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
