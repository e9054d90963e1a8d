"""SQLite's work table and change feed beyond the conformance kit: the query plans of the
due-time lists (an index, and no sort but over one customer's rows), the feed's append-only
triggers and the migration of a schema-6 file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import custrec.backends.sqlite as sqlite_backend
from custrec.backends._sqlite.dialect import DIALECT
from custrec.backends._sqlite.workflow import _WorkTable
from custrec.backends.sqlite import SQLiteStore
from custrec.errors import StorageError
from custrec.storage import ChangeEvent, WorkFilter, WorkRow

T0 = datetime(2024, 1, 1, 8, 30, tzinfo=UTC)


def work(i: int) -> WorkRow:
    return WorkRow(
        id=f"w{i:05d}",
        kind="case" if i % 2 else "task",
        customer_id=f"c{i % 50}",
        status="new",
        open=i % 3 != 0,
        assignee=f"a{i % 7}",
        team=f"t{i % 5}",
        due_at=None if i % 11 == 0 else T0 + timedelta(hours=i % 97),
        breached=i % 13 == 0,
        created_at=T0,
        updated_at=T0,
        payload=b"sealed",
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "work.db")
    with store.transaction() as session:
        session.work.add_many([work(i) for i in range(3000)])
        session.commit()
    yield store
    store.close()


def plans(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch, where: WorkFilter | None
) -> list[str]:
    """The query plan of each statement ``due`` runs for ``where``, for a first page and for
    the page after it."""
    seen: list[tuple[str, Sequence[Any]]] = []
    run = _WorkTable._run

    def record(self: _WorkTable, template: str, params: Sequence[Any] | None = None) -> Any:
        seen.append((DIALECT.render(template), params or ()))
        return run(self, template, params)

    monkeypatch.setattr(_WorkTable, "_run", record)
    with store.transaction(readonly=True) as session:
        first = session.work.due(before=T0 + timedelta(hours=60), where=where, limit=5)
        assert first
        last = first[-1]
        assert last.due_at is not None
        session.work.due(
            before=T0 + timedelta(hours=60), where=where, after=(last.due_at, last.id), limit=5
        )
        monkeypatch.undo()
        return [
            " / ".join(r[3] for r in session._conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            for sql, params in seen
        ]


@pytest.mark.parametrize(
    ("where", "index", "statements"),
    [
        (WorkFilter(kind="case", assignee="a1"), "work_due_assignee", 1),
        (WorkFilter(kind="case", team="t1"), "work_due_team", 1),
        (WorkFilter(kind="task"), "work_due", 1),
        (WorkFilter(kind="task", status="new", breached=False, open=True), "work_due", 1),
        (None, "work_due", 2),  # once per kind, merged
        (WorkFilter(assignee="a2"), "work_due_assignee", 2),
        (WorkFilter(team="t2", assignee="a2"), "work_due_assignee", 2),
    ],
)
def test_due_reads_an_index_in_due_order(
    store: SQLiteStore,
    monkeypatch: pytest.MonkeyPatch,
    where: WorkFilter | None,
    index: str,
    statements: int,
) -> None:
    found = plans(store, monkeypatch, where)
    assert len(found) == 2 * statements
    for plan in found:
        assert f"USING INDEX {index} (" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        assert "due_at<?" in plan, plan  # the bound is part of the index range
    assert "(due_at,id)>(?,?)" in found[-1]  # and so is the page's start


@pytest.mark.parametrize("kind", [None, "case"])
def test_due_of_a_customer_reads_only_that_customers_rows(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch, kind: str | None
) -> None:
    for plan in plans(store, monkeypatch, WorkFilter(customer_id="c7", kind=kind)):
        assert plan.startswith("SEARCH work USING INDEX work_customer (customer_id=?)"), plan


def test_a_customers_rows_are_listed_from_an_index_in_id_order(store: SQLiteStore) -> None:
    with store.transaction(readonly=True) as session:
        plan = " / ".join(
            r[3]
            for r in session._conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM work WHERE customer_id = ? AND id > ? "
                "ORDER BY id LIMIT ?",
                ("c7", "w00007", 10),
            )
        )
        rows = session.work.query(where=WorkFilter(customer_id="c7"), after="w00007", limit=3)
    assert plan == "SEARCH work USING COVERING INDEX work_customer (customer_id=? AND id>?)"
    assert [r.id for r in rows] == ["w00057", "w00107", "w00157"]


def test_the_feed_is_append_only(store: SQLiteStore) -> None:
    with store.transaction() as session:
        session.changes.append([ChangeEvent(at=T0, kind="case.open", actor_id="u-1")])
        session.commit()
    with store.transaction() as session:
        for statement in ("UPDATE changes SET kind = 'x'", "DELETE FROM changes"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                session._conn.execute(statement)


def test_a_schema_6_file_gets_the_work_table_and_the_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_backend, "MIGRATIONS", sqlite_backend.MIGRATIONS[:6])
        SQLiteStore(path, key_file=False).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (6,)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'work'").fetchone() is None
    finally:
        conn.close()
    with SQLiteStore(path, key_file=False) as store:
        with store.transaction() as session:
            session.work.add(work(1))
            assert session.changes.append([ChangeEvent(at=T0, kind="k", actor_id="u")]) == [1]
            session.commit()
        with store.transaction(readonly=True) as session:
            assert session.work.get("w00001").version == 1
            assert session.changes.since().cursor == "1"
            assert session._conn.execute("SELECT max(version) FROM schema_version").fetchone() == (
                sqlite_backend.SCHEMA_VERSION,
            )


def test_a_write_refused_by_the_database_leaves_the_session_usable(store: SQLiteStore) -> None:
    with store.transaction() as session:
        session._conn.execute(
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON changes WHEN NEW.kind = 'bad' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        events = [ChangeEvent(at=T0, kind=kind, actor_id="u") for kind in ("k", "bad")]
        with pytest.raises(StorageError, match="refused"):
            session.changes.append(events)  # the first event went in, and is taken back
        session._conn.execute("DROP TRIGGER refuse")
        assert session.changes.since().events == ()
        assert session.changes.append([ChangeEvent(at=T0, kind="k", actor_id="u")]) == [1]


@pytest.mark.parametrize(
    ("where", "index"),
    [
        (WorkFilter(kind="case", open=True, breached=True), "work_breached"),
        (WorkFilter(kind="case", open=True, breached=True, team="t1"), "work_breached_team"),
        (
            WorkFilter(kind="case", open=True, breached=True, assignee="a1"),
            "work_breached_assignee",
        ),
    ],
)
def test_open_breached_cases_are_listed_from_their_own_index(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch, where: WorkFilter, index: str
) -> None:
    seen: list[tuple[str, Sequence[Any]]] = []
    run = _WorkTable._run

    def record(self: _WorkTable, template: str, params: Sequence[Any] | None = None) -> Any:
        seen.append((DIALECT.render(template), params or ()))
        return run(self, template, params)

    monkeypatch.setattr(_WorkTable, "_run", record)
    with store.transaction(readonly=True) as session:
        rows = session.work.query(where=where, limit=50)
        monkeypatch.undo()
        everything = session.work.query(limit=10_000)
        (plan,) = [
            " / ".join(r[3] for r in session._conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            for sql, params in seen
        ]
    assert f"USING INDEX {index}" in plan, plan
    assert rows and [r.id for r in rows] == [r.id for r in everything if where.matches(r)][:50]
