"""PostgreSQL's index-key locks (custrec.backends._postgres.keylocks): a bulk look-up and a
single intake that hold and want each other's keys in opposite orders finish without a deadlock,
and "look up, then add if absent" still leaves one holder per key.

Each scenario is forced, not hoped for: the single intake looks its phone up first, the bulk
look-up of many keys (the phone among them) then waits for it on the server (read from
``pg_stat_activity``), and only then does the single intake add its customer with name tokens
the bulk session's customers share. With the earlier design (256 lock buckets per schema, taken
per statement) the bulk session held buckets of those tokens while waiting for the phone's, and
PostgreSQL broke the cycle by failing one of them (40P01).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (custrec[postgres])")

from custrec.backends._postgres.keylocks import FINE_LIMIT, KeyLocks  # noqa: E402
from custrec.backends._postgres.schema import lock_key  # noqa: E402
from custrec.backends.postgres import PostgresStore  # noqa: E402
from custrec.testing._support import customer  # noqa: E402

CONTESTED = "phone:contested"
NAMES = frozenset(f"name:common:{i}" for i in range(40))  # tokens nobody looks up


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
    s = PostgresStore(
        postgres_dsn, schema=postgres_schema, application_name=f"custrec-{postgres_schema}"
    )
    yield s
    s.close()


@pytest.fixture
def admin(postgres_dsn: str) -> Iterator[Any]:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("bulk_keys", [200, FINE_LIMIT + 300], ids=["key-locks", "schema-lock"])
def test_a_bulk_lookup_and_a_single_intake_in_opposite_orders_both_commit(
    store: PostgresStore,
    admin: Any,
    bulk_keys: int,
    wait_until_blocked: Callable[..., None],
) -> None:
    keys = [f"phone:bulk:{i:04d}" for i in range(bulk_keys)]
    looked_up = threading.Event()
    bulk_waits = threading.Event()
    errors: list[BaseException] = []
    single_id: list[str] = []

    def single() -> None:
        try:
            with store.transaction() as s:
                assert s.customers.lookup(CONTESTED) == []
                looked_up.set()
                assert bulk_waits.wait(60), "the bulk session never waited"
                row = customer(index_keys=frozenset({CONTESTED, *NAMES}))
                s.customers.add(row)
                s.commit()
            single_id.append(row.id)
        except BaseException as exc:  # reported below
            looked_up.set()
            errors.append(exc)

    def bulk() -> None:
        try:
            with store.transaction() as s:
                found = s.customers.lookup_many([CONTESTED, *reversed(keys)])
                rows = [
                    customer(index_keys=frozenset({k, *NAMES}))
                    for k in [*keys, CONTESTED]
                    if k not in found
                ]
                s.customers.add_many(rows)
                s.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    first = threading.Thread(target=single, name="single-intake")
    first.start()
    assert looked_up.wait(60)
    second = threading.Thread(target=bulk, name="bulk-intake")
    second.start()
    try:
        wait_until_blocked(admin, store)
    finally:
        bulk_waits.set()
    first.join(60)
    second.join(60)
    assert not first.is_alive() and not second.is_alive()
    assert errors == []
    with store.transaction(readonly=True) as s:
        holders = s.customers.lookup_many([CONTESTED, *keys])
    assert holders[CONTESTED] == single_id  # the bulk session saw the single intake's customer
    assert all(len(holders[k]) == 1 for k in keys)


def test_racing_lookups_of_one_key_let_exactly_one_session_add_it(
    store: PostgresStore,
    admin: Any,
    wait_until_blocked: Callable[..., None],
) -> None:
    """The second look-up of a key waits for the first session's commit, then sees its add."""
    first_looked = threading.Event()
    second_waits = threading.Event()
    outcomes: dict[str, object] = {}

    def claim(name: str, then: threading.Event | None) -> None:
        try:
            with store.transaction() as s:
                found = s.customers.lookup(CONTESTED)
                if then is not None:
                    first_looked.set()
                    assert then.wait(60)
                if found:
                    outcomes[name] = "saw it taken"
                    return
                s.customers.add(customer(index_keys=frozenset({CONTESTED, *NAMES})))
                s.commit()
                outcomes[name] = "added"
        except BaseException as exc:  # reported below
            first_looked.set()
            outcomes[name] = exc

    one = threading.Thread(target=claim, args=("first", second_waits))
    one.start()
    assert first_looked.wait(60)
    two = threading.Thread(target=claim, args=("second", None))
    two.start()
    try:
        wait_until_blocked(admin, store)
    finally:
        second_waits.set()
    one.join(60)
    two.join(60)
    assert outcomes == {"first": "added", "second": "saw it taken"}


