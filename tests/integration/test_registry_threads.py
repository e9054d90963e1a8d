"""One Registry shared by 8 threads: what docs/concurrency-and-frameworks.md promises.

Eight threads start together (a barrier) on one encrypted Registry, over an SQLite file and over
a MemoryStore. Each takes in 200 customers, reads every one back, updates one in five of them
with ``expected_version``, and every tenth step adds a tag to one of four *hot* customers that
all threads update: read, update with the version read, and on ``VersionConflict`` (or a
retry-safe ``StorageError``) read again and retry. Afterwards every intake is stored exactly
once, the counts and versions add up, no hot customer lost an update (its tags are exactly the
ones added, its history one entry per update, each building on the one before), every write
left exactly one audit entry and the audit chain verifies.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry, SQLiteStore
from custrec.errors import StorageError, VersionConflict
from custrec.storage import Store

THREADS = 8
INTAKES = 200  # per thread
HOT = 4  # customers every thread updates
UPDATE_EVERY = 5  # a thread updates one in five of its own customers
HOT_EVERY = 10  # and every tenth step adds a tag to a hot customer

ADMIN = Actor(id="admin-1", roles={"admin", "unmask"})
AUDITOR = Actor(id="audit-1", roles={"auditor"})


def clerk(thread: int) -> Actor:
    return Actor(id=f"clerk-{thread}", roles={"manager"}, team="north")


def phone(thread: int, step: int) -> str:
    return f"+86139{thread:02d}{step:06d}"


@pytest.fixture(params=["sqlite", "memory"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    keyring = KeyRing.generate()
    stores: list[Store]
    if request.param == "sqlite":
        store: Store = SQLiteStore(tmp_path / "crm.sqlite")
        stores = [store]
        shared = Registry(store, keyring=keyring)
    else:
        store, key_store = MemoryStore(), MemoryStore()
        stores = [store, key_store]
        shared = Registry(store, keyring=keyring, key_store=key_store)
    yield shared
    for opened in stores:
        opened.close()


class Outcome:
    """What the threads did, recorded under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.intakes: dict[str, str] = {}  # customer id -> phone
        self.updated: set[str] = set()
        self.tags_added: dict[str, list[str]] = {}  # hot id -> tags, in success order per thread
        self.conflicts = 0
        self.errors: list[BaseException] = []


def with_retries(attempt: Callable[[], object], outcome: Outcome) -> None:
    """Run ``attempt`` until it neither conflicts nor meets a busy store (a bounded number of
    times: a livelock fails the test instead of hanging it)."""
    for _ in range(THREADS * 100):
        try:
            attempt()
            return
        except VersionConflict:
            with outcome.lock:
                outcome.conflicts += 1
        except StorageError as exc:
            if not exc.retry_safe:
                raise
    raise AssertionError("an update kept conflicting")


