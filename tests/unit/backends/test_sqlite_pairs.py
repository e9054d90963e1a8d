"""SQLite's grouped counts by a pair (custrec.backends._sqlite.pairs), without a database.

Each grouping's statements are answered here from customers drawn at random (facets of
several names, several values of one name, names that are prefixes of one another, a column
that may be unset, ``pk`` s that are sparse or below 1), and the pair's groups are compared
with the reference semantics (``storage.types.group_values``).
"""

from __future__ import annotations

import itertools
import sqlite3
from array import array
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.backends._sql import aggregates
from custrec.backends._sqlite import pairs
from custrec.storage.types import group_values

NAMES = ("a", "ab", "b", "地区")
VALUES = ("", "x", "x=y", "y", "中")
FACET = st.builds("{}={}".format, st.sampled_from(NAMES), st.sampled_from(VALUES))

Group = tuple[str | None, ...]
DENSE = 40
"""The array's bound in these tests (the backend's is :data:`pairs.DENSE_PKS`)."""


class Customer(NamedTuple):
    """Just what ``group_values`` reads of a facet or ``owner`` grouping, and the ``pk``."""

    pk: int
    facets: frozenset[str]
    owner: str | None


CUSTOMERS = st.lists(
    st.tuples(st.frozensets(FACET, max_size=6), st.none() | st.sampled_from(("u1", "u2", "用户"))),
    max_size=12,
)
PKS = st.sampled_from(
    (
        lambda n: n + 1,  # as SQLite numbers them
        lambda n: 3 * n + 7,  # sparse
        lambda n: n - 5,  # below 1: a dictionary of codes
        lambda n: DENSE - n,  # up to the array's bound
        lambda n: DENSE + 1 + n,  # beyond it: a dictionary
    )
)


class Statements:
    """An in-memory database of just the tables and indexes the groupings read, holding
    ``customers``; it records the statements it runs."""

    def __init__(self, customers: list[Customer], length: int | None = None) -> None:
        self.customers = customers
        self.sent: list[tuple[str, Sequence[Any]]] = []
        self.conn = sqlite3.connect(":memory:")
        for statement in (
            "CREATE TABLE customers (pk INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, owner TEXT)",
            "CREATE INDEX customers_owner ON customers (owner, id) WHERE owner IS NOT NULL",
            "CREATE TABLE customer_facets (customer_pk INTEGER NOT NULL, facet TEXT NOT NULL,"
            " first_of_name INTEGER NOT NULL, PRIMARY KEY (customer_pk, facet)) WITHOUT ROWID",
            "CREATE INDEX customer_facets_facet"
            " ON customer_facets (facet, customer_pk, first_of_name)",
        ):
            self.conn.execute(statement)
        self.conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)",
            [(c.pk, f"{-c.pk:+020d}", c.owner) for c in customers],  # ids against pk order
        )
        self.conn.executemany(
            "INSERT INTO customer_facets VALUES (?, ?, ?)",
            [(c.pk, *stored) for c in customers for stored in aggregates.facet_rows(c.facets)],
        )
        if length is not None:  # SQLite's longest text or blob (its own default: 10**9)
            self.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, length)

    def run(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        self.sent.append((sql, params))
        return self.conn.execute(sql, params)

    def plans(self) -> list[str]:
        """The plan of each statement sent, explained (SQLite's longest text as by default)."""
        self.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10**9)
        return [
            " | ".join(r[-1] for r in self.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            for sql, params in self.sent
        ]


def reference(customers: list[Customer], by: tuple[str, str]) -> dict[Group, int]:
    counts: Counter[Group] = Counter()
    for c in customers:
        row: Any = c
        counts.update(itertools.product(*(group_values(row, name) for name in by)))
    return dict(counts)


def grouping(
    name: str, statements: Statements, chunk: int = pairs.CHUNK, cap: int | None = None
) -> pairs.Grouping | None:
    if name == "owner":
        return pairs.column_grouping("owner", statements.run, chunk=chunk, cap=cap)
    return pairs.facet_grouping(name, statements.run, chunk=chunk, cap=cap)


def count(
    customers: list[Customer],
    keyed: str,
    streamed: str,
    chunk: int = pairs.CHUNK,
    length: int | None = None,
) -> dict[Group, int]:
    """The pair ``(streamed, keyed)`` as the SQLite backend counts it."""
    statements = Statements(customers, length)
    key, stream = grouping(keyed, statements, chunk), grouping(streamed, statements, chunk)
    assert key is not None
    assert stream is not None
    pks = [c.pk for c in customers]
    low, high = min(pks, default=None), max(pks, default=None)
    codes = pairs.code_table(low, high, len(key.values) + 1, dense=DENSE)
    return pairs.count_pair(key, stream, len(customers), codes)


@settings(max_examples=300, deadline=None)
@given(
    drawn=CUSTOMERS,
    pk_of=PKS,
    by=st.lists(st.sampled_from((*NAMES, "owner")), min_size=2, max_size=2, unique=True),
    chunk=st.sampled_from((1, 2, 3, pairs.CHUNK)),
    length=st.sampled_from((None, 25, 60)),
)
def test_pairs_counted_from_index_ranges_match_the_reference(
    drawn: list[tuple[frozenset[str], str | None]],
    pk_of: Any,
    by: list[str],
    chunk: int,
    length: int | None,
) -> None:
    """``length``: SQLite's longest text, so that a value's pks may not fit in one text and
    are read in chunks."""
    customers = [Customer(pk_of(n), facets, owner) for n, (facets, owner) in enumerate(drawn)]
    keyed, streamed = by
    found = count(customers, keyed, streamed, chunk, length)
    assert found == reference(customers, (streamed, keyed))


def test_several_values_of_both_names_meet_in_every_combination() -> None:
    customers = [
        Customer(1, frozenset({"a=x", "a=y", "b=1", "b=2", "ab=z"}), "u1"),
        Customer(2, frozenset({"a=y", "b=2"}), None),
        Customer(3, frozenset({"b=1"}), "u1"),
        Customer(4, frozenset({"a=x", "a=中"}), "u2"),
        Customer(5, frozenset(), None),
    ]
    assert count(customers, "b", "a") == {
        ("x", "1"): 1,
        ("x", "2"): 1,
        ("y", "1"): 1,
        ("y", "2"): 2,
        ("x", None): 1,
        ("中", None): 1,
        (None, "1"): 1,
        (None, None): 1,
    }
    assert count(customers, "owner", "a") == {
        ("x", "u1"): 1,
        ("y", "u1"): 1,
        ("y", None): 1,
        ("x", "u2"): 1,
        ("中", "u2"): 1,
        (None, "u1"): 1,
        (None, None): 1,
    }


def test_a_facet_name_reads_its_values_by_seeks_and_the_rows_past_a_first_value() -> None:
    customers = [
        Customer(1, frozenset({"a=x", "ab=q", "b=1"}), None),
        Customer(2, frozenset({"a=y"}), None),
        Customer(3, frozenset({"a=x", "a=y", "a=z"}), None),
    ]
    statements = Statements(customers)
    found = grouping("a", statements)
    assert found is not None
    assert found.values == ["x", "y", "z"]
    assert [list(found.pks(n)) for n in range(3)] == [[[1, 3]], [[2, 3]], [[3]]]
    assert found.repeats is not None
    assert [pk for pks in found.repeats() for pk in pks] == [3, 3]
    for plan in statements.plans():
        assert "USING COVERING INDEX customer_facets_facet (facet" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    assert grouping("a", Statements(customers), cap=3) is not None
    assert grouping("a", Statements(customers), cap=2) is None  # too many values
    nobody = grouping("nobody", Statements(customers), cap=0)  # no value: none too many
    assert nobody is not None
    assert nobody.values == []


def test_a_value_s_pks_are_one_text_read_off_one_index_range() -> None:
    expected = [-7, 1, 2, 40, 2**62]
    customers = [Customer(pk, frozenset({"a=x"}), "u1") for pk in expected]
    for name, index in (("a", "customer_facets_facet (facet=?)"), ("owner", "customers_owner")):
        statements = Statements(customers)
        found = grouping(name, statements)
        assert found is not None
        statements.sent.clear()
        assert sorted(pk for pks in found.pks(0) for pk in pks) == expected
        (plan,) = statements.plans()
        assert f"USING COVERING INDEX {index}" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 5, 100])
