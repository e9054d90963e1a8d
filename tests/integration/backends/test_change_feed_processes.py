"""The change feed under four writer processes: a reader polling with its cursor while they
commit (and roll back) sees every committed change exactly once, in commit order, on SQLite and
PostgreSQL."""

from __future__ import annotations

import multiprocessing
import time
import warnings
from collections import Counter
from collections.abc import Callable
from multiprocessing.pool import AsyncResult
from pathlib import Path

import pytest

from custrec import Actor, PlaintextStorageWarning, Registry, SQLiteStore
from custrec.errors import StorageError, ValidationFailed
from custrec.storage import ChangeEvent, Store

WRITER = Actor(id="writer", roles={"admin", "sync"})
WORKERS = 4
UPDATES = 40


def _store(where: tuple[str, str, str | None]) -> Store:
    kind, target, schema = where
    if kind == "sqlite":
        return SQLiteStore(target)
    from custrec.backends.postgres import PostgresStore

    return PostgresStore(target, schema=schema, max_size=2)


def _registry(where: tuple[str, str, str | None]) -> Registry:
    warnings.simplefilter("ignore", PlaintextStorageWarning)
    return Registry(_store(where))


def _retrying(operation: Callable[[], object]) -> None:
    """Run ``operation`` until it commits: a retry-safe refusal (a lock wait given up under
    load) is tried again, as a caller would."""
    while True:
        try:
            operation()
            return
        except StorageError as exc:
            if not exc.retry_safe:
                raise


def _writer(where: tuple[str, str, str | None], number: int) -> tuple[str, int]:
    """Make one customer, update it many times, make a task every fifth step and fail an
    update every seventh (rolled back); return the customer and how many changes committed."""
    registry = _registry(where)
    phone = f"1380013{number:04d}"
    customer = registry.customers.intake(
        {"kind": "individual", "name": f"w{number}", "contacts": [{"phones": [phone]}]},
        actor=WRITER,
    )
    committed = 1
    for step in range(UPDATES):
        _retrying(
            lambda step=step: registry.customers.update(
                customer.id, {"notes": str(step)}, actor=WRITER, reason="step"
            )
        )
        committed += 1
        if step % 5 == 0:
            _retrying(
                lambda: registry.tasks.create(
                    {"customer_id": customer.id, "due_at": "2030-01-01T00:00:00+00:00"},
                    actor=WRITER,
                )
            )
            committed += 1
        if step % 7 == 0:
            try:
                registry.customers.update(
                    customer.id, {"kind": "alien"}, actor=WRITER, reason="bad"
                )
            except ValidationFailed:
                pass
    registry._context.store.close()
    return customer.id, committed


def _follow(
    where: tuple[str, str, str | None], pending: AsyncResult[list[tuple[str, int]]]
) -> list[ChangeEvent]:
    registry = _registry(where)
    seen: list[ChangeEvent] = []
    cursor = None
    deadline = time.monotonic() + 600
    committed: int | None = None  # known once the writers are done
    while True:
        if committed is None and pending.ready():
            committed = sum(n for _, n in pending.get())
        page = registry.changes.since(cursor, actor=WRITER, limit=37)
        seen.extend(page.events)
        cursor = page.cursor
        # on PostgreSQL a transaction still running anywhere on the server (another test's)
        # holds later events back until it ends: an empty page once the writers are done
        # is not the end of the feed, so wait until what they committed has come
        if committed is not None and not page.events and len(seen) >= committed:
            break
        assert time.monotonic() < deadline, "the writers' changes did not all come"
    whole: list[ChangeEvent] = []
    cursor = None
    while True:
        page = registry.changes.since(cursor, actor=WRITER, limit=1000)
        if not page.events:
            break
        whole.extend(page.events)
        cursor = page.cursor
    assert seen == whole  # what the poller saw while they wrote is the feed, in its order
    registry._context.store.close()
    return seen


def _run(where: tuple[str, str, str | None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))
    _registry(where)._context.store.close()  # create the schema once
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WORKERS) as pool:
        pending = pool.starmap_async(_writer, [(where, n) for n in range(WORKERS)])
        seen = _follow(where, pending)
        results = pending.get(timeout=600)
    assert len({e.seq for e in seen}) == len(seen)  # nothing repeated
    per_customer = Counter(e.customer_id for e in seen)
    assert {cid: per_customer[cid] for cid, _ in results} == dict(results)  # nothing lost
    assert sum(per_customer.values()) == sum(n for _, n in results)
    registry = _registry(where)
    for customer_id, _ in results:
        updates = [e for e in seen if e.customer_id == customer_id and e.kind == "customer.update"]
        final = registry.customers.get(customer_id, actor=Actor(id="r", roles={"admin"}))
        assert len(updates) == final.version - 1
        kinds = [e.kind for e in seen if e.customer_id == customer_id]
        assert kinds[0] == "customer.create"  # commit order within a customer
    registry._context.store.close()


def test_four_sqlite_writer_processes_lose_and_repeat_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(("sqlite", str(tmp_path / "feed.sqlite"), None), monkeypatch)


def test_four_postgres_writer_processes_lose_and_repeat_nothing(
    postgres_dsn: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(("postgres", postgres_dsn, postgres_schema), monkeypatch)