def work(
    registry: Registry, thread: int, hot_ids: list[str], start: threading.Barrier, outcome: Outcome
) -> None:
    actor = clerk(thread)
    start.wait()
    for step in range(INTAKES):
        number = phone(thread, step)
        created = registry.customers.intake(
            {
                "kind": "individual",
                "name": f"客户{thread}-{step}",
                "contacts": [{"phones": [number]}],
            },
            actor=actor,
        )
        read = registry.customers.get(created.id, actor=actor)
        assert (read.id, read.version) == (created.id, 1)
        with outcome.lock:
            outcome.intakes[created.id] = number
        if step % UPDATE_EVERY == 0:
            registry.customers.update(
                created.id,
                {"stage": "prospect"},
                actor=actor,
                reason="called back",
                expected_version=read.version,
            )
            with outcome.lock:
                outcome.updated.add(created.id)
        if step % HOT_EVERY == 0:
            hot = hot_ids[(thread + step // HOT_EVERY) % HOT]
            tag = f"t{thread}-{step}"

            def add_tag(hot: str = hot, tag: str = tag) -> None:
                current = registry.customers.get(hot, actor=actor)
                registry.customers.update(
                    hot,
                    {"tags": [*current.tags, tag]},
                    actor=actor,
                    reason="campaign",
                    expected_version=current.version,
                )

            with_retries(add_tag, outcome)
            with outcome.lock:
                outcome.tags_added[hot].append(tag)


def run_threads(registry: Registry, hot_ids: list[str]) -> Outcome:
    outcome = Outcome()
    outcome.tags_added = {hot: [] for hot in hot_ids}
    start = threading.Barrier(THREADS)

    def run(thread: int) -> None:
        try:
            work(registry, thread, hot_ids, start, outcome)
        except BaseException as exc:
            with outcome.lock:
                outcome.errors.append(exc)
            start.abort()  # nobody waits for a thread that died before the start

    threads = [threading.Thread(target=run, args=(i,), name=f"crm-{i}") for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if outcome.errors:
        raise outcome.errors[0]
    return outcome


@pytest.mark.slow
def test_one_registry_shared_by_eight_threads(registry: Registry) -> None:
    owner = Actor(id="setup", roles={"manager"}, team="north")
    hot_ids = [
        registry.customers.intake(
            {"kind": "individual", "name": f"热门{n}", "contacts": [{"phones": [phone(99, n)]}]},
            actor=owner,
        ).id
        for n in range(HOT)
    ]

    outcome = run_threads(registry, hot_ids)

    # Every intake stored once: 1,600 distinct ids, and the store holds exactly those customers,
    # each with the phone its thread gave it.
    assert len(outcome.intakes) == THREADS * INTAKES
    assert registry.customers.count(actor=ADMIN) == THREADS * INTAKES + HOT
    stored = {c.id: c for batch in registry.customers.batches(actor=ADMIN) for c in batch}
    assert set(stored) == set(outcome.intakes) | set(hot_ids)
    assert {cid: stored[cid].contacts[0].phones[0] for cid in outcome.intakes} == outcome.intakes

    # Versions: one update of each updated customer, none of the others.
    assert len(outcome.updated) == THREADS * INTAKES // UPDATE_EVERY
    for cid in outcome.intakes:
        expected = (2, "prospect") if cid in outcome.updated else (1, "lead")
        assert (stored[cid].version, stored[cid].stage.value) == expected

    # No lost update: each hot customer holds every tag added to it, once, and its version and
    # history count one change per successful update, each building on the one before.
    added = sum(len(tags) for tags in outcome.tags_added.values())
    assert added == THREADS * INTAKES // HOT_EVERY
    for hot in hot_ids:
        tags = outcome.tags_added[hot]
        assert sorted(stored[hot].tags) == sorted(tags)
        assert stored[hot].version == 1 + len(tags)
        changes = [e for e in registry.customers.history(hot, actor=ADMIN) if e.path == "tags"]
        assert len(changes) == len(tags)
        previous: list[str] = []
        for change in changes:
            assert list(change.old or []) == previous
            assert len(change.new) == len(previous) + 1
            previous = list(change.new)

    # History complete for the customers' own updates.
    for cid in sorted(outcome.updated)[:: THREADS * 2]:
        history = registry.customers.history(cid, actor=ADMIN)
        assert [(e.path, e.old, e.new) for e in history if e.path == "stage"] == [
            ("stage", "lead", "prospect")
        ]

    # Every write audited once, in one unbroken chain. (Reading the trail is audited too, so
    # the pages stop at the entry that was the newest before the first page.)
    end = registry.audit.trail(actor=AUDITOR, limit=1, newest_first=True)[0].seq
    actions: Counter[str] = Counter()
    seqs: list[int] = []
    after: int | None = None
    while after is None or after < end:
        page = registry.audit.trail(actor=AUDITOR, after=after, limit=1000)
        actions.update(entry.action for entry in page if entry.seq <= end)
        seqs.extend(entry.seq for entry in page if entry.seq <= end)
        after = page[-1].seq
    assert seqs == list(range(1, len(seqs) + 1))
    assert actions["customer.create"] == THREADS * INTAKES + HOT
    assert actions["customer.update"] == len(outcome.updated) + added
    assert registry.audit.verify(actor=AUDITOR).ok
