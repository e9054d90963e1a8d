"""PostgreSQL's cheaper statements give what the general ones give (issue 18's CPU per operation).

- a single queued audit entry is inserted with plain values, a batch through ``unnest``: the
  queue holds the same entry either way;
- a read-only session reads a customer's wrapped data key with the customer, and ``keys.get``
  then answers from it: the same key a write session reads from its own statement;
- history entries are numbered in the ``INSERT`` itself: ``max(seq) + 1, + 2, ...`` per
  customer in the order given, as a separate read of the last seq numbered them;
- ``audit.seal`` after ``claim`` knows the log's last seq: it refuses entries that do not
  follow it exactly as when it reads the last seq itself;
- a list of plain strings is passed to a ``text[]`` parameter as the array's text form
  (``text_array``): the server reads the array psycopg's adaptation of the list gives, or
  refuses both alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import attrs
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec.backends._postgres.dialect import text_array
from custrec.backends.postgres import PostgresStore
from custrec.errors import NotFound, StorageError
from custrec.storage import AuditQueue, AuditRecord, CustomerRow, WrappedKey
from custrec.testing import strategies
from custrec.testing._support import customer, history_entry

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(postgres_dsn, schema=postgres_schema, max_size=2)
    yield opened
    opened.close()


def _row_id(row: CustomerRow) -> str:
    return row.id


@EXAMPLES
@given(entry=strategies.audit_records(), other=strategies.audit_records())
def test_one_queued_entry_is_stored_as_in_a_batch(
    store: PostgresStore, entry: AuditRecord, other: AuditRecord
) -> None:
    with store.transaction() as session:
        queue = cast(AuditQueue, session.audit)
        (alone,) = queue.enqueue([entry])  # plain values
        batch = queue.enqueue([entry, other])  # unnest
        found = {q.ticket: q.record for q in queue.queued(limit=10_000)}
        # the queue's seq is 0 for every entry: compare what was stored
        assert found[alone] == found[batch[0]] == attrs.evolve(entry, seq=0)
        assert found[batch[1]] == attrs.evolve(other, seq=0)
        session.rollback()


@EXAMPLES
@given(
    customers=st.lists(strategies.customer_rows(), min_size=1, max_size=3, unique_by=_row_id),
    wrapped=st.lists(strategies.wrapped_keys(), min_size=3, max_size=3),
)
def test_a_key_read_with_its_customer_is_the_key_stored(
    store: PostgresStore, customers: list[CustomerRow], wrapped: list[WrappedKey]
) -> None:
    keys: dict[str, WrappedKey] = {}
    with store.transaction() as session:
        for row in customers:
            session.customers.add(row)
        for row, made in zip(customers[:-1], wrapped, strict=False):  # the last has no key
            key = attrs.evolve(made, customer_id=row.id)
            session.keys.put(key)
            keys[row.id] = key
        session.commit()
    try:
        with store.transaction(readonly=True) as session:
            first = session.customers.get(customers[0].id)
            many = session.customers.get_many([r.id for r in customers])
            prefetched = {r.id: session.keys.get(r.id) for r in customers[:-1]}
        with store.transaction() as session:  # the general path: a statement of its own
            general = {r.id: session.keys.get(r.id) for r in customers[:-1]}
        assert first.id == customers[0].id
        assert [r.id for r in many] == sorted(r.id for r in customers)
        assert prefetched == general == keys
        with store.transaction(readonly=True) as session:
            session.customers.get(customers[-1].id)
            with pytest.raises(NotFound, match="data key"):
                session.keys.get(customers[-1].id)
    finally:
        with store.transaction() as session:
            for row in customers:
                if row.id in keys:
                    session.keys.delete(row.id)
                session.customers.delete(row.id, expected_version=1)
            session.commit()


@EXAMPLES
@given(owners=st.lists(st.sampled_from("abc"), min_size=1, max_size=8))
def test_history_is_numbered_per_customer_in_the_order_given(
    store: PostgresStore, owners: list[str]
) -> None:
    with store.transaction() as session:
        before = {c: len(session.history.list_for(c)) for c in "abc"}
    with store.transaction() as session:
        seqs = session.history.append([history_entry(c) for c in owners])
        session.commit()
    expected = []
    count = dict(before)
    for c in owners:
        count[c] += 1
        expected.append(count[c])
    assert seqs == expected
    with store.transaction(readonly=True) as session:
        for c in "abc":
            assert [h.seq for h in session.history.list_for(c)] == list(range(1, count[c] + 1))


def test_seal_after_claim_refuses_entries_that_do_not_follow_the_log(
    store: PostgresStore,
) -> None:
    entry = AuditRecord(at=customer().created_at, actor_id="a", action="customer.read")
    with store.transaction() as session:
        queue = cast(AuditQueue, session.audit)
        claim = queue.claim(wait=False)
        assert claim is not None and claim.last is None
        queue.seal([attrs.evolve(entry, seq=1)], [])
        with pytest.raises(StorageError, match="do not follow"):
            queue.seal([attrs.evolve(entry, seq=3)], [])  # the log's last seq is 1 now
        queue.seal([attrs.evolve(entry, seq=2)], [])  # the session is as it was
        session.commit()
    with store.transaction() as session:  # without claim: the lock and last seq are read
        queue = cast(AuditQueue, session.audit)
        with pytest.raises(StorageError, match="do not follow"):
            queue.seal([attrs.evolve(entry, seq=2)], [])
        queue.seal([attrs.evolve(entry, seq=3)], [])
        session.commit()
    with store.transaction(readonly=True) as session:
        assert [e.seq for e in session.audit.read(limit=10)] == [1, 2, 3]


class _Text(str):
    """A str subclass (left to psycopg)."""


def _array(conn: psycopg.Connection[Any], value: object) -> object:
    """What the server reads from ``value`` as a ``text[]`` parameter, or the error."""
    try:
        return conn.execute("SELECT %s::text[]", (value,)).fetchone()
    except (psycopg.Error, ValueError, TypeError, UnicodeError) as exc:
        return type(exc)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.text(),
            st.sampled_from(["", "NULL", "null", " a ", "{}", "a,b", '"', "\\", '\\"', "é客"]),
            st.builds(_Text, st.text(max_size=3)),
            st.none(),  # NULL (an entry's customer, reason, on_behalf_of)
        ),
        max_size=6,
    )
)
def test_a_text_array_reads_as_the_list_psycopg_adapts(
    postgres_dsn: str, values: list[Any]
) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        assert _array(conn, text_array(values)) == _array(conn, list(values))


def test_a_text_array_of_plain_strings_is_its_text_form() -> None:
    assert text_array([]) == "{}"
    assert text_array(["a", 'b"c', "d\\e"]) == '{"a","b\\"c","d\\\\e"}'
    assert text_array([None, "NULL"]) == '{NULL,"NULL"}'
    kept = ["a", _Text("b")]
    assert text_array(kept) is kept
