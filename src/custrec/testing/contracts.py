"""The conformance contracts: pytest test classes every storage backend must pass.

Subclass :class:`StoreContract` in a module pytest collects (``test_*.py``), name the subclass
``Test...`` and override the ``store`` fixture so that it yields a fresh, empty store and closes it
afterwards. Optionally override ``store_opener`` (a picklable zero-argument callable opening
another instance on the same database) to enable the cross-process race and the persistence
test. Contract classes are named ``...Contract``, so pytest never collects them on their own.

Each test checks one rule of :mod:`custrec.storage.protocols`; its name states the rule. Tests that
need an optional capability (:class:`~custrec.storage.types.Capabilities`) skip with a message
when the backend does not declare it.
"""

from __future__ import annotations

import functools
import multiprocessing
import pickle
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, ClassVar, Final

import attrs
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from custrec.errors import DuplicateKey, NotFound, StorageError, VersionConflict
from custrec.grading import ActivitySummary
from custrec.ids import new_id
from custrec.storage.protocols import Session, Store
from custrec.storage.types import CustomerFilter, CustomerRow
from custrec.testing import strategies
from custrec.testing._machine import assert_fresh, build_state_machine
from custrec.testing._support import (
    T0,
    activity,
    audit_entry,
    consent,
    customer,
    history_entry,
    increment_counter,
    interaction,
    minutes,
    race_worker,
    reading,
    wrapped_key,
    writing,
)

__all__ = [
    "ActivityTableContract",
    "ArgumentRulesContract",
    "AuditTableContract",
    "ConcurrencyContract",
    "ConsentTableContract",
    "CustomerTableContract",
    "HistoryTableContract",
    "KeyTableContract",
    "MetaTableContract",
    "StateMachineContract",
    "StoreContract",
    "UnitOfWorkContract",
    "kit_settings",
]

_CST: Final = timezone(timedelta(hours=8))  # China Standard Time, for instant comparisons
_ZERO: Final = timedelta(0)


def kit_settings(max_examples: int, **changes: Any) -> settings:
    """Hypothesis settings for the kit's property tests, bounded by the active profile.

    ``max_examples`` (and ``stateful_step_count`` when given) are capped by the loaded profile's
    values, so a fast profile (for example ``settings.register_profile("smoke",
    max_examples=5)``) shortens the kit. Deadlines are off (storage timing varies), and so is the
    ``explain`` phase: it replays a failing example hundreds of times against a store that grows
    with every run, which can take minutes, while the shrunk example already tells the story.
    """
    profile = settings.default
    phases = tuple(p for p in Phase if p is not Phase.explain)
    if profile is not None:
        max_examples = min(max_examples, profile.max_examples)
        phases = tuple(p for p in profile.phases if p is not Phase.explain)
        if "stateful_step_count" in changes:
            changes["stateful_step_count"] = min(
                changes["stateful_step_count"], profile.stateful_step_count
            )
    return settings(
        max_examples=max_examples,
        deadline=None,
        phases=phases,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
        ],
        **changes,
    )


def _invalid_argument() -> pytest.RaisesExc[ValueError]:
    """Expect ``ValueError``; the kit prescribes no message (messages are backend-specific)."""
    return pytest.raises(ValueError)  # noqa: PT011


def _committed(store: Store, work: Callable[[Session], object]) -> None:
    """Run ``work`` in a unit of work and commit it (the commit is skipped if ``work`` raises)."""
    with writing(store) as session:
        work(session)


@contextmanager
def _refused() -> Iterator[None]:
    """Expect a plain session refusal: ``StorageError``, not a not-found/duplicate/conflict."""
    with pytest.raises(StorageError) as excinfo:
        yield
    assert not isinstance(excinfo.value, NotFound | DuplicateKey | VersionConflict), (
        f"expected a session refusal, got {type(excinfo.value).__name__}: {excinfo.value}"
    )


def _is_utc(value: datetime | None) -> bool:
    return value is not None and value.tzinfo is not None and value.utcoffset() == _ZERO


def _summary(
    customer_id: str,
    *,
    first: datetime,
    last: datetime,
    count: int,
    total: str,
    currency: str = "CNY",
) -> ActivitySummary:
    return ActivitySummary(
        customer_id=customer_id,
        first_purchase_at=first,
        last_purchase_at=last,
        purchase_count=count,
        total_spent=Decimal(total),
        currency=currency,
    )


def _ordered_ids(n: int) -> list[str]:
    """``n`` fresh ids in increasing order (``new_id`` is monotonic within a process)."""
    return [new_id() for _ in range(n)]


class _StoreFixtures:
    """The fixtures a backend overrides: ``store`` (required) and ``store_opener`` (optional)."""

    @pytest.fixture
    def store(self) -> Store:
        """Yield a fresh, empty store and close it afterwards (override this)."""
        raise NotImplementedError(
            "override the store fixture in your StoreContract subclass: yield a fresh, empty "
            "store and close it afterwards"
        )

    @pytest.fixture
    def store_opener(self) -> Callable[[], Store]:
        """Return a picklable zero-argument callable opening the ``store`` database again."""
        raise NotImplementedError(
            "override the store_opener fixture to return a picklable zero-argument callable "
            "that opens another instance of the same database, e.g. "
            "functools.partial(SQLiteStore, path)"
        )

    @staticmethod
    def opener_or_skip(request: pytest.FixtureRequest) -> Callable[[], Store]:
        """Return the ``store_opener`` fixture's value, or skip the test when not provided."""
        try:
            opener: Callable[[], Store] = request.getfixturevalue("store_opener")
        except NotImplementedError as exc:
            pytest.skip(f"no store_opener fixture: {exc}")
        return opener


