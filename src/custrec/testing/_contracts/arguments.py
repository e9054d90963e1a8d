"""The protocol's argument rules, alike on every backend (private; see
:mod:`custrec.testing.contracts`)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.errors import NotFound, StorageError, VersionConflict
from custrec.model.ids import new_id
from custrec.storage.protocols import Session, Store
from custrec.storage.types import CustomerFilter
from custrec.testing._contracts.common import (
    _invalid_argument,
    _refused,
    _StoreFixtures,
    kit_settings,
)
from custrec.testing._support import (
    T0,
    activity,
    audit_entry,
    consent,
    customer,
    history_entry,
    minutes,
    reading,
    wrapped_key,
    writing,
)

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
