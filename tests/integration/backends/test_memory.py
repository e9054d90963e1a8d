"""MemoryStore against the conformance kit."""

from collections.abc import Iterator

import pytest

from custrec.backends import MemoryStore
from custrec.testing import StoreContract


class TestMemoryStore(StoreContract):
    """The in-memory reference backend keeps every storage rule."""

    @pytest.fixture
    def store(self) -> Iterator[MemoryStore]:
        store = MemoryStore()
        yield store
        store.close()
