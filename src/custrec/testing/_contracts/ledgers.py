"""The append-only ledgers: consents, history and the audit log (private; see
:mod:`custrec.testing.contracts`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import pytest

from custrec.model.ids import new_id
from custrec.storage.protocols import Store
from custrec.testing._contracts.common import (
    _CST,
    _invalid_argument,
    _is_utc,
    _ordered_ids,
    _StoreFixtures,
)
from custrec.testing._support import audit_entry, consent, history_entry, minutes, reading, writing


def _assert_append_only(table: object) -> None:
    for name in ("update", "delete", "remove", "truncate"):
        assert not hasattr(table, name), f"{type(table).__name__} must not offer {name}()"


class ConsentTableContract(_StoreFixtures):
    """``session.consents``: an append-only ledger numbered per customer."""

    def test_append_assigns_sequence_numbers_per_customer(self, store: Store) -> None:
        a, b = new_id(), new_id()
        with writing(store) as s:
            assert [s.consents.append(consent(a)) for _ in range(3)] == [1, 2, 3]
            assert s.consents.append(consent(b)) == 1
        with writing(store) as s:
            assert s.consents.append(consent(a)) == 4

    def test_consents_append_ignores_the_given_seq(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            assert s.consents.append(consent(owner, seq=77)) == 1
        with reading(store) as s:
            assert [r.seq for r in s.consents.list_for(owner)] == [1]

    def test_consents_list_for_round_trips_every_field(self, store: Store) -> None:
        owner = new_id()
        first = consent(owner, payload=bytes(range(256)), recorded_at=minutes(0))
        second = consent(owner, action="withdraw", purpose="profiling", payload=b"")
        with writing(store) as s:
            s.consents.append(first)
            s.consents.append(second)
        with reading(store) as s:
            got = s.consents.list_for(owner)
        assert got == [attrs.evolve(first, seq=1), attrs.evolve(second, seq=2)]
        assert type(got[0].payload) is bytes
        assert _is_utc(got[0].recorded_at)

    def test_list_for_after_seq_returns_later_events(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            for action in ("grant", "withdraw", "grant"):
                s.consents.append(consent(owner, action=action))
        with reading(store) as s:
            assert [r.seq for r in s.consents.list_for(owner, after_seq=1)] == [2, 3]
            assert s.consents.list_for(owner, after_seq=3) == []
            assert s.consents.list_for(new_id()) == []

    def test_consents_table_offers_no_update_or_delete(self, store: Store) -> None:
        with reading(store) as s:
            _assert_append_only(s.consents)

    def test_consents_rolled_back_append_leaves_nothing(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.consents.append(consent(owner))
        with store.transaction() as s:
            s.consents.append(consent(owner))
            s.consents.append(consent(owner))
            s.rollback()
        with writing(store) as s:
            assert s.consents.append(consent(owner)) == 2
            assert [r.seq for r in s.consents.list_for(owner)] == [1, 2]

    def test_reassign_copies_events_to_end_of_target_and_keeps_source(self, store: Store) -> None:
        source, target = new_id(), new_id()
        events = [consent(source, action="grant"), consent(source, action="withdraw")]
        existing = consent(target, purpose="analytics")
        with writing(store) as s:
            for event in events:
                s.consents.append(event)
            s.consents.append(existing)
        with writing(store) as s:
            assert s.consents.reassign(source, target) == 2
        with reading(store) as s:
            assert s.consents.list_for(source) == [
                attrs.evolve(e, seq=i) for i, e in enumerate(events, 1)
            ]
            assert s.consents.list_for(target) == [
                attrs.evolve(existing, seq=1),
                attrs.evolve(events[0], customer_id=target, seq=2),
                attrs.evolve(events[1], customer_id=target, seq=3),
            ]

    def test_reassign_of_customer_without_events_returns_zero(self, store: Store) -> None:
        with writing(store) as s:
            assert s.consents.reassign(new_id(), new_id()) == 0

    def test_append_with_naive_recorded_at_raises_value_error(self, store: Store) -> None:
        with store.transaction() as s, _invalid_argument():
            s.consents.append(consent(new_id(), recorded_at=datetime(2024, 1, 1)))


class HistoryTableContract(_StoreFixtures):
    """``session.history``: append-only change history numbered per customer."""

    def test_append_returns_sequence_numbers_per_customer(self, store: Store) -> None:
        a, b = new_id(), new_id()
        with writing(store) as s:
            assert s.history.append([history_entry(a), history_entry(b), history_entry(a)]) == [
                1,
                1,
                2,
            ]
            assert s.history.append([]) == []
        with writing(store) as s:
            assert s.history.append([history_entry(a)]) == [3]

    def test_history_append_ignores_the_given_seq(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            assert s.history.append([history_entry(owner, seq=9)]) == [1]

    def test_history_list_for_round_trips_every_field(self, store: Store) -> None:
        owner = new_id()
        entries = [
            history_entry(owner, payload=bytes(range(256)), at=minutes(0)),
            history_entry(owner, action="grade", path="grade", reason=None, payload=b""),
        ]
        with writing(store) as s:
            s.history.append(entries)
        with reading(store) as s:
            got = s.history.list_for(owner)
        assert got == [attrs.evolve(e, seq=i) for i, e in enumerate(entries, 1)]
        assert type(got[0].payload) is bytes
        assert _is_utc(got[0].at)

    def test_list_for_after_seq_returns_later_entries(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.history.append([history_entry(owner) for _ in range(3)])
        with reading(store) as s:
            assert [r.seq for r in s.history.list_for(owner, after_seq=2)] == [3]
            assert s.history.list_for(new_id()) == []

    def test_history_failed_append_writes_none_of_the_entries(self, store: Store) -> None:
        owner = new_id()
        batch = [history_entry(owner), history_entry(owner, at=datetime(2024, 1, 1))]
        with store.transaction() as s:
            with _invalid_argument():
                s.history.append(batch)
            assert s.history.list_for(owner) == []

    def test_history_rolled_back_append_leaves_nothing(self, store: Store) -> None:
        owner = new_id()
        with store.transaction() as s:
            s.history.append([history_entry(owner) for _ in range(3)])
        with writing(store) as s:
            assert s.history.append([history_entry(owner)]) == [1]

    def test_history_table_offers_no_update_or_delete(self, store: Store) -> None:
        with reading(store) as s:
            _assert_append_only(s.history)


class AuditTableContract(_StoreFixtures):
    """``session.audit``: the append-only audit log with one global sequence."""

    def test_append_returns_global_sequence_numbers(self, store: Store) -> None:
        a, b = new_id(), new_id()
        with writing(store) as s:
            assert s.audit.append([audit_entry(a), audit_entry(b)]) == [1, 2]
            assert s.audit.append([audit_entry(None)]) == [3]
            assert s.audit.append([]) == []
        with writing(store) as s:
            assert s.audit.append([audit_entry(a)]) == [4]

    def test_audit_append_ignores_the_given_seq(self, store: Store) -> None:
        with writing(store) as s:
            assert s.audit.append([audit_entry(seq=50)]) == [1]

    def test_read_round_trips_every_field(self, store: Store) -> None:
        entries = [
            audit_entry(new_id(), chain=bytes(range(32)), fields=("b", "a")),
            audit_entry(None, fields=(), reason=None, outcome="denied", chain=b""),
            audit_entry(new_id(), actor_id="custrec:retention", on_behalf_of="staff-7"),
        ]
        with writing(store) as s:
            s.audit.append(entries)
        with reading(store) as s:
            got = s.audit.read()
        assert got == [attrs.evolve(e, seq=i) for i, e in enumerate(entries, 1)]
        assert type(got[0].chain) is bytes
        assert got[0].fields == ("b", "a")
        assert _is_utc(got[0].at)

    def test_last_of_empty_log_is_none(self, store: Store) -> None:
        with reading(store) as s:
            assert s.audit.last() is None
            assert s.audit.read() == []

    def test_last_returns_the_highest_sequence_number(self, store: Store) -> None:
        entries = [audit_entry(action=f"step-{i}") for i in range(3)]
        with writing(store) as s:
            s.audit.append(entries)
        with reading(store) as s:
            assert s.audit.last() == attrs.evolve(entries[-1], seq=3)

    @pytest.fixture
    def audit_log(self, store: Store) -> dict[str, str]:
        """Four entries by two actors about two customers, one minute apart."""
        a, b = _ordered_ids(2)
        with writing(store) as s:
            s.audit.append(
                [
                    audit_entry(a, actor_id="u1", at=minutes(0)),
                    audit_entry(b, actor_id="u2", at=minutes(1)),
                    audit_entry(b, actor_id="u1", at=minutes(2)),
                    audit_entry(None, actor_id="u1", at=minutes(3)),
                ]
            )
        return {"a": a, "b": b}

    @staticmethod
    def _seqs(store: Store, **filters: Any) -> list[int]:
        with reading(store) as s:
            return [r.seq for r in s.audit.read(**filters)]

    def test_read_filters_by_customer(self, store: Store, audit_log: dict[str, str]) -> None:
        assert self._seqs(store, customer_id=audit_log["b"]) == [2, 3]

    def test_read_filters_by_actor(self, store: Store, audit_log: dict[str, str]) -> None:
        assert self._seqs(store, actor_id="u1") == [1, 3, 4]

    def test_read_since_is_inclusive(self, store: Store, audit_log: dict[str, str]) -> None:
        assert self._seqs(store, since=minutes(1)) == [2, 3, 4]

    def test_read_until_is_exclusive(self, store: Store, audit_log: dict[str, str]) -> None:
        assert self._seqs(store, until=minutes(2)) == [1, 2]

    def test_read_compares_instants_across_time_zones(
        self, store: Store, audit_log: dict[str, str]
    ) -> None:
        window = {"since": minutes(1).astimezone(_CST), "until": minutes(3).astimezone(_CST)}
        assert self._seqs(store, **window) == [2, 3]

    def test_read_after_seq_and_limit_page_in_sequence_order(
        self, store: Store, audit_log: dict[str, str]
    ) -> None:
        assert self._seqs(store, after_seq=2) == [3, 4]
        assert self._seqs(store, limit=2) == [1, 2]
        assert self._seqs(store, after_seq=1, limit=2) == [2, 3]
        assert self._seqs(store, after_seq=4) == []

    def test_read_combines_filters_before_limiting(
        self, store: Store, audit_log: dict[str, str]
    ) -> None:
        assert self._seqs(store, actor_id="u1", after_seq=1, limit=1) == [3]
        assert self._seqs(store, actor_id="u1", customer_id=audit_log["b"], since=minutes(2)) == [3]

    def test_read_newest_first_returns_descending_sequence_numbers(
        self, store: Store, audit_log: dict[str, str]
    ) -> None:
        assert self._seqs(store, newest_first=True) == [4, 3, 2, 1]
        assert self._seqs(store, newest_first=True, limit=2) == [4, 3]
        assert self._seqs(store, newest_first=True, actor_id="u1", limit=2) == [4, 3]
        assert self._seqs(store, newest_first=True, customer_id=audit_log["b"]) == [3, 2]

    def test_read_before_seq_is_exclusive_and_pages_backwards(
        self, store: Store, audit_log: dict[str, str]
    ) -> None:
        assert self._seqs(store, before_seq=3) == [1, 2]
        assert self._seqs(store, newest_first=True, before_seq=4, limit=2) == [3, 2]
        assert self._seqs(store, newest_first=True, before_seq=2, limit=2) == [1]
        assert self._seqs(store, newest_first=True, before_seq=1) == []
        assert self._seqs(store, after_seq=1, before_seq=4) == [2, 3]
        assert self._seqs(store, newest_first=True, actor_id="u1", before_seq=4) == [3, 1]

    @pytest.mark.parametrize("limit", [0, -1])
    def test_read_with_non_positive_limit_raises_value_error(
        self, store: Store, limit: int
    ) -> None:
        with reading(store) as s, pytest.raises(ValueError, match="limit"):
            s.audit.read(limit=limit)

    @pytest.mark.parametrize("bound", ["since", "until"])
    def test_read_with_naive_bound_raises_value_error(
        self, store: Store, audit_log: dict[str, str], bound: str
    ) -> None:
        naive: dict[str, Any] = {bound: datetime(2024, 1, 1, 12, 0)}
        with reading(store) as s, _invalid_argument():
            s.audit.read(**naive)

    def test_audit_failed_append_writes_none_of_the_entries(self, store: Store) -> None:
        with store.transaction() as s:
            with _invalid_argument():
                s.audit.append([audit_entry(), audit_entry(at=datetime(2024, 1, 1))])
            assert s.audit.last() is None

    def test_rolled_back_append_leaves_no_gap_in_the_sequence(self, store: Store) -> None:
        with writing(store) as s:
            s.audit.append([audit_entry()])
        with store.transaction() as s:
            s.audit.append([audit_entry(), audit_entry()])
        with writing(store) as s:
            assert s.audit.append([audit_entry()]) == [2]
        assert self._seqs(store) == [1, 2]

    def test_audit_table_offers_no_update_or_delete(self, store: Store) -> None:
        with reading(store) as s:
            _assert_append_only(s.audit)
