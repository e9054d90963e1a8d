"""``session.meta``: the meta table contract (private; see
:mod:`custrec.testing.contracts`)."""

from __future__ import annotations

import pytest

from custrec.storage.protocols import Store
from custrec.testing._contracts.common import _invalid_argument, _refused, _StoreFixtures
from custrec.testing._support import reading, writing


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
