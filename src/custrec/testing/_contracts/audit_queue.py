"""The audit queue of backends whose writers run in parallel (private; see
:mod:`custrec.testing.contracts`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar, cast

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.errors import StorageError
from custrec.security.audit import AuditChain
from custrec.storage.protocols import AuditQueue, Session, Store
from custrec.storage.sealing import QUEUE_REJECTED, queue_entries, seal_in, seal_more, seal_queue
from custrec.testing._contracts.common import _StoreFixtures, kit_settings
from custrec.testing._support import audit_entry, finishes_while_held, reading, writing

_KEY = b"k" * 32


def _queue(session: Session) -> AuditQueue:
    return cast(AuditQueue, session.audit)


def _now() -> datetime:
    return datetime.now(UTC)


def _background(work: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported by the caller's assertion
            errors.append(exc)

    thread = threading.Thread(target=run, name="kit-queue")
    thread.start()
    return thread


class AuditQueueContract(_StoreFixtures):
    """Queued audit entries (``capabilities.concurrent_writes``): queued without waiting,
    sealed into the log once each, in one commit per batch, and never lost."""

    queue_threads: ClassVar[int] = 4
    queue_rounds: ClassVar[int] = 10
    queue_timeout_seconds: ClassVar[float] = 120.0

    @pytest.fixture
    def queue_store(self, store: Store) -> Store:
        """``store``, or a skip when the backend does not queue audit entries."""
        if not store.capabilities.concurrent_writes:
            pytest.skip("backend does not declare capabilities.concurrent_writes")
        return store

    def test_queued_entries_come_back_in_ticket_order_with_every_field(
        self, queue_store: Store
    ) -> None:
        entries = [
            audit_entry("c-1", seq=7),
            audit_entry(None, fields=(), reason=None, on_behalf_of="ops-2"),
            audit_entry("c-3", outcome="denied", chain=b""),
        ]
        with writing(queue_store) as session:
            _queue(session).enqueue(iter(entries))  # any iterable
            _queue(session).enqueue([])
        with writing(queue_store) as session:
            queued = _queue(session).queued()
        assert [q.record for q in queued] == [attrs.evolve(e, seq=0) for e in entries]
        tickets = [q.ticket for q in queued]
        assert tickets == sorted(set(tickets)) and tickets[0] >= 1
        with reading(queue_store) as session:
            assert session.audit.last() is None, "queued entries are not in the log"

    def test_queued_and_claim_return_the_first_entries_by_ticket(self, queue_store: Store) -> None:
        """Against a brute-force model: whatever batches were queued and whatever limit is
        asked, ``queued`` and ``claim`` give the lowest tickets first, each once."""

        @kit_settings(25)
        @given(
            batches=st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=5),
            limit=st.integers(min_value=1, max_value=12),
        )
        def check(batches: list[int], limit: int) -> None:
            with writing(queue_store) as session:  # start from an empty queue
                queue = _queue(session)
                left = queue.queued(limit=100_000)
                if left:
                    claim = queue.claim()
                    assert claim is not None
                    first = 1 if claim.last is None else claim.last.seq + 1
                    queue.seal(
                        [attrs.evolve(q.record, seq=first + i) for i, q in enumerate(left)],
                        [q.ticket for q in left],
                    )
            model: list[tuple[int, str]] = []
            for number, size in enumerate(batches):
                entries = [audit_entry(f"b{number}-{i}") for i in range(size)]
                with writing(queue_store) as session:
                    tickets = _queue(session).enqueue(entries)
                model += zip(tickets, [e.customer_id or "" for e in entries], strict=True)
            expected = sorted(model)[:limit]
            with writing(queue_store) as session:
                queue = _queue(session)
                listed = [(q.ticket, q.record.customer_id) for q in queue.queued(limit=limit)]
                claim = queue.claim(limit=limit)
            assert listed == expected
            assert claim is not None
            assert [(q.ticket, q.record.customer_id) for q in claim.queued] == expected

        check()

    def test_a_session_sees_its_own_queue_and_a_rollback_drops_it(self, queue_store: Store) -> None:
        with queue_store.transaction() as session:
            _queue(session).enqueue([audit_entry("c-1")])
            assert len(_queue(session).queued()) == 1
            session.rollback()
        with writing(queue_store) as session:
            assert _queue(session).queued() == []

    def test_a_claim_holds_the_last_entry_and_the_queue_head(self, queue_store: Store) -> None:
        with writing(queue_store) as session:
            session.audit.append([audit_entry("sealed", seq=1)])
            _queue(session).enqueue([audit_entry(f"c-{i}") for i in range(3)])
        with queue_store.transaction() as session:
            queue = _queue(session)
            with pytest.raises(ValueError, match="limit"):
                queue.claim(limit=0)
            claim = queue.claim(limit=2)
            assert claim is not None
            assert claim.last is not None and claim.last.customer_id == "sealed"
            assert [q.record.customer_id for q in claim.queued] == ["c-0", "c-1"]

    def test_sealing_appends_and_dequeues_all_or_none(self, queue_store: Store) -> None:
        with writing(queue_store) as session:
            _queue(session).enqueue([audit_entry(f"c-{i}") for i in range(3)])
        with queue_store.transaction() as session:
            queue = _queue(session)
            claim = queue.claim()
            assert claim is not None and claim.last is None
            first, second, _ = claim.queued
            missing = max(q.ticket for q in claim.queued) + 1000
            sealed = [attrs.evolve(first.record, seq=1), attrs.evolve(second.record, seq=2)]
            with pytest.raises(StorageError):
                queue.seal(sealed, [first.ticket, missing])
            assert len(queue.queued()) == 3 and session.audit.last() is None, "nothing written"
            with pytest.raises(ValueError, match="consecutive"):
                queue.seal([sealed[0], attrs.evolve(second.record, seq=3)], [])
            with pytest.raises(StorageError):  # a gap after the log's last entry
                queue.seal([attrs.evolve(first.record, seq=7)], [])
            assert session.audit.last() is None, "nothing written"
            queue.seal(iter(sealed), iter([first.ticket, second.ticket]))  # any iterables
            session.commit()
        with writing(queue_store) as session:
            assert [q.record.customer_id for q in _queue(session).queued()] == ["c-2"]
            assert [(e.seq, e.customer_id) for e in session.audit.read()] == [
                (1, "c-0"),
                (2, "c-1"),
            ]

    def test_a_read_only_session_refuses_to_queue_claim_or_seal(self, queue_store: Store) -> None:
        with reading(queue_store) as session:
            queue = _queue(session)
            with pytest.raises(StorageError):
                queue.enqueue([audit_entry()])
            with pytest.raises(StorageError):
                queue.claim()
            with pytest.raises(StorageError):
                queue.seal([audit_entry(seq=1)], [1])

    def test_a_claim_without_waiting_fails_while_another_session_holds_the_lock(
        self, queue_store: Store
    ) -> None:
        def meanwhile() -> None:
            with queue_store.transaction() as session:
                assert _queue(session).claim(wait=False) is None

        finishes_while_held(
            queue_store, lambda session: _queue(session).claim(), meanwhile, readonly=False
        )
        with queue_store.transaction() as session:
            assert _queue(session).claim(wait=False) is not None

    def test_enqueue_returns_the_tickets_in_order(self, queue_store: Store) -> None:
        with writing(queue_store) as session:
            tickets = _queue(session).enqueue([audit_entry("a"), audit_entry("b")])
            assert _queue(session).enqueue([]) == []
        assert len(tickets) == 2 and tickets == sorted(set(tickets))
        with writing(queue_store) as session:
            queued = _queue(session).queued()
        assert [(q.ticket, q.record.customer_id) for q in queued] == list(
            zip(tickets, ["a", "b"], strict=True)
        )

    def test_queueing_waits_neither_for_other_queuers_nor_for_the_lock_holder(
        self, queue_store: Store
    ) -> None:
        """While one session holds the log's lock and has queued an entry, uncommitted,
        another session queues and commits."""

        def hold(session: Session) -> None:
            _queue(session).claim()
            _queue(session).enqueue([audit_entry("held")])

        def meanwhile() -> None:
            with writing(queue_store) as session:
                _queue(session).enqueue([audit_entry("meanwhile")])

        finishes_while_held(queue_store, hold, meanwhile)
        with writing(queue_store) as session:
            queued = {q.record.customer_id for q in _queue(session).queued()}
        assert queued == {"held", "meanwhile"}

    def test_sealing_racing_writers_builds_one_log_that_verifies(self, queue_store: Store) -> None:
        """Writers queue tagged entries and seal them in the same session when the lock is
        free (then look again after the commit), else leave them to the holder: every entry
        ends in the log once, chained in order."""
        chain = AuditChain(_KEY)
        with reading(queue_store) as session:
            if session.audit.last() is not None:
                pytest.skip("the chain is checked from the first entry: needs an empty log")
        start = threading.Barrier(self.queue_threads)
        errors: list[BaseException] = []

        def work(index: int) -> None:
            start.wait(30)
            for round_ in range(self.queue_rounds):
                entry = audit_entry(f"c-{index}", reason=f"{index}/{round_}")
                with writing(queue_store) as session:
                    queue_entries(session, [entry], chain)
                    _, done = seal_in(session, chain, now=_now, wait=False)
                if done is not None:  # it held the lock: it looks again after its commit
                    seal_more(queue_store, chain, now=_now)

        threads = [
            _background(lambda i=i: work(i), errors)  # type: ignore[misc]
            for i in range(self.queue_threads)
        ]
        for thread in threads:
            thread.join(self.queue_timeout_seconds)
        assert not any(t.is_alive() for t in threads), "a writer never finished"
        assert errors == []
        seal_queue(queue_store, chain, now=_now)  # what the last rounds left, if anything
        with writing(queue_store) as session:
            assert _queue(session).queued() == []
            entries = session.audit.read(limit=100_000)
        assert chain.verify(entries).ok
        reasons = [e.reason or "" for e in entries]
        expected = {f"{i}/{r}" for i in range(self.queue_threads) for r in range(self.queue_rounds)}
        assert sorted(reasons) == sorted(expected), "an entry was lost or sealed twice"
        for index in range(self.queue_threads):  # one writer's entries keep their order
            mine = [r for r in reasons if r.startswith(f"{index}/")]
            assert mine == [f"{index}/{r}" for r in range(self.queue_rounds)]

    def test_entries_queued_before_a_crash_are_sealed_by_the_next_sealer(
        self, queue_store: Store, request: pytest.FixtureRequest
    ) -> None:
        chain = AuditChain(_KEY)
        with writing(queue_store) as session:  # committed, then the writer died unsealed
            queue_entries(session, [audit_entry("c-1"), audit_entry("c-2")], chain)
        try:
            opener: Callable[[], Store] | None = self.opener_or_skip(request)
        except pytest.skip.Exception:
            opener = None
        other = queue_store if opener is None else opener()
        try:
            batches = seal_queue(other, chain, now=_now)
        finally:
            if other is not queue_store:
                other.close()
        assert [b.newest.seq for b in batches] == [2]
        with reading(queue_store) as session:
            entries = session.audit.read()
        assert [e.customer_id for e in entries] == ["c-1", "c-2"]
        assert chain.verify(entries).ok

    def test_a_forged_queued_entry_is_not_chained(self, queue_store: Store) -> None:
        chain = AuditChain(_KEY)
        with writing(queue_store) as session:
            queue_entries(session, [audit_entry("genuine")], chain)
            _queue(session).enqueue([audit_entry("forged", chain=b"\x00" * 32)])
        batches = seal_queue(queue_store, chain, now=_now)
        assert len(batches[0].rejected) == 1
        with reading(queue_store) as session:
            entries = session.audit.read()
        assert [e.customer_id for e in entries] == ["genuine", None]
        assert entries[1].action == QUEUE_REJECTED
        assert chain.verify(entries).ok
