"""SQLiteStore behaviour that the generic conformance kit does not cover.

Pragmas, schema versioning and migrations, driver-error translation, the physical schema
(rowids, indexes, triggers), persistence, and lost-update races between threads and between
processes. Basic CRUD of every table is here too, so the backend is tested on its own.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import runpy
import sqlite3
import stat
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import custrec.backends._sqlite.schema as sqlite_schema
import custrec.backends.sqlite as sqlite_backend
from custrec.backends._sqlite.dialect import DIALECT, encode_dt
from custrec.backends._sqlite.schema import INDEX_KINDS
from custrec.backends.sqlite import SCHEMA_VERSION, SQLiteMigration, SQLiteStore
from custrec.errors import DuplicateKey, NotFound, StorageError, VersionConflict
from custrec.storage import (
    ROW_STATES,
    ActivityRow,
    AuditRecord,
    Capabilities,
    ConsentRecord,
    CustomerFilter,
    CustomerRow,
    HistoryRecord,
    WrappedKey,
    checks,
)

T0 = datetime(2024, 1, 1, 8, 30, 0, 123456, tzinfo=UTC)
CST = timezone(timedelta(hours=8))


def customer(customer_id: str, **changes: Any) -> CustomerRow:
    fields: dict[str, Any] = {
        "id": customer_id,
        "payload": b"sealed:" + customer_id.encode(),
        "kind": "individual",
        "stage": "lead",
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return CustomerRow(**fields)


def purchase(
    activity_id: str,
    customer_id: str,
    amount: str | None,
    *,
    at: datetime = T0,
    currency: str | None = "CNY",
    kind: str = "transaction",
) -> ActivityRow:
    return ActivityRow(
        id=activity_id,
        customer_id=customer_id,
        kind=kind,
        occurred_at=at,
        amount=None if amount is None else Decimal(amount),
        currency=currency,
        payload=b"p",
    )


def audit(actor: str = "u-1", **changes: Any) -> AuditRecord:
    fields: dict[str, Any] = {"at": T0, "actor_id": actor, "action": "read"}
    fields.update(changes)
    return AuditRecord(**fields)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "custrec.sqlite"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(db_path)
    yield s
    s.close()


@pytest.fixture
def memory_store() -> Iterator[SQLiteStore]:
    s = SQLiteStore(":memory:")
    yield s
    s.close()


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# ---------------------------------------------------------------------------------------------
# Connection settings
# ---------------------------------------------------------------------------------------------


def test_pragmas_on_every_connection(db_path: Path) -> None:
    with SQLiteStore(
        db_path, busy_timeout=2.5, synchronous="full", cache_mib=8, checkpoint_pages=500
    ) as store:
        seen: list[tuple[Any, ...]] = []

        def inspect() -> None:
            with store.transaction(readonly=True) as s:
                conn = s._conn
                seen.append(
                    tuple(
                        conn.execute(f"PRAGMA {name}").fetchone()[0]
                        for name in (
                            "journal_mode",
                            "busy_timeout",
                            "foreign_keys",
                            "synchronous",
                            "secure_delete",
                            "cache_size",
                            "wal_autocheckpoint",
                        )
                    )
                )

        inspect()
        worker = threading.Thread(target=inspect)
        worker.start()
        worker.join()
    # synchronous FULL == 2; a negative cache_size is in KiB
    assert seen == [("wal", 2500, 1, 2, 1, -8 * 1024, 500)] * 2


def test_default_cache_and_checkpoint(store: SQLiteStore) -> None:
    with store.transaction(readonly=True) as s:
        assert s._conn.execute("PRAGMA cache_size").fetchone()[0] == -64 * 1024
        assert s._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 10_000


def test_wal_mode_is_persistent_in_the_file(store: SQLiteStore, db_path: Path) -> None:
    conn = raw(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"synchronous": "SOMETIMES"}, ValueError),
        ({"busy_timeout": -1}, ValueError),
        ({"busy_timeout": float("nan")}, ValueError),
        ({"busy_timeout": "5"}, TypeError),
        ({"cache_mib": 0}, ValueError),
        ({"cache_mib": -64}, ValueError),
        ({"cache_mib": 1 << 21}, ValueError),
        ({"cache_mib": True}, TypeError),
        ({"cache_mib": 64.0}, TypeError),
        ({"checkpoint_pages": 0}, ValueError),
        ({"checkpoint_pages": "1000"}, TypeError),
    ],
)
def test_bad_options_are_refused(db_path: Path, kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        SQLiteStore(db_path, **kwargs)


def test_empty_path_is_refused() -> None:
    with pytest.raises(ValueError, match="memory"):
        SQLiteStore("")


def test_capabilities(store: SQLiteStore, memory_store: SQLiteStore) -> None:
    assert store.capabilities == Capabilities(
        multiprocess=True, persistent=True, concurrent_reads=True
    )
    assert memory_store.capabilities == Capabilities(multiprocess=False, persistent=False)


def test_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with SQLiteStore("relative.sqlite") as store:
        assert store.path == str(tmp_path / "relative.sqlite")


# ---------------------------------------------------------------------------------------------
# ":memory:"
# ---------------------------------------------------------------------------------------------


def test_memory_store_is_shared_by_all_sessions_and_threads(memory_store: SQLiteStore) -> None:
    def write() -> None:
        with memory_store.transaction() as s:
            s.customers.add(customer("c-1"))
            s.commit()

    worker = threading.Thread(target=write)
    worker.start()
    worker.join()
    with memory_store.transaction(readonly=True) as s:
        assert s.customers.get("c-1").version == 1
        assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "memory"


def test_memory_stores_are_independent() -> None:
    with SQLiteStore(":memory:") as a, SQLiteStore(":memory:") as b:
        with a.transaction() as s:
            s.customers.add(customer("c-1"))
            s.commit()
        with b.transaction(readonly=True) as s:
            assert s.customers.count() == 0


def test_memory_store_sessions_wait_for_each_other() -> None:
    with SQLiteStore(":memory:", busy_timeout=0.05) as store:
        entered = threading.Event()
        leave = threading.Event()
        errors: list[StorageError] = []

        def hold() -> None:
            with store.transaction():
                entered.set()
                leave.wait(5)

        def contend() -> None:
            try:
                with store.transaction(readonly=True):
                    pass
            except StorageError as exc:
                errors.append(exc)

        holder = threading.Thread(target=hold)
        holder.start()
        assert entered.wait(5)
        contender = threading.Thread(target=contend)
        contender.start()
        contender.join()
        leave.set()
        holder.join()
        assert len(errors) == 1
        assert errors[0].retry_safe
        with store.transaction(readonly=True) as s:  # free again
            assert s.customers.count() == 0


# ---------------------------------------------------------------------------------------------
# Schema version and migrations
# ---------------------------------------------------------------------------------------------


def schema_version(path: Path) -> int:
    conn = raw(path)
    try:
        return int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])
    finally:
        conn.close()


def test_new_database_is_at_current_version(store: SQLiteStore, db_path: Path) -> None:
    assert SCHEMA_VERSION == 11
    assert schema_version(db_path) == SCHEMA_VERSION


def test_database_at_version_zero_made_by_hand_is_migrated(db_path: Path) -> None:
    conn = raw(db_path)
    conn.execute(
        "CREATE TABLE schema_version "
        "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    conn.close()
    with SQLiteStore(db_path) as store, store.transaction() as s:
        s.customers.add(customer("c-1"))
        s.commit()
    assert schema_version(db_path) == SCHEMA_VERSION


def test_forward_migration_from_an_older_version(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Build a version-1 database by hand, with data in it.
    conn = raw(db_path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    sqlite_backend.MIGRATIONS[0].apply(conn)
    conn.execute(
        "CREATE TABLE schema_version "
        "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    conn.execute("INSERT INTO schema_version VALUES (1, 'initial schema', '2024-01-01')")
    conn.executemany(
        "INSERT INTO customers (id, version, payload, kind, stage, created_at, updated_at) "
        "VALUES (?, 1, ?, 'individual', 'lead', ?, ?)",
        [
            (customer_id, payload, *(T0.isoformat(timespec="microseconds"),) * 2)
            for customer_id, payload in (
                ("c-1", b"\x00"),
                ("c-2", b'{"schema_version":1,"erased":{"at":"2025-01-01T00:00:00+00:00"}}'),
                ("c-3", b'{"schema_version":1,"merged_into":"c-1","merged":{}}'),
                ("c-4", b'{"schema_version":1,"data":{"erased":1}}'),
            )
        ],
    )
    conn.execute(
        "INSERT INTO audit (seq, at, actor_id, action, customer_id, fields, reason, outcome, "
        "chain) VALUES (1, ?, 'u-1', 'customer.read', 'c-1', '[]', NULL, 'ok', x'')",
        (T0.isoformat(timespec="microseconds"),),
    )
    version_1_keys = {"phone:+8613800138000", f"email:i1:{'ab' * 16}", f"blk.name:i1:{'0f' * 8}"}
    conn.executemany(
        "INSERT INTO customer_index (customer_pk, key) VALUES (1, ?)",
        [(key,) for key in version_1_keys],
    )
    conn.execute("COMMIT")
    conn.close()

    applied: list[int] = []

    def add_notes_table(c: sqlite3.Connection) -> None:
        applied.append(1)
        c.execute("CREATE TABLE notes (pk INTEGER PRIMARY KEY, body TEXT)")
        c.execute("INSERT INTO notes (body) SELECT id FROM customers")

    monkeypatch.setattr(
        sqlite_backend,
        "MIGRATIONS",
        (*sqlite_backend.MIGRATIONS, SQLiteMigration(SCHEMA_VERSION + 1, "notes", add_notes_table)),
    )
    with SQLiteStore(db_path) as store, store.transaction(readonly=True) as s:
        assert s.customers.get("c-1").payload == b"\x00"
        assert s._conn.execute("SELECT body FROM notes ORDER BY pk").fetchall() == [
            ("c-1",),
            ("c-2",),
            ("c-3",),
            ("c-4",),
        ]
        # schema 3 backfilled the row state from the tombstone and alias payloads of schema 1
        states = {row.id: row.state for row in s.customers.query(limit=10)}
        assert states == {"c-1": "live", "c-2": "erased", "c-3": "merged", "c-4": "live"}
        assert [r.id for r in s.customers.query(where=CustomerFilter(state="erased"))] == ["c-2"]
        assert s.audit.read()[0].on_behalf_of is None
        assert s.meta.get("anything") is None
        # schema 2 repacked the version-1 index keys: every one is still found, unchanged
        assert s.customers.get("c-1").index_keys == version_1_keys
        assert s.customers.lookup_many(version_1_keys) == {k: ["c-1"] for k in version_1_keys}
        assert {type(r[0]) for r in s._conn.execute("SELECT key FROM customer_index")} == {bytes}
    assert schema_version(db_path) == SCHEMA_VERSION + 1
    SQLiteStore(db_path).close()  # reopening does not re-apply
    assert applied == [1]


def test_failing_migration_leaves_the_database_untouched(
    store: SQLiteStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.close()

    def broken(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE half_done (x)")
        c.execute("THIS IS NOT SQL")

    monkeypatch.setattr(
        sqlite_backend,
        "MIGRATIONS",
        (*sqlite_backend.MIGRATIONS, SQLiteMigration(SCHEMA_VERSION + 1, "bad", broken)),
    )
    with pytest.raises(StorageError) as info:
        SQLiteStore(db_path)
    assert isinstance(info.value.__cause__, sqlite3.Error)
    assert schema_version(db_path) == SCHEMA_VERSION
    conn = raw(db_path)
    try:
        assert (
            conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone()
            is None
        )
    finally:
        conn.close()


def test_a_migration_step_that_breaks_a_foreign_key_is_refused(
    store: SQLiteStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # steps run with enforcement off (to rebuild parent tables), so the check is at the end
    store.close()

    def orphan_tag(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO customer_tags (customer_pk, pos, tag) VALUES (99, 0, 'vip')")

    monkeypatch.setattr(
        sqlite_backend,
        "MIGRATIONS",
        (*sqlite_backend.MIGRATIONS, SQLiteMigration(SCHEMA_VERSION + 1, "orphan", orphan_tag)),
    )
    with pytest.raises(StorageError, match="foreign key"):
        SQLiteStore(db_path)
    assert schema_version(db_path) == SCHEMA_VERSION
    monkeypatch.undo()
    with SQLiteStore(db_path) as again, again.transaction() as s:  # enforcement is back on
        assert s._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            s._conn.execute("INSERT INTO customer_tags VALUES (99, 0, 'vip')")


def test_newer_schema_is_refused(store: SQLiteStore, db_path: Path) -> None:
    store.close()
    conn = raw(db_path)
    conn.execute("INSERT INTO schema_version VALUES (99, 'from the future', '2099-01-01')")
    conn.close()
    with pytest.raises(StorageError, match="newer") as info:
        SQLiteStore(db_path)
    assert "99" in str(info.value)
    assert not info.value.retry_safe


def test_foreign_sqlite_database_is_refused(db_path: Path) -> None:
    conn = raw(db_path)
    conn.execute("CREATE TABLE something_else (x)")
    conn.close()
    with pytest.raises(StorageError, match="not a custrec"):
        SQLiteStore(db_path)


# ---------------------------------------------------------------------------------------------
# No sqlite3 exception escapes
# ---------------------------------------------------------------------------------------------


def test_corrupt_file_raises_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.sqlite"
    path.write_bytes(b"this is not an SQLite database\n" * 200)
    with pytest.raises(StorageError) as info:
        SQLiteStore(path)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_directory_path_raises_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as info:
        SQLiteStore(tmp_path)
    assert isinstance(info.value.__cause__, sqlite3.Error)


def test_missing_parent_directory_raises_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        SQLiteStore(tmp_path / "no" / "such" / "dir" / "db.sqlite")


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file permissions"
)
def test_read_only_file_raises_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "ro.sqlite"
    raw(path).close()  # an empty file that still needs its schema
    path.chmod(stat.S_IRUSR)
    try:
        with pytest.raises(StorageError):
            SQLiteStore(path)
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_disk_full_inside_a_session_is_a_storage_error(db_path: Path) -> None:
    with SQLiteStore(db_path) as store, store.transaction() as s:
        pages = s._conn.execute("PRAGMA page_count").fetchone()[0]
        s._conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        with pytest.raises(StorageError) as info:
            s.customers.add_many([customer(f"c-{i}", payload=os.urandom(4096)) for i in range(50)])
        assert not isinstance(info.value, DuplicateKey)
        assert not info.value.retry_safe
        assert isinstance(info.value.__cause__, sqlite3.Error)


def test_append_only_triggers_refuse_update_and_delete(store: SQLiteStore, db_path: Path) -> None:
    with store.transaction() as s:
        s.consents.append(
            ConsentRecord(
                customer_id="c-1", recorded_at=T0, purpose="marketing", action="grant", payload=b""
            )
        )
        s.history.append(
            [
                HistoryRecord(
                    customer_id="c-1",
                    at=T0,
                    actor_id="u",
                    action="create",
                    path="name",
                    payload=b"",
                )
            ]
        )
        s.audit.append([audit()])
        s.commit()
    conn = raw(db_path)
    try:
        for sql in (
            "UPDATE consents SET action = 'withdraw'",
            "DELETE FROM consents",
            "UPDATE history SET path = 'x'",
            "DELETE FROM history",
            "UPDATE audit SET outcome = 'denied'",
            "DELETE FROM audit",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only") as info:
                conn.execute(sql)
            translated = sqlite_backend._translate(info.value, "audit.append")
            assert type(translated) is StorageError  # not DuplicateKey
            assert "append-only" in str(translated)
    finally:
        conn.close()


def test_trigger_hit_through_a_session_is_translated(store: SQLiteStore) -> None:
    with store.transaction() as s:
        s.audit.append([audit()])
        table = s.audit

        # An internal write that breaks the rule goes through the same guard as public ones.
        @sqlite_backend._writes
        def tamper(self: Any) -> None:
            self._conn.execute("DELETE FROM audit")

        with pytest.raises(StorageError, match="append-only") as info:
            tamper(table)
        assert type(info.value) is StorageError
        assert [r.seq for r in s.audit.read()] == [1]  # the session is still usable


def test_busy_database_is_retry_safe(store: SQLiteStore, db_path: Path) -> None:
    blocker = raw(db_path)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with SQLiteStore(db_path, busy_timeout=0.1) as impatient:
            with pytest.raises(StorageError) as info, impatient.transaction():
                pass
            assert info.value.retry_safe
            assert isinstance(info.value.__cause__, sqlite3.OperationalError)
            with impatient.transaction(readonly=True) as s:  # WAL: readers are not blocked
                assert s.customers.count() == 0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_messages_do_not_repeat_payloads(store: SQLiteStore) -> None:
    secret = b"13800138000"
    with store.transaction() as s:
        s.customers.add(customer("c-1", payload=secret))
        with pytest.raises(DuplicateKey) as info:
            s.customers.add(customer("c-1", payload=secret))
    assert "13800138000" not in str(info.value)
    assert "c-1" in str(info.value)


# ---------------------------------------------------------------------------------------------
# Physical schema
# ---------------------------------------------------------------------------------------------


def test_integer_rowids_with_public_id_in_a_unique_column(
    store: SQLiteStore, db_path: Path
) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-1", index_keys={"k1"}, tags=("vip",)))
        s.commit()
    conn = raw(db_path)
    try:
        for table in ("customers", "activities", "consents"):
            columns = {r[1]: r for r in conn.execute(f"PRAGMA table_info({table})")}
            pk = [name for name, r in columns.items() if r[5] == 1]
            assert pk == ["pk"], table
            assert columns["pk"][2] == "INTEGER", table
        # small rows looked up by their natural key are stored in that key's order, no rowid
        for table, natural in (("history", ["customer_id", "seq"]), ("data_keys", ["customer_id"])):
            columns = sorted((r[5], r[1]) for r in conn.execute(f"PRAGMA table_info({table})"))
            assert [name for position, name in columns if position] == natural, table
            ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
            assert ddl[0].endswith("WITHOUT ROWID"), table
        audit_pk = [r for r in conn.execute("PRAGMA table_info(audit)") if r[5] == 1]
        assert [(r[1], r[2]) for r in audit_pk] == [("seq", "INTEGER")]
        unique_id = [
            r
            for r in conn.execute("PRAGMA index_list(customers)")
            if r[2] == 1 and [c[2] for c in conn.execute(f"PRAGMA index_info({r[1]!r})")] == ["id"]
        ]
        assert unique_id
        (child_pk,) = conn.execute("SELECT customer_pk FROM customer_index").fetchone()
        assert isinstance(child_pk, int)
        assert conn.execute("SELECT pk FROM customers WHERE id = 'c-1'").fetchone()[0] == child_pk
    finally:
        conn.close()


def test_indexes_exist(store: SQLiteStore, db_path: Path) -> None:
    conn = raw(db_path)
    try:
        indexes = dict(
            conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'")
        )
        expected = {
            "customers_stage": "customers",
            "customers_owner": "customers",
            "customers_team": "customers",
            "customers_grade": "customers",
            "customers_updated_at": "customers",
            "customer_tags_tag": "customer_tags",
            "customer_index_key": "customer_index",
            "activities_customer": "activities",
            "activities_purchases": "activities",
            "audit_customer": "audit",
            "audit_actor": "audit",
        }
        assert expected.items() <= indexes.items()
        key_index = {r[1]: r[2] for r in conn.execute("PRAGMA index_list(customer_index)")}
        assert key_index["customer_index_key"] == 0  # not unique: customers may share a key
        for table in ("consents", "history"):
            uniques = [
                [c[2] for c in conn.execute(f"PRAGMA index_info({r[1]!r})")]
                for r in conn.execute(f"PRAGMA index_list({table})")
                if r[2] == 1
            ]
            assert ["customer_id", "seq"] in uniques, table
        assert "audit_at" not in indexes  # time bounds filter a walk by seq
        triggers = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        }
        assert {
            f"{t}_no_{v}" for t in ("consents", "history", "audit") for v in ("update", "delete")
        } <= triggers
        plan = " ".join(
            str(r[3])
            for r in conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM customers AS c WHERE c.stage = ? AND c.id > ? "
                "ORDER BY c.id LIMIT 10",
                ("lead", ""),
            )
        )
        assert "customers_stage" in plan
    finally:
        conn.close()


def query_plan(path: Path, sql: str, params: tuple[Any, ...]) -> str:
    conn = raw(path)
    try:
        return " ".join(str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("where", "index"),
    [
        (CustomerFilter(kind="organization"), "customers_kind"),
        (CustomerFilter(stage="active"), "customers_stage"),
        (CustomerFilter(owner="u-1"), "customers_owner"),
        (CustomerFilter(team="north"), "customers_team"),
        (CustomerFilter(grade="A"), "customers_grade"),
        (CustomerFilter(state="erased"), "customers_state"),
        (CustomerFilter(state="archived", owner="u-1"), "customers_"),
        (CustomerFilter(tag="vip"), "customer_tags_tag"),
        (None, "sqlite_autoindex_customers_1"),
        (CustomerFilter(state="live"), "sqlite_autoindex_customers_1"),
    ],
)
def test_filtered_pages_are_index_driven(
    store: SQLiteStore, db_path: Path, where: CustomerFilter | None, index: str
) -> None:
    with store.transaction(readonly=True) as s:
        clause, params = s.customers._where(where, "c-0")
    sql = DIALECT.render(f"SELECT c.id FROM customers AS c{clause} ORDER BY c.id LIMIT 10")
    plan = query_plan(db_path, sql, tuple(params))
    assert index in plan
    assert "SCAN" not in plan and "TEMP B-TREE" not in plan  # a range of an index, in id order


FACETS = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["individual", "organization"]),
        "stage": st.sampled_from(["lead", "active"]),
        "state": st.sampled_from(ROW_STATES),
        "owner": st.sampled_from([None, "u-1", "u-2"]),
        "team": st.sampled_from([None, "north"]),
        "grade": st.sampled_from([None, "A", "B"]),
        "tags": st.sampled_from([(), ("vip",)]),
    }
)
FILTERS = st.builds(
    CustomerFilter,
    kind=st.sampled_from([None, "individual", "organization"]),
    stage=st.sampled_from([None, "lead", "active"]),
    state=st.sampled_from([None, *ROW_STATES]),
    owner=st.sampled_from([None, "u-1", "u-2"]),
    team=st.sampled_from([None, "north"]),
    grade=st.sampled_from([None, "A", "B"]),
    tag=st.sampled_from([None, "vip"]),
)


@given(st.lists(FACETS, max_size=25), FILTERS, st.integers(1, 7))
def test_filtered_pages_match_a_brute_force_oracle(
    facets: list[dict[str, Any]], where: CustomerFilter, page: int
) -> None:
    rows = [customer(f"c-{i:03d}", **f) for i, f in enumerate(facets)]
    expected = [row.id for row in rows if where.matches(row)]
    with SQLiteStore(":memory:") as store, store.transaction() as s:
        s.customers.add_many(rows)
        assert s.customers.count(where=where) == len(expected)
        found: list[str] = []
        after = None
        while True:
            chunk = s.customers.query(where=where, after=after, limit=page)
            found.extend(row.id for row in chunk)
            if len(chunk) < page:
                break
            after = chunk[-1].id
    assert found == expected


@pytest.mark.parametrize(
    ("condition", "params", "index"),
    [
        ("", (), "INTEGER PRIMARY KEY"),
        (" AND customer_id = ?", ("c-1",), "audit_customer"),
        (" AND actor_id = ?", ("u-1",), "audit_actor"),
        (" AND at >= ? AND at < ?", ("2024", "2025"), "INTEGER PRIMARY KEY"),
    ],
)
def test_audit_reads_are_index_driven(
    store: SQLiteStore, db_path: Path, condition: str, params: tuple[Any, ...], index: str
) -> None:
    for order in ("", " DESC"):
        sql = f"SELECT seq FROM audit WHERE seq > ?{condition} ORDER BY seq{order} LIMIT 10"
        plan = query_plan(db_path, sql, (0, *params))
        assert index in plan and "TEMP B-TREE" not in plan


def test_history_and_keys_are_read_through_their_primary_keys(
    store: SQLiteStore, db_path: Path
) -> None:
    history = query_plan(
        db_path, "SELECT at FROM history WHERE customer_id = ? AND seq > ? ORDER BY seq", ("c", 0)
    )
    assert "PRIMARY KEY (customer_id=? AND seq>?)" in history and "TEMP B-TREE" not in history
    keys = query_plan(db_path, "SELECT wrapped FROM data_keys WHERE customer_id = ?", ("c",))
    assert "PRIMARY KEY (customer_id=?)" in keys


TOKENS = st.builds(
    lambda kind, key_id, digest: f"{kind}:{key_id}:{digest.hex()}",
    st.sampled_from(INDEX_KINDS) | st.text(min_size=1).filter(lambda k: "\x00" not in k),
    st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True),
    st.binary(min_size=8, max_size=32),
)


@given(st.one_of(st.text(), TOKENS))
def test_index_keys_are_packed_one_to_one(key: str) -> None:
    packed = sqlite_backend._pack_index_key(key)
    assert isinstance(packed, bytes)
    assert sqlite_backend._unpack_index_key(packed) == key


@pytest.mark.parametrize(
    ("key", "tag"),
    [
        ("phone:i1:" + "ab" * 16, b"\x02"),  # a kind with a one-byte code
        ("blk.orgcity:key-2024.1:" + "00" * 8, b"\x02"),
        ("wechat:i1:" + "ab" * 16, b"\x01"),  # a kind without one keeps its text
        ("a:b:kind:i1:" + "00" * 8, b"\x01"),  # a kind may hold colons
        ("phone:i1:" + "AB" * 16, b"\x00"),  # upper-case hex would not round-trip
        ("phone:i1:" + "ab " * 16, b"\x00"),  # nor would spaced hex
        ("phone:i1:" + "ab" * 7, b"\x00"),  # 7 bytes: shorter than any token
        ("phone:i1:" + "ab" * 33, b"\x00"),  # 33 bytes: longer than any token
        ("phone:i 1:" + "ab" * 16, b"\x00"),  # not a key id
        (":i1:" + "ab" * 16, b"\x00"),  # no kind
        ("ph\x00one:i1:" + "ab" * 16, b"\x00"),  # NUL in the kind
        ("phone:+8613800138000", b"\x00"),
    ],
)
def test_only_blind_index_tokens_are_packed_as_digests(key: str, tag: bytes) -> None:
    packed = sqlite_backend._pack_index_key(key)
    assert packed[:1] == tag
    assert sqlite_backend._unpack_index_key(packed) == key


@given(st.text(), st.text())
def test_distinct_index_keys_pack_to_distinct_bytes(a: str, b: str) -> None:
    if a != b:
        assert sqlite_backend._pack_index_key(a) != sqlite_backend._pack_index_key(b)


@given(st.binary())
def test_unpacking_stored_bytes_gives_a_key_or_a_storage_error(stored: bytes) -> None:
    try:
        key = sqlite_backend._unpack_index_key(stored)
    except StorageError:
        return
    assert isinstance(key, str)


@given(st.sampled_from(range(len(INDEX_KINDS))), st.binary(max_size=70))
def test_coded_keys_unpack_only_from_the_bytes_they_pack_to(code: int, body: bytes) -> None:
    stored = b"\x02" + bytes([code]) + body
    try:
        key = sqlite_backend._unpack_index_key(stored)
    except StorageError:
        return
    assert key.startswith(INDEX_KINDS[code] + ":")
    assert sqlite_backend._pack_index_key(key) == stored


@pytest.mark.parametrize(
    "stored",
    [
        b"",
        b"\x02abc",
        b"\x01phone:i1:",
        b"\x01phone:i1:\x00",
        b"\x00\xff\xfe",
        b"\x02",
        b"\x02\x00i1\x00" + b"\x01" * 7,  # a digest shorter than any token's
        b"\x02\x00i1\x00" + b"\x01" * 33,  # or longer
        b"\x02\x00i 1\x00" + b"\x01" * 16,  # not a key id
        b"\x02\x00i1" + b"\x01" * 16,  # no separator
        b"\x02\xf0i1\x00" + b"\x01" * 16,  # no kind has that code
    ],
)
def test_bytes_no_key_packs_to_are_refused(stored: bytes) -> None:
    with pytest.raises(StorageError, match="malformed"):
        sqlite_backend._unpack_index_key(stored)


def test_blind_index_tokens_are_stored_as_raw_digests(store: SQLiteStore, db_path: Path) -> None:
    token = "blk.name:i1:" + "5a" * 16
    with store.transaction() as s:
        s.customers.add(customer("c-1", index_keys={token, "phone:+8613800138000"}))
        s.commit()
    conn = raw(db_path)
    try:
        stored = {bytes(r[0]) for r in conn.execute("SELECT key FROM customer_index")}
    finally:
        conn.close()
    coded = b"\x02" + bytes([INDEX_KINDS.index("blk.name")]) + b"i1\x00" + b"\x5a" * 16
    assert stored == {coded, b"\x00phone:+8613800138000"}
    assert len(coded) == 21  # not the 44 of the token's text
    with store.transaction(readonly=True) as s:
        assert s.customers.lookup(token) == ["c-1"]
        assert s.customers.lookup_many([token], limit=1) == {token: ["c-1"]}


def test_malformed_stored_index_key_is_a_storage_error(store: SQLiteStore, db_path: Path) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-1", index_keys={"k"}))
        s.commit()
    conn = raw(db_path)
    try:
        conn.execute("UPDATE customer_index SET key = x'07'")
    finally:
        conn.close()
    with store.transaction(readonly=True) as s, pytest.raises(StorageError, match="malformed"):
        s.customers.get("c-1")


def test_datetimes_are_stored_as_integer_microseconds_since_1970_utc(
    store: SQLiteStore, db_path: Path
) -> None:
    local = datetime(2024, 1, 1, 9, 0, tzinfo=CST)  # 01:00 UTC
    with store.transaction() as s:
        s.customers.add(customer("c-1", created_at=local, updated_at=local.replace(microsecond=7)))
        s.commit()
    conn = raw(db_path)
    try:
        created, updated = conn.execute("SELECT created_at, updated_at FROM customers").fetchone()
    finally:
        conn.close()
    assert created == 1_704_070_800_000_000  # 2024-01-01T01:00:00Z
    assert updated == created + 7
    with store.transaction(readonly=True) as s:
        row = s.customers.get("c-1")
    assert row.created_at == local
    assert row.created_at.tzinfo is UTC
    assert row.updated_at.microsecond == 7


INSTANTS = st.datetimes(
    timezones=st.sampled_from([UTC, CST, timezone(timedelta(hours=-9, minutes=-30))])
)


@given(INSTANTS, INSTANTS)
def test_stored_instants_round_trip_and_sort_as_the_instants_do(a: datetime, b: datetime) -> None:
    stored_a, stored_b = encode_dt(a, "a"), encode_dt(b, "b")
    assert isinstance(stored_a, int) and -(2**63) <= stored_a < 2**63
    assert DIALECT.read_instant(stored_a) == a and DIALECT.read_instant(stored_a).tzinfo is UTC
    assert DIALECT.instant(a) == stored_a
    assert (stored_a < stored_b) == (a < b) and (stored_a == stored_b) == (a == b)
    # schema 6 converts the ISO text of schema 5 to the same integers
    assert sqlite_schema._from_iso(a.astimezone(UTC).isoformat(timespec="microseconds")) == stored_a


class _Instant(datetime):
    """A datetime subclass: never on encode_dt's fast path, the same integer."""


