"""SQLiteStore (a database file) against the conformance kit."""

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from custrec.backends import SQLiteStore
from custrec.testing import StoreContract


class TestSQLiteStore(StoreContract):
    """The embedded default backend, on a file so that processes can share it."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        store = SQLiteStore(tmp_path / "kit.db")
        yield store
        store.close()

    @pytest.fixture
    def store_opener(self, tmp_path: Path) -> Callable[[], SQLiteStore]:
        return functools.partial(SQLiteStore, tmp_path / "kit.db")
