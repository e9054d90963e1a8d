"""Registry on one SQLite file shared by several processes: no lost update, crash safety."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from custrec import Actor, PlaintextStorageWarning, Registry, SQLiteStore
from custrec.errors import StorageError, VersionConflict

ACTOR = Actor(id="worker", roles={"admin", "unmask"})
WORKERS = 4
INCREMENTS = 200


def _registry(path: str) -> Registry:
    warnings.simplefilter("ignore", PlaintextStorageWarning)
    return Registry(SQLiteStore(path))


def _increment_worker(path: str, customer_id: str, count: int) -> int:
    """Read-modify-write the customer's counter ``count`` times, retrying on conflicts."""
    registry = _registry(path)
    conflicts = 0
    done = 0
    while done < count:
        current = registry.customers.get(customer_id, actor=ACTOR)
        value = int(current.notes or "0") + 1
        try:
            registry.customers.update(
                customer_id,
                {"notes": str(value)},
                actor=ACTOR,
                reason="increment",
                expected_version=current.version,
            )
        except VersionConflict:
            conflicts += 1
            continue
        except StorageError as exc:
            if exc.retry_safe:
                continue
            raise
        done += 1
    registry._context.store.close()
    return conflicts


def test_four_processes_doing_read_modify_write_lose_no_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # spawned workers import this module by its package path: give them the repository root
    # (whatever other tests did to sys.path before), and never wait for a lost worker forever
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    path = str(tmp_path / "race.sqlite")
    registry = _registry(path)
    customer = registry.customers.intake(
        {
            "kind": "individual",
            "name": "counter",
            "notes": "0",
            "contacts": [{"phones": ["13800138000"]}],
        },
        actor=ACTOR,
    )
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WORKERS) as pool:
        work = pool.starmap_async(_increment_worker, [(path, customer.id, INCREMENTS)] * WORKERS)
        conflicts = work.get(timeout=600)
    final = registry.customers.get(customer.id, actor=ACTOR)
    assert final.notes == str(WORKERS * INCREMENTS)
    assert final.version == 1 + WORKERS * INCREMENTS
    history = registry.customers.history(customer.id, actor=ACTOR)
    assert len(history) == 1 + WORKERS * INCREMENTS
    assert sum(conflicts) >= 0  # conflicts happen and are retried; none is lost


BULK_SCRIPT = textwrap.dedent(
    """
    import sys, warnings, uuid
    from custrec import Actor, PlaintextStorageWarning, Registry, SQLiteStore
    from custrec.model.records import Customer, CustomerKind, Contact

    warnings.simplefilter("ignore", PlaintextStorageWarning)
    path, total, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

    def items():
        for i in range(total):
            if i and i % chunk == 0:
                print(f"chunk {i // chunk}", flush=True)
            yield Customer(
                id=str(uuid.UUID(int=(0x7 << 76) | (2 << 62) | i)),
                kind=CustomerKind.INDIVIDUAL,
                name=f"customer {i}",
                contacts=[Contact(phones=[f"+86138{i:08d}"])],
            )

    registry = Registry(SQLiteStore(path))
    importer = Actor(id="import", roles={"admin"})
    result = registry.customers.intake_many(items(), actor=importer, batch_size=chunk)
    print(f"done added={len(result.added)} skipped={len(result.skipped)}", flush=True)
    """
)


def test_sigkill_during_bulk_add_keeps_whole_chunks_and_a_rerun_completes(tmp_path: Path) -> None:
    path = str(tmp_path / "bulk.sqlite")
    script = tmp_path / "bulk.py"
    script.write_text(BULK_SCRIPT)
    total, chunk = 6000, 500
    proc = subprocess.Popen(
        [sys.executable, str(script), path, str(total), str(chunk)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("chunk"):
            seen += 1
            if seen == 4:  # a few chunks in: kill it mid-way
                os.kill(proc.pid, signal.SIGKILL)
                break
        elif not line:
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the import finished before it could be killed"

    store = SQLiteStore(path)
    with store.transaction(readonly=True) as session:
        stored = session.customers.count()
        histories = sum(
            len(session.history.list_for(r.id)) for r in session.customers.query(limit=total)
        )
        audits = len(session.audit.read(limit=total))
    store.close()
    assert 0 < stored < total
    assert stored % chunk == 0, "a chunk was half-written"
    assert histories == stored and audits == stored

    rerun = subprocess.run(
        [sys.executable, str(script), path, str(total), str(chunk)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"done added={total - stored} skipped={stored}" in rerun.stdout
    store = SQLiteStore(path)
    with store.transaction(readonly=True) as session:
        assert session.customers.count() == total
    store.close()


@pytest.mark.parametrize("path_kind", ["file"])
def test_main_job_example_is_idempotent(tmp_path: Path, path_kind: str) -> None:
    db = tmp_path / "customers.sqlite"
    example = Path(__file__).parents[2] / "examples" / "intake_sqlite.py"
    first = subprocess.run(
        [sys.executable, str(example), str(db)], capture_output=True, text=True, check=True
    )
    assert "added 4, duplicates 1, rejected 2; 4 customers" in first.stdout
    second = subprocess.run(
        [sys.executable, str(example), str(db)], capture_output=True, text=True, check=True
    )
    assert "added 0, duplicates 5, rejected 2; 4 customers" in second.stdout
