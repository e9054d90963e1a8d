"""The documents table in the SQL backends, beyond the conformance kit.

What the kit does not see: the indexes each statement reads (SQLite's query plans), batches of
links larger than one statement's chunk, ids that order differently by code point than by UTF-16
or by a locale, driver errors in the middle of a write, the tables' collations, and stores made
by an earlier schema getting the tables (SQLite 9 -> 10, PostgreSQL 6 -> 7) together with the
index on customers by ``(stage, state)`` that the grouped counts by stage read. Tests that take
a ``store`` run on SQLite and on PostgreSQL (which skips without ``CUSTREC_TEST_POSTGRES_DSN``,
as in test_postgres.py).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import custrec.backends.sqlite as sqlite_backend
from custrec.backends import SQLiteStore
from custrec.errors import DuplicateKey, StorageError
from custrec.storage import (
    CustomerFilter,
    CustomerRow,
    DocumentLink,
    DocumentRow,
    Reach,
    Store,
)

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
SHOWN = frozenset({"live", "archived", "restricted"})
# code-point order; UTF-16 (and most locales) would put "\U00010000" before "\uffff", and a
# locale might put "B" before "a" or ignore the "-"
ODD_IDS = ("B", "a", "a-1", "a1", "é", "\uffff", "\U00010000")


def document(document_id: str, kind: str = "disclosure", **changes: Any) -> DocumentRow:
    fields: dict[str, Any] = {
        "kind": kind,
        "id": document_id,
        "tag": None,
        "created_at": T0,
        "updated_at": T0,
        "payload": b"doc",
    }
    fields.update(changes)
    return DocumentRow(**fields)


def link(
    customer_id: str, document_id: str = "d-1", kind: str = "disclosure", **changes: Any
) -> DocumentLink:
    fields: dict[str, Any] = {
        "kind": kind,
        "document_id": document_id,
        "customer_id": customer_id,
        "state": None,
        "updated_at": T0,
        "payload": customer_id.encode(),
    }
    fields.update(changes)
    return DocumentLink(**fields)


def customer(customer_id: str, **changes: Any) -> CustomerRow:
    fields: dict[str, Any] = {
        "id": customer_id,
        "payload": b"sealed",
        "kind": "individual",
        "stage": "lead",
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return CustomerRow(**fields)


# ---------------------------------------------------------------------------------------------
# Stores
# ---------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if backend == "sqlite":
        opened: Store = SQLiteStore(tmp_path / "documents.db", key_file=False)
    else:
        from custrec.backends import PostgresStore

        dsn = request.getfixturevalue("postgres_dsn")
        opened = PostgresStore(dsn, schema=request.getfixturevalue("postgres_schema"))
    yield opened
    opened.close()


def stored_links(store: Store) -> int:
    """How many link rows the table holds, counted behind the store's back."""
    with store.transaction(readonly=True) as session:
        conn: Any = session._conn  # type: ignore[attr-defined]
        if isinstance(store, SQLiteStore):
            return int(conn.execute("SELECT count(*) FROM document_links").fetchone()[0])
        schema = store.schema  # type: ignore[attr-defined]
        sql = f'SELECT count(*) FROM "{schema}".document_links'
        return int(conn.execute(sql.encode()).fetchone()[0])


# ---------------------------------------------------------------------------------------------
# Values and order
# ---------------------------------------------------------------------------------------------


def test_ids_and_customer_ids_order_by_code_point(store: Store) -> None:
    ordered = sorted(ODD_IDS)
    assert ordered.index("\uffff") < ordered.index("\U00010000")
    with store.transaction() as s:
        for n, document_id in enumerate(reversed(ODD_IDS)):
            s.documents.add(document(document_id, tag="t" if n % 2 else None))
        s.documents.link([link(c, state="pending") for c in reversed(ODD_IDS)])
        for document_id in reversed(ODD_IDS):
            s.documents.link([link("c-1", document_id, kind=document_id)])
        s.commit()
    with store.transaction(readonly=True) as s:
        assert [r.id for r in s.documents.list("disclosure")] == ordered
        tagged = [r.id for r in s.documents.list("disclosure", tag="t")]
        assert tagged == [i for i in ordered if list(reversed(ODD_IDS)).index(i) % 2]
        assert [r.id for r in s.documents.list("disclosure", after="a", limit=2)] == ordered[2:4]
        assert [x.customer_id for x in s.documents.links("disclosure", "d-1")] == ordered
        pending = s.documents.links("disclosure", "d-1", state="pending", after="\uffff")
        assert [x.customer_id for x in pending] == ["\U00010000"]
        assert [x.kind for x in s.documents.links_for("c-1")] == ordered


