"""PostgresStore.from_pool: custrec on a psycopg_pool.ConnectionPool the application owns.

The application's pool here is set up the way an application's would be, not the way custrec's
own is: connections in psycopg's default transaction mode (not autocommit), dict rows,
client-side-binding cursors, the Asia/Shanghai time zone, ``SERIALIZABLE`` as the default
isolation level, and a ``timestamptz`` loader of its own that drops the time zone (as Django's
does with ``USE_TZ = False``). custrec must set what it needs per transaction, hand every
connection back exactly as it came, and leave the pool open when the store closes. The
conformance kit runs on such a store (``TestPooledPostgresStore``). Tests skip without
``CUSTREC_TEST_POSTGRES_DSN`` and fail without it under CI, as test_postgres.py does.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (custrec[postgres])")
psycopg_pool = pytest.importorskip("psycopg_pool", reason="needs the postgres extra")

from psycopg.rows import dict_row  # noqa: E402
from psycopg.types.datetime import TimestamptzLoader  # noqa: E402

from custrec import Actor, KeyRing, Registry  # noqa: E402
from custrec.backends import PostgresStore  # noqa: E402
from custrec.errors import StorageError  # noqa: E402
from custrec.storage import CustomerRow  # noqa: E402
from custrec.testing import StoreContract  # noqa: E402

T0 = datetime(2024, 1, 1, 8, 30, tzinfo=UTC)
APP_TIME_ZONE = "Asia/Shanghai"
# What the application's connections look like (see the module docstring).
APP_CONNECTIONS: dict[str, Any] = {
    "row_factory": dict_row,
    "cursor_factory": psycopg.ClientCursor,
    "options": f"-c TimeZone={APP_TIME_ZONE} -c default_transaction_isolation=serializable",
}


class NaiveLoader(TimestamptzLoader):
    """The application reads instants without their time zone."""

    def load(self, data: Any) -> datetime:
        return super().load(data).replace(tzinfo=None)


def app_configure(conn: Any) -> None:
    conn.adapters.register_loader("timestamptz", NaiveLoader)


def app_pool(dsn: str, *, max_size: int = 10, configure: Any = app_configure, **kwargs: Any) -> Any:
    """An open pool as an application would make it (``kwargs`` override its connections)."""
    return psycopg_pool.ConnectionPool(
        dsn,
        min_size=1,
        max_size=max_size,
        kwargs={**APP_CONNECTIONS, **kwargs},
        configure=configure,
        name="the-app",
        timeout=10.0,
        open=True,
    )


@pytest.fixture
def pool(postgres_dsn: str) -> Iterator[Any]:
    p = app_pool(postgres_dsn)
    yield p
    p.close()


@pytest.fixture
def admin(postgres_dsn: str) -> Iterator[Any]:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        yield conn


def row(customer_id: str) -> CustomerRow:
    return CustomerRow(
        id=customer_id,
        payload=b"sealed",
        index_keys=frozenset({f"k:{customer_id}"}),
        kind="individual",
        stage="lead",
        created_at=T0,
        updated_at=T0,
    )


def assert_as_the_app_left_it(conn: Any) -> None:
    """The connection has the application's settings, not custrec's."""
    assert conn.autocommit is False
    assert conn.row_factory is dict_row
    assert conn.cursor_factory is psycopg.ClientCursor
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.info.timezone.key == APP_TIME_ZONE  # type: ignore[attr-defined]
    assert conn.execute(b"SELECT now() AS at").fetchone()["at"].tzinfo is None
    conn.rollback()


# ---------------------------------------------------------------------------------------------
# The conformance kit
# ---------------------------------------------------------------------------------------------


class _PooledOpener:
    """Opens the schema again over a fresh application pool (closed by the fixture).

    The kit pickles the opener for its process races; in a child process it becomes
    ``PostgresStore(dsn, schema=...)``, a store with its own pool, as another application
    server's would be (a test module cannot be imported by a spawned child).
    """

    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn, self.schema = dsn, schema
        self.pools: list[Any] = []

    def __call__(self) -> PostgresStore:
        self.pools.append(app_pool(self.dsn))
        return PostgresStore.from_pool(self.pools[-1], schema=self.schema)

    def __reduce__(self) -> tuple[Any, ...]:
        return functools.partial(PostgresStore, self.dsn, schema=self.schema).__reduce__()


class TestPooledPostgresStore(StoreContract):
    """PostgresStore over the application's pool passes the same kit as over its own."""

    @pytest.fixture
    def store(self, pool: Any, postgres_schema: str) -> Iterator[PostgresStore]:
        store = PostgresStore.from_pool(pool, schema=postgres_schema)
        yield store
        store.close()
        assert not pool.closed
        with pool.connection() as conn:
            assert_as_the_app_left_it(conn)

    @pytest.fixture
    def store_opener(self, postgres_dsn: str, postgres_schema: str) -> Iterator[_PooledOpener]:
        opener = _PooledOpener(postgres_dsn, postgres_schema)
        yield opener
        for p in opener.pools:
            p.close()