# ------------------------------------------------------------------------------------ customers


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

    def test_get_round_trips_every_field(self, store: Store) -> None:
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

    def test_add_of_existing_id_raises_duplicate_key(self, store: Store) -> None:
        row = customer()
        with writing(store) as s:
            s.customers.add(row)
        with pytest.raises(DuplicateKey), store.transaction() as s:
            s.customers.add(customer(row.id, payload=b"other"))
        with reading(store) as s:
            assert s.customers.get(row.id) == attrs.evolve(row, version=1)

    def test_get_of_missing_id_raises_not_found(self, store: Store) -> None:
        with reading(store) as s, pytest.raises(NotFound):
            s.customers.get(new_id())

    def test_update_of_missing_id_raises_not_found(self, store: Store) -> None:
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

    def test_add_many_returns_number_inserted(self, store: Store) -> None:
        rows = [customer(i) for i in _ordered_ids(3)]
        with writing(store) as s:
            assert s.customers.add_many(rows) == 3
            assert s.customers.add_many([]) == 0
        with reading(store) as s:
            assert s.customers.get_many([r.id for r in rows]) == [
                attrs.evolve(r, version=1) for r in rows
            ]

    def test_add_many_with_existing_id_raises_duplicate_key_and_leaves_nothing(
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

    def test_add_many_skip_existing_inserts_only_new_rows(self, store: Store) -> None:
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


# ----------------------------------------------------------------------------------- activities


class ActivityTableContract(_StoreFixtures):
    """``session.activities``: transactions and interactions, reassignment and summaries."""

    def test_list_for_round_trips_every_field(self, store: Store) -> None:
        owner = new_id()
        sale = activity(
            owner,
            amount=Decimal("1234.5678"),
            currency="USD",
            occurred_at=datetime(2022, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
            payload=bytes(range(256)),
        )
        call = interaction(owner, payload=b"")
        with writing(store) as s:
            s.activities.add(sale)
            s.activities.add(call)
        with reading(store) as s:
            got = s.activities.list_for(owner)
        assert got == [sale, call]
        assert type(got[0].payload) is bytes
        assert type(got[0].amount) is Decimal
        assert got[1].amount is None and got[1].currency is None
        assert _is_utc(got[0].occurred_at)

    def test_list_for_orders_by_id(self, store: Store) -> None:
        owner = new_id()
        ids = _ordered_ids(4)
        with writing(store) as s:
            for i, activity_id in enumerate(reversed(ids)):
                s.activities.add(activity(owner, activity_id, occurred_at=minutes(i)))
        with reading(store) as s:
            assert [a.id for a in s.activities.list_for(owner)] == ids

    def test_list_for_filters_by_kind(self, store: Store) -> None:
        owner = new_id()
        sale, call, refund = (
            activity(owner),
            interaction(owner),
            activity(owner, amount=Decimal(-5)),
        )
        with writing(store) as s:
            s.activities.add_many([sale, call, refund])
        with reading(store) as s:
            assert s.activities.list_for(owner, kind="transaction") == [sale, refund]
            assert s.activities.list_for(owner, kind="interaction") == [call]

    def test_list_for_pages_with_after_and_limit(self, store: Store) -> None:
        owner = new_id()
        rows = [activity(owner) for _ in range(5)]
        with writing(store) as s:
            s.activities.add_many(rows)
        with reading(store) as s:
            assert s.activities.list_for(owner, limit=2) == rows[:2]
            assert s.activities.list_for(owner, after=rows[1].id, limit=2) == rows[2:4]
            assert s.activities.list_for(owner, after=rows[4].id) == []

    def test_list_for_lists_only_that_customer(self, store: Store) -> None:
        mine, theirs = activity(new_id()), activity(new_id())
        with writing(store) as s:
            s.activities.add_many([mine, theirs])
        with reading(store) as s:
            assert s.activities.list_for(mine.customer_id) == [mine]
            assert s.activities.list_for(new_id()) == []

    @pytest.mark.parametrize("limit", [0, -1])
    def test_list_for_with_non_positive_limit_raises_value_error(
        self, store: Store, limit: int
    ) -> None:
        with reading(store) as s, pytest.raises(ValueError, match="limit"):
            s.activities.list_for(new_id(), limit=limit)

    def test_list_for_with_unknown_kind_raises_value_error(self, store: Store) -> None:
        with reading(store) as s, _invalid_argument():
            s.activities.list_for(new_id(), kind="purchase")

    def test_add_of_existing_id_raises_duplicate_key(self, store: Store) -> None:
        row = activity(new_id())
        with writing(store) as s:
            s.activities.add(row)
        with pytest.raises(DuplicateKey), store.transaction() as s:
            s.activities.add(activity(new_id(), row.id))
        with reading(store) as s:
            assert s.activities.list_for(row.customer_id) == [row]

    def test_add_with_unknown_kind_raises_value_error(self, store: Store) -> None:
        with store.transaction() as s, _invalid_argument():
            s.activities.add(activity(new_id(), kind="purchase"))

    def test_add_with_naive_occurred_at_raises_value_error(self, store: Store) -> None:
        with store.transaction() as s, _invalid_argument():
            s.activities.add(activity(new_id(), occurred_at=datetime(2024, 1, 1)))

    @pytest.mark.parametrize("method", ["add", "add_many"])
    def test_amount_with_more_than_four_decimal_places_raises_value_error(
        self, store: Store, method: str
    ) -> None:
        row = activity(new_id(), amount=Decimal("1.23456"))
        calls: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.activities.add(row),
            "add_many": lambda s: s.activities.add_many([row]),
        }
        with store.transaction() as s, _invalid_argument():
            calls[method](s)

    @pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity"])
    def test_amount_that_is_not_finite_raises_value_error(self, store: Store, amount: str) -> None:
        with store.transaction() as s, _invalid_argument():
            s.activities.add(activity(new_id(), amount=Decimal(amount)))

    @pytest.mark.parametrize("missing", ["amount", "currency"])
    def test_transaction_without_amount_or_currency_raises_value_error(
        self, store: Store, missing: str
    ) -> None:
        # Summaries sum amounts per currency; a transaction lacking either cannot be summarised.
        row = activity(new_id(), **{missing: None})
        with store.transaction() as s, _invalid_argument():
            s.activities.add(row)

    def test_amount_with_four_decimal_places_is_stored_exactly(self, store: Store) -> None:
        row = activity(new_id(), amount=Decimal("-0.0001"))
        with writing(store) as s:
            s.activities.add(row)
        with reading(store) as s:
            assert s.activities.list_for(row.customer_id)[0].amount == Decimal("-0.0001")

    def test_add_many_returns_number_inserted(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            assert s.activities.add_many([activity(owner), interaction(owner)]) == 2
            assert s.activities.add_many([]) == 0

    def test_add_many_with_existing_id_raises_duplicate_key_and_leaves_nothing(
        self, store: Store
    ) -> None:
        owner = new_id()
        existing = activity(owner)
        with writing(store) as s:
            s.activities.add(existing)
        with pytest.raises(DuplicateKey):
            _committed(
                store, lambda s: s.activities.add_many([activity(owner), existing, activity(owner)])
            )
        with reading(store) as s:
            assert s.activities.list_for(owner) == [existing]

    def test_add_many_skip_existing_inserts_only_new_rows(self, store: Store) -> None:
        owner = new_id()
        existing, fresh = activity(owner), activity(owner)
        with writing(store) as s:
            s.activities.add(existing)
        with writing(store) as s:
            changed = attrs.evolve(existing, amount=Decimal(999))
            assert s.activities.add_many([changed, fresh], skip_existing=True) == 1
        with reading(store) as s:
            assert s.activities.list_for(owner) == [existing, fresh]

    def test_reassign_moves_every_activity_and_returns_count(self, store: Store) -> None:
        source, target = new_id(), new_id()
        moved = [activity(source), interaction(source)]
        kept = activity(target)
        with writing(store) as s:
            s.activities.add_many([*moved, kept])
        with writing(store) as s:
            assert s.activities.reassign(source, target) == 2
        with reading(store) as s:
            assert s.activities.list_for(source) == []
            assert s.activities.list_for(target) == sorted(
                [kept, *(attrs.evolve(a, customer_id=target) for a in moved)],
                key=lambda a: a.id,
            )

    def test_reassign_of_customer_without_activities_returns_zero(self, store: Store) -> None:
        with writing(store) as s:
            assert s.activities.reassign(new_id(), new_id()) == 0

    def test_summaries_sum_amounts_exactly(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, amount=Decimal("0.1"), occurred_at=minutes(0)))
            s.activities.add(activity(owner, amount=Decimal("0.2"), occurred_at=minutes(1)))
        with reading(store) as s:
            (summary,) = s.activities.summaries(as_of=minutes(5))
        assert type(summary.total_spent) is Decimal
        assert summary.total_spent == Decimal("0.3")
        assert summary == _summary(owner, first=minutes(0), last=minutes(1), count=2, total="0.3")

    def test_summaries_count_refunds_and_subtract_them(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, amount=Decimal("100.00"), occurred_at=minutes(0)))
            s.activities.add(activity(owner, amount=Decimal("-30.50"), occurred_at=minutes(9)))
        with reading(store) as s:
            assert s.activities.summaries(as_of=minutes(10)) == [
                _summary(owner, first=minutes(0), last=minutes(9), count=2, total="69.50")
            ]

    def test_summaries_report_first_and_last_purchase(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            for offset in (30, 10, 20):  # stored out of time order
                s.activities.add(activity(owner, occurred_at=minutes(offset)))
        with reading(store) as s:
            (summary,) = s.activities.summaries(as_of=minutes(60))
        assert (summary.first_purchase_at, summary.last_purchase_at) == (minutes(10), minutes(30))
        assert summary.purchase_count == 3
        assert _is_utc(summary.first_purchase_at) and _is_utc(summary.last_purchase_at)

    def test_summaries_include_transactions_at_as_of(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, occurred_at=minutes(5)))
            s.activities.add(activity(owner, occurred_at=minutes(5) + timedelta(microseconds=1)))
        with reading(store) as s:
            (summary,) = s.activities.summaries(as_of=minutes(5))
        assert summary.purchase_count == 1
        assert summary.last_purchase_at == minutes(5)

    def test_summaries_omit_customers_whose_transactions_are_all_later(self, store: Store) -> None:
        with writing(store) as s:
            s.activities.add(activity(new_id(), occurred_at=minutes(10)))
        with reading(store) as s:
            assert s.activities.summaries(as_of=minutes(9)) == []

    def test_summaries_ignore_interactions(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, occurred_at=minutes(5)))
            s.activities.add(interaction(owner, occurred_at=minutes(1)))
            s.activities.add(interaction(owner, occurred_at=minutes(9)))
        with reading(store) as s:
            assert s.activities.summaries(as_of=minutes(10)) == [
                _summary(owner, first=minutes(5), last=minutes(5), count=1, total="10.00")
            ]

    def test_summaries_omit_customers_with_only_interactions(self, store: Store) -> None:
        with writing(store) as s:
            s.activities.add(interaction(new_id()))
        with reading(store) as s:
            assert s.activities.summaries(as_of=minutes(10)) == []

    def test_summaries_give_one_row_per_currency_ordered_by_currency(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, currency="USD", amount=Decimal(5)))
            s.activities.add(activity(owner, currency="CNY", amount=Decimal(7)))
            s.activities.add(activity(owner, currency="USD", amount=Decimal(1)))
        with reading(store) as s:
            assert s.activities.summaries(as_of=minutes(1)) == [
                _summary(owner, first=minutes(0), last=minutes(0), count=1, total="7"),
                _summary(
                    owner, first=minutes(0), last=minutes(0), count=2, total="6", currency="USD"
                ),
            ]

    def test_summaries_order_by_customer_then_currency(self, store: Store) -> None:
        a, b, c = _ordered_ids(3)
        with writing(store) as s:
            for owner, currency in ((c, "CNY"), (a, "USD"), (b, "CNY"), (a, "CNY")):
                s.activities.add(activity(owner, currency=currency))
        with reading(store) as s:
            keys = [(x.customer_id, x.currency) for x in s.activities.summaries(as_of=minutes(1))]
        assert keys == [(a, "CNY"), (a, "USD"), (b, "CNY"), (c, "CNY")]

    def test_summaries_page_by_customer_with_after_and_limit(self, store: Store) -> None:
        a, b, c = _ordered_ids(3)
        with writing(store) as s:
            for owner, currency in ((a, "CNY"), (a, "USD"), (b, "CNY"), (c, "EUR")):
                s.activities.add(activity(owner, currency=currency))
        with reading(store) as s:
            first = s.activities.summaries(as_of=minutes(1), limit=2)
            rest = s.activities.summaries(as_of=minutes(1), after=b, limit=2)
            middle = s.activities.summaries(as_of=minutes(1), after=a, limit=1)
        assert [(x.customer_id, x.currency) for x in first] == [(a, "CNY"), (a, "USD"), (b, "CNY")]
        assert [(x.customer_id, x.currency) for x in rest] == [(c, "EUR")]
        assert [(x.customer_id, x.currency) for x in middle] == [(b, "CNY")]

    def test_summaries_compare_as_of_across_time_zones(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, occurred_at=minutes(0)))
            s.activities.add(activity(owner, occurred_at=minutes(61)))
        with reading(store) as s:
            (summary,) = s.activities.summaries(as_of=minutes(60).astimezone(_CST))
        assert summary.purchase_count == 1

    def test_summaries_reflect_reassignment(self, store: Store) -> None:
        source, target = _ordered_ids(2)
        with writing(store) as s:
            s.activities.add(activity(source, amount=Decimal(3)))
            s.activities.add(activity(target, amount=Decimal(4)))
            s.activities.reassign(source, target)
        with reading(store) as s:
            assert s.activities.summaries(as_of=minutes(1)) == [
                _summary(target, first=minutes(0), last=minutes(0), count=2, total="7")
            ]

    def test_summaries_with_naive_as_of_raises_value_error(self, store: Store) -> None:
        with reading(store) as s, _invalid_argument():
            s.activities.summaries(as_of=datetime(2024, 1, 1))

    @pytest.mark.parametrize("limit", [0, -1])
    def test_summaries_with_non_positive_limit_raises_value_error(
        self, store: Store, limit: int
    ) -> None:
        with reading(store) as s, pytest.raises(ValueError, match="limit"):
            s.activities.summaries(as_of=minutes(0), limit=limit)

    def test_summaries_of_generated_amounts_are_exact(self, store: Store) -> None:
        @kit_settings(25)
        @given(
            amounts=st.lists(strategies.amounts(), min_size=1, max_size=8),
            instants=st.lists(strategies.aware_datetimes(), min_size=8, max_size=8),
        )
        def check(amounts: list[Decimal], instants: list[datetime]) -> None:
            owner = new_id()
            rows = [
                activity(owner, amount=amount, occurred_at=instant, currency="EUR")
                for amount, instant in zip(amounts, instants, strict=False)
            ]
            with writing(store) as s:
                s.activities.add_many(rows)
            as_of = datetime(2100, 1, 2, tzinfo=UTC)
            with reading(store) as s:
                got = [x for x in s.activities.summaries(as_of=as_of) if x.customer_id == owner]
            assert got == [
                ActivitySummary(
                    customer_id=owner,
                    first_purchase_at=min(r.occurred_at for r in rows),
                    last_purchase_at=max(r.occurred_at for r in rows),
                    purchase_count=len(rows),
                    total_spent=sum(amounts, Decimal(0)),
                    currency="EUR",
                )
            ]

        check()


