"""A pipelined batch that fails part-way on PostgreSQL leaves no broken connection behind.

The backend sends a write method's statements in one pipeline (an advisory lock, then the write;
``BEGIN`` or a savepoint before them). psycopg prepares a statement at its sixth run on a
connection and counts it prepared as soon as its ``Parse`` is queued; when an earlier statement
of the batch fails (here: a lock wait times out), the server skips the rest of the batch, that
``Parse`` included. Before the fix every later run of the statement on that pooled connection
failed with SQLSTATE 26000 ("prepared statement ... does not exist"), not retry-safe, for as long
as the pool kept the connection: rolling back does not clear psycopg's cache once it has seen a
``ROLLBACK``. Now the failure is the lock timeout, retry-safe; the session runs on unprepared
and discards the connection when it ends, and nothing of the failed method is stored. One pooled
connection (``max_size=1``), so every session reuses it. PostgreSQL skips without
``CUSTREC_TEST_POSTGRES_DSN``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (custrec[postgres])")

from custrec.backends.postgres import PostgresStore  # noqa: E402
from custrec.errors import DuplicateKey, StorageError  # noqa: E402
from custrec.testing._support import (  # noqa: E402
    activity,
    audit_entry,
    consent,
    customer,
    history_entry,
)

LEDGER = "ledger-owner"  # the customer whose consents and history are appended


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
    with PostgresStore(postgres_dsn, schema=postgres_schema) as other, other.transaction() as s:
        s.customers.add(customer(LEDGER, index_keys=frozenset({"phone:ledger"})))
        s.commit()
    joiner = "&" if "?" in postgres_dsn else "?"
    store = PostgresStore(
        postgres_dsn + joiner + "options=-c%20lock_timeout%3D300",  # a wait fails after 0.3 s
        schema=postgres_schema,
        max_size=1,
        timeout=2.0,  # audit.claim waits this long for the audit lock
    )
    # A connection in use for a while has seen a write method fail (ROLLBACK TO SAVEPOINT) and
    # a session roll back: psycopg then no longer clears its cache on either.
    with store.transaction() as session:
        session.audit.queued(limit=1)
        session.activities.add(activity(LEDGER, "seen"))
        with pytest.raises(DuplicateKey):
            session.activities.add(activity(LEDGER, "seen"))
    yield store
    store.close()


@pytest.fixture
def blocker(postgres_dsn: str) -> Iterator[Any]:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        yield conn


@contextmanager
def _holding(blocker: Any, key: int) -> Iterator[None]:
    """Hold the advisory lock ``key`` exclusive on another connection."""
    blocker.execute(b"BEGIN")
    blocker.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
    try:
        yield
    finally:
        blocker.execute(b"ROLLBACK")


def _claim(store: PostgresStore, n: int) -> None:
    with store.transaction() as session:  # BEGIN goes with the batch
        session.audit.claim(limit=10)
        session.commit()


def _claim_after_a_read(store: PostgresStore, n: int) -> None:
    with store.transaction() as session:  # a savepoint goes with the batch
        session.audit.queued(limit=1)
        session.audit.claim(limit=10)
        session.commit()


def _add(store: PostgresStore, n: int) -> None:
    with store.transaction() as session:
        session.customers.add(customer(f"added-{n}", index_keys=frozenset({f"phone:{n}"})))
        session.commit()


def _update(store: PostgresStore, n: int) -> None:
    with store.transaction() as session:
        row = session.customers.get(LEDGER)
        changed = customer(LEDGER, index_keys=frozenset({f"phone:ledger:{n}"}), grade="A")
        session.customers.update(changed, expected_version=row.version)
        session.commit()


def _append_consent(store: PostgresStore, n: int) -> None:
    with store.transaction() as session:
        session.consents.append(consent(LEDGER))
        session.commit()


def _append_history(store: PostgresStore, n: int) -> None:
    with store.transaction() as session:
        session.history.append([history_entry(LEDGER)])
        session.commit()


def _append_audit(store: PostgresStore, n: int) -> None:
    with store.transaction() as session:
        session.audit.append([audit_entry(LEDGER)])
        session.commit()


def _rows(table: str, where: str = "") -> Callable[[Any, str], int]:
    def count(admin: Any, schema: str) -> int:
        sql = f'SELECT count(*) FROM "{schema}".{table} {where}'.encode()
        return int(admin.execute(sql, (LEDGER,) if where else None).fetchone()[0])

    return count


def _versions(admin: Any, schema: str) -> int:
    """How many updates LEDGER has had."""
    sql = f'SELECT version - 1 FROM "{schema}".customers WHERE id = %s'.encode()
    return int(admin.execute(sql, (LEDGER,)).fetchone()[0])


_LEDGER_ROWS = "WHERE customer_id = %s"
# (operation, the advisory lock its batch waits for, what it stored: 7 runs succeed)
BATCHES: dict[str, tuple[Callable[[PostgresStore, int], None], Callable[..., int], Any]] = {
    "audit.claim": (_claim, lambda s: s._audit_key, None),
    "audit.claim-after-a-read": (_claim_after_a_read, lambda s: s._audit_key, None),
    "customers.add": (_add, lambda s: s._index_lock_key, _rows("customers", "WHERE id <> %s")),
    "customers.update": (_update, lambda s: s._index_lock_key, _versions),
    "consents.append": (
        _append_consent,
        lambda s: s._ledger_key("consents", LEDGER),
        _rows("consents", _LEDGER_ROWS),
    ),
    "history.append": (
        _append_history,
        lambda s: s._ledger_key("history", LEDGER),
        _rows("history", _LEDGER_ROWS),
    ),
    "audit.append": (_append_audit, lambda s: s._audit_key, _rows("audit")),
}


@pytest.mark.parametrize("batch", list(BATCHES))
def test_a_batch_that_fails_on_its_sixth_run_leaves_the_operation_working(
    store: PostgresStore, blocker: Any, postgres_schema: str, batch: str
) -> None:
    run, lock, stored = BATCHES[batch]
    for n in range(5):  # the sixth run prepares the batch's statements
        run(store, n)
    with _holding(blocker, lock(store)), pytest.raises(StorageError) as blocked:
        run(store, 5)
    assert blocked.value.retry_safe
    assert "55P03" in str(blocked.value)  # the lock timeout, nothing else
    run(store, 5)  # the same operation again, on the store's one pool slot
    run(store, 6)
    if stored is not None:  # the failed run stored nothing, the retry once
        assert stored(blocker, postgres_schema) == 7


def test_the_session_that_saw_the_failure_goes_on_and_commits_once(
    store: PostgresStore, blocker: Any, postgres_schema: str
) -> None:
    for n in range(5):
        _add(store, n)
    row = customer("retried", index_keys=frozenset({"phone:retried"}))
    with store.transaction() as session:
        session.audit.queued(limit=1)  # so the write rolls back to its savepoint
        with _holding(blocker, store._index_lock_key), pytest.raises(StorageError) as blocked:
            session.customers.add(row)
        assert blocked.value.retry_safe
        session.customers.add(row)  # the same statements, in the same transaction
        session.commit()
    with store.transaction(readonly=True) as session:
        assert session.customers.get("retried").id == "retried"
    _add(store, 5)


def test_a_batch_whose_last_statement_fails_keeps_the_connection(store: PostgresStore) -> None:
    """Nothing was skipped, so nothing is lost: a duplicate (an import run twice) costs no new
    connection."""

    def backend() -> int:
        with store.transaction(readonly=True) as session:
            session.audit.queued(limit=1)
            return int(session._conn.info.backend_pid)  # type: ignore[attr-defined]

    for n in range(6):
        _add(store, n)
    before = backend()
    for _ in range(3):
        with pytest.raises(DuplicateKey):
            _add(store, 0)
    _add(store, 6)
    assert backend() == before


def test_a_prepared_statement_lost_behind_psycopgs_back_is_retry_safe(
    store: PostgresStore,
) -> None:
    """A pooler, or a ``DEALLOCATE ALL`` another library sends on the connection, removes the
    statements psycopg has prepared: the operation fails retry-safe and the connection goes."""
    for n in range(6):
        _claim(store, n)
    with store.transaction() as session:
        conn = session._conn  # type: ignore[attr-defined]
        conn.pgconn.exec_(b"DEALLOCATE ALL")  # libpq directly: psycopg does not see it
        with pytest.raises(StorageError) as lost:
            session.audit.claim(limit=10)
    assert lost.value.retry_safe
    assert "26000" in str(lost.value)
    assert conn.closed
    _claim(store, 6)
    _claim(store, 7)
