"""PostgresStore.statements(): sessions without a transaction, for work of one statement.

A registry reads a customer (``get``, ``find``) and queues the read's audit entry through such
sessions: each statement reads its own snapshot, or commits durably on its own, without the
round trips and server work of ``BEGIN``/``ROLLBACK``/``COMMIT``. These tests pin what a caller
may rely on, and that ``find`` returns the same customers as through a snapshot transaction.
Tests skip without ``CUSTREC_TEST_POSTGRES_DSN`` and fail without it under CI.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (custrec[postgres])")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from custrec import Actor, KeyRing, Registry  # noqa: E402
from custrec.backends import PostgresStore  # noqa: E402
from custrec.errors import DuplicateKey, StorageError  # noqa: E402
from custrec.services import context as context_module  # noqa: E402
from custrec.storage import CustomerRow, WrappedKey  # noqa: E402

from ._relay import LosingRelay  # noqa: E402

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ADMIN = Actor(id="admin", roles={"admin", "unmask"})
AUDITOR = Actor(id="auditor", roles={"auditor"})


def row(customer_id: str, stage: str = "lead") -> CustomerRow:
    return CustomerRow(
        id=customer_id,
        payload=b"sealed",
        index_keys=frozenset({f"k:{customer_id}"}),
        kind="individual",
        stage=stage,
        created_at=T0,
        updated_at=T0,
    )


def key(customer_id: str) -> WrappedKey:
    return WrappedKey(customer_id=customer_id, master_key_id="mk", wrapped=b"w", created_at=T0)


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(postgres_dsn, schema=postgres_schema, max_size=1)
    yield opened
    opened.close()


@pytest.fixture
def other(postgres_dsn: str, store: PostgresStore) -> Iterator[PostgresStore]:
    """A second store on the same schema (its own pool: another connection)."""
    opened = PostgresStore(postgres_dsn, schema=store.schema, max_size=1)
    yield opened
    opened.close()


@pytest.fixture
def admin(postgres_dsn: str) -> Iterator[Any]:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        yield conn


def add(store: PostgresStore, *rows: CustomerRow) -> None:
    with store.transaction() as session:
        for one in rows:
            session.customers.add(one)
        session.commit()


def set_stage(store: PostgresStore, customer_id: str, stage: str, version: int) -> None:
    with store.transaction() as session:
        session.customers.update(row(customer_id, stage), expected_version=version)
        session.commit()


def test_each_statement_of_a_statement_session_reads_what_is_committed_then(
    store: PostgresStore, other: PostgresStore
) -> None:
    add(store, row("c-1"))
    with store.statements() as session:
        assert session.customers.get("c-1").stage == "lead"
        with pytest.raises(StorageError, match="read-only"):
            session.customers.add(row("c-2"))
        set_stage(other, "c-1", "customer", 1)  # committed by another connection meanwhile
        assert session.customers.get("c-1").stage == "customer"  # no snapshot held
    # a read-only transaction, by contrast, keeps the snapshot of its first statement
    with store.transaction(readonly=True) as session:
        assert session.customers.get("c-1").stage == "customer"
        set_stage(other, "c-1", "lead", 2)
        assert session.customers.get("c-1").stage == "customer"


def test_a_write_statement_commits_when_it_returns_and_a_second_is_refused(
    store: PostgresStore, admin: Any
) -> None:
    add(store, row("c-1"))
    table = f'"{store.schema}".data_keys'
    with store.statements(readonly=False) as session:
        session.keys.put(key("c-1"))
        # committed already: another connection sees it before commit() is called
        found = admin.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()
        assert found[0] == 1
        with pytest.raises(StorageError, match="one statement"):
            session.keys.delete("c-1")
        session.rollback()  # changes nothing: the statement committed on its own
    with store.transaction(readonly=True) as session:
        assert session.keys.get("c-1").wrapped == b"w"


def test_a_failed_write_statement_leaves_nothing(store: PostgresStore) -> None:
    add(store, row("c-1"))
    with store.transaction() as session:
        session.keys.put(key("c-1"))
        session.commit()
    with store.statements(readonly=False) as session:
        with pytest.raises(DuplicateKey):
            session.keys.put_many([key("c-1")])
        session.commit()  # nothing to commit, and no error
    with store.statements() as session:
        assert [k.customer_id for k in session.keys.list()] == ["c-1"]


def test_a_dead_pooled_connection_is_replaced_before_the_first_statement(
    store: PostgresStore, admin: Any
) -> None:
    add(store, row("c-1"))
    with store.statements() as session:
        pid = session._conn.info.backend_pid  # type: ignore[attr-defined]
        session.customers.get("c-1")
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 30
    while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[
        0
    ]:
        assert time.monotonic() < deadline, "the backend did not end in 30 s"
        time.sleep(0.005)  # the poll interval; the state read above is what the test waits on
    with store.statements() as session:  # the pool's only connection is the dead one
        assert session.customers.get("c-1").id == "c-1"
        assert session._conn.info.backend_pid != pid  # type: ignore[attr-defined]


def test_a_dead_connection_is_given_back_once_when_no_other_can_be_taken(
    store: PostgresStore, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool hands out a dead connection and then has none to give (a timeout): the
    session fails with the pool's error and the dead connection goes back to the pool once,
    not a second time at the session's end (the pool would count it twice)."""
    add(store, row("c-1"))
    with store.statements() as session:
        pid = session._conn.info.backend_pid  # type: ignore[attr-defined]
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 30
    while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[
        0
    ]:
        assert time.monotonic() < deadline, "the backend did not end in 30 s"
        time.sleep(0.005)  # the poll interval; the state read above is what the test waits on
    given_back: list[int] = []
    real_give_back = store._give_back

    def counted(pool: Any, conn: Any, saved: Any = None) -> None:
        given_back.append(id(conn))
        real_give_back(pool, conn, saved)

    taken = 0
    real_take = store._take

    def second_take_times_out() -> Any:
        nonlocal taken
        taken += 1
        if taken > 1:
            raise StorageError("no connection within the pool's timeout", retry_safe=True)
        return real_take()

    monkeypatch.setattr(store, "_give_back", counted)
    monkeypatch.setattr(store, "_take", second_take_times_out)
    with pytest.raises(StorageError, match="timeout"), store.statements() as session:
        session.customers.get("c-1")
    assert len(given_back) == 1  # the dead connection, once


