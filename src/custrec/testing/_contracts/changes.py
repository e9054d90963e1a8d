"""``session.changes``: the change feed (private; see :mod:`custrec.testing.contracts`).

The race's writer lives at module level so that a ``spawn``-started process can unpickle it.
"""

from __future__ import annotations

import multiprocessing
import pickle
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Final

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.errors import StorageError
from custrec.storage.protocols import Store
from custrec.storage.types import ChangeEvent, ChangePage
from custrec.testing._contracts.common import (
    _CST,
    _invalid_argument,
    _is_utc,
    _refused,
    _StoreFixtures,
    kit_settings,
)
from custrec.testing._support import T0, finishes_while_held, reading, writing

_NUL: Final = "a\x00b"
_NAIVE: Final = datetime(2024, 3, 1, 9, 30)
_FEED: Final = "kit.feed"
_UNDONE: Final = "kit.rolled-back"
# text no backend makes: signs, spaces, exponents, other digits, empty parts, NUL
_BAD_CURSORS: Final = (
    *("", " ", "abc", "-1", "+1", "1e3", "0x1", " 1", "1 ", "1\n", "１", "٣"),
    *(".", "1..2", "-1.-1", "a\x00b", "1.2.3", "00"),
    5,
    b"1",
)


def change(kind: str = "customer.update", **changes: Any) -> ChangeEvent:
    """A valid change event (``staff-1`` changed customer ``c-1``'s name at ``T0``)."""
    event = ChangeEvent(
        at=T0,
        kind=kind,
        customer_id="c-1",
        record_id=None,
        fields=("name", "contacts[0].phones[0]"),
        actor_id="staff-1",
    )
    return attrs.evolve(event, **changes) if changes else event


def _read_all(store: Store, cursor: str | None = None, limit: int = 1000) -> list[ChangeEvent]:
    """Every committed event after ``cursor``, page by page."""
    events: list[ChangeEvent] = []
    while True:
        with reading(store) as s:
            page = s.changes.since(cursor, limit=limit)
        assert isinstance(page.cursor, str)
        assert len(page.events) <= limit
        if not page.events:
            assert page.cursor == cursor or cursor is None
            return events
        events += page.events
        cursor = page.cursor


def _labels(events: Sequence[ChangeEvent]) -> list[str]:
    return [e.record_id or "" for e in events]


def write_feed(store: Store, writer: int, rounds: int) -> None:
    """``rounds`` short transactions of one writer, each appending one to three events (in
    two calls); every fourth is rolled back. Event ``record_id`` is ``writer:round:index``."""
    for round_ in range(rounds):
        undone = round_ % 4 == 3
        kind = _UNDONE if undone else _FEED
        events = [
            change(kind, customer_id=f"w{writer}", record_id=f"{writer}:{round_}:{i}")
            for i in range(1 + round_ % 3)
        ]
        while True:
            try:
                with store.transaction() as session:
                    session.changes.append(events[:1])
                    session.changes.append(events[1:])
                    if not undone:
                        session.commit()
                break
            except StorageError as exc:
                if not exc.retry_safe:
                    raise


def feed_writer_process(
    opener: Callable[[], Store], writer: int, rounds: int, start: Any, results: Any
) -> None:
    """A writer process of the feed race: open the store, wait for the others, write, report
    ``(writer, None)`` or ``(writer, error text)`` on ``results``."""
    error: str | None = None
    try:
        store = opener()
        try:
            start.wait(120)
            write_feed(store, writer, rounds)
        finally:
            store.close()
    except BaseException as exc:  # reported to the test through the queue
        error = f"{type(exc).__name__}: {exc}"
    results.put((writer, error))


