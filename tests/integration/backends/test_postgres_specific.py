"""PostgresStore behaviour that the generic conformance kit does not cover.

Schema versioning and migration (also two processes starting at once), the physical schema
(types, indexes, append-only triggers), driver-error translation (unique violation, serialisation
failure, deadlock, lost connections, messages without values), the COPY bulk path, server-side
summaries, ledger and audit numbering under concurrency, pool limits, close() and the lazy
import. Tests that need a server skip without ``CUSTREC_TEST_POSTGRES_DSN`` and fail without it
under CI, as test_postgres.py does.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (custrec[postgres])")

import custrec.backends.postgres as pg  # noqa: E402
from custrec.backends.postgres import SCHEMA_VERSION, PostgresMigration, PostgresStore  # noqa: E402
from custrec.errors import DuplicateKey, NotFound, StorageError, VersionConflict  # noqa: E402
from custrec.storage import (  # noqa: E402
    ActivityRow,
    AuditRecord,
    Capabilities,
    ConsentRecord,
    CustomerRow,
    HistoryRecord,
    WrappedKey,
)

T0 = datetime(2024, 1, 1, 8, 30, 0, 123456, tzinfo=UTC)
CURRENT = list(range(1, SCHEMA_VERSION + 1))  # the schema versions a new schema records
CST = timezone(timedelta(hours=8))


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dsn(postgres_dsn: str) -> str:
    """The server, from conftest.py: without one the test skips (fails under CI)."""
    return postgres_dsn


@pytest.fixture
def admin(dsn: str) -> Iterator[Any]:
    """A plain autocommit connection for looking behind the store's back."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def schema(postgres_schema: str) -> str:
    """A fresh schema name, from conftest.py; the schema is dropped afterwards."""
    return postgres_schema


@pytest.fixture
def store(dsn: str, schema: str) -> Iterator[PostgresStore]:
    # Named after the schema, so that wait_until_blocked sees this test's sessions only.
    s = PostgresStore(dsn, schema=schema, application_name=f"custrec-{schema}")
    yield s
    s.close()