# ---------------------------------------------------------------------------------------------
# Beside the application
# ---------------------------------------------------------------------------------------------


def test_a_registry_on_the_apps_pool_while_the_app_uses_it(
    pool: Any, postgres_schema: str, admin: Any
) -> None:
    orders = f"{postgres_schema}_app"  # the application's own tables, in its own schema
    with pool.connection() as conn:
        conn.execute(f"CREATE SCHEMA {orders}".encode())
        columns = "id serial PRIMARY KEY, customer_id text NOT NULL"
        conn.execute(f"CREATE TABLE {orders}.orders ({columns})".encode())
    store = PostgresStore.from_pool(pool, schema=postgres_schema)
    try:
        assert store.owns_pool is False
        assert "the-app" not in repr(store) and postgres_schema in repr(store)
        registry = Registry(store, keyring=KeyRing.generate())
        clerk = Actor(id="u-1", roles={"admin", "unmask"})
        created = registry.customers.intake(
            {"kind": "individual", "name": "张三", "contacts": [{"phones": ["13800138000"]}]},
            actor=clerk,
        )
        with pool.connection() as conn:  # the application's unit of work, in between
            assert_as_the_app_left_it(conn)
            conn.execute(
                f"INSERT INTO {orders}.orders (customer_id) VALUES (%s)".encode(), (created.id,)
            )
            found = conn.execute(f"SELECT customer_id FROM {orders}.orders".encode()).fetchone()
            assert str(found["customer_id"]) == created.id  # dict rows: the app's factory
        updated = registry.customers.update(
            created.id, {"stage": "active"}, actor=clerk, reason="signed"
        )
        assert updated.version == 2
        assert registry.customers.get(created.id, actor=clerk).name == "张三"
        assert registry.audit.verify(actor=Actor(id="audit-1", roles={"auditor"})).ok
    finally:
        store.close()
    assert not pool.closed  # the application's pool outlives the store
    with pool.connection() as conn:
        assert_as_the_app_left_it(conn)
        assert conn.execute(f"SELECT count(*) AS n FROM {orders}.orders".encode()).fetchone() == {
            "n": 1
        }
    # custrec's rows were committed: another connection sees them
    stored = admin.execute(f'SELECT count(*) FROM "{postgres_schema}".customers'.encode())
    assert stored.fetchone()[0] == 1
    admin.execute(f"DROP SCHEMA {orders} CASCADE".encode())
    with pytest.raises(StorageError, match="closed"), store.transaction():
        pass


