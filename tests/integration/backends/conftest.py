"""Fixtures for backends that need a server: where to find PostgreSQL, and a schema per test.

``CUSTREC_TEST_POSTGRES_DSN`` names the server (``bash .ci/run`` starts a throw-away one; see
docs/postgres.md). Without it the PostgreSQL tests skip, except under CI (the ``CI`` variable is
set), where they must run: there a missing DSN fails them.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

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


def _wait_until_blocked(admin: Any, store: Any, count: int = 1) -> None:
    """Wait until ``count`` sessions of ``store`` wait for a lock on the server.

    The store's sessions must carry ``application_name=f"custrec-{schema}"``. Reads
    ``pg_stat_activity`` (``wait_event_type = 'Lock'``: a heavyweight or advisory lock) through
    the ``admin`` connection until it shows them, failing after 30 seconds: a test goes on once
    the other session really is blocked, never after a guessed pause.
    """
    name = f"custrec-{store.schema}"
    deadline = time.monotonic() + 30
    while True:
        waiting = admin.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = %s AND wait_event_type = 'Lock'",
            (name,),
        ).fetchone()[0]
        if waiting >= count:
            return
        assert time.monotonic() < deadline, f"no session of {name} waited for a lock in 30 s"
        time.sleep(0.005)  # the poll interval; the state read above is what the test waits on


@pytest.fixture
def wait_until_blocked() -> Callable[..., None]:
    """``wait_until_blocked(admin, store, count=1)``: see :func:`_wait_until_blocked`."""
    return _wait_until_blocked
