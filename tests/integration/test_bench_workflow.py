"""benchmarks/bench_workflow.py keeps running: a tiny store (seconds) built through the storage
API, every kind of due-list query measured and the query plans recorded; the JSON has its shape.
No figure is checked (speed goals live in the benchmark, never in timed tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_workflow.py"
TINY = ["--customers", "300", "--tasks", "2000", "--cases", "300", "--calls", "5"]
TINY += ["--budget", "2", "--chunk", "700"]
SERVICE_KINDS = {
    "tasks.overdue staff (own scope)",
    "tasks.overdue staff, none assigned",
    "tasks.overdue staff, assignee=self",
    "tasks.due staff, assignee=self",
    "tasks.overdue manager, team=t",
    "tasks.overdue manager (team scope)",
    "tasks.overdue admin, assignee=s",
    "tasks.overdue admin (all)",
    "cases.overdue manager, team=t",
    "cases.listed admin, breached",
    "cases.listed admin, breached, team=t",
}
PLANS = {
    "due task",
    "due task, next step",
    "due task, assignee",
    "due task, team",
    "due case, team",
    "query case open breached",
    "query case open breached, team",
}


def run_bench(out: Path, *arguments: str) -> tuple[dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, str(BENCH), *arguments, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text()), done.stdout


def test_bench_workflow_runs_and_reports_every_kind(tmp_path: Path) -> None:
    database = tmp_path / "kept.sqlite"
    data, stdout = run_bench(tmp_path / "workflow.json", *TINY, "--sqlite-path", str(database))
    assert data["benchmark"] == "workflow" and data["goal_p99_ms"] == 50.0
    assert {"python", "platform", "cpus", "sqlite"} <= set(data["machine"])
    assert data["sizes"]["customers"] == 300 and data["sizes"]["tasks"] == 2000
    assert data["sizes"]["cases"] == 300 and data["sizes"]["calls"] == 5
    assert data["data"]["task"] == 2000 and data["data"]["case"] == 300
    assert 0 < data["data"]["task_overdue"] < data["data"]["task_open"] < 2000
    assert data["data"]["task_breached"] == 0
    assert {"customers_s", "work_s", "total_s", "work_storage_s"} <= set(data["build"])
    assert data["file_size_bytes"] > 0
    kinds = data["kinds"]
    assert set(kinds) >= SERVICE_KINDS
    assert {k for k, v in kinds.items() if v["layer"] == "service"} == SERVICE_KINDS
    assert {v["layer"] for v in kinds.values()} == {"service", "storage"}
    for figures in kinds.values():
        assert {"calls", "p50_ms", "p99_ms", "max_ms", "mean_items", "goal_met"} <= set(figures)
        assert 1 <= figures["calls"] <= 5
        assert figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert kinds["tasks.overdue admin (all)"]["mean_items"] == 100
    assert kinds["tasks.overdue staff, none assigned"]["mean_items"] == 0
    own = kinds["tasks.overdue staff (own scope)"]
    assert own["rows_read_median"] >= own["mean_items"] and own["replays"] >= 1
    assert set(data["query_plans"]) == PLANS
    for statements in data["query_plans"].values():
        assert statements and all(s["sql"].startswith("SELECT") and s["plan"] for s in statements)
    assert "work_due_assignee" in data["query_plans"]["due task, assignee"][0]["plan"][0]
    assert isinstance(data["goal_met"], bool)
    assert "tasks.overdue staff (own scope)" in stdout

    # --reuse measures the kept file again without building it; the sizes are read from it
    again, stdout = run_bench(
        tmp_path / "again.json", "--calls", "2", "--sqlite-path", str(database), "--reuse"
    )
    assert again["build"] is None and "build reused" in stdout
    assert again["data"] == data["data"]
    assert again["sizes"]["customers"] == 300 and again["sizes"]["tasks"] == 2000
    assert set(again["kinds"]) == set(kinds)
