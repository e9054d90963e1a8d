"""benchmarks/bench_load.py keeps running: a tiny load (a few seconds, one and two client
processes) on SQLite, and on PostgreSQL when ``CUSTREC_TEST_POSTGRES_DSN`` is set; the JSON has
its shape and the integrity check after each run passed. No figure is checked (speed goals live
in the benchmark, never in timed tests)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_load.py"
KINDS = {"get", "find", "update", "intake", "activity"}
TINY = ["--preload", "200", "--clients", "1,2", "--seconds", "3", "--ops", "50"]


def run_bench(tmp_path: Path, *extra: str, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    out = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), *TINY, *extra, "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text()), done.stdout


def check_runs(result: dict[str, Any]) -> None:
    assert isinstance(result["preload_seconds"], float | list)
    runs = result["runs"]
    assert [run["clients"] for run in runs] == [1, 2]
    for run in runs:
        assert set(run["kinds"]) == KINDS
        assert run["operations"] == sum(k["count"] for k in run["kinds"].values()) > 0
        assert run["operations"] <= 50 * run["clients"]
        assert len(run["per_client_ops"]) == run["clients"]
        assert run["ops_per_second"] > 0
        for figures in run["kinds"].values():
            assert set(figures) == {"count", "p50_ms", "p99_ms", "max_ms", "sealed"}
            assert 0 <= figures["sealed"] <= figures["count"]  # sealed the queue after commit
        assert set(run["worst"]) == {"kind", "ms"}
        assert isinstance(run["over_1s"], int)
        assert run["error_count"] == sum(run["errors"].values())
        assert set(run["retries"]) == {
            "version_conflict",
            "storage_retry_safe",
            "updates_given_up",
        }
        integrity = run["integrity"]
        assert integrity["ok"] is True, integrity["problems"]
        assert integrity["audit_ok"] is True and integrity["audit_entries_checked"] > 0
        assert integrity["customers"] == 200 + run["intakes"]["succeeded"]
        assert integrity["wrong_versions"] == 0


def test_bench_load_sqlite_runs_and_checks_integrity(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if "POSTGRES_DSN" not in k}
    data, stdout = run_bench(tmp_path, "--backend", "sqlite", env=env)
    assert data["benchmark"] == "load" and data["integrity_ok"] is True
    assert {"python", "platform", "cpus", "sqlite"} <= set(data["machine"])
    assert data["sizes"]["preload"] == 200 and data["sizes"]["clients"] == [1, 2]
    assert set(data["backends"]) == {"sqlite"}
    check_runs(data["backends"]["sqlite"])
    assert "integrity: all checks passed" in stdout


def test_bench_load_skips_postgres_without_a_dsn(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if "POSTGRES_DSN" not in k}
    data, stdout = run_bench(
        tmp_path, "--backend", "postgres", "--clients", "1", "--ops", "1", env=env
    )
    assert "skipped" in data["backends"]["postgres"] and data["postgres_server"] is None
    assert "PostgreSQL skipped" in stdout


def test_bench_load_postgres_runs_and_checks_integrity(tmp_path: Path) -> None:
    dsn = os.environ.get("CUSTREC_TEST_POSTGRES_DSN", "").strip()
    if not dsn:
        ci = os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}
        if ci:  # as in tests/integration/backends/conftest.py: under CI it must run
            pytest.fail("CUSTREC_TEST_POSTGRES_DSN is not set under CI", pytrace=False)
        pytest.skip("needs CUSTREC_TEST_POSTGRES_DSN (bash .ci/run starts a server)")
    env = {k: v for k, v in os.environ.items() if k != "CUSTREC_BENCH_POSTGRES_DSN"}
    data, _ = run_bench(tmp_path, "--backend", "postgres", "--dsn", dsn, env=env)
    assert data["integrity_ok"] is True and data["postgres_server"]
    check_runs(data["backends"]["postgres"])


def test_the_integrity_check_reports_what_the_clients_claim_but_the_database_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("bench_load", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_load", bench)  # dataclasses look their module up
    spec.loader.exec_module(bench)
    from custrec.security import generate_key_file

    key_file = str(generate_key_file(tmp_path / "keys.json"))
    target = bench.Target("sqlite", key_file, sqlite_path=str(tmp_path / "load.sqlite"))
    ids, _ = bench.preload(target, 20)
    honest = bench.ClientResult(client=0)
    assert bench.check_integrity(target, ids, [honest])["ok"] is True
    claims = bench.ClientResult(client=0, intakes=1)
    claims.updated[3] = 2
    claims.contested[0] = "won"
    report = bench.check_integrity(target, ids, [claims])
    assert report["ok"] is False and report["wrong_versions"] == 1
    assert any("customer count 20, expected 21" in p for p in report["problems"])
    assert any("version 1 after 2 updates" in p for p in report["problems"])
    assert any("slot 0: 0 holders, 1 won" in p for p in report["problems"])