@given(
    st.one_of(
        st.datetimes(timezones=st.sampled_from([UTC, CST, timezone(timedelta(hours=14))])),
        st.datetimes(),  # naive: refused
        st.datetimes().map(lambda d: _Instant(*d.timetuple()[:6], d.microsecond, tzinfo=UTC)),
    )
)
def test_encode_dt_of_a_utc_datetime_is_the_checked_encoding(value: datetime) -> None:
    # the fast path (an exact datetime in UTC) stores what the general path stores: the
    # checked instant's microseconds since 1970 (or its error)
    def general() -> int:
        return (checks.check_instant(value, "at") - datetime(1970, 1, 1, tzinfo=UTC)) // (
            timedelta(microseconds=1)
        )

    try:
        expected: object = general()
    except (TypeError, ValueError) as exc:
        expected = (type(exc), str(exc))
    try:
        got: object = encode_dt(value, "at")
    except (TypeError, ValueError) as exc:
        got = (type(exc), str(exc))
    assert got == expected


@given(st.lists(st.text(max_size=12), max_size=4))
def test_stored_field_names_are_their_json_list(fields: list[str]) -> None:
    # an empty tuple (every intake entry) skips the encoder and gives the same text
    assert DIALECT.fields(tuple(fields)) == json.dumps(fields, ensure_ascii=False)