def test_writers_of_one_key_run_in_parallel_but_a_lookup_waits_for_them(
    store: PostgresStore,
    admin: Any,
    postgres_dsn: str,
    wait_until_blocked: Callable[..., None],
) -> None:
    """Adds lock their keys shared: two sessions adding one name token both get through while
    either is open; a look-up of that token waits until they end."""
    other = PostgresStore(postgres_dsn, schema=store.schema)
    with other, store.transaction() as a, other.transaction() as b:
        a.customers.add(customer(index_keys=frozenset({"name:smith"})))
        b.customers.add(customer(index_keys=frozenset({"name:smith"})))  # not blocked
        seen: list[list[str]] = []
        reader = threading.Thread(
            target=lambda: seen.append(_lookup_in_write_session(store, "name:smith"))
        )
        reader.start()
        wait_until_blocked(admin, store)
        a.commit()
        b.commit()
    reader.join(60)
    assert len(seen[0]) == 2


def _lookup_in_write_session(store: PostgresStore, key: str) -> list[str]:
    with store.transaction() as s:
        return s.customers.lookup(key)


def test_a_session_takes_each_key_lock_once_and_forgets_those_of_a_failed_write(
    store: PostgresStore,
) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-1", index_keys=frozenset({"k:1"})))
        s.commit()
    with store.transaction() as s:
        locks = s._key_locks
        s.customers.lookup_many(["k:1", "k:2"])
        assert locks.held == 2
        assert locks.statement(["k:2", "k:1"], exclusive=True) is None  # held already
        with pytest.raises(Exception, match="c-1"):
            s.customers.add(customer("c-1", index_keys=frozenset({"k:3"})))
        assert locks.held == 2  # k:3's lock went with the savepoint
        s.customers.add(customer("c-2", index_keys=frozenset({"k:3", "k:1"})))
        assert locks.held == 3
        s.commit()


def test_a_first_statement_over_the_limit_takes_the_schema_lock_exclusive() -> None:
    locks = KeyLocks(b"custrec\x00s\x00index\x00", lock_key("custrec", "s", "index-keys"))
    assert locks.key("k") == lock_key("custrec", "s", "index", "k")
    sql, params = locks.statement([f"k{i}" for i in range(FINE_LIMIT + 1)], exclusive=True) or (
        "",
        [],
    )
    assert sql == "SELECT pg_advisory_xact_lock(%s)"
    assert params == [lock_key("custrec", "s", "index-keys")]
    locks.granted()
    assert locks.exclusive
    assert locks.statement(["anything"], exclusive=True) is None


def test_key_locks_are_taken_in_one_order_after_the_shared_schema_lock() -> None:
    locks = KeyLocks(b"custrec\x00s\x00index\x00", lock_key("custrec", "s", "index-keys"))
    found = locks.statement(["b", "a", "c", "a"], exclusive=True)
    assert found is not None
    sql, params = found
    assert sql.startswith("SELECT pg_advisory_xact_lock_shared(%s), pg_advisory_xact_lock(%s)")
    assert params[0] == lock_key("custrec", "s", "index-keys")
    assert params[1:] == sorted(lock_key("custrec", "s", "index", k) for k in "abc")
    locks.granted()
    # more keys later: never the schema lock again, and never upgraded past the limit
    later = locks.statement([f"w{i}" for i in range(FINE_LIMIT + 1)], exclusive=False)
    assert later is not None
    assert "pg_advisory_xact_lock(" not in later[0]
    assert len(later[1]) == FINE_LIMIT + 1


def test_a_duplicate_search_takes_no_key_lock_so_it_never_waits_for_a_writer(
    store: PostgresStore,
) -> None:
    """``find_duplicates`` only reads: while another session holds every index key of a stored
    customer exclusive (a look-up before its add), a search for that customer's look-alike
    still finishes. A search that locked its keys would wait for that session, and could wait
    in a cycle with an intake that looked a key up and then adds another."""
    from custrec import Actor, KeyRing, Registry

    admin_actor = Actor(id="admin-1", roles={"admin"})
    registry = Registry(store, keyring=KeyRing.generate())
    data = {
        "kind": "individual",
        "name": "王小明",
        "contacts": [{"phones": ["13800138000"], "emails": ["xm@example.com"]}],
    }
    stored = registry.customers.intake(data, actor=admin_actor)
    with store.transaction(readonly=True) as s:
        keys = sorted(s.customers.get(stored.id).index_keys)
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with store.transaction() as s:
                s.customers.lookup_many(keys)  # every key of the customer, locked exclusive
                holding.set()
                assert release.wait(60)
        except BaseException as exc:  # reported below
            holding.set()
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(30)
        found: list[Any] = []
        search = threading.Thread(
            target=lambda: found.append(registry.matching.find_duplicates(data, actor=admin_actor))
        )
        search.start()
        search.join(30)  # the writer still holds its locks: the search must not need them
        assert not search.is_alive(), "the duplicate search waited for a writer's key locks"
        assert [c.customer_id for c in found[0].candidates] == [stored.id]
    finally:
        release.set()
        thread.join(30)
    assert errors == []