def test_sessions_set_their_own_isolation_and_time_zone_and_hand_back_the_apps(
    postgres_dsn: str, postgres_schema: str
) -> None:
    one = app_pool(postgres_dsn, max_size=1)  # one connection: the store and the app share it
    try:
        store = PostgresStore.from_pool(one, schema=postgres_schema)
        for readonly, isolation in ((False, "read committed"), (True, "repeatable read")):
            with store.transaction(readonly=readonly) as session:
                conn = session._conn
                assert conn.autocommit is True
                shown = conn.execute(
                    b"SELECT current_setting('transaction_isolation'), "
                    b"current_setting('transaction_read_only'), current_setting('TimeZone')"
                ).fetchone()
                assert shown == (isolation, "on" if readonly else "off", "UTC")
                if not readonly:
                    session.customers.add(row("c-1"))
                    session.commit()
                else:
                    assert session.customers.get("c-1").created_at.tzinfo == UTC
            with one.connection() as app_conn:
                assert app_conn is conn
                assert_as_the_app_left_it(app_conn)
                shown = app_conn.execute(b"SHOW TimeZone").fetchone()
                assert shown == {"TimeZone": APP_TIME_ZONE}
        store.close()
        store.close()  # idempotent
        with one.connection() as app_conn:
            assert app_conn.execute(b"SELECT 1 AS one").fetchone() == {"one": 1}
    finally:
        one.close()


def add_then_fail(store: PostgresStore) -> None:
    with store.transaction() as session:
        session.customers.add(row("c-1"))
        raise RuntimeError("the application's code failed")


def test_a_failed_session_rolls_back_and_hands_the_connection_back(
    pool: Any, postgres_schema: str
) -> None:
    store = PostgresStore.from_pool(pool, schema=postgres_schema)
    try:
        with pytest.raises(RuntimeError, match="the application's code failed"):
            add_then_fail(store)
        with store.transaction(readonly=True) as session:
            assert session.customers.count() == 0
        with pool.connection() as conn:
            assert_as_the_app_left_it(conn)
    finally:
        store.close()


def test_threads_share_the_apps_pool(pool: Any, postgres_schema: str) -> None:
    store = PostgresStore.from_pool(pool, schema=postgres_schema)
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def work(n: int) -> None:
        try:
            start.wait(30)
            for i in range(10):
                if n % 2:  # half the threads are the application's own requests
                    with pool.connection() as conn:
                        assert_as_the_app_left_it(conn)
                        conn.execute(b"SELECT 1")
                else:
                    with store.transaction() as session:
                        session.customers.add(row(f"c-{n}-{i}"))
                        session.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not errors, errors
        with store.transaction(readonly=True) as session:
            assert session.customers.count() == 30
    finally:
        store.close()


def test_a_dead_pooled_connection_is_replaced(
    postgres_dsn: str, postgres_schema: str, admin: Any
) -> None:
    one = app_pool(postgres_dsn, max_size=1)
    try:
        store = PostgresStore.from_pool(one, schema=postgres_schema)
        with one.connection() as conn:
            pid = conn.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        wait_gone(admin, pid)
        with store.transaction() as session:  # the dead one is discarded, a new one made
            assert session._conn.info.backend_pid != pid
            session.customers.add(row("c-1"))
            session.commit()
        with one.connection() as conn:
            assert_as_the_app_left_it(conn)
        store.close()
    finally:
        one.close()


def wait_gone(admin: Any, pid: int) -> None:
    """Wait until the server has ended backend ``pid`` (its row leaves pg_stat_activity)."""
    deadline = time.monotonic() + 30
    query = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
    while admin.execute(query, (pid,)).fetchone()[0]:
        assert time.monotonic() < deadline, "the backend did not end in 30 s"
        time.sleep(0.005)  # the poll interval; the state read above is what the test waits on


def test_no_free_connection_within_the_timeout_is_retry_safe(
    postgres_dsn: str, postgres_schema: str
) -> None:
    one = app_pool(postgres_dsn, max_size=1)
    try:
        store = PostgresStore.from_pool(one, schema=postgres_schema, timeout=0.2)
        with (
            one.connection(),  # the application holds the only connection
            pytest.raises(StorageError, match=r"within 0\.2 s") as caught,
            store.transaction(),
        ):
            pass
        assert caught.value.retry_safe
        store.close()
    finally:
        one.close()


