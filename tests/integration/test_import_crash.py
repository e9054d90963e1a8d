"""SIGKILL in the middle of a large import, then a re-run: every row is stored exactly once.

The import runs as ``python -m custrec import`` in a subprocess against an encrypted SQLite
database and is killed (SIGKILL: no clean-up of any kind) once a few chunks are committed. The
re-run must report the committed rows as already applied, store the rest, and leave exactly
one customer per row, with the audit chain intact.

It runs with ``--workers 1`` (rows prepared in the importing process) and ``--workers 2`` (two
spawned worker processes prepare them while the importing process writes): with workers, the
kill leaves them orphaned, and they must exit on their own (they read the end of their pipe)
rather than linger.

The file has ``CUSTREC_CRASH_ROWS`` rows (default 200,000, the issue's size: a few minutes on
a two-core machine; set a smaller number for a quick local run) for the run with workers; the
run without them, the simpler path, takes a fifth of that (at least 6,000 rows), to keep the
suite within its time budget. The kill comes once a third of the rows are committed.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from custrec.interchange import derive_id

FULL_ROWS = int(os.environ.get("CUSTREC_CRASH_ROWS", "200000"))
CHUNK = 2000
GUARD = max(
    1200.0, FULL_ROWS / 50
)  # seconds before a run counts as stuck: loaded machines are slow


def rows_for(workers: int) -> int:
    """The file's size for a run with ``workers``: the full size with workers, a fifth
    without."""
    return FULL_ROWS if workers > 1 else max(3 * CHUNK, FULL_ROWS // 5)


IMPORT_ID = "crash-test"
MAPPING = """
[defaults]
kind = "individual"

[columns]
"编号" = "identifiers[EXTERNAL:old-crm]"
"姓名" = "name"
"手机" = "contacts[0].phones[0]"
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL"),
]


def write_source(path: Path, rows: int) -> None:
    with path.open("w", encoding="gb18030", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["编号", "姓名", "手机"])
        for i in range(rows):
            writer.writerow([f"C{i:07d}", f"客户{i}", f"138{i:08d}"])


def stored_ids(db: Path) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM customers")]


def count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            (n,) = conn.execute("SELECT count(*) FROM customers").fetchone()
            return int(n)
    except sqlite3.OperationalError:  # the schema is still being created
        return 0


def children(pid: int) -> set[int]:
    """The child processes of ``pid`` (Linux ``/proc``; empty elsewhere)."""
    found: set[int] = set()
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(entry.parent.name))
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_mid_import_then_rerun_stores_each_row_once(tmp_path: Path, workers: int) -> None:
    rows = rows_for(workers)
    kill_after = max(3 * CHUNK, rows // 3)  # committed rows seen before the kill
    source = tmp_path / "legacy.csv"
    write_source(source, rows)
    (tmp_path / "mapping.toml").write_text(MAPPING, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTREC_")}
    base = [sys.executable, "-m", "custrec"]
    keys = tmp_path / "keys.json"
    subprocess.run(
        [*base, "keys", "init", str(keys)], check=True, env=env, timeout=60, cwd=tmp_path
    )
    db = tmp_path / "customers.sqlite"
    command = [
        *base,
        "import",
        str(source),
        "--db",
        str(db),
        "--mapping",
        str(tmp_path / "mapping.toml"),
        "--keys",
        str(keys),
        "--import-id",
        IMPORT_ID,
        "--batch-size",
        str(CHUNK),
        "--errors",
        str(tmp_path / "errors.csv"),
        "--no-progress",
        "--workers",
        str(workers),
    ]

    started = time.monotonic()
    victim = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    orphans: set[int] = set()
    try:
        while count(db) < kill_after:
            assert victim.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() - started < GUARD, "the import made no progress"
            time.sleep(0.05)
        orphans = children(victim.pid)
        victim.send_signal(signal.SIGKILL)
    finally:
        victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    if workers > 1 and Path("/proc").is_dir():
        assert len(orphans) >= workers  # the workers (and multiprocessing's resource tracker)
    while any(running(pid) for pid in orphans):  # they notice the parent is gone and exit
        assert time.monotonic() - started < GUARD + 100, "worker processes outlived the import"
        time.sleep(0.05)
    committed = count(db)
    assert committed % CHUNK == 0, "a chunk was half written"
    assert kill_after <= committed < rows

    report_path = tmp_path / "report.json"
    rerun = subprocess.run(
        [*command, "--report", str(report_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=GUARD,
    )
    assert rerun.returncode == 0, rerun.stderr
    counts = json.loads(report_path.read_text(encoding="utf-8"))["counts"]
    assert counts["already_applied"] == committed
    assert counts["created"] == rows - committed
    assert sum(counts.values()) == rows

    ids = stored_ids(db)
    expected = {derive_id(IMPORT_ID, f"ext:old-crm:C{i:07d}") for i in range(rows)}
    assert len(ids) == rows and set(ids) == expected

    verify = subprocess.run(
        [*base, "audit", "verify", "--db", str(db), "--keys", str(keys)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