def test_instants_come_back_in_utc_with_microseconds_and_payload_bytes_whole(
    store: Store,
) -> None:
    zone = timezone(timedelta(hours=8, minutes=45))
    created = datetime(1, 1, 2, 0, 0, 0, 1, tzinfo=UTC)
    updated = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=zone)
    blob = bytes(range(256)) * 40
    with store.transaction() as s:
        s.documents.add(document("d-1", created_at=created, updated_at=updated, payload=blob))
        s.documents.link([link("c-1", updated_at=updated, payload=blob), link("c-2", payload=b"")])
        s.commit()
    with store.transaction(readonly=True) as s:
        row = s.documents.get("disclosure", "d-1")
        assert (row.created_at, row.updated_at, row.payload) == (created, updated, blob)
        assert row.created_at.tzinfo is UTC and row.updated_at.tzinfo is UTC
        first, second = s.documents.links("disclosure", "d-1")
        assert first.updated_at == updated and first.updated_at.tzinfo is UTC
        assert first.updated_at.utcoffset() == timedelta(0)
        assert (first.payload, second.payload) == (blob, b"")
        assert type(first.payload) is bytes


# ---------------------------------------------------------------------------------------------
# Batches of links
# ---------------------------------------------------------------------------------------------


def test_a_large_batch_over_several_documents_links_whole_or_not_at_all(store: Store) -> None:
    with store.transaction() as s:
        assert s.documents.link([link(f"c-{n:05d}", f"d-{n % 3}") for n in range(1_500)]) == 1_500
        assert s.documents.count_links("disclosure", "d-1") == 500
        s.commit()
    # d-1's new ids come before the taken one: SQLite finds it in its third chunk of 500
    fresh = [link(f"a-{n:05d}", "d-1") for n in range(1_200)]
    fresh += [link(f"a-{n:05d}", f"d-{n % 4}") for n in range(1_200, 1_400)]
    taken = link("c-01498", "d-1")
    with store.transaction() as s:
        with pytest.raises(DuplicateKey, match="d-1 to customer c-01498"):
            s.documents.link([*fresh, taken])
        with pytest.raises(DuplicateKey, match="a-00700 \\(twice in the batch\\)"):
            s.documents.link([*fresh, fresh[700]])
        assert s.documents.count_links("disclosure", "d-1") == 500
        assert s.documents.count_links("disclosure", "d-3") == 0
        assert s.documents.link(fresh) == 1_400  # the session is usable
        s.commit()
    assert stored_links(store) == 2_900


def test_reassign_moves_many_links_and_drops_the_ones_the_target_has(store: Store) -> None:
    with store.transaction() as s:
        s.documents.link([link("from", f"d-{n:04d}", state="pending") for n in range(700)])
        s.documents.link([link("to", f"d-{n:04d}", state="kept") for n in range(0, 700, 7)])
        s.documents.update_link(link("from", "d-0001", state="notified"), expected_version=1)
        assert s.documents.reassign("from", "to") == 600
        assert s.documents.links_for("from") == []
        moved = s.documents.links_for("to")
        assert len(moved) == 700 and [x.document_id for x in moved] == sorted(
            x.document_id for x in moved
        )
        assert {x.state for x in moved if int(x.document_id[2:]) % 7 == 0} == {"kept"}
        assert s.documents.get_link("disclosure", "d-0001", "to").version == 2
        assert s.documents.get_link("disclosure", "d-0001", "to").state == "notified"
        s.commit()
    assert stored_links(store) == 700