def test_a_store_on_a_borrowed_pool_refuses_to_follow_a_fork(
    pool: Any, postgres_schema: str
) -> None:
    store = PostgresStore.from_pool(pool, schema=postgres_schema)
    try:
        store._pid = -1  # as in a forked child: the pool belongs to the parent
        with pytest.raises(StorageError, match="fork"), store.transaction():
            pass
    finally:
        store.close()
    assert not pool.closed


# ---------------------------------------------------------------------------------------------
# Pools custrec cannot use
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("not_a_pool", ["postgresql://localhost/db", object()])
def test_only_a_connection_pool_is_accepted(not_a_pool: Any) -> None:
    with pytest.raises(TypeError, match="ConnectionPool"):
        PostgresStore.from_pool(not_a_pool)


def test_an_async_pool_is_refused() -> None:
    asynchronous = psycopg_pool.AsyncConnectionPool("dbname=unused", open=False)
    with pytest.raises(TypeError, match="not an AsyncConnectionPool"):
        PostgresStore.from_pool(asynchronous)


def test_a_connection_is_refused(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn) as conn, pytest.raises(TypeError, match="ConnectionPool"):
        PostgresStore.from_pool(conn)


def test_a_closed_pool_is_refused(postgres_dsn: str) -> None:
    closed = psycopg_pool.ConnectionPool(postgres_dsn, open=False)
    with pytest.raises(StorageError, match="the pool is closed"):
        PostgresStore.from_pool(closed)


def test_a_pool_without_utf8_is_refused_without_repeating_the_dsn(postgres_dsn: str) -> None:
    latin = app_pool(postgres_dsn, max_size=1, client_encoding="LATIN1")
    try:
        with pytest.raises(StorageError, match="UTF8") as caught:
            PostgresStore.from_pool(latin, schema="never_created")
        assert postgres_dsn not in str(caught.value)
        with latin.connection() as conn:  # handed back unharmed
            assert conn.execute(b"SELECT 1 AS one").fetchone() == {"one": 1}
    finally:
        latin.close()


class TaggedText(psycopg.adapt.Dumper):
    """An application's own way of sending text."""

    oid = psycopg.adapters.types["text"].oid

    def dump(self, obj: Any) -> bytes:
        return f"tagged:{obj}".encode()


def test_a_pool_that_sends_text_its_own_way_is_refused(postgres_dsn: str) -> None:
    def configure(conn: Any) -> None:
        conn.adapters.register_dumper(str, TaggedText)

    tagged = app_pool(postgres_dsn, max_size=1, configure=configure)
    try:
        with pytest.raises(StorageError, match="str with dumpers of their own"):
            PostgresStore.from_pool(tagged, schema="never_created")
    finally:
        tagged.close()


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"schema": "Not-An-Identifier"}, ValueError),
        ({"schema": "pg_custrec"}, ValueError),
        ({"timeout": 0}, ValueError),
        ({"timeout": "5"}, TypeError),
    ],
)
def test_arguments_are_checked_before_borrowing(
    pool: Any, arguments: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        PostgresStore.from_pool(pool, **arguments)


def test_a_schema_holding_the_apps_tables_is_refused(
    pool: Any, postgres_schema: str, admin: Any
) -> None:
    admin.execute(f'CREATE SCHEMA "{postgres_schema}"'.encode())
    admin.execute(f'CREATE TABLE "{postgres_schema}".orders (id int)'.encode())
    with pytest.raises(StorageError, match="not a custrec schema"):
        PostgresStore.from_pool(pool, schema=postgres_schema)
    with pool.connection() as conn:
        assert_as_the_app_left_it(conn)
