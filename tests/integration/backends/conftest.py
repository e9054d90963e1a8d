"""Fixtures for backends that need a server: where to find PostgreSQL, and a schema per test.

``CUSTREC_TEST_POSTGRES_DSN`` names the server (``bash .ci/run`` starts a throw-away one; see
docs/postgres.md). Without it the PostgreSQL tests skip, except under CI (the ``CI`` variable is
set), where they must run: there a missing DSN fails them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

DSN_VARIABLE = "CUSTREC_TEST_POSTGRES_DSN"
SKIP_MESSAGE = "PostgreSQL tests need CUSTREC_TEST_POSTGRES_DSN (bash .ci/run starts a server)"


def running_in_ci() -> bool:
    """Whether the ``CI`` environment variable is set to anything but an explicit "no"."""
    value = os.environ.get("CI")
    return value is not None and value.strip().lower() not in {"", "0", "false", "no"}


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The test server's DSN; skips (fails under CI) when none is configured."""
    dsn = os.environ.get(DSN_VARIABLE, "").strip()
    if not dsn:
        if running_in_ci():
            pytest.fail(f"{SKIP_MESSAGE}; under CI the PostgreSQL tests must run", pytrace=False)
        pytest.skip(SKIP_MESSAGE)
    return dsn


@pytest.fixture
def postgres_schema(postgres_dsn: str) -> Iterator[str]:
    """A fresh, unused schema name for one test; the schema is dropped afterwards."""
    import psycopg

    name = f"t_{secrets.token_hex(8)}"
    yield name
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'.encode())