# ---------------------------------------------------------------------------------------------
# Driver errors
# ---------------------------------------------------------------------------------------------


def refuse_inserts_of(store: Store, session: Any, customer_id: str) -> None:
    """A trigger that makes the database refuse a link to ``customer_id`` (a driver error in
    the middle of a batch)."""
    if isinstance(store, SQLiteStore):
        session._conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON document_links "
            f"WHEN NEW.customer_id = '{customer_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        return
    schema = store.schema  # type: ignore[attr-defined]
    session._conn.execute(
        f"""CREATE FUNCTION "{schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.customer_id = '{customer_id}' THEN RAISE EXCEPTION 'refused'; END IF;
            RETURN NEW;
        END $$""".encode()
    )
    session._conn.execute(
        f'CREATE TRIGGER refuse BEFORE INSERT ON "{schema}".document_links '
        f'FOR EACH ROW EXECUTE FUNCTION "{schema}".refuse()'.encode()
    )


def test_a_refused_batch_is_a_storage_error_and_the_session_stays_usable(store: Store) -> None:
    with store.transaction() as s:
        refuse_inserts_of(store, s, "c-bad")
        s.commit()
    with store.transaction() as s:
        s.documents.link([link("c-0")])
        with pytest.raises(StorageError, match="refused") as info:
            s.documents.link([link("c-1"), link("c-2"), link("c-bad"), link("c-3")])
        assert not isinstance(info.value, DuplicateKey)
        assert [x.customer_id for x in s.documents.links("disclosure", "d-1")] == ["c-0"]
        assert s.documents.link([link("c-1")]) == 1
        s.commit()
    assert stored_links(store) == 2


def test_a_driver_error_in_a_read_is_a_storage_error(store: Store) -> None:
    with store.transaction() as s:
        conn: Any = s._conn  # type: ignore[attr-defined]
        if isinstance(store, SQLiteStore):
            conn.execute("DROP INDEX documents_tag")  # which list names
            driver: type[Exception] = sqlite3.Error
        else:
            import psycopg

            schema = store.schema  # type: ignore[attr-defined]
            conn.execute(f'ALTER TABLE "{schema}".documents RENAME TO gone'.encode())
            driver = psycopg.Error
        with pytest.raises(StorageError) as info:
            s.documents.list("disclosure", tag="t")
        assert type(info.value) is StorageError and isinstance(info.value.__cause__, driver)
        assert "documents.list" in str(info.value)


# ---------------------------------------------------------------------------------------------
# PostgreSQL: writers in parallel
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def pg_store(postgres_dsn: str, postgres_schema: str) -> Iterator[Any]:
    from custrec.backends import PostgresStore

    # named after the schema, so that wait_until_blocked sees this test's sessions only
    opened = PostgresStore(
        postgres_dsn, schema=postgres_schema, application_name=f"custrec-{postgres_schema}"
    )
    yield opened
    opened.close()


@pytest.fixture
def admin(postgres_dsn: str) -> Iterator[Any]:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        yield conn


def in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run ``work`` in a thread; its result (or exception) lands in the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_postgres_a_document_or_link_read_in_a_write_session_stays_until_it_ends(
    pg_store: Any,
    admin: Any,
    wait_until_blocked: Callable[..., None],
) -> None:
    with pg_store.transaction() as s:
        s.documents.add(document("d-1"))
        s.documents.link([link("c-1")])
        s.commit()

    def bump() -> tuple[int, int]:
        with pg_store.transaction() as other:
            row = other.documents.get("disclosure", "d-1")  # waits for the first session
            found = other.documents.get_link("disclosure", "d-1", "c-1")
            versions = (
                other.documents.update(row, expected_version=row.version),
                other.documents.update_link(found, expected_version=found.version),
            )
            other.commit()
            return versions

    with pg_store.transaction() as s:
        row = s.documents.get("disclosure", "d-1")
        found = s.documents.get_link("disclosure", "d-1", "c-1")
        thread, outcome = in_thread(bump)
        wait_until_blocked(admin, pg_store)
        assert s.documents.update(row, expected_version=1) == 2
        assert s.documents.update_link(found, expected_version=1) == 2
        s.commit()
    thread.join(30)
    assert outcome == [(3, 3)], "the racing read-modify-write did not wait for the first"