# ----------------------------------------------------------------------- append-only ledgers


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

    def test_append_ignores_the_given_seq(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            assert s.consents.append(consent(owner, seq=77)) == 1
        with reading(store) as s:
            assert [r.seq for r in s.consents.list_for(owner)] == [1]

    def test_list_for_round_trips_every_field(self, store: Store) -> None:
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

    def test_table_offers_no_update_or_delete(self, store: Store) -> None:
        with reading(store) as s:
            _assert_append_only(s.consents)

    def test_rolled_back_append_leaves_nothing(self, store: Store) -> None:
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

    def test_append_ignores_the_given_seq(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            assert s.history.append([history_entry(owner, seq=9)]) == [1]

    def test_list_for_round_trips_every_field(self, store: Store) -> None:
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

    def test_failed_append_writes_none_of_the_entries(self, store: Store) -> None:
        owner = new_id()
        batch = [history_entry(owner), history_entry(owner, at=datetime(2024, 1, 1))]
        with store.transaction() as s:
            with _invalid_argument():
                s.history.append(batch)
            assert s.history.list_for(owner) == []

    def test_rolled_back_append_leaves_nothing(self, store: Store) -> None:
        owner = new_id()
        with store.transaction() as s:
            s.history.append([history_entry(owner) for _ in range(3)])
        with writing(store) as s:
            assert s.history.append([history_entry(owner)]) == [1]

    def test_table_offers_no_update_or_delete(self, store: Store) -> None:
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

    def test_append_ignores_the_given_seq(self, store: Store) -> None:
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

    def test_failed_append_writes_none_of_the_entries(self, store: Store) -> None:
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

    def test_table_offers_no_update_or_delete(self, store: Store) -> None:
        with reading(store) as s:
            _assert_append_only(s.audit)


# ------------------------------------------------------------------------------------------ meta


class MetaTableContract(_StoreFixtures):
    """``session.meta``: a few named values about the store itself."""

    def test_get_of_a_missing_name_is_none(self, store: Store) -> None:
        with reading(store) as s:
            assert s.meta.get("custrec.keyring") is None

    def test_put_then_get_round_trips_the_bytes(self, store: Store) -> None:
        with writing(store) as s:
            s.meta.put("custrec.keyring", bytes(range(256)))
            s.meta.put("other", b"")
        with reading(store) as s:
            got = s.meta.get("custrec.keyring")
            assert got == bytes(range(256))
            assert type(got) is bytes
            assert s.meta.get("other") == b""

    def test_put_replaces_an_earlier_value(self, store: Store) -> None:
        with writing(store) as s:
            s.meta.put("head", b"one")
        with writing(store) as s:
            s.meta.put("head", b"two")
            assert s.meta.get("head") == b"two"
        with reading(store) as s:
            assert s.meta.get("head") == b"two"

    def test_rolled_back_put_leaves_the_old_value(self, store: Store) -> None:
        with writing(store) as s:
            s.meta.put("head", b"one")
        with store.transaction() as s:
            s.meta.put("head", b"two")
            s.meta.put("new", b"x")
        with reading(store) as s:
            assert s.meta.get("head") == b"one"
            assert s.meta.get("new") is None

    @pytest.mark.parametrize("name", ["", "a\x00b"])
    def test_invalid_names_raise_value_error(self, store: Store, name: str) -> None:
        with store.transaction() as s, _invalid_argument():
            s.meta.put(name, b"x")

    def test_readonly_session_refuses_put(self, store: Store) -> None:
        with reading(store) as s, _refused():
            s.meta.put("head", b"x")


# ------------------------------------------------------------------------------------------ keys


class KeyTableContract(_StoreFixtures):
    """``session.keys``: wrapped data keys, one per customer, deletable (crypto-shredding)."""

    def test_put_then_get_round_trips_every_field(self, store: Store) -> None:
        key = wrapped_key(new_id(), wrapped=bytes(range(256)))
        with writing(store) as s:
            s.keys.put(key)
        with reading(store) as s:
            got = s.keys.get(key.customer_id)
        assert got == key
        assert type(got.wrapped) is bytes
        assert _is_utc(got.created_at)

    def test_second_put_for_a_customer_raises_duplicate_key(self, store: Store) -> None:
        key = wrapped_key(new_id())
        with writing(store) as s:
            s.keys.put(key)
        with pytest.raises(DuplicateKey), store.transaction() as s:
            s.keys.put(attrs.evolve(key, wrapped=b"another"))
        with reading(store) as s:
            assert s.keys.get(key.customer_id) == key

    def test_put_many_stores_every_key(self, store: Store) -> None:
        keys = [wrapped_key(customer_id) for customer_id in _ordered_ids(3)]
        with writing(store) as s:
            s.keys.put_many(list(reversed(keys)))
            s.keys.put_many([])
        with reading(store) as s:
            assert s.keys.list() == keys
            assert [s.keys.get(k.customer_id) for k in keys] == keys

    def test_put_many_with_a_stored_key_raises_duplicate_key_and_leaves_nothing(
        self, store: Store
    ) -> None:
        stored = wrapped_key(new_id())
        earlier = wrapped_key(new_id())
        fresh = [wrapped_key(new_id()), wrapped_key(new_id())]
        with writing(store) as s:
            s.keys.put(stored)
        with store.transaction() as s:
            s.keys.put(earlier)  # an earlier write of the same unit of work
            with pytest.raises(DuplicateKey):
                s.keys.put_many([fresh[0], attrs.evolve(stored, wrapped=b"another"), fresh[1]])
            # the failed write left the session as it was: usable, the earlier write kept
            assert s.keys.list() == sorted([stored, earlier], key=lambda k: k.customer_id)
            s.commit()
        with reading(store) as s:
            assert s.keys.get(stored.customer_id) == stored
            assert s.keys.list() == sorted([stored, earlier], key=lambda k: k.customer_id)

    def test_put_many_with_a_customer_twice_raises_duplicate_key(self, store: Store) -> None:
        key = wrapped_key(new_id())
        with pytest.raises(DuplicateKey), store.transaction() as s:
            s.keys.put_many([key, attrs.evolve(key, wrapped=b"again")])
        with reading(store) as s:
            assert s.keys.list() == []

    def test_get_of_missing_key_raises_not_found(self, store: Store) -> None:
        with reading(store) as s, pytest.raises(NotFound):
            s.keys.get(new_id())

    def test_replace_overwrites_the_key(self, store: Store) -> None:
        key = wrapped_key(new_id())
        rotated = attrs.evolve(
            key, master_key_id="mk-2", wrapped=b"rewrapped", created_at=minutes(9)
        )
        with writing(store) as s:
            s.keys.put(key)
        with writing(store) as s:
            s.keys.replace(rotated)
        with reading(store) as s:
            assert s.keys.get(key.customer_id) == rotated

    @pytest.mark.parametrize("method", ["put", "put_many", "replace"])
    def test_naive_created_at_raises_value_error(self, store: Store, method: str) -> None:
        key = wrapped_key(new_id())
        with writing(store) as s:
            s.keys.put(key)
        naive = attrs.evolve(key, created_at=datetime(2024, 1, 1, 12, 0))
        other = wrapped_key(new_id())
        calls: dict[str, Callable[[Session], object]] = {
            "put": lambda s: s.keys.put(attrs.evolve(naive, customer_id=new_id())),
            "put_many": lambda s: s.keys.put_many(
                [other, attrs.evolve(naive, customer_id=new_id())]
            ),
            "replace": lambda s: s.keys.replace(naive),
        }
        with store.transaction() as s:
            with _invalid_argument():
                calls[method](s)
            assert s.keys.list() == [key]

    def test_replace_of_missing_key_raises_not_found(self, store: Store) -> None:
        with store.transaction() as s, pytest.raises(NotFound):
            s.keys.replace(wrapped_key(new_id()))

    def test_delete_returns_whether_a_key_existed(self, store: Store) -> None:
        key = wrapped_key(new_id())
        with writing(store) as s:
            s.keys.put(key)
        with writing(store) as s:
            assert s.keys.delete(key.customer_id) is True
            assert s.keys.delete(key.customer_id) is False
        with reading(store) as s, pytest.raises(NotFound):
            s.keys.get(key.customer_id)

    def test_list_orders_by_customer_id_and_pages_with_after(self, store: Store) -> None:
        ids = _ordered_ids(5)
        with writing(store) as s:
            for customer_id in reversed(ids):
                s.keys.put(wrapped_key(customer_id))
        with reading(store) as s:
            assert [k.customer_id for k in s.keys.list()] == ids
            assert [k.customer_id for k in s.keys.list(limit=2)] == ids[:2]
            assert [k.customer_id for k in s.keys.list(after=ids[1], limit=2)] == ids[2:4]
            assert s.keys.list(after=ids[-1]) == []

    @pytest.mark.parametrize("limit", [0, -1])
    def test_list_with_non_positive_limit_raises_value_error(
        self, store: Store, limit: int
    ) -> None:
        with reading(store) as s, pytest.raises(ValueError, match="limit"):
            s.keys.list(limit=limit)


# ------------------------------------------------------------------------------ argument rules

_NUL: Final = "a\x00b"
_INT64_MAX: Final = 2**63 - 1
_BEYOND_64_BITS: Final = (2**63, 2**64, 10**30)
_LARGEST_AMOUNT: Final = Decimal("922337203685477.5807")  # (2**63 - 1) / 10**4
_TOO_LARGE_AMOUNTS: Final = ("922337203685477.5808", "1e15", "1E+30")


class ArgumentRulesContract(_StoreFixtures):
    """The protocol's argument rules, alike on every backend.

    Text never holds NUL (``ValueError``, whatever the method, nothing written); amounts are
    ``Decimal`` below about 9.2e14 in magnitude (``ValueError`` beyond) and come back as
    ``Decimal``; sums beyond that range raise ``StorageError``; a ``limit`` beyond 64 bits means
    "no limit"; sequence numbers and versions beyond 64 bits are legal and match nothing stored.
    """

    @pytest.mark.parametrize(
        "field", ["id", "index_keys", "tags", "kind", "stage", "owner", "team", "grade"]
    )
    @pytest.mark.parametrize("method", ["add", "add_many", "update"])
    def test_nul_in_customer_text_raises_value_error(
        self, store: Store, method: str, field: str
    ) -> None:
        good = customer()
        with writing(store) as s:
            s.customers.add(good)
        value: Any = {_NUL} if field == "index_keys" else (_NUL,) if field == "tags" else _NUL
        bad = attrs.evolve(good if method == "update" else customer(), **{field: value})
        calls: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.customers.add(bad),
            "add_many": lambda s: s.customers.add_many([customer(), bad]),
            "update": lambda s: s.customers.update(bad, expected_version=1),
        }
        with store.transaction() as s:
            with _invalid_argument():
                calls[method](s)
            assert s.customers.count() == 1
            assert s.customers.get(good.id) == attrs.evolve(good, version=1)

    @pytest.mark.parametrize(
        "call",
        [
            "get",
            "get_many",
            "lookup",
            "lookup_many",
            "query_after",
            "query_where",
            "count_where",
            "delete",
        ],
    )
    def test_nul_in_customer_arguments_raises_value_error(self, store: Store, call: str) -> None:
        with writing(store) as s:
            s.customers.add(customer())
        calls: dict[str, Callable[[Session], object]] = {
            "get": lambda s: s.customers.get(_NUL),
            "get_many": lambda s: s.customers.get_many([new_id(), _NUL]),
            "lookup": lambda s: s.customers.lookup(_NUL),
            "lookup_many": lambda s: s.customers.lookup_many(["phone:1", _NUL]),
            "query_after": lambda s: s.customers.query(after=_NUL),
            "query_where": lambda s: s.customers.query(where=CustomerFilter(tag=_NUL)),
            "count_where": lambda s: s.customers.count(where=CustomerFilter(owner=_NUL)),
            "delete": lambda s: s.customers.delete(_NUL, expected_version=1),
        }
        with store.transaction() as s, _invalid_argument():
            calls[call](s)

    @pytest.mark.parametrize(
        "call",
        [
            "activity_id",
            "activity_customer",
            "currency",
            "list_for",
            "consent_purpose",
            "consent_list_for",
            "history_path",
            "history_reason",
            "audit_actor",
            "audit_fields",
            "audit_on_behalf_of",
            "audit_read",
            "key_customer",
            "key_master_key_id",
            "key_get",
        ],
    )
    def test_nul_in_other_text_raises_value_error(self, store: Store, call: str) -> None:
        owner = new_id()
        calls: dict[str, Callable[[Session], object]] = {
            "activity_id": lambda s: s.activities.add(activity(owner, _NUL)),
            "activity_customer": lambda s: s.activities.add_many([activity(_NUL)]),
            "currency": lambda s: s.activities.add(activity(owner, currency=_NUL)),
            "list_for": lambda s: s.activities.list_for(_NUL),
            "consent_purpose": lambda s: s.consents.append(consent(owner, purpose=_NUL)),
            "consent_list_for": lambda s: s.consents.list_for(_NUL),
            "history_path": lambda s: s.history.append([history_entry(owner, path=_NUL)]),
            "history_reason": lambda s: s.history.append(
                [history_entry(owner), history_entry(owner, reason=_NUL)]
            ),
            "audit_actor": lambda s: s.audit.append([audit_entry(owner, actor_id=_NUL)]),
            "audit_fields": lambda s: s.audit.append(
                [audit_entry(owner), audit_entry(owner, fields=("name", _NUL))]
            ),
            "audit_on_behalf_of": lambda s: s.audit.append([audit_entry(on_behalf_of=_NUL)]),
            "audit_read": lambda s: s.audit.read(actor_id=_NUL),
            "key_customer": lambda s: s.keys.put(wrapped_key(_NUL)),
            "key_master_key_id": lambda s: s.keys.put_many(
                [wrapped_key(owner, master_key_id=_NUL)]
            ),
            "key_get": lambda s: s.keys.get(_NUL),
        }
        with store.transaction() as s:
            with _invalid_argument():
                calls[call](s)
            assert s.activities.list_for(owner) == []
            assert s.consents.list_for(owner) == []
            assert s.history.list_for(owner) == []
            assert s.audit.last() is None
            assert s.keys.list() == []

    @pytest.mark.parametrize("sign", [1, -1])
    def test_amounts_at_the_edge_of_the_range_round_trip_exactly(
        self, store: Store, sign: int
    ) -> None:
        row = activity(new_id(), amount=sign * _LARGEST_AMOUNT)
        with writing(store) as s:
            s.activities.add(row)
        with reading(store) as s:
            assert s.activities.list_for(row.customer_id) == [row]

    @pytest.mark.parametrize(
        "amount", [*_TOO_LARGE_AMOUNTS, *(f"-{a}" for a in _TOO_LARGE_AMOUNTS)]
    )
    @pytest.mark.parametrize("method", ["add", "add_many"])
    def test_amount_beyond_the_range_raises_value_error(
        self, store: Store, method: str, amount: str
    ) -> None:
        row = activity(new_id(), amount=Decimal(amount))
        calls: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.activities.add(row),
            "add_many": lambda s: s.activities.add_many([activity(row.customer_id), row]),
        }
        with store.transaction() as s:
            with _invalid_argument():
                calls[method](s)
            assert s.activities.list_for(row.customer_id) == []

    def test_whole_int_amount_is_refused_beyond_the_range(self, store: Store) -> None:
        with store.transaction() as s, _invalid_argument():
            s.activities.add(activity(new_id(), amount=10**15))

    def test_amounts_anywhere_in_the_range_round_trip_exactly(self, store: Store) -> None:
        @kit_settings(25)
        @given(
            amount=st.decimals(
                min_value=-_LARGEST_AMOUNT, max_value=_LARGEST_AMOUNT, places=4, allow_nan=False
            )
        )
        def check(amount: Decimal) -> None:
            row = activity(new_id(), amount=amount)
            with writing(store) as s:
                s.activities.add(row)
            with reading(store) as s:
                (got,) = s.activities.list_for(row.customer_id)
            assert type(got.amount) is Decimal
            assert got.amount == amount

        check()

    def test_whole_int_amounts_come_back_as_decimal(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, amount=5))
            s.activities.add_many([activity(owner, amount=-2)])
        with reading(store) as s:
            amounts = [row.amount for row in s.activities.list_for(owner)]
            (summary,) = s.activities.summaries(as_of=minutes(1))
        assert amounts == [Decimal(5), Decimal(-2)]
        assert {type(a) for a in amounts} == {Decimal}
        assert type(summary.total_spent) is Decimal
        assert summary.total_spent == Decimal(3)

    @pytest.mark.parametrize("sign", [1, -1])
    def test_sum_beyond_the_range_raises_storage_error(self, store: Store, sign: int) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, amount=sign * _LARGEST_AMOUNT))
            s.activities.add(activity(owner, amount=sign * Decimal("0.0001")))
        with reading(store) as s, pytest.raises(StorageError):
            s.activities.summaries(as_of=minutes(1))

    def test_sum_back_within_the_range_is_exact(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, amount=_LARGEST_AMOUNT))
            s.activities.add(activity(owner, amount=-_LARGEST_AMOUNT))
            s.activities.add(activity(owner, amount=Decimal("0.5")))
        with reading(store) as s:
            (summary,) = s.activities.summaries(as_of=minutes(1))
        assert summary.total_spent == Decimal("0.5")

    @pytest.mark.parametrize("limit", [_INT64_MAX, *_BEYOND_64_BITS])
    def test_limit_beyond_64_bits_means_no_limit(self, store: Store, limit: int) -> None:
        owner = new_id()
        row = customer(owner)
        with writing(store) as s:
            s.customers.add(row)
            s.activities.add(activity(owner))
            s.keys.put(wrapped_key(owner))
            s.audit.append([audit_entry(owner)])
        with reading(store) as s:
            assert [r.id for r in s.customers.query(limit=limit)] == [owner]
            key = next(iter(row.index_keys))
            assert s.customers.lookup_many([key], limit=limit) == {key: [owner]}
            assert len(s.activities.list_for(owner, limit=limit)) == 1
            assert [x.customer_id for x in s.activities.summaries(as_of=T0, limit=limit)] == [owner]
            assert [k.customer_id for k in s.keys.list(limit=limit)] == [owner]
            assert len(s.audit.read(limit=limit)) == 1

    @pytest.mark.parametrize("beyond", _BEYOND_64_BITS)
    def test_sequence_numbers_beyond_64_bits_match_nothing_stored(
        self, store: Store, beyond: int
    ) -> None:
        owner = new_id()
        with writing(store) as s:
            s.consents.append(consent(owner))
            s.history.append([history_entry(owner)])
            s.audit.append([audit_entry(owner)])
        with reading(store) as s:
            assert s.consents.list_for(owner, after_seq=beyond) == []
            assert s.history.list_for(owner, after_seq=beyond) == []
            assert s.audit.read(after_seq=beyond) == []
            assert s.audit.read(before_seq=-beyond) == []
            assert [r.seq for r in s.consents.list_for(owner, after_seq=-beyond)] == [1]
            assert [r.seq for r in s.history.list_for(owner, after_seq=-beyond)] == [1]
            assert [r.seq for r in s.audit.read(after_seq=-beyond)] == [1]
            assert [r.seq for r in s.audit.read(before_seq=beyond, newest_first=True)] == [1]

    @pytest.mark.parametrize("bound", ["1", 1.0, None, True])
    def test_sequence_bound_that_is_not_an_integer_raises_value_error(
        self, store: Store, bound: object
    ) -> None:
        with reading(store) as s:
            with _invalid_argument():
                s.audit.read(after_seq=bound)  # type: ignore[arg-type]
            with _invalid_argument():
                s.consents.list_for(new_id(), after_seq=bound)  # type: ignore[arg-type]
            with _invalid_argument():
                s.history.list_for(new_id(), after_seq=bound)  # type: ignore[arg-type]

    @pytest.mark.parametrize("beyond", [*_BEYOND_64_BITS, *(-b for b in _BEYOND_64_BITS)])
    def test_expected_version_beyond_64_bits_raises_version_conflict(
        self, store: Store, beyond: int
    ) -> None:
        row = customer()
        with writing(store) as s:
            s.customers.add(row)
        with store.transaction() as s:
            with pytest.raises(VersionConflict):
                s.customers.update(row, expected_version=beyond)
            with pytest.raises(VersionConflict):
                s.customers.delete(row.id, expected_version=beyond)
            with pytest.raises(NotFound):
                s.customers.update(customer(), expected_version=beyond)
            assert s.customers.get(row.id).version == 1

    def test_finished_session_refuses_invalid_arguments_with_storage_error(
        self, store: Store
    ) -> None:
        with store.transaction() as s:
            s.rollback()
            with _refused():
                s.activities.add(activity(new_id(), amount=Decimal("1e20")))
            with _refused():
                s.customers.query(limit=0)

    def test_readonly_session_refuses_invalid_writes_with_storage_error(self, store: Store) -> None:
        with reading(store) as s:
            with _refused():
                s.activities.add(activity(new_id(), amount=Decimal("1e20")))
            with _refused():
                s.customers.add(customer(_NUL))


