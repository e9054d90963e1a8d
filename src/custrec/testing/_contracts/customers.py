"""``session.customers``: the customer table contract (private; see
:mod:`custrec.testing.contracts`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.errors import DuplicateKey, NotFound, VersionConflict
from custrec.model.ids import new_id
from custrec.storage.protocols import Session, Store
from custrec.storage.types import CustomerFilter, CustomerRow
from custrec.testing import strategies
from custrec.testing._contracts.common import (
    _CST,
    _committed,
    _invalid_argument,
    _is_utc,
    _ordered_ids,
    _StoreFixtures,
    kit_settings,
)
from custrec.testing._support import customer, minutes, reading, writing


class CustomerTableContract(_StoreFixtures):
    """``session.customers``: versions, compare-and-set, index keys, filters, keyset pages."""

    def test_add_returns_version_one(self, store: Store) -> None:
        with writing(store) as s:
            assert s.customers.add(customer()) == 1

    def test_add_ignores_the_given_version(self, store: Store) -> None:
        row = customer(version=42)
        with writing(store) as s:
            assert s.customers.add(row) == 1
        with reading(store) as s:
            assert s.customers.get(row.id).version == 1

    def test_customers_get_round_trips_every_field(self, store: Store) -> None:
        row = customer(
            payload=bytes(range(256)),
            index_keys={"email:0f3a", "phone:9c1d", "uscc:77aa"},
            kind="organization",
            stage="active",
            state="archived",
            owner="staff-7",
            team="east",
            grade="A",
            tags=("zeta", "alpha", "重点"),
            created_at=datetime(2021, 5, 6, 7, 8, 9, 999_999, tzinfo=UTC),
            updated_at=datetime(2023, 1, 2, 3, 4, 5, 1, tzinfo=UTC),
        )
        with writing(store) as s:
            s.customers.add(row)
        with reading(store) as s:
            got = s.customers.get(row.id)
        assert got == attrs.evolve(row, version=1)
        assert type(got.payload) is bytes
        assert got.tags == ("zeta", "alpha", "重点")
        assert _is_utc(got.created_at) and _is_utc(got.updated_at)

    def test_get_round_trips_rows_without_optional_facets(self, store: Store) -> None:
        row = customer(payload=b"", index_keys=(), owner=None, team=None, grade=None, tags=())
        with writing(store) as s:
            s.customers.add(row)
        with reading(store) as s:
            assert s.customers.get(row.id) == attrs.evolve(row, version=1)

    def test_round_trip_keeps_the_instant_of_non_utc_datetimes(self, store: Store) -> None:
        local = datetime(2024, 2, 29, 23, 59, 59, 500_000, tzinfo=_CST)
        row = customer(created_at=local, updated_at=local)
        with writing(store) as s:
            s.customers.add(row)
        with reading(store) as s:
            got = s.customers.get(row.id)
        assert got.created_at == local and got.updated_at == local
        assert got.created_at.tzinfo is not None

    def test_generated_rows_round_trip(self, store: Store) -> None:
        @kit_settings(25)
        @given(row=strategies.customer_rows(customer_ids=st.builds(new_id)))
        def check(row: CustomerRow) -> None:
            with writing(store) as s:
                assert s.customers.add(row) == 1
            with reading(store) as s:
                assert s.customers.get(row.id) == attrs.evolve(row, version=1)

        check()

    def test_customers_add_of_existing_id_raises_duplicate_key(self, store: Store) -> None:
        row = customer()
        with writing(store) as s:
            s.customers.add(row)
        with pytest.raises(DuplicateKey), store.transaction() as s:
            s.customers.add(customer(row.id, payload=b"other"))
        with reading(store) as s:
            assert s.customers.get(row.id) == attrs.evolve(row, version=1)

    def test_customers_get_of_missing_id_raises_not_found(self, store: Store) -> None:
        with reading(store) as s, pytest.raises(NotFound):
            s.customers.get(new_id())

    def test_customers_update_of_missing_id_raises_not_found(self, store: Store) -> None:
        with store.transaction() as s, pytest.raises(NotFound):
            s.customers.update(customer(), expected_version=1)

    def test_delete_of_missing_id_raises_not_found(self, store: Store) -> None:
        with store.transaction() as s, pytest.raises(NotFound):
            s.customers.delete(new_id(), expected_version=1)

    def test_update_with_current_version_returns_next_version(self, store: Store) -> None:
        row = customer()
        with writing(store) as s:
            s.customers.add(row)
        with writing(store) as s:
            assert s.customers.update(row, expected_version=1) == 2
        with writing(store) as s:
            assert s.customers.update(row, expected_version=2) == 3
        with reading(store) as s:
            assert s.customers.get(row.id).version == 3

    def test_update_ignores_the_given_version(self, store: Store) -> None:
        row = customer()
        with writing(store) as s:
            s.customers.add(row)
        with writing(store) as s:
            assert s.customers.update(attrs.evolve(row, version=99), expected_version=1) == 2
        with reading(store) as s:
            assert s.customers.get(row.id).version == 2

    def test_update_replaces_payload_index_keys_facets_and_tags(self, store: Store) -> None:
        row = customer()
        changed = customer(
            row.id,
            payload=b"new sealed payload",
            index_keys={"email:new"},
            kind="organization",
            stage="churned",
            owner=None,
            team="west",
            grade="D",
            tags=("lost", "vip"),
            updated_at=minutes(90),
        )
        with writing(store) as s:
            s.customers.add(row)
        with writing(store) as s:
            s.customers.update(changed, expected_version=1)
        with reading(store) as s:
            assert s.customers.get(row.id) == attrs.evolve(changed, version=2)

    def test_update_keeps_created_at(self, store: Store) -> None:
        row = customer(created_at=minutes(0))
        with writing(store) as s:
            s.customers.add(row)
        with writing(store) as s:
            s.customers.update(
                attrs.evolve(row, created_at=minutes(500), updated_at=minutes(600)),
                expected_version=1,
            )
        with reading(store) as s:
            got = s.customers.get(row.id)
        assert got.created_at == minutes(0)
        assert got.updated_at == minutes(600)

    def test_update_with_stale_version_raises_version_conflict(self, store: Store) -> None:
        row = customer()
        with writing(store) as s:
            s.customers.add(row)
            s.customers.update(row, expected_version=1)
        with pytest.raises(VersionConflict) as excinfo, store.transaction() as s:
            s.customers.update(customer(row.id, payload=b"lost"), expected_version=1)
        assert excinfo.value.expected == 1
        with reading(store) as s:
            assert s.customers.get(row.id) == attrs.evolve(row, version=2)

    def test_update_with_future_version_raises_version_conflict(self, store: Store) -> None:
        row = customer()
        with writing(store) as s:
            s.customers.add(row)
        with pytest.raises(VersionConflict), store.transaction() as s:
            s.customers.update(row, expected_version=2)

    def test_delete_with_stale_version_raises_version_conflict(self, store: Store) -> None:
        row = customer()
        with writing(store) as s:
            s.customers.add(row)
            s.customers.update(row, expected_version=1)
        with pytest.raises(VersionConflict), store.transaction() as s:
            s.customers.delete(row.id, expected_version=1)
        with reading(store) as s:
            assert s.customers.get(row.id).version == 2

    def test_delete_with_current_version_removes_the_row(self, store: Store) -> None:
        row = customer()
        with writing(store) as s:
            s.customers.add(row)
        with writing(store) as s:
            s.customers.delete(row.id, expected_version=1)
        with reading(store) as s:
            with pytest.raises(NotFound):
                s.customers.get(row.id)
            assert s.customers.count() == 0

    def test_lookup_returns_ids_carrying_the_key_ordered_by_id(self, store: Store) -> None:
        a, b, c = _ordered_ids(3)
        with writing(store) as s:
            s.customers.add(customer(c, index_keys={"shared", "c-only"}))
            s.customers.add(customer(a, index_keys={"shared"}))
            s.customers.add(customer(b, index_keys={"other"}))
        with reading(store) as s:
            assert s.customers.lookup("shared") == [a, c]
            assert s.customers.lookup("c-only") == [c]

    def test_lookup_of_unknown_key_returns_empty_list(self, store: Store) -> None:
        with writing(store) as s:
            s.customers.add(customer())
        with reading(store) as s:
            assert s.customers.lookup("nobody-has-this") == []

    def test_lookup_many_returns_only_keys_that_match(self, store: Store) -> None:
        a, b, c = _ordered_ids(3)
        with writing(store) as s:
            s.customers.add(customer(b, index_keys={"k1", "k2"}))
            s.customers.add(customer(a, index_keys={"k1"}))
            s.customers.add(customer(c, index_keys={"k3"}))
        with reading(store) as s:
            found = s.customers.lookup_many(["k1", "k2", "missing", "k1"])
        assert found == {"k1": [a, b], "k2": [b]}

    @staticmethod
    def _shared_keys(store: Store) -> list[str]:
        """Store five customers (out of id order) under "all5", "3of5", "pair" and "solo".

        Return their ids in id order; "all5" names all of them, "3of5" ids 1, 2 and 4, "pair"
        ids 3 and 4, "solo" id 2.
        """
        ids = _ordered_ids(5)
        keys: dict[int, set[str]] = {
            0: {"all5"},
            1: {"all5", "3of5"},
            2: {"all5", "3of5", "solo"},
            3: {"all5", "pair"},
            4: {"all5", "3of5", "pair"},
        }
        with writing(store) as s:
            for n in (3, 0, 4, 2, 1):  # insertion order differs from id order
                s.customers.add(customer(ids[n], index_keys=keys[n]))
        return ids

    def test_lookup_many_with_limit_caps_each_key_and_keeps_short_lists_whole(
        self, store: Store
    ) -> None:
        a, b, c, d, e = self._shared_keys(store)
        with reading(store) as s:
            found = s.customers.lookup_many(["all5", "3of5", "pair", "solo", "missing"], limit=2)
            again = s.customers.lookup_many(["all5", "3of5", "pair", "solo", "missing"], limit=2)
        assert found == again  # the same choice on every call
        assert found["pair"] == [d, e] and found["solo"] == [c]
        for key, everyone in (("all5", [a, b, c, d, e]), ("3of5", [b, c, e])):
            assert len(found[key]) == 2
            assert found[key] == sorted(found[key]) and set(found[key]) <= set(everyone)

    def test_lookup_many_with_limit_one_returns_one_id_per_key(self, store: Store) -> None:
        a, b, c, d, e = self._shared_keys(store)
        with reading(store) as s:
            found = s.customers.lookup_many(["pair", "all5", "3of5", "solo"], limit=1)
        assert found["solo"] == [c]
        assert found["pair"][0] in (d, e) and found["3of5"][0] in (b, c, e)
        assert found["all5"][0] in (a, b, c, d, e)
        assert all(len(v) == 1 for v in found.values())

    @pytest.mark.parametrize("limit", [5, 6, 1000, 2**63])
    def test_lookup_many_with_limit_at_least_the_matches_returns_them_all(
        self, store: Store, limit: int
    ) -> None:
        ids = self._shared_keys(store)
        with reading(store) as s:
            found = s.customers.lookup_many(["all5", "pair"], limit=limit)
        assert found == {"all5": ids, "pair": ids[3:]}

    def test_lookup_many_with_limit_takes_repeated_keys_once(self, store: Store) -> None:
        _, _, c, _, _ = self._shared_keys(store)
        with reading(store) as s:
            found = s.customers.lookup_many(iter(["all5", "solo", "all5", "solo"]), limit=3)
        assert found.keys() == {"all5", "solo"}
        assert len(found["all5"]) == 3 and found["solo"] == [c]

    def test_lookup_many_with_limit_omits_keys_without_matches(self, store: Store) -> None:
        self._shared_keys(store)
        with reading(store) as s:
            assert s.customers.lookup_many(["missing", "also-missing"], limit=3) == {}
            assert s.customers.lookup_many([], limit=3) == {}
            assert s.customers.lookup_many([]) == {}

    @pytest.mark.parametrize("limit", [0, -1, True, False, 2.0, "2"])
    @pytest.mark.parametrize("keys", [["all5"], []], ids=["keys", "no-keys"])
    def test_lookup_many_with_invalid_limit_raises_value_error(
        self, store: Store, keys: list[str], limit: Any
    ) -> None:
        self._shared_keys(store)  # rows to match, so the limit would be applied
        with reading(store) as s, pytest.raises(ValueError, match="limit"):
            s.customers.lookup_many(keys, limit=limit)

    def test_lookup_many_with_limit_truncates_the_unlimited_answer(self, store: Store) -> None:
        @kit_settings(25)
        @given(
            key_sets=st.lists(st.frozensets(st.integers(0, 3), max_size=4), min_size=1, max_size=7),
            data=st.data(),
            limit=st.integers(1, 8),
        )
        def check(key_sets: list[frozenset[int]], data: st.DataObject, limit: int) -> None:
            namespace = new_id()
            keys = [f"{namespace}:k{n}" for n in range(4)]
            ids = _ordered_ids(len(key_sets))
            order = data.draw(st.permutations(range(len(ids))), label="insertion order")
            with writing(store) as s:
                for n in order:
                    s.customers.add(customer(ids[n], index_keys={keys[k] for k in key_sets[n]}))
            asked = [*keys, f"{namespace}:missing", keys[0]]
            with reading(store) as s:
                everything = s.customers.lookup_many(asked)
                capped = s.customers.lookup_many(asked, limit=limit)
                singles = {k: s.customers.lookup(k) for k in keys}
            assert everything == {k: v for k, v in singles.items() if v}
            assert capped.keys() == everything.keys()
            for key, whole in everything.items():
                if len(whole) <= limit:
                    assert capped[key] == whole
                else:
                    assert len(capped[key]) == limit
                    assert capped[key] == sorted(capped[key]) and set(capped[key]) <= set(whole)

        check()

    def test_update_moves_index_keys(self, store: Store) -> None:
        row = customer(index_keys={"old", "kept"})
        with writing(store) as s:
            s.customers.add(row)
        with writing(store) as s:
            s.customers.update(attrs.evolve(row, index_keys={"kept", "new"}), expected_version=1)
        with reading(store) as s:
            assert s.customers.lookup("old") == []
            assert s.customers.lookup("kept") == [row.id]
            assert s.customers.lookup("new") == [row.id]
            assert s.customers.lookup_many(["old", "new"]) == {"new": [row.id]}

    def test_delete_removes_index_keys(self, store: Store) -> None:
        row, keeper = customer(index_keys={"shared", "mine"}), customer(index_keys={"shared"})
        with writing(store) as s:
            s.customers.add(row)
            s.customers.add(keeper)
        with writing(store) as s:
            s.customers.delete(row.id, expected_version=1)
        with reading(store) as s:
            assert s.customers.lookup("mine") == []
            assert s.customers.lookup("shared") == [keeper.id]
            assert s.customers.lookup_many(["mine", "shared"]) == {"shared": [keeper.id]}

    def test_get_many_skips_missing_and_orders_by_id(self, store: Store) -> None:
        a, b, missing, c = _ordered_ids(4)
        with writing(store) as s:
            for customer_id in (c, a, b):
                s.customers.add(customer(customer_id))
        with reading(store) as s:
            rows = s.customers.get_many([c, missing, a])
            assert [r.id for r in rows] == [a, c]
            assert s.customers.get_many([]) == []
            assert s.customers.get_many(iter([b])) == [s.customers.get(b)]

    @pytest.mark.parametrize("single", ["a", b"a"], ids=["str", "bytes"])
    def test_get_many_and_lookup_many_refuse_a_single_text(
        self, store: Store, single: object
    ) -> None:
        # a str iterates as its characters: get_many("c-1") would look up "c", "-" and "1"
        with writing(store) as s:
            s.customers.add(customer("a", index_keys={"a"}))
        with reading(store) as s:
            with pytest.raises(TypeError, match="collection"):
                s.customers.get_many(single)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="collection"):
                s.customers.lookup_many(single)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("facet", "value"),
        [
            ("kind", "organization"),
            ("stage", "active"),
            ("state", "restricted"),
            ("owner", "staff-9"),
            ("team", "south"),
            ("grade", "A"),
        ],
    )
    def test_query_filters_by_each_facet(self, store: Store, facet: str, value: str) -> None:
        condition: dict[str, Any] = {facet: value}
        match = customer(**condition)
        others = [customer(), customer(owner=None, team=None, grade=None)]
        with writing(store) as s:
            for row in [*others, match]:
                s.customers.add(row)
        where = CustomerFilter(**condition)
        with reading(store) as s:
            assert [r.id for r in s.customers.query(where=where)] == [match.id]
            assert s.customers.count(where=where) == 1

    def test_rows_are_live_unless_a_state_is_given(self, store: Store) -> None:
        with writing(store) as s:
            s.customers.add(customer(state="live"))
        with reading(store) as s:
            assert [r.state for r in s.customers.query()] == ["live"]

    @pytest.mark.parametrize("state", ["archived", "restricted", "erased", "merged", "live"])
    def test_update_changes_the_state(self, store: Store, state: str) -> None:
        row = customer()
        with writing(store) as s:
            s.customers.add(row)
            s.customers.update(attrs.evolve(row, state=state), expected_version=1)
        with reading(store) as s:
            assert s.customers.get(row.id).state == state
            assert [r.id for r in s.customers.query(where=CustomerFilter(state=state))] == [row.id]

    def test_query_filters_by_tag(self, store: Store) -> None:
        a, b, c = _ordered_ids(3)
        with writing(store) as s:
            s.customers.add(customer(a, tags=("vip", "export")))
            s.customers.add(customer(b, tags=("export",)))
            s.customers.add(customer(c, tags=()))
        with reading(store) as s:
            assert [r.id for r in s.customers.query(where=CustomerFilter(tag="export"))] == [a, b]
            assert [r.id for r in s.customers.query(where=CustomerFilter(tag="vip"))] == [a]
            assert s.customers.query(where=CustomerFilter(tag="ex")) == []

    def test_query_updated_after_is_exclusive(self, store: Store) -> None:
        ids = _ordered_ids(3)
        with writing(store) as s:
            for i, customer_id in enumerate(ids):
                s.customers.add(customer(customer_id, updated_at=minutes(i)))
        where = CustomerFilter(updated_after=minutes(1))
        with reading(store) as s:
            assert [r.id for r in s.customers.query(where=where)] == [ids[2]]

    def test_query_updated_before_is_exclusive(self, store: Store) -> None:
        ids = _ordered_ids(3)
        with writing(store) as s:
            for i, customer_id in enumerate(ids):
                s.customers.add(customer(customer_id, updated_at=minutes(i)))
        where = CustomerFilter(updated_before=minutes(1))
        with reading(store) as s:
            assert [r.id for r in s.customers.query(where=where)] == [ids[0]]

    def test_query_compares_instants_across_time_zones(self, store: Store) -> None:
        ids = _ordered_ids(3)
        with writing(store) as s:
            for i, customer_id in enumerate(ids):
                s.customers.add(customer(customer_id, updated_at=minutes(i * 60)))
        where = CustomerFilter(
            updated_after=minutes(0).astimezone(_CST),
            updated_before=minutes(120).astimezone(_CST),
        )
        with reading(store) as s:
            assert [r.id for r in s.customers.query(where=where)] == [ids[1]]
            assert s.customers.count(where=where) == 1

    def test_query_combines_filters(self, store: Store) -> None:
        a, b, c, d = _ordered_ids(4)
        with writing(store) as s:
            s.customers.add(customer(a, stage="active", owner="u1", tags=("vip",)))
            s.customers.add(customer(b, stage="active", owner="u2", tags=("vip",)))
            s.customers.add(customer(c, stage="lead", owner="u1", tags=("vip",)))
            s.customers.add(customer(d, stage="active", owner="u1", tags=()))
        where = CustomerFilter(stage="active", owner="u1", tag="vip")
        with reading(store) as s:
            assert [r.id for r in s.customers.query(where=where)] == [a]
            assert s.customers.count(where=where) == 1

    def test_query_orders_by_id(self, store: Store) -> None:
        ids = _ordered_ids(5)
        with writing(store) as s:
            for customer_id in reversed(ids):
                s.customers.add(customer(customer_id))
        with reading(store) as s:
            assert [r.id for r in s.customers.query()] == ids

    def test_query_pages_by_after_cover_every_row_once(self, store: Store) -> None:
        ids = _ordered_ids(10)
        with writing(store) as s:
            for customer_id in ids[5:] + ids[:5]:
                s.customers.add(customer(customer_id))
        seen: list[str] = []
        after: str | None = None
        with reading(store) as s:
            while page := s.customers.query(after=after, limit=3):
                assert len(page) <= 3
                seen.extend(r.id for r in page)
                after = page[-1].id
        assert seen == ids

    def test_query_pages_of_a_filter_cover_every_match_once(self, store: Store) -> None:
        ids = _ordered_ids(9)
        with writing(store) as s:
            for i, customer_id in enumerate(ids):
                s.customers.add(customer(customer_id, grade="A" if i % 2 else "B"))
        where = CustomerFilter(grade="A")
        seen: list[str] = []
        after: str | None = None
        with reading(store) as s:
            while page := s.customers.query(where=where, after=after, limit=2):
                seen.extend(r.id for r in page)
                after = page[-1].id
        assert seen == ids[1::2]

    def test_query_after_the_last_id_is_empty(self, store: Store) -> None:
        ids = _ordered_ids(2)
        with writing(store) as s:
            for customer_id in ids:
                s.customers.add(customer(customer_id))
        with reading(store) as s:
            assert s.customers.query(after=ids[-1]) == []
            assert [r.id for r in s.customers.query(after=ids[0])] == [ids[1]]

    @pytest.mark.parametrize("limit", [0, -1])
    def test_query_with_non_positive_limit_raises_value_error(
        self, store: Store, limit: int
    ) -> None:
        with writing(store) as s:
            s.customers.add(customer())
        with reading(store) as s, pytest.raises(ValueError, match="limit"):
            s.customers.query(limit=limit)

    def test_count_with_and_without_filter(self, store: Store) -> None:
        with writing(store) as s:
            assert s.customers.count() == 0
            for stage in ("lead", "lead", "active"):
                s.customers.add(customer(stage=stage))
        with reading(store) as s:
            assert s.customers.count() == 3
            assert s.customers.count(where=CustomerFilter(stage="lead")) == 2
            assert s.customers.count(where=CustomerFilter(stage="archived")) == 0

    def test_customers_add_many_returns_number_inserted(self, store: Store) -> None:
        rows = [customer(i) for i in _ordered_ids(3)]
        with writing(store) as s:
            assert s.customers.add_many(rows) == 3
            assert s.customers.add_many([]) == 0
        with reading(store) as s:
            assert s.customers.get_many([r.id for r in rows]) == [
                attrs.evolve(r, version=1) for r in rows
            ]

    def test_customers_add_many_with_existing_id_raises_duplicate_key_and_leaves_nothing(
        self, store: Store
    ) -> None:
        existing = customer()
        new_rows = [customer(), customer()]
        with writing(store) as s:
            s.customers.add(existing)

        def import_batch(session: Session) -> None:
            session.customers.add(customer())  # an earlier write of the same unit of work
            session.customers.add_many([new_rows[0], customer(existing.id), new_rows[1]])

        with pytest.raises(DuplicateKey):
            _committed(store, import_batch)
        with reading(store) as s:
            assert s.customers.count() == 1
            assert s.customers.get(existing.id) == attrs.evolve(existing, version=1)

    def test_add_many_with_an_id_twice_raises_duplicate_key(self, store: Store) -> None:
        row = customer()
        with pytest.raises(DuplicateKey), store.transaction() as s:
            s.customers.add_many([row, customer(row.id, payload=b"again")])
        with reading(store) as s:
            assert s.customers.count() == 0

    def test_customers_add_many_skip_existing_inserts_only_new_rows(self, store: Store) -> None:
        existing = customer()
        fresh = [customer(), customer()]
        with writing(store) as s:
            s.customers.add(existing)
        with writing(store) as s:
            inserted = s.customers.add_many(
                [fresh[0], customer(existing.id, payload=b"ignored"), fresh[1]],
                skip_existing=True,
            )
            assert inserted == 2
        with writing(store) as s:  # re-running an interrupted import is idempotent
            assert s.customers.add_many([existing, *fresh], skip_existing=True) == 0
        with reading(store) as s:
            assert s.customers.count() == 3
            assert s.customers.get(existing.id) == attrs.evolve(existing, version=1)

    @pytest.mark.parametrize("field", ["created_at", "updated_at"])
    @pytest.mark.parametrize("method", ["add", "add_many", "update"])
    def test_naive_datetime_raises_value_error(self, store: Store, method: str, field: str) -> None:
        good = customer()
        with writing(store) as s:
            s.customers.add(good)
        naive: dict[str, Any] = {field: datetime(2024, 1, 1, 12, 0)}
        calls: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.customers.add(customer(**naive)),
            "add_many": lambda s: s.customers.add_many([customer(**naive)]),
            "update": lambda s: s.customers.update(attrs.evolve(good, **naive), expected_version=1),
        }
        with store.transaction() as s, _invalid_argument():
            calls[method](s)

    @pytest.mark.parametrize("field", ["updated_after", "updated_before"])
    @pytest.mark.parametrize("method", ["query", "count"])
    def test_naive_datetime_filter_raises_value_error(
        self, store: Store, method: str, field: str
    ) -> None:
        with writing(store) as s:
            s.customers.add(customer())  # a row to compare with, so the filter is applied
        naive: dict[str, Any] = {field: datetime(2024, 1, 1, 12, 0)}
        where = CustomerFilter(**naive)
        calls: dict[str, Callable[[Session], object]] = {
            "query": lambda s: s.customers.query(where=where),
            "count": lambda s: s.customers.count(where=where),
        }
        with reading(store) as s, _invalid_argument():
            calls[method](s)