def test_postgres_a_link_made_meanwhile_refuses_the_batch_whole(
    pg_store: Any, admin: Any, wait_until_blocked: Callable[..., None]
) -> None:
    def link_too() -> int:
        with pg_store.transaction() as other:
            linked = other.documents.link([link("c-0"), link("c-1"), link("c-2")])
            other.commit()
            return int(linked)

    with pg_store.transaction() as s:
        s.documents.link([link("c-1")])
        thread, outcome = in_thread(link_too)
        wait_until_blocked(admin, pg_store)  # on c-1's key, not yet committed
        s.commit()
    thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], DuplicateKey), outcome
    assert stored_links(pg_store) == 1


def test_postgres_a_reassign_racing_a_link_of_the_target_is_retry_safe(
    pg_store: Any,
    admin: Any,
    wait_until_blocked: Callable[..., None],
) -> None:
    with pg_store.transaction() as s:
        s.documents.link([link("from", "d-1"), link("from", "d-2")])
        s.commit()

    def merge() -> int:
        with pg_store.transaction() as other:
            moved = other.documents.reassign("from", "to")
            other.commit()
            return int(moved)

    with pg_store.transaction() as s:
        s.documents.link([link("to", "d-1", state="own")])
        thread, outcome = in_thread(merge)
        wait_until_blocked(admin, pg_store)  # moving d-1's link onto the uncommitted one
        s.commit()
    thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], StorageError), outcome
    assert outcome[0].retry_safe and not isinstance(outcome[0], DuplicateKey)
    assert merge() == 1  # the unit of work again: d-1's link of "from" is dropped
    with pg_store.transaction(readonly=True) as s:
        assert [(x.document_id, x.state) for x in s.documents.links_for("to")] == [
            ("d-1", "own"),
            ("d-2", None),
        ]
        assert s.documents.links_for("from") == []


# ---------------------------------------------------------------------------------------------
# SQLite reads the indexes it was given
# ---------------------------------------------------------------------------------------------


def explained(session: Any, call: Callable[[], object]) -> list[str]:
    """The plan of each statement ``call`` sends (savepoints left out)."""
    conn: sqlite3.Connection = session._conn
    sent: list[str] = []
    conn.set_trace_callback(sent.append)  # each statement, its parameters filled in
    try:
        call()
    except StorageError:
        pass
    finally:
        conn.set_trace_callback(None)
    return [
        " | ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + sql))
        for sql in sent
        if not sql.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))
    ]


def test_sqlite_reads_one_index_range_per_list(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "plans.db", key_file=False) as store:
        with store.transaction() as s:
            for kind in ("disclosure", "incident"):
                for n in range(50):
                    s.documents.add(document(f"d-{n:02d}", kind, tag=f"t{n % 3}"))
                    s.documents.link(
                        [
                            link(f"c-{c:03d}", f"d-{n:02d}", kind, state=("a", "b")[c % 2])
                            for c in range(40)
                        ]
                    )
            s.commit()
        d = "d-07"
        with store.transaction() as s:
            t = s.documents
            plans = {
                "list": explained(s, lambda: t.list("incident", after="d-01", limit=5)),
                "list tag": explained(s, lambda: t.list("incident", tag="t1", after="d-01")),
                "links": explained(s, lambda: t.links("incident", d, after="c-010", limit=5)),
                "links state": explained(
                    s, lambda: t.links("incident", d, state="a", after="c-010", limit=5)
                ),
                "count": explained(s, lambda: t.count_links("incident", d, state="b")),
                "for": explained(s, lambda: t.links_for("c-005")),
                "for kind": explained(s, lambda: t.links_for("c-005", kind="incident")),
                "link": explained(s, lambda: t.link([link("c-001", d, "incident")])),
                "reassign": explained(s, lambda: t.reassign("c-001", "c-002")),
            }
    tag_index = "documents_tag (kind=? AND tag=? AND id>?)"
    assert plans["list"] == [
        "SEARCH documents USING INDEX sqlite_autoindex_documents_1 (kind=? AND id>?)"
    ]
    assert plans["list tag"] == [f"SEARCH documents USING INDEX {tag_index}"]
    pk = "SEARCH document_links USING PRIMARY KEY"
    assert plans["links"] == [f"{pk} (kind=? AND document_id=? AND customer_id>?)"]
    state = "document_links_state (kind=? AND document_id=? AND state=? AND customer_id>?)"
    assert plans["links state"] == [f"SEARCH document_links USING INDEX {state}"]
    assert plans["count"] == [
        "SEARCH document_links USING COVERING INDEX document_links_state"
        " (kind=? AND document_id=? AND state=?)"
    ]
    by_customer = "SEARCH document_links USING INDEX document_links_customer"
    assert plans["for"] == [f"{by_customer} (customer_id=?)"]
    assert plans["for kind"] == [f"{by_customer} (customer_id=? AND kind=?)"]
    assert plans["link"] == [f"{pk} (kind=? AND document_id=? AND customer_id=?)"]
    dropped, moved = plans["reassign"]
    assert "document_links_customer (customer_id=? AND kind=? AND document_id=?)" in dropped
    assert (
        moved
        == "SEARCH document_links USING COVERING INDEX document_links_customer (customer_id=?)"
    )