def test_a_streaming_read_opens_a_snapshot_for_the_rest_of_the_session(
    store: PostgresStore,
) -> None:
    add(store, row("c-1"))
    with store.statements() as session:
        assert session.activities.summaries(as_of=T0) == []
        conn = session._conn  # type: ignore[attr-defined]
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


# -- the registry's reads --------------------------------------------------------------------


def person(n: int) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"读者{n}",
        "contacts": [{"phones": [f"1390000{n % 3:04d}"], "emails": [f"r{n % 2}@example.com"]}],
    }


@pytest.fixture
def registry(store: PostgresStore, tmp_path: Path) -> Registry:
    reg = Registry(store, keyring=KeyRing.generate(), audit_head=tmp_path / "head.json")
    reg.customers.intake_many([person(n) for n in range(6)], actor=ADMIN, allow_duplicates=True)
    return reg


CRITERIA = st.fixed_dictionaries(
    {},
    optional={
        "phone": st.sampled_from(["13900000000", "13900000001", "13900000002", "13900000009"]),
        "email": st.sampled_from(["r0@example.com", "r1@example.com", "r9@example.com"]),
    },
).filter(bool)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(criteria=CRITERIA)
def test_find_without_a_transaction_returns_what_a_snapshot_transaction_returns(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, criteria: dict[str, str]
) -> None:
    fast = registry.customers.find(actor=ADMIN, **criteria)
    with monkeypatch.context() as patched:  # the general path: a read-only transaction
        patched.setattr(
            context_module.Context,
            "_session",
            lambda self, *, readonly, snapshot: self.store.transaction(readonly=readonly),
        )
        general = registry.customers.find(actor=ADMIN, **criteria)
    assert [c.id for c in fast] == [c.id for c in general]
    assert fast == general


def test_reads_without_a_transaction_are_audited_durably(registry: Registry) -> None:
    found = registry.customers.find(actor=ADMIN, phone="13900000000")
    assert len(found) == 2
    registry.customers.get(found[0].id, actor=ADMIN)
    result = registry.audit.verify(actor=AUDITOR)
    assert result.ok
    entries = registry.audit.trail(actor=AUDITOR, limit=1000)
    reads = [e.customer_id for e in entries if e.action == "customer.unmask"]  # unmasked reads
    assert sorted(reads) == sorted([found[0].id, found[1].id, found[0].id])


