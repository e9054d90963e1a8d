"""PostgreSQL keeps the savepoints of finished write methods instead of releasing each one.

A write method runs in a savepoint named ``custrec_op``; when it succeeds, the savepoint stays
and the next method's nests in it (``ROLLBACK TO custrec_op`` finds the newest one, the failing
method's), up to a bound after which one is released per method. So a transaction of many
methods, some failing, must end exactly as on :class:`~custrec.backends.MemoryStore`, which
has no savepoints at all: every failed method undone, every other one kept.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (custrec[postgres])")

import custrec.backends.postgres as pg  # noqa: E402
from custrec.backends import MemoryStore  # noqa: E402
from custrec.backends.postgres import PostgresStore  # noqa: E402
from custrec.errors import DuplicateKey, NotFound, VersionConflict  # noqa: E402
from custrec.storage import Session  # noqa: E402
from custrec.testing._support import customer, history_entry  # noqa: E402

EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
IDS = ("c-1", "c-2", "c-3")

# a step: ("add", id), ("update", id, version offset), ("history", id, failing)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(IDS)),
        st.tuples(st.just("update"), st.sampled_from(IDS), st.sampled_from([0, 0, 1])),
        st.tuples(st.just("history"), st.sampled_from(IDS), st.booleans()),
    ),
    min_size=1,
    max_size=2 * pg._NESTED + 6,
)


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(postgres_dsn, schema=postgres_schema, max_size=1)
    yield opened
    opened.close()


def _run(session: Session, plan: list[tuple[Any, ...]], prefix: str) -> list[object]:
    """Run the plan's steps on customers ``prefix + id``, recording each one's result or error
    type."""
    outcomes: list[object] = []
    for action, *args in plan:
        step = (action, prefix + args[0], *args[1:])
        try:
            if step[0] == "add":
                outcomes.append(session.customers.add(customer(step[1])))
            elif step[0] == "update":
                found = session.customers.get(step[1])
                version = (found.version if found else 1) + step[2]
                outcomes.append(
                    session.customers.update(customer(step[1]), expected_version=version)
                )
            else:
                entry = history_entry(step[1])
                # a second entry the database refuses (NUL in text) fails the whole append
                bad = history_entry(step[1], path="x\x00") if step[2] else entry
                outcomes.append(session.history.append([entry, bad]))
        except (DuplicateKey, NotFound, VersionConflict, ValueError) as exc:
            outcomes.append(type(exc))
    return outcomes


def _state(session: Session, prefix: str) -> tuple[object, ...]:
    ids = [prefix + customer_id for customer_id in IDS]
    rows = session.customers.get_many(ids)
    return (
        [(row.id, row.version) for row in rows],
        [len(session.history.list_for(customer_id)) for customer_id in ids],
    )


@EXAMPLES
@given(plan=steps)
def test_a_transaction_of_failing_and_succeeding_writes_ends_as_without_savepoints(
    store: PostgresStore, plan: list[tuple[Any, ...]]
) -> None:
    prefix = secrets.token_hex(4) + "-"  # the examples share the schema
    expected = MemoryStore()
    with expected.transaction() as session:
        expected_outcomes = _run(session, plan, prefix)
        session.commit()
    with expected.transaction(readonly=True) as session:
        expected_state = _state(session, prefix)
    with store.transaction() as session:
        assert _run(session, plan, prefix) == expected_outcomes
        session.commit()
    with store.transaction(readonly=True) as session:
        assert _state(session, prefix) == expected_state