def test_naive_datetimes_are_refused(store: SQLiteStore) -> None:
    naive = datetime(2024, 1, 1)
    with store.transaction() as s:
        with pytest.raises(ValueError, match="created_at"):
            s.customers.add(customer("c-1", created_at=naive))
        with pytest.raises(ValueError, match="occurred_at"):
            s.activities.add(purchase("a-1", "c-1", "1", at=naive))
        with pytest.raises(ValueError, match="as_of"):
            s.activities.summaries(as_of=naive)
        with pytest.raises(ValueError, match="since"):
            s.audit.read(since=naive)
        with pytest.raises(ValueError, match="updated_after"):
            s.customers.query(where=CustomerFilter(updated_after=naive))
        assert s.customers.count() == 0


def test_amounts_are_scaled_integers(store: SQLiteStore, db_path: Path) -> None:
    with store.transaction() as s:
        s.activities.add(purchase("a-1", "c-1", "12.3456"))
        s.activities.add(purchase("a-2", "c-1", "-0.5"))
        s.activities.add(purchase("a-3", "c-1", "1.00000"))  # trailing zeros are fine
        for bad in ("0.00001", "NaN", "Infinity", "1e30"):
            with pytest.raises(ValueError, match="amount"):
                s.activities.add(purchase("a-bad", "c-1", bad))
        s.commit()
    conn = raw(db_path)
    try:
        stored = conn.execute(
            "SELECT amount, typeof(amount) FROM activities ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    assert stored == [(123456, "integer"), (-5000, "integer"), (10000, "integer")]
    with store.transaction(readonly=True) as s:
        amounts = [a.amount for a in s.activities.list_for("c-1")]
    assert amounts == [Decimal("12.3456"), Decimal("-0.5"), Decimal("1")]


def test_sums_are_exact(store: SQLiteStore) -> None:
    with store.transaction() as s:
        s.activities.add_many([purchase(f"a-{i:02}", "c-1", "0.1") for i in range(10)])
        s.activities.add(purchase("a-99", "c-1", "0.0001"))
        (summary,) = s.activities.summaries(as_of=T0)
    assert summary.total_spent == Decimal("1.0001")
    assert summary.purchase_count == 11


# ---------------------------------------------------------------------------------------------
# Sessions and the store lifecycle
# ---------------------------------------------------------------------------------------------


def test_commit_makes_writes_visible_and_exit_without_commit_rolls_back(store: SQLiteStore) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-1"))

    def fail_inside() -> None:
        with store.transaction() as s:
            s.customers.add(customer("c-2"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_inside()
    with store.transaction() as s:
        s.customers.add(customer("c-3"))
        s.commit()
    with store.transaction() as s:
        s.customers.add(customer("c-4"))
        s.rollback()
    with store.transaction(readonly=True) as s:
        assert [r.id for r in s.customers.query()] == ["c-3"]


def test_finished_session_refuses_further_use(store: SQLiteStore) -> None:
    with store.transaction() as s:
        s.commit()
        with pytest.raises(StorageError, match="committed"):
            s.customers.count()
        with pytest.raises(StorageError):
            s.commit()
        s.rollback()  # a no-op once finished, as in MemoryStore
    with pytest.raises(StorageError, match="committed"):
        s.customers.add(customer("c-1"))
    with store.transaction() as s2:
        s2.rollback()
        with pytest.raises(StorageError):
            s2.audit.last()


def test_nested_transaction_in_one_thread_is_refused(store: SQLiteStore) -> None:
    with store.transaction(readonly=True):
        with pytest.raises(StorageError, match="nested"), store.transaction():
            pass
        with pytest.raises(StorageError, match="nested"), store.transaction(readonly=True):
            pass
    with store.transaction() as s:  # the refused attempt left nothing behind
        s.commit()


def test_other_threads_may_run_sessions_meanwhile(store: SQLiteStore) -> None:
    counts: list[int] = []

    def read() -> None:
        with store.transaction(readonly=True) as s:
            counts.append(s.customers.count())

    with store.transaction() as s:
        s.customers.add(customer("c-1"))
        worker = threading.Thread(target=read)
        worker.start()
        worker.join()
        s.commit()
    assert counts == [0]  # the reader did not see the uncommitted row


def test_readonly_session_refuses_every_write(store: SQLiteStore) -> None:
    key = WrappedKey(customer_id="c-1", master_key_id="m", wrapped=b"k", created_at=T0)
    consent = ConsentRecord(
        customer_id="c-1", recorded_at=T0, purpose="p", action="grant", payload=b""
    )
    writes = {
        "customers.add": lambda s: s.customers.add(customer("c-1")),
        "customers.add_many": lambda s: s.customers.add_many([customer("c-1")]),
        "customers.update": lambda s: s.customers.update(customer("c-1"), expected_version=1),
        "customers.delete": lambda s: s.customers.delete("c-1", expected_version=1),
        "activities.add": lambda s: s.activities.add(purchase("a-1", "c-1", "1")),
        "activities.add_many": lambda s: s.activities.add_many([purchase("a-1", "c-1", "1")]),
        "activities.reassign": lambda s: s.activities.reassign("c-1", "c-2"),
        "consents.append": lambda s: s.consents.append(consent),
        "consents.reassign": lambda s: s.consents.reassign("c-1", "c-2"),
        "history.append": lambda s: s.history.append([]),
        "audit.append": lambda s: s.audit.append([audit()]),
        "keys.put": lambda s: s.keys.put(key),
        "keys.replace": lambda s: s.keys.replace(key),
        "keys.delete": lambda s: s.keys.delete("c-1"),
    }
    with store.transaction(readonly=True) as s:
        for name, write in writes.items():
            with pytest.raises(StorageError, match="read-only"):
                write(s)
            assert name
        assert s.customers.count() == 0


def test_close_is_idempotent_and_closes_every_connection(store: SQLiteStore, db_path: Path) -> None:
    def touch() -> None:
        with store.transaction() as s:
            s.audit.append([audit()])
            s.commit()

    threads = [threading.Thread(target=touch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Path(f"{db_path}-wal").exists()
    store.close()
    store.close()
    # SQLite removes the WAL file when the last connection to the database closes.
    assert not Path(f"{db_path}-wal").exists()
    with pytest.raises(StorageError, match="closed"), store.transaction():
        pass


def test_close_while_a_session_is_open(store: SQLiteStore) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-1"))
        store.close()
        with pytest.raises(StorageError, match="closed"):
            s.customers.count()
        with pytest.raises(StorageError, match="closed"):
            s.commit()
    memory = SQLiteStore(":memory:")
    with memory.transaction() as s:
        memory.close()
        with pytest.raises(StorageError, match="closed"):
            s.audit.last()
    with pytest.raises(StorageError), memory.transaction():
        pass


def test_persistence_across_reopen(db_path: Path) -> None:
    key = WrappedKey(customer_id="c-1", master_key_id="m1", wrapped=b"\x01\x02", created_at=T0)
    with SQLiteStore(db_path) as store, store.transaction() as s:
        s.customers.add(customer("c-1", index_keys={"k"}, tags=("b", "a"), owner="o"))
        s.activities.add(purchase("a-1", "c-1", "9.99"))
        s.consents.append(
            ConsentRecord(
                customer_id="c-1", recorded_at=T0, purpose="p", action="grant", payload=b"x"
            )
        )
        s.history.append(
            [
                HistoryRecord(
                    customer_id="c-1", at=T0, actor_id="u", action="create", path="", payload=b"y"
                )
            ]
        )
        s.audit.append([audit(customer_id="c-1", fields=("name", "phones"))])
        s.keys.put(key)
        s.commit()
    with SQLiteStore(db_path) as store, store.transaction(readonly=True) as s:
        row = s.customers.get("c-1")
        assert row == customer("c-1", version=1, index_keys={"k"}, tags=("b", "a"), owner="o")
        assert s.activities.list_for("c-1") == [purchase("a-1", "c-1", "9.99")]
        assert [c.seq for c in s.consents.list_for("c-1")] == [1]
        assert [h.payload for h in s.history.list_for("c-1")] == [b"y"]
        last = s.audit.last()
        assert last is not None
        assert last.fields == ("name", "phones")
        assert s.keys.get("c-1") == key


# ---------------------------------------------------------------------------------------------
# CRUD of every table
# ---------------------------------------------------------------------------------------------


def test_customers_crud(store: SQLiteStore, db_path: Path) -> None:
    with store.transaction() as s:
        assert (
            s.customers.add(customer("c-1", version=7, index_keys={"k1", "k2"}, tags=("x",))) == 1
        )
        with pytest.raises(DuplicateKey):
            s.customers.add(customer("c-1"))
        row = s.customers.get("c-1")
        assert row.version == 1
        assert row.index_keys == frozenset({"k1", "k2"})
        with pytest.raises(NotFound):
            s.customers.get("nope")
        later = T0 + timedelta(days=1)
        new = customer(
            "c-1",
            index_keys={"k3"},
            tags=("y", "z"),
            stage="active",
            grade="A",
            created_at=later,  # ignored
            updated_at=later,
        )
        assert s.customers.update(new, expected_version=1) == 2
        got = s.customers.get("c-1")
        assert (got.version, got.stage, got.grade, got.tags) == (2, "active", "A", ("y", "z"))
        assert got.created_at == T0
        assert got.updated_at == later
        assert s.customers.lookup("k1") == []
        assert s.customers.lookup("k3") == ["c-1"]
        with pytest.raises(VersionConflict) as conflict:
            s.customers.update(new, expected_version=1)
        assert (conflict.value.expected, conflict.value.actual) == (1, 2)
        assert conflict.value.retry_safe
        with pytest.raises(NotFound):
            s.customers.update(customer("ghost"), expected_version=1)
        with pytest.raises(VersionConflict):
            s.customers.delete("c-1", expected_version=1)
        with pytest.raises(NotFound):
            s.customers.delete("ghost", expected_version=1)
        s.customers.delete("c-1", expected_version=2)
        with pytest.raises(NotFound):
            s.customers.get("c-1")
        assert s.customers.lookup("k3") == []
        s.commit()
    conn = raw(db_path)
    try:  # child rows went with the customer (ON DELETE CASCADE)
        assert conn.execute("SELECT count(*) FROM customer_index").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM customer_tags").fetchone()[0] == 0
    finally:
        conn.close()


def test_customers_lookup_many_and_get_many(store: SQLiteStore) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-2", index_keys={"shared", "b"}))
        s.customers.add(customer("c-1", index_keys={"shared", "a"}))
        assert s.customers.lookup("shared") == ["c-1", "c-2"]
        assert s.customers.lookup_many(["shared", "a", "missing", "a"]) == {
            "shared": ["c-1", "c-2"],
            "a": ["c-1"],
        }
        assert [r.id for r in s.customers.get_many(["c-2", "nope", "c-1", "c-2"])] == ["c-1", "c-2"]
        many = [f"x-{i:04}" for i in range(1200)]  # more ids than one IN (...) chunk
        s.customers.add_many([customer(i, index_keys={f"k-{i}"}) for i in many])
        assert len(s.customers.get_many(many)) == 1200
        assert len(s.customers.lookup_many(f"k-{i}" for i in many)) == 1200


def test_customers_add_many(store: SQLiteStore) -> None:
    with store.transaction() as s:
        assert s.customers.add_many([]) == 0
        assert s.customers.add_many([customer("c-1", index_keys={"k1"}), customer("c-2")]) == 2
        with pytest.raises(DuplicateKey, match="c-2"):
            s.customers.add_many([customer("c-3"), customer("c-2")])
        with pytest.raises(DuplicateKey, match="c-4"):
            s.customers.add_many([customer("c-4"), customer("c-4")])
        assert s.customers.count() == 2  # failed batches left nothing behind
        inserted = s.customers.add_many(
            [
                customer("c-1", index_keys={"other"}),  # exists: skipped, keys untouched
                customer("c-3", index_keys={"k3"}, tags=("t",)),
                customer("c-3", index_keys={"dup"}),  # repeated in the batch: first wins
            ],
            skip_existing=True,
        )
        assert inserted == 1
        assert s.customers.lookup("other") == []
        assert s.customers.lookup("dup") == []
        assert s.customers.lookup("k3") == ["c-3"]
        assert s.customers.get("c-3").tags == ("t",)
        assert s.customers.add_many([customer("c-1")], skip_existing=True) == 0


def test_customers_query_and_count(store: SQLiteStore) -> None:
    rows = [
        customer("c-1", stage="lead", owner="o1", tags=("vip", "north")),
        customer("c-2", stage="active", owner="o1", team="t1", grade="A", kind="organization"),
        customer(
            "c-3", stage="active", owner="o2", tags=("vip",), updated_at=T0 + timedelta(hours=1)
        ),
        customer("c-4", stage="lost", updated_at=T0 + timedelta(hours=2)),
    ]
    with store.transaction() as s:
        s.customers.add_many(rows)
        s.commit()
    filters = [
        None,
        CustomerFilter(stage="active"),
        CustomerFilter(owner="o1"),
        CustomerFilter(team="t1", grade="A"),
        CustomerFilter(kind="organization"),
        CustomerFilter(tag="vip"),
        CustomerFilter(tag="vip", stage="active"),
        CustomerFilter(updated_after=T0),
        CustomerFilter(updated_before=T0 + timedelta(hours=2)),
        CustomerFilter(updated_after=(T0 + timedelta(minutes=30)).astimezone(CST)),
        CustomerFilter(tag="none"),
    ]
    with store.transaction(readonly=True) as s:
        stored = s.customers.query(limit=10)
        for where in filters:
            expected = [r.id for r in stored if where is None or where.matches(r)]
            assert [r.id for r in s.customers.query(where=where)] == expected, where
            assert s.customers.count(where=where) == len(expected), where
        assert [r.id for r in s.customers.query(after="c-1", limit=2)] == ["c-2", "c-3"]
        assert [r.id for r in s.customers.query(where=CustomerFilter(tag="vip"), after="c-1")] == [
            "c-3"
        ]
        for bad in (0, -1):
            with pytest.raises(ValueError, match="limit"):
                s.customers.query(limit=bad)


def test_activities(store: SQLiteStore) -> None:
    with store.transaction() as s:
        s.activities.add(purchase("a-1", "c-1", "10"))
        s.activities.add(purchase("a-2", "c-1", None, kind="interaction", currency=None))
        with pytest.raises(DuplicateKey, match="a-1"):
            s.activities.add(purchase("a-1", "c-1", "10"))
        with pytest.raises(ValueError, match="kind"):
            s.activities.add(purchase("a-9", "c-1", "1", kind="visit"))
        assert (
            s.activities.add_many([purchase("a-3", "c-1", "1"), purchase("a-4", "c-2", "2")]) == 2
        )
        with pytest.raises(DuplicateKey):
            s.activities.add_many([purchase("a-5", "c-1", "1"), purchase("a-1", "c-1", "1")])
        assert (
            s.activities.add_many(
                [
                    purchase("a-1", "c-1", "1"),
                    purchase("a-5", "c-1", "5"),
                    purchase("a-5", "c-1", "6"),
                ],
                skip_existing=True,
            )
            == 1
        )
        ids = [a.id for a in s.activities.list_for("c-1")]
        assert ids == ["a-1", "a-2", "a-3", "a-5"]
        assert [a.id for a in s.activities.list_for("c-1", kind="interaction")] == ["a-2"]
        assert [a.id for a in s.activities.list_for("c-1", after="a-2", limit=1)] == ["a-3"]
        with pytest.raises(ValueError, match="kind"):
            s.activities.list_for("c-1", kind="visit")
        with pytest.raises(ValueError, match="limit"):
            s.activities.list_for("c-1", limit=0)
        assert s.activities.reassign("c-1", "c-2") == 4
        assert s.activities.reassign("c-2", "c-2") == 0
        assert s.activities.list_for("c-1") == []
        assert [a.id for a in s.activities.list_for("c-2")] == ["a-1", "a-2", "a-3", "a-4", "a-5"]


def test_summaries(store: SQLiteStore) -> None:
    day = timedelta(days=1)
    with store.transaction() as s:
        s.activities.add_many(
            [
                purchase("a-01", "c-1", "100", at=T0),
                purchase("a-02", "c-1", "-20", at=T0 + day),  # refund: counts, lowers total
                purchase("a-03", "c-1", "7", at=T0 + 2 * day, currency="USD"),
                purchase("a-04", "c-1", "1000", at=T0 + 10 * day),  # after as_of
                purchase("a-05", "c-1", None, at=T0, kind="interaction", currency=None),
                purchase("a-06", "c-2", "5.5", at=T0 + day),
                purchase("a-07", "c-3", "1", at=T0 + 20 * day),  # only after as_of
                purchase("a-08", "c-4", "2", at=T0),
                purchase("a-09", "c-5", "3", at=T0),
            ]
        )
        as_of = T0 + 5 * day
        summaries = s.activities.summaries(as_of=as_of)
        assert [(x.customer_id, x.currency) for x in summaries] == [
            ("c-1", "CNY"),
            ("c-1", "USD"),
            ("c-2", "CNY"),
            ("c-4", "CNY"),
            ("c-5", "CNY"),
        ]
        first = summaries[0]
        assert (first.purchase_count, first.total_spent) == (2, Decimal("80"))
        assert (first.first_purchase_at, first.last_purchase_at) == (T0, T0 + day)
        page = s.activities.summaries(as_of=as_of, limit=2)  # two customers, all currencies
        assert [(x.customer_id, x.currency) for x in page] == [
            ("c-1", "CNY"),
            ("c-1", "USD"),
            ("c-2", "CNY"),
        ]
        rest = s.activities.summaries(as_of=as_of, after="c-2", limit=2)
        assert [x.customer_id for x in rest] == ["c-4", "c-5"]
        assert s.activities.summaries(as_of=T0 - day) == []
        with pytest.raises(ValueError, match="limit"):
            s.activities.summaries(as_of=as_of, limit=0)


def test_transactions_need_amount_and_currency(store: SQLiteStore) -> None:
    with store.transaction() as s:
        for bad in (purchase("a-1", "c-1", None), purchase("a-1", "c-1", "1", currency=None)):
            with pytest.raises(ValueError, match="amount and a currency"):
                s.activities.add(bad)
            with pytest.raises(ValueError, match="amount and a currency"):
                s.activities.add_many([purchase("a-2", "c-1", "1"), bad])
        s.activities.add(purchase("a-3", "c-1", "2", kind="interaction"))  # optional there
        assert [a.id for a in s.activities.list_for("c-1")] == ["a-3"]


def test_consents(store: SQLiteStore) -> None:
    def event(customer_id: str, action: str, at: datetime = T0) -> ConsentRecord:
        return ConsentRecord(
            customer_id=customer_id,
            seq=42,
            recorded_at=at,
            purpose="marketing",
            action=action,
            payload=b"e",
        )

    with store.transaction() as s:
        assert s.consents.append(event("c-1", "grant")) == 1
        assert s.consents.append(event("c-1", "withdraw", T0 + timedelta(days=1))) == 2
        assert s.consents.append(event("c-2", "grant")) == 1
        assert [(e.seq, e.action) for e in s.consents.list_for("c-1")] == [
            (1, "grant"),
            (2, "withdraw"),
        ]
        assert [e.seq for e in s.consents.list_for("c-1", after_seq=1)] == [2]
        assert s.consents.reassign("c-1", "c-2") == 2
        assert s.consents.reassign("c-2", "c-2") == 0
        assert [(e.seq, e.action) for e in s.consents.list_for("c-2")] == [
            (1, "grant"),
            (2, "grant"),
            (3, "withdraw"),
        ]
        assert len(s.consents.list_for("c-1")) == 2  # the source ledger is untouched
        assert s.consents.list_for("c-2")[2].recorded_at == T0 + timedelta(days=1)
        s.commit()


def test_history(store: SQLiteStore) -> None:
    def change(customer_id: str, path: str, at: datetime = T0) -> HistoryRecord:
        return HistoryRecord(
            customer_id=customer_id, at=at, actor_id="u-1", action="update", path=path, payload=b"d"
        )

    with store.transaction() as s:
        assert s.history.append([]) == []
        assert s.history.append(
            [change("c-1", "name"), change("c-2", "name"), change("c-1", "phones")]
        ) == [
            1,
            1,
            2,
        ]
        naive = datetime(2024, 1, 1)
        with pytest.raises(ValueError, match="at"):
            s.history.append([change("c-1", "email"), change("c-1", "wechat", naive)])
        assert s.history.append([change("c-1", "email")]) == [3]  # the failed batch left no gap
        assert [h.path for h in s.history.list_for("c-1")] == ["name", "phones", "email"]
        assert [h.seq for h in s.history.list_for("c-1", after_seq=2)] == [3]
        assert s.history.list_for("c-1")[0].reason is None
        s.commit()


def test_audit(store: SQLiteStore) -> None:
    with store.transaction() as s:
        assert s.audit.last() is None
        assert s.audit.append(
            [
                audit("u-1", customer_id="c-1", fields=("name",), chain=b"\x01"),
                audit("u-2", customer_id="c-2", at=T0 + timedelta(hours=1), reason="support"),
            ]
        ) == [1, 2]
        assert s.audit.append([audit("u-1", at=T0 + timedelta(hours=2), outcome="denied")]) == [3]
        assert s.audit.append([]) == []
        s.commit()
    with store.transaction(readonly=True) as s:
        assert [r.seq for r in s.audit.read()] == [1, 2, 3]
        assert [r.seq for r in s.audit.read(after_seq=1, limit=1)] == [2]
        assert [r.seq for r in s.audit.read(customer_id="c-1")] == [1]
        assert [r.seq for r in s.audit.read(actor_id="u-1")] == [1, 3]
        assert [r.seq for r in s.audit.read(since=T0 + timedelta(hours=1))] == [2, 3]
        assert [r.seq for r in s.audit.read(until=T0 + timedelta(hours=1))] == [1]
        first = s.audit.read()[0]
        assert (first.fields, first.chain, first.outcome) == (("name",), b"\x01", "ok")
        last = s.audit.last()
        assert last is not None
        assert (last.seq, last.outcome) == (3, "denied")
        with pytest.raises(ValueError, match="limit"):
            s.audit.read(limit=-5)


def test_audit_append_is_all_or_none(store: SQLiteStore) -> None:
    naive = datetime(2024, 1, 1)
    with store.transaction() as s:
        s.audit.append([audit()])
        with pytest.raises(ValueError, match="at"):
            s.audit.append([audit(), audit(at=naive)])
        assert s.audit.append([audit()]) == [2]


def test_keys(store: SQLiteStore, db_path: Path) -> None:
    def key(customer_id: str, master: str = "m1", wrapped: bytes = b"w") -> WrappedKey:
        return WrappedKey(
            customer_id=customer_id, master_key_id=master, wrapped=wrapped, created_at=T0
        )

    with store.transaction() as s:
        s.keys.put(key("c-2"))
        s.keys.put(key("c-1"))
        with pytest.raises(DuplicateKey, match="c-1"):
            s.keys.put(key("c-1"))
        assert s.keys.get("c-1") == key("c-1")
        with pytest.raises(NotFound):
            s.keys.get("c-9")
        s.keys.replace(key("c-1", "m2", b"rewrapped"))
        assert s.keys.get("c-1") == key("c-1", "m2", b"rewrapped")
        with pytest.raises(NotFound):
            s.keys.replace(key("c-9"))
        assert [k.customer_id for k in s.keys.list()] == ["c-1", "c-2"]
        assert [k.customer_id for k in s.keys.list(after="c-1", limit=5)] == ["c-2"]
        with pytest.raises(ValueError, match="limit"):
            s.keys.list(limit=0)
        assert s.keys.delete("c-1") is True
        assert s.keys.delete("c-1") is False
        with pytest.raises(NotFound):
            s.keys.get("c-1")
        s.commit()


def test_deleted_key_bytes_are_overwritten(store: SQLiteStore, db_path: Path) -> None:
    marker = b"WRAPPED-KEY-MARKER-" * 8
    with store.transaction() as s:
        s.keys.put(WrappedKey(customer_id="c-1", master_key_id="m", wrapped=marker, created_at=T0))
        s.commit()
    with store.transaction() as s:
        s.keys.delete("c-1")
        s.commit()
    store.close()  # checkpoints the WAL into the main file
    assert marker not in db_path.read_bytes()


# ---------------------------------------------------------------------------------------------
# Lost-update races
# ---------------------------------------------------------------------------------------------


def increment(store: SQLiteStore, customer_id: str) -> None:
    """Read in one session, write in another (so conflicts really happen); retry until done."""
    while True:
        try:
            with store.transaction(readonly=True) as s:
                row = s.customers.get(customer_id)
            with store.transaction() as s:
                bumped = attrs.evolve(row, payload=str(int(row.payload) + 1).encode())
                s.customers.update(bumped, expected_version=row.version)
                s.audit.append([audit(customer_id=customer_id)])
                s.commit()
            return
        except StorageError as exc:
            if not exc.retry_safe:
                raise


def test_threads_lose_no_update(store: SQLiteStore) -> None:
    threads, rounds = 8, 25
    with store.transaction() as s:
        s.customers.add(customer("counter", payload=b"0"))
        s.commit()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(rounds):
                increment(store, "counter")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    with store.transaction(readonly=True) as s:
        row = s.customers.get("counter")
        assert int(row.payload) == threads * rounds
        assert row.version == threads * rounds + 1
        assert [r.seq for r in s.audit.read(limit=10_000)] == list(range(1, threads * rounds + 1))


_WORKER = textwrap.dedent(
    """
    import attrs
    from datetime import UTC, datetime
    from custrec.backends.sqlite import SQLiteStore
    from custrec.errors import DuplicateKey, StorageError
    from custrec.storage import AuditRecord, CustomerRow

    T0 = datetime(2024, 1, 1, tzinfo=UTC)
    BARRIER.wait()  # every process opens the brand-new file at the same moment
    store = SQLiteStore(DB_PATH)
    try:
        with store.transaction() as s:
            s.customers.add(
                CustomerRow(
                    id="counter", payload=b"0", kind="k", stage="s", created_at=T0, updated_at=T0
                )
            )
            s.commit()
    except DuplicateKey:
        pass
    for _ in range(ROUNDS):
        while True:
            try:
                with store.transaction(readonly=True) as s:
                    row = s.customers.get("counter")
                with store.transaction() as s:
                    bumped = attrs.evolve(row, payload=str(int(row.payload) + 1).encode())
                    s.customers.update(bumped, expected_version=row.version)
                    s.audit.append([AuditRecord(at=T0, actor_id="p", action="bump")])
                    s.commit()
                break
            except StorageError as exc:
                if not exc.retry_safe:
                    raise
    store.close()
    """
)


@pytest.mark.slow
def test_processes_lose_no_update(tmp_path: Path) -> None:
    processes, rounds = 3, 20
    db_path = tmp_path / "shared.sqlite"
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    procs = [
        ctx.Process(
            target=runpy.run_path,
            args=(str(script),),
            kwargs={
                "init_globals": {"DB_PATH": str(db_path), "ROUNDS": rounds, "BARRIER": barrier},
                "run_name": "custrec_worker",
            },
        )
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * processes
    with SQLiteStore(db_path) as store, store.transaction(readonly=True) as s:
        row = s.customers.get("counter")
        assert int(row.payload) == processes * rounds
        assert row.version == processes * rounds + 1
        seqs = [r.seq for r in s.audit.read(limit=10_000)]
        assert seqs == list(range(1, processes * rounds + 1))


# ---------------------------------------------------------------------------------------------
# The key store file, file modes, and erasure on disk
# ---------------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _files_of(path: Path) -> list[Path]:
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def test_key_store_is_a_file_beside_the_database_created_on_first_use(tmp_path: Path) -> None:
    db = tmp_path / "customers.sqlite"
    with SQLiteStore(db) as store:
        expected = tmp_path / "customers.keys.sqlite"
        assert sqlite_backend.key_file_for(db) == str(expected)
        assert store.key_file == str(expected)
        assert not expected.exists()  # nothing made until the keys are needed
        key_store = store.key_store
        assert key_store is not None and key_store is store.key_store
        assert key_store.path == str(expected)
        assert key_store.key_store is None  # the key store keeps its own keys
        with key_store.transaction() as s:
            s.keys.put(
                WrappedKey(customer_id="c-1", master_key_id="k1", wrapped=b"w", created_at=T0)
            )
            s.commit()
        with store.transaction(readonly=True) as s:  # not in the database itself
            assert s.keys.list() == []
    assert sqlite_backend.key_file_for(tmp_path / "db") == str(tmp_path / "db.keys")


def test_database_and_key_store_files_are_created_with_mode_0600(tmp_path: Path) -> None:
    db = tmp_path / "customers.sqlite"
    old = os.umask(0o022)
    try:
        with SQLiteStore(db) as store:
            key_store = store.key_store
            assert key_store is not None
            for target in (store, key_store):
                with target.transaction() as s:
                    s.meta.put("x", b"y")
                    s.commit()
            files = _files_of(db) + _files_of(tmp_path / "customers.keys.sqlite")
            assert len(files) == 6  # two databases, each with its -wal and -shm
            assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        os.umask(old)


def test_key_file_false_keeps_the_keys_in_the_database(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "c.sqlite", key_file=False) as store:
        assert store.key_store is None and store.key_file is None


def test_key_file_may_be_named_but_not_be_the_database(tmp_path: Path) -> None:
    elsewhere = tmp_path / "vault" / "k.sqlite"
    elsewhere.parent.mkdir()
    with SQLiteStore(tmp_path / "c.sqlite", key_file=elsewhere) as store:
        assert store.key_store is not None and store.key_store.path == str(elsewhere)
    with pytest.raises(ValueError, match="key_file"):
        SQLiteStore(tmp_path / "c.sqlite", key_file=tmp_path / "c.sqlite")


def test_in_memory_store_has_an_in_memory_key_store() -> None:
    with SQLiteStore(":memory:") as store:
        key_store = store.key_store
        assert key_store is not None and key_store.path == ":memory:" and key_store is not store


def _write_some(store: SQLiteStore, n: int, tag: str) -> None:
    with store.transaction() as s:
        for i in range(n):
            s.keys.put(
                WrappedKey(
                    customer_id=f"{tag}-{i:04d}",
                    master_key_id="k1",
                    wrapped=os.urandom(60),
                    created_at=T0,
                )
            )
        s.commit()


def test_a_deleted_data_key_is_in_no_file_once_the_deletion_commits(tmp_path: Path) -> None:
    db = tmp_path / "keys.sqlite"
    secret = os.urandom(48)
    with SQLiteStore(db, key_file=False) as store:
        _write_some(store, 200, "before")
        with store.transaction() as s:
            s.keys.put(
                WrappedKey(customer_id="victim", master_key_id="k1", wrapped=secret, created_at=T0)
            )
            s.commit()
        _write_some(store, 200, "after")  # the key's page is now in several WAL frames
        assert any(secret in p.read_bytes() for p in _files_of(db))
        with store.transaction() as s:
            assert s.keys.delete("victim")
            s.commit()
        assert not store.wal_truncation_pending
        copies = {p.name: p.read_bytes() for p in _files_of(db)}  # a copy of the live files
    assert all(secret not in data for data in copies.values())
    assert copies.get("keys.sqlite-wal", b"") == b""  # checkpointed and truncated


def test_erasing_a_row_truncates_the_write_ahead_log(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    marker = os.urandom(40)
    with SQLiteStore(db, key_file=False) as store:
        with store.transaction() as s:
            s.customers.add(customer("c-1", payload=marker, index_keys={"phone:" + marker.hex()}))
            s.commit()
        with store.transaction() as s:
            s.customers.update(
                customer("c-1", payload=b"{}", index_keys=(), state="erased"), expected_version=1
            )
            s.commit()
        assert all(marker not in p.read_bytes() for p in _files_of(db))
        assert all(marker.hex().encode() not in p.read_bytes() for p in _files_of(db))


def test_truncation_blocked_by_an_old_snapshot_completes_after_a_later_commit(
    tmp_path: Path,
) -> None:
    db = tmp_path / "keys.sqlite"
    secret = os.urandom(48)
    with SQLiteStore(db, key_file=False, busy_timeout=0.05) as store:
        with store.transaction() as s:
            s.keys.put(
                WrappedKey(customer_id="victim", master_key_id="k1", wrapped=secret, created_at=T0)
            )
            s.commit()
        reader = raw(db)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM data_keys").fetchone()  # holds an old snapshot
        try:
            with store.transaction() as s:
                s.keys.delete("victim")
                s.commit()
            assert store.wal_truncation_pending
        finally:
            reader.execute("ROLLBACK")
            reader.close()
        with store.transaction() as s:  # any later commit retries the truncation
            s.meta.put("later", b"x")
            s.commit()
        assert not store.wal_truncation_pending
        assert all(secret not in p.read_bytes() for p in _files_of(db))


def test_close_retries_a_pending_truncation(tmp_path: Path) -> None:
    db = tmp_path / "keys.sqlite"
    secret = os.urandom(48)
    store = SQLiteStore(db, key_file=False, busy_timeout=0.05)
    with store.transaction() as s:
        s.keys.put(WrappedKey(customer_id="v", master_key_id="k1", wrapped=secret, created_at=T0))
        s.commit()
    reader = raw(db)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM data_keys").fetchone()
    with store.transaction() as s:
        s.keys.delete("v")
        s.commit()
    assert store.wal_truncation_pending
    reader.execute("ROLLBACK")
    reader.close()
    store.close()
    assert all(secret not in p.read_bytes() for p in _files_of(db))


def test_a_history_batch_over_many_customers_numbers_each_customer_on(store: SQLiteStore) -> None:
    # more customers than one IN (...) clause takes, some with history already
    ids = [f"c-{i:04d}" for i in range(1_200)]
    entry = HistoryRecord(
        customer_id="", at=T0, actor_id="staff-1", action="update", path="stage", payload=b""
    )
    with store.transaction() as s:
        assert s.history.append([attrs.evolve(entry, customer_id=c) for c in ids[::3]]) == [1] * 400
        s.commit()
    batch = [attrs.evolve(entry, customer_id=c) for c in ids + ids[:2]]
    with store.transaction() as s:
        seqs = s.history.append(batch)
        s.commit()
    expected = [2 if i % 3 == 0 else 1 for i in range(1_200)] + [3, 2]
    assert seqs == expected
    with store.transaction(readonly=True) as s:
        assert [r.seq for r in s.history.list_for("c-0000")] == [1, 2, 3]


@given(
    stored=st.sets(st.integers(0, 1300), max_size=700),
    asked=st.lists(st.integers(0, 1300), max_size=1200),
)
def test_keys_get_many_equals_one_get_per_id_across_chunk_boundaries(
    tmp_path_factory: pytest.TempPathFactory, stored: set[int], asked: list[int]
) -> None:
    """The batched key read (one statement per 500 ids) gives exactly what reading each id
    alone gives, for any ids asked, repeated or absent, in any number of chunks."""
    path = tmp_path_factory.mktemp("keys") / "k.sqlite"
    with SQLiteStore(path) as keys_store:
        with keys_store.transaction() as s:
            s.keys.put_many(
                [
                    WrappedKey(
                        customer_id=f"c-{i}", master_key_id="m", wrapped=b"%d" % i, created_at=T0
                    )
                    for i in sorted(stored)
                ]
            )
            s.commit()
        ids = [f"c-{i}" for i in asked]
        with keys_store.transaction(readonly=True) as s:
            batched = s.keys.get_many(ids)
            alone = {}
            for customer_id in ids:
                try:
                    alone[customer_id] = s.keys.get(customer_id)
                except NotFound:
                    continue
    assert batched == alone
