"""registry.reports on the SQL backends: the brute-force comparisons of
tests/unit/services/test_aggregates.py (counts by one and two groupings, new customers and
repurchase rates, for an admin, a manager and a staff member, through the store and row by
row) on a SQLite file store and on PostgreSQL.

PostgreSQL needs ``CUSTREC_TEST_POSTGRES_DSN`` (``bash .ci/run`` starts a server): without it
those tests skip, except under CI, where they fail (as in tests/integration/backends).
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec import KeyRing, SQLiteStore
from custrec.storage import Store

DSN_VARIABLE = "CUSTREC_TEST_POSTGRES_DSN"


def _scenarios() -> ModuleType:
    """The unit test module, whose scenario, brute force and checks these tests reuse."""
    path = Path(__file__).parents[1] / "unit" / "services" / "test_aggregates.py"
    spec = importlib.util.spec_from_file_location("custrec_aggregate_scenarios", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # attrs classes look their module up
    spec.loader.exec_module(module)
    return module


S = _scenarios()
Opener = Callable[[], Any]


def _postgres_dsn() -> str:
    dsn = os.environ.get(DSN_VARIABLE, "").strip()
    if not dsn:
        ci = os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}
        message = f"PostgreSQL tests need {DSN_VARIABLE} (bash .ci/run starts a server)"
        if ci:
            pytest.fail(f"{message}; under CI they must run", pytrace=False)
        pytest.skip(message)
    return dsn


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Opener:
    """Opens a fresh, empty store of the backend for each hypothesis example."""
    if request.param == "sqlite":

        @contextmanager
        def sqlite() -> Iterator[Store]:
            folder = tmp_path_factory.mktemp("reports")
            store = SQLiteStore(folder / "crm.sqlite")
            try:
                yield store
            finally:
                store.close()

        return sqlite
    dsn = _postgres_dsn()

    @contextmanager
    def postgres() -> Iterator[Store]:
        import psycopg

        from custrec.backends import PostgresStore

        schema = f"t_{secrets.token_hex(8)}"
        store = PostgresStore(dsn, schema=schema)
        try:
            yield store
        finally:
            store.close()
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())

    return postgres


SETTINGS = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
Range = tuple[str, tzinfo | str, datetime, datetime]


@SETTINGS
@given(
    scenario=S.scenarios(),
    by=S.groupings,
    when=S.ranges(),
    field=st.sampled_from(("created_at", "updated_at")),
    filter_name=S.filters,
)
def test_reports_match_a_brute_force(
    stores: Opener,
    scenario: Any,
    by: tuple[str, ...],
    when: Range,
    field: str,
    filter_name: str,
) -> None:
    with stores() as store:
        keyring = KeyRing.generate()
        model = S.build(store, keyring, scenario)
        for path in S.PATHS:
            registry = S.reporter(store, keyring, path)
            S.check_counts(registry, model, path, by, filter_name)
            S.check_new_customers(registry, model, path, *when, field, filter_name)
            S.check_repurchase(registry, model, path, *when, filter_name)


def test_a_long_report_in_several_storage_calls(stores: Opener) -> None:
    with stores() as store:
        S.long_report(store, KeyRing.generate())
