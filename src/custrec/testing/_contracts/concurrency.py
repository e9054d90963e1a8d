"""Compare-and-set under contention across threads and processes (private; see
:mod:`custrec.testing.contracts`)."""

from __future__ import annotations

import functools
import multiprocessing
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import ClassVar

import attrs
import pytest

from custrec.errors import StorageError
from custrec.model.ids import new_id
from custrec.security.audit import AuditChain
from custrec.storage.protocols import Store
from custrec.storage.types import AuditRecord
from custrec.testing._contracts.common import _StoreFixtures
from custrec.testing._support import (
    audit_entry,
    customer,
    finishes_while_held,
    increment_counter,
    race_worker,
    reading,
    writing,
)


def _seed_counter(store: Store) -> str:
    row = customer(payload=b"0")
    with writing(store) as s:
        s.customers.add(row)
    return row.id


def _assert_counter(store: Store, customer_id: str, expected: int) -> None:
    with reading(store) as s:
        row = s.customers.get(customer_id)
    assert int(row.payload.decode("ascii")) == expected, "an update was lost"
    assert row.version == expected + 1


class ConcurrencyContract(_StoreFixtures):
    """Compare-and-set under contention: no update is ever lost.

    Every worker repeats read-modify-write units of work on one counter, retrying on
    ``VersionConflict`` (and ``StorageError`` with ``retry_safe``); the final counter must equal
    the number of increments. Class attributes set the sizes.
    """

    race_threads: ClassVar[int] = 4
    race_thread_increments: ClassVar[int] = 50
    race_processes: ClassVar[int] = 4
    race_process_increments: ClassVar[int] = 100
    race_timeout_seconds: ClassVar[float] = 300.0
    claim_keys: ClassVar[int] = 40
    claim_names: ClassVar[int] = 20

    def test_thread_race_loses_no_update(self, store: Store) -> None:
        customer_id = _seed_counter(store)
        start = threading.Barrier(self.race_threads)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                start.wait(30)
                for _ in range(self.race_thread_increments):
                    increment_counter(store, customer_id)
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        threads = [
            threading.Thread(target=work, name=f"kit-racer-{i}") for i in range(self.race_threads)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(self.race_timeout_seconds)
        assert not any(t.is_alive() for t in threads), "a racing thread never finished"
        assert errors == []
        _assert_counter(store, customer_id, self.race_threads * self.race_thread_increments)

    def _race(self, work: Callable[[int], None]) -> None:
        start = threading.Barrier(self.race_threads)
        errors: list[BaseException] = []

        def run(index: int) -> None:
            try:
                start.wait(30)
                work(index)
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        threads = [
            threading.Thread(target=run, args=(i,), name=f"kit-racer-{i}")
            for i in range(self.race_threads)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(self.race_timeout_seconds)
        assert not any(t.is_alive() for t in threads), "a racing thread never finished"
        assert errors == []

    def _append_after_last(
        self,
        rounds: int,
        entry_after: Callable[[int, AuditRecord | None], AuditRecord],
        store: Store,
    ) -> None:
        """Racing threads each append ``rounds`` entries, one per unit of work, made by
        ``entry_after(thread index, last entry)`` right after reading the last entry; every
        append must get the seq after that entry's (retry-safe errors are retried)."""

        def work(index: int) -> None:
            done = 0
            while done < rounds:
                try:
                    with store.transaction() as session:
                        previous = session.audit.last()
                        expected = 1 if previous is None else previous.seq + 1
                        seqs = session.audit.append([entry_after(index, previous)])
                        assert seqs == [expected], (seqs, expected)
                        session.commit()
                        done += 1
                except StorageError as exc:
                    if not exc.retry_safe:
                        raise

        self._race(work)

    def test_a_lookup_in_a_write_session_holds_until_commit(self, store: Store) -> None:
        """Check-then-add on one index key: however the writers interleave, only one adds."""
        key = f"phone:race:{new_id()}"
        added: list[str] = []

        def work(index: int) -> None:
            for _attempt in range(200):
                try:
                    with store.transaction() as session:
                        if session.customers.lookup(key):
                            return
                        row = customer(index_keys=frozenset({key}))
                        session.customers.add(row)
                        session.commit()
                        added.append(row.id)
                        return
                except StorageError as exc:
                    if not exc.retry_safe:
                        raise
            raise AssertionError("the check-then-add never got through")

        self._race(work)
        with reading(store) as session:
            assert len(session.customers.lookup(key)) == 1
        assert len(added) == 1

    def test_bulk_and_single_claims_in_opposite_orders_never_deadlock(self, store: Store) -> None:
        """Check-then-add over shared keys from racing writers: one looks every key up at once
        and adds a customer for each absent one; the others, one key per unit of work and in
        opposite orders, look it up and add a customer holding it. Every customer also carries
        name tokens that all of them share and nobody looks up. No unit fails (no deadlock
        reaches a caller), and every key ends with exactly one holder."""
        tag = new_id()
        keys = [f"phone:claim:{tag}:{i:03d}" for i in range(self.claim_keys)]
        names = frozenset(f"name:claim:{tag}:{i}" for i in range(self.claim_names))

        def work(index: int) -> None:
            if index == 0:
                with store.transaction() as session:
                    found = session.customers.lookup_many(reversed(keys))
                    rows = [
                        customer(index_keys=frozenset({key, *names}))
                        for key in keys
                        if key not in found
                    ]
                    session.customers.add_many(rows)
                    session.commit()
                return
            for key in keys if index % 2 else keys[::-1]:
                with store.transaction() as session:
                    if session.customers.lookup(key):
                        continue
                    session.customers.add(customer(index_keys=frozenset({key, *names})))
                    session.commit()

        self._race(work)
        with reading(store) as session:
            holders = session.customers.lookup_many(keys)
        assert {key: len(holders.get(key, ())) for key in keys} == dict.fromkeys(keys, 1)

    def test_audit_appends_after_last_stay_consecutive(self, store: Store) -> None:
        """Read the last entry, append after it: concurrent writers never reuse or skip a seq."""
        rounds = 10
        with reading(store) as session:
            last = session.audit.last()
        base = 0 if last is None else last.seq

        self._append_after_last(
            rounds,
            lambda index, previous: audit_entry(
                actor_id=f"racer-{index}",
                reason=f"after {0 if previous is None else previous.seq}",
            ),
            store,
        )
        with reading(store) as session:
            entries = session.audit.read(after_seq=base, limit=100_000)
        assert [e.seq for e in entries] == list(
            range(base + 1, base + 1 + self.race_threads * rounds)
        )
        assert all(e.reason == f"after {e.seq - 1}" for e in entries)

    def test_readers_wait_neither_for_each_other_nor_for_a_writer(self, store: Store) -> None:
        """While one read-only transaction is open, another reader and a writer both finish."""
        if not store.capabilities.concurrent_reads:
            pytest.skip("backend does not declare capabilities.concurrent_reads")
        seeded = customer()
        with writing(store) as session:
            session.customers.add(seeded)

        def meanwhile() -> None:
            with store.transaction(readonly=True) as session:
                assert session.customers.get(seeded.id).id == seeded.id
            with store.transaction() as session:
                session.customers.add(customer())
                session.commit()

        finishes_while_held(
            store,
            lambda session: session.customers.get(seeded.id),
            meanwhile,
            readonly=True,
            timeout=self.race_timeout_seconds,
        )

    def test_chained_audit_appends_from_concurrent_sessions_verify(self, store: Store) -> None:
        """Writers that each read the last entry and append one HMAC-chained after it build a
        log that verifies from its first entry: no seq reused, skipped or chained twice."""
        chain = AuditChain(b"k" * 32)
        rounds = 5
        with reading(store) as session:
            if session.audit.last() is not None:
                pytest.skip("the chain is checked from the first entry: needs an empty log")

        def chained(index: int, previous: AuditRecord | None) -> AuditRecord:
            entry = audit_entry(
                actor_id=f"racer-{index}", seq=1 if previous is None else previous.seq + 1
            )
            return attrs.evolve(entry, chain=chain.link_after(entry, previous))

        self._append_after_last(rounds, chained, store)
        with reading(store) as session:
            entries = session.audit.read(limit=100_000)
        assert len(entries) == self.race_threads * rounds
        verification = chain.verify(entries)
        assert verification.ok, verification

    def test_process_race_loses_no_update(
        self, store: Store, request: pytest.FixtureRequest
    ) -> None:
        if not store.capabilities.multiprocess:
            pytest.skip("backend does not declare capabilities.multiprocess")
        opener = self.opener_or_skip(request)
        try:
            pickle.dumps(opener)
        except Exception as exc:
            pytest.fail(f"store_opener must return a picklable callable: {exc}")
        customer_id = _seed_counter(store)
        context = multiprocessing.get_context("spawn")
        work = functools.partial(race_worker, opener, customer_id, self.race_process_increments)
        with ProcessPoolExecutor(max_workers=self.race_processes, mp_context=context) as pool:
            futures = [pool.submit(work) for _ in range(self.race_processes)]
            attempts = [f.result(timeout=self.race_timeout_seconds) for f in futures]
        assert sum(attempts) >= self.race_processes * self.race_process_increments
        _assert_counter(store, customer_id, self.race_processes * self.race_process_increments)