class ChangeFeedContract(_StoreFixtures):
    """``session.changes``: append-only events, read with an opaque cursor: every committed
    event exactly once, in the feed's order, whatever the writers do concurrently.

    The race (class attributes set its size) runs writer processes on a ``multiprocess``
    backend with a ``store_opener``, threads otherwise. On a backend that holds the feed back
    behind running writers (PostgreSQL), the tests expect no other writing transaction to stay
    open on the server meanwhile.
    """

    feed_writers: ClassVar[int] = 4
    feed_rounds: ClassVar[int] = 24
    feed_timeout_seconds: ClassVar[float] = 300.0

    # -- append and since ---------------------------------------------------------------------

    def test_append_returns_distinct_increasing_seqs_and_ignores_the_given_ones(
        self, store: Store
    ) -> None:
        with writing(store) as s:
            first = s.changes.append([change(seq=99), change(seq=99), change()])
            assert s.changes.append([]) == []
        with writing(store) as s:
            second = s.changes.append([change()])
        assert first == sorted(set(first)) and len(first) == 3 and first[0] >= 1
        assert second[0] > first[-1]
        assert [e.seq for e in _read_all(store)] == [*first, *second]

    def test_since_round_trips_every_field(self, store: Store) -> None:
        local = datetime(2024, 2, 29, 23, 59, 59, 500_001, tzinfo=_CST)
        events = [
            change("case.open", at=local, record_id="case-1", fields=("zeta", "alpha", "重点")),
            change("customer.erase", customer_id=None, fields=(), actor_id="system:retention"),
        ]
        with writing(store) as s:
            seqs = s.changes.append(events)
        got = _read_all(store)
        assert got == [attrs.evolve(e, seq=n) for e, n in zip(events, seqs, strict=True)]
        assert got[0].fields == ("zeta", "alpha", "重点")
        assert _is_utc(got[0].at)

    def test_a_cursor_resumes_after_the_events_it_was_given_with(self, store: Store) -> None:
        with reading(store) as s:
            empty = s.changes.since()
        assert empty.events == () and isinstance(empty.cursor, str)
        with writing(store) as s:
            s.changes.append([change(record_id=str(i)) for i in range(5)])
        with reading(store) as s:
            assert s.changes.since(empty.cursor) == s.changes.since()
            page = s.changes.since(limit=2)
            assert _labels(page.events) == ["0", "1"]
            rest = s.changes.since(page.cursor)
            assert _labels(rest.events) == ["2", "3", "4"]
            assert s.changes.since(rest.cursor) == ChangePage(events=(), cursor=rest.cursor)
        with writing(store) as s:
            s.changes.append([change(record_id="5")])
        with reading(store) as s:
            assert _labels(s.changes.since(rest.cursor).events) == ["5"]

    def test_pages_of_any_size_cover_the_feed_once_in_order(self, store: Store) -> None:
        with writing(store) as s:
            s.changes.append([change(record_id=str(i)) for i in range(7)])
        whole = _read_all(store)
        assert _labels(whole) == [str(i) for i in range(7)]
        for limit in (1, 2, 3, 7, 8):
            assert _read_all(store, limit=limit) == whole

    def test_later_sessions_come_later_and_rolled_back_ones_never(self, store: Store) -> None:
        """Against a plain model: random sessions, each appending in several calls, some
        rolled back, read back in random page sizes."""
        model: list[str] = []

        @kit_settings(25)
        @given(
            sessions=st.lists(
                st.tuples(st.lists(st.integers(0, 3), max_size=3), st.booleans()), max_size=5
            ),
            limit=st.integers(min_value=1, max_value=5),
        )
        def check(sessions: list[tuple[list[int], bool]], limit: int) -> None:
            for calls, commit in sessions:
                labels = [[f"{len(model)}.{c}.{i}" for i in range(n)] for c, n in enumerate(calls)]
                with store.transaction() as s:
                    for batch in labels:
                        s.changes.append([change(record_id=label) for label in batch])
                    if commit:
                        s.commit()
                        model.extend(label for batch in labels for label in batch)
            assert _labels(_read_all(store, limit=limit)) == model

        check()

    # -- units of work ------------------------------------------------------------------------

    def test_rollback_leaves_no_events(self, store: Store) -> None:
        with writing(store) as s:
            s.changes.append([change(record_id="kept")])
        with store.transaction() as s:
            s.changes.append([change(record_id="undone.1")])
            s.changes.append([change(record_id="undone.2")])
            s.rollback()

        def failing_unit_of_work() -> None:
            with store.transaction() as s:
                s.changes.append([change(record_id="undone.3")])
                raise RuntimeError("the block fails")

        with pytest.raises(RuntimeError):
            failing_unit_of_work()
        assert _labels(_read_all(store)) == ["kept"]

    def test_an_append_that_raises_appends_nothing(self, store: Store) -> None:
        with store.transaction() as s:
            with _invalid_argument():
                s.changes.append([change(record_id="a"), change(actor_id=_NUL)])
            s.changes.append([change(record_id="b")])
            s.commit()
        assert _labels(_read_all(store)) == ["b"]

    def test_events_of_a_running_session_are_invisible_to_a_reader(self, store: Store) -> None:
        if not store.capabilities.concurrent_reads:
            pytest.skip("backend does not declare capabilities.concurrent_reads")

        def meanwhile() -> None:
            with reading(store) as s:
                assert s.changes.since().events == ()

        finishes_while_held(store, lambda s: s.changes.append([change()]), meanwhile)
        assert len(_read_all(store)) == 1

    def test_a_reader_keeps_its_snapshot(self, store: Store) -> None:
        if not store.capabilities.concurrent_reads:
            pytest.skip("backend does not declare capabilities.concurrent_reads")
        with writing(store) as s:
            s.changes.append([change(record_id="old")])
        read_once, written = threading.Event(), threading.Event()
        pages: list[ChangePage | BaseException] = []

        def reader() -> None:
            try:
                with reading(store) as s:
                    pages.append(s.changes.since())
                    read_once.set()
                    assert written.wait(60), "the writer did not finish"
                    pages.append(s.changes.since())
            except BaseException as exc:  # reported below
                pages.append(exc)
                read_once.set()

        thread = threading.Thread(target=reader, name="kit-feed-reader")
        thread.start()
        try:
            assert read_once.wait(60), "the reader did not begin"
            with writing(store) as s:  # commits while the reader is open
                s.changes.append([change(record_id="new")])
        finally:
            written.set()
            thread.join(60)
        first, again = pages
        assert isinstance(first, ChangePage) and again == first, again
        assert _labels(first.events) == ["old"]
        assert _labels(_read_all(store, first.cursor)) == ["new"]

    def test_nothing_is_skipped_behind_a_writer_that_is_still_running(self, store: Store) -> None:
        """(``capabilities.concurrent_writes``) A session appends and stays open while another
        appends and commits, and a reader reads; once the first commits, the reader, going on
        from its cursor, has every event exactly once."""
        if not store.capabilities.concurrent_writes:
            pytest.skip("backend does not declare capabilities.concurrent_writes")
        seen: list[ChangeEvent] = []
        cursors: list[str | None] = [None]

        def poll() -> None:
            with reading(store) as s:
                page = s.changes.since(cursors[-1])
            seen.extend(page.events)
            cursors.append(page.cursor)

        def meanwhile() -> None:
            with writing(store) as s:
                s.changes.append([change(record_id="later")])
            poll()

        finishes_while_held(
            store, lambda s: s.changes.append([change(record_id="held")]), meanwhile
        )
        poll()
        assert sorted(_labels(seen)) == ["held", "later"]
        assert _labels(_read_all(store)) in (["held", "later"], ["later", "held"])

    # -- argument rules -----------------------------------------------------------------------

    @pytest.mark.parametrize("field", ["kind", "customer_id", "record_id", "actor_id", "fields"])
    def test_nul_in_event_text_raises_value_error(self, store: Store, field: str) -> None:
        value: Any = ("name", _NUL) if field == "fields" else _NUL
        with store.transaction() as s:
            with _invalid_argument():
                s.changes.append([change(), change(**{field: value})])
            s.commit()
        assert _read_all(store) == []

    @pytest.mark.parametrize("bad", ["naive", "empty kind"])
    def test_a_naive_instant_or_an_empty_kind_raises_value_error(
        self, store: Store, bad: str
    ) -> None:
        event = change(at=_NAIVE) if bad == "naive" else change("")
        with store.transaction() as s, _invalid_argument():
            s.changes.append([event])

    @pytest.mark.parametrize("cursor", _BAD_CURSORS)
    def test_a_cursor_the_store_did_not_make_raises_value_error(
        self, store: Store, cursor: object
    ) -> None:
        with writing(store) as s:
            s.changes.append([change()])
        with reading(store) as s, _invalid_argument():
            s.changes.since(cursor)  # type: ignore[arg-type]

    def test_a_cursor_of_a_longer_feed_elsewhere_raises_value_error(self, store: Store) -> None:
        """A cursor past this feed's end (another store's, or one from a backup taken later)
        is refused: accepting it would skip the events written until the feed reached it."""
        from custrec.backends import MemoryStore

        other = MemoryStore()
        with other.transaction() as s:
            s.changes.append([change(record_id=str(i)) for i in range(50)])
            s.commit()
        with other.transaction(readonly=True) as s:
            foreign = s.changes.since().cursor
        with writing(store) as s:
            s.changes.append([change()])
        with reading(store) as s, _invalid_argument():
            s.changes.since(foreign)

    @pytest.mark.parametrize("limit", [0, -1, True, 1.5, Decimal(5), "5"])
    def test_changes_a_limit_that_is_not_a_positive_integer_raises_value_error(
        self, store: Store, limit: object
    ) -> None:
        with reading(store) as s, _invalid_argument():
            s.changes.since(limit=limit)  # type: ignore[arg-type]

    @pytest.mark.parametrize("limit", [2**63 - 1, 2**63, 2**70])
    def test_changes_a_limit_beyond_64_bits_means_no_limit(self, store: Store, limit: int) -> None:
        with writing(store) as s:
            s.changes.append([change(), change()])
        with reading(store) as s:
            assert len(s.changes.since(limit=limit).events) == 2

    def test_a_read_only_session_refuses_to_append(self, store: Store) -> None:
        with reading(store) as s, _refused():
            s.changes.append([change(at=_NAIVE)])

    @pytest.mark.parametrize("method", ["append", "since"])
    def test_changes_a_finished_session_refuses_every_call(self, store: Store, method: str) -> None:
        with store.transaction() as s:
            s.rollback()
            with _refused():
                if method == "append":
                    s.changes.append([change(kind=_NUL)])
                else:
                    s.changes.since("not a cursor", limit=0)

    # -- persistence and concurrency ----------------------------------------------------------

    def test_cursors_stay_valid_across_reopening(
        self, store: Store, request: pytest.FixtureRequest
    ) -> None:
        if not store.capabilities.persistent:
            pytest.skip("backend does not declare capabilities.persistent")
        opener = self.opener_or_skip(request)
        with writing(store) as s:
            s.changes.append([change(record_id=str(i)) for i in range(4)])
        with reading(store) as s:
            page = s.changes.since(limit=2)
        store.close()
        again = opener()
        try:
            with writing(again) as s:
                s.changes.append([change(record_id="4")])
            assert _labels(_read_all(again, page.cursor)) == ["2", "3", "4"]
            assert _read_all(again)[:2] == list(page.events)
        finally:
            again.close()

    def test_a_poller_sees_every_committed_event_of_racing_writers_once(
        self, store: Store, request: pytest.FixtureRequest
    ) -> None:
        """Writers (processes on a ``multiprocess`` backend with a ``store_opener``, threads
        otherwise) append in many short transactions, some rolled back, while a poller follows
        the feed with small pages: it ends with every committed event exactly once, none rolled
        back, each writer's in its order and each transaction's together."""
        done = self._race_writers(store, request)
        seen: list[ChangeEvent] = []
        cursor: str | None = None
        expected = {
            f"{w}:{r}:{i}"
            for w in range(self.feed_writers)
            for r in range(self.feed_rounds)
            if r % 4 != 3
            for i in range(1 + r % 3)
        }
        deadline = time.monotonic() + self.feed_timeout_seconds
        finished = False
        while True:  # poll while they write; then until everything arrived (bounded)
            finished = finished or done()
            with reading(store) as s:
                page = s.changes.since(cursor, limit=7)
            seen += page.events
            cursor = page.cursor
            if finished and not page.events:
                if len(seen) >= len(expected):
                    break
                missed = (expected - set(_labels(seen))) & set(_labels(_read_all(store)))
                assert not missed, f"the poller skipped {len(missed)} events of the feed"
            assert time.monotonic() < deadline, f"only {len(seen)} of {len(expected)} arrived"
        labels = _labels(seen)
        assert not [e for e in seen if e.kind == _UNDONE], "a rolled-back event was delivered"
        assert len(labels) == len(set(labels)), "an event was delivered twice"
        assert set(labels) == expected, "an event was lost"
        assert len({e.seq for e in seen}) == len(seen)
        for writer in range(self.feed_writers):
            mine = [tuple(map(int, x.split(":")[1:])) for x in labels if x.startswith(f"{writer}:")]
            assert mine == sorted(mine), f"writer {writer}'s events came out of order"
        for at, label in enumerate(labels):  # one transaction's events come together
            who, round_, index = label.split(":")
            if index != "0":
                assert labels[at - 1] == f"{who}:{round_}:{int(index) - 1}"
        assert _read_all(store) == seen  # what the poller saw is the feed, in its order

    def _race_writers(self, store: Store, request: pytest.FixtureRequest) -> Callable[[], bool]:
        """Start the racing writers; return a function telling whether all have finished
        (raising the first writer's error)."""
        opener: Callable[[], Store] | None = None
        if store.capabilities.multiprocess:
            try:
                opener = self.opener_or_skip(request)
            except pytest.skip.Exception:
                opener = None
        if opener is None:
            return self._thread_writers(store)
        try:
            pickle.dumps(opener)
        except Exception as exc:
            pytest.fail(f"store_opener must return a picklable callable: {exc}")
        context = multiprocessing.get_context("spawn")
        start = context.Barrier(self.feed_writers)
        results = context.Queue()
        processes = [
            context.Process(
                target=feed_writer_process,
                args=(opener, w, self.feed_rounds, start, results),
                name=f"kit-feed-writer-{w}",
            )
            for w in range(self.feed_writers)
        ]
        for process in processes:
            process.start()
        request.addfinalizer(lambda: _stop(processes))
        reports: dict[int, str | None] = {}
        shared = (start, results)  # alive until the children have read them (named semaphores)

        def done() -> bool:
            assert shared
            while not results.empty():
                writer, error = results.get()
                reports[writer] = error
            failed = [f"writer {w}: {e}" for w, e in sorted(reports.items()) if e]
            assert not failed, failed
            dead = [p.name for p in processes if not p.is_alive() and p.exitcode]
            assert not dead, f"writer processes died: {dead}"
            if len(reports) < len(processes):
                return False
            for process in processes:
                process.join(self.feed_timeout_seconds)
            return True

        return done

    def _thread_writers(self, store: Store) -> Callable[[], bool]:
        start = threading.Barrier(self.feed_writers)
        errors: list[BaseException] = []

        def run(writer: int) -> None:
            try:
                start.wait(60)
                write_feed(store, writer, self.feed_rounds)
            except BaseException as exc:  # reported by done()
                errors.append(exc)

        threads = [
            threading.Thread(target=run, args=(w,), name=f"kit-feed-writer-{w}")
            for w in range(self.feed_writers)
        ]
        for thread in threads:
            thread.start()

        def done() -> bool:
            if errors:
                raise errors[0]
            if any(t.is_alive() for t in threads):
                return False
            for thread in threads:
                thread.join()
            if errors:
                raise errors[0]
            return True

        return done


def _stop(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """End writer processes a failed test left running (by their own handles)."""
    for process in processes:
        if process.is_alive():
            process.terminate()
        process.join(30)