# ------------------------------------------------------------------------------- unit of work


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


# -------------------------------------------------------------------------------- concurrency


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

    def test_audit_appends_after_last_stay_consecutive(self, store: Store) -> None:
        """Read the last entry, append after it: concurrent writers never reuse or skip a seq."""
        rounds = 10
        with reading(store) as session:
            last = session.audit.last()
        base = 0 if last is None else last.seq

        def work(index: int) -> None:
            done = 0
            while done < rounds:
                try:
                    with store.transaction() as session:
                        previous = session.audit.last()
                        expected = 1 if previous is None else previous.seq + 1
                        entry = audit_entry(
                            actor_id=f"racer-{index}", reason=f"after {expected - 1}"
                        )
                        seqs = session.audit.append([entry])
                        assert seqs == [expected], (seqs, expected)
                        session.commit()
                        done += 1
                except StorageError as exc:
                    if not exc.retry_safe:
                        raise

        self._race(work)
        with reading(store) as session:
            entries = session.audit.read(after_seq=base, limit=100_000)
        assert [e.seq for e in entries] == list(
            range(base + 1, base + 1 + self.race_threads * rounds)
        )
        assert all(e.reason == f"after {e.seq - 1}" for e in entries)

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


# ------------------------------------------------------------------------------ state machine


