"""PostgreSQL's work table and change feed beyond the conformance kit: the due-time plans, the
feed's order by transaction id (held back by a transaction still running, never skipping an
event committed late), its cursors, its append-only trigger, row locks on work rows and the
migration of a schema-3 database. Skips without ``CUSTREC_TEST_POSTGRES_DSN`` (see
conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (custrec[postgres])")

import custrec.backends.postgres as pg  # noqa: E402
from custrec.backends._postgres.workflow import _WorkTable  # noqa: E402
from custrec.backends.postgres import PostgresStore  # noqa: E402
from custrec.errors import DuplicateKey, StorageError  # noqa: E402
from custrec.storage import ChangeEvent, WorkFilter, WorkRow  # noqa: E402

T0 = datetime(2024, 1, 1, 8, 30, tzinfo=UTC)


@pytest.fixture
def admin(postgres_dsn: str) -> Iterator[Any]:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
    store = PostgresStore(
        postgres_dsn, schema=postgres_schema, application_name=f"custrec-{postgres_schema}"
    )
    yield store
    store.close()


def work(i: int, **changes: Any) -> WorkRow:
    row = WorkRow(
        id=f"w{i:05d}",
        kind="case" if i % 2 else "task",
        customer_id=f"c{i % 400}",
        status="new",
        open=i % 3 != 0,
        assignee=f"a{i % 40}",
        team=f"t{i % 20}",
        due_at=None if i % 11 == 0 else T0 + timedelta(minutes=i % 997),
        created_at=T0,
        updated_at=T0,
        payload=b"sealed",
    )
    return attrs.evolve(row, **changes)


def event(kind: str, **changes: Any) -> ChangeEvent:
    return ChangeEvent(at=T0, kind=kind, actor_id="u-1", **changes)


def kinds(page: Any) -> list[str]:
    return [e.kind for e in page.events]


def read(store: PostgresStore, cursor: str | None = None) -> Any:
    with store.transaction(readonly=True) as session:
        return session.changes.since(cursor)


# ---------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------


def due_plans(
    store: PostgresStore, admin: Any, monkeypatch: pytest.MonkeyPatch, where: WorkFilter | None
) -> list[str]:
    """The plans of the statements ``due`` runs for ``where`` (a first page and the next)."""
    seen: list[tuple[bytes, Sequence[Any]]] = []
    run = _WorkTable._exec

    def record(self: _WorkTable, template: str, params: Any = None) -> Any:
        seen.append((self._q(template), params or ()))
        return run(self, template, params)

    monkeypatch.setattr(_WorkTable, "_exec", record)
    with store.transaction(readonly=True) as session:
        first = session.work.due(before=T0 + timedelta(minutes=600), where=where, limit=5)
        assert first and first[-1].due_at is not None
        after = (first[-1].due_at, first[-1].id)
        session.work.due(before=T0 + timedelta(minutes=600), where=where, after=after, limit=5)
    monkeypatch.undo()
    return [
        "\n".join(r[0] for r in admin.execute(b"EXPLAIN " + sql, params)) for sql, params in seen
    ]


@pytest.mark.parametrize(
    ("where", "index"),
    [
        (WorkFilter(kind="case", assignee="a1"), "work_due_assignee"),
        (WorkFilter(kind="case", team="t1"), "work_due_team"),
        (WorkFilter(kind="task"), "work_due"),
        (WorkFilter(kind="task", status="new", breached=False), "work_due"),
        (None, "work_due"),
        (WorkFilter(assignee="a2"), "work_due_assignee"),
        (WorkFilter(customer_id="c7"), "work_customer"),
    ],
)
def test_due_reads_an_index(
    store: PostgresStore,
    admin: Any,
    monkeypatch: pytest.MonkeyPatch,
    where: WorkFilter | None,
    index: str,
) -> None:
    with store.transaction() as session:
        session.work.add_many([work(i) for i in range(20_000)])
        session.commit()
    admin.execute(f'ANALYZE "{store.schema}".work'.encode())
    for plan in due_plans(store, admin, monkeypatch, where):
        if index == "work_customer":  # a customer's few rows, sorted
            assert "Index Scan on work_customer" in plan, plan
        else:
            assert f"Index Scan using {index} on work" in plan, plan
            assert "Sort" not in plan, plan


def test_the_feed_is_read_through_its_key(store: PostgresStore, admin: Any) -> None:
    with store.transaction() as session:
        for n in range(200):
            session.changes.append([event(f"k{n}.{i}") for i in range(50)])
        session.commit()
    admin.execute(f'ANALYZE "{store.schema}".changes'.encode())
    page = read(store)
    with store.transaction(readonly=True) as session:
        statement = (
            f'SELECT seq FROM "{store.schema}".changes WHERE xid < '
            "pg_snapshot_xmin(pg_current_snapshot()) AND (xid, seq) > (%s::text::xid8, %s) "
            "ORDER BY xid, seq LIMIT 10"
        )
        xid, seq = page.cursor.split(".")
        plan = "\n".join(
            r[0] for r in session._conn.execute(("EXPLAIN " + statement).encode(), (xid, int(seq)))
        )
    assert "changes_pkey" in plan and "Sort" not in plan, plan


# ---------------------------------------------------------------------------------------------
# The feed's order
# ---------------------------------------------------------------------------------------------


def hold_open(
    store: PostgresStore, kind: str
) -> tuple[threading.Event, threading.Thread, list[Any]]:
    """A session in a thread that appends ``kind`` and waits, uncommitted, until the returned
    event is set with ``outcome[0]`` saying ``"commit"`` or ``"rollback"``."""
    appended, release = threading.Event(), threading.Event()
    outcome: list[Any] = []

    def run() -> None:
        try:
            with store.transaction() as session:
                session.changes.append([event(kind)])
                appended.set()
                assert release.wait(60)
                if outcome[0] == "commit":
                    session.commit()
        except BaseException as exc:  # reported by the test
            outcome.append(exc)
            appended.set()

    thread = threading.Thread(target=run)
    thread.start()
    assert appended.wait(30)
    return release, thread, outcome


@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_a_running_writer_holds_back_later_commits_and_nothing_is_skipped(
    store: PostgresStore, end: str
) -> None:
    with store.transaction() as session:
        session.changes.append([event("before")])
        session.commit()
    release, thread, outcome = hold_open(store, "held")  # takes its xid first
    try:
        with store.transaction() as session:
            session.changes.append([event("later.1"), event("later.2")])
            session.commit()
        page = read(store)
        assert kinds(page) == ["before"], "an event committed after a running writer showed"
        again = read(store, page.cursor)  # still held back: nothing new, the same cursor
        assert again.events == () and again.cursor == page.cursor
    finally:
        outcome.insert(0, end)
        release.set()
        thread.join(60)
    assert outcome == [end]
    rest = read(store, page.cursor)
    expected = ["held", "later.1", "later.2"] if end == "commit" else ["later.1", "later.2"]
    assert kinds(rest) == expected
    assert kinds(read(store)) == ["before", *expected]
    assert read(store, rest.cursor).events == ()


def test_a_write_session_does_not_see_its_own_events_in_the_feed(store: PostgresStore) -> None:
    with store.transaction() as session:
        session.changes.append([event("mine")])
        assert session.changes.since().events == ()
        session.commit()
    assert kinds(read(store)) == ["mine"]


def test_events_of_one_transaction_come_together_in_append_order(store: PostgresStore) -> None:
    with store.transaction() as first:
        first.changes.append([event("a.1")])
        with_second = threading.Thread(target=lambda: append_and_commit(store, ["b.1", "b.2"]))
        with_second.start()
        with_second.join(30)
        first.changes.append([event("a.2"), event("a.3")])
        first.commit()
    assert kinds(read(store)) == ["a.1", "a.2", "a.3", "b.1", "b.2"]


def append_and_commit(store: PostgresStore, names: list[str]) -> None:
    with store.transaction() as session:
        session.changes.append([event(name) for name in names])
        session.commit()


@pytest.mark.parametrize(
    "cursor",
    [
        *("0", "1", "1.", ".1", "01.1", "1.01", "-1.1", "1.-1", "1.2.3", " 1.1", "1.1 ", "1,1"),
        *(f"{2**64}.1", f"1.{2**63}", "１.1"),
    ],
)
def test_cursors_it_did_not_make_raise_value_error(store: PostgresStore, cursor: str) -> None:
    with store.transaction(readonly=True) as session, pytest.raises(ValueError, match="cursor"):
        session.changes.since(cursor)


def test_the_start_cursor_is_accepted_and_one_naming_no_event_is_not(
    store: PostgresStore,
) -> None:
    with store.transaction(readonly=True) as session:
        assert session.changes.since("0.0") == session.changes.since()
        assert session.changes.since("0.0").cursor == "0.0"
        with pytest.raises(ValueError, match="cursor"):  # in range, but no such event
            session.changes.since(f"{2**64 - 1}.{2**63 - 1}")


def test_the_feed_is_append_only(store: PostgresStore, admin: Any) -> None:
    append_and_commit(store, ["k"])
    for statement in ("UPDATE {}.changes SET kind = 'x'", "DELETE FROM {}.changes"):
        with pytest.raises(psycopg.Error, match="append-only"):
            admin.execute(statement.format(f'"{store.schema}"').encode())
    with pytest.raises(psycopg.Error, match="append-only"):
        admin.execute(f'TRUNCATE "{store.schema}".changes'.encode())


# ---------------------------------------------------------------------------------------------
# Work rows under concurrency
# ---------------------------------------------------------------------------------------------


def test_a_row_read_in_a_write_session_stays_until_it_ends(
    store: PostgresStore,
    admin: Any,
    wait_until_blocked: Callable[..., None],
) -> None:
    with store.transaction() as session:
        session.work.add(work(1))
        session.commit()
    done: list[Any] = []

    def bump() -> None:
        try:
            with store.transaction() as other:
                row = other.work.get("w00001")  # waits for the first session's lock
                done.append(other.work.update(row, expected_version=row.version))
                other.commit()
        except BaseException as exc:
            done.append(exc)

    with store.transaction() as session:
        row = session.work.get("w00001")
        thread = threading.Thread(target=bump)
        thread.start()
        wait_until_blocked(admin, store)
        assert session.work.update(row, expected_version=1) == 2
        session.commit()
    thread.join(30)
    assert done == [3], "the racing read-modify-write did not wait for the first"


def test_a_concurrent_add_of_the_same_id_raises_duplicate_key(
    store: PostgresStore,
    admin: Any,
    wait_until_blocked: Callable[..., None],
) -> None:
    failures: list[BaseException] = []

    def add_too() -> None:
        try:
            with store.transaction() as other:
                other.work.add(work(9))
                other.commit()
        except BaseException as exc:
            failures.append(exc)

    with store.transaction() as session:
        session.work.add(work(9))
        thread = threading.Thread(target=add_too)
        thread.start()
        wait_until_blocked(admin, store)
        session.commit()
    thread.join(30)
    assert len(failures) == 1 and isinstance(failures[0], DuplicateKey)
    with store.transaction() as session:  # a batch racing the same way is refused whole
        assert session.work.add_many([work(9), work(10)], skip_existing=True) == 1
        with pytest.raises(DuplicateKey):
            session.work.add_many([work(11), work(11)])
        assert session.work.count() == 2


def test_a_schema_3_database_gets_the_work_table_and_the_feed(
    postgres_dsn: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(pg, "MIGRATIONS", pg.MIGRATIONS[:3])
        with (
            PostgresStore(postgres_dsn, schema=postgres_schema) as old,
            old.transaction() as session,
            pytest.raises(StorageError),
        ):
            session.changes.append([event("k")])
    with PostgresStore(postgres_dsn, schema=postgres_schema) as store:
        with store.transaction() as session:
            session.work.add(work(1))
            session.changes.append([event("k")])
            session.commit()
        assert kinds(read(store)) == ["k"]
