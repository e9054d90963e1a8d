"""Reads run in read transactions (issue 18): a ``get``, ``find`` or ``query`` never holds the
store's write lock while it opens and decrypts records, readers do not wait for each other,
and every read is still audited (its entry is appended in a short write transaction of its
own before the caller gets the result).

Each test holds a read inside the access policy's decision (the read transaction is open) and
checks, by waiting on events rather than on time, what other sessions can do meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.security import AccessDecision, Action, Resource, RoleBasedPolicy
from custrec.storage.protocols import Store

ADMIN = Actor(id="admin", roles={"admin", "unmask"})
SLOW = Actor(id="slow-reader", roles={"admin", "unmask"})
AUDITOR = Actor(id="auditor", roles={"auditor"})
WAIT = 20.0  # seconds an event may take before the test fails (never reached when it passes)


class HeldReads:
    """The default policy, but a read decided for :data:`SLOW` waits until it is released."""

    def __init__(self, readers: int) -> None:
        self._inner = RoleBasedPolicy()
        self.inside = threading.Semaphore(0)
        self.release = threading.Event()
        self.readers = readers

    def decide(self, actor: Actor, action: Action, resource: Resource) -> AccessDecision:
        if actor.id == SLOW.id and action is Action.READ:
            self.inside.release()
            assert self.release.wait(WAIT), "the held read was never released"
        return self._inner.decide(actor, action, resource)


def person(n: int) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"读者{n}",
        "contacts": [{"phones": [f"1390000{n:04d}"], "emails": [f"r{n}@example.com"]}],
    }


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    opened: list[Store] = []

    def make() -> Store:
        if request.param == "sqlite":
            # a short busy timeout: a reader holding the write lock would fail the writer fast
            store: Store = SQLiteStore(tmp_path / "crm.sqlite", busy_timeout=2.0)
        else:
            from custrec.backends.postgres import PostgresStore

            dsn = request.getfixturevalue("postgres_dsn")
            schema = request.getfixturevalue("postgres_schema")
            store = PostgresStore(dsn, schema=schema)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def audited(registry: Registry, customer_id: str, actor_id: str) -> list[tuple[str, str]]:
    """The (action, outcome) of the audit entries about ``customer_id`` by ``actor_id``."""
    trail = registry.audit.trail(customer_id=customer_id, actor_id=actor_id, actor=AUDITOR)
    return [(e.action, e.outcome) for e in trail]


def test_a_writer_commits_while_a_read_is_decrypting(
    open_store: Callable[[], Store], in_thread: Any
) -> None:
    policy = HeldReads(readers=1)
    registry = Registry(open_store(), keyring=KeyRing.generate(), policy=policy)
    first = registry.customers.intake(person(1), actor=ADMIN)
    reader, outcome = in_thread(lambda: registry.customers.get(first.id, actor=SLOW))
    try:
        assert policy.inside.acquire(timeout=WAIT), "the read never started"
        # the read transaction is open: a write goes through at once
        second = registry.customers.intake(person(2), actor=ADMIN)
    finally:
        policy.release.set()
        reader.join(WAIT)
    assert outcome == [first]
    assert second.id != first.id
    assert audited(registry, first.id, SLOW.id) == [("customer.unmask", "ok")]
    assert registry.audit.verify(actor=AUDITOR).ok


def test_readers_do_not_wait_for_each_other(
    open_store: Callable[[], Store], in_thread: Any
) -> None:
    policy = HeldReads(readers=2)
    registry = Registry(open_store(), keyring=KeyRing.generate(), policy=policy)
    stored = registry.customers.intake(person(3), actor=ADMIN)
    readers = [
        in_thread(lambda: registry.customers.find(actor=SLOW, phone="13900000003"))
        for _ in range(2)
    ]
    try:
        # both reads are inside their read transactions at the same time
        assert policy.inside.acquire(timeout=WAIT), "the first read never started"
        assert policy.inside.acquire(timeout=WAIT), "the second read waited for the first"
    finally:
        policy.release.set()
        for thread, _ in readers:
            thread.join(WAIT)
    assert [outcome for _, outcome in readers] == [[[stored]], [[stored]]]
    assert audited(registry, stored.id, SLOW.id) == [("customer.unmask", "ok")] * 2
    assert registry.audit.verify(actor=AUDITOR).ok


def test_a_refused_read_is_still_audited(open_store: Callable[[], Store]) -> None:
    registry = Registry(open_store(), keyring=KeyRing.generate())
    stored = registry.customers.intake(person(4), actor=ADMIN)
    outsider = Actor(id="outsider", roles=set())
    with pytest.raises(Exception, match="may not read"):
        registry.customers.get(stored.id, actor=outsider)
    assert audited(registry, stored.id, "outsider") == [("denied.read", "denied")]
    assert registry.audit.verify(actor=AUDITOR).ok