def customer(customer_id: str, **changes: Any) -> CustomerRow:
    fields: dict[str, Any] = {
        "id": customer_id,
        "payload": b"sealed:" + customer_id.encode(),
        "index_keys": {f"k:{customer_id}"},
        "kind": "individual",
        "stage": "lead",
        "tags": ("vip",),
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return CustomerRow(**fields)


def purchase(activity_id: str, customer_id: str, amount: str, **changes: Any) -> ActivityRow:
    fields: dict[str, Any] = {
        "id": activity_id,
        "customer_id": customer_id,
        "kind": "transaction",
        "occurred_at": T0,
        "amount": Decimal(amount),
        "currency": "CNY",
        "payload": b"p",
    }
    fields.update(changes)
    return ActivityRow(**fields)


def audit(**changes: Any) -> AuditRecord:
    fields: dict[str, Any] = {"at": T0, "actor_id": "u-1", "action": "read"}
    fields.update(changes)
    return AuditRecord(**fields)


def consent(customer_id: str) -> ConsentRecord:
    return ConsentRecord(
        customer_id=customer_id, recorded_at=T0, purpose="marketing", action="grant", payload=b""
    )


def entry(customer_id: str) -> HistoryRecord:
    return HistoryRecord(
        customer_id=customer_id, at=T0, actor_id="u", action="update", path="stage", payload=b""
    )


def schema_versions(admin: Any, schema: str) -> list[int]:
    rows = admin.execute(f'SELECT version FROM "{schema}".schema_version ORDER BY 1'.encode())
    return [r[0] for r in rows]


@pg._writes
def tamper(table: Any, sql: str) -> None:
    """An internal write that breaks a rule: it goes through the same guard as public ones."""
    table._exec(sql)


@pg._reads
def sneak(table: Any, sql: str) -> None:
    """An internal statement run as a read (so the Python read-only check does not stop it)."""
    table._exec(sql)


def backend_pid(session: Any) -> int:
    return int(session._conn.info.backend_pid)


def terminate(admin: Any, pid: int) -> None:
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    for _ in range(100):  # wait until the server has really ended it
        gone = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
        if gone.fetchone()[0] == 0:
            return
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# Import, arguments, capabilities (no server needed for most)
# ---------------------------------------------------------------------------------------------


def test_custrec_imports_without_psycopg_and_names_the_extra() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["psycopg"] = None  # as if the extra were not installed
        sys.modules["psycopg_pool"] = None
        import custrec
        import custrec.backends
        from custrec.backends import MemoryStore, SQLiteStore
        assert "PostgresStore" in dir(custrec.backends)
        try:
            custrec.backends.PostgresStore
        except ImportError as exc:
            assert "pip install custrec[postgres]" in str(exc), exc
            assert "psycopg[binary] or psycopg[c]" in str(exc), exc
            print("ok")
        else:
            raise SystemExit("PostgresStore imported without psycopg")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_without_libpq_the_message_names_the_extra_and_the_libpq_choices() -> None:
    # psycopg is installed but finds no libpq: no wheel (binary, c) and none on the system.
    script = textwrap.dedent(
        """
        import ctypes.util, sys
        sys.modules["psycopg_binary"] = None
        sys.modules["psycopg_c"] = None
        ctypes.util.find_library = lambda name: None
        try:
            import custrec.backends.postgres
        except ImportError as exc:
            print(str(exc))
        else:
            raise SystemExit("custrec.backends.postgres imported without libpq")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    message = done.stdout
    assert "pip install custrec[postgres]" in message
    assert "psycopg[binary]" in message and "psycopg[c]" in message
    assert "libpq" in message


def test_backends_package_exports_postgres_store_lazily() -> None:
    import custrec.backends

    assert custrec.backends.PostgresStore is PostgresStore
    with pytest.raises(AttributeError):
        _ = custrec.backends.NoSuchStore


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"schema": "Public"}, ValueError),
        ({"schema": "1abc"}, ValueError),
        ({"schema": "a-b"}, ValueError),
        ({"schema": 'x"; DROP'}, ValueError),
        ({"schema": "pg_custrec"}, ValueError),
        ({"schema": "x" * 64}, ValueError),
        ({"min_size": -1}, ValueError),
        ({"max_size": 0}, ValueError),
        ({"min_size": 5, "max_size": 2}, ValueError),
        ({"max_size": 1.5}, TypeError),
        ({"timeout": 0}, ValueError),
        ({"timeout": "1"}, TypeError),
        ({"connect_timeout": float("inf")}, ValueError),
    ],
)
def test_bad_arguments_are_refused_before_connecting(kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        PostgresStore("postgresql://nobody@127.0.0.1:1/none", **kwargs)


@pytest.mark.parametrize("dsn_text", ["", "   ", "host=x port", "postgresql://[bad"])
def test_bad_dsn_is_refused_without_repeating_it(dsn_text: str) -> None:
    with pytest.raises(ValueError, match="dsn") as info:
        PostgresStore(dsn_text)
    if dsn_text.strip():
        assert dsn_text not in str(info.value)


def test_unreachable_server_is_a_storage_error_without_the_password() -> None:
    start = time.monotonic()
    with pytest.raises(StorageError) as info:
        PostgresStore("postgresql://someone:s3cr3t-pw@127.0.0.1:1/db", connect_timeout=2)
    assert time.monotonic() - start < 10
    assert "s3cr3t-pw" not in str(info.value)
    assert "127.0.0.1:1/db" in str(info.value)
    assert isinstance(info.value.__cause__, psycopg.Error)


def test_wrong_password_is_a_storage_error_without_the_password(dsn: str) -> None:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params["password"] = "not-the-pw-0451"
    wrong = psycopg.conninfo.make_conninfo(**params)
    with pytest.raises(StorageError) as info:
        PostgresStore(wrong)
    assert "not-the-pw-0451" not in str(info.value)
    assert "not-the-pw-0451" not in repr(info.value)


def test_capabilities_schema_and_repr(store: PostgresStore, dsn: str, schema: str) -> None:
    assert store.capabilities == Capabilities(
        multiprocess=True, persistent=True, concurrent_reads=True, concurrent_writes=True
    )
    assert store.schema == schema
    password = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
    assert schema in repr(store)
    if password:
        assert str(password) not in repr(store)


def test_default_schema_is_custrec(dsn: str, admin: Any) -> None:
    existed = admin.execute(
        "SELECT 1 FROM pg_namespace WHERE nspname = %s", (pg.DEFAULT_SCHEMA,)
    ).fetchone()
    if existed is not None:
        pytest.skip("the server already has a custrec schema; not touching it")
    try:
        with PostgresStore(dsn) as store:
            assert store.schema == "custrec"
    finally:
        admin.execute(b'DROP SCHEMA IF EXISTS "custrec" CASCADE')


# ---------------------------------------------------------------------------------------------
# Schema: versions, migrations, physical layout
# ---------------------------------------------------------------------------------------------


def test_new_schema_is_at_current_version(store: PostgresStore, admin: Any, schema: str) -> None:
    assert SCHEMA_VERSION == 8
    assert schema_versions(admin, schema) == CURRENT


def test_forward_migration_from_an_older_version(
    dsn: str, schema: str, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PostgresStore(dsn, schema=schema) as store, store.transaction() as s:
        s.customers.add(customer("c-1"))
        s.commit()
    note = "CREATE TABLE {s}.notes AS SELECT id AS body FROM {s}.customers"
    notes = PostgresMigration(SCHEMA_VERSION + 1, "notes", (note,))
    monkeypatch.setattr(pg, "MIGRATIONS", (*pg.MIGRATIONS, notes))
    with PostgresStore(dsn, schema=schema) as store, store.transaction(readonly=True) as s:
        assert s.customers.get("c-1").payload == b"sealed:c-1"
    assert schema_versions(admin, schema) == [*CURRENT, SCHEMA_VERSION + 1]
    assert admin.execute(f'SELECT body FROM "{schema}".notes'.encode()).fetchall() == [("c-1",)]
    PostgresStore(dsn, schema=schema).close()  # reopening does not apply it again
    assert admin.execute(f'SELECT count(*) FROM "{schema}".notes'.encode()).fetchone() == (1,)


def test_schema_2_backfills_the_row_state_of_tombstones_and_aliases(
    dsn: str, schema: str, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg, "MIGRATIONS", pg.MIGRATIONS[:1])
    PostgresStore(dsn, schema=schema).close()  # a schema-1 database
    payloads = {
        "c-1": b"sealed",
        "c-2": b'{"schema_version":1,"erased":{"at":"2025-01-01T00:00:00+00:00"}}',
        "c-3": b'{"schema_version":1,"merged_into":"c-1","merged":{}}',
        "c-4": b'{"schema_version":1,"data":{"erased":1}}',
    }
    for customer_id, payload in payloads.items():
        admin.execute(
            f'INSERT INTO "{schema}".customers (id, version, payload, kind, stage, created_at, '
            "updated_at) VALUES (%s, 1, %s, 'individual', 'lead', now(), now())".encode(),
            (customer_id, payload),
        )
    monkeypatch.undo()
    with PostgresStore(dsn, schema=schema) as store, store.transaction(readonly=True) as s:
        states = {row.id: row.state for row in s.customers.query(limit=10)}
        assert states == {"c-1": "live", "c-2": "erased", "c-3": "merged", "c-4": "live"}
        assert s.meta.get("anything") is None
    assert schema_versions(admin, schema) == CURRENT


def test_failing_migration_leaves_the_schema_untouched(
    store: PostgresStore, dsn: str, schema: str, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.close()
    broken = ("CREATE TABLE {s}.half_done (x integer)", "THIS IS NOT SQL")
    monkeypatch.setattr(
        pg, "MIGRATIONS", (*pg.MIGRATIONS, PostgresMigration(SCHEMA_VERSION + 1, "bad", broken))
    )
    with pytest.raises(StorageError) as info:
        PostgresStore(dsn, schema=schema)
    assert isinstance(info.value.__cause__, psycopg.Error)
    assert schema_versions(admin, schema) == CURRENT
    assert admin.execute("SELECT to_regclass(%s)", (f"{schema}.half_done",)).fetchone() == (None,)


def test_newer_schema_is_refused(store: PostgresStore, dsn: str, schema: str, admin: Any) -> None:
    store.close()
    admin.execute(
        f'INSERT INTO "{schema}".schema_version (version, description) '
        "VALUES (99, 'future')".encode()
    )
    with pytest.raises(StorageError, match="newer") as info:
        PostgresStore(dsn, schema=schema)
    assert "99" in str(info.value)
    assert not info.value.retry_safe


def test_foreign_schema_is_refused(dsn: str, schema: str, admin: Any) -> None:
    admin.execute(f'CREATE SCHEMA "{schema}"'.encode())
    admin.execute(f'CREATE TABLE "{schema}".something_else (x integer)'.encode())
    with pytest.raises(StorageError, match="not a custrec schema"):
        PostgresStore(dsn, schema=schema)


def test_migration_numbering_is_checked(
    dsn: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        pg, "MIGRATIONS", (*pg.MIGRATIONS, PostgresMigration(SCHEMA_VERSION + 2, "gap", ()))
    )
    with pytest.raises(RuntimeError, match="numbered"):
        PostgresStore(dsn, schema=schema)


def test_processes_starting_at_once_migrate_once(
    dsn: str, schema: str, admin: Any, tmp_path: Path
) -> None:
    # a barrier across processes: each says it is ready (custrec imported), then waits for "go",
    # which the test writes once all four are ready
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        from custrec.backends.postgres import PostgresStore
        here = Path(sys.argv[2])
        (here / f"ready-{{os.getpid()}}").touch()
        deadline = time.monotonic() + 60
        while not (here / "go").exists():
            assert time.monotonic() < deadline, "no go"
            time.sleep(0.001)  # the poll interval; the file is what is waited on
        store = PostgresStore(sys.argv[1], schema={schema!r})
        with store.transaction() as s:
            s.audit.append([])
            s.commit()
        store.close()
        print("opened")
        """
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, dsn, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 4:
        assert all(w.poll() is None for w in workers), "a worker ended before the barrier"
        assert time.monotonic() < deadline, "the workers did not get ready"
        time.sleep(0.01)  # the poll interval; the ready files are what is waited on
    (tmp_path / "go").touch()
    outcomes = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0] * 4, [err for _, err in outcomes]
    assert [out.strip() for out, _ in outcomes] == ["opened"] * 4
    assert schema_versions(admin, schema) == CURRENT


def test_threads_opening_one_new_schema_at_once(dsn: str, schema: str, admin: Any) -> None:
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            barrier.wait(30)
            PostgresStore(dsn, schema=schema, min_size=0).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert schema_versions(admin, schema) == CURRENT


def column_types(admin: Any, schema: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    rows = admin.execute(
        "SELECT c.table_name, c.column_name, format_type(a.atttypid, a.atttypmod), "
        "c.collation_name FROM information_schema.columns c "
        "JOIN pg_attribute a ON a.attrelid = format('%%I.%%I', c.table_schema, c.table_name)"
        "::regclass AND a.attname = c.column_name WHERE c.table_schema = %s",
        (schema,),
    )
    return {(t, c): (ty, coll) for t, c, ty, coll in rows}


def test_physical_types(store: PostgresStore, admin: Any, schema: str) -> None:
    types = column_types(admin, schema)
    for table in ("customers", "activities", "consents", "history"):
        assert types[(table, "payload")][0] == "bytea"
    assert types[("data_keys", "wrapped")][0] == "bytea"
    assert types[("audit", "chain")][0] == "bytea"
    assert types[("audit", "fields")][0] == "text[]"
    assert types[("audit", "seq")][0] == "bigint"
    assert types[("activities", "amount")][0] == "numeric(24,4)"
    for table, column in (
        ("customers", "created_at"),
        ("customers", "updated_at"),
        ("activities", "occurred_at"),
        ("consents", "recorded_at"),
        ("history", "at"),
        ("audit", "at"),
        ("data_keys", "created_at"),
    ):
        assert types[(table, column)][0] == "timestamp with time zone", (table, column)
    # Ordering columns sort by code point, like Python, whatever the database locale.
    for table, column in (
        ("customers", "id"),
        ("activities", "id"),
        ("activities", "customer_id"),
        ("activities", "currency"),
        ("customer_index", "key"),
        ("customer_tags", "tag"),
        ("data_keys", "customer_id"),
    ):
        assert types[(table, column)][1] == "C", (table, column)


def test_index_keys_tags_and_facets_are_indexed(
    store: PostgresStore, admin: Any, schema: str
) -> None:
    rows = admin.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s", (schema,)
    )
    defs = dict(rows.fetchall())
    assert "(key, customer_id)" in defs["customer_index_key"]
    assert "(tag, customer_id)" in defs["customer_tags_tag"]
    for facet in ("kind", "stage", "owner", "team", "grade"):
        assert f"({facet}, id)" in defs[f"customers_{facet}"]
    assert "INCLUDE (amount)" in defs["activities_purchases"]
    assert "WHERE (kind = 'transaction'" in defs["activities_purchases"]


def test_schemas_are_independent(dsn: str, store: PostgresStore, admin: Any) -> None:
    other_schema = f"t_{secrets.token_hex(8)}"
    try:
        with PostgresStore(dsn, schema=other_schema) as other:
            with store.transaction() as s:
                s.customers.add(customer("c-1"))
                s.audit.append([audit()])
                s.commit()
            with other.transaction() as s:
                assert s.customers.count() == 0
                assert s.audit.append([audit()]) == [1]  # its own audit sequence
                s.commit()
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{other_schema}" CASCADE'.encode())


# ---------------------------------------------------------------------------------------------
# Append-only tables
# ---------------------------------------------------------------------------------------------


def test_append_only_triggers_refuse_update_delete_and_truncate(
    store: PostgresStore, admin: Any, schema: str
) -> None:
    with store.transaction() as s:
        s.consents.append(consent("c-1"))
        s.history.append([entry("c-1")])
        s.audit.append([audit()])
        s.commit()
    for sql in (
        "UPDATE {s}.consents SET action = 'withdraw'",
        "DELETE FROM {s}.consents",
        "TRUNCATE {s}.consents",
        "UPDATE {s}.history SET path = 'x'",
        "DELETE FROM {s}.history",
        "TRUNCATE {s}.history",
        "UPDATE {s}.audit SET outcome = 'denied'",
        "DELETE FROM {s}.audit",
        "TRUNCATE {s}.audit",
    ):
        with pytest.raises(psycopg.Error, match="append-only") as info:
            admin.execute(sql.replace("{s}", f'"{schema}"').encode())
        assert info.value.sqlstate == "CR001"
        translated = pg._translate(info.value, "audit.append")
        assert type(translated) is StorageError
        assert "append-only" in str(translated)
        assert not translated.retry_safe
    with store.transaction(readonly=True) as s:
        assert len(s.consents.list_for("c-1")) == 1
        assert len(s.history.list_for("c-1")) == 1
        assert len(s.audit.read()) == 1


def test_trigger_hit_through_a_session_is_translated(store: PostgresStore) -> None:
    with store.transaction() as s:
        s.audit.append([audit()])
        with pytest.raises(StorageError, match="append-only") as info:
            tamper(s.audit, "DELETE FROM {s}.audit")
        assert type(info.value) is StorageError
        assert [r.seq for r in s.audit.read()] == [1]  # the session is still usable
        assert s.audit.append([audit()]) == [2]
        s.commit()


# ---------------------------------------------------------------------------------------------
# Error translation
# ---------------------------------------------------------------------------------------------


def test_unique_violation_translates_to_duplicate_key(store: PostgresStore, admin: Any) -> None:
    with store.transaction() as s:
        s.keys.put(WrappedKey(customer_id="c-1", master_key_id="m", wrapped=b"w", created_at=T0))
        s.commit()
    with pytest.raises(psycopg.errors.UniqueViolation) as info:
        admin.execute(
            f"INSERT INTO \"{store.schema}\".data_keys VALUES ('c-1', 'm', '\\x00', now())".encode()
        )
    translated = pg._translate(info.value, "keys.put")
    assert isinstance(translated, DuplicateKey)
    assert not translated.retry_safe
    with store.transaction() as s, pytest.raises(DuplicateKey):
        s.keys.put(WrappedKey(customer_id="c-1", master_key_id="m", wrapped=b"x", created_at=T0))


@pytest.mark.parametrize(
    ("condition", "retry_safe"),
    [
        ("serialization_failure", True),
        ("deadlock_detected", True),
        ("lock_not_available", True),
        ("query_canceled", False),
        ("disk_full", False),
    ],
)
def test_server_errors_translate_with_the_right_retry_flag(
    store: PostgresStore, condition: str, retry_safe: bool
) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-1"))
        with pytest.raises(StorageError) as info:
            tamper(
                s.customers,
                f"DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '{condition}'; END $$",
            )
        assert type(info.value) is StorageError
        assert info.value.retry_safe is retry_safe
        assert isinstance(info.value.__cause__, psycopg.Error)
        assert s.customers.get("c-1").id == "c-1"  # the savepoint kept the session usable
        s.commit()


def test_real_deadlock_is_retry_safe(store: PostgresStore) -> None:
    with store.transaction() as s:
        s.customers.add_many([customer("a"), customer("b")])
        s.commit()
    both_locked = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def work(first: str, second: str) -> None:
        try:
            with store.transaction() as s:
                s.customers.update(customer(first, stage="x"), expected_version=1)
                both_locked.wait(10)
                s.customers.update(customer(second, stage="x"), expected_version=1)
                s.commit()
            outcomes[first] = "committed"
        except BaseException as exc:
            outcomes[first] = exc

    threads = [
        threading.Thread(target=work, args=("a", "b")),
        threading.Thread(target=work, args=("b", "a")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    failures = [o for o in outcomes.values() if isinstance(o, BaseException)]
    assert len(failures) == 1, outcomes
    (failure,) = failures
    assert type(failure) is StorageError and failure.retry_safe, repr(failure)
    assert "deadlock" in str(failure)
    assert isinstance(failure.__cause__, psycopg.errors.DeadlockDetected)


def test_connection_lost_before_commit_is_retry_safe(store: PostgresStore, admin: Any) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-1"))
        terminate(admin, backend_pid(s))
        with pytest.raises(StorageError) as info:
            s.customers.get("c-1")
        assert info.value.retry_safe
        assert "lost before commit" in str(info.value)
        assert isinstance(info.value.__cause__, psycopg.OperationalError)
        with pytest.raises(StorageError):  # the session is over
            s.customers.count()
    with store.transaction() as s:  # the store recovers with a fresh connection
        assert s.customers.count() == 0
        s.customers.add(customer("c-1"))
        s.commit()


def test_connection_lost_during_a_write_is_retry_safe(store: PostgresStore, admin: Any) -> None:
    with store.transaction() as s:
        assert s.customers.count() == 0  # the transaction has begun on this connection
        terminate(admin, backend_pid(s))
        with pytest.raises(StorageError) as info:
            s.customers.add(customer("c-1"))
        assert info.value.retry_safe
    with store.transaction(readonly=True) as s:
        assert s.customers.count() == 0


def test_connection_lost_before_the_first_statement_is_replaced(
    store: PostgresStore, admin: Any
) -> None:
    # BEGIN goes with the first statement: nothing had happened on the dead connection
    with store.transaction() as s:
        lost = backend_pid(s)
        terminate(admin, lost)
        s.customers.add(customer("c-1"))
        assert backend_pid(s) != lost
        s.commit()
    with store.transaction(readonly=True) as s:
        assert s.customers.count() == 1


def test_a_transaction_that_sent_nothing_ends_without_a_statement(
    store: PostgresStore, admin: Any
) -> None:
    for end in ("commit", "rollback"):
        with store.transaction() as s:
            terminate(admin, backend_pid(s))  # never noticed: nothing is sent
            getattr(s, end)()
            assert repr(s).endswith("committed>" if end == "commit" else "rolled back>")


def test_connection_lost_at_commit_is_not_retry_safe(store: PostgresStore, admin: Any) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-1"))
        terminate(admin, backend_pid(s))
        with pytest.raises(StorageError) as info:
            s.commit()
        assert not info.value.retry_safe
        assert "unknown" in str(info.value)
        with pytest.raises(StorageError):
            s.commit()


def test_dead_idle_connections_are_replaced_transparently(
    dsn: str, schema: str, admin: Any
) -> None:
    with PostgresStore(dsn, schema=schema, min_size=2, max_size=2) as store:
        pids = set()
        with store.transaction() as s:
            pids.add(backend_pid(s))
            s.customers.add(customer("c-1"))
            s.commit()
        for pid in pids:
            terminate(admin, pid)
        with store.transaction(readonly=True) as s:
            assert s.customers.get("c-1").id == "c-1"
            assert backend_pid(s) not in pids


def test_messages_never_repeat_values(store: PostgresStore) -> None:
    secret = b"13800138000"
    with store.transaction() as s:
        s.customers.add(customer("c-1", payload=secret))
        with pytest.raises(DuplicateKey) as dup:
            s.customers.add(customer("c-1", payload=secret))
        # A check violation's DETAIL would repeat the whole row: only the primary message is used.
        with pytest.raises(StorageError) as check:
            tamper(
                s.activities,
                "INSERT INTO {s}.activities VALUES "
                "('a-1', 'c-1', 'gift', now(), 1, 'CNY', '\\x3133383030313338303030')",
            )
        # A data exception may quote the input in its primary message: left out entirely.
        with pytest.raises(StorageError) as data:
            tamper(s.activities, "SELECT '13800138000'::integer")
    for info in (dup, check, data):
        assert "13800138000" not in str(info.value)
    assert "check constraint" in str(check.value)
    assert "22003" in str(data.value)


def test_text_with_nul_is_a_value_error_and_leaves_the_session_usable(
    store: PostgresStore,
) -> None:
    with store.transaction() as s:
        with pytest.raises(ValueError, match="NUL"):
            s.customers.add(customer("c\x00-1"))
        s.customers.add(customer("c-1"))
        s.commit()


# ---------------------------------------------------------------------------------------------
# Values: bytea, numeric, timestamptz
# ---------------------------------------------------------------------------------------------


def test_large_binary_payloads_round_trip(store: PostgresStore) -> None:
    blob = os.urandom(1 << 20) + bytes(range(256))
    with store.transaction() as s:
        s.customers.add(customer("c-1", payload=blob))
        s.activities.add(purchase("a-1", "c-1", "1", payload=blob))
        s.consents.append(attrs.evolve(consent("c-1"), payload=blob))
        s.commit()
    with store.transaction(readonly=True) as s:
        assert s.customers.get("c-1").payload == blob
        assert s.activities.list_for("c-1")[0].payload == blob
        assert s.consents.list_for("c-1")[0].payload == blob


def test_amount_rules(store: PostgresStore) -> None:
    with store.transaction() as s:
        for bad in ("0.00001", "1.23456", "922337203685477.5808", "-1e16"):
            with pytest.raises(ValueError, match=r"decimal places|too large"):
                s.activities.add(purchase("a-x", "c-1", bad))
        with pytest.raises(ValueError, match="finite"):
            s.activities.add(purchase("a-x", "c-1", "NaN"))
        with pytest.raises(TypeError):
            s.activities.add(attrs.evolve(purchase("a-x", "c-1", "1"), amount=1.5))  # type: ignore[arg-type]
        s.activities.add(purchase("a-1", "c-1", "1.23000"))  # trailing zeros are fine
        whole: Any = 7  # whole ints are accepted too
        s.activities.add(attrs.evolve(purchase("a-2", "c-1", "1"), amount=whole))
        s.activities.add(purchase("a-3", "c-1", "922337203685477.5807"))
        s.commit()
    with store.transaction(readonly=True) as s:
        amounts = [a.amount for a in s.activities.list_for("c-1")]
    assert amounts == [Decimal("1.23"), Decimal(7), Decimal("922337203685477.5807")]
    assert all(type(a) is Decimal for a in amounts)


def test_sums_are_exact_and_bounded(store: PostgresStore) -> None:
    with store.transaction() as s:
        s.activities.add_many([purchase(f"a-{i}", "c-1", "0.1") for i in range(10)])
        s.activities.add(purchase("a-x", "c-1", "0.0001"))
        s.activities.add_many([purchase(f"b-{i}", "c-2", "900000000000000") for i in range(2)])
        s.commit()
    with store.transaction(readonly=True) as s:
        (summary,) = s.activities.summaries(as_of=T0, limit=1)
        assert summary.total_spent == Decimal("1.0001")
        assert summary.purchase_count == 11
    with store.transaction(readonly=True) as s, pytest.raises(StorageError, match="range"):
        s.activities.summaries(as_of=T0)


def test_instants_round_trip_as_utc_with_microseconds(store: PostgresStore) -> None:
    local = datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=CST)
    with store.transaction() as s:
        s.customers.add(customer("c-1", created_at=local, updated_at=local))
        s.commit()
    with store.transaction(readonly=True) as s:
        got = s.customers.get("c-1")
    assert got.created_at == local
    assert got.created_at.tzinfo is UTC
    assert got.created_at.microsecond == 999_999


# ---------------------------------------------------------------------------------------------
# COPY bulk path and server-side summaries
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the statement of every COPY the backend starts."""
    seen: list[str] = []
    original = psycopg.Cursor.copy

    def spy(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
        text = statement.decode() if isinstance(statement, bytes) else str(statement)
        seen.append(" ".join(text.split()))
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "copy", spy)
    return seen


def test_add_many_copies_rows_children_included(store: PostgresStore, copies: list[str]) -> None:
    rows = [
        customer(f"c-{i:05d}", index_keys={f"p:{i}", f"e:{i}"}, tags=("b", "a", "b"))
        for i in range(2500)
    ]
    with store.transaction() as s:
        assert s.customers.add_many(rows) == 2500
        acts = [purchase(f"a-{i:05d}", f"c-{i % 2500:05d}", "1.5") for i in range(5000)]
        assert s.activities.add_many(acts) == 5000
        s.commit()
    assert [c.split(" (")[0] for c in copies] == [
        f'COPY "{store.schema}".customers',
        f'COPY "{store.schema}".customer_index',
        f'COPY "{store.schema}".customer_tags',
        f'COPY "{store.schema}".activities',
    ]
    assert all("FORMAT BINARY" in c for c in copies)
    with store.transaction(readonly=True) as s:
        got = s.customers.get("c-01234")
        assert got == attrs.evolve(rows[1234], version=1)
        assert s.customers.lookup("e:77") == ["c-00077"]
        assert len(s.activities.list_for("c-00001")) == 2


def test_add_many_skip_existing_merges_through_a_staging_table(
    store: PostgresStore, copies: list[str]
) -> None:
    old = customer("c-1", payload=b"old", index_keys={"old-key"}, tags=("old",))
    with store.transaction() as s:
        s.customers.add(old)
        s.activities.add(purchase("a-1", "c-1", "5"))
        s.commit()
    copies.clear()
    batch = [
        customer("c-2", index_keys={"k2"}, tags=("x", "y")),
        customer("c-1", payload=b"new", index_keys={"new-key"}, tags=("new",)),
        customer("c-3", index_keys={"k3"}),
        customer("c-2", payload=b"second copy", index_keys={"k2-again"}),
    ]
    with store.transaction() as s:
        assert s.customers.add_many(batch, skip_existing=True) == 2
        activities = [purchase("a-1", "c-1", "999"), purchase("a-2", "c-1", "1")]
        assert s.activities.add_many(activities, skip_existing=True) == 1
        assert s.customers.add_many(batch, skip_existing=True) == 0  # twice in one session
        s.commit()
    assert all("pg_temp.custrec_stage_" in c for c in copies), copies
    with store.transaction(readonly=True) as s:
        assert s.customers.get("c-1") == attrs.evolve(old, version=1)  # untouched
        assert s.customers.get("c-2") == attrs.evolve(batch[0], version=1)  # first one wins
        assert s.customers.lookup_many(["old-key", "new-key", "k2", "k2-again", "k3"]) == {
            "old-key": ["c-1"],
            "k2": ["c-2"],
            "k3": ["c-3"],
        }
        assert [a.amount for a in s.activities.list_for("c-1")] == [Decimal(5), Decimal(1)]


def test_add_many_of_existing_rows_fails_whole(store: PostgresStore) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-2"))
        s.commit()
    with store.transaction() as s:
        s.customers.add(customer("c-0"))
        with pytest.raises(DuplicateKey, match="c-2"):
            s.customers.add_many([customer("c-1"), customer("c-2"), customer("c-3")])
        with pytest.raises(DuplicateKey, match="twice"):
            s.customers.add_many([customer("c-4"), customer("c-4")])
        assert [r.id for r in s.customers.query()] == ["c-0", "c-2"]
        s.commit()


@pytest.fixture
def summary_queries(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[int]]]:
    """Record each server-side cursor's statement and the sizes of its fetches."""
    seen: list[tuple[str, list[int]]] = []
    execute, fetchmany = psycopg.ServerCursor.execute, psycopg.ServerCursor.fetchmany

    def spy_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        text = query.decode() if isinstance(query, bytes) else str(query)
        seen.append((" ".join(text.split()), []))
        return execute(self, query, *args, **kwargs)

    def spy_fetchmany(self: Any, size: int = 0) -> Any:
        rows = fetchmany(self, size)
        seen[-1][1].append(len(rows))
        return rows

    monkeypatch.setattr(psycopg.ServerCursor, "execute", spy_execute)
    monkeypatch.setattr(psycopg.ServerCursor, "fetchmany", spy_fetchmany)
    return seen


def test_summaries_stream_one_group_by_through_a_server_cursor(
    store: PostgresStore, summary_queries: list[tuple[str, list[int]]]
) -> None:
    rows = []
    for c in range(300):
        for n in range(4):
            currency = "USD" if (c % 3 == 0 and n == 3) else "CNY"
            rows.append(purchase(f"a-{c:04d}-{n}", f"c-{c:04d}", "2.5", currency=currency))
    with store.transaction() as s:
        s.activities.add_many(rows)
        s.commit()
    with store.transaction(readonly=True) as s:
        everything = s.activities.summaries(as_of=T0, limit=10_000)
        pages = []
        after = None
        while page := s.activities.summaries(as_of=T0, after=after, limit=7):
            assert len({x.customer_id for x in page}) <= 7
            pages.extend(page)
            after = page[-1].customer_id
    assert pages == everything
    assert len({x.customer_id for x in everything}) == 300
    assert len(everything) == 400  # a third of the customers also bought in USD
    assert everything[0].total_spent == Decimal("7.5") and everything[0].currency == "CNY"
    statements = {statement for statement, _ in summary_queries}
    assert len(statements) == 1
    (statement,) = statements
    assert statement.count("GROUP BY") == 1
    assert "GROUP BY customer_id, currency" in statement
    # A page of 7 customers fetches a handful of rows, not the whole result.
    assert all(sum(sizes) <= 7 + 100 + 1 for _, sizes in summary_queries[1:])


def test_summaries_plan_walks_the_covering_index_without_sorting(
    store: PostgresStore, admin: Any
) -> None:
    rows = [purchase(f"a-{i:06d}", f"c-{i % 5000:05d}", "1") for i in range(20_000)]
    with store.transaction() as s:
        s.activities.add_many(rows)
        s.commit()
    query = pg._SUMMARIES.replace("{s}", f'"{store.schema}"')
    for analysed in (False, True):  # freshly loaded (no statistics yet) and analysed
        if analysed:
            admin.execute(f'ANALYZE "{store.schema}".activities'.encode())
        with admin.transaction():
            plan = "\n".join(
                r[0]
                for r in admin.execute(
                    ("EXPLAIN DECLARE probe CURSOR FOR " + query).encode(),
                    {"as_of": T0, "after": ""},
                )
            )
        assert "activities_purchases" in plan, plan
        assert "GroupAggregate" in plan, plan
        assert "Sort" not in plan and "HashAggregate" not in plan, plan


# ---------------------------------------------------------------------------------------------
# Numbering under concurrency
# ---------------------------------------------------------------------------------------------


def run_threads(count: int, work: Callable[[int], None]) -> None:
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            start.wait(30)
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


def test_audit_last_then_append_is_atomic_across_sessions(store: PostgresStore) -> None:
    """The registry's pattern: read last(), chain to it, append; seqs stay dense and linked."""

    def work(i: int) -> None:
        for n in range(15):
            with store.transaction() as s:
                last = s.audit.last()
                previous = 0 if last is None else last.seq
                seqs = s.audit.append(
                    [audit(actor_id=f"t{i}", chain=str(previous).encode(), action=f"n{n}")]
                )
                assert seqs == [previous + 1]
                s.commit()

    run_threads(4, work)
    with store.transaction(readonly=True) as s:
        log = s.audit.read(limit=1000)
    assert [r.seq for r in log] == list(range(1, 61))
    assert [int(r.chain) for r in log] == list(range(60))


def test_ledger_numbers_stay_dense_under_concurrency(store: PostgresStore) -> None:
    returned: list[int] = []

    def work(i: int) -> None:
        for _ in range(10):
            with store.transaction() as s:
                returned.append(s.consents.append(consent("shared")))
                pair = ["x", "y"] if i % 2 else ["y", "x"]  # overlapping sets, both orders
                s.history.append([entry(pair[0]), entry(pair[1]), entry(pair[0])])
                s.commit()

    run_threads(4, work)
    assert sorted(returned) == list(range(1, 41))
    with store.transaction(readonly=True) as s:
        assert [r.seq for r in s.consents.list_for("shared")] == list(range(1, 41))
        assert len(s.history.list_for("x")) + len(s.history.list_for("y")) == 120
        for who in ("x", "y"):
            seqs = [r.seq for r in s.history.list_for(who)]
            assert seqs == list(range(1, len(seqs) + 1))


def test_lookup_then_add_cannot_both_miss(
    admin: Any, store: PostgresStore, wait_until_blocked: Callable[..., None]
) -> None:
    """The registry's duplicate check: a write session's lookup stays true until it ends."""
    looked = threading.Event()
    seen: dict[str, object] = {}

    def first() -> None:
        with store.transaction() as s:
            assert s.customers.lookup_many(["phone:1", "email:1"]) == {}
            looked.set()
            wait_until_blocked(admin, store)  # the second session's lookup waits for this one
            s.customers.add(customer("c-a", index_keys={"phone:1"}))
            s.commit()

    def second() -> None:
        assert looked.wait(30)
        with store.transaction() as s:
            found = s.customers.lookup("phone:1")  # waits for the first session to end
            seen["found"] = found
            if not found:
                s.customers.add(customer("c-b", index_keys={"phone:1"}))
            s.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert seen == {"found": ["c-a"]}
    with store.transaction(readonly=True) as s:
        assert s.customers.lookup("phone:1") == ["c-a"]


def test_writers_of_a_looked_up_key_wait_and_readers_do_not(
    admin: Any,
    store: PostgresStore,
    wait_until_blocked: Callable[..., None],
) -> None:
    finished: list[str] = []

    def add_directly() -> None:
        with store.transaction() as s:
            s.customers.add_many([customer("c-b", index_keys={"phone:1"})])
            s.commit()
        finished.append("writer")

    def read_only() -> None:
        with store.transaction(readonly=True) as s:
            assert s.customers.lookup("phone:1") == []
        finished.append("reader")

    with store.transaction() as s:
        assert s.customers.lookup("phone:1") == []
        writer, reader = threading.Thread(target=add_directly), threading.Thread(target=read_only)
        writer.start()
        reader.start()
        reader.join(30)
        wait_until_blocked(admin, store)
        assert finished == ["reader"]  # the writer waits for this session
        s.customers.add(customer("c-a", index_keys={"phone:1"}))
        s.commit()
    writer.join(30)
    assert finished == ["reader", "writer"]
    with store.transaction(readonly=True) as s:
        assert s.customers.lookup("phone:1") == ["c-a", "c-b"]  # it did not look, so it may


def test_rolled_back_audit_append_releases_the_lock(
    dsn: str,
    admin: Any,
    store: PostgresStore,
    wait_until_blocked: Callable[..., None],
) -> None:
    with store.transaction() as s:
        s.audit.append([audit()])
    done = threading.Event()

    def other() -> None:
        with store.transaction() as s:
            s.audit.append([audit()])
            s.commit()
        done.set()

    with store.transaction() as s:
        s.audit.last()  # a write session takes the audit lock here ...
        t = threading.Thread(target=other)
        t.start()
        wait_until_blocked(admin, store)  # ... so another writer waits
        assert not done.is_set()
    t.join(30)  # ... until this session ends
    assert done.is_set()
    with store.transaction(readonly=True) as s:
        assert [r.seq for r in s.audit.read()] == [1]
        s.audit.last()  # a read-only session takes no lock


# ---------------------------------------------------------------------------------------------
# Sessions, pool, close
# ---------------------------------------------------------------------------------------------


def test_readonly_session_is_read_only_on_the_server_too(store: PostgresStore) -> None:
    with store.transaction(readonly=True) as s:
        with pytest.raises(StorageError, match="read-only"):
            sneak(s.customers, "DELETE FROM {s}.customers")
        with pytest.raises(StorageError):  # the aborted transaction refuses further use
            s.customers.count()


def test_readonly_session_reads_one_snapshot(store: PostgresStore) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-1"))
        s.commit()
    with store.transaction(readonly=True) as reader:
        assert reader.customers.count() == 1
        done: list[int] = []

        def write() -> None:
            with store.transaction() as s:
                s.customers.add(customer("c-2"))
                s.commit()
            done.append(1)

        t = threading.Thread(target=write)
        t.start()
        t.join(30)
        assert done == [1]
        assert reader.customers.count() == 1  # still the snapshot taken at its start
    with store.transaction(readonly=True) as s:
        assert s.customers.count() == 2


def test_failed_writes_leave_the_session_as_it_was(store: PostgresStore) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-1"))
        s.consents.append(consent("c-1"))
        for _ in range(3):
            with pytest.raises(DuplicateKey):
                s.customers.add(customer("c-1"))
            with pytest.raises(VersionConflict):
                s.customers.update(customer("c-1"), expected_version=7)
            with pytest.raises(NotFound):
                s.customers.delete("nobody", expected_version=1)
        assert s.consents.append(consent("c-1")) == 2
        assert s.customers.update(customer("c-1", stage="x"), expected_version=1) == 2
        s.commit()
    with store.transaction(readonly=True) as s:
        assert s.customers.get("c-1").stage == "x"
        assert [r.seq for r in s.consents.list_for("c-1")] == [1, 2]


def test_pool_exhaustion_is_retry_safe(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema, min_size=0, max_size=1, timeout=0.3) as store:
        holding, release = threading.Event(), threading.Event()

        def hold() -> None:
            with store.transaction(readonly=True):
                holding.set()
                release.wait(30)

        t = threading.Thread(target=hold)
        t.start()
        try:
            assert holding.wait(30)
            with (
                pytest.raises(StorageError, match="no PostgreSQL connection") as info,
                store.transaction(),
            ):
                pass  # pragma: no cover
            assert info.value.retry_safe
        finally:
            release.set()
            t.join(30)
        with store.transaction(readonly=True) as s:
            assert s.customers.count() == 0


def test_close_is_idempotent_and_refuses_later_use(dsn: str, schema: str) -> None:
    store = PostgresStore(dsn, schema=schema)
    store.close()
    store.close()
    with pytest.raises(StorageError, match="closed"), store.transaction():
        pass  # pragma: no cover
    assert "closed" in repr(store)


def test_close_while_a_session_is_open(dsn: str, schema: str) -> None:
    store = PostgresStore(dsn, schema=schema)
    with store.transaction() as s:
        s.customers.add(customer("c-1"))
        store.close()
        with pytest.raises(StorageError, match="closed"):
            s.customers.count()
        with pytest.raises(StorageError, match="closed"):
            s.commit()
    with PostgresStore(dsn, schema=schema) as again, again.transaction(readonly=True) as s:
        assert s.customers.count() == 0


def test_forked_child_opens_its_own_connections(store: PostgresStore) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    with store.transaction() as s:
        s.customers.add(customer("c-1"))
        s.commit()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            with store.transaction() as s:
                s.customers.add(customer("c-child"))
                s.commit()
            store.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with store.transaction(readonly=True) as s:  # the parent's pool still works
        assert [r.id for r in s.customers.query()] == ["c-1", "c-child"]