def test_pks_too_long_for_one_text_are_read_a_chunk_at_a_time_each_an_index_range(
    chunk: int,
) -> None:
    expected = [-7, 1, 2, 40, 2**62]
    customers = [Customer(pk, frozenset({"a=x"}), "u1") for pk in expected]
    statements = Statements(customers, length=25)  # the ids fit, not all the pks
    facet = grouping("a", statements, chunk)
    assert facet is not None
    statements.sent.clear()
    chunks = list(facet.pks(0))
    assert [pk for pks in chunks for pk in pks] == expected
    assert all(len(pks) <= chunk and len(",".join(map(str, pks))) <= 25 for pks in chunks)
    for plan in statements.plans():
        assert "SEARCH f USING COVERING INDEX customer_facets_facet (facet=?" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    statements = Statements(customers, length=25)
    column = grouping("owner", statements, chunk)
    assert column is not None
    assert (column.values, column.repeats) == (["u1"], None)
    statements.sent.clear()
    assert sorted(pk for pks in column.pks(0) for pk in pks) == expected  # in id order
    for plan in statements.plans():
        assert "SEARCH c USING COVERING INDEX customers_owner (owner" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


def test_a_pk_longer_than_sqlite_s_longest_text_is_refused_not_skipped() -> None:
    statements = Statements([Customer(2**62, frozenset({"a=x"}), None)], length=16)
    facet = grouping("a", statements)
    assert facet is not None
    with pytest.raises(sqlite3.DataError):
        list(facet.pks(0))


def test_the_table_of_codes_is_an_array_only_for_pks_from_1_to_its_bound() -> None:
    assert pairs.code_table(None, None, 5) == bytearray()
    assert pairs.code_table(1, 10, 256) == bytearray(11)
    assert pairs.code_table(1, 10, 257) == array("i", [0] * 11)
    assert len(pairs.code_table(1, DENSE, 5, dense=DENSE)) == DENSE + 1
    for low, high in ((0, 10), (-3, 10), (1, DENSE + 1)):
        assert isinstance(pairs.code_table(low, high, 5, dense=DENSE), defaultdict)
    assert isinstance(pairs.code_table(1, pairs.DENSE_PKS + 1, 5), defaultdict)


def test_a_column_without_an_index_of_its_own_is_refused() -> None:
    with pytest.raises(ValueError, match="state"):
        pairs.column_grouping("state", Statements([]).run)
