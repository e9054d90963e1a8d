"""``store.transaction()``: the unit of work and session contract (private; see
:mod:`custrec.testing.contracts`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

import attrs
import pytest

from custrec.model.ids import new_id
from custrec.storage.closing import on_close
from custrec.storage.protocols import Session, Store
from custrec.storage.types import CustomerRow
from custrec.testing._contracts.common import _refused, _StoreFixtures
from custrec.testing._support import (
    activity,
    audit_entry,
    consent,
    customer,
    history_entry,
    reading,
    wrapped_key,
    writing,
)


class _Boom(Exception):
    """Raised inside a transaction block by the kit to check rollback on exceptions."""


@attrs.frozen
class _Seeded:
    """What ``_seed`` committed: one customer with data in every table, and another id."""

    row: CustomerRow
    other_id: str


def _seed(store: Store) -> _Seeded:
    row = customer()
    with writing(store) as s:
        s.customers.add(row)
        s.activities.add(activity(row.id))
        s.consents.append(consent(row.id))
        s.history.append([history_entry(row.id)])
        s.audit.append([audit_entry(row.id)])
        s.keys.put(wrapped_key(row.id))
    return _Seeded(row=row, other_id=new_id())


def _write_everywhere(session: Session, customer_id: str) -> None:
    """One write to every table, about ``customer_id``."""
    session.customers.add(customer(customer_id))
    session.activities.add(activity(customer_id))
    session.consents.append(consent(customer_id))
    session.history.append([history_entry(customer_id)])
    session.audit.append([audit_entry(customer_id)])
    session.keys.put(wrapped_key(customer_id))


def _snapshot(session: Session, customer_ids: list[str]) -> dict[str, object]:
    """Everything observable about ``customer_ids`` plus the audit log and the key list."""
    return {
        "customers": session.customers.get_many(customer_ids),
        "all_customers": session.customers.query(limit=1000),
        "activities": [session.activities.list_for(i) for i in customer_ids],
        "consents": [session.consents.list_for(i) for i in customer_ids],
        "history": [session.history.list_for(i) for i in customer_ids],
        "audit": session.audit.read(),
        "keys": session.keys.list(),
    }


def _write_everywhere_is_visible(session: Session, customer_id: str) -> bool:
    visible = [
        bool(session.customers.get_many([customer_id])),
        bool(session.activities.list_for(customer_id)),
        bool(session.consents.list_for(customer_id)),
        bool(session.history.list_for(customer_id)),
        bool(session.audit.read(customer_id=customer_id)),
        bool([k for k in session.keys.list() if k.customer_id == customer_id]),
    ]
    assert len(set(visible)) == 1, f"a unit of work was applied partially: {visible}"
    return visible[0]


_WRITE_METHODS: Final[dict[str, Callable[[Session, _Seeded], object]]] = {
    "customers.add": lambda s, d: s.customers.add(customer(d.other_id)),
    "customers.add_many": lambda s, d: s.customers.add_many([customer(d.other_id)]),
    "customers.update": lambda s, d: s.customers.update(d.row, expected_version=1),
    "customers.delete": lambda s, d: s.customers.delete(d.row.id, expected_version=1),
    "activities.add": lambda s, d: s.activities.add(activity(d.row.id)),
    "activities.add_many": lambda s, d: s.activities.add_many([activity(d.row.id)]),
    "activities.reassign": lambda s, d: s.activities.reassign(d.row.id, d.other_id),
    "consents.append": lambda s, d: s.consents.append(consent(d.row.id)),
    "consents.reassign": lambda s, d: s.consents.reassign(d.row.id, d.other_id),
    "history.append": lambda s, d: s.history.append([history_entry(d.row.id)]),
    "audit.append": lambda s, d: s.audit.append([audit_entry(d.row.id)]),
    "keys.put": lambda s, d: s.keys.put(wrapped_key(d.other_id)),
    "keys.put_many": lambda s, d: s.keys.put_many([wrapped_key(d.other_id)]),
    "keys.replace": lambda s, d: s.keys.replace(wrapped_key(d.row.id, master_key_id="mk-2")),
    "keys.delete": lambda s, d: s.keys.delete(d.row.id),
    "meta.put": lambda s, d: s.meta.put("custrec.test", b"x"),
}

_SESSION_USES: Final[dict[str, Callable[[Session, _Seeded], object]]] = {
    "customers.get": lambda s, d: s.customers.get(d.row.id),
    "customers.query": lambda s, d: s.customers.query(),
    "customers.add": _WRITE_METHODS["customers.add"],
    "activities.list_for": lambda s, d: s.activities.list_for(d.row.id),
    "consents.append": _WRITE_METHODS["consents.append"],
    "history.list_for": lambda s, d: s.history.list_for(d.row.id),
    "audit.last": lambda s, d: s.audit.last(),
    "keys.get": lambda s, d: s.keys.get(d.row.id),
    "meta.get": lambda s, d: s.meta.get("custrec.test"),
    "commit": lambda s, d: s.commit(),
}


class UnitOfWorkContract(_StoreFixtures):
    """``store.transaction()``: atomic commit, rollback, read-only and finished sessions."""

    def test_commit_makes_writes_in_every_table_visible(self, store: Store) -> None:
        customer_id = new_id()
        with writing(store) as s:
            _write_everywhere(s, customer_id)
        with reading(store) as s:
            assert _write_everywhere_is_visible(s, customer_id)

    def test_explicit_rollback_discards_writes_in_every_table(self, store: Store) -> None:
        customer_id = new_id()
        with store.transaction() as s:
            _write_everywhere(s, customer_id)
            s.rollback()
        with reading(store) as s:
            assert not _write_everywhere_is_visible(s, customer_id)

    def test_exception_in_block_rolls_back_and_propagates(self, store: Store) -> None:
        customer_id = new_id()

        def failing_unit_of_work() -> None:
            with store.transaction() as s:
                _write_everywhere(s, customer_id)
                raise _Boom

        with pytest.raises(_Boom):
            failing_unit_of_work()
        with reading(store) as s:
            assert not _write_everywhere_is_visible(s, customer_id)

    def test_leaving_block_without_commit_rolls_back(self, store: Store) -> None:
        customer_id = new_id()
        with store.transaction() as s:
            _write_everywhere(s, customer_id)
        with reading(store) as s:
            assert not _write_everywhere_is_visible(s, customer_id)

    def test_rollback_restores_updated_replaced_and_deleted_rows(self, store: Store) -> None:
        seeded = _seed(store)
        doomed = customer(index_keys={"doomed-key"})
        with writing(store) as s:
            s.customers.add(doomed)
            before = _snapshot(s, [seeded.row.id, doomed.id])
        with store.transaction() as s:
            s.customers.update(customer(seeded.row.id, index_keys={"new-key"}), expected_version=1)
            s.customers.delete(doomed.id, expected_version=1)
            s.activities.reassign(seeded.row.id, doomed.id)
            s.consents.reassign(seeded.row.id, doomed.id)
            s.keys.replace(wrapped_key(seeded.row.id, master_key_id="mk-2"))
            s.keys.delete(seeded.row.id)
            s.rollback()
        with reading(store) as s:
            assert _snapshot(s, [seeded.row.id, doomed.id]) == before
            assert s.customers.lookup_many(["new-key", "doomed-key", *seeded.row.index_keys]) == {
                "doomed-key": [doomed.id],
                **{k: [seeded.row.id] for k in seeded.row.index_keys},
            }

    def test_session_reads_its_own_writes(self, store: Store) -> None:
        customer_id = new_id()
        with store.transaction() as s:
            _write_everywhere(s, customer_id)
            assert _write_everywhere_is_visible(s, customer_id)
            assert s.customers.update(customer(customer_id), expected_version=1) == 2
            assert s.customers.get(customer_id).version == 2

    def test_uncommitted_writes_are_invisible_to_other_sessions(self, store: Store) -> None:
        # A backend that serialises transactions (MemoryStore) makes the reader wait until the
        # writer has rolled back; one with snapshot reads lets it read at once. Either way the
        # reader must never see the uncommitted row.
        row = customer()
        written, observed = threading.Event(), threading.Event()
        seen: list[object] = []

        def reader() -> None:
            try:
                written.wait(10)
                with reading(store) as s:
                    seen.append(s.customers.get_many([row.id]))
            except BaseException as exc:  # reported by the assertion below
                seen.append(exc)
            finally:
                observed.set()

        thread = threading.Thread(target=reader, name="kit-reader")
        thread.start()
        try:
            with store.transaction() as s:
                s.customers.add(row)
                written.set()
                observed.wait(0.3)
        finally:
            written.set()
            thread.join(30)
        assert not thread.is_alive(), "the reader never finished"
        assert seen == [[]]

    @pytest.mark.parametrize("method", sorted(_WRITE_METHODS))
    def test_readonly_session_refuses_every_write(self, store: Store, method: str) -> None:
        seeded = _seed(store)
        ids = [seeded.row.id, seeded.other_id]
        with reading(store) as s:
            before = _snapshot(s, ids)
            with _refused():
                _WRITE_METHODS[method](s, seeded)
        with reading(store) as s:
            assert _snapshot(s, ids) == before

    def test_readonly_session_reads_committed_data(self, store: Store) -> None:
        seeded = _seed(store)
        with reading(store) as s:
            assert s.customers.get(seeded.row.id) == attrs.evolve(seeded.row, version=1)
            assert s.keys.get(seeded.row.id).customer_id == seeded.row.id
            assert s.audit.last() is not None

    @pytest.mark.parametrize("use", sorted(_SESSION_USES))
    @pytest.mark.parametrize("finish", ["commit", "rollback"])
    def test_finished_session_refuses_use(self, store: Store, finish: str, use: str) -> None:
        seeded = _seed(store)
        with store.transaction() as s:
            getattr(s, finish)()
            with _refused():
                _SESSION_USES[use](s, seeded)

    def test_nested_transaction_in_one_thread_raises_storage_error(self, store: Store) -> None:
        with store.transaction():
            with _refused(), store.transaction():
                pass  # pragma: no cover - the inner transaction must not open
            with _refused(), store.transaction(readonly=True):
                pass  # pragma: no cover

    def test_store_is_usable_after_a_refused_nested_transaction(self, store: Store) -> None:
        with store.transaction(), _refused(), store.transaction():
            pass  # pragma: no cover
        row = customer()
        with writing(store) as s:
            s.customers.add(row)
        with reading(store) as s:
            assert s.customers.get(row.id).id == row.id

    def test_close_is_idempotent(self, store: Store) -> None:
        store.close()
        store.close()

    def test_close_runs_the_close_hooks_first_and_once(self, store: Store) -> None:
        seen: list[bool] = []

        def deferred_write() -> None:  # as a registry writes the audit head it deferred
            with writing(store) as s:
                s.meta.put("kit.closing", b"written")
            with reading(store) as s:
                seen.append(s.meta.get("kit.closing") == b"written")

        on_close(store, deferred_write)
        store.close()
        store.close()
        assert seen == [True], "close() must call run_close_hooks(self) first, while it works"

    def test_committed_writes_survive_reopening(
        self, store: Store, request: pytest.FixtureRequest
    ) -> None:
        if not store.capabilities.persistent:
            pytest.skip("backend does not declare capabilities.persistent")
        opener = self.opener_or_skip(request)
        kept, dropped = new_id(), new_id()
        with writing(store) as s:
            _write_everywhere(s, kept)
        with store.transaction() as s:
            _write_everywhere(s, dropped)
        store.close()
        reopened = opener()
        try:
            with reading(reopened) as s:
                assert _write_everywhere_is_visible(s, kept)
                assert not _write_everywhere_is_visible(s, dropped)
        finally:
            reopened.close()
