"""The writes that end a unit of work on PostgreSQL: no savepoint each, one round trip with COMMIT.

When a unit commits, it writes its new data keys, its change-feed events and its audit queue
entries, then sends ``COMMIT``. A failure of any of those writes raises out of the commit and
the whole unit is given up, so the savepoint that would leave the session as it was before the
failing write is never used: on PostgreSQL, where a savepoint costs a statement and a
subtransaction, they run inside ``all_or_nothing()``. The change-feed events, the queue entries
and ``COMMIT`` go in one round trip (``commit_with``). Nothing of a unit whose last writes fail
is committed; one whose connection is lost while they ran may have committed, so that error is
not retry-safe. PostgreSQL skips without ``CUSTREC_TEST_POSTGRES_DSN``.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (custrec[postgres])")

import custrec.backends.postgres as pg  # noqa: E402
from custrec import Actor, KeyRing, Registry  # noqa: E402
from custrec.backends._postgres import tables as pg_tables  # noqa: E402
from custrec.backends._sql.session import writes_one_statement  # noqa: E402
from custrec.backends.postgres import PostgresStore  # noqa: E402
from custrec.errors import StorageError  # noqa: E402
from custrec.services.context import Context, Unit  # noqa: E402

from ._relay import LosingRelay  # noqa: E402

ADMIN = Actor(id="admin", roles={"admin", "unmask"})
AUDITOR = Actor(id="auditor", roles={"auditor"})
ENDING = ("INTO {s}.changes", "INTO {s}.audit_queue", "INTO {s}.data_keys")


@pytest.fixture
def registry(postgres_dsn: str, postgres_schema: str) -> Iterator[Registry]:
    store = PostgresStore(postgres_dsn, schema=postgres_schema, max_size=2)
    yield Registry(store, keyring=KeyRing.generate())
    store.close()


def _sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the store's connections send from now on, in order."""
    sent: list[str] = []
    real = psycopg.Connection.execute

    def recording(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(query.decode() if isinstance(query, bytes) else str(query))
        return real(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", recording)
    return sent


def _ending_writes(sent: list[str], schema: str) -> list[tuple[str, str]]:
    """(statement before, statement) for each data-key, change-feed and audit-queue write."""
    targets = [t.replace("{s}", f'"{schema}"') for t in ENDING]
    return [
        (before, statement)
        for before, statement in pairwise(sent)
        if statement.startswith("INSERT") and any(t in statement for t in targets)
    ]


def _nothing_committed_and_the_next_update_works(registry: Registry, made: Any) -> None:
    """The failed update left no data and no change event, and the customer updates again."""
    kept = registry.customers.get(made.id, actor=ADMIN)
    assert (kept.version, kept.tags) == (made.version, made.tags)
    events = registry.changes.since(None, actor=ADMIN).events
    assert [e.kind for e in events if e.customer_id == made.id] == ["customer.create"]
    again = registry.customers.update(
        made.id, {"tags": ["kept"]}, actor=ADMIN, reason="r", expected_version=made.version
    )
    assert (again.version, again.tags) == (made.version + 1, ("kept",))
    assert registry.audit.verify(actor=AUDITOR).ok


def test_an_intake_and_an_update_send_their_ending_writes_without_savepoints(
    registry: Registry, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _sent(monkeypatch)
    made = registry.customers.intake(
        {"kind": "individual", "name": "王芳", "contacts": [{"phones": ["13800138000"]}]},
        actor=ADMIN,
    )
    registry.customers.update(
        made.id, {"tags": ["vip"]}, actor=ADMIN, reason="tagging", expected_version=made.version
    )
    ending = _ending_writes(sent, postgres_schema)
    kinds = {t for _, s in ending for t in ("changes", "audit_queue", "data_keys") if t in s}
    assert kinds == {"changes", "audit_queue", "data_keys"}
    assert [s for b, s in ending if b.startswith("SAVEPOINT")] == []
    assert any(s.startswith("SAVEPOINT") for s in sent)  # the data writes keep theirs


def test_a_unit_whose_ending_write_fails_commits_nothing(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = registry.customers.intake(
        {"kind": "individual", "name": "李雷", "contacts": [{"phones": ["13900139000"]}]},
        actor=ADMIN,
    )
    real = pg_tables._AuditTable.enqueue
    # the general path: the writes one by one, then COMMIT (where the session sent nothing yet)
    monkeypatch.setattr(pg._PostgresSession, "commit_with", lambda self, events, entries: None)

    @writes_one_statement
    def failing(self: Any, records: Any) -> list[int]:
        self._exec("SELECT 1 / 0")  # the server refuses: the transaction is aborted
        return []

    monkeypatch.setattr(pg_tables._AuditTable, "enqueue", failing)
    with pytest.raises(StorageError):
        registry.customers.update(
            made.id, {"tags": ["lost"]}, actor=ADMIN, reason="r", expected_version=made.version
        )
    monkeypatch.setattr(pg_tables._AuditTable, "enqueue", real)
    _nothing_committed_and_the_next_update_works(registry, made)


def test_a_unit_sends_its_events_its_queued_entries_and_commit_in_one_round_trip(
    registry: Registry, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[list[str]] = []
    real_execute, real_end = pg._PostgresSession._execute, pg._PostgresSession._end

    def execute(self: Any, statements: Any) -> Any:
        batches.append([bytes(sql).decode() for sql, _ in statements])
        return real_execute(self, statements)

    def end(self: Any, statement: str) -> None:
        batches.append([statement])
        real_end(self, statement)

    monkeypatch.setattr(pg._PostgresSession, "_execute", execute)
    monkeypatch.setattr(pg._PostgresSession, "_end", end)
    monkeypatch.setattr(Context, "read_seals", lambda self, tickets, write=False: False)
    made = registry.customers.intake(
        {"kind": "individual", "name": "韩梅", "contacts": [{"phones": ["13700137000"]}]},
        actor=ADMIN,
    )
    registry.customers.update(
        made.id, {"tags": ["vip"]}, actor=ADMIN, reason="tagging", expected_version=made.version
    )
    changes, queue = (f'INTO "{postgres_schema}".{t}' for t in ("changes", "audit_queue"))
    endings = [b for b in batches if any(queue in s for s in b) and any(changes in s for s in b)]
    assert len(endings) == 2  # the intake's and the update's
    for batch in endings:
        assert batch[-1] == "COMMIT"
        assert [changes in batch[0], queue in batch[1]] == [True, True]
    assert ["COMMIT"] not in batches  # no unit committed on its own round trip


def test_a_unit_whose_ending_fails_on_the_server_commits_nothing(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = registry.customers.intake(
        {"kind": "individual", "name": "李雷", "contacts": [{"phones": ["13900139001"]}]},
        actor=ADMIN,
    )
    real = pg_tables._AuditTable._queue_statement
    monkeypatch.setattr(
        pg_tables._AuditTable, "_queue_statement", lambda self, records: ("SELECT 1 / 0", None)
    )
    with pytest.raises(StorageError):
        registry.customers.update(
            made.id, {"tags": ["lost"]}, actor=ADMIN, reason="r", expected_version=made.version
        )
    monkeypatch.setattr(pg_tables._AuditTable, "_queue_statement", real)
    _nothing_committed_and_the_next_update_works(registry, made)


def test_a_unit_whose_ending_lost_its_reply_is_not_retry_safe_and_not_sent_again(
    postgres_dsn: str, postgres_schema: str
) -> None:
    """The server committed the ending but the client lost its connection before the reply:
    the outcome is unknown to the client, so the error is not retry-safe, and the update is
    there once."""
    proxy = LosingRelay(postgres_dsn, b"audit_queue")
    store = PostgresStore(proxy.dsn, schema=postgres_schema, max_size=2)
    try:
        registry = Registry(store, keyring=KeyRing.generate())
        made = registry.customers.intake(
            {"kind": "individual", "name": "张三", "contacts": [{"wechat": "wx-ending"}]},
            actor=ADMIN,
        )
        proxy.armed = True
        with pytest.raises(StorageError) as caught:
            registry.customers.update(
                made.id, {"tags": ["once"]}, actor=ADMIN, reason="r", expected_version=made.version
            )
        proxy.armed = False
        assert proxy.fired.is_set()
        assert caught.value.retry_safe is False
        assert "unknown" in str(caught.value)
        kept = registry.customers.get(made.id, actor=ADMIN)
        assert (kept.version, kept.tags) == (made.version + 1, ("once",))
        assert registry.audit.verify(actor=AUDITOR).ok
    finally:
        store.close()
        proxy.close()


def _person(n: int) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"测试{n}",
        "contacts": [{"phones": [f"138001300{n:02d}"]}],
    }


def test_a_failed_ending_leaves_no_broken_connection_in_the_pool(
    postgres_dsn: str, postgres_schema: str
) -> None:
    # One pooled connection. psycopg prepares a statement at its sixth run on a connection and,
    # in a pipeline, counts it prepared once queued: when an earlier statement of the batch
    # fails, the server skips that Parse. The connection must not be used again after that.
    joiner = "&" if "?" in postgres_dsn else "?"
    store = PostgresStore(
        postgres_dsn + joiner + "options=-c%20lock_timeout%3D300",
        schema=postgres_schema,
        max_size=1,
    )
    registry = Registry(store, keyring=KeyRing.generate())
    try:
        first = registry.customers.intake(_person(1), actor=ADMIN)
        second = registry.customers.intake(_person(2), actor=ADMIN)
        version = first.version
        for n in range(3):  # five endings on the connection so far
            version = registry.customers.update(
                first.id, {"tags": [f"a{n}"]}, actor=ADMIN, reason="r", expected_version=version
            ).version
        with psycopg.connect(postgres_dsn, autocommit=True) as blocker:
            blocker.execute(b"BEGIN")
            blocker.execute(f'LOCK TABLE "{postgres_schema}".changes IN SHARE MODE'.encode())
            with pytest.raises(StorageError) as blocked:  # the sixth ending: lock_timeout
                registry.customers.update(
                    second.id, {"tags": ["b"]}, actor=ADMIN, reason="r", expected_version=1
                )
            assert blocked.value.retry_safe
            blocker.execute(b"ROLLBACK")
        retried = registry.customers.update(
            second.id, {"tags": ["b"]}, actor=ADMIN, reason="r", expected_version=1
        )
        assert retried.version == 2
        assert registry.customers.get(first.id, actor=ADMIN).version == version  # audited read
        assert registry.audit.verify(actor=AUDITOR).ok
    finally:
        store.close()


def test_a_connection_ended_before_the_ending_is_sent_is_retry_safe(
    postgres_dsn: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PostgresStore(postgres_dsn, schema=postgres_schema, max_size=1)
    registry = Registry(store, keyring=KeyRing.generate())
    made = registry.customers.intake(_person(3), actor=ADMIN)
    real_commit = Unit.commit

    def commit_after_the_server_ended_the_session(self: Unit) -> None:
        conn = self.session._conn  # type: ignore[attr-defined]
        pid = conn.info.backend_pid
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            while admin.execute(  # wait until the server process is gone
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone():
                admin.execute("SELECT pg_sleep(0.01)")
        real_commit(self)

    monkeypatch.setattr(Unit, "commit", commit_after_the_server_ended_the_session)
    try:
        with pytest.raises(StorageError) as lost:
            registry.customers.update(
                made.id, {"tags": ["x"]}, actor=ADMIN, reason="r", expected_version=1
            )
        assert lost.value.retry_safe
        assert "nothing was committed" in str(lost.value)
        monkeypatch.setattr(Unit, "commit", real_commit)
        assert registry.customers.get(made.id, actor=ADMIN).version == 1
        updated = registry.customers.update(
            made.id, {"tags": ["x"]}, actor=ADMIN, reason="r", expected_version=1
        )
        assert updated.version == 2
    finally:
        store.close()