def test_a_read_session_may_then_send_one_write_on_its_connection(
    store: PostgresStore, admin: Any
) -> None:
    add(store, row("c-1"))
    table = f'"{store.schema}".data_keys'
    with store.statements() as session:
        assert session.customers.get("c-1").stage == "lead"
        conn = session._conn  # type: ignore[attr-defined]
        assert session.then_one_write()  # type: ignore[attr-defined]
        session.keys.put(key("c-1"))
        assert session._conn is conn  # type: ignore[attr-defined]
        found = admin.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()
        assert found[0] == 1  # committed on its own
        with pytest.raises(StorageError, match="one statement"):
            session.keys.delete("c-1")


def test_a_session_with_a_snapshot_or_a_transaction_sends_no_write_after_its_reads(
    store: PostgresStore,
) -> None:
    add(store, row("c-1"))
    with store.statements() as session:
        assert session.activities.summaries(as_of=T0) == []  # opens a read-only snapshot
        assert not session.then_one_write()  # type: ignore[attr-defined]
        with pytest.raises(StorageError, match="read-only"):
            session.keys.put(key("c-1"))
    with store.transaction(readonly=True) as session:
        assert not session.then_one_write()
    with store.statements(readonly=False) as session:
        assert not session.then_one_write()  # type: ignore[attr-defined]


def test_a_read_queues_its_audit_entry_on_the_connection_it_read_with(
    registry: Registry, store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = registry.customers.find(actor=ADMIN, phone="13900000000")
    taken: list[object] = []
    take = store._take
    monkeypatch.setattr(store, "_take", lambda: taken.append(1) or take())
    monkeypatch.setattr(context_module.Context, "read_seals", lambda self, tickets: False)
    registry.customers.get(found[0].id, actor=ADMIN)
    registry.customers.find(actor=ADMIN, phone="13900000000")
    assert len(taken) == 2  # one connection each, the audit INSERT included
    assert registry.audit.verify(actor=AUDITOR).ok  # (seals what is queued first)
    entries = registry.audit.trail(actor=AUDITOR, limit=1000)
    reads = [e.customer_id for e in entries if e.action == "customer.unmask"]
    first, second = found[0].id, found[1].id
    assert sorted(reads) == sorted([first, second, first, first, second])


def test_a_statement_that_committed_but_lost_its_reply_is_not_sent_again(
    postgres_dsn: str, postgres_schema: str
) -> None:
    """A read's audit entry commits on its own; when the connection is lost after the server
    committed it, sending it again would log the read twice. The read fails instead, with
    an error that says the outcome is unknown (not retry-safe), and the entry is there once."""
    proxy = LosingRelay(postgres_dsn, b"audit_queue")
    store = PostgresStore(proxy.dsn, schema=postgres_schema, max_size=2)
    try:
        registry = Registry(store, keyring=KeyRing.generate())
        customer = registry.customers.intake(
            {"kind": "individual", "name": "张三", "contacts": [{"wechat": "wx1"}]}, actor=ADMIN
        )

        def reads() -> int:
            trail = registry.audit.trail(actor=AUDITOR, customer_id=customer.id, limit=1000)
            return sum(e.action == "customer.unmask" for e in trail)

        before = reads()
        proxy.armed = True
        with pytest.raises(StorageError) as caught:
            registry.customers.get(customer.id, actor=ADMIN)
        proxy.armed = False
        assert proxy.fired.is_set()
        assert caught.value.retry_safe is False
        assert "unknown" in str(caught.value)
        assert reads() == before + 1  # committed once, not sent again
        assert registry.audit.verify(actor=AUDITOR).ok
    finally:
        store.close()
        proxy.close()


def test_a_write_statement_replaces_a_pooled_connection_the_server_closed(
    store: PostgresStore, admin: Any
) -> None:
    """Before anything is sent, a connection the server ended while it sat in the pool is
    told by its socket (no round trip) and replaced: the write is sent once, on a live one."""
    with store.statements(readonly=False) as session:
        pid = session._conn.info.backend_pid  # type: ignore[attr-defined]
        session.keys.put(key("c-1"))
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 30
    while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[
        0
    ]:
        assert time.monotonic() < deadline, "the backend did not end in 30 s"
        time.sleep(0.005)  # the poll interval; the state read above is what the test waits on
    with store.statements(readonly=False) as session:  # the pool's only connection is dead
        session.keys.put(key("c-2"))
        assert session._conn.info.backend_pid != pid  # type: ignore[attr-defined]
    with store.statements() as session:
        assert [k.customer_id for k in session.keys.list()] == ["c-1", "c-2"]