def test_sqlite_counts_by_stage_read_the_stage_state_index_and_nothing_else_does(
    tmp_path: Path,
) -> None:
    """``customers_stage_state`` is partial on a condition every row meets, and the counts it
    serves repeat it; any other statement keeps the plan it had before schema 10."""
    with SQLiteStore(tmp_path / "stages.db", key_file=False) as store:
        states = ("live", "archived", "erased", "merged", "restricted")
        with store.transaction() as s:
            s.customers.add_many(
                [
                    customer(
                        f"c-{n:03d}",
                        stage=("lead", "won", "lost")[n % 3],
                        state=states[n % 5],
                        owner=f"u-{n % 4}",
                    )
                    for n in range(60)
                ]
            )
            s.commit()
        index = "USING COVERING INDEX customers_stage_state"
        with store.transaction(readonly=True) as s:
            c = s.customers
            shown = CustomerFilter(states=SHOWN)
            served = {
                "by stage, shown": lambda: c.group_count(["stage"], where=shown),
                "by state of a stage": lambda: c.group_count(
                    ["state"], where=CustomerFilter(stage="won")
                ),
                "shown": lambda: c.count(where=shown),
                "a stage, shown": lambda: c.count(where=CustomerFilter(stage="won", states=SHOWN)),
            }
            for name, call in served.items():
                (plan,) = explained(s, call)
                assert index in plan, (name, plan)
            others = {
                "a stage and an owner": lambda: c.count(
                    where=CustomerFilter(stage="won", owner="u-1", states=SHOWN)
                ),
                "by stage within a reach": lambda: c.group_count(
                    ["stage"], where=CustomerFilter(states=SHOWN, reach=Reach(owner="u-1"))
                ),
                "a page of a stage": lambda: c.query(where=CustomerFilter(stage="won"), limit=5),
                "erased": lambda: c.count(where=CustomerFilter(state="erased")),
                "by stage and owner": lambda: c.group_count(["stage", "owner"], where=shown),
            }
            for name, call in others.items():
                plans = explained(s, call)
                assert plans and "customers_stage_state" not in str(plans), (name, plans)
            # the answers are the rows' own
            rows = c.query(limit=100)
            assert c.group_count(["stage"], where=shown) == {
                (stage,): sum(1 for r in rows if r.stage == stage and r.state in SHOWN)
                for stage in ("lead", "won", "lost")
            }
            assert c.count(where=CustomerFilter(stage="won", states=SHOWN)) == sum(
                1 for r in rows if r.stage == "won" and r.state in SHOWN
            )


# ---------------------------------------------------------------------------------------------
# An existing store gets the tables
# ---------------------------------------------------------------------------------------------


