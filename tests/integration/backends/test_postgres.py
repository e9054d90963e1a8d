"""PostgresStore against the conformance kit (each test in a fresh schema; see conftest.py)."""

import functools
from collections.abc import Callable, Iterator

import pytest

from custrec.backends import PostgresStore
from custrec.testing import StoreContract


class TestPostgresStore(StoreContract):
    """The PostgreSQL backend, shared by processes through the server."""

    @pytest.fixture
    def store(self, postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
        store = PostgresStore(postgres_dsn, schema=postgres_schema)
        yield store
        store.close()

    @pytest.fixture
    def store_opener(self, postgres_dsn: str, postgres_schema: str) -> Callable[[], PostgresStore]:
        return functools.partial(PostgresStore, postgres_dsn, schema=postgres_schema)
