"""The arithmetic of the SQL backends' facet-first grouped counts (custrec.backends._sql
.aggregates), without a database.

The statement's rows are computed here the way the SQL computes them (per facet of a name: its
rows and the sum of ``first_of_name``), from rows drawn at random, so that the counts built
from them can be compared with the reference semantics (``storage.types.group_values``) for
any rows: several values of one name, names that are prefixes of one another, customers
without any facet. (Pairs: ``test_sqlite_pairs.py``.)
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.backends._sql import aggregates
from custrec.storage import CustomerFilter, Reach
from custrec.storage.types import ROW_STATES, group_values

NAMES = ("a", "ab", "b", "地区")
VALUES = ("", "x", "x=y", "y", "中")
FACET = st.builds("{}={}".format, st.sampled_from(NAMES), st.sampled_from(VALUES))
CUSTOMERS = st.lists(st.frozensets(FACET, max_size=6), max_size=12)

Group = tuple[str | None, ...]


class _Row:
    """Just what ``group_values`` reads of a facet grouping."""

    def __init__(self, facets: frozenset[str]) -> None:
        self.facets = facets


def reference(customers: list[frozenset[str]], by: tuple[str, ...]) -> dict[Group, int]:
    counts: Counter[Group] = Counter()
    for facets in customers:
        row: Any = _Row(facets)
        counts.update(itertools.product(*(group_values(row, name) for name in by)))
    return dict(counts)


def stored(customers: list[frozenset[str]]) -> list[list[tuple[str, int]]]:
    return [aggregates.facet_rows(facets) for facets in customers]


def in_range(facet: str, name: str) -> bool:
    return f"{name}=" <= facet < f"{name}>"


def name_rows(rows: list[list[tuple[str, int]]], name: str) -> list[tuple[str, int, int]]:
    counted: Counter[str] = Counter()
    firsts: Counter[str] = Counter()
    for facets in rows:
        for facet, first in facets:
            if in_range(facet, name):
                counted[facet] += 1
                firsts[facet] += first
    return [(facet, counted[facet], firsts[facet]) for facet in sorted(counted)]


def counted(customers: list[frozenset[str]], by: tuple[str, ...]) -> dict[Group, int]:
    """What the backends return for one name, from the simulated statement's rows."""
    rows = stored(customers)
    (name,) = by
    return aggregates.one_name(aggregates.name_counts(name, name_rows(rows, name)), len(customers))


@settings(max_examples=200, deadline=None)
@given(customers=CUSTOMERS, name=st.sampled_from(NAMES))
def test_counts_of_one_name_from_the_facet_index_match_the_reference(
    customers: list[frozenset[str]], name: str
) -> None:
    assert counted(customers, (name,)) == reference(customers, (name,))


@given(facets=st.frozensets(FACET, max_size=8))
def test_each_name_has_one_first_facet_its_least(facets: frozenset[str]) -> None:
    rows = aggregates.facet_rows(facets)
    assert [facet for facet, _ in rows] == sorted(facets)
    firsts = [facet for facet, first in rows if first]
    names = {facet.partition("=")[0] for facet in facets}
    assert sorted(facet.partition("=")[0] for facet in firsts) == sorted(names)
    for facet in firsts:
        name = facet.partition("=")[0]
        assert facet == min(f for f in facets if f.partition("=")[0] == name)


@pytest.mark.parametrize(
    ("where", "left_out"),
    [
        (None, frozenset()),
        (CustomerFilter(), frozenset()),
        (CustomerFilter(states={"live", "archived", "restricted"}), {"erased", "merged"}),
        (CustomerFilter(state="live"), set(ROW_STATES) - {"live"}),
        (CustomerFilter(state="live", states={"live", "erased"}), set(ROW_STATES) - {"live"}),
        (CustomerFilter(states={"archived"}), None),  # no live row: the joined count
        (CustomerFilter(states=set()), None),
        (CustomerFilter(reach=Reach(owner="u")), None),
        (CustomerFilter(states={"live"}, kind="individual"), None),
    ],
)
def test_which_counts_start_from_the_facet_index(
    where: CustomerFilter | None, left_out: set[str] | None
) -> None:
    expected = None if left_out is None else frozenset(left_out)
    assert aggregates.facet_first(("industry",), where) == expected
    assert aggregates.facet_first(("industry", "region"), where) == expected
    assert aggregates.facet_first(("industry",), where, pairs=False) == expected
    assert aggregates.facet_first(("industry", "region"), where, pairs=False) is None
    for by in (("tag",), ("industry", "owner"), ("stage",)):
        assert aggregates.facet_first(by, where) is None
    columns = frozenset({"owner", "stage"})
    for by in (("industry", "owner"), ("stage", "region")):  # a facet and a column it may pair
        assert aggregates.facet_first(by, where, columns=columns) == expected
        assert aggregates.facet_first(by, where, pairs=False, columns=columns) is None
    for by in (("owner",), ("owner", "stage"), ("industry", "team"), ("tag", "industry")):
        assert aggregates.facet_first(by, where, columns=columns) is None