class StateMachineContract(_StoreFixtures):
    """Random operation sequences give the same results as on a fresh :class:`MemoryStore`.

    A hypothesis rule-based state machine applies the same operations (customers added, updated
    with the right or a stale version, deleted; activities, consents, history, audit entries and
    keys written; queries, pages and summaries read; multi-operation sessions committed, rolled
    back or abandoned by an exception) to the backend under test and to a fresh ``MemoryStore``,
    and requires equal results, equal exception types and equal observable state.

    Only the ``store`` fixture is needed: every example runs against the same backend store, in
    its own namespace (ids whose UUIDv7 timestamp is the example's number, so each example's ids
    sort after every earlier example's), and compares only that namespace: pages start after
    the namespace's floor, audit sequence numbers are compared relative to the log's end when
    the example started, and ``count`` subtracts the earlier examples' rows.
    """

    state_machine_examples: ClassVar[int] = 30
    state_machine_steps: ClassVar[int] = 20

    def test_random_operations_match_memory_store(self, store: Store) -> None:
        assert_fresh(store)
        machine = build_state_machine(store)
        run_state_machine_as_test(
            machine,
            settings=kit_settings(
                self.state_machine_examples, stateful_step_count=self.state_machine_steps
            ),
        )


# -------------------------------------------------------------------------------------- all


class StoreContract(
    CustomerTableContract,
    ActivityTableContract,
    ConsentTableContract,
    HistoryTableContract,
    AuditTableContract,
    KeyTableContract,
    MetaTableContract,
    ArgumentRulesContract,
    UnitOfWorkContract,
    ConcurrencyContract,
    StateMachineContract,
):
    """Every contract at once: what a backend subclasses (as ``Test<Name>``).

    Override the ``store`` fixture (function-scoped: yield a fresh, empty store, close it after)
    and, for multi-process or persistent backends, ``store_opener``::

        class TestMyStore(StoreContract):
            @pytest.fixture
            def store(self, tmp_path):
                store = MyStore(tmp_path / "db")
                yield store
                store.close()
    """
