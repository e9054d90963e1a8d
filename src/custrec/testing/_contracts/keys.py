"""``session.keys``: the wrapped data key table contract (private; see
:mod:`custrec.testing.contracts`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs
import pytest

from custrec.errors import DuplicateKey, NotFound
from custrec.model.ids import new_id
from custrec.storage.protocols import Session, Store
from custrec.testing._contracts.common import (
    _invalid_argument,
    _is_utc,
    _ordered_ids,
    _StoreFixtures,
)
from custrec.testing._support import minutes, reading, wrapped_key, writing


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
