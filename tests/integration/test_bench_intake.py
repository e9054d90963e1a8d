"""benchmarks/bench_intake.py keeps running (a tiny N; the figures themselves are not checked,
speed goals live in the benchmark, never in timed tests)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_intake.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_intake", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("order", ["shuffled", "sequential"])
def test_bench_intake_runs_and_reports_the_overhead(
    order: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load()
    assert bench.main(["bench_intake.py", "30", "--repeat", "2", "--order", order]) == 0
    out = capsys.readouterr().out
    assert f"customers: 30 ({order} order, median of 2 runs each)" in out
    assert "overhead:" in out and out.count("run ") == 2


def test_shuffled_order_is_a_fixed_permutation_of_the_same_customers() -> None:
    bench = load()
    items = bench.customers(50)
    shuffled = bench.arrange(items, "shuffled")
    assert shuffled != items
    assert sorted(i["name"] for i in shuffled) == sorted(i["name"] for i in items)
    assert bench.arrange(items, "shuffled") == shuffled
    assert bench.arrange(items, "sequential") == items
    with pytest.raises(ValueError, match="unknown order"):
        bench.arrange(items, "backwards")