def test_a_schema_9_sqlite_file_opens_with_empty_document_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    with monkeypatch.context() as patch:  # what custrec wrote before schema 10
        patch.setattr(sqlite_backend, "MIGRATIONS", sqlite_backend.MIGRATIONS[:9])
        with SQLiteStore(path, key_file=False) as old, old.transaction() as s:
            s.customers.add_many(
                [customer("c-1", stage="won"), customer("c-2", state="erased"), customer("c-3")]
            )
            s.commit()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (9,)
    finally:
        conn.close()
    with SQLiteStore(path, key_file=False) as store:
        with store.transaction() as s:
            assert s.documents.list("disclosure") == []
            assert s.documents.links_for("c-1") == []
            s.documents.add(document("d-1"))
            assert s.documents.link([link("c-1"), link("c-3")]) == 2
            s.commit()
        with store.transaction(readonly=True) as s:
            assert s.customers.group_count(["stage"], where=CustomerFilter(states=SHOWN)) == {
                ("won",): 1,
                ("lead",): 1,
            }
            assert [x.customer_id for x in s.documents.links("disclosure", "d-1")] == ["c-1", "c-3"]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (11,)
        schema = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
    finally:
        conn.close()
    assert schema["document_links"].endswith("WITHOUT ROWID")
    assert "PRIMARY KEY (kind, document_id, customer_id)" in schema["document_links"]
    assert "PRIMARY KEY (kind, id)" in schema["documents"]
    assert "(kind, tag, id)" in schema["documents_tag"]
    assert "(kind, document_id, state, customer_id)" in schema["document_links_state"]
    assert "(customer_id, kind, document_id)" in schema["document_links_customer"]
    assert schema["customers_stage_state"].endswith("(stage, state) WHERE stage >= ''")
    assert "COLLATE" not in schema["documents"] + schema["document_links"]  # BINARY


def test_a_schema_6_postgres_schema_gets_the_document_tables(
    postgres_dsn: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    psycopg = pytest.importorskip("psycopg")
    import custrec.backends.postgres as pg

    with monkeypatch.context() as patch:
        patch.setattr(pg, "MIGRATIONS", pg.MIGRATIONS[:6])
        with (
            pg.PostgresStore(postgres_dsn, schema=postgres_schema) as old,
            old.transaction() as s,
        ):
            s.customers.add_many([customer("c-1", stage="won"), customer("c-2")])
            s.commit()
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        quoted = f'"{postgres_schema}"'
        versions = f"SELECT max(version) FROM {quoted}.schema_version".encode()
        assert admin.execute(versions).fetchone() == (6,)
        with pg.PostgresStore(postgres_dsn, schema=postgres_schema) as store:
            with store.transaction() as s:
                assert s.documents.list("disclosure") == []
                s.documents.add(document("d-1"))
                assert s.documents.link([link("c-2"), link("c-1")]) == 2
                s.commit()
            with store.transaction(readonly=True) as s:
                assert [x.customer_id for x in s.documents.links("disclosure", "d-1")] == [
                    "c-1",
                    "c-2",
                ]
                assert s.customers.group_count(["stage"], where=CustomerFilter(states=SHOWN)) == {
                    ("won",): 1,
                    ("lead",): 1,
                }
        assert admin.execute(versions).fetchone() == (pg.SCHEMA_VERSION,) == (8,)
        indexes = dict(
            admin.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s",
                (postgres_schema,),
            ).fetchall()
        )
        assert "(kind, id)" in indexes["documents_pkey"]
        assert "(kind, tag, id)" in indexes["documents_tag"]
        assert "(kind, document_id, customer_id)" in indexes["document_links_pkey"]
        assert "(kind, document_id, state, customer_id)" in indexes["document_links_state"]
        assert "(customer_id, kind, document_id)" in indexes["document_links_customer"]
        assert "(stage, state)" in indexes["customers_stage_state"]
        collations = admin.execute(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name IN ('documents', 'document_links')"
            " AND data_type = 'text'",
            (postgres_schema,),
        ).fetchall()
        assert len(collations) == 7
        assert {c[2] for c in collations} == {"C"}
